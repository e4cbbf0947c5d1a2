//! A strict, span-preserving JSON scanner.
//!
//! It validates a JSON document in one pass and lists every scalar ("leaf") with its path and
//! byte span. Edits are spliced into the original bytes, so every byte the filter did not mean
//! to change (key order, whitespace, number formatting, unknown fields) reaches the upstream
//! exactly as the client sent it, and a body is never re-serialised whole.

use std::fmt;

/// One step of a path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum LeafValue {
    /// Decoded string value.
    Str(String),
    /// Number as written (validated JSON number syntax).
    Num,
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub path: Vec<Seg>,
    /// Byte span of the value in the document (strings include their quotes).
    pub start: usize,
    pub end: usize,
    pub value: LeafValue,
}

impl Leaf {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            LeafValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    Object,
    Array,
    Scalar,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub root: RootKind,
    /// Byte offset of the root's opening `{` or `[` (for inserting fields).
    pub root_start: usize,
    pub leaves: Vec<Leaf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

/// Nesting deeper than this is refused (an explicit stack, so no recursion limit to hit, but
/// an attacker-controlled depth still costs memory).
pub const MAX_DEPTH: usize = 128;

/// The first index at or after `i` whose byte may end the plain run of a string (a `"`, a `\\`
/// or a control character), or the 8-byte word containing it; `b.len()` rounded down to the
/// last whole word otherwise. Word-at-a-time (SWAR): a string's body costs about one
/// comparison per eight bytes, natively and in Wasm (64-bit integers are native there).
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = LO * b'"' as u64;
    const BACKSLASH: u64 = LO * b'\\' as u64;
    const SPACE: u64 = LO * 0x20;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let q = w ^ QUOTE;
        let s = w ^ BACKSLASH;
        // Exact "some byte is zero" / "some byte < 0x20" tests (Hacker's Delight, 6-1).
        let hit = (q.wrapping_sub(LO) & !q) | (s.wrapping_sub(LO) & !s) | (w.wrapping_sub(SPACE) & !w);
        if hit & HI != 0 {
            break;
        }
        i += 8;
    }
    i
}

enum Frame {
    Object,
    Array(usize),
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn err(&self, reason: &'static str) -> JsonError {
        JsonError { offset: self.i, reason }
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect_lit(&mut self, lit: &[u8]) -> Result<(), JsonError> {
        if self.b.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.peek().ok_or_else(|| self.err("truncated \\u escape"))?;
            let d = (c as char).to_digit(16).ok_or_else(|| self.err("invalid \\u escape"))?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// Parses a string starting at the opening quote; returns the decoded value.
    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // opening quote
        let start = self.i;
        // Fast path: no escapes. Skip eight plain bytes at a time first.
        self.i = skip_plain(self.b, self.i);
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    let raw = self.b.get(start..self.i).unwrap_or_default();
                    let s = std::str::from_utf8(raw).map_err(|_| self.err("invalid UTF-8 in string"))?;
                    self.i += 1;
                    return Ok(s.to_owned());
                }
                b'\\' => break,
                0..=0x1f => return Err(self.err("control character in string")),
                _ => self.i += 1,
            }
        }
        let mut out: Vec<u8> = self.b.get(start..self.i).unwrap_or_default().to_vec();
        loop {
            let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
            match c {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in string"));
                }
                b'\\' => {
                    self.i += 1;
                    let e = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate must be followed by a low one; a lone one
                                // decodes to U+FFFD (scanned, never re-emitted unless edited).
                                if self.b.get(self.i..self.i + 2) == Some(b"\\u") {
                                    let save = self.i;
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                    } else {
                                        self.i = save;
                                        0xFFFD
                                    }
                                } else {
                                    0xFFFD
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                0xFFFD
                            } else {
                                hi
                            };
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                0..=0x1f => return Err(self.err("control character in string")),
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// An object member's key and the `:` after it (cursor on the key's opening quote).
    fn member_key(&mut self) -> Result<String, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected object key"));
        }
        let k = self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.err("expected ':'"));
        }
        self.i += 1;
        Ok(k)
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        Ok(())
    }
}

