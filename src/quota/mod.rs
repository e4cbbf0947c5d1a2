//! Per-user quotas and a system budget over a compare-and-swap store.
//!
//! The life of a request:
//! 1. request headers: [`QuotaPolicy::identify`] the user and tier from the raw header bytes,
//!    then [`QuotaPolicy::precheck`]: a cheap read that refuses users already out of quota;
//! 2. request body: [`QuotaPolicy::admit`] reserves one request plus the estimated tokens and
//!    cost (prompt tokens + `max_tokens` or `default_completion_tokens`, priced by model), on
//!    the user's record first and then on the system record (rolled back if that fails);
//! 3. end of response: [`QuotaPolicy::settle`] replaces the reservation with the real `usage`,
//!    or [`QuotaPolicy::refund`] takes it back when the upstream call failed.
//!
//! Limits are per UTC day (`day = now / 86400`). A request is admitted while the counters are
//! below the limits (`requests + 1 <= daily_requests`, tokens and cost used `<` their
//! limits, system cost used `<` `daily_budget_usd`); every update is a compare-and-swap with
//! at most 16 attempts, so however many workers race, a budget is overshot by at most the
//! estimate of the last request admitted (plus what settling finds beyond an estimate made
//! without `max_tokens`). A tier with `clamp_max_tokens` never reserves beyond its budget.
//!
//! Failures are closed: a store error or a key still contended after 16 attempts refuses the
//! request with 503 `api_error` / `quota_unavailable` and `retry-after: 1` (OpenAI SDKs retry
//! it; a 429 `insufficient_quota` would wrongly tell the user the quota is spent).
//!
//! Keys, value encoding and why there is nothing to clean up: see `ledger.rs`. Headers: see
//! `headers.rs`. With `backend: rls` the counters live in Envoy's rate-limit service instead
//! (the fleet's): the filter's state machine makes the calls, this module builds them and
//! reads the answers (`rls.rs`); see README "Quota backends".

mod config;
mod headers;
mod ledger;
mod mem_store;
pub mod rls;

pub use config::{
    Backend, DowngradeConfig, FailureMode, MissingUser, PriceConfig, QuotaConfig, RlsConfig,
    RlsSettings, TierConfig, UnknownTier, ANONYMOUS_TIER,
};
pub use mem_store::MemStore;

use crate::config::ConfigError;
use crate::identity::IdentitySource;
use config::{Compiled, Price, Tier};
use ledger::{Counters, Step, UpdateError, SECS_PER_DAY, SYSTEM_KEY};
use std::cell::Cell;
use std::fmt;

/// Name and format version at the head of every shared-data key this filter writes.
const SHARED_DATA_HEAD: &str = "mesh_guardrail/v1/";
const MAX_ROOT_ID_IN_KEY: usize = 64;

/// The prefix of every shared-data key of one plugin instance:
/// `mesh_guardrail/v1/<root id>/<namespace>/`. The namespace is `quota.namespace` when set,
/// else a fingerprint of the compiled `quota` section: instances configured differently (in
/// Istio every `WasmPlugin` shares one namespace of the proxy) never read each other's records.
pub fn shared_data_prefix(root_id: &[u8], cfg: &QuotaConfig) -> String {
    use sha2::{Digest, Sha256};
    let root: String = root_id
        .iter()
        .take(MAX_ROOT_ID_IN_KEY)
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                b as char
            } else {
                '_'
            }
        })
        .collect();
    let ns = match &cfg.namespace {
        Some(ns) => ns.clone(),
        None => {
            // Debug output of the parsed section: independent of key order, spacing and
            // spelled-out defaults in the JSON, stable for one build.
            let canonical = format!(
                "{:?}",
                QuotaConfig {
                    namespace: None,
                    ..cfg.clone()
                }
            );
            let digest = Sha256::digest(canonical.as_bytes());
            digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
        }
    };
    format!("{SHARED_DATA_HEAD}{root}/{ns}/")
}

/// Shared key/value store with compare-and-swap (proxy-wasm shared data in the host; an
/// in-memory map in tests; later a fleet-wide backend).
///
/// `cas: None` must be a create-only write, or two workers creating the same record could
/// both succeed (the host layer does this with a CAS token Envoy never hands out).
pub trait Store {
    /// Current value and its CAS token, or None when the key was never set.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError>;
    /// Writes `value` if the key's CAS token is still `cas` (None: the key must be unset).
    /// Ok(false) means somebody else wrote first: read again and retry.
    fn compare_and_swap(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<bool, StoreError>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quota store error: {}", self.0)
    }
}

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
    /// Key-safe form of the user id (`r.<id>`, `h.<hash>` or `anon`), bounded in length.
    /// It may contain the raw id: keep it out of logs and metrics.
    pub user: String,
    /// A configured tier name.
    pub tier: String,
}

/// A refused request: the host answers with `status` and an OpenAI-shaped error.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaRejection {
    pub status: u32,
    pub error_type: &'static str,
    pub code: &'static str,
    pub message: String,
    /// The host sends this as `retry-after` (it is not repeated in `headers`).
    pub retry_after_secs: Option<u64>,
    /// Quota headers of the user (remaining 0 for the limit that was hit).
    pub headers: Vec<(String, String)>,
}

/// An admitted request: what was reserved, headers for the response, and any routing change.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// Quota headers for the response, counting this request's reservation.
    pub headers: Vec<(String, String)>,
    /// Rewrite `model` to this cheaper model.
    pub route_model: Option<String>,
    /// Clamp `max_tokens` to this.
    pub clamp_max_tokens: Option<u64>,
    /// Tier name, for metrics.
    pub tier: String,
    /// `Identity::user` of the request.
    pub user: String,
    /// UTC day of the reservation; settling after midnight adjusts this day.
    pub day: u64,
    /// The model the upstream is asked for (after routing); prices the settlement.
    pub model: Option<String>,
    pub reserved_tokens: u64,
    pub reserved_cost_micro_usd: u64,
    /// Whether the reservation was also made on the system budget record.
    pub system_reserved: bool,
    /// Set by the first settle/refund; later calls do nothing, so a host that refunds on
    /// stream end after settling cannot count twice.
    pub finished: Cell<bool>,
}

/// The outcome of [`QuotaPolicy::settle`], for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub tier: String,
    /// The real cost charged, in micro-USD (0 if the admission was already finished).
    pub cost_micro_usd: u64,
    /// Prompt plus completion tokens charged.
    pub tokens: u64,
    /// False when the ledger could not be updated (store error, contention, already
    /// finished): the reservation then stands in place of the real cost.
    pub recorded: bool,
}

/// The limit a request hit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Limit {
    Requests(u64),
    Tokens(u64),
    Cost(u64),
    System,
}

/// What one admission reserves and changes.
#[derive(Debug, Clone)]
struct Plan {
    model: Option<String>,
    route_model: Option<String>,
    clamp: Option<u64>,
    tokens: u64,
    cost: u64,
}

/// The compiled `quota` section: immutable, shared by every HTTP context.
#[derive(Debug, Clone)]
pub struct QuotaPolicy {
    c: Compiled,
}

impl QuotaPolicy {
    pub fn compile(cfg: &QuotaConfig) -> Result<Self, ConfigError> {
        Ok(QuotaPolicy {
            c: config::compile(cfg)?,
        })
    }

    /// The rate-limit service, with `backend: rls`.
    pub fn rls(&self) -> Option<&RlsSettings> {
        self.c.rls.as_ref()
    }

    /// With `backend: rls`: the limit kinds the user's tier names (one descriptor each).
    pub fn rls_kinds(&self, id: &Identity) -> rls::Kinds {
        match self.tier_of(id) {
            Ok(t) => rls::Kinds {
                requests: t.daily_requests.is_some(),
                tokens: t.daily_tokens.is_some(),
                cost: t.daily_cost_micro.is_some(),
            },
            Err(_) => rls::Kinds::default(),
        }
    }

