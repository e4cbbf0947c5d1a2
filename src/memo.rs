//! The per-VM conversation memo: a request that resends an earlier request's conversation is
//! parsed from where that one's messages ended, not from its first byte.
//!
//! An agent resends the whole conversation with every request, and the verdict cache
//! (`crate::cache`) already answers every old text from memory; what still grew with the
//! history was reading it: the JSON scan, the texts' paths and roles, and a digest of every
//! text. A parsed chat body leaves a [`BodyCheckpoint`] here: the scan's state just after the
//! last element of `messages` (or `input`), the texts before it with their roles and
//! locations, and what the pipeline found for each ([`crate::cache::SlotMemo`]: the text's own
//! injection score and PII values when its score reads no rule hits, else its verdict-cache
//! digest). The next request of that conversation starts with those bytes; it is parsed from
//! the checkpoint on ([`RequestBody::parse_from`]: the same body as a whole parse, since the
//! scan's state after a prefix depends on that prefix alone, and a message's role and kind on
//! that message alone) and its old texts keep what was found for them: a result needs no
//! lookup, a digest one lookup. Every decision is then taken as before, over all the texts
//! (the best score, the joins of parts and turns, the action, sanitising, the tokens from the
//! request's own vault): only parsing and the per-text results are reused, never a decision.
//! A text's results are those of its bytes, its role and its place under the configuration
//! the memo belongs to, all of which the matched prefix fixes.
//!
//! **Match.** An entry holds its prefix's length, 16 bytes before its end and a keyed 128-bit
//! hash of the prefix ([`crate::cache::PrefixHasher`], seeds drawn per VM, never visible
//! outside it). A body matches an entry when it is at least as long, has the same 16 bytes at
//! the same place and the same hash of its first bytes; of the entries that match, the longest
//! is used. The hashes of all candidates cost one pass over the body's first bytes.
//!
//! **Bound.** At most `cache.conversations` entries holding at most
//! `cache.conversation_bytes` bytes in all (an entry over a quarter of that is not kept); the
//! entry used least recently is evicted first. Prefixes shorter than [`MIN_PREFIX`] bytes are
//! not kept (parsing them costs little). A resumed request replaces the entry it used.
//!
//! **Invalidation.** Like the cache, the memo lives in [`crate::config::Settings`]: a new
//! configuration starts an empty memo with new seeds.

use crate::body::extract::{BodyCheckpoint, BodyError, RequestBody};
use crate::cache::{peek, CacheConfig, PrefixHasher, SlotMemo, VerdictCache};
use std::cell::RefCell;

/// Prefixes shorter than this are not kept.
pub const MIN_PREFIX: usize = 1024;
/// Bytes compared before hashing.
const TAIL: usize = 16;

/// A resume point of a checkpoint: the bytes before it, their last [`TAIL`] bytes and hash.
#[derive(Clone, Copy)]
struct Point {
    len: usize,
    /// The last 8 of the [`TAIL`] bytes, compared first.
    last8: u64,
    hash: (u64, u64),
    tail: [u8; TAIL],
}

/// The 8 bytes of `b` before `len`, as a number.
fn last8(b: &[u8], len: usize) -> Option<u64> {
    let w: [u8; 8] = b.get(len.checked_sub(8)?..len)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

struct Entry {
    /// One per point of `cp`, in the same order.
    points: Vec<Point>,
    /// Tick of its last use.
    used: u64,
    bytes: usize,
    cp: BodyCheckpoint,
}

struct Table {
    entries: Vec<Entry>,
    tick: u64,
    bytes: usize,
    stats: MemoStats,
}

/// Counters, for tests and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoStats {
    /// Requests parsed from a checkpoint.
    pub hits: u64,
    /// Requests parsed whole (no entry matched).
    pub misses: u64,
    pub inserts: u64,
    pub evictions: u64,
    /// Checkpoints not kept (too large for the budget).
    pub skipped: u64,
}

/// The memo (see the module documentation). Interior mutability: one per VM, single-threaded.
pub struct ConversationMemo {
    max_entries: usize,
    max_bytes: usize,
    table: Option<RefCell<Table>>,
}

impl std::fmt::Debug for ConversationMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationMemo")
            .field("entries", &self.max_entries)
            .field("bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// What a parse found in the memo, for [`ConversationMemo::remember`].
pub struct Lookup<'c> {
    hasher: Option<PrefixHasher<'c>>,
    /// The entry used: its index and the point's length.
    hit: Option<(usize, usize)>,
}

/// A parsed body with what the memo knew of its texts (one per slot of the checkpoint's
/// texts, none for the others).
pub type Parsed<'a> = (RequestBody<'a>, Vec<SlotMemo>);

