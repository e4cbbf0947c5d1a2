//! `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit` on a limitador limiter.
//!
//! Per descriptor: hits = its own `hits_addend` when set, else the request's `hits_addend`, where
//! a request-level 0 (the proto3 default, "not set") counts as 1. Per-descriptor 0 checks
//! without charging (OVER_LIMIT when nothing remains). A request is admitted only when every
//! descriptor fits; then every descriptor is charged, else none is. A descriptor carrying the
//! entry `hits_mode: report` is a settlement: charged whatever the limit says (the usage has
//! already happened); its status says OVER_LIMIT when it pushed a counter past its limit, but
//! it never makes the request's overall code OVER_LIMIT. The whole check-and-charge of a
//! request runs under one lock, so admission is exact with one server process (limitador's own
//! Redis driver checks, then increments, and does not promise exactness on its own).

use crate::config::{Config, HITS_MODE_KEY};
use crate::proto::envoy::config::core::v3::HeaderValue;
use crate::proto::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use crate::proto::envoy::service::ratelimit::v3::rate_limit_response::{
    Code, DescriptorStatus, RateLimit,
};
use crate::proto::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use crate::proto::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use limitador::counter::Counter;
use limitador::limit::{Context, Namespace};
use limitador::storage::redis::AsyncRedisStorage;
use limitador::{AsyncRateLimiter, RateLimiter};
use std::collections::HashMap;
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};

/// Counters kept by the in-memory storage (limitador evicts beyond this).
const MEMORY_COUNTERS: u64 = 1_000_000;

pub enum Limiter {
    Memory(RateLimiter),
    Redis(AsyncRateLimiter),
}

impl Limiter {
    pub fn memory() -> Self {
        Limiter::Memory(RateLimiter::new(MEMORY_COUNTERS))
    }

    pub async fn redis(url: &str) -> Result<Self, String> {
        let storage = AsyncRedisStorage::new(url)
            .await
            .map_err(|e| format!("redis {url}: {e}"))?;
        Ok(Limiter::Redis(AsyncRateLimiter::new_with_storage(
            Box::new(storage),
        )))
    }

    fn add_limit(&self, limit: limitador::limit::Limit) {
        match self {
            Limiter::Memory(l) => l.add_limit(limit),
            Limiter::Redis(l) => l.add_limit(limit),
        };
    }

    /// The counters of every limit that applies, with their current remaining and reset.
    async fn counters(&self, ns: &Namespace, ctx: &Context<'_>) -> Result<Vec<Counter>, Status> {
        let r = match self {
            Limiter::Memory(l) => l.is_rate_limited(ns, ctx, 0),
            Limiter::Redis(l) => l.is_rate_limited(ns, ctx, 0).await,
        };
        r.map(|r| r.counters).map_err(unavailable)
    }

    async fn charge(&self, ns: &Namespace, ctx: &Context<'_>, hits: u64) -> Result<(), Status> {
        let r = match self {
            Limiter::Memory(l) => l.update_counters(ns, ctx, hits),
            Limiter::Redis(l) => l.update_counters(ns, ctx, hits).await,
        };
        r.map_err(unavailable)
    }
}

fn unavailable(e: limitador::errors::LimitadorError) -> Status {
    // Envoy (and the filter) apply their failure mode to UNAVAILABLE, as with Limitador.
    eprintln!("rls: storage error: {e}");
    Status::unavailable("rate limit storage unavailable")
}

pub struct Service {
    limiter: Limiter,
    /// Serialises check-then-charge (see the module docs).
    lock: Mutex<()>,
}

impl Service {
    pub fn new(config: &Config, limiter: Limiter) -> Result<Self, String> {
        for limit in config.limits()? {
            limiter.add_limit(limit);
        }
        Ok(Service {
            limiter,
            lock: Mutex::new(()),
        })
    }
}

struct Planned<'a> {
    ctx: Context<'a>,
    hits: u64,
    report: bool,
    counters: Vec<Counter>,
}

fn unit_of(seconds: u64) -> Unit {
    match seconds {
        1 => Unit::Second,
        60 => Unit::Minute,
        3600 => Unit::Hour,
        86400 => Unit::Day,
        604800 => Unit::Week,
        _ => Unit::Unknown,
    }
}

