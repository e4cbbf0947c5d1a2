//! NH, the universal hash of UMAC (Black, Halevi, Krawczyk, Krovetz, Rogaway, 1999), for the
//! conversation memo's prefix hash ([`crate::cache::PrefixHasher`]).
//!
//! A block is [`WORDS`] 8-byte little-endian words; each word position has its own 64-bit key.
//! A word's two 32-bit halves are each added to the key's halves (mod 2^32) and multiplied
//! (a 64-bit product); the block's value is the sum of the products mod 2^64. For two blocks
//! of the same length that differ, the values collide with probability at most 2^-32 over the
//! key (NH is 2^-32-almost-universal); two lanes with independent keys make it 2^-64. Words do
//! not depend on each other, so in Wasm SIMD two `extmul` instructions give the four products
//! of two words in both lanes: about a third of the instructions of the chained kernel of the
//! text digests ([`crate::cache`]), which multiplies every word twice in a dependency chain.
//!
//! The keys are drawn per cache from its seeds and never leave the VM.

/// Words per block (512 bytes).
pub const WORDS: usize = 64;

/// Per lane and word position, a 64-bit key (1 KiB).
pub struct Keys {
    a: [u64; WORDS],
    b: [u64; WORDS],
}

/// splitmix64's output function: a bijection that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Keys {
    /// Keys drawn from `seeds`: per lane a splitmix64 stream, started from all four seeds.
    pub fn from_seeds(seeds: [u64; 4]) -> Box<Keys> {
        let mut k = Box::new(Keys {
            a: [0; WORDS],
            b: [0; WORDS],
        });
        let [s0, s1, s2, s3] = seeds;
        let mut sa = mix(s0 ^ mix(s1 ^ mix(s2 ^ mix(s3))));
        let mut sb = mix(s3 ^ mix(s2 ^ mix(s1 ^ mix(s0 ^ 0x5851_f42d_4c95_7f2d))));
        for (a, b) in k.a.iter_mut().zip(k.b.iter_mut()) {
            sa = sa.wrapping_add(0x9e37_79b9_7f4a_7c15);
            sb = sb.wrapping_add(0x9e37_79b9_7f4a_7c15);
            *a = mix(sa);
            *b = mix(sb);
        }
        k
    }
}

/// One word's products in both lanes (keys `ka`, `kb`), added to `sums`.
#[inline(always)]
fn word_at(ka: u64, kb: u64, w: u64, sums: &mut (u64, u64)) {
    let nh = |k: u64| {
        let lo = (w as u32).wrapping_add(k as u32);
        let hi = ((w >> 32) as u32).wrapping_add((k >> 32) as u32);
        u64::from(lo) * u64::from(hi)
    };
    sums.0 = sums.0.wrapping_add(nh(ka));
    sums.1 = sums.1.wrapping_add(nh(kb));
}

/// The word `w` at position `j` of a block (`j < WORDS`; a word past the block adds nothing).
pub fn word(keys: &Keys, j: usize, w: u64, sums: &mut (u64, u64)) {
    if let (Some(&ka), Some(&kb)) = (keys.a.get(j), keys.b.get(j)) {
        word_at(ka, kb, w, sums);
    }
}

/// Adds to `sums` the products of the whole words of `bytes`, the first at position `j` of a
/// block, up to the block's end; returns the bytes read (whole words: 0 only when `bytes`
/// holds no whole word or `j` is past the block).
pub fn absorb(keys: &Keys, j: usize, bytes: &[u8], sums: &mut (u64, u64)) -> usize {
    let n = (bytes.len() / 8).min(WORDS.saturating_sub(j));
    let (Some(ka), Some(kb), Some(src)) = (
        keys.a.get(j..j + n),
        keys.b.get(j..j + n),
        bytes.get(..n * 8),
    ) else {
        return 0;
    };
    absorb_words(ka, kb, src, sums);
    n * 8
}