    /// With `backend: rls`: what a request reserves (tokens, micro-USD) from its estimate:
    /// the prompt estimate plus `max_tokens` (or `default_completion_tokens`), priced by model.
    pub fn reservation(&self, est: &UsageEstimate) -> (u64, u64) {
        let completion = est
            .max_completion_tokens
            .unwrap_or(self.c.default_completion_tokens);
        let cost = self
            .price(est.model.as_deref())
            .cost_micro(est.prompt_tokens, completion);
        (est.prompt_tokens.saturating_add(completion), cost)
    }

    /// The cost of `usage` for `model`, in micro-USD (rounded up).
    pub fn usage_cost(&self, model: Option<&str>, usage: Usage) -> u64 {
        self.price(model)
            .cost_micro(usage.prompt_tokens, usage.completion_tokens)
    }

    /// With `backend: rls`: the rejection for a limit the service says is reached.
    pub fn rls_exceeded(
        &self,
        id: &Identity,
        kind: rls::Kind,
        statuses: &rls::Statuses,
        now: u64,
    ) -> QuotaRejection {
        let status = statuses.get(kind);
        let limit = status.and_then(|s| s.current_limit);
        let retry = status
            .and_then(|s| s.duration_until_reset_secs)
            .filter(|&s| s > 0)
            .unwrap_or_else(|| headers::secs_to_midnight(now));
        let tier = &id.tier;
        let (code, what) = match kind {
            rls::Kind::Requests => ("daily_request_limit_exceeded", "request limit".to_string()),
            rls::Kind::Tokens => ("daily_token_limit_exceeded", "token limit".to_string()),
            rls::Kind::Cost => ("daily_cost_limit_exceeded", "cost limit".to_string()),
        };
        let what = match (kind, limit) {
            (rls::Kind::Cost, Some(l)) => {
                format!(
                    "{what} of {} USD",
                    headers::usd(u64::from(l.requests_per_unit))
                )
            }
            (_, Some(l)) => format!("{what} of {}", l.requests_per_unit),
            (_, None) => what,
        };
        QuotaRejection {
            status: 429,
            error_type: "insufficient_quota",
            code,
            message: format!(
                "{what} reached for tier {tier}; it resets in {}",
                headers::openai_duration(retry)
            ),
            retry_after_secs: Some(retry),
            headers: headers::render_rls(statuses, now),
        }
    }

    /// Lowercase name of the request header carrying the user id.
    pub fn user_header(&self) -> &str {
        &self.c.user_header
    }

    /// Lowercase name of the request header carrying the tier.
    pub fn tier_header(&self) -> &str {
        &self.c.tier_header
    }

    /// Resolves the user and tier of a request, from `quota.identity`'s source.
    ///
    /// - `headers` (the request's header map, every value as the host gives it): each of
    ///   `user_header` and `tier_header` must appear at most once. Envoy's `jwt_authn`
    ///   `claim_to_headers` (and other authn filters) append to a header the client may
    ///   already have sent, so a second value is refused with 400 `ambiguous_identity`
    ///   rather than guessed. Then [`QuotaPolicy::identify`].
    /// - `jwt`: `property` is called once with the payload's property path
    ///   ([`crate::identity::JwtSource::property_path`]) and returns the host's bytes
    ///   (`Ok(None)`: no verified token), or the host's status on failure (500
    ///   `identity_unavailable`, as is a payload that does not parse). The user claim must be
    ///   a string; headers are not read.
    pub fn identify_request<F>(
        &self,
        headers: &[(Vec<u8>, Vec<u8>)],
        property: F,
    ) -> Result<Identity, QuotaRejection>
    where
        F: FnOnce(&[&str]) -> Result<Option<Vec<u8>>, u32>,
    {
        match &self.c.identity {
            IdentitySource::Headers => {
                let single = |name: &str| -> Result<Option<&[u8]>, QuotaRejection> {
                    crate::headers::single(headers, name).map_err(|()| {
                        reject(
                            400,
                            "ambiguous_identity",
                            format!(
                                "request header {name} is sent more than once; send it once (a client-sent value cannot stand beside the one your authentication adds)"
                            ),
                        )
                    })
                };
                let user = single(&self.c.user_header)?;
                let tier = single(&self.c.tier_header)?;
                self.identify(user, tier)
            }
            IdentitySource::Jwt(jwt) => {
                let unavailable = || {
                    reject(
                        500,
                        "identity_unavailable",
                        "the verified JWT payload could not be read".to_string(),
                    )
                };
                let payload = property(&jwt.property_path()).map_err(|_| unavailable())?;
                let claims = match &payload {
                    None => None,
                    Some(bytes) => Some(jwt.claims(bytes).map_err(|_| unavailable())?),
                };
                let user = claims.as_ref().and_then(|c| c.user);
                let tier = claims.as_ref().and_then(|c| c.tier);
                self.identify_from(
                    user.map(str::as_bytes),
                    // A tier claim that is not a string names no tier.
                    tier.map(|t| t.map(str::as_bytes).unwrap_or(b"\0")),
                    &format!("the claim `{}` of a verified JWT", jwt.user_claim),
                    &format!(
                        "the claim `{}` of the JWT",
                        jwt.tier_claim.as_deref().unwrap_or_default()
                    ),
                )
            }
        }
    }

    /// Resolves the user and tier from raw, untrusted header values.
    ///
    /// No user id (absent, empty or blank): 401 `missing_user_id`, or with
    /// `missing_user: anonymous` the shared `anonymous` bucket and tier (the tier header is
    /// then ignored). No tier header: `default_tier`. A tier header naming no configured tier
    /// (compared exactly, after trimming spaces): `default_tier`, or 400 `unknown_tier` with
    /// `unknown_tier: reject`. Any user id bytes are accepted (hashed into the key if needed).
    pub fn identify(
        &self,
        user: Option<&[u8]>,
        tier: Option<&[u8]>,
    ) -> Result<Identity, QuotaRejection> {
        self.identify_from(
            user,
            tier,
            &format!("request header {}", self.c.user_header),
            &format!("request header {}", self.c.tier_header),
        )
    }

    /// [`QuotaPolicy::identify`] with the sources named in the error messages.
    fn identify_from(
        &self,
        user: Option<&[u8]>,
        tier: Option<&[u8]>,
        user_source: &str,
        tier_source: &str,
    ) -> Result<Identity, QuotaRejection> {
        let Some(raw) = user.map(trim).filter(|u| !u.is_empty()) else {
            return match self.c.missing_user {
                MissingUser::Anonymous => Ok(Identity {
                    user: ledger::ANONYMOUS_USER.to_string(),
                    tier: ANONYMOUS_TIER.to_string(),
                }),
                MissingUser::Reject => Err(QuotaRejection {
                    status: 401,
                    error_type: "invalid_request_error",
                    code: "missing_user_id",
                    message: format!("a user id is required ({user_source})"),
                    retry_after_secs: None,
                    headers: Vec::new(),
                }),
            };
        };
        let tier = match tier.map(trim).filter(|t| !t.is_empty()) {
            None => self.c.default_tier.clone(),
            Some(t) => match std::str::from_utf8(t)
                .ok()
                .filter(|t| self.c.tiers.contains_key(*t))
            {
                Some(known) => known.to_string(),
                None => match self.c.unknown_tier {
                    UnknownTier::DefaultTier => self.c.default_tier.clone(),
                    UnknownTier::Reject => {
                        return Err(QuotaRejection {
                            status: 400,
                            error_type: "invalid_request_error",
                            code: "unknown_tier",
                            message: format!("{tier_source} names no configured tier"),
                            retry_after_secs: None,
                            headers: Vec::new(),
                        })
                    }
                },
            },
        };
        Ok(Identity {
            user: ledger::user_key(raw),
            tier,
        })
    }

