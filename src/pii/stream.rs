//! Incremental restoration of streamed responses.
//!
//! Text is cut only at *breaks*: a byte no token or PII value can contain (anything but ASCII
//! alphanumerics and `._%+-@:()[]/`), or a space whose left word cannot be a non-final group
//! of a spaced value (`555 `, `(030) `, `DE89 `). Every scanner looks behind at most
//! `CONTEXT_WINDOW` bytes and never matches across a break, so the text before a cut can be
//! rewritten now, with the last raw bytes kept as look-behind, and the result is the same as
//! `PiiEngine::restore` on the whole text. Only the open tail is held back, capped at
//! `HOLD_CAP` bytes (a longer unbroken run is flushed; exactness holds for runs up to the cap).
//! Private key blocks switch to a state that swallows the block and emits one `[SECRET]`.

use super::detect::{self, CONTEXT_WINDOW, KEY_BEGIN, KEY_END};
use super::{PiiEngine, PiiKind, PiiVault, ResponseMode};
use crate::text::{ceil_boundary, floor_boundary};

/// Most bytes held back waiting for a possible match to complete.
pub const HOLD_CAP: usize = 256;
/// Raw look-behind kept from text already emitted.
const LOOKBEHIND: usize = CONTEXT_WINDOW + 16;

#[derive(Debug, Default)]
pub struct StreamRestorer {
    held: String,
    /// Raw tail of the text already processed (look-behind for context words).
    ctx: String,
    in_key_block: bool,
    /// Tests: scan every piece, as before the prefilter, to compare the two.
    #[cfg(test)]
    pub(crate) full_scan: bool,
}

/// Bytes that can be part of a token or a PII value (space aside).
fn is_run(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'.' | b'_' | b'%' | b'+' | b'-' | b'@' | b':' | b'(' | b')' | b'[' | b']' | b'/'
        )
}

/// Whether `w` can be followed by ` ` and more of the same value: a digit group of a phone,
/// card or SSN, or a four-character IBAN group. A value may start inside the run (after a
/// `:` or a bracket, say: `fe80::1411 1111 555`), so what counts is the run's tail: its
/// digits-and-punctuation suffix holding a digit, or its last four alphanumerics standing
/// alone.
fn joinable(w: &[u8]) -> bool {
    let digitish =
        |c: u8| c.is_ascii_digit() || matches!(c, b'+' | b'(' | b')' | b'-' | b'.' | b'/');
    let digits_tail = w
        .iter()
        .rev()
        .take_while(|&&c| digitish(c))
        .any(u8::is_ascii_digit);
    let alnum_tail = w
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    digits_tail || alnum_tail == 4
}

/// Where the open tail of `held` starts: everything before it is final.
fn hold_start(held: &str, keys: bool) -> usize {
    let b = held.as_bytes();
    let n = b.len();
    let mut s = n;
    while s > 0 && is_run(b[s - 1]) && n - s <= HOLD_CAP {
        s -= 1;
    }
    while s >= 2 && b[s - 1] == b' ' && is_run(b[s - 2]) && n - s <= HOLD_CAP {
        let mut ps = s - 1;
        while ps > 0 && is_run(b[ps - 1]) && n - ps <= HOLD_CAP {
            ps -= 1;
        }
        if joinable(&b[ps..s - 1]) {
            s = ps;
        } else {
            break;
        }
    }
    if keys {
        // An unfinished `-----BEGIN ... PRIVATE KEY-----` header.
        let lo = n.saturating_sub(KEY_BEGIN.len() + 56);
        let mut i = lo;
        while let Some(p) = detect::find(b, b"-", i) {
            if p >= s {
                break;
            }
            if detect::key_header_open(b, p) {
                s = p;
                break;
            }
            i = p + 1;
        }
    }
    s
}

impl StreamRestorer {
    pub fn new() -> Self {
        StreamRestorer::default()
    }

    /// Feeds the next text delta; returns what can be emitted now.
    pub fn push(&mut self, engine: &PiiEngine, vault: &PiiVault, chunk: &str) -> String {
        if engine.response == ResponseMode::Off {
            let mut out = std::mem::take(&mut self.held);
            out.push_str(chunk);
            return out;
        }
        self.held.push_str(chunk);
        let mut out = String::new();
        self.drain(engine, vault, false, &mut out);
        out
    }

    /// End of stream: flushes everything held.
    pub fn finish(&mut self, engine: &PiiEngine, vault: &PiiVault) -> String {
        if engine.response == ResponseMode::Off {
            return std::mem::take(&mut self.held);
        }
        let mut out = String::new();
        self.drain(engine, vault, true, &mut out);
        out
    }

