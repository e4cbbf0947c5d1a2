//! PII detection, reversible tokens and restoration.
//!
//! - `detect`: hand-written scanners (email, phone, SSN, card, IBAN, IP, secrets).
//! - `hmac`: HMAC-SHA256 for keyed tokens (key states precomputed once per engine).
//! - `prefilter`: a cheap pass that proves a text holds no PII value, key block or token, so
//!   the scanners (and any copy of the text) are skipped for most benign text.
//! - `vault`: the per-request memory of tokens issued and counts by type.
//! - `stream`: incremental restoration of streamed responses.
//!
//! Request side: each entity is anonymized (`[EMAIL_3f9a61c2]`, keyed HMAC, reversible),
//! redacted (`[EMAIL]`), only counted (`detect`) or ignored (`off`).
//! Response side (`pii.response`): `restore` turns this request's tokens back into the
//! caller's values and redacts PII the model produced that the caller never sent; `redact`
//! turns every token and every detected value into `[TYPE]`; `off` passes through. Tokens the
//! vault does not know are left as they are in `restore` mode (they were not issued for this
//! caller, so there is nothing to restore and nothing of theirs to hide). Private key blocks in
//! a response are always redacted.

mod detect;
pub(crate) mod hmac;
mod prefilter;
mod stream;
mod vault;

pub use stream::StreamRestorer;
pub use vault::PiiVault;

use crate::config::{ConfigError, Mode};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    Email,
    Phone,
    Ssn,
    CreditCard,
    Iban,
    IpAddress,
    Secret,
}