impl ConversationMemo {
    /// A memo per `cfg` (off when the cache is off or `cache.conversations` is 0).
    pub fn new(cfg: &CacheConfig) -> Self {
        if !cfg.enabled || cfg.conversations == 0 {
            return Self::disabled();
        }
        ConversationMemo {
            max_entries: cfg.conversations,
            max_bytes: cfg.conversation_bytes,
            table: Some(RefCell::new(Table {
                entries: Vec::new(),
                tick: 0,
                bytes: 0,
                stats: MemoStats::default(),
            })),
        }
    }

    pub fn disabled() -> Self {
        ConversationMemo {
            max_entries: 0,
            max_bytes: 0,
            table: None,
        }
    }

    pub fn stats(&self) -> MemoStats {
        peek(self.table.as_ref(), |t| t.stats)
    }

    /// Entries held and their bytes.
    pub fn usage(&self) -> (usize, usize) {
        peek(self.table.as_ref(), |t| (t.entries.len(), t.bytes))
    }

    /// [`RequestBody::parse_limited`] of `bytes`, from the longest kept checkpoint the body
    /// starts with; what the pipeline found for the texts before it.
    pub fn parse<'a, 'c>(
        &self,
        cache: &'c VerdictCache,
        bytes: &'a [u8],
        json_typed: bool,
        max_texts: usize,
    ) -> (Result<Parsed<'a>, BodyError>, Lookup<'c>) {
        let mut lookup = Lookup {
            hasher: None,
            hit: None,
        };
        let Some(cell) = self.table.as_ref() else {
            let body = RequestBody::parse_limited(bytes, json_typed, max_texts);
            return (body.map(|b| (b, Vec::new())), lookup);
        };
        let Ok(mut t) = cell.try_borrow_mut() else {
            let body = RequestBody::parse_limited(bytes, json_typed, max_texts);
            return (body.map(|b| (b, Vec::new())), lookup);
        };
        lookup.hasher = cache.prefix_hasher();
        // Candidate points by their last bytes, then by the hash of the body's first bytes
        // (in increasing length, one pass); the longest match wins.
        let mut cands: Vec<(usize, usize, usize)> = Vec::new();
        for (i, e) in t.entries.iter().enumerate() {
            // In increasing length, each point's bytes those of the one before and more: a
            // body that differs before one point differs before every later one, so an entry
            // costs one comparison unless the body starts like it.
            for (k, p) in e.points.iter().enumerate() {
                if last8(bytes, p.len) != Some(p.last8)
                    || bytes.get(p.len.saturating_sub(TAIL)..p.len) != Some(&p.tail[..])
                {
                    break;
                }
                cands.push((p.len, i, k));
            }
        }
        cands.sort_unstable();
        let mut best: Option<(usize, usize, usize)> = None;
        if let Some(h) = lookup.hasher.as_mut() {
            for &(len, i, k) in &cands {
                let found = t
                    .entries
                    .get(i)
                    .and_then(|e| e.points.get(k))
                    .map(|p| p.hash);
                if found.is_some() && h.hash(bytes, len) == found {
                    best = Some((len, i, k));
                }
            }
        }
        lookup.hit = best.map(|(len, i, _)| (i, len));
        t.tick += 1;
        let tick = t.tick;
        let from = match best {
            Some((_, i, k)) => t.entries.get_mut(i).map(|e| {
                e.used = tick;
                (&e.cp, k)
            }),
            None => None,
        };
        let parsed = RequestBody::parse_from(bytes, json_typed, max_texts, from);
        let memos = match (&parsed, from) {
            (Ok(body), Some((cp, k))) => {
                // Room for every slot: the pipeline adds the others.
                let n = cp.texts_at(k).min(body.slots.len());
                let mut memos = Vec::with_capacity(body.slots.len());
                memos.extend((0..n).map(|i| cp.memo(i).cloned().unwrap_or_default()));
                memos
            }
            _ => Vec::new(),
        };
        if lookup.hit.is_some() {
            t.stats.hits += 1;
        } else {
            t.stats.misses += 1;
        }
        (parsed.map(|b| (b, memos)), lookup)
    }