    /// Headers phase: refuses a user (or the system) already out of quota. Read-only.
    pub fn precheck(
        &self,
        store: &dyn Store,
        id: &Identity,
        now_unix_secs: u64,
    ) -> Result<(), QuotaRejection> {
        let now = now_unix_secs;
        let tier = self.tier_of(id)?;
        let day = now / SECS_PER_DAY;
        let used = ledger::read(store, &ledger::record_key(&id.user), day)
            .map_err(|_| unavailable("store error"))?;
        if let Err(limit) = exhausted(tier, &used) {
            return Err(self.exceeded(tier, limit, &used, now));
        }
        if let Some(budget) = self.c.system_budget_micro {
            let sys =
                ledger::read(store, SYSTEM_KEY, day).map_err(|_| unavailable("store error"))?;
            if sys.cost_micro >= budget {
                return Err(self.exceeded(tier, Limit::System, &used, now));
            }
        }
        Ok(())
    }

    /// Body phase: reserves one request and the estimated tokens and cost, decides routing.
    pub fn admit(
        &self,
        store: &dyn Store,
        id: &Identity,
        now: u64,
        est: &UsageEstimate,
    ) -> Result<Admission, QuotaRejection> {
        let tier = self.tier_of(id)?;
        let day = now / SECS_PER_DAY;
        let key = ledger::record_key(&id.user);
        let reserved = ledger::update(store, &key, day, |used, _| {
            match self.plan(tier, used, est) {
                Ok(plan) => {
                    let after = used.plus(1, plan.tokens, plan.cost);
                    Step::Write(after, (plan, after))
                }
                Err(limit) => Step::Refuse((limit, *used)),
            }
        });
        let (plan, after) = match reserved {
            Ok(r) => r,
            Err(UpdateError::Refused((limit, used))) => {
                return Err(self.exceeded(tier, limit, &used, now))
            }
            Err(UpdateError::Store) => return Err(unavailable("store error")),
            Err(UpdateError::Contended) => return Err(unavailable("quota ledger busy")),
        };

        // A worker that saw midnight first has moved the record to the next day: count there.
        let day = after.day;
        let mut system_reserved = false;
        if let Some(budget) = self.c.system_budget_micro {
            let r = ledger::update(store, SYSTEM_KEY, day, |sys, _| {
                if sys.cost_micro >= budget {
                    Step::Refuse(())
                } else {
                    Step::Write(sys.plus(1, plan.tokens, plan.cost), ())
                }
            });
            if let Err(e) = r {
                take_back(store, &key, day, |c| c.minus(1, plan.tokens, plan.cost));
                let before = after.minus(1, plan.tokens, plan.cost);
                return Err(match e {
                    UpdateError::Refused(()) => self.exceeded(tier, Limit::System, &before, now),
                    UpdateError::Store => unavailable("store error"),
                    UpdateError::Contended => unavailable("quota ledger busy"),
                });
            }
            system_reserved = true;
        }

        Ok(Admission {
            headers: headers::render(tier, &after, now),
            route_model: plan.route_model,
            clamp_max_tokens: plan.clamp,
            tier: tier.name.clone(),
            user: id.user.clone(),
            day,
            model: plan.model,
            reserved_tokens: plan.tokens,
            reserved_cost_micro_usd: plan.cost,
            system_reserved,
            finished: Cell::new(false),
        })
    }

    /// End of response: replaces the reservation with the real usage (priced by the model the
    /// upstream was asked for). Does nothing once the admission is finished.
    pub fn settle(
        &self,
        store: &dyn Store,
        adm: &Admission,
        usage: Usage,
        _now: u64,
    ) -> Settlement {
        if adm.finished.replace(true) {
            return Settlement {
                tier: adm.tier.clone(),
                cost_micro_usd: 0,
                tokens: 0,
                recorded: false,
            };
        }
        let cost = self
            .price(adm.model.as_deref())
            .cost_micro(usage.prompt_tokens, usage.completion_tokens);
        let tokens = usage.prompt_tokens.saturating_add(usage.completion_tokens);
        let swap = |c: Counters| {
            let mut c = c.minus(0, adm.reserved_tokens, adm.reserved_cost_micro_usd);
            c.tokens = c.tokens.saturating_add(tokens);
            c.cost_micro = c.cost_micro.saturating_add(cost);
            c
        };
        let recorded = self.adjust(store, adm, swap);
        Settlement {
            tier: adm.tier.clone(),
            cost_micro_usd: cost,
            tokens,
            recorded,
        }
    }

    /// Takes the whole reservation back (request, tokens, cost): for an upstream call that
    /// failed or never happened and so was not billed. Does nothing once finished.
    pub fn refund(&self, store: &dyn Store, adm: &Admission, _now: u64) {
        if adm.finished.replace(true) {
            return;
        }
        self.adjust(store, adm, |c| {
            c.minus(1, adm.reserved_tokens, adm.reserved_cost_micro_usd)
        });
    }

    /// Read-only quota headers for a response that did not go through [`QuotaPolicy::admit`]
    /// (e.g. a request blocked for another reason). Empty if the store cannot be read.
    pub fn status_headers(
        &self,
        store: &dyn Store,
        id: &Identity,
        now: u64,
    ) -> Vec<(String, String)> {
        let Ok(tier) = self.tier_of(id) else {
            return Vec::new();
        };
        match ledger::read(store, &ledger::record_key(&id.user), now / SECS_PER_DAY) {
            Ok(used) => headers::render(tier, &used, now),
            Err(_) => Vec::new(),
        }
    }

    /// Prompt tokens estimated from the bytes of its text (about 4 bytes per token).
    pub fn estimate_prompt_tokens(text_bytes: usize) -> u64 {
        u64::try_from(text_bytes).unwrap_or(u64::MAX).div_ceil(4)
    }

    fn tier_of(&self, id: &Identity) -> Result<&Tier, QuotaRejection> {
        // An Identity from `identify` always names a tier; one built by hand falls back.
        self.c
            .tiers
            .get(&id.tier)
            .or_else(|| self.c.tiers.get(&self.c.default_tier))
            .ok_or_else(|| unavailable("no such tier"))
    }

    /// Price of a model: exact name, else the longest configured name that the model extends
    /// with `-` (a dated snapshot such as `gpt-4o-mini-2024-07-18`), else `default`.
    fn price(&self, model: Option<&str>) -> Price {
        let Some(model) = model else {
            return self.c.default_price;
        };
        if let Some(p) = self.c.pricing.get(model) {
            return *p;
        }
        self.c
            .pricing
            .iter()
            .filter(|(name, _)| {
                name.as_str() != "default"
                    && model.starts_with(name.as_str())
                    && model.as_bytes().get(name.len()) == Some(&b'-')
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, p)| *p)
            .unwrap_or(self.c.default_price)
    }

    /// Decides what a request reserves given the user's counters, or which limit it hits.
    fn plan(&self, tier: &Tier, used: &Counters, est: &UsageEstimate) -> Result<Plan, Limit> {
        exhausted(tier, used)?;
        let remaining_cost = tier
            .daily_cost_micro
            .map(|l| l.saturating_sub(used.cost_micro));

        let mut model = est.model.clone();
        let mut route_model = None;
        if let (Some(dg), Some(limit), Some(remaining)) =
            (&tier.downgrade, tier.daily_cost_micro, remaining_cost)
        {
            let below =
                u128::from(remaining) * 1_000_000 < u128::from(dg.below_ppm) * u128::from(limit);
            if below && model.as_deref() != Some(dg.model.as_str()) {
                route_model = Some(dg.model.clone());
                model = route_model.clone();
            }
        }

        let price = self.price(model.as_deref());
        let prompt = est.prompt_tokens;
        let mut completion = est
            .max_completion_tokens
            .unwrap_or(self.c.default_completion_tokens);
        let mut clamp = None;
        if tier.clamp_max_tokens {
            // Completion tokens the remaining cost and token budgets can still pay for.
            let cost_cap = remaining_cost.map(|remaining| {
                let left = (u128::from(remaining) * 1_000_000)
                    .saturating_sub(u128::from(prompt) * u128::from(price.input_pico));
                match price.output_pico {
                    0 => u64::MAX,
                    out => u64::try_from(left / u128::from(out)).unwrap_or(u64::MAX),
                }
            });
            let token_cap = tier
                .daily_tokens
                .map(|l| l.saturating_sub(used.tokens).saturating_sub(prompt));
            let cap = cost_cap
                .unwrap_or(u64::MAX)
                .min(token_cap.unwrap_or(u64::MAX));
            if completion > cap {
                if cap == 0 {
                    return Err(match (cost_cap, tier.daily_cost_micro, tier.daily_tokens) {
                        (Some(0), Some(l), _) => Limit::Cost(l),
                        (_, _, Some(l)) => Limit::Tokens(l),
                        (_, l, _) => Limit::Cost(l.unwrap_or(0)),
                    });
                }
                completion = cap;
                clamp = Some(cap);
            }
        }

        Ok(Plan {
            tokens: prompt.saturating_add(completion),
            cost: price.cost_micro(prompt, completion),
            model,
            route_model,
            clamp,
        })
    }

