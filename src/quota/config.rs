//! The `quota` configuration section and its compiled form.
//!
//! Money is compiled to integers once: budgets to micro-USD, prices to pico-USD per token
//! (a price "per 1M tokens in USD" is exactly "micro-USD per token"), so every later sum is
//! exact and overflow is handled with saturating or 128-bit arithmetic.

use crate::config::ConfigError;
use crate::identity::{IdentityConfig, IdentitySource};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Largest accepted USD amount (budgets) and price per 1M tokens: far above any real value,
/// small enough that micro-USD and pico-USD sums stay far from `u64::MAX`.
const MAX_USD: f64 = 1e9;
const MAX_PRICE_PER_1M_USD: f64 = 1e6;
const MAX_TIER_NAME: usize = 64;
const MAX_MODEL_NAME: usize = 256;
const MAX_HEADER_NAME: usize = 128;
/// The tier used for requests without a user id when `missing_user` is `anonymous`.
pub const ANONYMOUS_TIER: &str = "anonymous";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Request header carrying the authenticated user id (set by the mesh's authn).
    pub user_header: String,
    /// Request header carrying the user's tier.
    pub tier_header: String,
    /// Where the user and tier come from: the headers above (default) or a verified JWT.
    pub identity: IdentityConfig,
    /// Tier used when the tier header is absent (and, with `unknown_tier: default_tier`,
    /// when it names no configured tier).
    pub default_tier: String,
    /// What to do with a request that has no user id.
    pub missing_user: MissingUser,
    /// What to do when the tier header names no configured tier.
    pub unknown_tier: UnknownTier,
    /// Daily cost budget for all users together (this Envoy), USD. None: no system budget.
    pub daily_budget_usd: Option<f64>,
    /// Completion tokens reserved when the request sets no `max_tokens`.
    pub default_completion_tokens: u64,
    pub tiers: BTreeMap<String, TierConfig>,
    /// Prices by model name; `default` is required and prices every other model.
    pub pricing: BTreeMap<String, PriceConfig>,
    /// Names this instance's counters in the Envoy's shared data. Default: a fingerprint of
    /// this `quota` section, so instances configured differently never share counters (and a
    /// changed section starts new ones). Set it to keep counters across changes of limits.
    pub namespace: Option<String>,
    /// Where the counters live: this Envoy's shared data (`local`) or Envoy's rate-limit
    /// service shared by the fleet (`rls`).
    pub backend: Backend,
    /// The rate-limit service (required with `backend: rls`, refused otherwise).
    pub rls: Option<RlsConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Proxy-wasm shared data: one Envoy's counters.
    #[default]
    Local,
    /// `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit` over gRPC.
    Rls,
}

/// What a request gets when the rate-limit service cannot answer (error, timeout, malformed
/// answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// 503 `api_error` / `quota_unavailable` with `retry-after: 1`.
    #[default]
    Deny,
    /// Let the request through, counted as `quota.rls_fail_open`.
    Allow,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlsConfig {
    /// An Envoy cluster speaking HTTP/2 to the rate-limit service.
    pub cluster: String,
    /// The rate-limit domain (the RLS's namespace for this tenant's limits).
    #[serde(default = "default_rls_domain")]
    pub domain: String,
    /// Deadline of each call, enforced by Envoy.
    #[serde(default = "default_rls_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub failure_mode: FailureMode,
}

fn default_rls_domain() -> String {
    "mesh-guardrail".into()
}

fn default_rls_timeout_ms() -> u32 {
    50
}

/// Longest accepted `quota.rls.timeout_ms`.
const MAX_RLS_TIMEOUT_MS: u32 = 10_000;
const MAX_RLS_NAME: usize = 256;

