//! Word-at-a-time byte tests (SWAR): eight bytes in one `u64`, which Wasm has natively, so a
//! scan for a few byte values costs about one test per eight bytes. The scanners of JSON
//! strings, SSE lines, PII prefilters and key blocks share these.
//!
//! A mask has the high bit of each flagged byte set. The tests are exact for the lowest flagged
//! byte (a borrow only runs upwards from it), so [`first`] of a union of masks is the first
//! byte any of them flags; bytes above it may be flagged falsely.

pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;

/// `b[i..i + 8]` as a little-endian word, or None past the end.
#[inline(always)]
pub(crate) fn word(b: &[u8], i: usize) -> Option<u64> {
    let chunk = b.get(i..i.checked_add(8)?)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    Some(u64::from_le_bytes(w))
}

/// The zero bytes of `v` (Hacker's Delight 6-1).
#[inline(always)]
pub(crate) fn zero(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGH
}

/// The bytes of `x` equal to `c`.
#[inline(always)]
pub(crate) fn eq(x: u64, c: u8) -> u64 {
    zero(x ^ (ONES * u64::from(c)))
}

/// The bytes of `x` below `n` (`n` <= 0x80).
#[inline(always)]
pub(crate) fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH
}

/// Index (0..8) of the first flagged byte of a non-zero mask.
#[inline(always)]
pub(crate) fn first(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn tests_are_exact_for_the_first_flagged_byte() {
        for c in 0..=255u8 {
            for pos in 0..8 {
                for fill in [b'a', 0u8, 0xff, b'"'] {
                    let mut w = [fill; 8];
                    w[pos] = c;
                    let x = u64::from_le_bytes(w);
                    let want_eq = w.iter().position(|&b| b == b'"');
                    assert_eq!(
                        (eq(x, b'"') != 0).then(|| first(eq(x, b'"'))),
                        want_eq,
                        "{w:?}"
                    );
                    let want_lt = w.iter().position(|&b| b < 0x20);
                    assert_eq!(
                        (below(x, 0x20) != 0).then(|| first(below(x, 0x20))),
                        want_lt,
                        "{w:?}"
                    );
                    let want_z = w.iter().position(|&b| b == 0);
                    assert_eq!((zero(x) != 0).then(|| first(zero(x))), want_z, "{w:?}");
                }
            }
        }
        assert_eq!(word(b"0123456", 0), None);
        assert_eq!(word(b"01234567", 0), Some(u64::from_le_bytes(*b"01234567")));
        assert_eq!(word(b"x", usize::MAX), None);
    }
}
