//! Output validation: what the model says is checked before the client sees it.
//!
//! - **System-prompt leak.** The request's system and developer texts are fingerprinted
//!   ([`Fingerprint`]): hashed shingles of `k` consecutive normalised words (lower case, runs of
//!   letters and digits; punctuation and spacing ignored). An answer leaks when at least
//!   `min_shingles` of its shingles are in the fingerprint, or when it holds the configured
//!   canary string.
//! - **Unsafe output rules.** Regex-lite patterns and literal phrases (case-insensitive), with
//!   defaults for credentials. Each rule `flag`s (counted), `redact`s its span
//!   (`[REDACTED:<id>]`) or `replace`s the whole answer with the refusal.
//!
//! The whole-text check is [`OutputValidator::check`]; [`OutputStream`] does the same over a
//! text that arrives in pieces (SSE deltas), releasing text only once it is checked: it holds
//! back at least [`OutputValidator::window`] bytes, so every match of at most that length is
//! found before any of its bytes leave, and the text released is what the whole-text check
//! gives, for every split.

use crate::config::{ConfigError, Mode};
use crate::text::{ceil_boundary, floor_boundary};
use serde::Deserialize;
use std::collections::VecDeque;

/// Shingles kept per fingerprint: a system prompt of more words keeps its first ones
/// (8 bytes each: 32 KiB at most per request).
pub const MAX_SHINGLES_CAP: usize = 4096;
/// Raw look-behind kept from released text, so `\b` and `^` read the same as in the whole text.
const LOOKBEHIND: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakAction {
    /// The whole answer becomes the refusal text (same JSON shape; SSE: a refusal delta, a
    /// finish and `[DONE]`).
    #[default]
    Replace,
    /// An OpenAI-shaped error (`output_blocked`).
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Counted, logged by rule id, reported; the text passes.
    #[default]
    Flag,
    /// The matched span becomes `[REDACTED:<id>]`.
    Redact,
    /// The whole answer becomes the refusal text.
    Replace,
}

impl RuleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Flag => "flagged",
            RuleAction::Redact => "redacted",
            RuleAction::Replace => "replaced",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    pub enabled: bool,
    /// `enforce` or `monitor`; default: the top-level `mode`.
    pub mode: Option<Mode>,
    /// Bytes of checked text held back on SSE (at least the longest rule match).
    pub window_bytes: usize,
    /// The text an answer is replaced with.
    pub refusal: String,
    pub leak: LeakConfig,
    #[serde(rename = "unsafe")]
    pub unsafe_rules: UnsafeConfig,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            enabled: true,
            mode: None,
            window_bytes: 256,
            refusal: "I can't help with that.".into(),
            leak: LeakConfig::default(),
            unsafe_rules: UnsafeConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeakConfig {
    pub enabled: bool,
    pub action: LeakAction,
    /// Words per shingle.
    pub shingle_words: usize,
    /// Shingles of the answer found in the system text that make a leak.
    pub min_shingles: usize,
    /// A string planted in the system prompt: an answer that holds it leaks.
    pub canary: Option<String>,
}

