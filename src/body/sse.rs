//! Incremental Server-Sent Events framing.
//!
//! Chunks may split an event at any byte (even between `\r` and `\n`); the framer hands out
//! whole events, in order, each with its raw bytes, and never rescans bytes it has already
//! looked at, so cost stays linear in the stream's size.

use std::borrow::Cow;

/// One complete event as received (including its terminating blank line).
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub raw: Vec<u8>,
}

impl SseEvent {
    /// The event's data: `data:` lines joined by `\n` (one leading space stripped), or None.
    pub fn data(&self) -> Option<String> {
        self.data_cow().map(Cow::into_owned)
    }

    /// `data()`, borrowed from the event when it has a single `data:` line (the usual case)
    /// and is valid UTF-8.
    pub fn data_cow(&self) -> Option<Cow<'_, str>> {
        match self.text() {
            Cow::Borrowed(text) => data_of(text),
            Cow::Owned(text) => data_of(&text).map(|d| Cow::Owned(d.into_owned())),
        }
    }

    /// The same event with its data replaced; other fields (`event:`, `id:`, `retry:`,
    /// comments) are kept in place of the first data line.
    pub fn with_data(&self, data: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw.len() + data.len());
        self.write_with_data(data, &mut out);
        out
    }

    /// `with_data`, appended to `out`.
    pub fn write_with_data(&self, data: &str, out: &mut Vec<u8>) {
        write_with_data_text(&self.text(), data, out);
    }

    /// The raw event as text (borrowed when valid UTF-8, else with U+FFFD replacements).
    pub fn text(&self) -> Cow<'_, str> {
        match std::str::from_utf8(&self.raw) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(&self.raw),
        }
    }
}