    fn exceeded(&self, tier: &Tier, limit: Limit, used: &Counters, now: u64) -> QuotaRejection {
        let name = &tier.name;
        let (code, message) = match limit {
            Limit::Requests(l) => (
                "daily_request_limit_exceeded",
                format!("daily request limit of {l} reached for tier {name}"),
            ),
            Limit::Tokens(l) => (
                "daily_token_limit_exceeded",
                format!("daily token limit of {l} reached for tier {name}"),
            ),
            Limit::Cost(l) => (
                "daily_cost_limit_exceeded",
                format!(
                    "daily cost limit of {} USD reached for tier {name}",
                    headers::usd(l)
                ),
            ),
            Limit::System => (
                "system_budget_exceeded",
                "the service's daily budget is spent".to_string(),
            ),
        };
        let retry = headers::secs_to_midnight(now);
        QuotaRejection {
            status: 429,
            error_type: "insufficient_quota",
            code,
            message: format!(
                "{message}; it resets at 00:00 UTC, in {}",
                headers::openai_duration(retry)
            ),
            retry_after_secs: Some(retry),
            headers: headers::render(tier, used, now),
        }
    }

    /// Applies `f` to the admission's user record and, if reserved there, the system record.
    fn adjust(&self, store: &dyn Store, adm: &Admission, f: impl Fn(Counters) -> Counters) -> bool {
        let user = take_back(store, &ledger::record_key(&adm.user), adm.day, &f);
        let sys = !adm.system_reserved || take_back(store, SYSTEM_KEY, adm.day, &f);
        user && sys
    }
}

/// Which limit the counters have already reached, if any.
fn exhausted(tier: &Tier, used: &Counters) -> Result<(), Limit> {
    if let Some(l) = tier.daily_requests {
        if used.requests >= l {
            return Err(Limit::Requests(l));
        }
    }
    if let Some(l) = tier.daily_tokens {
        if used.tokens >= l {
            return Err(Limit::Tokens(l));
        }
    }
    if let Some(l) = tier.daily_cost_micro {
        if used.cost_micro >= l {
            return Err(Limit::Cost(l));
        }
    }
    Ok(())
}

/// Rewrites a record of `day` with `f`; a record already moved to another day is left alone.
fn take_back(store: &dyn Store, key: &str, day: u64, f: impl Fn(Counters) -> Counters) -> bool {
    let r: Result<bool, UpdateError<()>> = ledger::update(store, key, day, |c, stored| {
        if stored && c.day == day {
            Step::Write(f(*c), true)
        } else {
            Step::Keep(true)
        }
    });
    r.unwrap_or(false)
}

/// The quota headers from the rate-limit service's statuses.
pub fn rls_headers(_q: &QuotaPolicy, statuses: &rls::Statuses, now: u64) -> Vec<(String, String)> {
    headers::render_rls(statuses, now)
}

/// 503 `quota_unavailable` (a store or rate-limit service that cannot answer).
pub fn unavailable(why: &str) -> QuotaRejection {
    QuotaRejection {
        status: 503,
        error_type: "api_error",
        code: "quota_unavailable",
        message: format!("quota check unavailable ({why}); retry shortly"),
        retry_after_secs: Some(1),
        headers: Vec::new(),
    }
}

