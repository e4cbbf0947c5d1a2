//! HMAC-SHA256 (RFC 2104) over `sha2`, so tokens are keyed: a bare hash of a 9-digit SSN is
//! reversed by brute force in seconds, a keyed one is not without the key.
//!
//! [`HmacKey`] holds the SHA-256 states after the inner (`K ^ ipad`) and outer (`K ^ opad`)
//! key blocks, computed once per key: each MAC then costs the compressions of the message
//! and of the 32-byte inner digest (two for a value under 56 bytes) instead of four.

use sha2::{Digest, Sha256};

const BLOCK: usize = 64;

/// A key with its precomputed inner and outer hash states.
#[derive(Clone)]
pub struct HmacKey {
    inner: Sha256,
    outer: Sha256,
}

impl HmacKey {
    pub fn new(key: &[u8]) -> Self {
        let mut k0 = [0u8; BLOCK];
        if key.len() > BLOCK {
            let digest = Sha256::digest(key);
            k0[..32].copy_from_slice(&digest);
        } else {
            k0[..key.len()].copy_from_slice(key);
        }
        let mut ipad = [0u8; BLOCK];
        let mut opad = [0u8; BLOCK];
        for i in 0..BLOCK {
            ipad[i] = k0[i] ^ 0x36;
            opad[i] = k0[i] ^ 0x5c;
        }
        let mut inner = Sha256::new();
        inner.update(ipad);
        let mut outer = Sha256::new();
        outer.update(opad);
        HmacKey { inner, outer }
    }

    /// HMAC-SHA256 of `msg` under this key.
    pub fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update(msg);
        let inner = inner.finalize();
        let mut outer = self.outer.clone();
        outer.update(inner);
        let mut out = [0u8; 32];
        out.copy_from_slice(&outer.finalize());
        out
    }
}

impl std::fmt::Debug for HmacKey {
    // Hash states derived from the key stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

/// HMAC-SHA256 of `msg` under `key` (one-off; callers with a fixed key keep an [`HmacKey`]).
#[cfg(test)]
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    HmacKey::new(key).mac(msg)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
#[cfg(test)]
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// Appends the lowercase hex of `bytes` to `s`.
pub fn push_hex(s: &mut String, bytes: &[u8]) {
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The textbook construction, for comparison with the precomputed states.
    fn reference(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut k0 = [0u8; BLOCK];
        if key.len() > BLOCK {
            k0[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k0[..key.len()].copy_from_slice(key);
        }
        let ipad: Vec<u8> = k0.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k0.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new()
            .chain_update(&ipad)
            .chain_update(msg)
            .finalize();
        let outer = Sha256::new()
            .chain_update(&opad)
            .chain_update(inner)
            .finalize();
        outer.into()
    }

    // RFC 4231 test cases 1-7 (case 5 is truncated to 128 bits).
    #[test]
    fn rfc4231_vectors() {
        let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
            (vec![0x0b; 20], b"Hi There".to_vec(),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (vec![0xaa; 20], vec![0xdd; 50],
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), vec![0xcd; 50],
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
            (vec![0x0c; 20], b"Test With Truncation".to_vec(),
             "a3b6167473100ee06e0c796c2955552b"),
            (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            (vec![0xaa; 131],
             b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ];
        for (key, msg, want) in cases {
            let got = to_hex(&hmac_sha256(&key, &msg));
            assert!(got.starts_with(want), "got {got}, want {want}");
            // The same key state serves many messages.
            let k = HmacKey::new(&key);
            assert_eq!(to_hex(&k.mac(&msg)), got);
            assert_eq!(k.mac(&msg), reference(&key, &msg));
        }
    }

    #[test]
    fn precomputed_key_matches_reference_at_every_length() {
        for klen in [0usize, 1, 31, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..klen).map(|i| (i * 7 + 3) as u8).collect();
            let k = HmacKey::new(&key);
            for mlen in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 300] {
                let msg: Vec<u8> = (0..mlen).map(|i| (i * 13 + 1) as u8).collect();
                assert_eq!(k.mac(&msg), reference(&key, &msg), "key {klen}, msg {mlen}");
            }
        }
    }

    #[test]
    fn different_keys_differ() {
        assert_ne!(hmac_sha256(b"a", b"x"), hmac_sha256(b"b", b"x"));
        assert_eq!(to_hex(&[0x00, 0xff, 0x3c]), "00ff3c");
    }
}