impl Default for LeakConfig {
    fn default() -> Self {
        LeakConfig {
            enabled: true,
            action: LeakAction::Replace,
            shingle_words: 6,
            min_shingles: 2,
            canary: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnsafeConfig {
    /// The built-in credential rules ([`DEFAULT_RULES`]).
    pub defaults: bool,
    /// The action of the built-in rules and of rules without their own.
    pub action: RuleAction,
    pub rules: Vec<RuleConfig>,
}

impl Default for UnsafeConfig {
    fn default() -> Self {
        UnsafeConfig {
            defaults: true,
            action: RuleAction::Flag,
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {
    pub id: String,
    /// A regex-lite pattern (one of `pattern`, `phrase`).
    pub pattern: Option<String>,
    /// A literal phrase, matched case-insensitively.
    pub phrase: Option<String>,
    pub action: Option<RuleAction>,
    /// Longest match of `pattern` in bytes (default `window_bytes`); at most `window_bytes`.
    pub max_len: Option<usize>,
}

/// A built-in rule: its pattern, the longest match in bytes, and its prefilter: every match
/// holds one of `anchors` (case-sensitive) at most `lookback` bytes after its start.
pub struct DefaultRule {
    pub id: &'static str,
    pub pattern: &'static str,
    pub max_len: usize,
    pub anchors: &'static [&'static str],
    pub lookback: usize,
}

/// Built-in rules. Each is anchored on a fixed marker and bounded, so ordinary prose does not
/// match, the stream window covers them, and the regex runs only next to a marker (regex-lite
/// has no literal prefilter of its own: over a whole text it costs 25 to 400 us/KB per rule).
pub const DEFAULT_RULES: &[DefaultRule] = &[
    DefaultRule {
        id: "aws_access_key",
        pattern: r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        max_len: 20,
        anchors: &["AKIA", "ASIA"],
        lookback: 0,
    },
    DefaultRule {
        id: "private_key",
        pattern: r"-----BEGIN (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY-----",
        max_len: 66,
        anchors: &["-----BEGIN "],
        lookback: 0,
    },
    DefaultRule {
        id: "github_token",
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b",
        max_len: 93,
        anchors: &["_"],
        lookback: 6,
    },
    DefaultRule {
        id: "slack_token",
        pattern: r"\bxox[abeoprs]-[A-Za-z0-9-]{10,100}",
        max_len: 105,
        anchors: &["xox"],
        lookback: 0,
    },
    DefaultRule {
        id: "openai_key",
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,180}",
        max_len: 191,
        anchors: &["sk-"],
        lookback: 0,
    },
    DefaultRule {
        id: "jwt",
        pattern: r"\beyJ[A-Za-z0-9_-]{10,100}\.eyJ[A-Za-z0-9_-]{10,100}",
        max_len: 207,
        anchors: &["eyJ"],
        lookback: 0,
    },
    DefaultRule {
        id: "password_assignment",
        pattern: r#"(?i)\b(?:password|passwd|pwd|api[_-]?key|secret[_-]?key|access[_-]?token|client[_-]?secret)[ \t]{0,3}=[ \t]{0,3}["']?[^\s"'<>]{6,64}"#,
        max_len: 85,
        anchors: &["="],
        lookback: 64,
    },
];

/// Id reported for the canary string.
pub const CANARY_ID: &str = "canary";

struct Rule {
    id: String,
    re: regex_lite::Regex,
    action: RuleAction,
    /// The canary: a leak, not an unsafe rule.
    canary: bool,
    /// Prefilter (see [`DefaultRule`]); empty: the regex runs over the text.
    anchors: Vec<String>,
    lookback: usize,
    max_len: usize,
}

impl Rule {
    /// The leftmost match starting at or after `from`: next to each anchor in turn, the regex
    /// runs over at most the span a match can take (plus a character of look-ahead).
    fn find(&self, hay: &str, from: usize) -> Option<(usize, usize)> {
        if self.anchors.is_empty() {
            return self.re.find_at(hay, from).map(|m| (m.start(), m.end()));
        }
        let mut search = from;
        loop {
            let rest = hay.get(search..)?;
            let a = search
                + self
                    .anchors
                    .iter()
                    .filter_map(|x| find_literal(rest.as_bytes(), x.as_bytes()))
                    .min()?;
            let start = floor_boundary(hay, a.saturating_sub(self.lookback)).max(from);
            let end = ceil_boundary(hay, a + self.max_len + 4);
            if let Some(m) = hay.get(..end).and_then(|h| self.re.find_at(h, start)) {
                return Some((m.start(), m.end()));
            }
            // Anchors start with an ASCII byte: the next byte is a character boundary.
            search = a + 1;
        }
    }
}

/// The compiled output validation, shared by every request.
pub struct OutputValidator {
    pub enabled: bool,
    pub mode: Option<Mode>,
    pub refusal: String,
    pub leak_enabled: bool,
    pub leak_action: LeakAction,
    shingle_words: usize,
    min_shingles: usize,
    window: usize,
    rules: Vec<Rule>,
}

impl OutputValidator {
    pub fn compile(cfg: &OutputConfig) -> Result<Self, ConfigError> {
        let w = cfg.window_bytes;
        if !(16..=65536).contains(&w) {
            return Err(ConfigError::new(
                "output.window_bytes",
                "a number of bytes from 16 to 65536",
            ));
        }
        if !(2..=16).contains(&cfg.leak.shingle_words) {
            return Err(ConfigError::new(
                "output.leak.shingle_words",
                "a number of words from 2 to 16",
            ));
        }
        if cfg.leak.min_shingles == 0 {
            return Err(ConfigError::new(
                "output.leak.min_shingles",
                "a positive number of shingles",
            ));
        }
        if cfg.refusal.is_empty() {
            return Err(ConfigError::new("output.refusal", "a non-empty text"));
        }
        let mut rules = Vec::new();
        let lit = |s: &str| {
            regex_lite::RegexBuilder::new(&regex_lite::escape(s))
                .case_insensitive(true)
                .build()
        };
        if let Some(c) = &cfg.leak.canary {
            if c.trim().is_empty() || c.len() > w {
                return Err(ConfigError::new(
                    "output.leak.canary",
                    format!("a non-empty string of at most window_bytes ({w}) bytes"),
                ));
            }
            let re = regex_lite::Regex::new(&regex_lite::escape(c))
                .map_err(|_| ConfigError::new("output.leak.canary", "a literal string"))?;
            rules.push(Rule {
                id: CANARY_ID.into(),
                re,
                action: RuleAction::Replace,
                canary: true,
                anchors: vec![c.clone()],
                lookback: 0,
                max_len: c.len(),
            });
        }
        if cfg.unsafe_rules.defaults {
            for d in DEFAULT_RULES {
                let re = regex_lite::Regex::new(d.pattern)
                    .map_err(|_| ConfigError::new("output.unsafe.defaults", "built-in rules"))?;
                rules.push(Rule {
                    id: d.id.into(),
                    re,
                    action: cfg.unsafe_rules.action,
                    canary: false,
                    anchors: d.anchors.iter().map(|a| (*a).to_string()).collect(),
                    lookback: d.lookback,
                    max_len: d.max_len,
                });
            }
        }
        for (k, r) in cfg.unsafe_rules.rules.iter().enumerate() {
            let field = |f: &str| format!("output.unsafe.rules[{k}].{f}");
            let id_ok = !r.id.is_empty()
                && r.id.len() <= 64
                && r.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !id_ok {
                return Err(ConfigError::new(
                    field("id"),
                    "an id of 1 to 64 characters [A-Za-z0-9_-] (it is a metric label)",
                ));
            }
            if r.id == CANARY_ID || rules.iter().any(|x| x.id == r.id) {
                return Err(ConfigError::new(field("id"), "an id used once"));
            }
            let re = match (&r.pattern, &r.phrase) {
                (Some(p), None) => {
                    if r.max_len.is_some_and(|m| m == 0 || m > w) {
                        return Err(ConfigError::new(
                            field("max_len"),
                            format!("a positive number of bytes up to window_bytes ({w})"),
                        ));
                    }
                    regex_lite::Regex::new(p).map_err(|_| {
                        ConfigError::new(field("pattern"), "a valid regex-lite pattern")
                    })?
                }
                (None, Some(p)) => {
                    if p.trim().is_empty() || p.len() > w {
                        return Err(ConfigError::new(
                            field("phrase"),
                            format!("a non-empty phrase of at most window_bytes ({w}) bytes"),
                        ));
                    }
                    lit(p).map_err(|_| ConfigError::new(field("phrase"), "a literal phrase"))?
                }
                _ => {
                    return Err(ConfigError::new(
                        field("pattern"),
                        "exactly one of `pattern` and `phrase`",
                    ))
                }
            };
            if re.is_match("") {
                return Err(ConfigError::new(
                    field("pattern"),
                    "a pattern that does not match the empty string",
                ));
            }
            rules.push(Rule {
                id: r.id.clone(),
                re,
                action: r.action.unwrap_or(cfg.unsafe_rules.action),
                canary: false,
                anchors: Vec::new(),
                lookback: 0,
                max_len: r.max_len.unwrap_or(w),
            });
        }
        Ok(OutputValidator {
            enabled: cfg.enabled,
            mode: cfg.mode,
            refusal: cfg.refusal.clone(),
            leak_enabled: cfg.leak.enabled,
            leak_action: cfg.leak.action,
            shingle_words: cfg.leak.shingle_words,
            min_shingles: cfg.leak.min_shingles,
            window: w,
            rules,
        })
    }

    /// Bytes of checked text an SSE stream holds back (between this and 1.5 times this).
    pub fn window(&self) -> usize {
        self.window
    }

    /// Rule ids in order (metrics, tests).
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }

    /// The fingerprint of a request's system and developer texts (`None` when the leak check
    /// is off or the texts hold no shingle).
    pub fn fingerprint<'t>(&self, texts: impl IntoIterator<Item = &'t str>) -> Option<Fingerprint> {
        if !self.enabled || !self.leak_enabled {
            return None;
        }
        let mut words = Words::default();
        let mut ring = VecDeque::with_capacity(self.shingle_words);
        let mut shingles = Vec::new();
        let mut total_words = 0usize;
        let mut first_words: Vec<u64> = Vec::new();
        let mut add = |w: u64, shingles: &mut Vec<u64>| {
            total_words += 1;
            if first_words.len() < self.shingle_words {
                first_words.push(w);
            }
            if ring.len() == self.shingle_words {
                ring.pop_front();
            }
            ring.push_back(w);
            if ring.len() == self.shingle_words && shingles.len() < MAX_SHINGLES_CAP {
                shingles.push(shingle_hash(ring.iter().copied()));
            }
        };
        for t in texts {
            words.feed(t, |w| add(w, &mut shingles));
            words.end(|w| add(w, &mut shingles));
        }
        if shingles.is_empty() {
            return None;
        }
        let count = shingles.len();
        shingles.sort_unstable();
        shingles.dedup();
        Some(Fingerprint {
            k: self.shingle_words,
            // A short system text has fewer shingles than the threshold: all of them count.
            min: self.min_shingles.min(count),
            shingles,
        })
    }

    /// The earliest match of any rule starting at or after `from` (ties: rule order).
    fn next_match(&self, hay: &str, from: usize) -> Option<(usize, usize, usize)> {
        let mut best: Option<(usize, usize, usize)> = None;
        for (i, r) in self.rules.iter().enumerate() {
            if let Some((s, e)) = r.find(hay, from) {
                if best.is_none_or(|(b, _, _)| s < b) && e > s {
                    best = Some((s, e, i));
                }
            }
        }
        best
    }

    /// Checks a whole text: what the client should see and what was found.
    pub fn check(&self, fp: Option<&Fingerprint>, text: &str) -> Checked {
        let mut s = OutputStream::default();
        let mut out = s.push(self, fp, text);
        let tail = s.finish(self, fp);
        let text = if s.verdict.refused.is_some() {
            None
        } else {
            out.push_str(&tail);
            (out != text).then_some(out)
        };
        Checked {
            text,
            verdict: s.verdict,
        }
    }

    /// The ids and actions of a verdict's rules: `(id, action)`.
    pub fn hits<'a>(&'a self, v: &'a Verdict) -> impl Iterator<Item = (&'a str, RuleAction)> + 'a {
        v.rules.iter().filter_map(|(i, _)| {
            self.rules
                .get(*i)
                .filter(|r| !r.canary)
                .map(|r| (r.id.as_str(), r.action))
        })
    }
}

