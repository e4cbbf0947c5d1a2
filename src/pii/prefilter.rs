//! A cheap, conservative test run before the scanners: `may_match(text, tokens) == false`
//! proves that `detect::scan` finds nothing in `text`, that it holds no private key block
//! header and (with `tokens`) no `[`, so no token either. Benign prose is then passed without
//! running the scanners or copying it.
//!
//! What each scanner needs (see `detect.rs`), and what is checked here:
//! - digit values (phone, SSN, card, IPv4): a chunk of at least 4 ASCII digits (fewer than 7
//!   only for a dotted quad), so at least 4 digits in the text;
//! - IPv6: a `:` and at least one digit;
//! - IBAN: two ASCII letters followed by two ASCII digits;
//! - email: an `@`;
//! - secrets: `sk-`, `AKIA`, `ASIA`, `gh?_`, `github_pat_`, `xox?-`;
//! - key blocks: `-----BEGIN `, so five dashes;
//! - tokens: `[`.
//!
//! Bytes that can trigger any of these are `0-9 : ; < = > ? @ A` (one range) and `- _ [`;
//! eight bytes at a time are tested for them (SWAR on a `u64`, which Wasm has natively) and
//! only words holding one are looked at byte by byte.

use crate::swar::{self, HIGH, ONES};

/// Non-zero when one of the 8 bytes of `x` is in `0x30..=0x41` or is `-`, `_` or `[`.
#[inline]
fn interesting(x: u64) -> u64 {
    let y = x & !HIGH;
    let ge_30 = y.wrapping_add(ONES * (0x80 - 0x30));
    let ge_42 = y.wrapping_add(ONES * (0x80 - 0x42));
    (ge_30 & !ge_42 & !x & HIGH) | swar::eq(x, b'-') | swar::eq(x, b'_') | swar::eq(x, b'[')
}

struct State {
    digits: u32,
    colon: bool,
}

/// Looks at byte `j` of `b`; true when a match may start around it.
#[inline]
fn check(b: &[u8], j: usize, tokens: bool, st: &mut State) -> bool {
    let c = b[j];
    let before = |k: usize| {
        j.checked_sub(k)
            .and_then(|i| b.get(i))
            .copied()
            .unwrap_or(0)
    };
    let after = |s: &[u8]| b.get(j + 1..).is_some_and(|r| r.starts_with(s));
    match c {
        b'0'..=b'9' => {
            st.digits += 1;
            st.digits >= 4
                || st.colon
                || (before(1).is_ascii_digit()
                    && before(2).is_ascii_alphabetic()
                    && before(3).is_ascii_alphabetic())
        }
        b':' => {
            st.colon = true;
            st.digits > 0
        }
        b'@' => true,
        b'[' => tokens,
        b'-' => {
            after(b"----")
                || (before(2) == b's' && before(1) == b'k')
                || (before(4) == b'x' && before(3) == b'o' && before(2) == b'x')
        }
        b'_' => {
            (before(3) == b'g' && before(2) == b'h')
                || j.checked_sub(6).and_then(|s| b.get(s..j)) == Some(b"github")
        }
        b'A' => after(b"KIA") || after(b"SIA"),
        _ => false,
    }
}

