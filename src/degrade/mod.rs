//! Graceful degradation: fallback answers for upstream failures, the end of a stream that
//! broke, and degradation levels from a sliding window of upstream outcomes.
//!
//! Pure (no `proxy_wasm`): the state machine in `crate::filter` calls it at a few points.
//!
//! - [`config`]: `degradation` in the plugin configuration.
//! - [`answer`]: OpenAI-shaped failure and fallback answers in the shape the client asked for
//!   (chat, legacy completions, Responses, Anthropic; JSON or SSE), and the final event of a
//!   stream that ended without its terminal event.
//! - [`health`]: the level machine over the shared-data [`crate::quota::Store`] (one key,
//!   compare-and-swap), with half-open probes for recovery.

pub mod answer;
pub mod config;
pub mod health;

pub use answer::{Dialect, StreamEnd};
pub use config::{DegradationConfig, DegradationPolicy, FailureAction};
pub use health::{Decision, Route};

/// The degradation levels, in order of severity. Their number is the gauge's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    #[default]
    Normal = 0,
    /// Requests go to the backup model (`model` rewritten, `x-guardrail-route: backup`).
    Limited = 1,
    /// Template answers by intent rules; nothing goes upstream (but probes).
    Minimal = 2,
    /// The fixed message; nothing goes upstream (but probes).
    Offline = 3,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::Limited => "limited",
            Level::Minimal => "minimal",
            Level::Offline => "offline",
        }
    }

    pub fn from_u8(n: u8) -> Level {
        match n {
            1 => Level::Limited,
            2 => Level::Minimal,
            3 => Level::Offline,
            _ => Level::Normal,
        }
    }
}

/// Which failure a response is (the key of `degradation.on_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The upstream answered 5xx itself.
    Upstream5xx,
    /// Envoy answered for an upstream it could not use: no healthy upstream, circuit-breaker
    /// overflow, connect failure, reset before the response started.
    Unavailable,
    /// Envoy's upstream request timeout (504).
    Timeout,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Upstream5xx => "upstream_5xx",
            Failure::Unavailable => "unavailable",
            Failure::Timeout => "timeout",
        }
    }

    /// Classifies a 5xx response from Envoy's `response.code_details` (`via_upstream` when the
    /// upstream answered; `no_healthy_upstream`, `upstream_reset_before_response_started{..}`,
    /// `response_timeout`... when Envoy did), or, without it, from the status and whether
    /// Envoy timed an upstream answer (`x-envoy-upstream-service-time`).
    pub fn classify(status: u32, code_details: Option<&[u8]>, upstream_timed: bool) -> Failure {
        if let Some(d) = code_details {
            if d == b"via_upstream" {
                return Failure::Upstream5xx;
            }
            if d.windows(7).any(|w| w == b"timeout") {
                return Failure::Timeout;
            }
            if !d.is_empty() {
                return Failure::Unavailable;
            }
        }
        if upstream_timed {
            Failure::Upstream5xx
        } else if status == 504 {
            Failure::Timeout
        } else {
            Failure::Unavailable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_classify_from_code_details_then_status() {
        let c = Failure::classify;
        assert_eq!(c(500, Some(b"via_upstream"), true), Failure::Upstream5xx);
        assert_eq!(c(503, Some(b"via_upstream"), true), Failure::Upstream5xx);
        assert_eq!(
            c(503, Some(b"no_healthy_upstream"), false),
            Failure::Unavailable
        );
        assert_eq!(
            c(
                503,
                Some(b"upstream_reset_before_response_started{overflow}"),
                false
            ),
            Failure::Unavailable
        );
        assert_eq!(c(504, Some(b"response_timeout"), false), Failure::Timeout);
        assert_eq!(c(504, None, false), Failure::Timeout);
        assert_eq!(c(503, None, false), Failure::Unavailable);
        assert_eq!(c(502, None, true), Failure::Upstream5xx);
    }

    #[test]
    fn levels_round_trip() {
        for l in [
            Level::Normal,
            Level::Limited,
            Level::Minimal,
            Level::Offline,
        ] {
            assert_eq!(Level::from_u8(l as u8), l);
        }
        assert_eq!(Level::from_u8(200), Level::Normal);
    }
}