impl PiiKind {
    pub const ALL: [PiiKind; 7] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Ssn,
        PiiKind::CreditCard,
        PiiKind::Iban,
        PiiKind::IpAddress,
        PiiKind::Secret,
    ];
    /// Name inside tokens: `[EMAIL_3f9a61c2]`.
    pub fn token_name(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::Ssn => "SSN",
            PiiKind::CreditCard => "CREDIT_CARD",
            PiiKind::Iban => "IBAN",
            PiiKind::IpAddress => "IP_ADDRESS",
            PiiKind::Secret => "SECRET",
        }
    }
    /// Name in `x-guardrail-pii` and metrics: `email=1,phone=2`.
    pub fn label(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Ssn => "ssn",
            PiiKind::CreditCard => "credit_card",
            PiiKind::Iban => "iban",
            PiiKind::IpAddress => "ip_address",
            PiiKind::Secret => "secret",
        }
    }
    /// The irreversible placeholder: `[EMAIL]`.
    pub fn placeholder(self) -> String {
        self.placeholder_str().to_string()
    }
    pub(crate) fn placeholder_str(self) -> &'static str {
        match self {
            PiiKind::Email => "[EMAIL]",
            PiiKind::Phone => "[PHONE]",
            PiiKind::Ssn => "[SSN]",
            PiiKind::CreditCard => "[CREDIT_CARD]",
            PiiKind::Iban => "[IBAN]",
            PiiKind::IpAddress => "[IP_ADDRESS]",
            PiiKind::Secret => "[SECRET]",
        }
    }
    fn from_token_name(name: &str) -> Option<PiiKind> {
        PiiKind::ALL.into_iter().find(|k| k.token_name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityMode {
    #[default]
    Anonymize,
    Redact,
    Detect,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseMode {
    #[default]
    Restore,
    Redact,
    Off,
}

/// Per-entity request mode (`pii.entities`). Everything defaults to `anonymize` except
/// `secret`, which defaults to `redact`: a credential has no business reaching a model, and
/// nothing useful comes from restoring it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EntityModes {
    pub email: EntityMode,
    pub phone: EntityMode,
    pub ssn: EntityMode,
    pub credit_card: EntityMode,
    pub iban: EntityMode,
    pub ip_address: EntityMode,
    pub secret: EntityMode,
}

impl Default for EntityModes {
    fn default() -> Self {
        EntityModes {
            email: EntityMode::Anonymize,
            phone: EntityMode::Anonymize,
            ssn: EntityMode::Anonymize,
            credit_card: EntityMode::Anonymize,
            iban: EntityMode::Anonymize,
            ip_address: EntityMode::Anonymize,
            secret: EntityMode::Redact,
        }
    }
}

impl EntityModes {
    pub fn get(&self, kind: PiiKind) -> EntityMode {
        match kind {
            PiiKind::Email => self.email,
            PiiKind::Phone => self.phone,
            PiiKind::Ssn => self.ssn,
            PiiKind::CreditCard => self.credit_card,
            PiiKind::Iban => self.iban,
            PiiKind::IpAddress => self.ip_address,
            PiiKind::Secret => self.secret,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// Overrides the top-level `mode` for this feature.
    pub mode: Option<Mode>,
    pub response: ResponseMode,
    /// Token key (HMAC-SHA256); `GUARDRAIL_TOKEN_KEY` in the VM environment wins over it.
    pub token_key: Option<String>,
    /// Request-side mode per entity type.
    pub entities: EntityModes,
    /// Most distinct PII values one request may hold; a request with more is refused (413
    /// `too_many_pii_values`): each value is kept with its token until the answer is restored.
    pub max_values: usize,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            mode: None,
            response: ResponseMode::default(),
            token_key: None,
            entities: EntityModes::default(),
            max_values: 10_000,
        }
    }
}

/// One detected value: byte span in the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiMatch {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

/// The compiled PII configuration, shared by every request.
pub struct PiiEngine {
    pub mode: Option<Mode>,
    pub response: ResponseMode,
    pub entities: EntityModes,
    /// `pii.max_values`.
    pub max_values: usize,
    /// The token key's precomputed HMAC states.
    key: hmac::HmacKey,
    /// Kinds whose mode is not `off`, indexed by `PiiKind as usize`.
    enabled: [bool; 7],
}

impl std::fmt::Debug for PiiEngine {
    // The key stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiEngine")
            .field("mode", &self.mode)
            .field("response", &self.response)
            .field("entities", &self.entities)
            .finish_non_exhaustive()
    }
}

impl PiiEngine {
    /// `key` is the HMAC key the host resolved (env var, config, or random per VM). The host
    /// never passes an empty key (tokens would be an unkeyed hash, reversible by brute force
    /// for short values); an empty key is accepted so that tests can build settings.
    pub fn compile(cfg: &PiiConfig, key: Vec<u8>) -> Result<Self, ConfigError> {
        let mut enabled = [false; 7];
        for kind in PiiKind::ALL {
            enabled[kind as usize] = cfg.entities.get(kind) != EntityMode::Off;
        }
        if cfg.max_values == 0 {
            return Err(ConfigError::new(
                "pii.max_values",
                "expected a positive number of values",
            ));
        }
        Ok(PiiEngine {
            mode: cfg.mode,
            response: cfg.response,
            entities: cfg.entities,
            max_values: cfg.max_values,
            key: hmac::HmacKey::new(&key),
            enabled,
        })
    }

    pub fn is_enabled(&self, kind: PiiKind) -> bool {
        self.enabled[kind as usize]
    }

    /// Every PII value in `text` (kinds not `off`): byte spans, sorted, non-overlapping.
    pub fn detect(&self, text: &str) -> Vec<PiiMatch> {
        let mut out = Vec::new();
        if !prefilter::may_match(text.as_bytes(), false) {
            return out;
        }
        self.detect_full_into(text, &mut out);
        out
    }

    /// `detect` without the prefilter (tests compare the two).
    #[cfg(test)]
    pub(crate) fn detect_full(&self, text: &str) -> Vec<PiiMatch> {
        let mut out = Vec::new();
        self.detect_full_into(text, &mut out);
        out
    }

    fn detect_full_into(&self, text: &str, out: &mut Vec<PiiMatch>) {
        self.for_each_segment(text, |seg_text, from, block| match block {
            true => out.push(PiiMatch {
                kind: PiiKind::Secret,
                start: from,
                end: seg_text.len(),
            }),
            false => detect::scan(seg_text, from, &self.enabled, out),
        });
    }

    /// Splits `text` at private key blocks (when secrets are enabled) and calls
    /// `f(&text[..end], start, is_key_block)` for each piece in order.
    fn for_each_segment(&self, text: &str, mut f: impl FnMut(&str, usize, bool)) {
        let blocks = if self.is_enabled(PiiKind::Secret) {
            detect::key_blocks(text)
        } else {
            Vec::new()
        };
        let mut pos = 0;
        for (s, e) in blocks {
            if s > pos {
                f(text.get(..s).unwrap_or(""), pos, false);
            }
            f(text.get(..e).unwrap_or(""), s, true);
            pos = e;
        }
        if pos < text.len() || text.is_empty() {
            f(text, pos, false);
        }
    }

    /// Request side: applies each entity's mode; returns the new text if anything changed.
    /// Counts go into the vault; tokens issued are remembered in it for the response.
    pub fn anonymize(&self, text: &str, vault: &mut PiiVault) -> Option<String> {
        let matches = self.detect(text);
        self.apply(text, matches, vault)
    }

    /// `anonymize` for a value that stands under a label (a JSON key such as `ssn` or
    /// `card_number`): the value is read as if it followed `label: `, so that context words
    /// in the label count (a bare `123456789` is an SSN under `ssn`, not under `id`). Only
    /// values inside `text` are replaced; the label is never part of the result.
    ///
    /// `number`: `text` is a JSON number. A bare run of ten digits is then a phone number only
    /// under a phone label (`phone`, `mobile`...): ids, seeds and timestamps are digit runs
    /// too, and a number that becomes a token becomes a string.
    pub fn anonymize_labelled(
        &self,
        label: &str,
        text: &str,
        number: bool,
        vault: &mut PiiVault,
    ) -> Option<String> {
        let matches = self.find_labelled(label, text, number);
        self.apply(text, matches, vault)
    }

    /// The values [`PiiEngine::anonymize_labelled`] replaces in `text`: a pure function of
    /// (`label`, `text`, `number`) and the configuration (the verdict cache keeps it; the
    /// vault's tokens are applied per request by [`PiiEngine::apply_matches`]).
    pub fn find_labelled(&self, label: &str, text: &str, number: bool) -> Vec<PiiMatch> {
        if label.is_empty() && !number {
            return self.detect(text);
        }
        if !prefilter::may_match(text.as_bytes(), false) {
            return Vec::new();
        }
        // The label's tail (the context window is 48 bytes), `_`/`-` read as spaces and a
        // camelCase hump as a word start (`homeTel` reads `home Tel`: some phone words count
        // only at the start of a word).
        let mut from = label.len().saturating_sub(detect::CONTEXT_WINDOW);
        while !label.is_char_boundary(from) {
            from += 1;
        }
        let mut joined = String::with_capacity(label.len() - from + 2 + text.len());
        let mut prev = ' ';
        for c in label.get(from..).unwrap_or_default().chars() {
            if c.is_ascii_uppercase() && prev.is_ascii_lowercase() {
                joined.push(' ');
            }
            joined.push(if c == '_' || c == '-' { ' ' } else { c });
            prev = c;
        }
        joined.push_str(": ");
        let off = joined.len();
        joined.push_str(text);
        self.detect(&joined)
            .into_iter()
            .filter(|m| m.start >= off)
            .filter(|m| {
                !number
                    || m.kind != PiiKind::Phone
                    || detect::context_before(joined.as_bytes(), m.start).phone
            })
            .map(|m| PiiMatch {
                start: m.start - off,
                end: m.end - off,
                ..m
            })
            .collect()
    }

    /// Applies each entity's mode to `matches` found in `text` (by [`PiiEngine::detect`] or
    /// [`PiiEngine::find_labelled`]): tokens from the vault, counts and the caller's values
    /// into it. The new text if anything changed.
    pub fn apply_matches(
        &self,
        text: &str,
        matches: Vec<PiiMatch>,
        vault: &mut PiiVault,
    ) -> Option<String> {
        self.apply(text, matches, vault)
    }

    fn apply(&self, text: &str, matches: Vec<PiiMatch>, vault: &mut PiiVault) -> Option<String> {
        if matches.is_empty() {
            return None;
        }
        let mut per_kind = [0usize; 7];
        for m in &matches {
            if self.entities.get(m.kind) != EntityMode::Redact {
                per_kind[m.kind as usize] += 1;
            }
        }
        vault.reserve(&per_kind);
        let mut out = String::with_capacity(text.len() + 16 * matches.len());
        let mut pos = 0;
        let mut changed = false;
        for m in matches {
            let value = text.get(m.start..m.end).unwrap_or("");
            out.push_str(text.get(pos..m.start).unwrap_or(""));
            vault.count(m.kind);
            match self.entities.get(m.kind) {
                EntityMode::Anonymize => {
                    vault.push_token(m.kind, value, &self.key, &mut out);
                    changed = true;
                }
                EntityMode::Redact => {
                    out.push_str(m.kind.placeholder_str());
                    changed = true;
                }
                EntityMode::Detect | EntityMode::Off => {
                    vault.remember(m.kind, value);
                    out.push_str(value);
                }
            }
            pos = m.end;
        }
        out.push_str(text.get(pos..).unwrap_or(""));
        changed.then_some(out)
    }

    /// Response side for a complete text (JSON bodies): per `response` mode.
    pub fn restore(&self, text: &str, vault: &PiiVault) -> Option<String> {
        if self.response == ResponseMode::Off || !self.response_may_change(text.as_bytes()) {
            return None;
        }
        self.restore_full(text, vault)
    }

    /// `restore` without the prefilter (tests compare the two).
    pub(crate) fn restore_full(&self, text: &str, vault: &PiiVault) -> Option<String> {
        if self.response == ResponseMode::Off {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        self.for_each_segment(text, |seg_text, from, block| match block {
            true => out.push_str(PiiKind::Secret.placeholder_str()),
            false => self.respond_segment(seg_text, from, vault, &mut out),
        });
        (out != text).then_some(out)
    }

    /// False when the response side provably leaves `text` as it is (no token, PII value or
    /// key block can start in it): `restore` returns None and `respond_segment` copies it.
    pub(crate) fn response_may_change(&self, text: &[u8]) -> bool {
        prefilter::may_match(text, true)
    }

    pub fn stream_restorer(&self) -> StreamRestorer {
        StreamRestorer::default()
    }

    /// Response-side rewrite of `text[from..]` (no key blocks inside); `text[..from]` is
    /// look-behind context only.
    fn respond_segment(&self, text: &str, from: usize, vault: &PiiVault, out: &mut String) {
        let mut matches = Vec::new();
        detect::scan(text, from, &self.enabled, &mut matches);
        let tokens = find_tokens(text, from);
        let mut pos = from;
        let mut ti = 0;
        let mut mi = 0;
        loop {
            let tok = tokens.get(ti);
            let m = matches.get(mi);
            // Next event: the earlier of the next token and the next match not hit by a token.
            let take_token = match (tok, m) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(t), Some(m)) => {
                    if m.end > t.start && m.start < t.end {
                        mi += 1; // a match overlapping a token is ignored
                        continue;
                    }
                    t.start < m.start
                }
            };
            if take_token {
                let Some(t) = tok else { break };
                out.push_str(text.get(pos..t.start).unwrap_or(""));
                let raw = text.get(t.start..t.end).unwrap_or("");
                match self.response {
                    ResponseMode::Restore => out.push_str(vault.original(raw).unwrap_or(raw)),
                    _ => out.push_str(t.kind.placeholder_str()),
                }
                pos = t.end;
                ti += 1;
            } else {
                let Some(m) = m else { break };
                if m.start < pos {
                    mi += 1;
                    continue;
                }
                out.push_str(text.get(pos..m.start).unwrap_or(""));
                let value = text.get(m.start..m.end).unwrap_or("");
                if self.response == ResponseMode::Restore && vault.knows(m.kind, value) {
                    out.push_str(value);
                } else {
                    out.push_str(m.kind.placeholder_str());
                }
                pos = m.end;
                mi += 1;
            }
        }
        out.push_str(text.get(pos..).unwrap_or(""));
    }
}

