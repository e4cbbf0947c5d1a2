//! The per-request vault: tokens issued (token -> original value), the caller's own values
//! (so a response echoing them is not redacted), and counts by type. Lives for one request.

use super::hmac::{hmac_sha256, to_hex};
use super::PiiKind;
use std::collections::HashMap;

/// Hex digits in a token; lengthened on a collision within one request.
const TOKEN_HEX: usize = 8;

#[derive(Debug, Default)]
pub struct PiiVault {
    counts: [u32; 7],
    /// `[EMAIL_3f9a61c2]` -> original value.
    by_token: HashMap<String, String>,
    /// `EMAIL\0value` -> token, so a repeated value reuses its token.
    by_value: HashMap<String, String>,
    /// Values the caller sent (anonymized or only detected): bitmask of kinds by value.
    originals: HashMap<String, u8>,
}

impl PiiVault {
    pub fn new() -> Self {
        PiiVault::default()
    }

    /// `email=1,phone=2`, or None when nothing was found.
    pub fn counts_header(&self) -> Option<String> {
        let parts: Vec<String> = self.counts().map(|(k, n)| format!("{}={}", k.label(), n)).collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// Non-zero counts by type, in `PiiKind::ALL` order (for metrics).
    pub fn counts(&self) -> impl Iterator<Item = (PiiKind, u32)> + '_ {
        PiiKind::ALL.into_iter().map(|k| (k, self.counts[k as usize])).filter(|&(_, n)| n > 0)
    }

    /// Total values found.
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }

    /// Number of tokens issued.
    pub fn tokens_issued(&self) -> usize {
        self.by_token.len()
    }

    pub(crate) fn count(&mut self, kind: PiiKind) {
        let c = &mut self.counts[kind as usize];
        *c = c.saturating_add(1);
    }

    /// Marks `value` as the caller's own (it may come back in the response unredacted).
    pub(crate) fn remember(&mut self, kind: PiiKind, value: &str) {
        *self.originals.entry(value.to_string()).or_insert(0) |= 1 << (kind as u8);
    }

    pub(crate) fn knows(&self, kind: PiiKind, value: &str) -> bool {
        self.originals.get(value).is_some_and(|m| m & (1 << (kind as u8)) != 0)
    }

    /// Original value of a token issued in this request.
    pub(crate) fn original(&self, token: &str) -> Option<&str> {
        self.by_token.get(token).map(String::as_str)
    }

    /// The token for `value`: `[TYPE_` + first 8 hex of HMAC-SHA256(key, value) + `]`; if that
    /// token already stands for another value in this request, more hex digits are used.
    pub(crate) fn token_for(&mut self, kind: PiiKind, value: &str, key: &[u8]) -> String {
        let vkey = format!("{}\0{}", kind.token_name(), value);
        if let Some(t) = self.by_value.get(&vkey) {
            return t.clone();
        }
        self.remember(kind, value);
        let mac = to_hex(&hmac_sha256(key, value.as_bytes()));
        let mut len = TOKEN_HEX;
        while len <= mac.len() {
            let token = format!("[{}_{}]", kind.token_name(), mac.get(..len).unwrap_or(&mac));
            if !self.by_token.contains_key(&token) {
                self.by_token.insert(token.clone(), value.to_string());
                self.by_value.insert(vkey, token.clone());
                return token;
            }
            len += 2;
        }
        // 256-bit collision between two different values: cannot happen in practice; never
        // hand out an ambiguous token.
        kind.placeholder()
    }

    #[cfg(test)]
    pub(crate) fn insert_token_for_test(&mut self, token: &str, value: &str) {
        self.by_token.insert(token.to_string(), value.to_string());
    }
}
