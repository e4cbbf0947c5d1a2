//! The previous scanner, which owned every path and value: the reference the borrowing one is
//! tested against. Its string loop goes byte by byte (no word-at-a-time skip), so the two
//! share no code but the error type.

use super::{JsonError, RootKind, MAX_DEPTH, P};

fn skip_plain(_: &[u8], i: usize) -> usize {
    i
}

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

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub root: RootKind,
    /// Byte offset of the root's opening `{` or `[` (for inserting fields).
    pub root_start: usize,
    pub leaves: Vec<Leaf>,
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
        JsonError {
            offset: self.i,
            reason,
        }
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
            let c = self
                .peek()
                .ok_or_else(|| self.err("truncated \\u escape"))?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\u escape"))?;
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
                    let s = std::str::from_utf8(raw)
                        .map_err(|_| self.err("invalid UTF-8 in string"))?;
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
                leaves.push(Leaf {
                    path: path.clone(),
                    start,
                    end: s.i,
                    value: LeafValue::Str(v),
                });
            }
            b't' => {
                s.expect_lit(b"true")?;
                leaves.push(Leaf {
                    path: path.clone(),
                    start,
                    end: s.i,
                    value: LeafValue::Bool(true),
                });
            }
            b'f' => {
                s.expect_lit(b"false")?;
                leaves.push(Leaf {
                    path: path.clone(),
                    start,
                    end: s.i,
                    value: LeafValue::Bool(false),
                });
            }
            b'n' => {
                s.expect_lit(b"null")?;
                leaves.push(Leaf {
                    path: path.clone(),
                    start,
                    end: s.i,
                    value: LeafValue::Null,
                });
            }
            b'-' | b'0'..=b'9' => {
                s.number()?;
                leaves.push(Leaf {
                    path: path.clone(),
                    start,
                    end: s.i,
                    value: LeafValue::Num,
                });
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
                    return Ok(Document {
                        root,
                        root_start,
                        leaves,
                    });
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

pub fn path_is(path: &[Seg], pattern: &[P<'_>]) -> bool {
    path.len() == pattern.len()
        && path.iter().zip(pattern).all(|(s, p)| match (s, p) {
            (Seg::Key(k), P::K(want)) => k == want,
            (Seg::Index(_), P::I) => true,
            _ => false,
        })
}