/// A token found in a response: `[EMAIL_3f9a61c2]` (8 to 64 lowercase hex digits).
#[derive(Debug, Clone, Copy)]
struct TokenSpan {
    kind: PiiKind,
    start: usize,
    end: usize,
}

fn find_tokens(text: &str, from: usize) -> Vec<TokenSpan> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = from;
    while let Some(p) = detect::find(b, b"[", i) {
        i = p + 1;
        let Some(close) = b[p + 1..]
            .iter()
            .take(12 + 1 + 64 + 1)
            .position(|&c| c == b']')
        else {
            continue;
        };
        let inner = &b[p + 1..p + 1 + close];
        let Some(us) = inner.iter().rposition(|&c| c == b'_') else {
            continue;
        };
        let (name, hex) = (&inner[..us], &inner[us + 1..]);
        if !(8..=64).contains(&hex.len())
            || !hex
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        {
            continue;
        }
        let Some(kind) = std::str::from_utf8(name)
            .ok()
            .and_then(PiiKind::from_token_name)
        else {
            continue;
        };
        let end = p + close + 2;
        out.push(TokenSpan {
            kind,
            start: p,
            end,
        });
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn engine_with(json: &str) -> PiiEngine {
        let cfg: PiiConfig = serde_json::from_str(json).unwrap();
        PiiEngine::compile(&cfg, b"test-key".to_vec()).unwrap()
    }

    fn engine() -> PiiEngine {
        engine_with("{}")
    }

    fn stream(engine: &PiiEngine, vault: &PiiVault, text: &str, n: usize) -> String {
        stream_with(engine.stream_restorer(), engine, vault, text, n)
    }

    fn stream_with(
        mut r: StreamRestorer,
        engine: &PiiEngine,
        vault: &PiiVault,
        text: &str,
        n: usize,
    ) -> String {
        let mut out = String::new();
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(n) {
            out.push_str(&r.push(engine, vault, &piece.iter().collect::<String>()));
        }
        out.push_str(&r.finish(engine, vault));
        out
    }

    /// Deterministic generator of sentences with PII (own templates and values, not dev rows).
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn digits(&mut self, n: usize) -> String {
            (0..n)
                .map(|_| char::from(b'0' + self.below(10) as u8))
                .collect()
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len() as u64) as usize]
        }
        fn card(&mut self) -> String {
            let len = [12usize, 15, 16, 19][self.below(4) as usize];
            let mut d: Vec<u8> = std::iter::once(4u8)
                .chain((1..len - 1).map(|_| self.below(10) as u8))
                .collect();
            let sum: u32 = d
                .iter()
                .rev()
                .enumerate()
                .map(|(k, &x)| {
                    let v = x as u32 * if k % 2 == 0 { 2 } else { 1 };
                    if v > 9 {
                        v - 9
                    } else {
                        v
                    }
                })
                .sum();
            d.push(((10 - sum % 10) % 10) as u8);
            let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
            if len == 16 && self.below(2) == 0 {
                s.as_bytes()
                    .chunks(4)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                s
            }
        }
        fn iban(&mut self) -> String {
            let bban = self.digits(18);
            let num = format!("{bban}131400"); // "DE00" moved to the end: D=13 E=14
            let rem = num
                .bytes()
                .fold(0u32, |r, c| (r * 10 + (c - b'0') as u32) % 97);
            format!("DE{:02}{bban}", 98 - rem)
        }
        fn value(&mut self) -> String {
            match self.below(9) {
                0 => format!(
                    "{}.{}@{}.{}",
                    self.pick(&["anna", "bob", "j_r"]),
                    self.digits(2),
                    self.pick(&["mail", "web-de", "x"]),
                    self.pick(&["de", "com", "org"])
                ),
                1 => format!(
                    "{}-{}-{}",
                    200 + self.below(700),
                    self.digits(3),
                    self.digits(4)
                ),
                2 => format!("+49 {} {}", 30 + self.below(60), self.digits(7)),
                3 => format!("0{} {}", self.digits(4), self.digits(6)),
                4 => format!(
                    "{}-{:02}-{}",
                    100 + self.below(500),
                    1 + self.below(98),
                    1000 + self.below(8999)
                ),
                5 => self.card(),
                6 => self.iban(),
                7 => format!(
                    "{}.{}.{}.{}",
                    self.below(256),
                    self.below(256),
                    self.below(256),
                    self.below(256)
                ),
                _ => format!("2001:db8::{:x}:{:x}", self.below(65536), self.below(65536)),
            }
        }
        fn sentence(&mut self) -> String {
            let mut s = String::new();
            for _ in 0..(1 + self.below(4)) {
                s.push_str(self.pick(&[
                    "Please call ",
                    "Meine Nummer ist ",
                    "Mail an ",
                    "Grüße, ",
                    "card: ",
                    "see ",
                    "(",
                    "x ",
                    "Konto: ",
                    "IP=",
                    "€ 5, ",
                ]));
                s.push_str(&self.value());
                s.push_str(self.pick(&[". ", ", ", "\n", ") ", " und ", "! 😀 ", " "]));
            }
            s
        }
    }

    /// A JSON number under a label is a phone only under a phone label; a camelCase hump starts
    /// a word, where short phone words count (`homeTel`, `workFax`), and not inside one
    /// (`hotelId`, `halifaxRef`).
    #[test]
    fn labelled_number_phone_words_at_camel_case_humps() {
        let e = engine();
        let phone = |label: &str| {
            e.find_labelled(label, "4155550134", true)
                .iter()
                .any(|m| m.kind == PiiKind::Phone)
        };
        for label in [
            "homeTel",
            "workFax",
            "mobile_number",
            "contactPhone",
            "cellNo",
        ] {
            assert!(phone(label), "{label}");
        }
        for label in ["hotelId", "halifaxRef", "stringValue", "id", "seed"] {
            assert!(!phone(label), "{label}");
        }
    }

    #[test]
    fn round_trip_property_whole_and_streamed() {
        let engine = engine();
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        let mut tokens = 0;
        for _ in 0..300 {
            let text = g.sentence();
            let mut vault = PiiVault::default();
            let anon = engine
                .anonymize(&text, &mut vault)
                .unwrap_or_else(|| text.clone());
            tokens += vault.tokens_issued();
            let back = engine
                .restore(&anon, &vault)
                .unwrap_or_else(|| anon.clone());
            assert_eq!(back, text, "anonymized: {anon:?}");
            for n in [1, 3, 7] {
                assert_eq!(
                    stream(&engine, &vault, &anon, n),
                    text,
                    "split {n}, anonymized: {anon:?}"
                );
            }
        }
        assert!(
            tokens > 300,
            "the generator should produce detectable values ({tokens})"
        );
    }

    /// Issue 12, row 1: 130,000 copies of one e-mail grew a VM by 26 MiB: the vault reserved
    /// table room per match, not per distinct value.
    #[test]
    fn a_900_kb_text_dense_in_one_value_holds_bounded_memory() {
        let engine = engine();
        let text = "a@b.co ".repeat(131_000);
        let (out, peak) = crate::testutil::peak_heap(|| {
            let mut vault = PiiVault::default();
            engine.anonymize(&text, &mut vault).map(|o| o.len())
        });
        assert!(out.is_some_and(|n| n > text.len()));
        // The match list and the rewritten text (about 3 MiB each) dominate.
        assert!(
            peak < 14 * 1024 * 1024,
            "peak {:.1} MiB for {} bytes",
            peak as f64 / 1048576.0,
            text.len()
        );
    }

    #[test]
    fn stream_equals_whole_at_every_split_point() {
        let engine = engine();
        let mut vault = PiiVault::default();
        let req = "Ich bin anna@web.de, Tel. +49 30 1234567, Karte 4111 1111 1111 1111.";
        let anon = engine.anonymize(req, &mut vault).unwrap();
        // The model echoes a token, invents PII, and writes a token prefix that is not one.
        let resp = format!(
            "Hallo! Ich schreibe an {}. Neue Nummer: 030 9876543, Mail bot@evil.io, IP 10.0.0.7 [EMAIL_zz] fertig 😀",
            &anon[8..anon.find(',').unwrap()]
        );
        let whole = engine.restore(&resp, &vault).unwrap();
        assert!(whole.contains("anna@web.de"));
        assert!(
            whole.contains("[PHONE]")
                && whole.contains("[EMAIL]")
                && whole.contains("[IP_ADDRESS]")
        );
        for cut in 0..=resp.len() {
            if !resp.is_char_boundary(cut) {
                continue;
            }
            for cut2 in [cut, (cut + 7).min(resp.len())] {
                if !resp.is_char_boundary(cut2) {
                    continue;
                }
                let mut r = engine.stream_restorer();
                let mut out = r.push(&engine, &vault, &resp[..cut]);
                out.push_str(&r.push(&engine, &vault, &resp[cut..cut2]));
                out.push_str(&r.push(&engine, &vault, &resp[cut2..]));
                out.push_str(&r.finish(&engine, &vault));
                assert_eq!(out, whole, "split at {cut}/{cut2}");
            }
        }
    }

    #[test]
    fn request_modes_per_entity() {
        let engine = engine_with(
            r#"{"entities": {"phone": "redact", "ip_address": "detect", "iban": "off"}}"#,
        );
        let mut vault = PiiVault::default();
        let text =
            "a@b.de 555-123-4567 10.1.2.3 DE89370400440532013000 sk-abcdefghijklmnopqrstuvwxyz";
        let out = engine.anonymize(text, &mut vault).unwrap();
        let tok = vault.by_value_token(PiiKind::Email, "a@b.de").unwrap();
        assert_eq!(
            out,
            format!("{tok} [PHONE] 10.1.2.3 DE89370400440532013000 [SECRET]")
        );
        assert_eq!(
            vault.counts_header().as_deref(),
            Some("email=1,phone=1,ip_address=1,secret=1")
        );
        assert!(tok.starts_with("[EMAIL_") && tok.len() == "[EMAIL_".len() + 9);
        // Detect-only values are the caller's own: echoed back unredacted.
        assert_eq!(
            engine.restore("IP 10.1.2.3 and 10.9.9.9", &vault).unwrap(),
            "IP 10.1.2.3 and [IP_ADDRESS]"
        );
        let mut v2 = PiiVault::default();
        assert_eq!(engine.anonymize("nothing here", &mut v2), None);
        assert_eq!(v2.counts_header(), None);
    }

    #[test]
    fn response_modes() {
        let mut vault = PiiVault::default();
        let restore = engine();
        let anon = restore.anonymize("mail a@b.de", &mut vault).unwrap();
        let tok = &anon[5..];
        let resp = format!("ok {tok}, also c@d.de and [EMAIL_0123456789]");
        assert_eq!(
            restore.restore(&resp, &vault).unwrap(),
            "ok a@b.de, also [EMAIL] and [EMAIL_0123456789]"
        );
        let redact = engine_with(r#"{"response": "redact"}"#);
        assert_eq!(
            redact.restore(&resp, &vault).unwrap(),
            "ok [EMAIL], also [EMAIL] and [EMAIL]"
        );
        assert_eq!(
            redact.restore("echo a@b.de", &vault).unwrap(),
            "echo [EMAIL]"
        );
        let off = engine_with(r#"{"response": "off"}"#);
        assert_eq!(off.restore(&resp, &vault), None);
        let mut r = off.stream_restorer();
        assert_eq!(r.push(&off, &vault, "a@b"), "a@b");
        // The caller's own value echoed raw stays in restore mode.
        assert_eq!(restore.restore("you said a@b.de", &vault), None);
    }

    #[test]
    fn config_is_strict() {
        assert!(serde_json::from_str::<PiiConfig>(r#"{"entities": {"fax": "redact"}}"#).is_err());
        assert!(serde_json::from_str::<PiiConfig>(r#"{"entites": {}}"#).is_err());
        assert!(serde_json::from_str::<PiiConfig>(r#"{"entities": {"email": "hide"}}"#).is_err());
        let cfg = PiiConfig::default();
        assert_eq!(cfg.entities.secret, EntityMode::Redact);
        assert_eq!(cfg.entities.email, EntityMode::Anonymize);
    }

    #[test]
    fn detect_reports_sorted_spans_and_key_blocks() {
        let e = engine();
        let t = "x -----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY----- then a@b.de";
        let m = e.detect(t);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].kind, PiiKind::Secret);
        assert_eq!(&t[m[1].start..m[1].end], "a@b.de");
        let mut v = PiiVault::default();
        assert_eq!(
            e.anonymize(t, &mut v)
                .unwrap()
                .split(' ')
                .take(3)
                .collect::<Vec<_>>(),
            vec!["x", "[SECRET]", "then"]
        );
    }

    /// Adversarial texts: PII pieces, token pieces, unicode, key block markers, near misses.
    fn adversarial(g: &mut Gen) -> String {
        let alphabet = [
            "a",
            "1",
            "12",
            "123",
            " ",
            "-",
            ".",
            "@",
            ":",
            "(",
            ")",
            "+",
            "[",
            "]",
            "_",
            "ü",
            "😀",
            "\n",
            "x",
            "D",
            "E",
            "DE89",
            "sk-",
            "AKIA",
            "ghp_",
            "xoxb-",
            "github_pat_",
            "-----BEGIN PRIVATE KEY-----",
            "PRIVATE KEY-----",
            "[EMAIL_",
            "3f9a61c2]",
            "[PHONE]",
            "phone ",
            "card ",
            "0",
            "abcdefghijklmnopqrstuvwxyz",
            "ABCDEFGHIJKLMNOP",
            "a@b.de",
            "555-123-4567",
            "10.0.0.1",
            "fe80::1",
            "4111 1111 1111 1111",
        ];
        let mut s: String = (0..g.below(40)).map(|_| g.pick(&alphabet)).collect();
        if g.below(3) == 0 {
            s.push_str(&g.sentence());
        }
        s
    }

    #[test]
    fn prefilter_fast_paths_change_nothing() {
        let engines = [
            engine(),
            engine_with(r#"{"response": "redact"}"#),
            engine_with(r#"{"entities": {"secret": "off", "email": "detect"}}"#),
        ];
        let mut g = Gen(0xDEAD_BEEF_1234_5678);
        for _ in 0..3000 {
            let req = adversarial(&mut g);
            let resp = adversarial(&mut g);
            for e in &engines {
                assert_eq!(e.detect(&req), e.detect_full(&req), "detect {req:?}");
                let mut vault = PiiVault::default();
                let anon = e.anonymize(&req, &mut vault).unwrap_or_else(|| req.clone());
                for text in [&anon, &resp, &req] {
                    assert_eq!(
                        e.restore(text, &vault),
                        e.restore_full(text, &vault),
                        "restore {text:?}"
                    );
                    // Empty vault: only newly invented PII can change the text.
                    let empty = PiiVault::default();
                    assert_eq!(
                        e.restore(text, &empty),
                        e.restore_full(text, &empty),
                        "restore {text:?}"
                    );
                    // Streamed: pieces emitted without a scan when nothing can match in
                    // them give what scanning every piece gives.
                    for n in [1, 4] {
                        let mut full = e.stream_restorer();
                        full.full_scan = true;
                        assert_eq!(
                            stream(e, &vault, text, n),
                            stream_with(full, e, &vault, text, n),
                            "stream {n} {text:?}"
                        );
                    }
                }
            }
        }
        // Plain prose: nothing found, nothing copied.
        let e = engine();
        let prose = "The quarterly report needs a clearer summary. Grüße! ".repeat(50);
        assert!(e.detect(&prose).is_empty());
        assert_eq!(e.restore(&prose, &PiiVault::default()), None);
        assert_eq!(e.restore("", &PiiVault::default()), None);
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        let e = engine();
        let mut g = Gen(42);
        let alphabet = [
            "a",
            "1",
            " ",
            "-",
            ".",
            "@",
            ":",
            "(",
            ")",
            "+",
            "[",
            "]",
            "_",
            "ü",
            "😀",
            "\n",
            "x",
            "D",
            "E",
            "-----BEGIN PRIVATE KEY-----",
            "[EMAIL_",
            "0",
        ];
        for _ in 0..500 {
            let s: String = (0..g.below(60)).map(|_| g.pick(&alphabet)).collect();
            let mut v = PiiVault::default();
            let anon = e.anonymize(&s, &mut v).unwrap_or_else(|| s.clone());
            let whole = e.restore(&anon, &v).unwrap_or_else(|| anon.clone());
            assert_eq!(stream(&e, &v, &anon, 1), whole, "input {s:?}");
            assert_eq!(stream(&e, &v, &anon, 3), whole, "input {s:?}");
        }
    }
}
