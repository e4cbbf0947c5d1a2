//! PII detection, reversible tokens and restoration.
//!
//! - `detect`: hand-written scanners (email, phone, SSN, card, IBAN, IP, secrets).
//! - `hmac`: HMAC-SHA256 for keyed tokens.
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
mod hmac;
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
        format!("[{}]", self.token_name())
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// Overrides the top-level `mode` for this feature.
    pub mode: Option<Mode>,
    pub response: ResponseMode,
    /// Token key (HMAC-SHA256); `GUARDRAIL_TOKEN_KEY` in the VM environment wins over it.
    pub token_key: Option<String>,
    /// Request-side mode per entity type.
    pub entities: EntityModes,
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
    key: Vec<u8>,
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
    /// `key` is the HMAC key the host resolved (env var, config, or random per VM). An empty
    /// key is refused: it would make tokens a bare hash, reversible by brute force.
    pub fn compile(cfg: &PiiConfig, key: Vec<u8>) -> Result<Self, ConfigError> {
        if key.is_empty() {
            return Err(ConfigError::new("pii.token_key", "the token key must not be empty"));
        }
        let mut enabled = [false; 7];
        for kind in PiiKind::ALL {
            enabled[kind as usize] = cfg.entities.get(kind) != EntityMode::Off;
        }
        Ok(PiiEngine { mode: cfg.mode, response: cfg.response, entities: cfg.entities, key, enabled })
    }

    pub fn is_enabled(&self, kind: PiiKind) -> bool {
        self.enabled[kind as usize]
    }

    /// Every PII value in `text` (kinds not `off`): byte spans, sorted, non-overlapping.
    pub fn detect(&self, text: &str) -> Vec<PiiMatch> {
        let mut out = Vec::new();
        self.for_each_segment(text, |seg_text, from, block| match block {
            true => out.push(PiiMatch { kind: PiiKind::Secret, start: from, end: seg_text.len() }),
            false => detect::scan(seg_text, from, &self.enabled, &mut out),
        });
        out
    }

    /// Splits `text` at private key blocks (when secrets are enabled) and calls
    /// `f(&text[..end], start, is_key_block)` for each piece in order.
    fn for_each_segment(&self, text: &str, mut f: impl FnMut(&str, usize, bool)) {
        let blocks = if self.is_enabled(PiiKind::Secret) { detect::key_blocks(text) } else { Vec::new() };
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
        if matches.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len() + 16 * matches.len());
        let mut pos = 0;
        let mut changed = false;
        for m in matches {
            let value = text.get(m.start..m.end).unwrap_or("");
            out.push_str(text.get(pos..m.start).unwrap_or(""));
            vault.count(m.kind);
            match self.entities.get(m.kind) {
                EntityMode::Anonymize => {
                    out.push_str(&vault.token_for(m.kind, value, &self.key));
                    changed = true;
                }
                EntityMode::Redact => {
                    out.push_str(&m.kind.placeholder());
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
        if self.response == ResponseMode::Off {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        self.for_each_segment(text, |seg_text, from, block| match block {
            true => out.push_str(&PiiKind::Secret.placeholder()),
            false => self.respond_segment(seg_text, from, vault, &mut out),
        });
        (out != text).then_some(out)
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
                    _ => out.push_str(&t.kind.placeholder()),
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
                    out.push_str(&m.kind.placeholder());
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
        let Some(close) = b[p + 1..].iter().take(12 + 1 + 64 + 1).position(|&c| c == b']') else { continue };
        let inner = &b[p + 1..p + 1 + close];
        let Some(us) = inner.iter().rposition(|&c| c == b'_') else { continue };
        let (name, hex) = (&inner[..us], &inner[us + 1..]);
        if !(8..=64).contains(&hex.len()) || !hex.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)) {
            continue;
        }
        let Some(kind) = std::str::from_utf8(name).ok().and_then(PiiKind::from_token_name) else { continue };
        let end = p + close + 2;
        out.push(TokenSpan { kind, start: p, end });
        i = end;
    }
    out
}