/// The products of the words of `src` with the keys `ka`, `kb` (one per word), portable.
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
fn absorb_scalar(ka: &[u64], kb: &[u64], src: &[u8], sums: &mut (u64, u64)) {
    for ((c, &a), &b) in src.chunks_exact(8).zip(ka).zip(kb) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        word_at(a, b, u64::from_le_bytes(w), sums);
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn absorb_words(ka: &[u64], kb: &[u64], src: &[u8], sums: &mut (u64, u64)) {
    absorb_scalar(ka, kb, src, sums);
}

/// [`absorb_scalar`] in Wasm SIMD: two words per step. As i32x4, a 16-byte load of two words
/// is their halves `[w0 lo, w0 hi, w1 lo, w1 hi]` (Wasm is little-endian), and so are the
/// two keys of each lane; after the lane-wise additions two shuffles put the low halves of
/// both lanes in one vector and the high halves in another, and `extmul_low` / `extmul_high`
/// multiply them into each lane's two 64-bit products.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn absorb_words(ka: &[u64], kb: &[u64], src: &[u8], sums: &mut (u64, u64)) {
    use core::arch::wasm32::{
        i32x4_add, i32x4_shuffle, i64x2_add, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4,
        u64x2_extract_lane, u64x2_splat, v128, v128_load,
    };
    let (mut va, mut vb) = (u64x2_splat(0), u64x2_splat(0));
    let mut words = src.chunks_exact(16);
    let mut a2 = ka.chunks_exact(2);
    let mut b2 = kb.chunks_exact(2);
    for ((c, a), b) in (&mut words).zip(&mut a2).zip(&mut b2) {
        // SAFETY: `v128_load` reads 16 bytes at any alignment; `c` is 16 bytes, `a` and `b`
        // are two u64 each (`chunks_exact`).
        let (v, a, b) = unsafe {
            (
                v128_load(c.as_ptr().cast::<v128>()),
                v128_load(a.as_ptr().cast::<v128>()),
                v128_load(b.as_ptr().cast::<v128>()),
            )
        };
        let (xa, xb) = (i32x4_add(v, a), i32x4_add(v, b));
        let lo = i32x4_shuffle::<0, 2, 4, 6>(xa, xb);
        let hi = i32x4_shuffle::<1, 3, 5, 7>(xa, xb);
        va = i64x2_add(va, u64x2_extmul_low_u32x4(lo, hi));
        vb = i64x2_add(vb, u64x2_extmul_high_u32x4(lo, hi));
    }
    sums.0 = sums
        .0
        .wrapping_add(u64x2_extract_lane::<0>(va))
        .wrapping_add(u64x2_extract_lane::<1>(va));
    sums.1 = sums
        .1
        .wrapping_add(u64x2_extract_lane::<0>(vb))
        .wrapping_add(u64x2_extract_lane::<1>(vb));
    // An odd word at the end.
    absorb_scalar(a2.remainder(), b2.remainder(), words.remainder(), sums);
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                mix(s) as u8
            })
            .collect()
    }

    /// The definition, word by word.
    fn reference(keys: &Keys, j: usize, src: &[u8]) -> (u64, u64) {
        let mut sums = (0u64, 0u64);
        for (i, c) in src.chunks_exact(8).enumerate() {
            let w = u64::from_le_bytes(c.try_into().unwrap());
            let (ka, kb) = (keys.a[j + i], keys.b[j + i]);
            let nh = |k: u64| {
                let lo = (w as u32).wrapping_add(k as u32) as u64;
                let hi = ((w >> 32) as u32).wrapping_add((k >> 32) as u32) as u64;
                lo * hi
            };
            sums = (sums.0.wrapping_add(nh(ka)), sums.1.wrapping_add(nh(kb)));
        }
        sums
    }

    /// The Wasm unit tests are built with SIMD, as the module is (`.cargo/config.toml`), so
    /// the next test checks the vector kernel there.
    #[cfg(target_arch = "wasm32")]
    #[test]
    fn the_wasm_tests_run_the_simd_kernel() {
        assert!(cfg!(target_feature = "simd128"));
    }

    /// In Wasm this compares the vector kernel with the definition.
    #[test]
    fn absorb_is_the_sum_of_the_products_at_every_offset_and_length() {
        let keys = Keys::from_seeds([1, 2, 3, 4]);
        let src = bytes(WORDS * 8 + 24, 9);
        for j in 0..WORDS {
            for len in [0, 7, 8, 15, 16, 24, 100, 256, 511, 512, 520] {
                let b = &src[..len];
                let mut sums = (0, 0);
                let used = absorb(&keys, j, b, &mut sums);
                let n = (len / 8).min(WORDS - j);
                assert_eq!(used, n * 8, "j {j} len {len}");
                assert_eq!(sums, reference(&keys, j, &b[..n * 8]), "j {j} len {len}");
            }
        }
        assert_eq!(absorb(&keys, WORDS, &src, &mut (0, 0)), 0);
    }

    #[test]
    fn each_byte_and_each_position_changes_both_lanes() {
        let keys = Keys::from_seeds([5, 6, 7, 8]);
        let src = bytes(WORDS * 8, 3);
        let mut base = (0, 0);
        absorb(&keys, 0, &src, &mut base);
        for i in (0..src.len()).step_by(13) {
            let mut changed = src.clone();
            changed[i] ^= 0x20;
            let mut s = (0, 0);
            absorb(&keys, 0, &changed, &mut s);
            assert!(s.0 != base.0 && s.1 != base.1, "byte {i}");
        }
        // Two words swapped.
        let mut swapped = src.clone();
        let (x, y) = swapped.split_at_mut(8);
        x.swap_with_slice(&mut y[..8]);
        let mut s = (0, 0);
        absorb(&keys, 0, &swapped, &mut s);
        assert!(s.0 != base.0 && s.1 != base.1);
        // Any other seed, other keys in both lanes.
        for other in [[4, 6, 7, 8], [5, 4, 7, 8], [5, 6, 4, 8], [5, 6, 7, 4]] {
            let mut s = (0, 0);
            absorb(&Keys::from_seeds(other), 0, &src, &mut s);
            assert!(s.0 != base.0 && s.1 != base.1, "{other:?}");
        }
    }
}