/// Scans a whole document. Trailing non-whitespace, bad syntax, invalid UTF-8 inside strings
/// and nesting beyond [`MAX_DEPTH`] are errors.
pub fn scan(bytes: &[u8]) -> Result<Document, JsonError> {
    let mut s = Scanner { b: bytes, i: 0 };
    let mut leaves = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<Seg> = Vec::new();
    s.ws();
    let root_start = s.i;
    let root = match s.peek() {
        Some(b'{') => RootKind::Object,
        Some(b'[') => RootKind::Array,
        Some(_) => RootKind::Scalar,
        None => return Err(s.err("empty document")),
    };

    // State machine: `value` parses one value at the cursor; containers push frames.
    'value: loop {
        s.ws();
        let start = s.i;
        let c = s.peek().ok_or_else(|| s.err("unexpected end of input"))?;
        match c {
            b'{' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(s.err("nesting too deep"));
                }
                s.i += 1;
                s.ws();
                if s.peek() == Some(b'}') {
                    s.i += 1;
                } else {
                    stack.push(Frame::Object);
                    path.push(Seg::Key(s.member_key()?));
                    continue 'value;
                }
            }
            b'[' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(s.err("nesting too deep"));
                }
                s.i += 1;
                s.ws();
                if s.peek() == Some(b']') {
                    s.i += 1;
                } else {
                    stack.push(Frame::Array(0));
                    path.push(Seg::Index(0));
                    continue 'value;
                }
            }
            b'"' => {
                let v = s.string()?;
                leaves.push(Leaf { path: path.clone(), start, end: s.i, value: LeafValue::Str(v) });
            }
            b't' => {
                s.expect_lit(b"true")?;
                leaves.push(Leaf { path: path.clone(), start, end: s.i, value: LeafValue::Bool(true) });
            }
            b'f' => {
                s.expect_lit(b"false")?;
                leaves.push(Leaf { path: path.clone(), start, end: s.i, value: LeafValue::Bool(false) });
            }
            b'n' => {
                s.expect_lit(b"null")?;
                leaves.push(Leaf { path: path.clone(), start, end: s.i, value: LeafValue::Null });
            }
            b'-' | b'0'..=b'9' => {
                s.number()?;
                leaves.push(Leaf { path: path.clone(), start, end: s.i, value: LeafValue::Num });
            }
            _ => return Err(s.err("unexpected character")),
        }
        // After a value: close containers or move to the next member.
        loop {
            s.ws();
            match stack.last_mut() {
                None => {
                    if s.i != bytes.len() {
                        return Err(s.err("trailing characters after document"));
                    }
                    return Ok(Document { root, root_start, leaves });
                }
                Some(Frame::Object) => match s.peek() {
                    Some(b',') => {
                        s.i += 1;
                        s.ws();
                        let k = s.member_key()?;
                        if let Some(last) = path.last_mut() {
                            *last = Seg::Key(k);
                        }
                        continue 'value;
                    }
                    Some(b'}') => {
                        s.i += 1;
                        stack.pop();
                        path.pop();
                    }
                    _ => return Err(s.err("expected ',' or '}'")),
                },
                Some(Frame::Array(n)) => match s.peek() {
                    Some(b',') => {
                        s.i += 1;
                        *n += 1;
                        let idx = *n;
                        if let Some(last) = path.last_mut() {
                            *last = Seg::Index(idx);
                        }
                        continue 'value;
                    }
                    Some(b']') => {
                        s.i += 1;
                        stack.pop();
                        path.pop();
                    }
                    _ => return Err(s.err("expected ',' or ']'")),
                },
            }
        }
    }
}

/// JSON-encodes a string value (with quotes).
pub fn encode_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    // Copy runs of plain bytes whole (the SWAR skip also stops at `"`, `\\` and controls);
    // only those three kinds of byte need an escape, and all are ASCII, so every run boundary
    // is a char boundary.
    let b = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        i = skip_plain(b, i);
        let Some(&c) = b.get(i) else { break };
        let esc: Option<&str> = match c {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(s.get(run..i).unwrap_or_default());
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(c >> 4)]));
                out.push(char::from(HEX[usize::from(c & 15)]));
            }
        }
        i += 1;
        run = i;
    }
    out.push_str(s.get(run..).unwrap_or_default());
    out.push('"');
    out
}

