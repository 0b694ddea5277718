//! One JSON reader for everything the wrapper parses (OpenBao's answers, CLOUDTASER_ORIGINAL_CMD,
//! CLOUDTASER_FILE_MAP). It validates the whole document and records where each value is
//! (a span in the input) instead of copying it: a secret value is decoded later, once, straight
//! into the secret store (`unescape`). Object keys are decoded: they are field names, not values.
//! An error gives a byte position, never content.

#[derive(Debug)]
pub enum Node {
    /// Members in order, and the span of the whole object's text.
    Obj(Vec<(String, Node)>, usize, usize),
    Arr(Vec<Node>, usize, usize),
    /// The raw bytes between the quotes, escapes not yet applied.
    Str(usize, usize),
    /// A number, true, false or null: its text.
    Lit(usize, usize),
}

#[derive(Debug, PartialEq)]
pub struct JsonError {
    pub pos: usize,
    pub what: &'static str,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.pos)
    }
}

const MAX_DEPTH: usize = 256;

pub fn parse(b: &[u8]) -> Result<Node, JsonError> {
    let mut p = Parser { b, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != b.len() {
        return Err(p.err("trailing bytes after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError { pos: self.i, what }
    }
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn value(&mut self, depth: usize) -> Result<Node, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let (s, e) = self.string()?;
                Ok(Node::Str(s, e))
            }
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected byte")),
            None => Err(self.err("unexpected end")),
        }
    }
    fn word(&mut self, w: &'static [u8]) -> Result<Node, JsonError> {
        if self.b[self.i..].starts_with(w) {
            let s = self.i;
            self.i += w.len();
            Ok(Node::Lit(s, self.i))
        } else {
            Err(self.err("invalid literal"))
        }
    }
    fn digits(&mut self) -> usize {
        let s = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - s
    }
    fn number(&mut self) -> Result<Node, JsonError> {
        let s = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        Ok(Node::Lit(s, self.i))
    }
    /// At an opening quote: the span of the content. Escapes and UTF-8 are validated in place.
    fn string(&mut self) -> Result<(usize, usize), JsonError> {
        self.i += 1;
        let s = self.i;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            if self.b.len() < self.i + 5 || !self.b[self.i + 1..self.i + 5].iter().all(u8::is_ascii_hexdigit) {
                                return Err(self.err("invalid \\u escape"));
                            }
                            self.i += 5;
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(c) if c < 0x20 => return Err(self.err("control character in string")),
                Some(c) if c < 0x80 => self.i += 1,
                Some(_) => {
                    // One UTF-8 sequence, validated without copying it anywhere.
                    let end = (self.i + 4).min(self.b.len());
                    let n = match std::str::from_utf8(&self.b[self.i..end]) {
                        Ok(t) => t.chars().next().map(char::len_utf8).unwrap_or(1),
                        Err(e) if e.valid_up_to() > 0 => {
                            std::str::from_utf8(&self.b[self.i..self.i + e.valid_up_to()]).unwrap().chars().next().unwrap().len_utf8()
                        }
                        Err(_) => return Err(self.err("invalid UTF-8 in string")),
                    };
                    self.i += n;
                }
            }
        }
        let e = self.i;
        self.i += 1;
        Ok((s, e))
    }
    fn object(&mut self, depth: usize) -> Result<Node, JsonError> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Node::Obj(out, start, self.i));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a key"));
            }
            let (s, e) = self.string()?;
            let mut key = Vec::with_capacity(e - s);
            unescape(&self.b[s..e], &mut |c| key.extend_from_slice(c));
            let key = String::from_utf8(key).map_err(|_| self.err("invalid key"))?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            out.push((key, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Node::Obj(out, start, self.i));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }
    fn array(&mut self, depth: usize) -> Result<Node, JsonError> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Node::Arr(out, start, self.i));
        }
        loop {
            self.ws();
            out.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Node::Arr(out, start, self.i));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }
}

fn hex4(b: &[u8]) -> u32 {
    b.iter().fold(0, |a, &c| a * 16 + (c as char).to_digit(16).unwrap_or(0))
}

