//! Incremental Server-Sent Events framing, per the WHATWG SSE parsing rules.
//!
//! Chunks may split an event at any byte (even between `\r` and `\n`); the framer hands out
//! whole events, in order, each with its raw bytes, and never rescans bytes it has already
//! looked at, so cost stays linear in the stream's size. Lines end with CRLF, LF or a lone
//! CR; a line `name: value` (or `name` alone, value empty) is a field, one leading space of
//! the value is dropped, lines starting with `:` are comments, a blank line ends the event.
//!
//! Memory is bounded: an event longer than the framer's bound is not kept. It is handed out
//! as [`SseItem::TooLarge`] followed by its bytes as they arrive ([`SseItem::Raw`]), so the
//! caller passes it on unmodified; whether an event is too large depends only on its length,
//! never on how the stream was chunked.

use std::borrow::Cow;

/// One complete event as received (including its terminating blank line).
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub raw: Vec<u8>,
}

/// What the framer hands out, in stream order.
#[derive(Debug, Clone, PartialEq)]
pub enum SseItem {
    /// A complete event no longer than the bound.
    Event(SseEvent),
    /// An event longer than the bound starts here: its bytes follow as `Raw`, unparsed.
    TooLarge,
    /// Bytes to pass on as they are: part of a too-large event, or the stream's byte-order mark.
    Raw(Vec<u8>),
}

impl SseEvent {
    /// The event's data: `data` fields joined by `\n`, or None when it has none.
    pub fn data(&self) -> Option<String> {
        self.data_cow().map(Cow::into_owned)
    }

    /// `data()`, borrowed from the event when it has a single `data` field (the usual case)
    /// and is valid UTF-8.
    pub fn data_cow(&self) -> Option<Cow<'_, str>> {
        match self.text() {
            Cow::Borrowed(text) => data_of(text),
            Cow::Owned(text) => data_of(&text).map(|d| Cow::Owned(d.into_owned())),
        }
    }

    /// The same event with its data replaced; other fields (`event:`, `id:`, `retry:`,
    /// comments) are kept in place of the first data line. Lines end with `\n`.
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

/// The lines of an event's text: split at CRLF, LF or a lone CR (the terminators dropped).
pub fn lines(text: &str) -> Lines<'_> {
    Lines { text, at: 0 }
}

pub struct Lines<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.text.as_bytes();
        if self.at >= b.len() {
            return None;
        }
        let end = find_eol(b, self.at);
        let line = self.text.get(self.at..end).unwrap_or("");
        self.at = match (b.get(end), b.get(end + 1)) {
            (Some(b'\r'), Some(b'\n')) => end + 2,
            _ => end + 1,
        };
        Some(line)
    }
}

/// A line's field name and value (`None` for a comment or a blank line).
pub fn field(line: &str) -> Option<(&str, &str)> {
    if line.is_empty() || line.starts_with(':') {
        return None;
    }
    Some(match line.split_once(':') {
        Some((name, v)) => (name, v.strip_prefix(' ').unwrap_or(v)),
        None => (line, ""),
    })
}

