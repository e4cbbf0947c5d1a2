//! Envoy metrics (counters). Names carry their labels (`action.block`, `pii.email`,
//! `quota.rejected.daily_request_limit_exceeded`, `quota.admitted.free`); Envoy exposes them
//! with the `wasmcustom.` prefix. No per-user labels: tiers and codes are bounded sets.

use super::abi;
use crate::injection::InjectionAction;
use crate::pii::PiiKind;
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
        names.extend(actions.iter().map(|a| format!("action.{}", a.as_str())));
        names.extend(PiiKind::ALL.iter().map(|k| format!("pii.{}", k.label())));
        for n in names {
            m.add(&n, 0);
        }
        m
    }

    /// Sets a gauge (named from code).
    pub fn set_gauge(&self, name: &str, value: i64) {
        let key = format!("gauge:{name}");
        let mut map = self.ids.borrow_mut();
        let id = match map.get(&key) {
            Some(id) => *id,
            None => {
                let id = abi::define_gauge(&format!("mesh_guardrail.{name}"));
                map.insert(key, id);
                id
            }
        };
        abi::record(id, u64::try_from(value).unwrap_or(0));
    }

    /// A counter named from a bounded set (configuration or code), never from request data.
    pub fn add(&self, name: &str, by: i64) {
        let mut map = self.ids.borrow_mut();
        let id = match map.get(name) {
            Some(id) => *id,
            None => {
                let id = abi::define_counter(&format!("mesh_guardrail.{name}"));
                map.insert(name.to_string(), id);
                id
            }
        };
        if by != 0 {
            abi::increment(id, by);
        }
    }
}