    /// Bytes currently held back.
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    fn drain(&mut self, engine: &PiiEngine, vault: &PiiVault, last: bool, out: &mut String) {
        let keys = engine.is_enabled(PiiKind::Secret);
        loop {
            if self.in_key_block {
                let b = self.held.as_bytes();
                if let Some(p) = detect::find(b, KEY_END, 0) {
                    self.consume_raw(p + KEY_END.len());
                    self.in_key_block = false;
                    continue;
                }
                let keep = if last { 0 } else { KEY_END.len() - 1 };
                let cut = floor_boundary(&self.held, self.held.len().saturating_sub(keep));
                self.consume_raw(cut);
                return;
            }
            if keys {
                let b = self.held.as_bytes();
                let mut from = 0;
                let mut header = None;
                while let Some(p) = detect::find(b, KEY_BEGIN, from) {
                    if let Some(h) = detect::key_header_at(b, p) {
                        header = Some((p, h));
                        break;
                    }
                    from = p + 1;
                }
                if let Some((p, h)) = header {
                    self.emit(engine, vault, p, out);
                    out.push_str(PiiKind::Secret.placeholder_str());
                    self.consume_raw(h - p);
                    self.in_key_block = true;
                    continue;
                }
            }
            let mut cut = if last {
                self.held.len()
            } else {
                hold_start(&self.held, keys)
            };
            if self.held.len() - cut > HOLD_CAP {
                cut = ceil_boundary(&self.held, self.held.len() - HOLD_CAP);
            }
            self.emit(engine, vault, cut, out);
            return;
        }
    }

    /// Rewrites `held[..upto]` (with the raw look-behind) into `out` and drops it from `held`.
    fn emit(&mut self, engine: &PiiEngine, vault: &PiiVault, upto: usize, out: &mut String) {
        if upto == 0 {
            return;
        }
        let piece = self.held.get(..upto).unwrap_or("");
        #[cfg(test)]
        let may_skip = !self.full_scan;
        #[cfg(not(test))]
        let may_skip = true;
        if may_skip && !engine.response_may_change(piece.as_bytes()) {
            // Nothing can match in it: emitted as is, no look-behind copy, no scan.
            out.push_str(piece);
            self.consume_raw(upto);
            return;
        }
        let ctx_start = ceil_boundary(&self.ctx, self.ctx.len().saturating_sub(LOOKBEHIND));
        let ctx = self.ctx.get(ctx_start..).unwrap_or("");
        let mut buf = String::with_capacity(ctx.len() + piece.len());
        buf.push_str(ctx);
        buf.push_str(piece);
        engine.respond_segment(&buf, ctx.len(), vault, out);
        self.consume_raw(upto);
    }

    /// Drops `held[..n]`, keeping its tail as raw look-behind.
    fn consume_raw(&mut self, n: usize) {
        let piece = self.held.get(..n).unwrap_or("");
        self.ctx.push_str(piece);
        if self.ctx.len() > 4 * LOOKBEHIND {
            let cut = ceil_boundary(&self.ctx, self.ctx.len() - 2 * LOOKBEHIND);
            self.ctx.drain(..cut);
        }
        self.held.drain(..n.min(self.held.len()));
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::pii::PiiConfig;

    #[test]
    fn holds_only_the_open_tail() {
        assert_eq!(hold_start("hello world", true), 6);
        assert_eq!(hold_start("hello world ", true), 12);
        assert_eq!(hold_start("phone 555 123", true), 6);
        assert_eq!(hold_start("call 555 123", true), 0); // "call" could be an IBAN group
        assert_eq!(hold_start("phone 555 ", true), 6);
        // A value can start inside a run: `::` then a phone, `(` then an IBAN group.
        assert_eq!(hold_start("ip fe80::1411 1 ", true), 3);
        assert_eq!(hold_start("x (DE89 ", true), 2);
        assert_eq!(hold_start("my IBAN: DE89 3704 ", true), 9);
        assert_eq!(hold_start("token [EMAIL_3f", true), 6);
        assert_eq!(hold_start("done.\n", true), 6);
        assert_eq!(hold_start("x -----BEGIN RSA PRI", true), 2);
        assert_eq!(
            hold_start("x -----BEGIN CERTIFICATE-----", true),
            2 + "-----BEGIN ".len()
        );
    }

    #[test]
    fn hold_back_is_capped() {
        let engine = PiiEngine::compile(&PiiConfig::default(), b"k".to_vec()).unwrap();
        let vault = PiiVault::default();
        let mut r = StreamRestorer::new();
        let mut out = String::new();
        for _ in 0..2000 {
            out.push_str(&r.push(&engine, &vault, "a"));
            assert!(r.held_len() <= HOLD_CAP + 1);
        }
        out.push_str(&r.finish(&engine, &vault));
        assert_eq!(out.len(), 2000);
    }

    #[test]
    fn key_block_is_swallowed_in_any_split() {
        let engine = PiiEngine::compile(&PiiConfig::default(), b"k".to_vec()).unwrap();
        let vault = PiiVault::default();
        let key_body = "MIIEpAIBAAKCAQEA".repeat(40);
        let text = format!("here:\n-----BEGIN RSA PRIVATE KEY-----\n{key_body}\n-----END RSA PRIVATE KEY-----\nbye");
        let whole = engine.restore(&text, &vault).unwrap();
        assert_eq!(whole, "here:\n[SECRET]\nbye");
        for n in [1, 2, 5, 13, 100] {
            let mut r = StreamRestorer::new();
            let mut out = String::new();
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(n) {
                out.push_str(&r.push(&engine, &vault, &piece.iter().collect::<String>()));
                assert!(r.held_len() <= HOLD_CAP + n);
            }
            out.push_str(&r.finish(&engine, &vault));
            assert_eq!(out, whole, "split {n}");
        }
    }
}
