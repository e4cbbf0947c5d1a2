//! The degradation level machine over the shared-data store: one key holds the level, the
//! half-open probe schedule and two sliding windows (primary and backup) of upstream
//! outcomes. Every change is a compare-and-swap, so the worker whose write changes the level
//! is the only one that reports the change (logged once, gauge set once).
//!
//! - `normal`: requests go to the primary. When the primary's window holds at least
//!   `min_requests` outcomes and its failure rate reaches `failure_rate`, the level becomes
//!   `limited` (or `minimal` without a `backup_model`).
//! - `limited`: requests go to the backup; when the backup's window fails the same way, the
//!   level becomes `minimal`.
//! - `minimal`: template answers; after `offline_after_secs` (if set) `offline`.
//! - In every degraded level, one request per `probe_interval_secs` goes to the primary as a
//!   half-open probe; `recover_probes` successful probes in a row bring the level back to
//!   `normal` (windows cleared), a failed probe restarts the count.

use super::config::Levels;
use super::Level;
use crate::quota::Store;
use serde::{Deserialize, Serialize};

pub const BUCKETS: usize = 10;
/// The store key (under the filter's shared-data prefix).
pub const KEY: &str = "degrade/v1";
const CAS_TRIES: usize = 8;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Primary,
    /// The backup model (`limited`).
    Backup,
    /// A half-open probe of the primary while degraded.
    Probe,
    /// Answered by the filter (`minimal`, `offline`).
    Local,
}

/// The level for one request, where it goes, and a level change this request's write made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub level: Level,
    pub route: Route,
    pub change: Option<(Level, Level)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// The bucket number (seconds / bucket length) each slot counts for.
    stamp: [u64; BUCKETS],
    ok: [u32; BUCKETS],
    fail: [u32; BUCKETS],
}

impl Window {
    fn add(&mut self, bucket: u64, ok: bool) {
        let i = (bucket % BUCKETS as u64) as usize;
        if let (Some(s), Some(o), Some(f)) = (
            self.stamp.get_mut(i),
            self.ok.get_mut(i),
            self.fail.get_mut(i),
        ) {
            if *s != bucket {
                *s = bucket;
                *o = 0;
                *f = 0;
            }
            if ok {
                *o = o.saturating_add(1);
            } else {
                *f = f.saturating_add(1);
            }
        }
    }

    /// (ok, failed) over the buckets still in the window.
    pub fn totals(&self, bucket: u64) -> (u32, u32) {
        let oldest = bucket.saturating_sub(BUCKETS as u64 - 1);
        let mut t = (0u32, 0u32);
        for i in 0..BUCKETS {
            let s = self.stamp.get(i).copied().unwrap_or(0);
            if s >= oldest && s <= bucket {
                t.0 = t.0.saturating_add(self.ok.get(i).copied().unwrap_or(0));
                t.1 = t.1.saturating_add(self.fail.get(i).copied().unwrap_or(0));
            }
        }
        t
    }

    fn unhealthy(&self, l: &Levels, bucket: u64) -> bool {
        let (ok, fail) = self.totals(bucket);
        let n = ok.saturating_add(fail);
        n >= l.min_requests && f64::from(fail) >= l.failure_rate * f64::from(n)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub level: u8,
    /// When the level was entered (seconds).
    pub since: u64,
    /// The earliest time of the next probe (seconds).
    pub next_probe: u64,
    /// Successful probes in a row.
    pub streak: u32,
    pub primary: Window,
    pub backup: Window,
}

impl State {
    pub fn level(&self) -> Level {
        Level::from_u8(self.level)
    }