/// `SseEvent::write_with_data` for an event whose `text()` is `text`: every line kept (with
/// `\n`) except the `data` fields, whose place the new data takes (one `data:` line per line
/// of `data`).
pub fn write_with_data_text(text: &str, data: &str, out: &mut Vec<u8>) {
    let mut wrote = false;
    let write_data = |out: &mut Vec<u8>| {
        for d in data.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(d.as_bytes());
            out.push(b'\n');
        }
    };
    for line in lines(text) {
        if line.is_empty() {
            continue;
        }
        if matches!(field(line), Some(("data", _))) {
            if !wrote {
                write_data(out);
                wrote = true;
            }
            continue;
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    if !wrote {
        write_data(out);
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

/// The `data` fields of an event's text joined by `\n`; borrowed when there is one.
pub fn data_of(text: &str) -> Option<Cow<'_, str>> {
    let mut out: Option<Cow<'_, str>> = None;
    for line in lines(text) {
        let Some(("data", value)) = field(line) else {
            continue;
        };
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

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Default bound on one event's size (bytes, terminator included).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 900 * 1024;

#[derive(Debug)]
pub struct SseFramer {
    buf: Vec<u8>,
    /// Next byte not yet examined.
    pos: usize,
    /// Start of the current line.
    line_start: usize,
    /// The current line has bytes that were already passed on (too-large event).
    line_passed: bool,
    /// Passing a too-large event through: its bytes are handed out as they come.
    passing: bool,
    /// Largest event kept whole.
    max_event: usize,
    /// The start of the stream was checked for a byte-order mark.
    bom_checked: bool,
}

impl Default for SseFramer {
    fn default() -> Self {
        Self::with_max_event(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A framer that passes events longer than `max_event` bytes through unparsed.
    pub fn with_max_event(max_event: usize) -> Self {
        SseFramer {
            buf: Vec::new(),
            pos: 0,
            line_start: 0,
            line_passed: false,
            passing: false,
            max_event: max_event.max(1),
            bom_checked: false,
        }
    }

    /// Feeds a chunk; returns the items it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseItem> {
        self.buf.extend_from_slice(chunk);
        let mut items = Vec::new();
        if !self.bom_checked {
            // A stream may start with one U+FEFF, which is not part of the first line.
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                return items;
            }
            self.bom_checked = true;
            if self.buf.starts_with(BOM) {
                items.push(SseItem::Raw(BOM.to_vec()));
                self.buf.drain(..BOM.len());
            }
        }
        self.frame(false, &mut items);
        items
    }

    /// The stream ended: a final CR counts as a line end; returns the items it completes and
    /// the bytes of an unfinished event (no blank line before the end), if any. The framer is
    /// then empty.
    pub fn finish(&mut self) -> (Vec<SseItem>, Vec<u8>) {
        let mut items = Vec::new();
        if !self.bom_checked {
            self.bom_checked = true;
        }
        self.frame(true, &mut items);
        let rest = std::mem::take(&mut self.buf);
        let passing = std::mem::take(&mut self.passing);
        self.pos = 0;
        self.line_start = 0;
        self.line_passed = false;
        if passing {
            if !rest.is_empty() {
                items.push(SseItem::Raw(rest));
            }
            return (items, Vec::new());
        }
        if rest.len() > self.max_event {
            items.push(SseItem::TooLarge);
            items.push(SseItem::Raw(rest));
            return (items, Vec::new());
        }
        (items, rest)
    }

    fn frame(&mut self, at_end: bool, items: &mut Vec<SseItem>) {
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
                    None if !at_end => break,
                    None => 1,
                },
            };
            let empty_line = self.pos == self.line_start && !self.line_passed;
            self.pos += term_len;
            self.line_start = self.pos;
            self.line_passed = false;
            if empty_line {
                let raw = self.buf.get(event_start..self.pos).unwrap_or_default();
                if self.passing {
                    self.passing = false;
                    items.push(SseItem::Raw(raw.to_vec()));
                } else if raw.len() > self.max_event {
                    items.push(SseItem::TooLarge);
                    items.push(SseItem::Raw(raw.to_vec()));
                } else if raw.len() > term_len {
                    items.push(SseItem::Event(SseEvent { raw: raw.to_vec() }));
                }
                // A lone blank line between events carries nothing: it is dropped.
                event_start = self.pos;
            }
        }
        // An unfinished event over the bound (or one already passing): what was examined goes
        // on now; a CR whose line end is undecided stays.
        let pending = self.buf.len() - event_start;
        if !at_end && (self.passing || pending > self.max_event) {
            if !self.passing {
                self.passing = true;
                items.push(SseItem::TooLarge);
            }
            if self.pos > event_start {
                let raw = self.buf.get(event_start..self.pos).unwrap_or_default();
                items.push(SseItem::Raw(raw.to_vec()));
            }
            self.line_passed = self.line_passed || self.line_start < self.pos;
            self.line_start = self.pos;
            event_start = self.pos;
        }
        if event_start > 0 {
            self.buf.drain(..event_start);
            self.pos -= event_start;
            self.line_start -= event_start;
        }
    }

    /// Bytes held (an unfinished event, at most the bound plus one chunk).
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

    /// Items of `stream` fed in pieces of the given sizes (cycled), plus `finish`; adjacent
    /// `Raw` items merged (how a too-large event is cut into them depends on the chunks).
    fn split_all(stream: &[u8], sizes: &[usize], max: usize) -> (Vec<SseItem>, Vec<u8>, usize) {
        let mut f = SseFramer::with_max_event(max);
        let mut out = Vec::new();
        let mut i = 0;
        let mut k = 0;
        let mut most = 0;
        while i < stream.len() {
            let n = sizes[k % sizes.len()].max(1).min(stream.len() - i);
            out.extend(f.push(&stream[i..i + n]));
            most = most.max(f.buffered());
            i += n;
            k += 1;
        }
        let (items, rest) = f.finish();
        out.extend(items);
        let mut merged: Vec<SseItem> = Vec::new();
        for it in out {
            match (merged.last_mut(), it) {
                (Some(SseItem::Raw(a)), SseItem::Raw(b)) => a.extend(b),
                (_, it) => merged.push(it),
            }
        }
        (merged, rest, most)
    }

    fn raw_of(items: &[SseItem]) -> Vec<u8> {
        let mut out = Vec::new();
        for it in items {
            match it {
                SseItem::Event(e) => out.extend_from_slice(&e.raw),
                SseItem::Raw(b) => out.extend_from_slice(b),
                SseItem::TooLarge => {}
            }
        }
        out
    }

    #[test]
    fn events_survive_any_split() {
        let whole = split_all(STREAM.as_bytes(), &[STREAM.len()], 1 << 20);
        let datas: Vec<Option<String>> = whole
            .0
            .iter()
            .map(|e| match e {
                SseItem::Event(e) => e.data(),
                _ => None,
            })
            .collect();
        assert_eq!(
            datas,
            vec![
                Some("{\"x\":1}".into()),
                Some("two\nlines".into()),
                Some("cr".into()),
                Some("[DONE]".into())
            ]
        );
        assert_eq!(raw_of(&whole.0), STREAM.as_bytes());
        for a in 1..STREAM.len() {
            for b in [1, 2, 3, 7] {
                let got = split_all(STREAM.as_bytes(), &[a, b], 1 << 20);
                assert_eq!(got.0, whole.0, "split {a}/{b}");
                assert!(got.1.is_empty());
            }
        }
    }

    #[test]
    fn line_endings_cr_lf_crlf_per_spec() {
        for (raw, want) in [
            ("data: a\ndata: b\n\n", Some("a\nb")),
            ("data: a\r\ndata: b\r\n\r\n", Some("a\nb")),
            ("data: a\rdata: b\r\r", Some("a\nb")),
            ("data:a\r\ndata:  b\n\r", Some("a\n b")),
            // `data` without a colon is a data field with an empty value.
            ("data\ndata: x\n\n", Some("\nx")),
            ("data\n\n", Some("")),
            (": data: no\nevent: e\n\n", None),
            ("dat: a\n\n", None),
        ] {
            let e = SseEvent {
                raw: raw.as_bytes().to_vec(),
            };
            assert_eq!(e.data().as_deref(), want, "{raw:?}");
        }
        // A CR-only event is one event with its fields, whatever the split.
        let s = b"event: x\rdata: {\"a\":1}\r\rdata: 2\r\r";
        for a in 1..s.len() {
            let (items, rest, _) = split_all(s, &[a], 1 << 20);
            assert_eq!(items.len(), 2, "split {a}");
            assert!(rest.is_empty());
            let SseItem::Event(e) = &items[0] else {
                panic!("{items:?}")
            };
            assert_eq!(e.raw, b"event: x\rdata: {\"a\":1}\r\r".to_vec());
            assert_eq!(e.data().as_deref(), Some("{\"a\":1}"));
        }
    }

    #[test]
    fn rewriting_a_cr_only_event_keeps_one_data_field() {
        // Before: a CR-only event was one "line" to `str::lines`, kept whole, and the new data
        // was appended: the client read the old data and the new one.
        let e = SseEvent {
            raw: b"event: x\rid: 3\rdata: old\rdata: more\r\r".to_vec(),
        };
        let out = e.with_data("new");
        assert_eq!(out, b"event: x\nid: 3\ndata: new\n\n".to_vec());
        let again = SseEvent { raw: out };
        assert_eq!(again.data().as_deref(), Some("new"));
        let e = SseEvent {
            raw: b"data\r\n: c\r\n\r\n".to_vec(),
        };
        assert_eq!(e.with_data("x\ny"), b"data: x\ndata: y\n: c\n\n".to_vec());
    }

    #[test]
    fn unterminated_tail_is_kept() {
        let (ev, rest, _) = split_all(b"data: 1\n\ndata: 2\n", &[3], 1 << 20);
        assert_eq!(ev.len(), 1);
        assert_eq!(rest, b"data: 2\n".to_vec());
        // A final CR ends its line (and here the event).
        let (ev, rest, _) = split_all(b"data: 1\r\r", &[1], 1 << 20);
        assert_eq!(ev.len(), 1);
        assert!(rest.is_empty());
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

    #[test]
    fn byte_order_mark_passes_before_the_first_event() {
        let s = b"\xEF\xBB\xBFdata: 1\n\ndata: 2\n\n";
        for a in 1..s.len() {
            let (items, _, _) = split_all(s, &[a], 1 << 20);
            assert_eq!(items.first(), Some(&SseItem::Raw(BOM.to_vec())), "{a}");
            let SseItem::Event(e) = &items[1] else {
                panic!()
            };
            assert_eq!(e.data().as_deref(), Some("1"));
            assert_eq!(raw_of(&items), s.to_vec());
        }
    }

    #[test]
    fn too_large_events_pass_whatever_the_split_and_memory_stays_bounded() {
        let big = format!("data: {}\r\n", "x".repeat(300));
        let stream = format!(
            "data: a\n\n{big}{big}\r\ndata: b\r\r: c\n{}\r\ndata: {}",
            "y".repeat(400),
            "z".repeat(500)
        );
        let max = 200;
        let whole = split_all(stream.as_bytes(), &[stream.len()], max);
        let kinds: Vec<&str> = whole
            .0
            .iter()
            .map(|i| match i {
                SseItem::Event(_) => "event",
                SseItem::TooLarge => "large",
                SseItem::Raw(_) => "raw",
            })
            .collect();
        // The last event (a comment, a long line, an unterminated data line) is one.
        assert_eq!(kinds, ["event", "large", "raw", "event", "large", "raw"]);
        assert_eq!(raw_of(&whole.0), stream.as_bytes());
        assert!(whole.1.is_empty());
        for a in 1..stream.len() {
            for b in [1, 5, 64] {
                let got = split_all(stream.as_bytes(), &[a, b], max);
                assert_eq!(got.0, whole.0, "split {a}/{b}");
                assert!(got.1.is_empty());
                // Never more than the bound plus the chunk just pushed (and a pending CR).
                assert!(got.2 <= max + a.max(b) + 1, "{} at {a}/{b}", got.2);
            }
        }
        // An event of exactly the bound is still parsed.
        let exact = format!("data: {}\n\n", "q".repeat(max - 8));
        assert_eq!(exact.len(), max);
        let (items, _, _) = split_all(exact.as_bytes(), &[7], max);
        assert!(matches!(items.as_slice(), [SseItem::Event(_)]));
    }

    /// Reference implementations (spec line splitting, no borrowing).
    fn data_reference(e: &SseEvent) -> Option<String> {
        let text = String::from_utf8_lossy(&e.raw)
            .replace("\r\n", "\n")
            .replace('\r', "\n");
        let mut out: Option<String> = None;
        for line in text.split('\n') {
            if line.is_empty() || line.starts_with(':') {
                continue;
            }
            let value = match line.split_once(':') {
                Some(("data", v)) => v.strip_prefix(' ').unwrap_or(v),
                None if line == "data" => "",
                _ => continue,
            };
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
        let text = String::from_utf8_lossy(&e.raw)
            .replace("\r\n", "\n")
            .replace('\r', "\n");
        let mut out = String::new();
        let mut wrote = false;
        for line in text.split('\n') {
            if line.is_empty() {
                continue;
            }
            if line == "data" || line.starts_with("data:") {
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
            for d in data.split('\n') {
                out.push_str("data: ");
                out.push_str(d);
                out.push('\n');
            }
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
            b"data\n\n",
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
        let mut f = SseFramer::with_max_event(2 << 20);
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
