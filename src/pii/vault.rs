//! The per-request vault: tokens issued (token -> original value), the caller's own values
//! (so a response echoing them is not redacted), and counts by type. Lives for one request.

use super::hmac::{push_hex, HmacKey};
use super::PiiKind;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

/// Hex digits in a token; lengthened on a collision within one request.
const TOKEN_HEX: usize = 8;

/// The most values [`PiiVault::reserve`] makes room for at once.
const RESERVE_MAX: usize = 256;

#[derive(Debug, Default)]
pub struct PiiVault {
    counts: [u32; 7],
    /// `[EMAIL_3f9a61c2]` -> original value.
    by_token: HashMap<String, String>,
    /// Per kind (`PiiKind as usize`): value -> token, so a repeated value reuses its token.
    by_value: [HashMap<String, String>; 7],
    /// Values the caller sent (anonymized or only detected): bitmask of kinds by value.
    originals: HashMap<String, u8>,
    /// Most distinct values kept (0: no limit).
    max_values: usize,
    /// A value past `max_values` was seen: it was redacted, not kept, and the request is
    /// refused (`pii.max_values`).
    overflowed: bool,
}

impl PiiVault {
    pub fn new() -> Self {
        PiiVault::default()
    }

    /// A vault that keeps at most `max_values` distinct values (`pii.max_values`).
    pub fn with_limit(max_values: usize) -> Self {
        PiiVault {
            max_values,
            ..PiiVault::default()
        }
    }

    /// More distinct values came than the vault keeps: the request must be refused.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Whether one more distinct value may be kept (else marks the overflow).
    fn room(&mut self) -> bool {
        if self.max_values != 0 && self.originals.len() >= self.max_values {
            self.overflowed = true;
            return false;
        }
        true
    }

    /// `email=1,phone=2`, or None when nothing was found.
    pub fn counts_header(&self) -> Option<String> {
        let parts: Vec<String> = self
            .counts()
            .map(|(k, n)| format!("{}={}", k.label(), n))
            .collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// Non-zero counts by type, in `PiiKind::ALL` order (for metrics).
    pub fn counts(&self) -> impl Iterator<Item = (PiiKind, u32)> + '_ {
        PiiKind::ALL
            .into_iter()
            .map(|k| (k, self.counts[k as usize]))
            .filter(|&(_, n)| n > 0)
    }