    fn set_level(&mut self, l: &Levels, to: Level, now: u64) {
        if self.level() == to {
            return;
        }
        self.level = to as u8;
        self.since = now;
        self.streak = 0;
        self.next_probe = now.saturating_add(l.probe_interval_secs);
        if to == Level::Normal {
            self.primary = Window::default();
            self.backup = Window::default();
        }
    }
}

fn read(store: &dyn Store) -> Result<(State, Option<u32>), ()> {
    match store.get(KEY) {
        Ok(Some((bytes, cas))) => Ok((
            serde_json::from_slice(&bytes).unwrap_or_default(),
            Some(cas),
        )),
        Ok(None) => Ok((State::default(), None)),
        Err(_) => Err(()),
    }
}

fn write(store: &dyn Store, s: &State, cas: Option<u32>) -> bool {
    serde_json::to_vec(s)
        .ok()
        .is_some_and(|b| store.compare_and_swap(KEY, &b, cas).unwrap_or(false))
}

fn route_of(level: Level) -> Route {
    match level {
        Level::Normal => Route::Primary,
        Level::Limited => Route::Backup,
        Level::Minimal | Level::Offline => Route::Local,
    }
}

/// The level and route of a new request (called at request-headers time). A store that
/// cannot be read degrades nothing (`normal`, to the primary).
pub fn decide(l: &Levels, store: &dyn Store, now: u64) -> Decision {
    if let Some(level) = l.force {
        return Decision {
            level,
            route: route_of(level),
            change: None,
        };
    }
    for _ in 0..CAS_TRIES {
        let Ok((mut s, cas)) = read(store) else {
            break;
        };
        let level = s.level();
        if level == Level::Normal {
            return Decision {
                level,
                route: Route::Primary,
                change: None,
            };
        }
        let offline_due = level == Level::Minimal
            && l.offline_after_secs > 0
            && now.saturating_sub(s.since) >= l.offline_after_secs;
        let probe_due = now >= s.next_probe;
        if !offline_due && !probe_due {
            return Decision {
                level,
                route: route_of(level),
                change: None,
            };
        }
        if offline_due {
            s.set_level(l, Level::Offline, now);
        }
        if probe_due {
            s.next_probe = now.saturating_add(l.probe_interval_secs);
        }
        if write(store, &s, cas) {
            let new = s.level();
            return Decision {
                level: new,
                route: if probe_due {
                    Route::Probe
                } else {
                    route_of(new)
                },
                change: (new != level).then_some((level, new)),
            };
        }
        // Another worker wrote first: read again.
    }
    Decision {
        level: Level::Normal,
        route: Route::Primary,
        change: None,
    }
}

/// Records an upstream outcome of a request that went `route`; returns the level change this
/// write made (only the worker whose write changed the level gets it).
pub fn record(
    l: &Levels,
    store: &dyn Store,
    now: u64,
    route: Route,
    ok: bool,
) -> Option<(Level, Level)> {
    if l.force.is_some() || route == Route::Local {
        return None;
    }
    let bucket = now / l.bucket_secs.max(1);
    for _ in 0..CAS_TRIES {
        let Ok((mut s, cas)) = read(store) else {
            return None;
        };
        let before = s.level();
        match route {
            Route::Backup => s.backup.add(bucket, ok),
            _ => s.primary.add(bucket, ok),
        }
        if route == Route::Probe && before != Level::Normal {
            if ok {
                s.streak = s.streak.saturating_add(1);
                if s.streak >= l.recover_probes {
                    s.set_level(l, Level::Normal, now);
                }
            } else {
                s.streak = 0;
                s.next_probe = now.saturating_add(l.probe_interval_secs);
            }
        }
        if s.level() == Level::Normal && route != Route::Probe && s.primary.unhealthy(l, bucket) {
            let to = if l.backup_model.is_some() {
                Level::Limited
            } else {
                Level::Minimal
            };
            s.set_level(l, to, now);
        }
        if s.level() == Level::Limited && route == Route::Backup && s.backup.unhealthy(l, bucket) {
            s.set_level(l, Level::Minimal, now);
        }
        if write(store, &s, cas) {
            let after = s.level();
            return (after != before).then_some((before, after));
        }
    }
    None
}

/// The current level without changing anything (for tests and reporting).
pub fn current(store: &dyn Store) -> Level {
    read(store).map(|(s, _)| s.level()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::degrade::config::{DegradationConfig, DegradationPolicy};
    use crate::quota::MemStore;

    fn levels(json: &str) -> Levels {
        let cfg: DegradationConfig = match serde_json::from_str(json) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        match DegradationPolicy::compile(&cfg).map(|p| p.levels) {
            Ok(Some(l)) => l,
            other => panic!("{other:?}"),
        }
    }

    const CFG: &str = r#"{"levels": {"window_secs": 10, "min_requests": 4, "failure_rate": 0.5,
        "backup_model": "small", "probe_interval_secs": 5, "recover_probes": 2}}"#;