/// `SseEvent::write_with_data` for an event whose `text()` is `text`.
pub fn write_with_data_text(text: &str, data: &str, out: &mut Vec<u8>) {
    let mut wrote = false;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("data:") {
            if !wrote {
                for d in data.split('\n') {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(d.as_bytes());
                    out.push(b'\n');
                }
                wrote = true;
            }
            continue;
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    if !wrote {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// The first `\n` or `\r` at or after `i`, or `b.len()` (eight bytes at a time).
fn find_eol(b: &[u8], mut i: usize) -> usize {
    use crate::swar;
    while let Some(x) = swar::word(b, i) {
        let hit = swar::eq(x, b'\n') | swar::eq(x, b'\r');
        if hit != 0 {
            return i + swar::first(hit);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'\n' || c == b'\r' {
            return i;
        }
        i += 1;
    }
    b.len().max(i)
}

/// `data:` lines of an event's text joined by `\n`; borrowed when there is one.
pub fn data_of(text: &str) -> Option<Cow<'_, str>> {
    let mut out: Option<Cow<'_, str>> = None;
    let b = text.as_bytes();
    let mut start = 0;
    // The pieces of `text.split(['\n', '\r'])`, found bytewise.
    while start <= b.len() {
        let end = find_eol(b, start);
        let line = text.get(start..end).unwrap_or("");
        start = end + 1;
        let Some(v) = line.strip_prefix("data:") else {
            continue;
        };
        let value = v.strip_prefix(' ').unwrap_or(v);
        match &mut out {
            Some(s) => {
                let s = s.to_mut();
                s.push('\n');
                s.push_str(value);
            }
            None => out = Some(Cow::Borrowed(value)),
        }
    }
    out
}

#[derive(Debug, Default)]
pub struct SseFramer {
    buf: Vec<u8>,
    /// Next byte not yet examined.
    pos: usize,
    /// Start of the current line.
    line_start: usize,
}

impl SseFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut event_start = 0;
        loop {
            // Bytes other than CR and LF only extend the line: skip them eight at a time.
            self.pos = find_eol(&self.buf, self.pos);
            let Some(&c) = self.buf.get(self.pos) else {
                break;
            };
            let term_len = match c {
                b'\n' => 1,
                _ => match self.buf.get(self.pos + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    // A CR at the end of what we have: wait for the next byte.
                    None => break,
                },
            };
            let empty_line = self.pos == self.line_start;
            self.pos += term_len;
            self.line_start = self.pos;
            if empty_line {
                if self.pos - event_start > term_len {
                    events.push(SseEvent {
                        raw: self
                            .buf
                            .get(event_start..self.pos)
                            .unwrap_or_default()
                            .to_vec(),
                    });
                }
                // A lone blank line between events carries nothing: it is dropped.
                event_start = self.pos;
            }
        }
        if event_start > 0 {
            self.buf.drain(..event_start);
            self.pos -= event_start;
            self.line_start -= event_start;
        }
        events
    }

    /// Bytes of an unfinished event (the stream ended without a blank line).
    pub fn take_rest(&mut self) -> Vec<u8> {
        self.pos = 0;
        self.line_start = 0;
        std::mem::take(&mut self.buf)
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const STREAM: &str = "event: a\ndata: {\"x\":1}\n\n: comment\r\ndata: two\r\ndata: lines\r\n\r\ndata: cr\r\rdata: [DONE]\n\n";

    fn split_all(stream: &[u8], sizes: &[usize]) -> (Vec<SseEvent>, Vec<u8>) {
        let mut f = SseFramer::new();
        let mut out = Vec::new();
        let mut i = 0;
        let mut k = 0;
        while i < stream.len() {
            let n = sizes[k % sizes.len()].max(1).min(stream.len() - i);
            out.extend(f.push(&stream[i..i + n]));
            i += n;
            k += 1;
        }
        (out, f.take_rest())
    }

    #[test]
    fn events_survive_any_split() {
        let whole = split_all(STREAM.as_bytes(), &[STREAM.len()]);
        let datas: Vec<Option<String>> = whole.0.iter().map(|e| e.data()).collect();
        assert_eq!(
            datas,
            vec![
                Some("{\"x\":1}".into()),
                Some("two\nlines".into()),
                Some("cr".into()),
                Some("[DONE]".into())
            ]
        );
        let joined: Vec<u8> = whole.0.iter().flat_map(|e| e.raw.clone()).collect();
        assert_eq!(joined, STREAM.as_bytes());
        for a in 1..STREAM.len() {
            for b in [1, 2, 3, 7] {
                let got = split_all(STREAM.as_bytes(), &[a, b]);
                assert_eq!(got.0, whole.0, "split {a}/{b}");
                assert!(got.1.is_empty());
            }
        }
    }

    #[test]
    fn unterminated_tail_is_kept() {
        let (ev, rest) = split_all(b"data: 1\n\ndata: 2\n", &[3]);
        assert_eq!(ev.len(), 1);
        assert_eq!(rest, b"data: 2\n".to_vec());
    }

    #[test]
    fn with_data_keeps_other_fields() {
        let e = SseEvent {
            raw: b"event: delta\nid: 7\ndata: old\n\n".to_vec(),
        };
        assert_eq!(
            e.with_data("new"),
            b"event: delta\nid: 7\ndata: new\n\n".to_vec()
        );
        let e = SseEvent {
            raw: b"data: a\ndata: b\n\n".to_vec(),
        };
        assert_eq!(e.with_data("x\ny"), b"data: x\ndata: y\n\n".to_vec());
    }

    /// The previous implementations, as references.
    fn data_reference(e: &SseEvent) -> Option<String> {
        let text = String::from_utf8_lossy(&e.raw);
        let mut out: Option<String> = None;
        for line in text.split(['\n', '\r']) {
            let Some(v) = line.strip_prefix("data:") else {
                continue;
            };
            let value = v.strip_prefix(' ').unwrap_or(v);
            match &mut out {
                Some(s) => {
                    s.push('\n');
                    s.push_str(value);
                }
                None => out = Some(value.to_string()),
            }
        }
        out
    }

    fn with_data_reference(e: &SseEvent, data: &str) -> Vec<u8> {
        let text = String::from_utf8_lossy(&e.raw);
        let mut out = String::new();
        let mut wrote = false;
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if line.starts_with("data:") {
                if !wrote {
                    for d in data.split('\n') {
                        out.push_str("data: ");
                        out.push_str(d);
                        out.push('\n');
                    }
                    wrote = true;
                }
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        if !wrote {
            out.push_str("data: ");
            out.push_str(data);
            out.push('\n');
        }
        out.push('\n');
        out.into_bytes()
    }

    #[test]
    fn borrowed_data_equals_reference() {
        let raws: Vec<&[u8]> = vec![
            b"data: {\"x\":1}\n\n",
            b"data:{\"x\":1}\r\n\r\n",
            b"data:  two spaces\n\n",
            b"event: a\ndata: one\ndata: two\n\n",
            b"data: a\r\rdata: b\r\n\n",
            b": comment only\n\n",
            b"id: 7\n\n",
            b"data:\n\n",
            b"data: \xff\xfe bad utf8\n\n",
            b"data: ok\ndata: \xc3\n\n",
            b"data: \xc3\xa4 \xf0\x9f\x98\x80\n\n",
            b"",
            b"\n",
            b"data: 0123456789abcdef0123456789\r\ndata: x\n\n",
            b"event: 0123456789abcdef\rdata: 0123456789abcdef0123\r\r",
            b"data: 0123456789abcdef0123456789abcdef",
        ];
        for raw in raws {
            let e = SseEvent { raw: raw.to_vec() };
            assert_eq!(e.data(), data_reference(&e), "{raw:?}");
            assert_eq!(
                e.data_cow().map(|c| c.into_owned()),
                data_reference(&e),
                "{raw:?}"
            );
            for d in ["new", "x\ny", "", "\u{e4}"] {
                assert_eq!(
                    e.with_data(d),
                    with_data_reference(&e, d),
                    "{raw:?} / {d:?}"
                );
                let mut out = b"prefix".to_vec();
                e.write_with_data(d, &mut out);
                assert_eq!(&out[6..], &with_data_reference(&e, d)[..]);
            }
        }
        let single = SseEvent {
            raw: b"data: {\"x\":1}\n\n".to_vec(),
        };
        assert!(matches!(single.data_cow(), Some(Cow::Borrowed(_))));
    }

    #[test]
    fn linear_on_large_streams() {
        let mut f = SseFramer::new();
        let big = "x".repeat(1 << 20);
        let mut n = 0;
        for chunk in big.as_bytes().chunks(1000) {
            n += f.push(chunk).len();
        }
        assert_eq!(n, 0);
        assert_eq!(f.buffered(), 1 << 20);
        assert_eq!(f.push(b"\n\n").len(), 1);
    }
}
