//! Property tests (proptest) of the three parsers that read outside input: the JSON reader (every
//! OpenBao answer), the env-map grammar (an annotation) and `$(VAR)` expansion (the Pod's command).
//! `PROPTEST_CASES` raises the number of cases (default 256 per property).
use crate::config::parse_env_map;
use crate::expand::expand;
use crate::json::{self, Node};
use proptest::prelude::*;

/// A JSON string literal for `s`, escaping as Go's encoder does for `<`, `>`, `&` and non-BMP
/// characters as surrogate pairs half the time.
fn encode(s: &str, pairs: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' | '>' | '&' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if pairs && (c as u32) > 0xFFFF => {
                let mut b = [0u16; 2];
                for u in c.encode_utf16(&mut b) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

proptest! {
    #[test]
    fn json_reader_never_panics_on_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = json::parse(&b);
    }

    #[test]
    fn json_reader_never_panics_on_json_like_text(s in "[\\[\\]{}\":,0-9eE.+\\-tfnrulas\\\\ ]{0,64}") {
        if let Ok(n) = json::parse(s.as_bytes()) {
            let (a, e) = n.span();
            prop_assert!(a <= e && e <= s.len());
        }
    }

    #[test]
    fn every_string_value_decodes_to_what_was_encoded(fields in proptest::collection::vec(("[a-z_]{1,8}", any::<String>(), any::<bool>()), 1..6)) {
        let body = format!(
            "{{\"data\":{{\"data\":{{{}}},\"metadata\":{{\"version\":3}}}}}}",
            fields.iter().enumerate().map(|(i, (k, v, p))| format!("\"{k}{i}\":{}", encode(v, *p))).collect::<Vec<_>>().join(",")
        );
        let n = json::parse(body.as_bytes()).unwrap();
        for (i, (k, v, _)) in fields.iter().enumerate() {
            let node = n.path(&["data", "data", &format!("{k}{i}")]).unwrap();
            let mut got = Vec::new();
            if let Node::Str(s, e) = node { json::unescape(&body.as_bytes()[*s..*e], &mut |p| got.extend_from_slice(p)); }
            prop_assert_eq!(got, v.as_bytes().to_vec());
        }
    }

    #[test]
    fn env_map_never_panics_and_names_are_trimmed(s in "[a-z*=,; A-Z_]{0,40}") {
        if let Ok(groups) = parse_env_map(&s) {
            for g in groups {
                for (f, e) in g.fields {
                    prop_assert!(!f.is_empty() && !e.is_empty() && f.trim() == f && e.trim() == e);
                }
            }
        }
    }

    #[test]
    fn env_map_written_out_reads_back(groups in proptest::collection::vec(proptest::collection::vec(("[a-z]{1,6}", "[A-Z_]{1,6}"), 0..4), 1..4)) {
        let text = groups.iter().map(|g| g.iter().map(|(f, e)| format!("{f}={e}")).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join(";");
        let parsed = parse_env_map(&text).unwrap();
        if text.trim().is_empty() { return Ok(()); }
        prop_assert_eq!(parsed.len(), groups.len());
        for (p, g) in parsed.iter().zip(&groups) {
            // Every entry, in order: a repeated field keeps each of its names.
            prop_assert_eq!(&p.fields, g);
        }
    }

    #[test]
    fn expansion_never_panics(s in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = expand(&s, &|n: &[u8]| if n == b"A" { Some(&b"x"[..]) } else { None });
    }

    /// The webhook's contract: doubling every `$` makes the kubelet's pass give back the original
    /// text exactly, whatever it holds.
    #[test]
    fn doubled_dollars_expand_back_to_the_original(s in "[$()A-Za-z_ é]{0,32}") {
        let doubled = s.replace('$', "$$");
        let none = |_: &[u8]| None;
        prop_assert_eq!(expand(doubled.as_bytes(), &none), s.as_bytes().to_vec());
    }

    #[test]
    fn text_without_a_dollar_is_left_alone(s in "[^$]{0,32}") {
        prop_assert_eq!(expand(s.as_bytes(), &|_: &[u8]| Some(&b"v"[..])), s.as_bytes().to_vec());
    }
}
