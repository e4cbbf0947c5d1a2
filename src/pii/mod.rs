//! PII detection, reversible tokens and restoration. (Skeleton: filled in by the PII work.)

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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// Overrides the top-level `mode` for this feature.
    pub mode: Option<Mode>,
    pub response: ResponseMode,
    /// Token key (HMAC-SHA256); `GUARDRAIL_TOKEN_KEY` in the VM environment wins over it.
    pub token_key: Option<String>,
}

/// One detected value: byte span in the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiMatch {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

/// Per-request memory of tokens issued (token -> original value) and counts by type.
#[derive(Debug, Default)]
pub struct PiiVault {
    pub counts: Vec<(PiiKind, u32)>,
}

impl PiiVault {
    /// `email=1,phone=2`, or None when nothing was found.
    pub fn counts_header(&self) -> Option<String> {
        None
    }
}

pub struct PiiEngine {
    pub mode: Option<Mode>,
    pub response: ResponseMode,
}

impl PiiEngine {
    /// `key` is the HMAC key the host resolved (env var, config, or random per VM).
    pub fn compile(cfg: &PiiConfig, _key: Vec<u8>) -> Result<Self, ConfigError> {
        Ok(PiiEngine { mode: cfg.mode, response: cfg.response })
    }

    pub fn detect(&self, _text: &str) -> Vec<PiiMatch> {
        Vec::new()
    }

    /// Request side: applies each entity's mode; returns the new text if anything changed.
    /// Counts go into the vault; tokens issued are remembered in it for the response.
    pub fn anonymize(&self, _text: &str, _vault: &mut PiiVault) -> Option<String> {
        None
    }

    /// Response side for a complete text (JSON bodies): per `response` mode.
    pub fn restore(&self, _text: &str, _vault: &PiiVault) -> Option<String> {
        None
    }

    pub fn stream_restorer(&self) -> StreamRestorer {
        StreamRestorer::default()
    }
}

/// Incremental restoration for streamed text: holds back only bytes that could still start a
/// token or a PII value.
#[derive(Debug, Default)]
pub struct StreamRestorer {
    held: String,
}

impl StreamRestorer {
    pub fn push(&mut self, _engine: &PiiEngine, _vault: &PiiVault, chunk: &str) -> String {
        let mut out = std::mem::take(&mut self.held);
        out.push_str(chunk);
        out
    }
    pub fn finish(&mut self, _engine: &PiiEngine, _vault: &PiiVault) -> String {
        std::mem::take(&mut self.held)
    }
}
