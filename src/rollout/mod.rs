//! Cohorts and gradual model rollout with quality gates and automatic rollback (pure: no
//! `proxy_wasm` import; shared state goes through the quota [`Store`]).
//!
//! Each experiment compares a treatment model with a control model. A request that takes part
//! gets an arm (`assign`: `percentage` random per request, `user` a keyed hash of the user id,
//! `header` a feature-flag header set by the mesh), its body's `model` rewritten for the arm and
//! `x-guardrail-cohort: <id>=control|treatment`. Its outcome (errors, blocks, latency, tokens,
//! cost, later feedback) is counted per arm and per stage in shared data, so every worker of
//! the Envoy agrees. When a stage has run its minimum (requests per arm and seconds) its gates
//! are judged ([`stats::judge`]): all pass, the next stage; one fails, the treatment goes to 0%
//! and stays there until the experiment's configuration changes. Transitions are written with
//! compare-and-swap, so exactly one worker logs each.

pub mod stats;

use crate::pii::hmac::HmacKey;
use crate::quota::{Store, StoreError};
use crate::reply::LocalReply;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use stats::{ArmStats, GateReport, Gates, Outcome};

use crate::config::ConfigError;

pub const COHORT_HEADER: &str = "x-guardrail-cohort";
/// Basis points: a user's bucket is in `[0, 10000)`.
pub const BUCKETS: u32 = 10_000;
/// Compare-and-swap attempts per write before giving up (counted by the caller).
const CAS_TRIES: usize = 16;
/// Largest feedback body read.
pub const FEEDBACK_MAX_BYTES: usize = 4096;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutConfig {
    pub experiments: Vec<ExperimentConfig>,
    /// Path of the feedback endpoint, answered by the filter.
    pub feedback_path: String,
    /// Slots of the request id -> arm table feedback reads (direct-mapped by a hash of the
    /// request id: a later request landing on the same slot evicts the entry).
    pub feedback_slots: u32,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            experiments: Vec::new(),
            feedback_path: "/guardrail/feedback".into(),
            feedback_slots: 16_384,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssignKind {
    Percentage,
    #[default]
    User,
    Header,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmConfig {
    pub model: String,
}

fn default_stages() -> Vec<u32> {
    vec![5, 10, 25, 50, 100]
}
fn default_min_requests() -> u64 {
    100
}
fn default_min_seconds() -> u64 {
    300
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub id: String,
    pub control: ArmConfig,
    pub treatment: ArmConfig,
    #[serde(default)]
    pub match_models: Vec<String>,
    #[serde(default)]
    pub assign: AssignKind,
    #[serde(default)]
    pub flag_header: Option<String>,
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default = "default_stages")]
    pub stages: Vec<u32>,
    #[serde(default = "default_min_requests")]
    pub stage_min_requests: u64,
    #[serde(default = "default_min_seconds")]
    pub stage_min_seconds: u64,
    #[serde(default)]
    pub gates: GatesConfig,
}

fn some(v: f64) -> Option<f64> {
    Some(v)
}
fn d_err() -> Option<f64> {
    some(0.02)
}
fn d_lat() -> Option<f64> {
    some(1.5)
}
fn d_lat_delta() -> f64 {
    50.0
}
fn d_conf() -> f64 {
    0.95
}

/// Gate thresholds; `null` turns a gate off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesConfig {
    #[serde(default = "d_err")]
    pub max_error_rate_delta: Option<f64>,
    #[serde(default = "d_err")]
    pub max_block_rate_delta: Option<f64>,
    #[serde(default = "d_lat")]
    pub max_latency_p95_ratio: Option<f64>,
    #[serde(default = "d_lat_delta")]
    pub min_latency_p95_delta_ms: f64,
    #[serde(default)]
    pub max_cost_ratio: Option<f64>,
    #[serde(default)]
    pub min_feedback_delta: Option<f64>,
    #[serde(default = "d_conf")]
    pub confidence: f64,
}

