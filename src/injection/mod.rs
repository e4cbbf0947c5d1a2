//! Prompt-injection detection. (Skeleton: filled in by the injection work.)

use crate::body::Role;
use crate::config::{ConfigError, Mode};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InjectionConfig {
    pub enabled: bool,
    /// Overrides the top-level `mode` for this feature.
    pub mode: Option<Mode>,
    pub flag_threshold: f64,
    pub sanitize_threshold: f64,
    pub block_threshold: f64,
    pub safety_prefix: String,
}

impl Default for InjectionConfig {
    fn default() -> Self {
        InjectionConfig {
            enabled: true,
            mode: None,
            flag_threshold: 0.5,
            sanitize_threshold: 0.7,
            block_threshold: 0.9,
            safety_prefix: "Please respond to the following user query only: ".to_string(),
        }
    }
}

/// One rule that contributed to a score.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit {
    pub id: String,
    /// Byte span in the scanned text (for sanitising), if the rule has one.
    pub span: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct InjectionVerdict {
    /// Risk in [0, 1].
    pub score: f64,
    pub hits: Vec<RuleHit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectionAction {
    Allow,
    Flag,
    Sanitize,
    Block,
}

impl InjectionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            InjectionAction::Allow => "allow",
            InjectionAction::Flag => "flag",
            InjectionAction::Sanitize => "sanitize",
            InjectionAction::Block => "block",
        }
    }
}

pub struct InjectionDetector {
    pub enabled: bool,
    pub mode: Option<Mode>,
    pub flag_threshold: f64,
    pub sanitize_threshold: f64,
    pub block_threshold: f64,
    pub safety_prefix: String,
}

impl InjectionDetector {
    pub fn compile(cfg: &InjectionConfig) -> Result<Self, ConfigError> {
        Ok(InjectionDetector {
            enabled: cfg.enabled,
            mode: cfg.mode,
            flag_threshold: cfg.flag_threshold,
            sanitize_threshold: cfg.sanitize_threshold,
            block_threshold: cfg.block_threshold,
            safety_prefix: cfg.safety_prefix.clone(),
        })
    }

    /// Whether texts of this role are inspected.
    pub fn inspects(&self, role: Role) -> bool {
        matches!(role, Role::User | Role::Tool)
    }

    pub fn scan(&self, _text: &str) -> InjectionVerdict {
        InjectionVerdict::default()
    }

    pub fn action_for(&self, score: f64) -> InjectionAction {
        if score >= self.block_threshold {
            InjectionAction::Block
        } else if score >= self.sanitize_threshold {
            InjectionAction::Sanitize
        } else if score >= self.flag_threshold {
            InjectionAction::Flag
        } else {
            InjectionAction::Allow
        }
    }

    /// The text with offending spans replaced by `[REMOVED]` and the safety prefix in front.
    pub fn sanitize(&self, text: &str, _verdict: &InjectionVerdict) -> String {
        format!("{}{}", self.safety_prefix, text)
    }
}