/// The compiled `quota.rls` section.
#[derive(Debug, Clone, PartialEq)]
pub struct RlsSettings {
    pub cluster: String,
    pub domain: String,
    pub timeout_ms: u32,
    pub failure_mode: FailureMode,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        let tier = |requests, cost| TierConfig {
            daily_requests: Some(requests),
            daily_cost_usd: Some(cost),
            ..TierConfig::default()
        };
        QuotaConfig {
            user_header: "x-user-id".into(),
            tier_header: "x-user-tier".into(),
            identity: IdentityConfig::default(),
            default_tier: "free".into(),
            missing_user: MissingUser::Reject,
            unknown_tier: UnknownTier::DefaultTier,
            daily_budget_usd: None,
            namespace: None,
            default_completion_tokens: 256,
            backend: Backend::Local,
            rls: None,
            tiers: BTreeMap::from([
                ("free".to_string(), tier(10, 1.0)),
                ("premium".to_string(), tier(100, 10.0)),
                ("enterprise".to_string(), tier(1000, 100.0)),
            ]),
            pricing: BTreeMap::from([(
                "default".to_string(),
                PriceConfig {
                    input_per_1m_usd: 1.0,
                    output_per_1m_usd: 2.0,
                },
            )]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingUser {
    /// 401 `invalid_request_error` / `missing_user_id`.
    #[default]
    Reject,
    /// All requests without a user id share one bucket with the `anonymous` tier's limits.
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownTier {
    /// Use `default_tier`'s limits.
    #[default]
    DefaultTier,
    /// 400 `invalid_request_error` / `unknown_tier`.
    Reject,
}

/// Limits of one tier; an absent limit is not enforced.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierConfig {
    pub daily_requests: Option<u64>,
    /// Prompt plus completion tokens per UTC day.
    pub daily_tokens: Option<u64>,
    pub daily_cost_usd: Option<f64>,
    /// Route to a cheaper model once the remaining cost budget falls below a fraction.
    pub downgrade: Option<DowngradeConfig>,
    /// Lower `max_tokens` to what the remaining cost/token budget can pay for.
    pub clamp_max_tokens: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DowngradeConfig {
    pub below_fraction: f64,
    pub model: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    pub input_per_1m_usd: f64,
    pub output_per_1m_usd: f64,
}

/// A tier's limits, in integers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tier {
    pub name: String,
    pub daily_requests: Option<u64>,
    pub daily_tokens: Option<u64>,
    pub daily_cost_micro: Option<u64>,
    pub downgrade: Option<Downgrade>,
    pub clamp_max_tokens: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Downgrade {
    /// `below_fraction` in parts per million.
    pub below_ppm: u64,
    pub model: String,
}

/// Prices in pico-USD per token.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Price {
    pub input_pico: u64,
    pub output_pico: u64,
}

impl Price {
    /// Cost in micro-USD, rounded up so that any non-free request costs at least 1.
    pub fn cost_micro(&self, prompt_tokens: u64, completion_tokens: u64) -> u64 {
        // u64 * u64 always fits in u128; only the sum can overflow.
        let pico = (u128::from(prompt_tokens) * u128::from(self.input_pico))
            .saturating_add(u128::from(completion_tokens) * u128::from(self.output_pico));
        u64::try_from(pico.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }
}

/// The compiled `quota` section (see [`crate::quota::QuotaPolicy`]).
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub user_header: String,
    pub tier_header: String,
    pub identity: IdentitySource,
    pub default_tier: String,
    pub missing_user: MissingUser,
    pub unknown_tier: UnknownTier,
    pub system_budget_micro: Option<u64>,
    pub default_completion_tokens: u64,
    pub tiers: BTreeMap<String, Tier>,
    pub pricing: BTreeMap<String, Price>,
    pub default_price: Price,
    /// Set with `backend: rls`.
    pub rls: Option<RlsSettings>,
}

pub(crate) fn compile(cfg: &QuotaConfig) -> Result<Compiled, ConfigError> {
    if let Some(ns) = &cfg.namespace {
        if ns.is_empty()
            || ns.len() > MAX_TIER_NAME
            || !ns
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::new(
                "quota.namespace",
                format!("expected 1 to {MAX_TIER_NAME} characters of [A-Za-z0-9._-]"),
            ));
        }
    }
    let user_header = header_name("quota.user_header", &cfg.user_header)?;
    let tier_header = header_name("quota.tier_header", &cfg.tier_header)?;
    if user_header == tier_header {
        return Err(ConfigError::new(
            "quota.tier_header",
            "must differ from quota.user_header",
        ));
    }

    let mut pricing = BTreeMap::new();
    for (model, p) in &cfg.pricing {
        let field = format!("quota.pricing.{model}");
        if model.is_empty() || model.len() > MAX_MODEL_NAME || model.chars().any(char::is_control) {
            return Err(ConfigError::new(
                field,
                format!("expected a model name of 1 to {MAX_MODEL_NAME} characters without control characters"),
            ));
        }
        let input_pico = usd_to_micro(
            &format!("{field}.input_per_1m_usd"),
            p.input_per_1m_usd,
            MAX_PRICE_PER_1M_USD,
        )?;
        let output_pico = usd_to_micro(
            &format!("{field}.output_per_1m_usd"),
            p.output_per_1m_usd,
            MAX_PRICE_PER_1M_USD,
        )?;
        pricing.insert(
            model.clone(),
            Price {
                input_pico,
                output_pico,
            },
        );
    }
    let default_price = *pricing.get("default").ok_or_else(|| {
        ConfigError::new(
            "quota.pricing",
            "expected a `default` entry that prices unlisted models",
        )
    })?;

    if cfg.tiers.is_empty() {
        return Err(ConfigError::new(
            "quota.tiers",
            "expected at least one tier",
        ));
    }
    let mut tiers = BTreeMap::new();
    for (name, t) in &cfg.tiers {
        let field = format!("quota.tiers.{name}");
        if !tier_name_ok(name) {
            return Err(ConfigError::new(
                field,
                format!("expected a tier name of 1 to {MAX_TIER_NAME} characters from A-Z a-z 0-9 _ . -"),
            ));
        }
        let daily_cost_micro = match t.daily_cost_usd {
            Some(usd) => Some(usd_to_micro(
                &format!("{field}.daily_cost_usd"),
                usd,
                MAX_USD,
            )?),
            None => None,
        };
        let downgrade = match &t.downgrade {
            None => None,
            Some(d) => {
                let f = d.below_fraction;
                if !f.is_finite() || !(0.0..=1.0).contains(&f) {
                    return Err(ConfigError::new(
                        format!("{field}.downgrade.below_fraction"),
                        "expected a number from 0 to 1",
                    ));
                }
                if d.model == "default" || !pricing.contains_key(&d.model) {
                    return Err(ConfigError::new(
                        format!("{field}.downgrade.model"),
                        "expected a model listed in quota.pricing (other than `default`)",
                    ));
                }
                if daily_cost_micro.is_none() {
                    return Err(ConfigError::new(
                        format!("{field}.downgrade"),
                        "needs daily_cost_usd on the same tier (the fraction is of the cost budget)",
                    ));
                }
                Some(Downgrade {
                    below_ppm: (f * 1e6).round() as u64,
                    model: d.model.clone(),
                })
            }
        };
        if t.clamp_max_tokens && daily_cost_micro.is_none() && t.daily_tokens.is_none() {
            return Err(ConfigError::new(
                format!("{field}.clamp_max_tokens"),
                "needs daily_cost_usd or daily_tokens on the same tier",
            ));
        }
        tiers.insert(
            name.clone(),
            Tier {
                name: name.clone(),
                daily_requests: t.daily_requests,
                daily_tokens: t.daily_tokens,
                daily_cost_micro,
                downgrade,
                clamp_max_tokens: t.clamp_max_tokens,
            },
        );
    }
    if !tiers.contains_key(&cfg.default_tier) {
        return Err(ConfigError::new(
            "quota.default_tier",
            "expected the name of a tier in quota.tiers",
        ));
    }
    if cfg.missing_user == MissingUser::Anonymous && !tiers.contains_key(ANONYMOUS_TIER) {
        return Err(ConfigError::new(
            "quota.missing_user",
            "`anonymous` needs a tier named `anonymous` in quota.tiers",
        ));
    }
    let system_budget_micro = match cfg.daily_budget_usd {
        Some(usd) => Some(usd_to_micro("quota.daily_budget_usd", usd, MAX_USD)?),
        None => None,
    };

    let rls = compile_rls(cfg)?;

    Ok(Compiled {
        rls,
        user_header,
        tier_header,
        identity: cfg.identity.compile()?,
        default_tier: cfg.default_tier.clone(),
        missing_user: cfg.missing_user,
        unknown_tier: cfg.unknown_tier,
        system_budget_micro,
        default_completion_tokens: cfg.default_completion_tokens,
        tiers,
        pricing,
        default_price,
    })
}

fn compile_rls(cfg: &QuotaConfig) -> Result<Option<RlsSettings>, ConfigError> {
    let r = match (cfg.backend, &cfg.rls) {
        (Backend::Local, None) => return Ok(None),
        (Backend::Local, Some(_)) => {
            return Err(ConfigError::new(
                "quota.rls",
                "is used only with quota.backend `rls`",
            ))
        }
        (Backend::Rls, None) => {
            return Err(ConfigError::new(
                "quota.rls.cluster",
                "required with quota.backend `rls` (an Envoy cluster with HTTP/2 to the rate-limit service)",
            ))
        }
        (Backend::Rls, Some(r)) => r,
    };
    let name_ok =
        |s: &str| !s.is_empty() && s.len() <= MAX_RLS_NAME && !s.chars().any(|c| c.is_control());
    if !name_ok(&r.cluster) {
        return Err(ConfigError::new(
            "quota.rls.cluster",
            format!("expected an Envoy cluster name of 1 to {MAX_RLS_NAME} characters"),
        ));
    }
    if !name_ok(&r.domain) {
        return Err(ConfigError::new(
            "quota.rls.domain",
            format!("expected 1 to {MAX_RLS_NAME} characters without control characters"),
        ));
    }
    if r.timeout_ms == 0 || r.timeout_ms > MAX_RLS_TIMEOUT_MS {
        return Err(ConfigError::new(
            "quota.rls.timeout_ms",
            format!("expected 1 to {MAX_RLS_TIMEOUT_MS} milliseconds"),
        ));
    }
    // What the rate-limit service cannot do: it answers after it has counted, and it has no
    // per-Envoy system record.
    if cfg.daily_budget_usd.is_some() {
        return Err(ConfigError::new(
            "quota.daily_budget_usd",
            "not supported with quota.backend `rls` (set a limit in the rate-limit service)",
        ));
    }
    for (name, t) in &cfg.tiers {
        if t.downgrade.is_some() {
            return Err(ConfigError::new(
                format!("quota.tiers.{name}.downgrade"),
                "not supported with quota.backend `rls` (the remaining budget is known only after the reservation)",
            ));
        }
        if t.clamp_max_tokens {
            return Err(ConfigError::new(
                format!("quota.tiers.{name}.clamp_max_tokens"),
                "not supported with quota.backend `rls` (the remaining budget is known only after the reservation)",
            ));
        }
        if let Some(cost) = t.daily_cost_usd {
            // The service counts micro-USD in uint32 answers.
            if cost * 1e6 > f64::from(u32::MAX) {
                return Err(ConfigError::new(
                    format!("quota.tiers.{name}.daily_cost_usd"),
                    "at most 4294.967295 with quota.backend `rls` (micro-USD in a uint32)",
                ));
            }
        }
    }
    Ok(Some(RlsSettings {
        cluster: r.cluster.clone(),
        domain: r.domain.clone(),
        timeout_ms: r.timeout_ms,
        failure_mode: r.failure_mode,
    }))
}

fn usd_to_micro(field: &str, usd: f64, max: f64) -> Result<u64, ConfigError> {
    if !usd.is_finite() || usd < 0.0 || usd > max {
        return Err(ConfigError::new(
            field,
            format!("expected a finite number from 0 to {max}"),
        ));
    }
    Ok((usd * 1e6).round() as u64)
}

fn header_name(field: &str, name: &str) -> Result<String, ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_HEADER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok {
        return Err(ConfigError::new(field, "expected an HTTP header name"));
    }
    // Envoy (and HTTP/2) use lowercase header names.
    Ok(name.to_ascii_lowercase())
}