/// The decoded bytes of a validated string span, handed to `out` in pieces (never collected in
/// a buffer of ours): `\uXXXX` and surrogate pairs become UTF-8, a lone surrogate U+FFFD (as a
/// JavaScript string would be encoded).
pub fn unescape(raw: &[u8], out: &mut dyn FnMut(&[u8])) {
    let mut i = 0;
    let mut run = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            i += 1;
            continue;
        }
        out(&raw[run..i]);
        let c = raw[i + 1];
        i += 2;
        let simple = match c {
            b'b' => Some(8u8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            other => Some(other),
        };
        if let Some(s) = simple {
            out(&[s]);
        } else {
            let mut cp = hex4(&raw[i..i + 4]);
            i += 4;
            if (0xD800..0xDC00).contains(&cp) && raw.len() >= i + 6 && raw[i] == b'\\' && raw[i + 1] == b'u' {
                let lo = hex4(&raw[i + 2..i + 6]);
                if (0xDC00..0xE000).contains(&lo) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
            let mut b = [0u8; 4];
            out(ch.encode_utf8(&mut b).as_bytes());
            crate::alloc::wipe(b.as_mut_ptr(), 4);
        }
        run = i;
    }
    out(&raw[run..]);
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Obj(m, ..) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |n, k| n.get(k))
    }
    /// A decoded string, for what is not a secret value (names, tokens of our own, errors).
    pub fn string(&self, b: &[u8]) -> Option<String> {
        match self {
            Node::Str(s, e) => {
                let mut v = Vec::new();
                unescape(&b[*s..*e], &mut |c| v.extend_from_slice(c));
                String::from_utf8(v).ok()
            }
            _ => None,
        }
    }
    /// Where the value's text is (a string without its quotes).
    pub fn span(&self) -> (usize, usize) {
        match self {
            Node::Obj(_, s, e) | Node::Arr(_, s, e) | Node::Str(s, e) | Node::Lit(s, e) => (*s, *e),
        }
    }
    pub fn number(&self, b: &[u8]) -> Option<f64> {
        match self {
            Node::Lit(s, e) => std::str::from_utf8(&b[*s..*e]).ok()?.parse().ok(),
            _ => None,
        }
    }
    pub fn int(&self, b: &[u8]) -> Option<i64> {
        self.number(b).map(|n| n as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> String {
        let n = parse(s.as_bytes()).unwrap();
        n.string(s.as_bytes()).unwrap()
    }

    #[test]
    fn strings_decode_like_json_parse() {
        assert_eq!(dec(r#""a\"b\\c\/d\b\f\n\r\t""#), "a\"b\\c/d\u{8}\u{c}\n\r\t");
        assert_eq!(dec(r#""\u00e9\u20ac""#), "é€");
        assert_eq!(dec(r#""\ud83d\ude00""#), "😀");
        assert_eq!(dec(r#""\ud83dx""#), "\u{FFFD}x");
        assert_eq!(dec(r#""\ude00""#), "\u{FFFD}");
        assert_eq!(dec("\"grüße 😀\""), "grüße 😀");
    }

    #[test]
    fn spans_and_paths() {
        let b = br#"{"data":{"data":{"k":"v","n":12,"o":{"x":[1,true,null]}},"metadata":{"version":3}}}"#;
        let n = parse(b).unwrap();
        assert_eq!(n.path(&["data", "metadata", "version"]).unwrap().int(b), Some(3));
        match n.path(&["data", "data", "k"]).unwrap() {
            Node::Str(s, e) => assert_eq!(&b[*s..*e], b"v"),
            _ => panic!(),
        }
    }

    #[test]
    fn malformed_input_gives_a_position() {
        for (bad, pos) in [("{", 1), ("{\"a\":}", 5), ("[1,]", 3), ("\"\\x\"", 2), ("01", 1), ("{\"a\":1} x", 8), ("\"a\u{1}\"", 2), ("-", 1), ("1.", 2), ("tru", 0)] {
            let e = parse(bad.as_bytes()).unwrap_err();
            assert_eq!(e.pos, pos, "{bad}: {e}");
        }
        assert!(parse(b"\"\xff\"").is_err());
        assert!(parse(&[b'['; 300]).is_err());
    }
}
