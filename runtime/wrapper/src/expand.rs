//! `$(VAR)` in the original command and args, with the kubelet's exact semantics (Kubernetes'
//! third_party/forked/golang/expansion, which the kubelet applies to command and args): `$(NAME)`
//! becomes the variable's value, `$$` becomes `$`, an unknown name or a malformed reference stays
//! as written. The webhook doubles every `$`, so the kubelet's own pass hands us the original text;
//! we expand it here, where the secrets are known.

/// `lookup` answers a name with its value in the child's final environment.
pub fn expand<'v>(input: &[u8], lookup: &dyn Fn(&[u8]) -> Option<&'v [u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < input.len() {
        if input[cursor] == b'$' && cursor + 1 < input.len() {
            out.extend_from_slice(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest[0] {
                // Escaped operator.
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest[1..].iter().position(|&c| c == b')') {
                    Some(at) => {
                        let name = &rest[1..1 + at];
                        match lookup(name) {
                            Some(v) => out.extend_from_slice(v),
                            None => {
                                out.extend_from_slice(b"$(");
                                out.extend_from_slice(name);
                                out.push(b')');
                            }
                        }
                        at + 2
                    }
                    // Incomplete reference: "$(" is written, scanning goes on after the "(".
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                c => {
                    // Upstream writes string(operator) + string(input[0]): Go's conversion of a
                    // byte to a string encodes it as the code point U+00XX, so a byte >= 0x80
                    // after a lone `$` comes out as two bytes. Reproduced: exact means exact.
                    out.push(b'$');
                    let mut b = [0u8; 4];
                    out.extend_from_slice(char::from(c).encode_utf8(&mut b).as_bytes());
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&input[checkpoint.min(input.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn mapping<'a>(ctx: &'a [HashMap<&'static str, &'static str>]) -> impl Fn(&[u8]) -> Option<&'a [u8]> + 'a {
        move |name: &[u8]| ctx.iter().find_map(|m| m.get(std::str::from_utf8(name).ok()?).map(|v| v.as_bytes()))
    }

    // The table of expand_test.go's doExpansionTest, case for case.
    const CASES: &[(&str, &str, &str)] = &[
        ("whole string", "$(VAR_A)", "A"),
        ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
        ("beginning", "$(VAR_A)-1", "A-1"),
        ("middle", "___$(VAR_B)___", "___B___"),
        ("end", "___$(VAR_C)", "___C"),
        ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
        ("escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
        ("compound escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
        ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
        ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
        ("backslash escape ignored", "foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
        ("lots of backslashes", "foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
        ("nested var references", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
        ("nested var references second type", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
        ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
        ("value is a reference x 2", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
        ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
        ("unterminated expression", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
        ("expression without operator", "f00__(VAR_A)__", "f00__(VAR_A)__"),
        ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
        ("bare operators are ignored", "$VAR_A", "$VAR_A"),
        ("undefined vars are passed through", "$(VAR_DNE)", "$(VAR_DNE)"),
        ("multiple (even) operators, var undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
        ("multiple (even) operators, var defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"),
        ("multiple (odd) operators, var undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
        ("multiple (odd) operators, var defined", "$$$$$$$(VAR_A)", "$$$A"),
        ("missing open expression", "$VAR_A)", "$VAR_A)"),
        ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
        ("trailing incomplete expression not consumed", "$(VAR_B)_______$(A", "B_______$(A"),
        ("trailing incomplete expression, no content, is not consumed", "$(VAR_C)_______$(", "C_______$("),
        ("operator at end of input string is preserved", "$(VAR_A)foobarzab$", "Afoobarzab$"),
        ("shell escaped incomplete expr", "foo-\\$(VAR_A", "foo-\\$(VAR_A"),
        ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
        ("lots of $( in beginning", "$($($($($--foo$(", "$($($($($--foo$("),
        ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
        ("escaped operators in variable names are not escaped", "$(foo$$var)", "$(foo$$var)"),
        ("newline not expanded", "\n", "\n"),
    ];

    fn run(ctx: &[HashMap<&'static str, &'static str>]) {
        let m = mapping(ctx);
        for (name, input, want) in CASES {
            let got = expand(input.as_bytes(), &m);
            assert_eq!(String::from_utf8_lossy(&got), *want, "{name}: {input:?}");
        }
    }

    #[test]
    fn mapping_single_context() {
        run(&[HashMap::from([("VAR_A", "A"), ("VAR_B", "B"), ("VAR_C", "C"), ("VAR_REF", "$(VAR_A)"), ("VAR_EMPTY", "")])]);
    }

    #[test]
    fn mapping_dual_context() {
        run(&[HashMap::from([("VAR_A", "A"), ("VAR_EMPTY", "")]), HashMap::from([("VAR_B", "B"), ("VAR_C", "C"), ("VAR_REF", "$(VAR_A)")])]);
    }

    // TestMapReference: each variable expanded against the ones declared before it.
    #[test]
    fn map_reference() {
        let mut declared: Vec<(String, String)> = vec![];
        for (k, v) in [("FOO", "bar"), ("ZOO", "$(FOO)-1"), ("BLU", "$(ZOO)-2")] {
            let snapshot = declared.clone();
            let look = |n: &[u8]| snapshot.iter().find(|(k, _)| k.as_bytes() == n).map(|(_, v)| v.as_bytes());
            let e = String::from_utf8(expand(v.as_bytes(), &look)).unwrap();
            declared.push((k.into(), e));
        }
        assert_eq!(declared.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(), ["bar", "bar-1", "bar-1-2"]);
    }

    #[test]
    fn go_byte_to_rune_quirk_after_a_lone_dollar() {
        let none = |_: &[u8]| None;
        // "$é": Go writes "$" + string(rune(0xC3)) then the rest from 0xA9 on.
        assert_eq!(expand("$é".as_bytes(), &none), b"$\xc3\x83\xa9");
        assert_eq!(expand("$$é".as_bytes(), &none), "$é".as_bytes());
        assert_eq!(expand(b"", &none), b"");
        assert_eq!(expand(b"$", &none), b"$");
    }
}