/// One replacement of the byte range `start..end` of a document by `text` (already JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Splice {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Applies non-overlapping splices (any order) to `bytes`. Overlapping or out-of-range
/// splices are skipped rather than corrupting the document; the return says how many applied.
pub fn apply_splices(bytes: &[u8], splices: &mut [Splice]) -> (Vec<u8>, usize) {
    splices.sort_by_key(|s| (s.start, s.end));
    let extra: usize = splices.iter().map(|s| s.text.len()).sum();
    let mut out = Vec::with_capacity(bytes.len() + extra);
    let mut pos = 0;
    let mut applied = 0;
    for sp in splices.iter() {
        if sp.start < pos || sp.end < sp.start || sp.end > bytes.len() {
            continue;
        }
        out.extend_from_slice(bytes.get(pos..sp.start).unwrap_or_default());
        out.extend_from_slice(sp.text.as_bytes());
        pos = sp.end;
        applied += 1;
    }
    out.extend_from_slice(bytes.get(pos..).unwrap_or_default());
    (out, applied)
}

/// Path matching helper: `path_is(&leaf.path, &[K("messages"), I, K("content")])`.
#[derive(Debug, Clone, Copy)]
pub enum P<'a> {
    K(&'a str),
    /// Any array index.
    I,
}

pub fn path_is(path: &[Seg], pattern: &[P<'_>]) -> bool {
    path.len() == pattern.len()
        && path.iter().zip(pattern).all(|(s, p)| match (s, p) {
            (Seg::Key(k), P::K(want)) => k == want,
            (Seg::Index(_), P::I) => true,
            _ => false,
        })
}

/// Index at position `n` of a path, if that step is an array index.
pub fn index_at(path: &[Seg], n: usize) -> Option<usize> {
    match path.get(n) {
        Some(Seg::Index(i)) => Some(*i),
        _ => None,
    }
}

/// Renders a path as `messages[2].content[0].text` for logs (no values, only structure).
pub fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                // Keys come from the client: keep them short and printable in logs.
                out.extend(k.chars().take(32).map(|c| if c.is_ascii_graphic() { c } else { '?' }));
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn encode_str_round_trips_every_escape_at_every_position() {
        let specials = ["\"", "\\", "\n", "\r", "\t", "\u{1}", "\u{1f}", "\u{8}", "é", "€", "😀", "\u{7f}", "/"];
        for sp in specials {
            for pos in 0..20 {
                let s: String = format!("{}{sp}{}", "ab".repeat(pos / 2 + 1).get(..pos).unwrap(), "xyz".repeat(5));
                let enc = encode_str(&s);
                assert!(!enc[1..enc.len() - 1].bytes().any(|b| b < 0x20), "{enc:?}");
                let doc = format!("[{enc}]");
                let d = scan(doc.as_bytes()).unwrap();
                assert_eq!(d.leaves[0].as_str(), Some(s.as_str()), "{enc:?}");
                // serde_json reads it back the same (the upstream's parser, not only ours).
                let v: Vec<String> = serde_json::from_str(&doc).unwrap();
                assert_eq!(v[0], s);
            }
        }
        assert_eq!(encode_str(""), "\"\"");
        assert_eq!(encode_str("a\u{1}b"), "\"a\\u0001b\"");
        assert_eq!(encode_str("\u{1f}"), "\"\\u001f\"");
    }

    #[test]
    fn word_at_a_time_skip_stops_at_every_special_byte_in_every_position() {
        // A quote, a backslash escape or a control character at each offset of a long string,
        // with multi-byte UTF-8 around: the SWAR skip must never step over one.
        for special in ["\"", "\\n", "\u{1}"] {
            for pos in 0..24 {
                let body: String = (0..40).map(|i| if i % 7 == 3 { 'é' } else { 'a' }).collect();
                let (pre, post) = body.split_at(body.char_indices().nth(pos).map(|(i, _)| i).unwrap());
                let doc = format!("[\"{pre}{special}{post}\"]");
                match special {
                    "\"" => assert!(scan(doc.as_bytes()).is_err(), "{doc:?}"),
                    "\\n" => {
                        let d = scan(doc.as_bytes()).unwrap();
                        assert_eq!(d.leaves[0].as_str(), Some(format!("{pre}\n{post}").as_str()));
                    }
                    _ => assert_eq!(scan(doc.as_bytes()).unwrap_err().reason, "control character in string"),
                }
            }
        }
        assert_eq!(skip_plain(b"abcdefgh", 0), 8);
        assert_eq!(skip_plain(b"abcdefg\"", 0), 0);
        assert_eq!(skip_plain(b"abcdefghij\"klmnopq", 0), 8);
        assert_eq!(skip_plain("ééééé\u{7f}x".as_bytes(), 0), 8); // 0x7f and UTF-8 bytes are plain
    }

    #[test]
    fn scans_leaves_with_paths_and_spans() {
        let doc = br#"{"a": [1, "x\ny", {"b": true}], "c": null, "d": -1.5e3}"#;
        let d = scan(doc).unwrap();
        assert_eq!(d.root, RootKind::Object);
        let rendered: Vec<(String, &LeafValue)> =
            d.leaves.iter().map(|l| (render_path(&l.path), &l.value)).collect();
        assert_eq!(
            rendered,
            vec![
                ("a[0]".to_string(), &LeafValue::Num),
                ("a[1]".to_string(), &LeafValue::Str("x\ny".into())),
                ("a[2].b".to_string(), &LeafValue::Bool(true)),
                ("c".to_string(), &LeafValue::Null),
                ("d".to_string(), &LeafValue::Num),
            ]
        );
        let s = &d.leaves[1];
        assert_eq!(&doc[s.start..s.end], br#""x\ny""#);
        assert_eq!(&doc[d.leaves[4].start..d.leaves[4].end], b"-1.5e3");
    }

    #[test]
    fn decodes_escapes_and_surrogates() {
        let d = scan(br#"["\u00e9\ud83d\ude00\"\\\/\b\f\r\t", "\ud800x"]"#).unwrap();
        assert_eq!(d.leaves[0].as_str().unwrap(), "é😀\"\\/\u{8}\u{c}\r\t");
        assert_eq!(d.leaves[1].as_str().unwrap(), "\u{FFFD}x");
    }

    #[test]
    fn rejects_malformed_documents() {
        let bad: &[&[u8]] = &[
            b"",
            b"   ",
            b"{",
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"[1,]",
            b"[1 2]",
            b"{\"a\":1}x",
            b"\"\x01\"",
            b"\"\xff\"",
            b"01",
            b"1.",
            b"-",
            b"tru",
            b"{\"a\":\"\\x\"}",
            b"{1:2}",
            b"\"abc",
            b"\"\\u12\"",
        ];
        for b in bad {
            assert!(scan(b).is_err(), "accepted {:?}", String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(scan(deep.as_bytes()).unwrap_err().reason, "nesting too deep");
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(scan(ok.as_bytes()).is_ok());
    }

    #[test]
    fn agrees_with_serde_json_on_strings() {
        let cases = ["plain", "quote \" and \\ backslash", "ctl \u{1} \u{1f}", "ünïcødé 中文 😀", "\n\r\t"];
        for c in cases {
            let enc = encode_str(c);
            assert_eq!(serde_json::from_str::<String>(&enc).unwrap(), c);
            let d = scan(enc.as_bytes()).unwrap();
            assert_eq!(d.leaves[0].as_str().unwrap(), c);
        }
    }

    #[test]
    fn splices_keep_other_bytes() {
        let doc = br#"{ "model" :"m",  "x":"abc" , "n": 5 }"#;
        let d = scan(doc).unwrap();
        let x = d.leaves.iter().find(|l| path_is(&l.path, &[P::K("x")])).unwrap();
        let mut sp = vec![Splice { start: x.start, end: x.end, text: encode_str("A\"B") }];
        let (out, n) = apply_splices(doc, &mut sp);
        assert_eq!(n, 1);
        assert_eq!(out, br#"{ "model" :"m",  "x":"A\"B" , "n": 5 }"#.to_vec());
    }

    #[test]
    fn overlapping_splices_are_skipped() {
        let mut sp = vec![
            Splice { start: 0, end: 3, text: "X".into() },
            Splice { start: 2, end: 4, text: "Y".into() },
            Splice { start: 9, end: 99, text: "Z".into() },
        ];
        let (out, n) = apply_splices(b"abcdef", &mut sp);
        assert_eq!(n, 1);
        assert_eq!(out, b"Xdef".to_vec());
    }
}