    /// Keeps the checkpoint of `body` (parsed by [`ConversationMemo::parse`] with `lookup`),
    /// with what the pipeline found for its texts.
    pub fn remember(
        &self,
        cache: &VerdictCache,
        lookup: Lookup<'_>,
        body: &RequestBody<'_>,
        memos: &[SlotMemo],
    ) {
        let Some(Ok(mut t)) = self.table.as_ref().map(|c| c.try_borrow_mut()) else {
            return;
        };
        // A checkpoint over a quarter of the budget is not kept, nor built.
        let Some(cp) = BodyCheckpoint::of(body, memos, self.max_bytes / 4) else {
            if body.doc.as_ref().is_some_and(|d| d.checkpoint_bytes() > 0) {
                t.stats.skipped += 1;
            }
            return;
        };
        if cp.len() < MIN_PREFIX {
            return;
        }
        if let Some((_, hit_len)) = lookup.hit {
            if hit_len == cp.len() {
                return; // no new message: the entry used holds this checkpoint
            }
        }
        // Each point's hash: one pass, continuing the lookup's when it has not gone past.
        let mut hasher = lookup.hasher;
        let mut points = Vec::new();
        for len in cp.points() {
            if len < TAIL {
                continue; // never matched (a body this short has no message)
            }
            let Some(tail) = body
                .bytes
                .get(len - TAIL..len)
                .and_then(|b| <[u8; TAIL]>::try_from(b).ok())
            else {
                return;
            };
            // A point the entry used has too (the same bytes before it): its hash is known.
            let known = lookup.hit.and_then(|(i, hit_len)| {
                let e = t.entries.get(i)?;
                let p = e.points.iter().find(|p| p.len == len && len <= hit_len)?;
                Some(p.hash)
            });
            let mut hash = known.or_else(|| hasher.as_mut().and_then(|h| h.hash(body.bytes, len)));
            if hash.is_none() {
                hasher = cache.prefix_hasher();
                hash = hasher.as_mut().and_then(|h| h.hash(body.bytes, len));
            }
            let Some(hash) = hash else { return };
            let Some(l8) = last8(body.bytes, len) else {
                return;
            };
            points.push(Point {
                len,
                last8: l8,
                hash,
                tail,
            });
        }
        if points.len() != cp.points().count() {
            return; // a point too short to keep: the points would not line up with `cp`
        }
        let bytes = std::mem::size_of::<Entry>()
            + points.capacity() * std::mem::size_of::<Point>()
            + cp.heap_bytes();
        if bytes > self.max_bytes / 4 {
            t.stats.skipped += 1;
            return;
        }
        // The entry used is replaced: the conversation went on.
        if let Some((i, _)) = lookup.hit {
            if i < t.entries.len() {
                let old = t.entries.swap_remove(i);
                t.bytes = t.bytes.saturating_sub(old.bytes);
            }
        }
        while !t.entries.is_empty()
            && (t.entries.len() >= self.max_entries || t.bytes + bytes > self.max_bytes)
        {
            let Some(lru) = t
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
            else {
                break;
            };
            let old = t.entries.swap_remove(lru);
            t.bytes = t.bytes.saturating_sub(old.bytes);
            t.stats.evictions += 1;
        }
        let used = t.tick;
        t.entries.push(Entry {
            points,
            used,
            bytes,
            cp,
        });
        t.bytes += bytes;
        t.stats.inserts += 1;
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use crate::body::extract::RequestBody;
    use crate::config::Settings;

    /// A chat body of `n` messages of about `size` bytes each.
    fn body(conv: usize, n: usize, size: usize) -> Vec<u8> {
        let msgs: Vec<String> = (0..n)
            .map(|i| {
                let role = if i % 2 == 0 { "user" } else { "assistant" };
                let text = format!("conversation {conv} turn {i} ").repeat(size / 24 + 1);
                format!(r#"{{"role":"{role}","content":"{text}"}}"#)
            })
            .collect();
        format!(
            r#"{{"model":"m","messages":[{}],"max_tokens":9}}"#,
            msgs.join(",")
        )
        .into_bytes()
    }

    fn settings(cache: &str) -> Settings {
        let cfg = format!(r#"{{"cache":{cache}}}"#);
        Settings::from_json(cfg.as_bytes(), vec![7; 32]).unwrap()
    }

    /// Parses and remembers as the pipeline does; whether the memo was used.
    fn send(s: &Settings, b: &[u8]) -> bool {
        let before = s.memo.stats().hits;
        let (parsed, lookup) = s.memo.parse(&s.cache, b, true, usize::MAX);
        let (body, memos) = parsed.unwrap();
        s.memo.remember(&s.cache, lookup, &body, &memos);
        s.memo.stats().hits > before
    }

    #[test]
    fn a_conversation_resent_with_more_turns_is_parsed_from_its_last_messages() {
        let s = settings("{}");
        assert!(!send(&s, &body(1, 4, 400)));
        // The next turn, and a regenerated last turn (same history, another last message).
        assert!(send(&s, &body(1, 5, 400)));
        let mut other_last = body(1, 5, 400);
        let at = other_last.len() - 40;
        other_last[at] = b'X';
        assert!(send(&s, &other_last));
        // Another conversation with the same first message length does not match.
        assert!(!send(&s, &body(2, 5, 400)));
        // The first message alone: its end is a point.
        assert!(send(&s, &body(1, 1, 400)));
        // A first message cut short: shorter than every point, parsed whole.
        assert!(!send(&s, &body(1, 1, 200)));
        let st = s.memo.stats();
        assert_eq!((st.hits, st.misses), (3, 3), "{st:?}");
        // Requests below the floor are not kept.
        let small = settings("{}");
        send(&small, &body(3, 3, 100));
        assert!(!send(&small, &body(3, 4, 100)));
        assert_eq!(small.memo.usage().0, 0);
    }

    #[test]
    fn a_conversation_resent_from_an_earlier_turn_resumes_there() {
        let s = settings("{}");
        send(&s, &body(1, 40, 100));
        // Resent from its tenth message on (a retry, a branch): the history before it is the
        // bytes before a point of the 40-message entry (one of its last 32).
        let mut branch = body(1, 10, 100);
        let at = branch.len() - 30;
        branch[at] = b'X';
        let (parsed, _) = s.memo.parse(&s.cache, &branch, true, usize::MAX);
        let (resumed, memos) = parsed.unwrap();
        assert_eq!(s.memo.stats().hits, 1);
        let whole = RequestBody::parse_limited(&branch, true, usize::MAX).unwrap();
        // The texts of the first nine messages come from the memo, the tenth's are parsed.
        let tenth = branch
            .windows(11)
            .rposition(|w| w == b"{\"role\":\"as")
            .unwrap();
        let before = whole.slots.iter().filter(|t| t.span.1 <= tenth).count();
        assert!(before > 0 && before < whole.slots.len());
        assert_eq!(memos.len(), before);
        assert_eq!(format!("{:?}", resumed.slots), format!("{:?}", whole.slots));
        // Past the last 32 messages: parsed whole.
        let s = settings("{}");
        send(&s, &body(1, 40, 100));
        assert!(!send(&s, &body(1, 8, 100)));
    }

    #[test]
    fn one_changed_byte_before_a_point_is_a_whole_parse() {
        let s = settings("{}");
        let first = body(1, 6, 400);
        send(&s, &first);
        let mut next = body(1, 7, 400);
        // Same length and the same bytes before every point's end, one byte changed in the
        // first message: no point matches past it.
        let at = next.windows(6).position(|w| w == b"turn 0").unwrap();
        next[at] = b'Q';
        let (parsed, _) = s.memo.parse(&s.cache, &next, true, usize::MAX);
        let (b, _) = parsed.unwrap();
        assert_eq!(s.memo.stats().hits, 0);
        assert!(b.slots.iter().any(|sl| sl.text.contains('Q')));
    }

    #[test]
    fn the_memo_is_bounded_in_entries_and_bytes_and_evicts_the_least_recent() {
        let s = settings(r#"{"conversations":4}"#);
        for c in 0..10 {
            send(&s, &body(c, 4, 400));
        }
        let (n, bytes) = s.memo.usage();
        assert_eq!(n, 4);
        assert!(bytes > 0);
        assert_eq!(s.memo.stats().evictions, 6);
        // The last four are kept, the first ones were evicted.
        assert!(send(&s, &body(9, 5, 400)));
        assert!(!send(&s, &body(0, 5, 400)));
        // A byte budget: entries of about 50 KB each in 1 MiB.
        let s = settings(r#"{"conversations":4096,"conversation_bytes":1048576}"#);
        for c in 0..200 {
            send(&s, &body(c, 200, 200));
        }
        let (n, bytes) = s.memo.usage();
        assert!(
            bytes <= 1 << 20 && n > 1 && n < 200,
            "{n} entries, {bytes} bytes"
        );
        // A checkpoint over a quarter of the budget is not kept.
        let big = body(500, 4000, 100);
        send(&s, &big);
        assert!(s.memo.stats().skipped >= 1);
    }

    #[test]
    fn no_memo_without_the_cache_or_with_zero_conversations() {
        for cfg in [r#"{"enabled":false}"#, r#"{"conversations":0}"#] {
            let s = settings(cfg);
            send(&s, &body(1, 4, 400));
            assert!(!send(&s, &body(1, 5, 400)), "{cfg}");
            assert_eq!(s.memo.usage(), (0, 0), "{cfg}");
        }
    }

    #[test]
    fn bad_memo_sizes_are_refused_naming_the_field() {
        for (cfg, field) in [
            (r#"{"conversations":5000}"#, "cache.conversations"),
            (r#"{"conversation_bytes":1000}"#, "cache.conversation_bytes"),
            (
                r#"{"conversation_bytes":300000000}"#,
                "cache.conversation_bytes",
            ),
        ] {
            let c = format!(r#"{{"cache":{cfg}}}"#);
            match Settings::from_json(c.as_bytes(), vec![7; 32]) {
                Ok(_) => panic!("{cfg} was accepted"),
                Err(e) => assert!(e.to_string().contains(field), "{cfg}: {e}"),
            }
        }
    }
}