impl Default for GatesConfig {
    fn default() -> Self {
        GatesConfig {
            max_error_rate_delta: d_err(),
            max_block_rate_delta: d_err(),
            max_latency_p95_ratio: d_lat(),
            min_latency_p95_delta_ms: d_lat_delta(),
            max_cost_ratio: None,
            min_feedback_delta: None,
            confidence: d_conf(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    Control,
    Treatment,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Control => "control",
            Arm::Treatment => "treatment",
        }
    }
    fn parse(s: &str) -> Option<Arm> {
        match s {
            "control" => Some(Arm::Control),
            "treatment" => Some(Arm::Treatment),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Assign {
    Percentage,
    User,
    /// The flag header's name (lower case).
    Header(String),
}

/// One compiled experiment.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub id: String,
    pub control_model: String,
    pub treatment_model: String,
    pub match_models: Vec<String>,
    pub assign: Assign,
    salt: String,
    /// Treatment share per stage, in basis points.
    pub stages_bp: Vec<u32>,
    pub min_requests: u64,
    pub min_nanos: u64,
    pub gates: Gates,
    /// Fingerprint of the configuration: a change starts the experiment afresh.
    pub config_hash: String,
}

/// The compiled `rollout` section.
#[derive(Debug, Clone)]
pub struct RolloutPolicy {
    pub experiments: Vec<Experiment>,
    pub feedback_path: String,
    pub feedback_slots: u32,
    /// The configured token key (never the random per-VM one: the hash must agree across
    /// workers and Envoys); without it the hash is SHA-256 of the salted id.
    key: Option<HmacKey>,
}

fn label_safe(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn header_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl RolloutPolicy {
    /// Validates the section. `has_identity`: the quota section is configured (the user id
    /// that `assign: user` hashes).
    pub fn compile(cfg: &RolloutConfig, has_identity: bool) -> Result<RolloutPolicy, ConfigError> {
        if !cfg.feedback_path.starts_with('/') || cfg.feedback_path.contains(['?', '#']) {
            return Err(ConfigError::new(
                "rollout.feedback_path",
                "expected a path starting with '/' without query",
            ));
        }
        if !(1..=1_000_000).contains(&cfg.feedback_slots) {
            return Err(ConfigError::new(
                "rollout.feedback_slots",
                "expected 1 to 1000000 slots",
            ));
        }
        let mut out = Vec::with_capacity(cfg.experiments.len());
        for (i, e) in cfg.experiments.iter().enumerate() {
            let f = |name: &str| format!("rollout.experiments[{i}].{name}");
            if !label_safe(&e.id) {
                return Err(ConfigError::new(
                    f("id"),
                    "expected 1 to 64 characters of [a-z0-9_] (it names metrics)",
                ));
            }
            if out.iter().any(|x: &Experiment| x.id == e.id) {
                return Err(ConfigError::new(
                    f("id"),
                    format!("duplicate experiment id {:?}", e.id),
                ));
            }
            for (arm, m) in [("control", &e.control), ("treatment", &e.treatment)] {
                if m.model.is_empty() || m.model.len() > 256 {
                    return Err(ConfigError::new(
                        f(&format!("{arm}.model")),
                        "expected a model name (1 to 256 bytes)",
                    ));
                }
            }
            if e.control.model == e.treatment.model {
                return Err(ConfigError::new(
                    f("treatment.model"),
                    "expected a model other than control's",
                ));
            }
            if e.match_models.iter().any(String::is_empty) {
                return Err(ConfigError::new(f("match_models"), "expected model names"));
            }
            if i + 1 < cfg.experiments.len() && e.match_models.is_empty() {
                return Err(ConfigError::new(
                    f("match_models"),
                    "an experiment without match_models takes every request: only the last one may omit it",
                ));
            }
            if e.stages.is_empty() {
                return Err(ConfigError::new(f("stages"), "expected at least one stage"));
            }
            let mut prev = 0;
            for s in &e.stages {
                if *s == 0 || *s > 100 || *s <= prev {
                    return Err(ConfigError::new(
                        f("stages"),
                        "expected strictly increasing whole percentages in 1..=100",
                    ));
                }
                prev = *s;
            }
            if e.stage_min_requests == 0 {
                return Err(ConfigError::new(
                    f("stage_min_requests"),
                    "expected at least 1 request",
                ));
            }
            if e.stage_min_seconds > 30 * 86_400 {
                return Err(ConfigError::new(
                    f("stage_min_seconds"),
                    "expected at most 30 days",
                ));
            }
            let assign = match e.assign {
                AssignKind::Percentage => {
                    if e.flag_header.is_some() {
                        return Err(ConfigError::new(
                            f("flag_header"),
                            "only with assign: header",
                        ));
                    }
                    Assign::Percentage
                }
                AssignKind::User => {
                    if !has_identity {
                        return Err(ConfigError::new(
                            f("assign"),
                            "`user` needs the quota section (it identifies the user)",
                        ));
                    }
                    if e.flag_header.is_some() {
                        return Err(ConfigError::new(
                            f("flag_header"),
                            "only with assign: header",
                        ));
                    }
                    Assign::User
                }
                AssignKind::Header => match &e.flag_header {
                    Some(h) if header_name_ok(h) => {
                        let h = h.to_ascii_lowercase();
                        if h.starts_with("x-guardrail-") {
                            return Err(ConfigError::new(
                                f("flag_header"),
                                "x-guardrail-* headers are removed from requests",
                            ));
                        }
                        Assign::Header(h)
                    }
                    _ => {
                        return Err(ConfigError::new(
                            f("flag_header"),
                            "expected a header name with assign: header",
                        ))
                    }
                },
            };
            let g = &e.gates;
            if !(g.confidence > 0.5 && g.confidence < 1.0) {
                return Err(ConfigError::new(
                    f("gates.confidence"),
                    "expected a number in (0.5, 1)",
                ));
            }
            for (name, v, lo) in [
                ("max_error_rate_delta", g.max_error_rate_delta, 0.0),
                ("max_block_rate_delta", g.max_block_rate_delta, 0.0),
            ] {
                if v.is_some_and(|v| !(lo..=1.0).contains(&v)) {
                    return Err(ConfigError::new(
                        f(&format!("gates.{name}")),
                        "expected a number in [0, 1] or null",
                    ));
                }
            }
            for (name, v) in [
                ("max_latency_p95_ratio", g.max_latency_p95_ratio),
                ("max_cost_ratio", g.max_cost_ratio),
            ] {
                if v.is_some_and(|v| !(v.is_finite() && v >= 1.0)) {
                    return Err(ConfigError::new(
                        f(&format!("gates.{name}")),
                        "expected a ratio of at least 1 or null",
                    ));
                }
            }
            if !(0.0..=60_000.0).contains(&g.min_latency_p95_delta_ms) {
                return Err(ConfigError::new(
                    f("gates.min_latency_p95_delta_ms"),
                    "expected a number of milliseconds in [0, 60000]",
                ));
            }
            if g.min_feedback_delta
                .is_some_and(|v| !(-1.0..=0.0).contains(&v))
            {
                return Err(ConfigError::new(
                    f("gates.min_feedback_delta"),
                    "expected a number in [-1, 0] or null",
                ));
            }
            let salt = e.salt.clone().unwrap_or_else(|| e.id.clone());
            let fingerprint = format!("{e:?}");
            let digest = Sha256::digest(fingerprint.as_bytes());
            out.push(Experiment {
                id: e.id.clone(),
                control_model: e.control.model.clone(),
                treatment_model: e.treatment.model.clone(),
                match_models: e.match_models.clone(),
                assign,
                salt,
                stages_bp: e.stages.iter().map(|s| s * 100).collect(),
                min_requests: e.stage_min_requests,
                min_nanos: e.stage_min_seconds.saturating_mul(1_000_000_000),
                gates: Gates {
                    max_error_rate_delta: g.max_error_rate_delta,
                    max_block_rate_delta: g.max_block_rate_delta,
                    max_latency_p95_ratio: g.max_latency_p95_ratio,
                    min_latency_p95_delta_ms: g.min_latency_p95_delta_ms,
                    max_cost_ratio: g.max_cost_ratio,
                    min_feedback_delta: g.min_feedback_delta,
                    z_crit: stats::normal_quantile(g.confidence),
                },
                config_hash: {
                    let mut h = String::with_capacity(16);
                    crate::pii::hmac::push_hex(&mut h, digest.get(..8).unwrap_or_default());
                    h
                },
            });
        }
        Ok(RolloutPolicy {
            experiments: out,
            feedback_path: cfg.feedback_path.clone(),
            feedback_slots: cfg.feedback_slots,
            key: None,
        })
    }

    /// Keys the user hash with the configured token key (GUARDRAIL_TOKEN_KEY or
    /// pii.token_key). Never a random per-VM key: workers would disagree.
    pub fn set_key(&mut self, key: &[u8]) {
        self.key = Some(HmacKey::new(key));
    }

    /// The experiment a request whose body names `model` takes part in: the first whose
    /// `match_models` is empty or holds the model.
    pub fn match_model(&self, model: Option<&str>) -> Option<usize> {
        self.experiments.iter().position(|e| {
            e.match_models.is_empty()
                || model.is_some_and(|m| e.match_models.iter().any(|x| x == m))
        })
    }

    /// The experiment every request takes part in, decidable from the headers alone (the
    /// first experiment has no `match_models`).
    pub fn header_time(&self) -> Option<usize> {
        self.experiments
            .first()
            .filter(|e| e.match_models.is_empty())
            .map(|_| 0)
    }

    /// A user's bucket in `[0, BUCKETS)`: HMAC-SHA256 under the configured key (or SHA-256)
    /// of the experiment id, its salt and the user id.
    pub fn user_bucket(&self, e: &Experiment, user: &str) -> u32 {
        let mut msg = Vec::with_capacity(16 + e.id.len() + e.salt.len() + user.len());
        msg.extend_from_slice(b"rollout/v1\0");
        msg.extend_from_slice(e.id.as_bytes());
        msg.push(0);
        msg.extend_from_slice(e.salt.as_bytes());
        msg.push(0);
        msg.extend_from_slice(user.as_bytes());
        let d: [u8; 32] = match &self.key {
            Some(k) => k.mac(&msg),
            None => Sha256::digest(&msg).into(),
        };
        let mut x = [0u8; 8];
        x.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
        uniform(u64::from_be_bytes(x))
    }
}

/// Maps 64 random bits to `[0, BUCKETS)` (multiply-shift: no modulo bias worth naming).
pub fn uniform(x: u64) -> u32 {
    ((u128::from(x) * u128::from(BUCKETS)) >> 64) as u32
}

/// The arm of a bucket at a treatment share: treatment iff `bucket < share`, so raising the
/// share only moves buckets from control to treatment (sticky and monotone).
pub fn arm_for(bucket: u32, treatment_bp: u32) -> Arm {
    if bucket < treatment_bp {
        Arm::Treatment
    } else {
        Arm::Control
    }
}

/// SplitMix64 step (the per-VM generator of `assign: percentage`).
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `assign: header`: `on` is treatment, `off` or any other value (or none) control; a header
/// sent more than once is refused (400 `ambiguous_flag`).
pub fn flag_arm(headers: &[(Vec<u8>, Vec<u8>)], name: &str) -> Result<Arm, LocalReply> {
    let first = crate::headers::single(headers, name).map_err(|()| {
        LocalReply::new(
            400,
            "invalid_request_error",
            "ambiguous_flag",
            format!("request header {name} is sent more than once; send it once"),
        )
    })?;
    Ok(match first {
        Some(v) if v.trim_ascii().eq_ignore_ascii_case(b"on") => Arm::Treatment,
        _ => Arm::Control,
    })
}

/// The stage machine's state in shared data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageState {
    pub stage: usize,
    pub started_ns: u64,
    pub rolled_back: bool,
}

impl StageState {
    fn encode(&self) -> String {
        format!(
            "{} {} {}",
            self.stage,
            self.started_ns,
            u8::from(self.rolled_back)
        )
    }
    fn decode(b: &[u8]) -> Option<StageState> {
        let s = std::str::from_utf8(b).ok()?;
        let mut it = s.split(' ');
        let stage = it.next()?.parse().ok()?;
        let started_ns = it.next()?.parse().ok()?;
        let rolled_back = it.next()? == "1";
        Some(StageState {
            stage,
            started_ns,
            rolled_back,
        })
    }
}

/// A stage change, decided by exactly one worker (the one whose CAS won).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from_percent: u32,
    pub to_percent: u32,
    pub reason: String,
    pub report: GateReport,
}

impl Transition {
    /// The one log line of a transition (aggregates only: no user or request ids).
    pub fn log_line(&self, id: &str) -> String {
        format!(
            "rollout transition experiment={id} from={}% to={}% reason={} gates: {}",
            self.from_percent,
            self.to_percent,
            self.reason,
            self.report.figures()
        )
    }
}

impl Experiment {
    fn base(&self) -> String {
        format!("rollout/{}/{}/", self.id, self.config_hash)
    }

    fn state_key(&self) -> String {
        format!("{}state", self.base())
    }

    fn stats_key(&self, stage: usize, arm: Arm) -> String {
        format!("{}s{stage}/{}", self.base(), arm.as_str())
    }

    /// The treatment share in basis points: 0 once rolled back.
    pub fn treatment_bp(&self, st: &StageState) -> u32 {
        if st.rolled_back {
            0
        } else {
            self.stages_bp.get(st.stage).copied().unwrap_or(0)
        }
    }

    pub fn percent(&self, st: &StageState) -> u32 {
        self.treatment_bp(st) / 100
    }

    /// The current state; the first request of an experiment (or of a new configuration)
    /// starts stage 0 now.
    pub fn state(&self, store: &dyn Store, now_ns: u64) -> Result<StageState, StoreError> {
        let key = self.state_key();
        for _ in 0..CAS_TRIES {
            if let Some((v, _)) = store.get(&key)? {
                return StageState::decode(&v)
                    .ok_or_else(|| StoreError(format!("malformed rollout state at {key}")));
            }
            let st = StageState {
                stage: 0,
                started_ns: now_ns,
                rolled_back: false,
            };
            if store.compare_and_swap(&key, st.encode().as_bytes(), None)? {
                return Ok(st);
            }
        }
        Err(StoreError("rollout state: too many write conflicts".into()))
    }

    /// Reads one arm's counters of a stage.
    pub fn stats(&self, store: &dyn Store, stage: usize, arm: Arm) -> Result<ArmStats, StoreError> {
        Ok(store
            .get(&self.stats_key(stage, arm))?
            .and_then(|(v, _)| ArmStats::decode(&v))
            .unwrap_or_default())
    }

    fn update_stats(
        &self,
        store: &dyn Store,
        stage: usize,
        arm: Arm,
        f: impl Fn(&mut ArmStats),
    ) -> Result<(), StoreError> {
        let key = self.stats_key(stage, arm);
        for _ in 0..CAS_TRIES {
            let (mut s, cas) = match store.get(&key)? {
                Some((v, cas)) => (ArmStats::decode(&v).unwrap_or_default(), Some(cas)),
                None => (ArmStats::default(), None),
            };
            f(&mut s);
            if store.compare_and_swap(&key, s.encode().as_bytes(), cas)? {
                return Ok(());
            }
        }
        Err(StoreError(
            "rollout counters: too many write conflicts".into(),
        ))
    }

    /// Counts one request's outcome in the stage it was assigned in.
    pub fn record(
        &self,
        store: &dyn Store,
        stage: usize,
        arm: Arm,
        o: &Outcome,
    ) -> Result<(), StoreError> {
        self.update_stats(store, stage, arm, |s| s.add(o))
    }

    pub fn record_feedback(
        &self,
        store: &dyn Store,
        stage: usize,
        arm: Arm,
        score: f64,
    ) -> Result<(), StoreError> {
        self.update_stats(store, stage, arm, |s| s.add_feedback(score))
    }

    /// Judges the current stage once it has run its minimum; a won CAS returns the
    /// transition (this worker logs it).
    pub fn evaluate(
        &self,
        store: &dyn Store,
        now_ns: u64,
    ) -> Result<Option<Transition>, StoreError> {
        let key = self.state_key();
        let Some((v, cas)) = store.get(&key)? else {
            return Ok(None);
        };
        let Some(st) = StageState::decode(&v) else {
            return Ok(None);
        };
        let last = self.stages_bp.len().saturating_sub(1);
        if st.rolled_back || st.stage >= last {
            return Ok(None);
        }
        if now_ns.saturating_sub(st.started_ns) < self.min_nanos {
            return Ok(None);
        }
        let c = self.stats(store, st.stage, Arm::Control)?;
        let t = self.stats(store, st.stage, Arm::Treatment)?;
        if c.requests < self.min_requests || t.requests < self.min_requests {
            return Ok(None);
        }
        let report = stats::judge(&self.gates, &c, &t);
        let (next, reason) = match report.failed {
            Some(gate) => (
                StageState {
                    rolled_back: true,
                    started_ns: now_ns,
                    ..st
                },
                format!("gate_failed:{gate}"),
            ),
            None => (
                StageState {
                    stage: st.stage + 1,
                    started_ns: now_ns,
                    rolled_back: false,
                },
                "gates_passed".to_string(),
            ),
        };
        if !store.compare_and_swap(&key, next.encode().as_bytes(), Some(cas))? {
            return Ok(None); // another worker decided this stage
        }
        Ok(Some(Transition {
            from_percent: self.percent(&st),
            to_percent: self.percent(&next),
            reason,
            report,
        }))
    }
}

/// A request's entry in the feedback table.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackEntry {
    pub request_id: String,
    pub experiment: String,
    pub config_hash: String,
    pub stage: usize,
    pub arm: Arm,
    pub rated: bool,
}

impl FeedbackEntry {
    fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            self.request_id,
            self.experiment,
            self.config_hash,
            self.stage,
            self.arm.as_str(),
            u8::from(self.rated)
        )
    }
    fn decode(b: &[u8]) -> Option<FeedbackEntry> {
        let s = std::str::from_utf8(b).ok()?;
        let f: Vec<&str> = s.split('\t').collect();
        if f.len() != 6 {
            return None;
        }
        Some(FeedbackEntry {
            request_id: f.first()?.to_string(),
            experiment: f.get(1)?.to_string(),
            config_hash: f.get(2)?.to_string(),
            stage: f.get(3)?.parse().ok()?,
            arm: Arm::parse(f.get(4)?)?,
            rated: *f.get(5)? == "1",
        })
    }
}

