//! Per-user quotas and a system budget over a compare-and-swap store.
//! (Skeleton: filled in by the quota work.)

use crate::config::ConfigError;
use serde::Deserialize;

/// Shared key/value store with compare-and-swap (proxy-wasm shared data in the host; an
/// in-memory map in tests; later a fleet-wide backend).
pub trait Store {
    /// Current value and its CAS token, or None when the key was never set.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError>;
    /// Writes `value` if the key's CAS token is still `cas` (None: the key must be unset).
    /// Ok(false) means somebody else wrote first: read again and retry.
    fn compare_and_swap(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<bool, StoreError>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(pub String);

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {}

/// What the request body tells about its cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageEstimate {
    pub model: Option<String>,
    pub prompt_tokens: u64,
    /// `max_tokens` / `max_completion_tokens` if the request set one.
    pub max_completion_tokens: Option<u64>,
}

/// Real usage from the response's `usage` object (or estimated from streamed text).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Who the request is for, resolved from headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub user: String,
    pub tier: String,
}

/// A refused request: the host answers with `status` and an OpenAI-shaped error.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaRejection {
    pub status: u32,
    pub error_type: &'static str,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    pub headers: Vec<(String, String)>,
}

/// An admitted request: what was reserved, headers for the response, and any routing change.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    pub headers: Vec<(String, String)>,
    /// Rewrite `model` to this cheaper model.
    pub route_model: Option<String>,
    /// Clamp `max_tokens` to this.
    pub clamp_max_tokens: Option<u64>,
}

pub struct QuotaPolicy {}

impl QuotaPolicy {
    pub fn compile(_cfg: &QuotaConfig) -> Result<Self, ConfigError> {
        Ok(QuotaPolicy {})
    }
}
