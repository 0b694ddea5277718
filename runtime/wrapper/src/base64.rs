//! Binary Secret values: `target migrate` stores a field that is not UTF-8 text base64-encoded
//! (standard alphabet, padded) and `target protect` lists it in cloudtaser.io/base64-fields
//! (CLOUDTASER_BASE64_FIELDS: JSON `{"<KV path>": ["field", ...]}`). Such a field is decoded here,
//! piece by piece as it is unescaped, so the decoded bytes go straight into the store or the file.
use crate::error::{Error, Result, EXIT_CONFIG};
use crate::json::{self, Node};

#[derive(Debug, Default)]
pub struct Base64Fields(Vec<(String, Vec<String>)>);

impl Base64Fields {
    pub fn parse(text: Option<&str>) -> Result<Self> {
        let Some(text) = text else { return Ok(Self::default()) };
        let bad = |m: &str| Error::config(format!("CLOUDTASER_BASE64_FIELDS {m}"));
        let b = text.as_bytes();
        let Ok(Node::Obj(members, ..)) = json::parse(b) else { return Err(bad("must be a JSON object of KV path to field names")) };
        let mut out = Vec::new();
        for (path, v) in &members {
            let Node::Arr(items, ..) = v else { return Err(bad(&format!("{path}: must be an array of field names"))) };
            let fields = items.iter().map(|n| n.string(b)).collect::<Option<Vec<_>>>().ok_or_else(|| bad(&format!("{path}: field names must be strings")))?;
            out.push((path.clone(), fields));
        }
        Ok(Self(out))
    }

    pub fn has(&self, path: &str, field: &str) -> bool {
        self.0.iter().any(|(p, f)| p == path && f.iter().any(|x| x == field))
    }
}

fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Streaming decoder: `push` the text in any pieces, then `finish`. Strict: the standard alphabet,
/// padding only at the end, no whitespace; anything else is an error (never partial data passed off
/// as the value).
#[derive(Default)]
pub struct Decoder {
    quad: [u8; 4],
    n: usize,
    ended: bool,
    bad: bool,
}

impl Decoder {
    pub fn push(&mut self, piece: &[u8], sink: &mut dyn FnMut(&[u8])) {
        for &c in piece {
            if self.bad {
                return;
            }
            if self.ended && c != b'=' {
                self.bad = true;
                return;
            }
            if c == b'=' {
                // Padding: only in the last two places of the last quad.
                if self.n < 2 {
                    self.bad = true;
                    return;
                }
                self.ended = true;
                self.quad[self.n] = 64;
            } else if let Some(v) = value(c) {
                self.quad[self.n] = v;
            } else {
                self.bad = true;
                return;
            }
            self.n += 1;
            if self.n == 4 {
                self.emit(sink);
            }
        }
    }

    fn emit(&mut self, sink: &mut dyn FnMut(&[u8])) {
        let q = self.quad;
        let (a, b, c, d) = (q[0], q[1], q[2], q[3]);
        let mut out = [a << 2 | b >> 4, 0, 0];
        let len = if c == 64 {
            if d != 64 || b & 0x0f != 0 {
                self.bad = true;
            }
            1
        } else if d == 64 {
            if c & 0x03 != 0 {
                self.bad = true;
            }
            out[1] = b << 4 | c >> 2;
            2
        } else {
            out[1] = b << 4 | c >> 2;
            out[2] = c << 6 | d;
            3
        };
        if !self.bad {
            sink(&out[..len]);
        }
        out.fill(0);
        self.quad = [0; 4];
        self.n = 0;
    }

    /// True when the whole text was valid base64.
    pub fn finish(self) -> bool {
        !self.bad && self.n == 0
    }
}

pub fn invalid(path: &str, field: &str) -> Error {
    Error::new("WRAPPER_SECRET_BASE64", EXIT_CONFIG, format!("field \"{field}\" of {path} is listed in cloudtaser.io/base64-fields but is not valid base64"))
        .hint("The field was written to OpenBao by hand after `target migrate`: store it base64-encoded, or run `target protect` again so the annotation follows the plan.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(text: &[u8], split: usize) -> Option<Vec<u8>> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        let (a, b) = text.split_at(split.min(text.len()));
        d.push(a, &mut |p| out.extend_from_slice(p));
        d.push(b, &mut |p| out.extend_from_slice(p));
        d.finish().then_some(out)
    }

    fn encode(b: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in b.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                s.push(if i <= c.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
            }
        }
        s
    }

    #[test]
    fn known_values_and_refusals() {
        assert_eq!(decode(b"", 0), Some(vec![]));
        assert_eq!(decode(b"AA==", 1), Some(vec![0]));
        assert_eq!(decode(b"/+8A", 2), Some(vec![0xff, 0xef, 0]));
        assert_eq!(decode(b"aGk=", 3), Some(b"hi".to_vec()));
        for bad in [&b"aGk"[..], b"aG=k", b"a===", b"aGk=aGk=", b"aG k", b"aGl=", b"-_==", b"===="] {
            assert_eq!(decode(bad, 2), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn fields_setting() {
        let f = Base64Fields::parse(Some(r#"{"secret/data/a":["ks","der"],"secret/data/b":[]}"#)).unwrap();
        assert!(f.has("secret/data/a", "der") && !f.has("secret/data/a", "pw") && !f.has("secret/data/b", "ks"));
        assert!(!Base64Fields::parse(None).unwrap().has("x", "y"));
        for bad in ["[]", r#"{"a":"ks"}"#, r#"{"a":[1]}"#, "{"] {
            assert!(Base64Fields::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trip_in_any_split(bytes in proptest::collection::vec(any::<u8>(), 0..300), split in 0usize..420) {
            prop_assert_eq!(decode(encode(&bytes).as_bytes(), split), Some(bytes));
        }
    }
}
