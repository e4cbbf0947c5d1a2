//! The quota ledger: counter records, their keys, and compare-and-swap updates.
//!
//! Key layout (one record per user, one for the system budget):
//! - `mg:q:v1:u:<user-key>`: a user's counters; `<user-key>` is `r.<id>` for short ids made
//!   only of `A-Z a-z 0-9 . _ @ + -`, else `h.<32 hex>` (first 128 bits of SHA-256 of the raw
//!   id bytes), and `anon` for the shared anonymous bucket. Keys are at most 76 bytes.
//! - `mg:q:v1:sys`: all users' counters, checked against `daily_budget_usd`.
//!
//! The UTC day lives in the value, not in the key: proxy-wasm shared data cannot delete keys,
//! so a key per user per day would leak one key per active user every day. With the day in
//! the value a record from an earlier day reads as zero and is overwritten by the next
//! reservation, so memory is bounded by the number of distinct users, and a request that
//! straddles midnight settles against the day it was reserved on (or not at all once the
//! record has moved on).
//!
//! Value: 33 bytes, version byte `1`, then little-endian u64s: day, requests, tokens,
//! cost in micro-USD. An empty or unrecognised value reads as zero for the day (a record only
//! this code writes; self-healing beats locking a user out for the day).

use super::{Store, StoreError};
use sha2::{Digest, Sha256};

pub(crate) const KEY_PREFIX: &str = "mg:q:v1:";
pub(crate) const SYSTEM_KEY: &str = "mg:q:v1:sys";
pub(crate) const ANONYMOUS_USER: &str = "anon";
/// Read-modify-write attempts before giving up on a contended key.
pub(crate) const MAX_CAS_ATTEMPTS: u32 = 16;
pub(crate) const SECS_PER_DAY: u64 = 86_400;

const RECORD_VERSION: u8 = 1;
const RECORD_LEN: usize = 1 + 4 * 8;
const MAX_RAW_ID: usize = 64;
const HASH_BYTES: usize = 16;

/// One day's counters of a user or of the whole system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counters {
    pub day: u64,
    pub requests: u64,
    pub tokens: u64,
    pub cost_micro: u64,
}

impl Counters {
    pub fn zero(day: u64) -> Self {
        Counters {
            day,
            ..Counters::default()
        }
    }

    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[0] = RECORD_VERSION;
        for (i, word) in [self.day, self.requests, self.tokens, self.cost_micro]
            .iter()
            .enumerate()
        {
            if let Some(slot) = out.get_mut(1 + 8 * i..9 + 8 * i) {
                slot.copy_from_slice(&word.to_le_bytes());
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != RECORD_LEN || bytes.first() != Some(&RECORD_VERSION) {
            return None;
        }
        let word = |i: usize| {
            bytes
                .get(1 + 8 * i..9 + 8 * i)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(u64::from_le_bytes)
                .unwrap_or(0)
        };
        Some(Counters {
            day: word(0),
            requests: word(1),
            tokens: word(2),
            cost_micro: word(3),
        })
    }

    /// Adds a reservation, saturating.
    pub fn plus(mut self, requests: u64, tokens: u64, cost_micro: u64) -> Self {
        self.requests = self.requests.saturating_add(requests);
        self.tokens = self.tokens.saturating_add(tokens);
        self.cost_micro = self.cost_micro.saturating_add(cost_micro);
        self
    }

    /// Takes a reservation back, saturating at zero.
    pub fn minus(mut self, requests: u64, tokens: u64, cost_micro: u64) -> Self {
        self.requests = self.requests.saturating_sub(requests);
        self.tokens = self.tokens.saturating_sub(tokens);
        self.cost_micro = self.cost_micro.saturating_sub(cost_micro);
        self
    }
}

/// The key-safe form of an untrusted user id (bounded length, no separators or controls).
pub(crate) fn user_key(raw: &[u8]) -> String {
    if raw.len() <= MAX_RAW_ID && !raw.is_empty() && raw.iter().all(|&b| safe_id_byte(b)) {
        // All bytes are ASCII, so this is lossless.
        return format!("r.{}", String::from_utf8_lossy(raw));
    }
    let digest = Sha256::digest(raw);
    let mut out = String::with_capacity(2 + 2 * HASH_BYTES);
    out.push_str("h.");
    for b in digest.iter().take(HASH_BYTES) {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0f));
    }
    out
}

/// The store key of a user. `user` should come from [`user_key`]; anything else (an
/// `Identity` built by hand) is made key-safe again rather than trusted.
pub(crate) fn record_key(user: &str) -> String {
    let already_safe = user == ANONYMOUS_USER
        || (user.starts_with("h.")
            && user.len() == 2 + 2 * HASH_BYTES
            && user.bytes().skip(2).all(|b| b.is_ascii_hexdigit()))
        || (user.starts_with("r.")
            && user.len() > 2
            && user.len() <= 2 + MAX_RAW_ID
            && user.bytes().skip(2).all(safe_id_byte));
    if already_safe {
        format!("{KEY_PREFIX}u:{user}")
    } else {
        format!("{KEY_PREFIX}u:{}", user_key(user.as_bytes()))
    }
}

fn safe_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'+' | b'-')
}

fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

/// What an update function decides after seeing the current counters.
pub(crate) enum Step<T, R> {
    Write(Counters, T),
    Keep(T),
    Refuse(R),
}

