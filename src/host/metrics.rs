//! Envoy metrics (counters). Names carry their labels (`action.block`, `pii.email`,
//! `quota.rejected.daily_request_limit_exceeded`, `quota.admitted.free`); Envoy exposes them
//! with the `wasmcustom.` prefix. No per-user labels: tiers and codes are bounded sets.

use super::abi;
use crate::injection::InjectionAction;
use crate::pii::PiiKind;
use proxy_wasm::types::MetricType;
use std::cell::RefCell;
use std::collections::HashMap;

pub struct Metrics {
    /// Counter ids by name: defined on first use, then cached.
    ids: RefCell<HashMap<String, Option<u32>>>,
}

impl Metrics {
    /// Defines the fixed counters up front, so they show (at zero) before the first request.
    pub fn define() -> Metrics {
        let m = Metrics {
            ids: RefCell::new(HashMap::new()),
        };
        let actions = [
            InjectionAction::Allow,
            InjectionAction::Flag,
            InjectionAction::Sanitize,
            InjectionAction::Block,
        ];
        let mut names = vec![
            "requests_inspected".to_string(),
            "requests_skipped".to_string(),
        ];
        names.extend(["memo_hits", "memo_misses", "hits", "misses"].map(|n| format!("cache.{n}")));
        names.extend(actions.iter().map(|a| format!("action.{}", a.as_str())));
        names.extend(PiiKind::ALL.iter().map(|k| format!("pii.{}", k.label())));
        for n in names {
            m.add(&n, 0);
        }
        m
    }

    /// Defines every metric of the configured experiments, so they show (at zero) before the
    /// first request of an arm.
    pub fn define_rollout(&self, policy: &crate::rollout::RolloutPolicy) {
        for e in &policy.experiments {
            for g in ["stage_percent", "rolled_back"] {
                self.id(MetricType::Gauge, &format!("rollout.{}.{g}", e.id));
            }
            for c in ["advances", "rollbacks"] {
                self.add(&format!("rollout.{}.{c}", e.id), 0);
            }
            for arm in ["control", "treatment"] {
                for c in [
                    "requests",
                    "errors",
                    "blocks",
                    "tokens",
                    "cost_micro_usd",
                    "feedback",
                    "feedback_score_milli",
                ] {
                    self.add(&format!("rollout.{}.{arm}.{c}", e.id), 0);
                }
                self.id(
                    MetricType::Histogram,
                    &format!("rollout.{}.{arm}.latency_ms", e.id),
                );
            }
        }
    }

    /// A counter named from a bounded set (configuration or code), never from request data.
    pub fn add(&self, name: &str, by: i64) {
        let id = self.id(MetricType::Counter, name);
        if by != 0 {
            abi::increment(id, by);
        }
    }

    /// A gauge (`rollout.<experiment>.stage_percent`), named like a counter.
    pub fn set_gauge(&self, name: &str, value: u64) {
        abi::record(self.id(MetricType::Gauge, name), value);
    }

    /// A histogram value (`rollout.<experiment>.<arm>.latency_ms`), named like a counter.
    pub fn record(&self, name: &str, value: u64) {
        abi::record(self.id(MetricType::Histogram, name), value);
    }

    fn id(&self, kind: MetricType, name: &str) -> Option<u32> {
        let mut map = self.ids.borrow_mut();
        match map.get(name) {
            Some(id) => *id,
            None => {
                let id = abi::define_metric(kind, &format!("mesh_guardrail.{name}"));
                map.insert(name.to_string(), id);
                id
            }
        }
    }
}