impl RolloutPolicy {
    fn feedback_key(&self, request_id: &str) -> String {
        let d = Sha256::digest(request_id.as_bytes());
        let mut x = [0u8; 8];
        x.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
        let slot = u64::from_be_bytes(x) % u64::from(self.feedback_slots.max(1));
        format!("rollout/feedback/{slot}")
    }

    /// Remembers a request's arm for feedback (overwrites whatever held the slot).
    pub fn remember(&self, store: &dyn Store, entry: &FeedbackEntry) -> Result<(), StoreError> {
        let key = self.feedback_key(&entry.request_id);
        for _ in 0..CAS_TRIES {
            let cas = store.get(&key)?.map(|(_, c)| c);
            if store.compare_and_swap(&key, entry.encode().as_bytes(), cas)? {
                return Ok(());
            }
        }
        Err(StoreError(
            "rollout feedback: too many write conflicts".into(),
        ))
    }

    /// Records a score for a request id: `Ok(None)` unknown (or evicted), `Ok(Some(false))`
    /// already rated, `Ok(Some(true))` counted.
    pub fn feedback(
        &self,
        store: &dyn Store,
        request_id: &str,
        score: f64,
    ) -> Result<Option<(FeedbackEntry, bool)>, StoreError> {
        let key = self.feedback_key(request_id);
        for _ in 0..CAS_TRIES {
            let Some((v, cas)) = store.get(&key)? else {
                return Ok(None);
            };
            let Some(mut entry) = FeedbackEntry::decode(&v) else {
                return Ok(None);
            };
            if entry.request_id != request_id {
                return Ok(None);
            }
            if entry.rated {
                return Ok(Some((entry, false)));
            }
            entry.rated = true;
            if !store.compare_and_swap(&key, entry.encode().as_bytes(), Some(cas))? {
                continue;
            }
            if let Some(e) = self
                .experiments
                .iter()
                .find(|e| e.id == entry.experiment && e.config_hash == entry.config_hash)
            {
                e.record_feedback(store, entry.stage, entry.arm, score)?;
            }
            return Ok(Some((entry, true)));
        }
        Err(StoreError(
            "rollout feedback: too many write conflicts".into(),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    request_id: String,
    score: f64,
}

/// Parses a feedback body: `{"request_id": string, "score": number in [0, 1]}` (duplicate or
/// unknown keys refused).
pub fn parse_feedback(body: &[u8]) -> Result<(String, f64), LocalReply> {
    let bad = |msg: &str| {
        LocalReply::new(
            400,
            "invalid_request_error",
            "invalid_feedback",
            msg.to_string(),
        )
    };
    let b: FeedbackBody = serde_json::from_slice(body).map_err(|_| {
        bad(
            "Expected a JSON object {\"request_id\": string, \"score\": number in [0, 1]} without other or repeated keys.",
        )
    })?;
    if b.request_id.is_empty() || b.request_id.len() > 64 {
        return Err(bad("request_id must be 1 to 64 characters."));
    }
    if !(0.0..=1.0).contains(&b.score) {
        return Err(bad("score must be a number in [0, 1]."));
    }
    Ok((b.request_id, b.score))
}

#[cfg(test)]
mod tests;