#[derive(Debug)]
pub(crate) enum UpdateError<R> {
    Refused(R),
    /// The store failed (the host's `Store` implementation logs why).
    Store,
    /// Every attempt lost the race to another writer.
    Contended,
}

/// The current counters of `key` for `day`: zero when absent or from an earlier day; a record
/// of a later day (another worker already saw midnight) is returned as it is.
pub(crate) fn read(store: &dyn Store, key: &str, day: u64) -> Result<Counters, StoreError> {
    Ok(match store.get(key)? {
        Some((bytes, _)) => match Counters::decode(&bytes) {
            Some(c) if c.day >= day => c,
            _ => Counters::zero(day),
        },
        None => Counters::zero(day),
    })
}

/// Read-modify-write of one record with compare-and-swap and bounded retries.
///
/// `f` gets the counters as [`read`] returns them and whether they came from a stored record
/// (false: zero counters for `day`). It runs again on every retry.
pub(crate) fn update<T, R>(
    store: &dyn Store,
    key: &str,
    day: u64,
    mut f: impl FnMut(&Counters, bool) -> Step<T, R>,
) -> Result<T, UpdateError<R>> {
    for _ in 0..MAX_CAS_ATTEMPTS {
        let current = store.get(key).map_err(|_| UpdateError::Store)?;
        let (counters, of_today, cas) = match current {
            Some((bytes, cas)) => match Counters::decode(&bytes) {
                Some(c) if c.day >= day => (c, true, Some(cas)),
                _ => (Counters::zero(day), false, Some(cas)),
            },
            None => (Counters::zero(day), false, None),
        };
        match f(&counters, of_today) {
            Step::Keep(t) => return Ok(t),
            Step::Refuse(r) => return Err(UpdateError::Refused(r)),
            Step::Write(next, t) => {
                if store
                    .compare_and_swap(key, &next.encode(), cas)
                    .map_err(|_| UpdateError::Store)?
                {
                    return Ok(t);
                }
            }
        }
    }
    Err(UpdateError::Contended)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::quota::MemStore;

    #[test]
    fn record_round_trips_and_rejects_garbage() {
        let c = Counters {
            day: 20_000,
            requests: 3,
            tokens: u64::MAX,
            cost_micro: 25,
        };
        assert_eq!(Counters::decode(&c.encode()), Some(c));
        assert_eq!(Counters::decode(b""), None);
        assert_eq!(Counters::decode(&[2u8; RECORD_LEN]), None);
        assert_eq!(Counters::decode(&c.encode()[..RECORD_LEN - 1]), None);
    }

    #[test]
    fn user_keys_are_bounded_and_separated() {
        let cases: &[(&[u8], &str)] = &[
            (b"alice", "r.alice"),
            (b"alice@example.com", "r.alice@example.com"),
            (b"anon", "r.anon"),
            (b"a:b", "h."),
            (b"line\nbreak", "h."),
            (b"\xff\xfe", "h."),
            (&[b'a'; 64], "r.aaaa"),
            (&[b'a'; 65], "h."),
            (&[b'x'; 10_240], "h."),
        ];
        for (raw, prefix) in cases {
            let k = user_key(raw);
            assert!(k.starts_with(prefix), "{k}");
            assert!(k.len() <= 2 + 64);
            assert!(k.bytes().all(|b| b.is_ascii_graphic()), "{k}");
            let key = record_key(&k);
            assert_eq!(key, format!("mg:q:v1:u:{k}"));
        }
        assert_ne!(user_key(b"anon"), ANONYMOUS_USER);
        assert_ne!(user_key(b"a:b"), user_key(b"a:c"));
        // Hand-built identities are re-sanitised, not trusted.
        assert!(record_key("x\ny").starts_with("mg:q:v1:u:h."));
        assert!(record_key(&"r.".repeat(100)).starts_with("mg:q:v1:u:h."));
        assert_eq!(record_key("anon"), "mg:q:v1:u:anon");
    }

    #[test]
    fn update_retries_and_gives_up() {
        let store = MemStore::new();
        store.inject_conflicts(MAX_CAS_ATTEMPTS - 1);
        let r: Result<(), UpdateError<()>> =
            update(&store, "k", 1, |c, _| Step::Write(c.plus(1, 0, 0), ()));
        assert!(r.is_ok());
        assert_eq!(read(&store, "k", 1).unwrap().requests, 1);

        store.inject_conflicts(MAX_CAS_ATTEMPTS);
        let r: Result<(), UpdateError<()>> =
            update(&store, "k", 1, |c, _| Step::Write(c.plus(1, 0, 0), ()));
        assert!(matches!(r, Err(UpdateError::Contended)));
        assert_eq!(read(&store, "k", 1).unwrap().requests, 1);
    }

    #[test]
    fn other_days_read_as_zero() {
        let store = MemStore::new();
        let _: Result<(), UpdateError<()>> =
            update(&store, "k", 7, |c, _| Step::Write(c.plus(2, 3, 4), ()));
        assert_eq!(
            read(&store, "k", 7).unwrap(),
            Counters {
                day: 7,
                requests: 2,
                tokens: 3,
                cost_micro: 4
            }
        );
        assert_eq!(read(&store, "k", 8).unwrap(), Counters::zero(8));
        assert_eq!(read(&store, "k", 6).unwrap().day, 7);
    }
}
