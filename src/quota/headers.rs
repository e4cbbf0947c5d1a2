//! Quota response headers.
//!
//! For each limit the user's tier has:
//! - requests: `x-ratelimit-limit-requests: 5`, `x-ratelimit-remaining-requests: 4`,
//!   `x-ratelimit-reset-requests: 6h12m5s` (OpenAI's names and duration style);
//! - tokens: the same trio with `-tokens`;
//! - both, IETF draft-ietf-httpapi-ratelimit-headers (structured fields, draft 08 and later):
//!   `ratelimit-policy: "requests";q=5;w=86400, "tokens";q=10000;w=86400` and
//!   `ratelimit: "requests";r=4;t=22325, "tokens";r=9000;t=22325`;
//! - cost: `x-guardrail-budget-limit-usd: 1.000000`, `x-guardrail-budget-remaining-usd:
//!   0.999975` (six decimals, exact micro-USD).
//!
//! Windows are UTC days, so every reset is the time to the next UTC midnight.

use super::config::Tier;
use super::ledger::{Counters, SECS_PER_DAY};

/// Seconds until the next UTC midnight (1 to 86400).
pub(crate) fn secs_to_midnight(now: u64) -> u64 {
    SECS_PER_DAY - now % SECS_PER_DAY
}

/// OpenAI's reset style: `6h12m5s`, `6m0s`, `1s`.
pub(crate) fn openai_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Micro-USD as USD with six decimals.
pub(crate) fn usd(micro: u64) -> String {
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

/// The headers for a user of `tier` whose counters (including any reservation of this
/// request) are `used`.
pub(crate) fn render(tier: &Tier, used: &Counters, now: u64) -> Vec<(String, String)> {
    let reset = secs_to_midnight(now);
    let reset_text = openai_duration(reset);
    let mut headers = Vec::new();
    let mut policy = Vec::new();
    let mut state = Vec::new();
    let limits = [
        ("requests", tier.daily_requests, used.requests),
        ("tokens", tier.daily_tokens, used.tokens),
    ];
    for (unit, limit, used) in limits {
        let Some(limit) = limit else { continue };
        let remaining = limit.saturating_sub(used);
        headers.push((format!("x-ratelimit-limit-{unit}"), limit.to_string()));
        headers.push((
            format!("x-ratelimit-remaining-{unit}"),
            remaining.to_string(),
        ));
        headers.push((format!("x-ratelimit-reset-{unit}"), reset_text.clone()));
        policy.push(format!("\"{unit}\";q={limit};w={SECS_PER_DAY}"));
        state.push(format!("\"{unit}\";r={remaining};t={reset}"));
    }
    if !policy.is_empty() {
        headers.push(("ratelimit-policy".to_string(), policy.join(", ")));
        headers.push(("ratelimit".to_string(), state.join(", ")));
    }
    if let Some(limit) = tier.daily_cost_micro {
        headers.push(("x-guardrail-budget-limit-usd".to_string(), usd(limit)));
        headers.push((
            "x-guardrail-budget-remaining-usd".to_string(),
            usd(limit.saturating_sub(used.cost_micro)),
        ));
    }
    headers
}

/// The headers from a rate-limit service's answers (`backend: rls`): limit from
/// `current_limit`, remaining from `limit_remaining`, reset from `duration_until_reset` (the
/// time to the next UTC midnight when the service gives none), window from the limit's unit.
/// Only the kinds the service answered with a limit appear.
pub(crate) fn render_rls(statuses: &super::rls::Statuses, now: u64) -> Vec<(String, String)> {
    use super::rls::Kind;
    let mut headers = Vec::new();
    let mut policy = Vec::new();
    let mut state = Vec::new();
    let mut cost = None;
    for kind in [Kind::Requests, Kind::Tokens, Kind::Cost] {
        let Some(s) = statuses.get(kind) else {
            continue;
        };
        let Some(l) = s.current_limit else { continue };
        let reset = s
            .duration_until_reset_secs
            .unwrap_or_else(|| secs_to_midnight(now));
        let (limit, remaining) = (u64::from(l.requests_per_unit), u64::from(s.limit_remaining));
        if kind == Kind::Cost {
            cost = Some((limit, remaining));
            continue;
        }
        let unit = kind.as_str();
        let window = if l.unit_secs > 0 {
            l.unit_secs
        } else {
            SECS_PER_DAY
        };
        headers.push((format!("x-ratelimit-limit-{unit}"), limit.to_string()));
        headers.push((
            format!("x-ratelimit-remaining-{unit}"),
            remaining.to_string(),
        ));
        headers.push((format!("x-ratelimit-reset-{unit}"), openai_duration(reset)));
        policy.push(format!("\"{unit}\";q={limit};w={window}"));
        state.push(format!("\"{unit}\";r={remaining};t={reset}"));
    }
    if !policy.is_empty() {
        headers.push(("ratelimit-policy".to_string(), policy.join(", ")));
        headers.push(("ratelimit".to_string(), state.join(", ")));
    }
    if let Some((limit, remaining)) = cost {
        headers.push(("x-guardrail-budget-limit-usd".to_string(), usd(limit)));
        headers.push((
            "x-guardrail-budget-remaining-usd".to_string(),
            usd(remaining),
        ));
    }
    headers
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn durations_in_openai_style() {
        for (secs, text) in [
            (1, "1s"),
            (59, "59s"),
            (60, "1m0s"),
            (360, "6m0s"),
            (22_325, "6h12m5s"),
            (86_400, "24h0m0s"),
        ] {
            assert_eq!(openai_duration(secs), text);
        }
        assert_eq!(secs_to_midnight(0), 86_400);
        assert_eq!(secs_to_midnight(86_399), 1);
        assert_eq!(secs_to_midnight(86_400 * 5 + 64_075), 22_325);
    }

    #[test]
    fn usd_has_six_exact_decimals() {
        assert_eq!(usd(0), "0.000000");
        assert_eq!(usd(25), "0.000025");
        assert_eq!(usd(1_000_000), "1.000000");
        assert_eq!(usd(999_975), "0.999975");
        assert_eq!(usd(u64::MAX), "18446744073709.551615");
    }

    #[test]
    fn renders_only_configured_limits() {
        let tier = Tier {
            name: "free".into(),
            daily_requests: Some(5),
            daily_tokens: Some(1000),
            daily_cost_micro: Some(1_000_000),
            downgrade: None,
            clamp_max_tokens: false,
        };
        let used = Counters {
            day: 0,
            requests: 1,
            tokens: 1200,
            cost_micro: 25,
        };
        let h = render(&tier, &used, 64_075);
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x-ratelimit-limit-requests"), Some("5"));
        assert_eq!(get("x-ratelimit-remaining-requests"), Some("4"));
        assert_eq!(get("x-ratelimit-reset-requests"), Some("6h12m5s"));
        assert_eq!(get("x-ratelimit-remaining-tokens"), Some("0"));
        assert_eq!(
            get("ratelimit-policy"),
            Some("\"requests\";q=5;w=86400, \"tokens\";q=1000;w=86400")
        );
        assert_eq!(
            get("ratelimit"),
            Some("\"requests\";r=4;t=22325, \"tokens\";r=0;t=22325")
        );
        assert_eq!(get("x-guardrail-budget-limit-usd"), Some("1.000000"));
        assert_eq!(get("x-guardrail-budget-remaining-usd"), Some("0.999975"));

        let bare = Tier {
            daily_requests: None,
            daily_tokens: None,
            daily_cost_micro: None,
            ..tier
        };
        assert!(render(&bare, &used, 0).is_empty());
    }
}