pub(crate) fn tier_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TIER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn parse(json: &str) -> QuotaConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn empty_section_compiles_to_documented_defaults() {
        let c = compile(&parse("{}")).unwrap();
        assert_eq!(c.user_header, "x-user-id");
        assert_eq!(c.tier_header, "x-user-tier");
        assert_eq!(c.default_tier, "free");
        assert_eq!(c.tiers["free"].daily_requests, Some(10));
        assert_eq!(c.tiers["free"].daily_cost_micro, Some(1_000_000));
        assert_eq!(
            c.default_price,
            Price {
                input_pico: 1_000_000,
                output_pico: 2_000_000
            }
        );
        assert_eq!(c.system_budget_micro, None);
        assert_eq!(c.default_completion_tokens, 256);
    }

    #[test]
    fn brief_example_compiles() {
        let c = compile(&parse(
            r#"{"user_header":"X-User-Id","daily_budget_usd":1000.0,
                "tiers":{"free":{"daily_requests":10,"daily_cost_usd":1.0,"daily_tokens":5000,
                                 "downgrade":{"below_fraction":0.2,"model":"gpt-4o-mini"},"clamp_max_tokens":true}},
                "pricing":{"default":{"input_per_1m_usd":1.0,"output_per_1m_usd":2.0},
                           "gpt-4o-mini":{"input_per_1m_usd":0.15,"output_per_1m_usd":0.6}}}"#,
        ))
        .unwrap();
        assert_eq!(c.user_header, "x-user-id");
        assert_eq!(c.system_budget_micro, Some(1_000_000_000));
        assert_eq!(
            c.pricing["gpt-4o-mini"],
            Price {
                input_pico: 150_000,
                output_pico: 600_000
            }
        );
        assert_eq!(
            c.tiers["free"].downgrade,
            Some(Downgrade {
                below_ppm: 200_000,
                model: "gpt-4o-mini".into()
            })
        );
    }

    #[test]
    fn invalid_configs_name_the_field() {
        let cases: &[(&str, &str)] = &[
            (r#"{"default_tier":"gold"}"#, "quota.default_tier"),
            (r#"{"tiers":{}}"#, "quota.tiers"),
            (
                r#"{"tiers":{"free":{"daily_cost_usd":-1}}}"#,
                "quota.tiers.free.daily_cost_usd",
            ),
            (
                r#"{"tiers":{"free":{"daily_cost_usd":1e300}}}"#,
                "quota.tiers.free.daily_cost_usd",
            ),
            (
                r#"{"tiers":{"free":{},"bad name":{}}}"#,
                "quota.tiers.bad name",
            ),
            (r#"{"tiers":{"free":{},"":{}}}"#, "quota.tiers."),
            (
                r#"{"pricing":{"gpt-4o":{"input_per_1m_usd":1,"output_per_1m_usd":1}}}"#,
                "quota.pricing",
            ),
            (
                r#"{"pricing":{"default":{"input_per_1m_usd":-0.5,"output_per_1m_usd":1}}}"#,
                "quota.pricing.default.input_per_1m_usd",
            ),
            (r#"{"missing_user":"anonymous"}"#, "quota.missing_user"),
            (r#"{"daily_budget_usd":-3}"#, "quota.daily_budget_usd"),
            (r#"{"user_header":"x user"}"#, "quota.user_header"),
            (r#"{"tier_header":"X-User-Id"}"#, "quota.tier_header"),
            (
                r#"{"tiers":{"free":{"daily_cost_usd":1,"downgrade":{"below_fraction":0.2,"model":"nope"}}}}"#,
                "quota.tiers.free.downgrade.model",
            ),
            (
                r#"{"tiers":{"free":{"daily_cost_usd":1,"downgrade":{"below_fraction":1.5,"model":"default"}}}}"#,
                "quota.tiers.free.downgrade.below_fraction",
            ),
            (
                r#"{"tiers":{"free":{"downgrade":{"below_fraction":0.5,"model":"m"}}},
                    "pricing":{"default":{"input_per_1m_usd":1,"output_per_1m_usd":1},"m":{"input_per_1m_usd":1,"output_per_1m_usd":1}}}"#,
                "quota.tiers.free.downgrade",
            ),
            (
                r#"{"tiers":{"free":{"clamp_max_tokens":true}}}"#,
                "quota.tiers.free.clamp_max_tokens",
            ),
            (r#"{"backend":"rls"}"#, "quota.rls.cluster"),
            (
                r#"{"backend":"rls","rls":{"cluster":""}}"#,
                "quota.rls.cluster",
            ),
            (r#"{"rls":{"cluster":"ratelimit"}}"#, "quota.rls"),
            (
                r#"{"backend":"rls","rls":{"cluster":"ratelimit","timeout_ms":0}}"#,
                "quota.rls.timeout_ms",
            ),
            (
                r#"{"backend":"rls","rls":{"cluster":"ratelimit","timeout_ms":10001}}"#,
                "quota.rls.timeout_ms",
            ),
            (
                r#"{"backend":"rls","rls":{"cluster":"ratelimit","domain":""}}"#,
                "quota.rls.domain",
            ),
            (
                r#"{"backend":"rls","rls":{"cluster":"ratelimit"},"daily_budget_usd":5}"#,
                "quota.daily_budget_usd",
            ),
            (
                r#"{"backend":"rls","rls":{"cluster":"ratelimit"},"tiers":{"free":{"daily_tokens":9,"clamp_max_tokens":true}}}"#,
                "quota.tiers.free.clamp_max_tokens",
            ),
            (
                r#"{"backend":"rls","rls":{"cluster":"ratelimit"},"tiers":{"free":{"daily_cost_usd":5000}}}"#,
                "quota.tiers.free.daily_cost_usd",
            ),
        ];
        for (json, field) in cases {
            let err = compile(&parse(json)).unwrap_err();
            assert_eq!(err.field, *field, "{json}: {err}");
        }
    }

    #[test]
    fn rls_backend_compiles_with_documented_defaults() {
        let c = compile(&parse(r#"{"backend":"rls","rls":{"cluster":"ratelimit"}}"#)).unwrap();
        assert_eq!(
            c.rls,
            Some(RlsSettings {
                cluster: "ratelimit".into(),
                domain: "mesh-guardrail".into(),
                timeout_ms: 50,
                failure_mode: FailureMode::Deny,
            })
        );
        let c = compile(&parse(
            r#"{"backend":"rls","rls":{"cluster":"rl","domain":"acme","timeout_ms":200,"failure_mode":"allow"}}"#,
        ))
        .unwrap();
        let r = c.rls.unwrap();
        assert_eq!((r.domain.as_str(), r.timeout_ms), ("acme", 200));
        assert_eq!(r.failure_mode, FailureMode::Allow);
        assert_eq!(compile(&parse("{}")).unwrap().rls, None);
        // Unknown fields and values are refused by the parser.
        for bad in [
            r#"{"backend":"redis"}"#,
            r#"{"backend":"rls","rls":{"cluster":"rl","failure_mode":"open"}}"#,
            r#"{"backend":"rls","rls":{"cluster":"rl","timeout":5}}"#,
        ] {
            assert!(serde_json::from_str::<QuotaConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nan_and_infinity_are_refused_when_built_in_code() {
        let mut cfg = QuotaConfig {
            daily_budget_usd: Some(f64::NAN),
            ..QuotaConfig::default()
        };
        assert_eq!(compile(&cfg).unwrap_err().field, "quota.daily_budget_usd");
        cfg.daily_budget_usd = Some(f64::INFINITY);
        assert_eq!(compile(&cfg).unwrap_err().field, "quota.daily_budget_usd");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<QuotaConfig>(r#"{"tiers":{"free":{"daily_request":1}}}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<QuotaConfig>(r#"{"user_hdr":"x"}"#).is_err());
        assert!(serde_json::from_str::<QuotaConfig>(r#"{"missing_user":"allow"}"#).is_err());
    }

    #[test]
    fn cost_is_exact_and_rounds_up() {
        let p = Price {
            input_pico: 1_000_000,
            output_pico: 2_000_000,
        };
        assert_eq!(p.cost_micro(11, 7), 25);
        let mini = Price {
            input_pico: 150_000,
            output_pico: 600_000,
        };
        assert_eq!(mini.cost_micro(1, 0), 1); // 0.15 micro-USD rounds up
        assert_eq!(mini.cost_micro(100, 0), 15);
        assert_eq!(Price::default().cost_micro(u64::MAX, u64::MAX), 0);
        assert_eq!(
            Price {
                input_pico: u64::MAX,
                output_pico: u64::MAX
            }
            .cost_micro(u64::MAX, u64::MAX),
            u64::MAX
        );
    }
}
