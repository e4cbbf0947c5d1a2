//! `degradation` in the plugin configuration: what a failure answers, and the levels.

use super::Level;
use crate::config::ConfigError;
use serde::Deserialize;

/// What an upstream failure of one class becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    /// An OpenAI-shaped error (status kept 5xx, `retry-after`): SDKs raise their server error.
    #[default]
    Error,
    /// A 200 answer (JSON, or SSE ending in `data: [DONE]` for a stream) carrying
    /// `degradation.answer`.
    Answer,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnFailureConfig {
    /// The upstream answered 5xx.
    pub upstream_5xx: FailureAction,
    /// Envoy's own 503: no healthy upstream, circuit-breaker overflow, connect failure.
    pub unavailable: FailureAction,
    /// Envoy's 504 upstream request timeout.
    pub timeout: FailureAction,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntentConfig {
    /// Names the rule in logs and metrics (a bounded set: from configuration).
    pub id: String,
    /// Lower-case phrases; one found in the last user message picks this rule.
    pub phrases: Vec<String>,
    pub answer: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelsConfig {
    /// Length of the sliding window of upstream outcomes (10 buckets).
    pub window_secs: u64,
    /// Fewest outcomes in the window before its failure rate counts.
    pub min_requests: u32,
    /// Failure rate (0 to 1) at which a route is unhealthy.
    pub failure_rate: f64,
    /// The backup model of level `limited`; without it an unhealthy primary goes to `minimal`.
    pub backup_model: Option<String>,
    /// While degraded, one request per interval goes to the primary as a probe.
    pub probe_interval_secs: u64,
    /// Successful probes in a row that bring the level back to `normal`.
    pub recover_probes: u32,
    /// `minimal` turns `offline` after this long (0: never).
    pub offline_after_secs: u64,
    /// Intent rules of level `minimal`, first match wins; no match answers `offline_message`.
    pub intents: Vec<IntentConfig>,
    /// The fixed message of level `offline`.
    pub offline_message: String,
    /// Pins the level (maintenance): `normal`, `limited`, `minimal` or `offline`.
    pub force: Option<String>,
}

impl Default for LevelsConfig {
    fn default() -> Self {
        LevelsConfig {
            window_secs: 30,
            min_requests: 5,
            failure_rate: 0.5,
            backup_model: None,
            probe_interval_secs: 10,
            recover_probes: 1,
            offline_after_secs: 0,
            intents: Vec::new(),
            offline_message: "The assistant is offline at the moment. Please try again later."
                .to_string(),
            force: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DegradationConfig {
    pub on_failure: OnFailureConfig,
    /// `retry-after` (seconds) on failure errors.
    pub retry_after_secs: u64,
    /// The message of an `answer`.
    pub answer: String,
    /// Degradation levels: off when absent.
    pub levels: Option<LevelsConfig>,
}

impl Default for DegradationConfig {
    fn default() -> Self {
        DegradationConfig {
            on_failure: OnFailureConfig::default(),
            retry_after_secs: 5,
            answer: "The assistant is temporarily unavailable. Please try again in a moment."
                .to_string(),
            levels: None,
        }
    }
}

/// Compiled `levels`.
#[derive(Debug, Clone)]
pub struct Levels {
    pub bucket_secs: u64,
    pub min_requests: u32,
    pub failure_rate: f64,
    pub backup_model: Option<String>,
    pub probe_interval_secs: u64,
    pub recover_probes: u32,
    pub offline_after_secs: u64,
    pub intents: Vec<IntentConfig>,
    pub offline_message: String,
    pub force: Option<Level>,
}

/// Compiled `degradation`.
#[derive(Debug, Clone)]
pub struct DegradationPolicy {
    pub on_failure: OnFailureConfig,
    pub retry_after_secs: u64,
    pub answer: String,
    pub levels: Option<Levels>,
}

impl Default for DegradationPolicy {
    fn default() -> Self {
        // `DegradationConfig::default()` always compiles.
        DegradationPolicy::compile(&DegradationConfig::default()).unwrap_or(DegradationPolicy {
            on_failure: OnFailureConfig::default(),
            retry_after_secs: 5,
            answer: String::new(),
            levels: None,
        })
    }
}

fn field(name: &str) -> String {
    format!("degradation.{name}")
}

impl DegradationPolicy {
    pub fn compile(cfg: &DegradationConfig) -> Result<DegradationPolicy, ConfigError> {
        if cfg.answer.trim().is_empty() {
            return Err(ConfigError::new(field("answer"), "expected a message"));
        }
        if cfg.retry_after_secs > 86_400 {
            return Err(ConfigError::new(
                field("retry_after_secs"),
                "expected at most 86400 seconds",
            ));
        }
        let levels = match &cfg.levels {
            None => None,
            Some(l) => Some(Self::compile_levels(l)?),
        };
        Ok(DegradationPolicy {
            on_failure: cfg.on_failure.clone(),
            retry_after_secs: cfg.retry_after_secs,
            answer: cfg.answer.clone(),
            levels,
        })
    }

    fn compile_levels(l: &LevelsConfig) -> Result<Levels, ConfigError> {
        if l.window_secs < 10 || l.window_secs > 3600 {
            return Err(ConfigError::new(
                field("levels.window_secs"),
                "expected 10 to 3600 seconds",
            ));
        }
        if l.min_requests == 0 {
            return Err(ConfigError::new(
                field("levels.min_requests"),
                "expected at least 1",
            ));
        }
        if !(l.failure_rate > 0.0 && l.failure_rate <= 1.0) {
            return Err(ConfigError::new(
                field("levels.failure_rate"),
                "expected a rate above 0 and at most 1",
            ));
        }
        if l.probe_interval_secs == 0 {
            return Err(ConfigError::new(
                field("levels.probe_interval_secs"),
                "expected at least 1 second",
            ));
        }
        if l.recover_probes == 0 {
            return Err(ConfigError::new(
                field("levels.recover_probes"),
                "expected at least 1",
            ));
        }
        if l.backup_model
            .as_ref()
            .is_some_and(|m| m.trim().is_empty() || m.contains(['"', '\\']))
        {
            return Err(ConfigError::new(
                field("levels.backup_model"),
                "expected a model name (no quotes or backslashes)",
            ));
        }
        if l.offline_message.trim().is_empty() {
            return Err(ConfigError::new(
                field("levels.offline_message"),
                "expected a message",
            ));
        }
        let mut intents = Vec::with_capacity(l.intents.len());
        for (i, it) in l.intents.iter().enumerate() {
            if it.id.is_empty()
                || !it
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(ConfigError::new(
                    field(&format!("levels.intents[{i}].id")),
                    "expected an id of letters, digits, '_' and '-'",
                ));
            }
            if it.phrases.is_empty() || it.phrases.iter().any(|p| p.trim().is_empty()) {
                return Err(ConfigError::new(
                    field(&format!("levels.intents[{i}].phrases")),
                    "expected at least one non-empty phrase",
                ));
            }
            if it.answer.trim().is_empty() {
                return Err(ConfigError::new(
                    field(&format!("levels.intents[{i}].answer")),
                    "expected an answer",
                ));
            }
            intents.push(IntentConfig {
                id: it.id.clone(),
                phrases: it.phrases.iter().map(|p| p.to_lowercase()).collect(),
                answer: it.answer.clone(),
            });
        }
        let force = match l.force.as_deref() {
            None => None,
            Some("normal") => Some(Level::Normal),
            Some("limited") => Some(Level::Limited),
            Some("minimal") => Some(Level::Minimal),
            Some("offline") => Some(Level::Offline),
            Some(other) => {
                return Err(ConfigError::new(
                    field("levels.force"),
                    format!("expected normal, limited, minimal or offline, got {other:?}"),
                ))
            }
        };
        if force == Some(Level::Limited) && l.backup_model.is_none() {
            return Err(ConfigError::new(
                field("levels.force"),
                "level limited needs levels.backup_model",
            ));
        }
        Ok(Levels {
            bucket_secs: (l.window_secs / super::health::BUCKETS as u64).max(1),
            min_requests: l.min_requests,
            failure_rate: l.failure_rate,
            backup_model: l.backup_model.clone(),
            probe_interval_secs: l.probe_interval_secs,
            recover_probes: l.recover_probes,
            offline_after_secs: l.offline_after_secs,
            intents,
            offline_message: l.offline_message.clone(),
            force,
        })
    }

    pub fn action(&self, f: super::Failure) -> FailureAction {
        match f {
            super::Failure::Upstream5xx => self.on_failure.upstream_5xx,
            super::Failure::Unavailable => self.on_failure.unavailable,
            super::Failure::Timeout => self.on_failure.timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(json: &str) -> Result<DegradationPolicy, ConfigError> {
        let cfg: DegradationConfig = match serde_json::from_str(json) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        DegradationPolicy::compile(&cfg)
    }

    #[test]
    fn defaults_answer_error_with_retry_after_and_no_levels() {
        let p = DegradationPolicy::default();
        assert_eq!(p.on_failure.upstream_5xx, FailureAction::Error);
        assert_eq!(p.on_failure.unavailable, FailureAction::Error);
        assert_eq!(p.on_failure.timeout, FailureAction::Error);
        assert_eq!(p.retry_after_secs, 5);
        assert!(p.levels.is_none());
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (r#"{"answer": " "}"#, "degradation.answer"),
            (
                r#"{"levels": {"window_secs": 5}}"#,
                "degradation.levels.window_secs",
            ),
            (
                r#"{"levels": {"failure_rate": 0}}"#,
                "degradation.levels.failure_rate",
            ),
            (
                r#"{"levels": {"failure_rate": 1.5}}"#,
                "degradation.levels.failure_rate",
            ),
            (
                r#"{"levels": {"min_requests": 0}}"#,
                "degradation.levels.min_requests",
            ),
            (
                r#"{"levels": {"backup_model": "a\"b"}}"#,
                "degradation.levels.backup_model",
            ),
            (
                r#"{"levels": {"intents": [{"id": "x y", "phrases": ["a"], "answer": "b"}]}}"#,
                "degradation.levels.intents[0].id",
            ),
            (
                r#"{"levels": {"intents": [{"id": "x", "phrases": [], "answer": "b"}]}}"#,
                "degradation.levels.intents[0].phrases",
            ),
            (
                r#"{"levels": {"force": "broken"}}"#,
                "degradation.levels.force",
            ),
            (
                r#"{"levels": {"force": "limited"}}"#,
                "degradation.levels.force",
            ),
        ];
        for (json, f) in cases {
            match compile(json) {
                Err(e) => assert_eq!(e.field, f, "{json}"),
                Ok(_) => panic!("accepted {json}"),
            }
        }
    }

    #[test]
    fn levels_compile_with_lower_case_phrases() {
        let p = compile(
            r#"{"on_failure": {"timeout": "answer"}, "levels": {"backup_model": "small",
                "intents": [{"id": "hours", "phrases": ["Opening Hours"], "answer": "9 to 5"}]}}"#,
        );
        let p = match p {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(p.on_failure.timeout, FailureAction::Answer);
        let l = match p.levels {
            Some(l) => l,
            None => panic!("no levels"),
        };
        assert_eq!(l.bucket_secs, 3);
        assert_eq!(l.intents[0].phrases, vec!["opening hours".to_string()]);
    }
}