fn to_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn descriptor_context(
    entries: &[crate::proto::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry],
) -> Result<(Context<'static>, bool), Status> {
    if entries.is_empty() {
        return Err(Status::invalid_argument("a descriptor has no entries"));
    }
    let mut map = HashMap::with_capacity(entries.len());
    let mut report = false;
    for e in entries {
        if e.key.is_empty() {
            return Err(Status::invalid_argument(
                "a descriptor entry has an empty key",
            ));
        }
        if e.key == HITS_MODE_KEY {
            report = match e.value.as_str() {
                "report" => true,
                "admit" => false,
                _ => {
                    return Err(Status::invalid_argument(
                        "hits_mode must be \"admit\" or \"report\"",
                    ))
                }
            };
        }
        // A repeated key is ambiguous: refuse rather than pick one.
        if map.insert(e.key.clone(), e.value.clone()).is_some() {
            return Err(Status::invalid_argument(
                "a descriptor repeats an entry key",
            ));
        }
    }
    map.remove(HITS_MODE_KEY);
    let mut ctx = Context::default();
    ctx.list_binding("descriptors".to_string(), vec![map]);
    Ok((ctx, report))
}

#[tonic::async_trait]
impl RateLimitService for Service {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        let req = request.into_inner();
        if req.domain.is_empty() {
            return Err(Status::invalid_argument("domain is empty"));
        }
        if req.descriptors.is_empty() {
            return Err(Status::invalid_argument("no descriptors"));
        }
        let request_hits = if req.hits_addend == 0 {
            1
        } else {
            u64::from(req.hits_addend)
        };
        let ns = Namespace::from(req.domain.as_str());
        let mut plan = Vec::with_capacity(req.descriptors.len());
        for d in &req.descriptors {
            if d.limit.is_some() {
                return Err(Status::invalid_argument(
                    "descriptor limit overrides are not supported",
                ));
            }
            let (ctx, report) = descriptor_context(&d.entries)?;
            let hits = d.hits_addend.unwrap_or(request_hits);
            plan.push(Planned {
                ctx,
                hits,
                report,
                counters: Vec::new(),
            });
        }

        let _guard = self.lock.lock().await;
        // Read every counter once, and add up what this request would charge to each (two
        // descriptors may land on the same counter).
        let mut demand: HashMap<Counter, u64> = HashMap::new();
        for p in plan.iter_mut() {
            p.counters = self.limiter.counters(&ns, &p.ctx).await?;
            if !p.report {
                for c in &p.counters {
                    *demand.entry(c.clone()).or_default() += p.hits;
                }
            }
        }
        let over = |p: &Planned, c: &Counter| {
            let remaining = c.remaining().unwrap_or(c.max_value());
            !p.report
                && (remaining < demand.get(c).copied().unwrap_or(0)
                    || (p.hits == 0 && remaining == 0))
        };
        let admitted = !plan.iter().any(|p| p.counters.iter().any(|c| over(p, c)));
        for p in &plan {
            if p.hits > 0 && (admitted || p.report) && !p.counters.is_empty() {
                self.limiter.charge(&ns, &p.ctx, p.hits).await?;
            }
        }
        drop(_guard);

        let statuses = plan
            .iter()
            .map(|p| {
                let charged = p.hits > 0 && (admitted || p.report);
                // A settlement that pushed a counter past its limit says so (informational).
                let limited = p.counters.iter().any(|c| {
                    over(p, c) || (p.report && c.remaining().unwrap_or(c.max_value()) < p.hits)
                });
                // The most restrictive counter of the descriptor, after this request.
                let most = p
                    .counters
                    .iter()
                    .map(|c| {
                        let before = c.remaining().unwrap_or(c.max_value());
                        let after = if charged {
                            before.saturating_sub(p.hits)
                        } else {
                            before
                        };
                        (after, c)
                    })
                    .min_by_key(|(after, _)| *after);
                let Some((after, c)) = most else {
                    // No limit applies: OK, as envoyproxy/ratelimit answers unknown descriptors.
                    return DescriptorStatus {
                        code: Code::Ok.into(),
                        ..Default::default()
                    };
                };
                DescriptorStatus {
                    code: if limited { Code::OverLimit } else { Code::Ok }.into(),
                    current_limit: Some(RateLimit {
                        name: c.limit().name().unwrap_or_default().to_string(),
                        requests_per_unit: to_u32(c.max_value()),
                        unit: unit_of(c.window().as_secs()).into(),
                    }),
                    limit_remaining: to_u32(after),
                    duration_until_reset: c.expires_in().map(|d| prost_types::Duration {
                        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
                    }),
                    quota: None,
                }
            })
            .collect::<Vec<_>>();
        // OVER_LIMIT exactly when the request was refused; settlements never refuse.
        let overall = if admitted { Code::Ok } else { Code::OverLimit };
        Ok(Response::new(RateLimitResponse {
            overall_code: overall.into(),
            statuses,
            response_headers_to_add: Vec::<HeaderValue>::new(),
            ..Default::default()
        }))
    }
}