    /// Total values found.
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }

    /// Number of tokens issued.
    pub fn tokens_issued(&self) -> usize {
        self.by_token.len()
    }

    /// Room for `per_kind[k]` more values of each kind (one rehash instead of a chain of
    /// them while a request's values are added), up to [`RESERVE_MAX`]: the counts are of
    /// matches, not of distinct values (130,000 copies of one e-mail reserved 33 MiB of
    /// tables for one value). Past it the tables grow as values come.
    pub(crate) fn reserve(&mut self, per_kind: &[usize; 7]) {
        let total: usize = per_kind.iter().sum::<usize>().min(RESERVE_MAX);
        self.originals.reserve(total);
        self.by_token.reserve(total);
        for (map, &n) in self.by_value.iter_mut().zip(per_kind) {
            if n > 0 {
                map.reserve(n.min(RESERVE_MAX));
            }
        }
    }

    pub(crate) fn count(&mut self, kind: PiiKind) {
        let c = &mut self.counts[kind as usize];
        *c = c.saturating_add(1);
    }

    /// Marks `value` as the caller's own (it may come back in the response unredacted).
    pub(crate) fn remember(&mut self, kind: PiiKind, value: &str) {
        let bit = 1 << (kind as u8);
        match self.originals.get_mut(value) {
            Some(m) => *m |= bit,
            None => {
                if !self.room() {
                    return;
                }
                self.originals.insert(value.to_string(), bit);
            }
        }
    }

    pub(crate) fn knows(&self, kind: PiiKind, value: &str) -> bool {
        self.originals
            .get(value)
            .is_some_and(|m| m & (1 << (kind as u8)) != 0)
    }

    /// Original value of a token issued in this request.
    pub(crate) fn original(&self, token: &str) -> Option<&str> {
        self.by_token.get(token).map(String::as_str)
    }

    /// Appends the token for `value` to `out`: `[TYPE_` + first 8 hex of
    /// HMAC-SHA256(key, value) + `]`; if that token already stands for another value in this
    /// request, more hex digits are used. Four map lookups for a new value, one for a repeat.
    pub(crate) fn push_token(
        &mut self,
        kind: PiiKind,
        value: &str,
        key: &HmacKey,
        out: &mut String,
    ) {
        let k = kind as usize;
        if let Some(t) = self.by_value[k].get(value) {
            out.push_str(t);
            return;
        }
        // `remember`, in one lookup (the value is usually new). Past the limit a new value is
        // redacted, never kept (the request is refused).
        let full = self.max_values != 0 && self.originals.len() >= self.max_values;
        match self.originals.entry(value.to_string()) {
            Entry::Occupied(mut e) => *e.get_mut() |= 1 << (kind as u8),
            Entry::Vacant(_) if full => {
                self.overflowed = true;
                out.push_str(kind.placeholder_str());
                return;
            }
            Entry::Vacant(e) => {
                e.insert(1 << (kind as u8));
            }
        }
        let mac = key.mac(value.as_bytes());
        let name = kind.token_name();
        let mut len = TOKEN_HEX;
        while len <= 2 * mac.len() {
            let mut token = String::with_capacity(name.len() + len + 3);
            token.push('[');
            token.push_str(name);
            token.push('_');
            push_hex(&mut token, mac.get(..len / 2).unwrap_or(&mac));
            token.push(']');
            if let Entry::Vacant(slot) = self.by_token.entry(token) {
                let token = slot.key().clone();
                slot.insert(value.to_string());
                out.push_str(&token);
                self.by_value[k].insert(value.to_string(), token);
                return;
            }
            len += 2;
        }
        // 256-bit collision between two different values: cannot happen in practice; never
        // hand out an ambiguous token.
        out.push_str(kind.placeholder_str());
    }

    /// The token for `value` (see `push_token`).
    #[cfg(test)]
    pub(crate) fn token_for(&mut self, kind: PiiKind, value: &str, key: &HmacKey) -> String {
        let mut out = String::new();
        self.push_token(kind, value, key, &mut out);
        out
    }

    #[cfg(test)]
    pub(crate) fn by_value_token(&self, kind: PiiKind, value: &str) -> Option<String> {
        self.by_value[kind as usize].get(value).cloned()
    }

    #[cfg(test)]
    pub(crate) fn insert_token_for_test(&mut self, token: &str, value: &str) {
        self.by_token.insert(token.to_string(), value.to_string());
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::pii::hmac::{hmac_sha256, to_hex};

    #[test]
    fn token_is_keyed_and_stable() {
        let mut v = PiiVault::new();
        let k1 = HmacKey::new(b"k1");
        let t1 = v.token_for(PiiKind::Email, "a@b.de", &k1).to_string();
        let t2 = v.token_for(PiiKind::Email, "a@b.de", &k1).to_string();
        assert_eq!(t1, t2);
        let want = format!("[EMAIL_{}]", &to_hex(&hmac_sha256(b"k1", b"a@b.de"))[..8]);
        assert_eq!(t1, want);
        let mut other = PiiVault::new();
        assert_ne!(
            other.token_for(PiiKind::Email, "a@b.de", &HmacKey::new(b"k2")),
            t1
        );

        assert_eq!(v.original(&t1), Some("a@b.de"));
        assert!(v.knows(PiiKind::Email, "a@b.de"));
        assert!(!v.knows(PiiKind::Phone, "a@b.de"));
        // The same value as another kind gets its own token.
        let p = v.token_for(PiiKind::Phone, "a@b.de", &k1).to_string();
        assert!(p.starts_with("[PHONE_") && p[7..15] == t1[7..15]);
        assert_eq!(v.by_value_token(PiiKind::Email, "a@b.de"), Some(t1.clone()));
    }

    #[test]
    fn collision_lengthens_token() {
        let mut v = PiiVault::new();
        let mac = to_hex(&hmac_sha256(b"k", b"real"));
        // Another value already holds the 8-hex token of "real".
        v.insert_token_for_test(&format!("[SSN_{}]", &mac[..8]), "other");
        let t = v
            .token_for(PiiKind::Ssn, "real", &HmacKey::new(b"k"))
            .to_string();
        assert_eq!(t, format!("[SSN_{}]", &mac[..10]));
        assert_eq!(v.original(&t), Some("real"));
        assert_eq!(v.original(&format!("[SSN_{}]", &mac[..8])), Some("other"));
    }

    #[test]
    fn counts_header_in_stable_order() {
        let mut v = PiiVault::new();
        assert_eq!(v.counts_header(), None);
        v.count(PiiKind::Phone);
        v.count(PiiKind::Email);
        v.count(PiiKind::Phone);
        assert_eq!(v.counts_header().as_deref(), Some("email=1,phone=2"));
        assert_eq!(
            v.counts().collect::<Vec<_>>(),
            vec![(PiiKind::Email, 1), (PiiKind::Phone, 2)]
        );
        assert_eq!(v.total(), 3);
    }
}