/// A refused identity: 4xx `invalid_request_error`, 5xx `api_error`.
fn reject(status: u32, code: &'static str, message: String) -> QuotaRejection {
    QuotaRejection {
        status,
        error_type: if status >= 500 {
            "api_error"
        } else {
            "invalid_request_error"
        },
        code,
        message,
        retry_after_secs: None,
        headers: Vec::new(),
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

#[cfg(test)]
mod tests {

    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn shared_data_prefix_separates_instances() {
        let base = QuotaConfig::default();
        let p = shared_data_prefix(b"mesh_guardrail", &base);
        assert!(p.starts_with("mesh_guardrail/v1/mesh_guardrail/"), "{p}");
        assert!(p.ends_with('/'));
        // Stable for the same section, different for another root id or other limits.
        assert_eq!(p, shared_data_prefix(b"mesh_guardrail", &base.clone()));
        assert_ne!(p, shared_data_prefix(b"other", &base));
        let mut tighter = base.clone();
        tighter.default_completion_tokens += 1;
        assert_ne!(p, shared_data_prefix(b"mesh_guardrail", &tighter));
        // An explicit namespace survives changes of limits.
        let named = QuotaConfig {
            namespace: Some("llm-gw".into()),
            ..base.clone()
        };
        let named_tighter = QuotaConfig {
            namespace: Some("llm-gw".into()),
            ..tighter
        };
        assert_eq!(
            shared_data_prefix(b"r", &named),
            "mesh_guardrail/v1/r/llm-gw/"
        );
        assert_eq!(
            shared_data_prefix(b"r", &named),
            shared_data_prefix(b"r", &named_tighter)
        );
        // A root id cannot smuggle separators into keys.
        assert!(shared_data_prefix(b"a/b\n", &named).starts_with("mesh_guardrail/v1/a_b_/"));
    }

    /// 6h12m5s before a UTC midnight.
    const NOW: u64 = 20_000 * SECS_PER_DAY + 64_075;

    fn policy(json: &str) -> QuotaPolicy {
        QuotaPolicy::compile(&serde_json::from_str(json).unwrap()).unwrap()
    }

    /// free: 5 requests, premium: 8 requests, both 1 USD; prices 1 and 2 USD per 1M tokens.
    fn basic() -> QuotaPolicy {
        policy(
            r#"{"tiers":{"free":{"daily_requests":5,"daily_cost_usd":1.0},
                         "premium":{"daily_requests":8,"daily_cost_usd":1.0}}}"#,
        )
    }

    fn user(p: &QuotaPolicy, name: &str) -> Identity {
        p.identify(Some(name.as_bytes()), None).unwrap()
    }

    fn est(prompt: u64, max: Option<u64>) -> UsageEstimate {
        UsageEstimate {
            model: None,
            prompt_tokens: prompt,
            max_completion_tokens: max,
        }
    }

    fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn counters(store: &MemStore, key: &str, now: u64) -> Counters {
        ledger::read(store, key, now / SECS_PER_DAY).unwrap()
    }

    fn user_counters(store: &MemStore, id: &Identity, now: u64) -> Counters {
        counters(store, &ledger::record_key(&id.user), now)
    }

    #[test]
    fn five_requests_then_429() {
        let p = basic();
        let store = MemStore::new();
        let alice = user(&p, "alice");
        for expected in ["4", "3", "2", "1", "0"] {
            assert_eq!(p.precheck(&store, &alice, NOW), Ok(()));
            let adm = p.admit(&store, &alice, NOW, &est(10, Some(10))).unwrap();
            assert_eq!(
                header(&adm.headers, "x-ratelimit-limit-requests"),
                Some("5")
            );
            assert_eq!(
                header(&adm.headers, "x-ratelimit-remaining-requests"),
                Some(expected)
            );
            assert_eq!(
                header(&adm.headers, "x-ratelimit-reset-requests"),
                Some("6h12m5s")
            );
            assert_eq!(
                header(&adm.headers, "ratelimit-policy"),
                Some("\"requests\";q=5;w=86400")
            );
            assert_eq!(
                header(&adm.headers, "ratelimit"),
                Some(format!("\"requests\";r={expected};t=22325").as_str())
            );
            assert_eq!(header(&adm.headers, "x-ratelimit-limit-tokens"), None);
            assert_eq!(adm.tier, "free");
            p.settle(
                &store,
                &adm,
                Usage {
                    prompt_tokens: 10,
                    completion_tokens: 10,
                },
                NOW,
            );
        }
        for rejected in [
            p.precheck(&store, &alice, NOW).unwrap_err(),
            p.admit(&store, &alice, NOW, &est(1, None)).unwrap_err(),
        ] {
            assert_eq!(rejected.status, 429);
            assert_eq!(rejected.error_type, "insufficient_quota");
            assert_eq!(rejected.code, "daily_request_limit_exceeded");
            assert_eq!(rejected.retry_after_secs, Some(22_325));
            assert!(
                rejected
                    .message
                    .starts_with("daily request limit of 5 reached for tier free"),
                "{}",
                rejected.message
            );
            assert!(!rejected.message.contains("alice"));
            assert_eq!(
                header(&rejected.headers, "x-ratelimit-remaining-requests"),
                Some("0")
            );
        }
        assert_eq!(user_counters(&store, &alice, NOW).requests, 5);
    }

    #[test]
    fn users_have_separate_buckets() {
        let p = basic();
        let store = MemStore::new();
        let (alice, bob) = (user(&p, "alice"), user(&p, "bob"));
        for _ in 0..5 {
            p.admit(&store, &alice, NOW, &est(1, Some(1))).unwrap();
        }
        assert!(p.admit(&store, &alice, NOW, &est(1, Some(1))).is_err());
        let adm = p.admit(&store, &bob, NOW, &est(1, Some(1))).unwrap();
        assert_eq!(
            header(&adm.headers, "x-ratelimit-remaining-requests"),
            Some("4")
        );
    }

    #[test]
    fn tier_header_selects_limits() {
        let p = basic();
        let cases: &[(Option<&[u8]>, &str, &str)] = &[
            (None, "free", "5"),
            (Some(b""), "free", "5"),
            (Some(b"premium"), "premium", "8"),
            (Some(b"  premium "), "premium", "8"),
            (Some(b"free"), "free", "5"),
        ];
        for (i, (tier, name, limit)) in cases.iter().enumerate() {
            let store = MemStore::new();
            let id = p.identify(Some(format!("u{i}").as_bytes()), *tier).unwrap();
            assert_eq!(id.tier, *name);
            let adm = p.admit(&store, &id, NOW, &est(1, None)).unwrap();
            assert_eq!(
                header(&adm.headers, "x-ratelimit-limit-requests"),
                Some(*limit)
            );
        }
    }

    #[test]
    fn unknown_tier_falls_back_or_is_refused() {
        let unknown: &[&[u8]] = &[
            b"PREMIUM",
            b"gold",
            b"\xff\xfe",
            &[b'p'; 10_240],
            b"prem\nium",
        ];
        let fallback = basic();
        let strict = policy(r#"{"unknown_tier":"reject","tiers":{"free":{"daily_requests":5}}}"#);
        for tier in unknown {
            assert_eq!(
                fallback.identify(Some(b"alice"), Some(tier)).unwrap().tier,
                "free"
            );
            let r = strict.identify(Some(b"alice"), Some(tier)).unwrap_err();
            assert_eq!(
                (r.status, r.error_type, r.code),
                (400, "invalid_request_error", "unknown_tier")
            );
            assert!(r.message.is_ascii() && !r.message.contains("gold"));
        }
    }

    fn hdrs(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn no_property(_: &[&str]) -> Result<Option<Vec<u8>>, u32> {
        panic!("the header source reads no property")
    }

    #[test]
    fn repeated_identity_headers_are_ambiguous() {
        // Issue 12 row 2: jwt_authn's claim_to_headers appends to a client-sent x-user-id;
        // the first value (the client's) used to pick the bucket.
        let p = basic();
        for h in [
            hdrs(&[("x-user-id", "mallory"), ("x-user-id", "alice")]),
            hdrs(&[("x-user-id", "alice"), ("X-User-Id", "alice")]),
            hdrs(&[("x-user-id", ""), ("x-user-id", "alice")]),
            hdrs(&[
                ("x-user-id", "alice"),
                ("x-user-tier", "premium"),
                ("x-user-tier", "free"),
            ]),
        ] {
            let r = p.identify_request(&h, no_property).unwrap_err();
            assert_eq!(
                (r.status, r.error_type, r.code),
                (400, "invalid_request_error", "ambiguous_identity"),
                "{h:?}"
            );
            assert!(!r.message.contains("mallory") && !r.message.contains("alice"));
        }
        let id = p
            .identify_request(
                &hdrs(&[
                    (":path", "/"),
                    ("x-user-id", "alice"),
                    ("x-user-tier", "premium"),
                ]),
                no_property,
            )
            .unwrap();
        assert_eq!(id, p.identify(Some(b"alice"), Some(b"premium")).unwrap());
        let r = p.identify_request(&hdrs(&[]), no_property).unwrap_err();
        assert_eq!(r.code, "missing_user_id");
    }

    #[test]
    fn jwt_source_reads_the_verified_payload_only() {
        use crate::identity::encode_pairs;
        let p = policy(
            r#"{"identity":{"source":"jwt","payload_key":"jwt_payload","tier_claim":"plan"},
                "tiers":{"free":{"daily_requests":5},"premium":{"daily_requests":8}}}"#,
        );
        let payload = encode_pairs(&[(b"sub", b"alice"), (b"plan", b"premium")]);
        let forged = hdrs(&[("x-user-id", "mallory"), ("x-user-tier", "enterprise")]);
        let mut asked = Vec::new();
        let id = p
            .identify_request(&forged, |path| {
                asked = path.iter().map(|s| s.to_string()).collect();
                Ok(Some(payload.clone()))
            })
            .unwrap();
        assert_eq!(
            asked,
            [
                "metadata",
                "filter_metadata",
                "envoy.filters.http.jwt_authn",
                "jwt_payload"
            ]
        );
        // The headers play no part: the claim picks the bucket and the tier.
        assert_eq!(id, p.identify(Some(b"alice"), Some(b"premium")).unwrap());

        // No verified token: missing user (401), whatever the headers say.
        let r = p.identify_request(&forged, |_| Ok(None)).unwrap_err();
        assert_eq!((r.status, r.code), (401, "missing_user_id"));
        assert!(r.message.contains("claim `sub`"), "{}", r.message);
        // A token without the claim, or with a non-string one.
        for bad in [
            encode_pairs(&[(b"iss", b"x")]),
            encode_pairs(&[(b"sub", &42f64.to_le_bytes())]),
        ] {
            let r = p
                .identify_request(&forged, |_| Ok(Some(bad.clone())))
                .unwrap_err();
            assert_eq!(r.code, "missing_user_id");
        }
        // No tier claim: the default tier; a non-string tier claim names no tier.
        let plain = encode_pairs(&[(b"sub", b"bob")]);
        let id = p
            .identify_request(&[], |_| Ok(Some(plain.clone())))
            .unwrap();
        assert_eq!(id.tier, "free");
        let odd = encode_pairs(&[(b"sub", b"bob"), (b"plan", &[1])]);
        let id = p.identify_request(&[], |_| Ok(Some(odd.clone()))).unwrap();
        assert_eq!(id.tier, "free");
        // The host refusing the call, or bytes that do not parse: 500, never a guess.
        for result in [Err(10), Ok(Some(b"garbage".to_vec()))] {
            let r = p.identify_request(&[], |_| result.clone()).unwrap_err();
            assert_eq!(
                (r.status, r.error_type, r.code),
                (500, "api_error", "identity_unavailable")
            );
        }
        // missing_user: anonymous still applies to requests without a token.
        let open = policy(
            r#"{"missing_user":"anonymous","identity":{"source":"jwt","payload_key":"p"},
                "tiers":{"free":{"daily_requests":5},"anonymous":{"daily_requests":2}}}"#,
        );
        assert_eq!(
            open.identify_request(&forged, |_| Ok(None)).unwrap().tier,
            "anonymous"
        );
    }

    #[test]
    fn missing_user_is_refused_or_anonymous() {
        let strict = basic();
        for missing in [None, Some(&b""[..]), Some(&b"  \t"[..])] {
            let r = strict.identify(missing, Some(b"premium")).unwrap_err();
            assert_eq!(
                (r.status, r.error_type, r.code),
                (401, "invalid_request_error", "missing_user_id")
            );
        }

        let open = policy(
            r#"{"missing_user":"anonymous","tiers":{"free":{"daily_requests":5},"anonymous":{"daily_requests":2}}}"#,
        );
        let store = MemStore::new();
        // All anonymous requests share one bucket, whatever tier they claim.
        let a = open.identify(None, Some(b"free")).unwrap();
        let b = open.identify(Some(b""), None).unwrap();
        assert_eq!(
            a,
            Identity {
                user: "anon".into(),
                tier: "anonymous".into()
            }
        );
        assert_eq!(a, b);
        open.admit(&store, &a, NOW, &est(1, None)).unwrap();
        open.admit(&store, &b, NOW, &est(1, None)).unwrap();
        assert_eq!(
            open.admit(&store, &a, NOW, &est(1, None)).unwrap_err().code,
            "daily_request_limit_exceeded"
        );
        // A real user called "anon" is not the anonymous bucket.
        let named = open.identify(Some(b"anon"), None).unwrap();
        assert_eq!(named.tier, "free");
        assert!(open.admit(&store, &named, NOW, &est(1, None)).is_ok());
    }

    #[test]
    fn token_limit() {
        let p = policy(r#"{"tiers":{"free":{"daily_tokens":100}}}"#);
        let store = MemStore::new();
        let alice = user(&p, "alice");
        let first = p.admit(&store, &alice, NOW, &est(30, Some(20))).unwrap();
        assert_eq!(
            header(&first.headers, "x-ratelimit-limit-tokens"),
            Some("100")
        );
        assert_eq!(
            header(&first.headers, "x-ratelimit-remaining-tokens"),
            Some("50")
        );
        assert_eq!(
            header(&first.headers, "x-ratelimit-reset-tokens"),
            Some("6h12m5s")
        );
        assert_eq!(
            header(&first.headers, "ratelimit-policy"),
            Some("\"tokens\";q=100;w=86400")
        );
        assert_eq!(header(&first.headers, "x-ratelimit-limit-requests"), None);
        assert_eq!(header(&first.headers, "x-guardrail-budget-limit-usd"), None);
        // Settling for fewer tokens gives the difference back.
        p.settle(
            &store,
            &first,
            Usage {
                prompt_tokens: 30,
                completion_tokens: 10,
            },
            NOW,
        );
        let second = p.admit(&store, &alice, NOW, &est(30, Some(30))).unwrap();
        assert_eq!(
            header(&second.headers, "x-ratelimit-remaining-tokens"),
            Some("0")
        );
        let r = p.admit(&store, &alice, NOW, &est(1, Some(1))).unwrap_err();
        assert_eq!((r.status, r.code), (429, "daily_token_limit_exceeded"));
        assert!(r
            .message
            .starts_with("daily token limit of 100 reached for tier free"));
        assert_eq!(
            header(&r.headers, "x-ratelimit-remaining-tokens"),
            Some("0")
        );
    }

    #[test]
    fn cost_falls_by_exactly_the_settled_usage() {
        // 100 micro-USD: four requests of 11 prompt + 7 completion tokens at 1 and 2 USD/1M.
        let p = policy(r#"{"tiers":{"free":{"daily_cost_usd":0.0001}}}"#);
        let store = MemStore::new();
        let alice = user(&p, "alice");
        for remaining in ["0.000075", "0.000050", "0.000025", "0.000000"] {
            // The estimate (11 + 1000 completion tokens) is far above the real cost.
            let adm = p.admit(&store, &alice, NOW, &est(11, Some(1000))).unwrap();
            assert_eq!(adm.reserved_cost_micro_usd, 2_011);
            let s = p.settle(
                &store,
                &adm,
                Usage {
                    prompt_tokens: 11,
                    completion_tokens: 7,
                },
                NOW,
            );
            assert_eq!((s.cost_micro_usd, s.tokens, s.recorded), (25, 18, true));
            let h = p.status_headers(&store, &alice, NOW);
            assert_eq!(header(&h, "x-guardrail-budget-limit-usd"), Some("0.000100"));
            assert_eq!(
                header(&h, "x-guardrail-budget-remaining-usd"),
                Some(remaining)
            );
        }
        let r = p.admit(&store, &alice, NOW, &est(11, Some(7))).unwrap_err();
        assert_eq!((r.status, r.code), (429, "daily_cost_limit_exceeded"));
        assert!(r
            .message
            .starts_with("daily cost limit of 0.000100 USD reached for tier free"));
        assert_eq!(
            p.precheck(&store, &alice, NOW).unwrap_err().code,
            "daily_cost_limit_exceeded"
        );
        assert_eq!(user_counters(&store, &alice, NOW).cost_micro, 100);
    }

    #[test]
    fn system_budget_spans_users_and_rolls_back_the_user() {
        let p = policy(
            r#"{"daily_budget_usd":0.00005,"tiers":{"free":{"daily_requests":10,"daily_cost_usd":1.0}}}"#,
        );
        let store = MemStore::new();
        for name in ["alice", "bob"] {
            let id = user(&p, name);
            let adm = p.admit(&store, &id, NOW, &est(11, Some(7))).unwrap();
            assert!(adm.system_reserved);
            p.settle(
                &store,
                &adm,
                Usage {
                    prompt_tokens: 11,
                    completion_tokens: 7,
                },
                NOW,
            );
        }
        assert_eq!(
            counters(&store, SYSTEM_KEY, NOW),
            Counters {
                day: 20_000,
                requests: 2,
                tokens: 36,
                cost_micro: 50
            }
        );
        let carol = user(&p, "carol");
        for r in [
            p.admit(&store, &carol, NOW, &est(1, None)).unwrap_err(),
            p.precheck(&store, &carol, NOW).unwrap_err(),
        ] {
            assert_eq!(
                (r.status, r.error_type, r.code),
                (429, "insufficient_quota", "system_budget_exceeded")
            );
            assert_eq!(r.retry_after_secs, Some(22_325));
            assert_eq!(
                header(&r.headers, "x-ratelimit-remaining-requests"),
                Some("10")
            );
        }
        // Carol's tentative reservation was rolled back.
        assert_eq!(user_counters(&store, &carol, NOW).requests, 0);
        assert_eq!(user_counters(&store, &carol, NOW).cost_micro, 0);
    }

    #[test]
    fn refund_restores_and_finishing_twice_is_a_no_op() {
        let p = policy(
            r#"{"daily_budget_usd":1.0,"tiers":{"free":{"daily_requests":5,"daily_tokens":1000,"daily_cost_usd":1.0}}}"#,
        );
        let store = MemStore::new();
        let alice = user(&p, "alice");
        let kept = p.admit(&store, &alice, NOW, &est(10, Some(10))).unwrap();
        p.settle(
            &store,
            &kept,
            Usage {
                prompt_tokens: 10,
                completion_tokens: 10,
            },
            NOW,
        );
        let before = (
            user_counters(&store, &alice, NOW),
            counters(&store, SYSTEM_KEY, NOW),
        );

        let adm = p.admit(&store, &alice, NOW, &est(100, Some(100))).unwrap();
        assert_eq!(
            header(&adm.headers, "x-ratelimit-remaining-requests"),
            Some("3")
        );
        p.refund(&store, &adm, NOW);
        assert_eq!(
            (
                user_counters(&store, &alice, NOW),
                counters(&store, SYSTEM_KEY, NOW)
            ),
            before
        );
        let h = p.status_headers(&store, &alice, NOW);
        assert_eq!(header(&h, "x-ratelimit-remaining-requests"), Some("4"));
        assert_eq!(header(&h, "x-ratelimit-remaining-tokens"), Some("980"));
        assert_eq!(
            header(&h, "x-guardrail-budget-remaining-usd"),
            Some("0.999970")
        );

        // A second refund, or a settle after the refund, changes nothing.
        p.refund(&store, &adm, NOW);
        let s = p.settle(
            &store,
            &adm,
            Usage {
                prompt_tokens: 5,
                completion_tokens: 5,
            },
            NOW,
        );
        assert_eq!((s.cost_micro_usd, s.recorded), (0, false));
        let s = p.settle(
            &store,
            &kept,
            Usage {
                prompt_tokens: 5,
                completion_tokens: 5,
            },
            NOW,
        );
        assert!(!s.recorded);
        assert_eq!(
            (
                user_counters(&store, &alice, NOW),
                counters(&store, SYSTEM_KEY, NOW)
            ),
            before
        );
    }

    #[test]
    fn settle_with_more_or_less_than_reserved() {
        let p = policy(r#"{"daily_budget_usd":1.0,"tiers":{"free":{"daily_cost_usd":1.0}}}"#);
        // (completion reserved, real completion) -> user's tokens and cost afterwards
        let cases = [
            (Some(100), 7, 18, 25),
            (Some(100), 100, 111, 211),
            (Some(100), 500, 511, 1_011),
            (None, 300, 311, 611), // reserved default_completion_tokens (256)
            (Some(0), 0, 11, 11),
        ];
        for (max, completion, tokens, cost) in cases {
            let store = MemStore::new();
            let alice = user(&p, "alice");
            let adm = p.admit(&store, &alice, NOW, &est(11, max)).unwrap();
            assert_eq!(adm.reserved_tokens, 11 + max.unwrap_or(256));
            let s = p.settle(
                &store,
                &adm,
                Usage {
                    prompt_tokens: 11,
                    completion_tokens: completion,
                },
                NOW,
            );
            assert_eq!(
                (s.tokens, s.cost_micro_usd, s.recorded),
                (tokens, cost, true)
            );
            let expected = Counters {
                day: 20_000,
                requests: 1,
                tokens,
                cost_micro: cost,
            };
            assert_eq!(user_counters(&store, &alice, NOW), expected);
            assert_eq!(counters(&store, SYSTEM_KEY, NOW), expected);
        }
    }

    #[test]
    fn a_new_utc_day_resets_and_old_admissions_leave_it_alone() {
        let p = basic();
        let store = MemStore::new();
        let alice = user(&p, "alice");
        let mut late = None;
        for _ in 0..5 {
            late = Some(p.admit(&store, &alice, NOW, &est(1, Some(1))).unwrap());
        }
        assert!(p.admit(&store, &alice, NOW, &est(1, Some(1))).is_err());
        let tomorrow = NOW + SECS_PER_DAY;
        assert_eq!(p.precheck(&store, &alice, tomorrow), Ok(()));
        let adm = p.admit(&store, &alice, tomorrow, &est(1, Some(1))).unwrap();
        assert_eq!(
            header(&adm.headers, "x-ratelimit-remaining-requests"),
            Some("4")
        );
        // Yesterday's last request finishes after midnight: today's counters stay as they are.
        let today = user_counters(&store, &alice, tomorrow);
        let late = late.unwrap();
        p.refund(&store, &late, tomorrow);
        assert_eq!(user_counters(&store, &alice, tomorrow), today);
        // A worker whose clock still says yesterday counts against today's record instead of
        // overwriting it.
        let straggler = p.admit(&store, &alice, NOW, &est(1, Some(1))).unwrap();
        assert_eq!(straggler.day, tomorrow / SECS_PER_DAY);
        assert_eq!(
            header(&straggler.headers, "x-ratelimit-remaining-requests"),
            Some("3")
        );
        assert_eq!(user_counters(&store, &alice, tomorrow).requests, 2);
        // One second before midnight the reset is 1s away.
        let bob = user(&p, "bob");
        let adm = p
            .admit(&store, &bob, NOW + 22_324, &est(1, Some(1)))
            .unwrap();
        assert_eq!(
            header(&adm.headers, "x-ratelimit-reset-requests"),
            Some("1s")
        );
        for _ in 0..4 {
            p.admit(&store, &bob, NOW + 22_324, &est(1, Some(1)))
                .unwrap();
        }
        assert_eq!(
            p.admit(&store, &bob, NOW + 22_324, &est(1, Some(1)))
                .unwrap_err()
                .retry_after_secs,
            Some(1)
        );
    }

    /// A store where another worker's admission runs between our read and our write, for the
    /// first `rivals` compare-and-swaps.
    struct Racing<'a> {
        inner: &'a MemStore,
        policy: &'a QuotaPolicy,
        rival: Identity,
        rivals: Cell<u32>,
        rival_admitted: Cell<u32>,
        rival_refused: Cell<u32>,
    }

    impl Store for Racing<'_> {
        fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
            self.inner.get(key)
        }
        fn compare_and_swap(
            &self,
            key: &str,
            value: &[u8],
            cas: Option<u32>,
        ) -> Result<bool, StoreError> {
            if self.rivals.get() > 0 {
                self.rivals.set(self.rivals.get() - 1);
                match self
                    .policy
                    .admit(self.inner, &self.rival, NOW, &est(11, Some(7)))
                {
                    Ok(_) => self.rival_admitted.set(self.rival_admitted.get() + 1),
                    Err(_) => self.rival_refused.set(self.rival_refused.get() + 1),
                }
            }
            self.inner.compare_and_swap(key, value, cas)
        }
    }

    #[test]
    fn interleaved_workers_admit_exactly_the_limit() {
        // (rival user, rival attempts, our attempts, limit on the shared resource)
        let p = basic(); // free: 5 requests per user
        let sys = policy(r#"{"daily_budget_usd":0.0001,"tiers":{"free":{"daily_requests":100}}}"#); // 4 x 25 micro-USD
        let cases: [(&QuotaPolicy, &str, u32, u32, u32); 4] = [
            (&p, "alice", 3, 12, 5),  // same user: both race on alice's record
            (&p, "alice", 20, 20, 5), // rivals take everything
            (&sys, "bob", 3, 12, 4),  // different users race on the system record
            (&sys, "bob", 9, 9, 4),
        ];
        for (policy, rival, rivals, ours, limit) in cases {
            let store = MemStore::new();
            let racing = Racing {
                inner: &store,
                policy,
                rival: user(policy, rival),
                rivals: Cell::new(rivals),
                rival_admitted: Cell::new(0),
                rival_refused: Cell::new(0),
            };
            let alice = user(policy, "alice");
            let mut admitted = 0;
            for _ in 0..ours {
                if policy
                    .admit(&racing, &alice, NOW, &est(11, Some(7)))
                    .is_ok()
                {
                    admitted += 1;
                }
            }
            let total = admitted + racing.rival_admitted.get();
            assert_eq!(total, limit, "{rival} {rivals} {ours}");
            let rivals_run = rivals - racing.rivals.get();
            assert_eq!(
                racing.rival_admitted.get() + racing.rival_refused.get(),
                rivals_run
            );
            assert!(rivals_run >= limit.min(rivals), "the race did happen");
            if policy.c.system_budget_micro.is_some() {
                assert_eq!(
                    counters(&store, SYSTEM_KEY, NOW).cost_micro,
                    25 * u64::from(limit)
                );
            } else {
                assert_eq!(
                    user_counters(&store, &alice, NOW).requests,
                    u64::from(limit)
                );
            }
        }
    }

    #[test]
    fn contention_and_store_failures_fail_closed() {
        let p = policy(r#"{"daily_budget_usd":1.0,"tiers":{"free":{"daily_requests":5}}}"#);
        let store = MemStore::new();
        let alice = user(&p, "alice");

        // 15 lost races are absorbed by retries.
        store.inject_conflicts(15);
        assert!(p.admit(&store, &alice, NOW, &est(1, None)).is_ok());

        // 16 are not: refused with 503, nothing reserved.
        store.inject_conflicts(16);
        let r = p.admit(&store, &alice, NOW, &est(1, None)).unwrap_err();
        assert_eq!(
            (r.status, r.error_type, r.code, r.retry_after_secs),
            (503, "api_error", "quota_unavailable", Some(1))
        );
        assert_eq!(user_counters(&store, &alice, NOW).requests, 1);

        // Contention on the system record rolls the user's reservation back.
        store.inject_conflicts_on(":sys", 16);
        assert_eq!(
            p.admit(&store, &alice, NOW, &est(1, None))
                .unwrap_err()
                .code,
            "quota_unavailable"
        );
        assert_eq!(user_counters(&store, &alice, NOW).requests, 1);
        assert_eq!(counters(&store, SYSTEM_KEY, NOW).requests, 1);

        let adm = p.admit(&store, &alice, NOW, &est(1, None)).unwrap();
        store.set_failing(true);
        assert_eq!(p.precheck(&store, &alice, NOW).unwrap_err().status, 503);
        assert_eq!(
            p.admit(&store, &alice, NOW, &est(1, None))
                .unwrap_err()
                .status,
            503
        );
        assert!(p.status_headers(&store, &alice, NOW).is_empty());
        assert!(!p.settle(&store, &adm, Usage::default(), NOW).recorded);
        store.set_failing(false);
        assert_eq!(user_counters(&store, &alice, NOW).requests, 2);
    }

    #[test]
    fn hostile_user_ids_are_contained() {
        let p = basic();
        let store = MemStore::new();
        let hostile: &[&[u8]] = &[
            b"\xff\xfe\x00\x01",
            &[b'x'; 10_240],
            b"alice\nx-admin: 1",
            b"alice\r\n",
            b"mg:q:v1:sys",
            b"../../etc",
            "用户".as_bytes(),
            b"r.alice",
            b"anon",
            &[b'z'; 64],
        ];
        let mut keys = std::collections::HashSet::new();
        for raw in hostile {
            let id = p.identify(Some(raw), None).unwrap();
            let key = ledger::record_key(&id.user);
            assert!(
                key.len() <= 76 && key.bytes().all(|b| b.is_ascii_graphic()),
                "{key}"
            );
            assert!(keys.insert(key));
            let adm = p.admit(&store, &id, NOW, &est(1, None)).unwrap();
            assert_eq!(
                header(&adm.headers, "x-ratelimit-remaining-requests"),
                Some("4")
            );
            assert!(adm
                .headers
                .iter()
                .all(|(k, v)| k.is_ascii() && v.bytes().all(|b| (0x20..0x7f).contains(&b))));
        }
        // The system record was not touched by a user called "mg:q:v1:sys".
        assert_eq!(store.value(SYSTEM_KEY), None);
        // Surrounding whitespace is not part of the id.
        assert_eq!(
            user(&p, "alice"),
            p.identify(Some(b"  alice\t"), None).unwrap()
        );
    }

    #[test]
    fn downgrade_routes_to_the_cheaper_model_when_the_budget_runs_low() {
        let p = policy(
            r#"{"tiers":{"free":{"daily_cost_usd":0.001,"downgrade":{"below_fraction":0.2,"model":"gpt-4o-mini"}}},
                "pricing":{"default":{"input_per_1m_usd":1.0,"output_per_1m_usd":2.0},
                           "gpt-4o-mini":{"input_per_1m_usd":0.15,"output_per_1m_usd":0.6}}}"#,
        );
        let store = MemStore::new();
        let alice = user(&p, "alice");
        let big = UsageEstimate {
            model: Some("gpt-4o".into()),
            prompt_tokens: 100,
            max_completion_tokens: Some(100),
        };
        // 1000 micro-USD budget; each request costs 300. Remaining 1000, 700, 400: no routing.
        for _ in 0..3 {
            let adm = p.admit(&store, &alice, NOW, &big).unwrap();
            assert_eq!(adm.route_model, None);
            assert_eq!(adm.reserved_cost_micro_usd, 300);
        }
        // Remaining 100 = 10% < 20%: routed, and priced as the cheaper model (15 + 60).
        let adm = p.admit(&store, &alice, NOW, &big).unwrap();
        assert_eq!(adm.route_model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(adm.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(adm.reserved_cost_micro_usd, 75);
        let s = p.settle(
            &store,
            &adm,
            Usage {
                prompt_tokens: 100,
                completion_tokens: 100,
            },
            NOW,
        );
        assert_eq!(s.cost_micro_usd, 75);
        // Asking for the cheap model already: no route decision to report.
        let mini = UsageEstimate {
            model: Some("gpt-4o-mini".into()),
            ..big.clone()
        };
        assert_eq!(
            p.admit(&store, &alice, NOW, &mini).unwrap().route_model,
            None
        );
    }

    #[test]
    fn clamp_max_tokens_to_what_the_budget_pays_for() {
        let p = policy(
            r#"{"tiers":{"free":{"daily_cost_usd":0.0001,"daily_tokens":1000,"clamp_max_tokens":true}}}"#,
        );
        // (spent micro-USD, spent tokens, prompt, max_tokens) -> clamp, or the refusal code
        type Case = (
            u64,
            u64,
            u64,
            Option<u64>,
            Result<Option<u64>, &'static str>,
        );
        let cases: [Case; 6] = [
            (0, 0, 10, Some(20), Ok(None)),      // 10 + 40 = 50 <= 100
            (0, 0, 10, Some(100), Ok(Some(45))), // (100 - 10) / 2
            (0, 0, 10, None, Ok(Some(45))),      // default 256 clamped too
            (0, 990, 5, Some(100), Ok(Some(5))), // token budget: 1000 - 990 - 5
            (95, 0, 5, Some(10), Err("daily_cost_limit_exceeded")), // prompt takes the rest
            (0, 995, 5, Some(10), Err("daily_token_limit_exceeded")),
        ];
        for (cost, tokens, prompt, max, expected) in cases {
            let store = MemStore::new();
            let alice = user(&p, "alice");
            let key = ledger::record_key(&alice.user);
            let seeded = Counters {
                day: NOW / SECS_PER_DAY,
                requests: 0,
                tokens,
                cost_micro: cost,
            };
            assert!(store
                .compare_and_swap(&key, &seeded.encode(), None)
                .unwrap());
            match (p.admit(&store, &alice, NOW, &est(prompt, max)), expected) {
                (Ok(adm), Ok(clamp)) => {
                    assert_eq!(adm.clamp_max_tokens, clamp);
                    assert!(adm.reserved_cost_micro_usd <= 100 - cost);
                    assert!(adm.reserved_tokens <= 1000 - tokens);
                }
                (Err(r), Err(code)) => assert_eq!(r.code, code),
                (got, want) => panic!("{got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn pricing_by_exact_name_then_family_then_default() {
        let p = policy(
            r#"{"pricing":{"default":{"input_per_1m_usd":1.0,"output_per_1m_usd":2.0},
                           "gpt-4o":{"input_per_1m_usd":2.5,"output_per_1m_usd":10.0},
                           "gpt-4o-mini":{"input_per_1m_usd":0.15,"output_per_1m_usd":0.6}}}"#,
        );
        let cases = [
            (None, 3_000_000),
            (Some("gpt-4o"), 12_500_000),
            (Some("gpt-4o-2024-08-06"), 12_500_000),
            (Some("gpt-4o-mini"), 750_000),
            (Some("gpt-4o-mini-2024-07-18"), 750_000),
            (Some("gpt-4oxyz"), 3_000_000),
            (Some("default"), 3_000_000),
            (Some("claude-3"), 3_000_000),
        ];
        for (model, cost) in cases {
            assert_eq!(
                p.price(model).cost_micro(1_000_000, 1_000_000),
                cost,
                "{model:?}"
            );
        }
    }

    #[test]
    fn token_estimates_round_up() {
        for (bytes, tokens) in [(0, 0), (1, 1), (4, 1), (5, 2), (4096, 1024)] {
            assert_eq!(QuotaPolicy::estimate_prompt_tokens(bytes), tokens);
        }
    }

    #[test]
    fn header_names_are_lowercased() {
        let p = policy(r#"{"user_header":"X-Auth-User","tier_header":"X-Auth-Tier"}"#);
        assert_eq!(
            (p.user_header(), p.tier_header()),
            ("x-auth-user", "x-auth-tier")
        );
    }
}
