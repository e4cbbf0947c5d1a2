//! Plugin configuration: one serde schema, validated and compiled once in `on_configure`.
//!
//! Every struct denies unknown fields and has defaults, so `{}` is a valid configuration.
//! A bad configuration yields a [`ConfigError`] that names the offending field.

use serde::Deserialize;
use std::fmt;

/// Why a configuration was refused: the dotted path of the field and what was expected.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid plugin configuration: field `{}`: {}", self.field, self.message)
    }
}

/// `enforce` (default) acts on decisions; `monitor` computes, logs, counts and reports them
/// but never blocks, rewrites or rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Monitor,
}