/// A whole text checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    /// The redacted text when a rule redacted (`None`: unchanged, or refused).
    pub text: Option<String>,
    pub verdict: Verdict,
}

/// Why an answer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The system prompt leaked (shingles or the canary).
    Leak,
    /// A `replace` rule matched.
    Rule,
}

/// What was found in a text (ids only, never text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Fingerprint shingles found.
    pub leak_shingles: usize,
    pub canary: bool,
    /// (rule index, matches).
    pub rules: Vec<(usize, u32)>,
    pub refused: Option<Refusal>,
}

impl Verdict {
    pub fn leaked(&self) -> bool {
        self.refused == Some(Refusal::Leak)
    }

    fn hit(&mut self, rule: usize) {
        match self.rules.iter_mut().find(|(i, _)| *i == rule) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => self.rules.push((rule, 1)),
        }
    }

    pub fn is_clean(&self) -> bool {
        self.refused.is_none() && self.rules.is_empty()
    }
}

/// The shingles of a request's system and developer texts, sorted (binary search).
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    k: usize,
    min: usize,
    shingles: Vec<u64>,
}

impl Fingerprint {
    pub fn len(&self) -> usize {
        self.shingles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shingles.is_empty()
    }

    fn contains(&self, h: u64) -> bool {
        self.shingles.binary_search(&h).is_ok()
    }

