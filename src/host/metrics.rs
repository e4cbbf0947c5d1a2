//! Envoy metrics (counters). Names carry their labels (`action.block`, `pii.email`,
//! `quota.rejected.daily_request_limit_exceeded`, `quota.admitted.free`); Envoy exposes them
//! with the `wasmcustom.` prefix. No per-user labels: tiers and codes are bounded sets.

use super::abi;
use crate::injection::InjectionAction;
use crate::pii::PiiKind;
use std::cell::RefCell;
use std::collections::HashMap;

pub struct Metrics {
    pub requests_inspected: Option<u32>,
    pub requests_skipped: Option<u32>,
    actions: [Option<u32>; 4],
    pii: Vec<(PiiKind, Option<u32>)>,
    /// Counters named at run time (error codes, tiers): defined on first use, then cached.
    dynamic: RefCell<HashMap<String, Option<u32>>>,
}

impl Metrics {
    pub fn define() -> Metrics {
        let c = |n: &str| abi::define_counter(&format!("mesh_guardrail.{n}"));
        Metrics {
            requests_inspected: c("requests_inspected"),
            requests_skipped: c("requests_skipped"),
            actions: [
                c("action.allow"),
                c("action.flag"),
                c("action.sanitize"),
                c("action.block"),
            ],
            pii: PiiKind::ALL
                .iter()
                .map(|k| (*k, c(&format!("pii.{}", k.label()))))
                .collect(),
            dynamic: RefCell::new(HashMap::new()),
        }
    }

    pub fn action(&self, a: InjectionAction) {
        let i = match a {
            InjectionAction::Allow => 0,
            InjectionAction::Flag => 1,
            InjectionAction::Sanitize => 2,
            InjectionAction::Block => 3,
        };
        abi::increment(self.actions.get(i).copied().flatten(), 1);
    }

    pub fn pii(&self, kind: PiiKind, n: u32) {
        if let Some((_, id)) = self.pii.iter().find(|(k, _)| *k == kind) {
            abi::increment(*id, i64::from(n));
        }
    }

    /// A counter whose name is only known at run time; `name` must come from a bounded set
    /// (configuration or code), never from request data.
    pub fn add(&self, name: &str, by: i64) {
        let mut map = self.dynamic.borrow_mut();
        let id = *map
            .entry(name.to_string())
            .or_insert_with(|| abi::define_counter(&format!("mesh_guardrail.{name}")));
        abi::increment(id, by);
    }

    pub fn error(&self, code: &str) {
        self.add(&format!("errors.{code}"), 1);
    }
}