    #[test]
    fn failures_move_normal_to_limited_once_then_probes_recover() {
        let l = levels(CFG);
        let st = MemStore::new();
        let t = 1_000u64;
        assert_eq!(decide(&l, &st, t).route, Route::Primary);
        assert_eq!(record(&l, &st, t, Route::Primary, true), None);
        assert_eq!(record(&l, &st, t, Route::Primary, false), None);
        assert_eq!(record(&l, &st, t, Route::Primary, true), None);
        // 4 outcomes, 2 failed: 50% reaches the threshold. Reported once.
        assert_eq!(
            record(&l, &st, t, Route::Primary, false),
            Some((Level::Normal, Level::Limited))
        );
        assert_eq!(record(&l, &st, t, Route::Primary, false), None);
        assert_eq!(current(&st), Level::Limited);
        let d = decide(&l, &st, t + 1);
        assert_eq!((d.level, d.route), (Level::Limited, Route::Backup));
        // The probe interval passes: exactly one request probes the primary.
        let p = decide(&l, &st, t + 5);
        assert_eq!(p.route, Route::Probe);
        assert_eq!(decide(&l, &st, t + 5).route, Route::Backup);
        // A failed probe restarts the count; two good ones in a row recover.
        assert_eq!(record(&l, &st, t + 5, Route::Probe, false), None);
        assert_eq!(decide(&l, &st, t + 10).route, Route::Probe);
        assert_eq!(record(&l, &st, t + 10, Route::Probe, true), None);
        assert_eq!(decide(&l, &st, t + 15).route, Route::Probe);
        assert_eq!(
            record(&l, &st, t + 15, Route::Probe, true),
            Some((Level::Limited, Level::Normal))
        );
        let d = decide(&l, &st, t + 16);
        assert_eq!((d.level, d.route), (Level::Normal, Route::Primary));
        // The window was cleared: one more failure does not trip it again.
        assert_eq!(record(&l, &st, t + 16, Route::Primary, false), None);
    }

    #[test]
    fn too_few_outcomes_or_old_ones_do_not_trip() {
        let l = levels(CFG);
        let st = MemStore::new();
        for _ in 0..3 {
            assert_eq!(record(&l, &st, 100, Route::Primary, false), None);
        }
        // Ten seconds later those failures left the window.
        assert_eq!(record(&l, &st, 111, Route::Primary, false), None);
        assert_eq!(current(&st), Level::Normal);
        let (ok, fail) = read(&st)
            .map(|(s, _)| s.primary.totals(111))
            .unwrap_or_default();
        assert_eq!((ok, fail), (0, 1));
    }

    #[test]
    fn backup_failures_go_minimal_then_offline_after_its_delay() {
        let l = levels(
            r#"{"levels": {"window_secs": 10, "min_requests": 2, "backup_model": "small",
                "probe_interval_secs": 1000, "offline_after_secs": 60}}"#,
        );
        let st = MemStore::new();
        record(&l, &st, 1, Route::Primary, false);
        assert_eq!(
            record(&l, &st, 1, Route::Primary, false),
            Some((Level::Normal, Level::Limited))
        );
        record(&l, &st, 2, Route::Backup, false);
        assert_eq!(
            record(&l, &st, 2, Route::Backup, false),
            Some((Level::Limited, Level::Minimal))
        );
        let d = decide(&l, &st, 3);
        assert_eq!((d.level, d.route), (Level::Minimal, Route::Local));
        let d = decide(&l, &st, 62);
        assert_eq!(d.change, Some((Level::Minimal, Level::Offline)));
        assert_eq!(decide(&l, &st, 63).change, None);
        assert_eq!(decide(&l, &st, 63).level, Level::Offline);
    }

    #[test]
    fn no_backup_model_goes_straight_to_minimal_and_force_pins() {
        let l = levels(r#"{"levels": {"window_secs": 10, "min_requests": 1}}"#);
        let st = MemStore::new();
        assert_eq!(
            record(&l, &st, 1, Route::Primary, false),
            Some((Level::Normal, Level::Minimal))
        );
        let f = levels(r#"{"levels": {"force": "offline"}}"#);
        let d = decide(&f, &MemStore::new(), 1);
        assert_eq!((d.level, d.route), (Level::Offline, Route::Local));
    }

    #[test]
    fn a_conflicting_writer_is_retried_and_counts_once() {
        let l = levels(CFG);
        let st = MemStore::new();
        st.inject_conflicts(2);
        record(&l, &st, 1, Route::Primary, true);
        let (ok, fail) = read(&st)
            .map(|(s, _)| s.primary.totals(1))
            .unwrap_or_default();
        assert_eq!((ok, fail), (1, 0));
    }
}