    /// Shingles of `text` in the fingerprint (tests and the e2e check use the same words).
    pub fn overlap(&self, text: &str) -> usize {
        let mut l = LeakState::default();
        l.feed(self, text);
        l.end(self);
        l.hits
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn shingle_hash(words: impl Iterator<Item = u64>) -> u64 {
    let mut h = FNV_OFFSET;
    for w in words {
        h = (h ^ w).wrapping_mul(FNV_PRIME).rotate_left(29);
    }
    h
}

/// Normalised words of a text that arrives in pieces: runs of alphanumeric characters,
/// lower-cased, each hashed (FNV-1a over its UTF-8).
#[derive(Debug, Clone, Default)]
struct Words {
    cur: u64,
    in_word: bool,
}

impl Words {
    fn feed(&mut self, text: &str, mut word: impl FnMut(u64)) {
        // ASCII bytes are handled byte by byte: for an ASCII `c`, `is_alphanumeric` is
        // `is_ascii_alphanumeric` and `to_lowercase` is the one byte `to_ascii_lowercase`, so
        // the words are those of the general loop below (which takes over at the first
        // non-ASCII byte; `tests::words_ascii_fast_path_matches_chars` compares the two).
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if !b.is_ascii() {
                break;
            }
            if b.is_ascii_alphanumeric() {
                if !self.in_word {
                    self.cur = FNV_OFFSET;
                    self.in_word = true;
                }
                self.cur = (self.cur ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(FNV_PRIME);
            } else if self.in_word {
                self.in_word = false;
                word(self.cur);
            }
            i += 1;
        }
        let Some(rest) = text.get(i..) else { return };
        self.feed_chars(rest, word);
    }

    /// [`Words::feed`] character by character (any text).
    fn feed_chars(&mut self, text: &str, mut word: impl FnMut(u64)) {
        for c in text.chars() {
            if c.is_alphanumeric() {
                if !self.in_word {
                    self.cur = FNV_OFFSET;
                    self.in_word = true;
                }
                for l in c.to_lowercase() {
                    let mut buf = [0u8; 4];
                    for b in l.encode_utf8(&mut buf).bytes() {
                        self.cur = (self.cur ^ u64::from(b)).wrapping_mul(FNV_PRIME);
                    }
                }
            } else if self.in_word {
                self.in_word = false;
                word(self.cur);
            }
        }
    }

    fn end(&mut self, mut word: impl FnMut(u64)) {
        if self.in_word {
            self.in_word = false;
            word(self.cur);
        }
    }
}

/// Shingle overlap counted over a text that arrives in pieces.
#[derive(Debug, Clone, Default)]
struct LeakState {
    words: Words,
    ring: VecDeque<u64>,
    hits: usize,
}

impl LeakState {
    fn word(&mut self, fp: &Fingerprint, w: u64) {
        if self.ring.len() == fp.k {
            self.ring.pop_front();
        }
        self.ring.push_back(w);
        if self.ring.len() == fp.k && fp.contains(shingle_hash(self.ring.iter().copied())) {
            self.hits += 1;
        }
    }

    fn feed(&mut self, fp: &Fingerprint, text: &str) {
        let mut words = std::mem::take(&mut self.words);
        words.feed(text, |w| self.word(fp, w));
        self.words = words;
    }

    fn end(&mut self, fp: &Fingerprint) {
        let mut words = std::mem::take(&mut self.words);
        words.end(|w| self.word(fp, w));
        self.words = words;
    }
}

/// The check over one text stream (one SSE delta stream): text comes in with [`push`], checked
/// text goes out. Holds back between `window` and 1.5 `window` bytes (a scan per half window
/// keeps the cost linear); [`finish`] releases the rest. Once refused, nothing more is released:
/// the caller sends the refusal.
///
/// [`push`]: OutputStream::push
/// [`finish`]: OutputStream::finish
#[derive(Debug, Default)]
pub struct OutputStream {
    /// Raw look-behind (`buf[..ctx]`) then the held text.
    buf: String,
    ctx: usize,
    leak: LeakState,
    pub verdict: Verdict,
}

impl OutputStream {
    /// Bytes held back.
    pub fn held_len(&self) -> usize {
        self.buf.len() - self.ctx
    }

    pub fn refused(&self) -> Option<Refusal> {
        self.verdict.refused
    }

    /// Feeds the next piece; returns the text checked and released now.
    pub fn push(&mut self, v: &OutputValidator, fp: Option<&Fingerprint>, text: &str) -> String {
        if self.verdict.refused.is_some() {
            return String::new();
        }
        if let Some(fp) = fp {
            self.leak.feed(fp, text);
            self.note_leak(fp);
        }
        if self.verdict.refused.is_some() {
            self.drop_held();
            return String::new();
        }
        self.buf.push_str(text);
        if self.held_len() < v.window + v.window / 2 {
            return String::new();
        }
        self.release(v, false)
    }

    /// End of the text: releases what is held (after the last check).
    pub fn finish(&mut self, v: &OutputValidator, fp: Option<&Fingerprint>) -> String {
        if self.verdict.refused.is_some() {
            return String::new();
        }
        if let Some(fp) = fp {
            self.leak.end(fp);
            self.note_leak(fp);
        }
        if self.verdict.refused.is_some() {
            self.drop_held();
            return String::new();
        }
        self.release(v, true)
    }

    fn note_leak(&mut self, fp: &Fingerprint) {
        self.verdict.leak_shingles = self.leak.hits;
        if self.leak.hits >= fp.min {
            self.verdict.refused = Some(Refusal::Leak);
        }
    }

    fn drop_held(&mut self) {
        self.buf = String::new();
        self.ctx = 0;
    }

    /// Scans the held text and releases all but the last `window` bytes (all at the end). A
    /// match starting before the cut is final: a different match from the same start would
    /// be longer than the window (it would reach past the text held). The cut never splits a
    /// match.
    fn release(&mut self, v: &OutputValidator, all: bool) -> String {
        let len = self.buf.len();
        let mut cut = if all {
            len
        } else {
            floor_boundary(&self.buf, len.saturating_sub(v.window).max(self.ctx))
        };
        let mut out = String::new();
        let mut pos = self.ctx;
        while let Some((s, e, i)) = v.next_match(&self.buf, pos) {
            if s >= cut {
                break;
            }
            let Some(rule) = v.rules.get(i) else { break };
            self.verdict.hit(i);
            if rule.canary {
                self.verdict.canary = true;
                self.verdict.refused = Some(Refusal::Leak);
            } else if rule.action == RuleAction::Replace {
                self.verdict.refused = Some(Refusal::Rule);
            }
            if self.verdict.refused.is_some() {
                self.drop_held();
                return String::new();
            }
            out.push_str(self.buf.get(pos..s).unwrap_or_default());
            if rule.action == RuleAction::Redact {
                out.push_str("[REDACTED:");
                out.push_str(&rule.id);
                out.push(']');
            } else {
                out.push_str(self.buf.get(s..e).unwrap_or_default());
            }
            pos = e;
            cut = cut.max(e);
        }
        out.push_str(self.buf.get(pos.min(cut)..cut).unwrap_or_default());
        // Keep a raw look-behind of what was released, then the held rest.
        let keep = floor_boundary(&self.buf, cut.saturating_sub(LOOKBEHIND));
        self.buf.drain(..keep);
        self.ctx = cut - keep;
        out
    }
}

/// The first index of `needle` in `hay` (`str::find` of the same texts: a UTF-8 needle found
/// in UTF-8 text starts on a character boundary). Word at a time on the needle's first byte,
/// with no searcher to build per call: anchors are a few bytes and most texts are short.
fn find_literal(hay: &[u8], needle: &[u8]) -> Option<usize> {
    use crate::swar;
    let Some((&first, tail)) = needle.split_first() else {
        return Some(0);
    };
    let last_start = hay.len().checked_sub(needle.len())?;
    let matches_at = |i: usize| hay.get(i + 1..i + needle.len()) == Some(tail);
    let mut i = 0;
    while i <= last_start {
        if let Some(w) = swar::word(hay, i) {
            let hit = swar::eq(w, first);
            if hit == 0 {
                i += 8;
                continue;
            }
            i += swar::first(hit);
        } else if hay.get(i) != Some(&first) {
            i += 1;
            continue;
        }
        if i > last_start {
            return None;
        }
        if matches_at(i) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// What output validation decided over one answer (every text of it), for the
/// `x-guardrail-output` header, metrics and the log: rule ids and actions, never text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Fingerprint shingles found (the most in one text).
    pub leak_shingles: usize,
    pub canary: bool,
    /// (rule index, matches).
    pub rules: Vec<(usize, u32)>,
    pub refused: Option<Refusal>,
    /// The decision was applied (enforce mode).
    pub enforced: bool,
}

impl Report {
    pub fn merge(&mut self, v: &Verdict) {
        self.leak_shingles = self.leak_shingles.max(v.leak_shingles);
        self.canary |= v.canary;
        for (i, n) in &v.rules {
            match self.rules.iter_mut().find(|(j, _)| j == i) {
                Some((_, m)) => *m = m.saturating_add(*n),
                None => self.rules.push((*i, *n)),
            }
        }
        if self.refused.is_none() {
            self.refused = v.refused;
        }
    }

    pub fn is_clean(&self) -> bool {
        self.refused.is_none() && self.rules.is_empty()
    }

    /// What happened to the answer because of a leak: `replaced`, `blocked`, or `detected`
    /// (monitor mode).
    pub fn leak_action(&self, v: &OutputValidator) -> Option<&'static str> {
        if self.refused != Some(Refusal::Leak) {
            return None;
        }
        Some(match (self.enforced, v.leak_action) {
            (false, _) => "detected",
            (true, LeakAction::Replace) => "replaced",
            (true, LeakAction::Block) => "blocked",
        })
    }

    /// `(rule id, action)` of every unsafe rule that matched (`detected` in monitor mode).
    pub fn rule_actions<'a>(
        &'a self,
        v: &'a OutputValidator,
    ) -> impl Iterator<Item = (&'a str, &'static str)> + 'a {
        self.rules.iter().filter_map(move |(i, _)| {
            let r = v.rules.get(*i).filter(|r| !r.canary)?;
            Some((
                r.id.as_str(),
                if self.enforced {
                    r.action.as_str()
                } else {
                    "detected"
                },
            ))
        })
    }