/// False only when `text` provably holds no PII value, no key block header and (with
/// `tokens`) no token; see the module docs.
pub(crate) fn may_match(b: &[u8], tokens: bool) -> bool {
    let mut st = State {
        digits: 0,
        colon: false,
    };
    let mut base = 0;
    while let Some(w) = swar::word(b, base) {
        if interesting(w) != 0 {
            for j in base..base + 8 {
                if check(b, j, tokens, &mut st) {
                    return true;
                }
            }
        }
        base += 8;
    }
    (base..b.len()).any(|j| check(b, j, tokens, &mut st))
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::super::detect;
    use super::*;

    /// What `may_match` must never miss.
    fn truth(t: &str, tokens: bool) -> bool {
        let mut out = Vec::new();
        detect::scan(t, 0, &[true; 7], &mut out);
        !out.is_empty() || !detect::key_blocks(t).is_empty() || (tokens && t.contains('['))
    }

    #[test]
    fn swar_flags_exactly_the_trigger_bytes() {
        for c in 0..=255u8 {
            let want = (0x30..=0x41).contains(&c) || matches!(c, b'-' | b'_' | b'[');
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = c;
                assert_eq!(
                    interesting(u64::from_le_bytes(w)) != 0,
                    want,
                    "byte {c:#x} at {pos}"
                );
            }
        }
        // Non-ASCII (UTF-8) bytes never flag.
        assert_eq!(
            interesting(u64::from_le_bytes(*b"\xc3\xa4\xf0\x9f\x98\x80\xe2\x82")),
            0
        );
    }

    #[test]
    fn benign_prose_is_skipped() {
        let t = "The quarterly report needs a clearer summary of the main risks before Friday. \
                 Can you help me rewrite this paragraph? Grüße, 😀 [see below]";
        assert!(!may_match(t.as_bytes(), false));
        assert!(may_match(t.as_bytes(), true)); // the `[`
        for hit in [
            "mail a@b.de",
            "call 5551234",
            "ip 1.2.3.4",
            "fe80::1",
            "x DE89 y",
            "de89",
            "key sk-abc",
            "AKIAXYZ",
            "ASIA",
            "ghp_x",
            "github_pat_x",
            "xoxb-1",
            "-----BEGIN",
        ] {
            assert!(may_match(hit.as_bytes(), false), "{hit}");
        }
        for miss in [
            "",
            "a",
            "12 3",
            "a:b",
            "Atlas",
            "well-known",
            "snake_case",
            "DE8 9",
        ] {
            assert!(!may_match(miss.as_bytes(), false), "{miss}");
        }
    }

    /// Deterministic xorshift.
    struct Gen(u64);
    impl Gen {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    #[test]
    fn never_misses_what_the_scanners_find() {
        let pieces = [
            "a",
            "b",
            "x",
            "o",
            "k",
            "s",
            "g",
            "h",
            "D",
            "E",
            "A",
            "K",
            "I",
            "S",
            "1",
            "2",
            "0",
            "9",
            " ",
            ".",
            "-",
            "_",
            "@",
            ":",
            "[",
            "]",
            "(",
            ")",
            "+",
            "/",
            "ü",
            "😀",
            "\n",
            "sk-",
            "AKIA",
            "ASIA",
            "ghp_",
            "github_pat_",
            "xoxb-",
            "-----BEGIN ",
            "PRIVATE KEY-----",
            "abcdefghij",
            "ABCDEFGHIJ",
            "0123456789",
            "de.com",
            "[EMAIL_",
            "3f9a61c2]",
            "phone ",
            "card ",
        ];
        let mut g = Gen(0x2545_F491_4F6C_DD1D);
        let mut skipped = 0;
        for _ in 0..20_000 {
            let n = g.below(24);
            let t: String = (0..n).map(|_| pieces[g.below(pieces.len())]).collect();
            for tokens in [false, true] {
                if !may_match(t.as_bytes(), tokens) {
                    skipped += 1;
                    assert!(!truth(&t, tokens), "missed in {t:?} (tokens {tokens})");
                }
            }
        }
        assert!(
            skipped > 1000,
            "the generator should also produce skippable text ({skipped})"
        );
        // Real values, at every offset relative to the 8-byte words.
        let values = [
            "jane.doe@example.com",
            "+1 (555) 123-4567",
            "460-89-9847",
            "4111 1111 1111 1111",
            "DE89370400440532013000",
            "192.168.1.20",
            "2001:db8::8a2e:370:7334",
            "fe80::1",
            "sk-proj-abcdefghijklmnopqrstuvwx",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "xoxb-1234567890-abcdef",
            "github_pat_abcdefghijklmnopqrstuvwxyz",
            "gb42nawi04454264788619",
            "-----BEGIN PRIVATE KEY-----\nabc",
            "sk-abcdefghijklmnopqrstuvwxyz",
            "xoxp-abcdefghijklmn",
            "ASIAABCDEFGHIJKLMNOP",
        ];
        for v in values {
            for pad in 0..9 {
                let t = format!("{} {v} and more words", "w".repeat(pad));
                assert!(truth(&t, false), "{t:?} should be found");
                assert!(may_match(t.as_bytes(), false), "{t:?}");
            }
        }
    }
}