    /// `x-guardrail-output`: `leak=replaced; unsafe=aws_access_key:flagged,jwt:redacted`.
    pub fn header(&self, v: &OutputValidator) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(a) = self.leak_action(v) {
            parts.push(format!("leak={a}"));
        }
        let rules: Vec<String> = self
            .rule_actions(v)
            .map(|(id, a)| format!("{id}:{a}"))
            .collect();
        if !rules.is_empty() {
            parts.push(format!("unsafe={}", rules.join(",")));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Metric names: `output.leak.<action>`, `output.unsafe.<rule id>.<action>`.
    pub fn metrics(&self, v: &OutputValidator) -> Vec<(String, i64)> {
        let mut m = Vec::new();
        if let Some(a) = self.leak_action(v) {
            m.push((format!("output.leak.{a}"), 1));
        }
        for (i, n) in &self.rules {
            let Some(r) = v.rules.get(*i).filter(|r| !r.canary) else {
                continue;
            };
            let a = if self.enforced {
                r.action.as_str()
            } else {
                "detected"
            };
            m.push((format!("output.unsafe.{}.{a}", r.id), i64::from(*n)));
        }
        m
    }

    /// One structured log line (JSON), without text.
    pub fn log_line(&self, v: &OutputValidator, request_id: &str) -> String {
        let rules: Vec<serde_json::Value> = self
            .rules
            .iter()
            .filter_map(|(i, n)| {
                let r = v.rules.get(*i).filter(|r| !r.canary)?;
                Some(serde_json::json!({"rule": r.id, "matches": n, "action": r.action.as_str()}))
            })
            .collect();
        serde_json::json!({
            "event": "guardrail_output",
            "request_id": request_id,
            "enforced": self.enforced,
            "leak": self.leak_action(v),
            "leak_shingles": self.leak_shingles,
            "canary": self.canary,
            "refused": match self.refused {
                Some(Refusal::Leak) => Some("leak"),
                Some(Refusal::Rule) => Some("rule"),
                None => None,
            },
            "unsafe": rules,
        })
        .to_string()
    }
}

pub mod response;

#[cfg(test)]
mod tests;
