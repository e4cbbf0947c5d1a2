//! The state machine's rollout hooks (`rollout` section): assignment in the headers or body
//! phase, the cohort headers, the arm's model in the body, the outcome at the end of the
//! stream, and the feedback endpoint. The logic lives in [`crate::rollout`].

use super::{header_value, Action, Body, HeaderMap, Host, Level, RequestFilter, RequestState};
use crate::pipeline::Inspection;
use crate::quota::{Usage, UsageEstimate};
use crate::reply::LocalReply;
use crate::rollout::{self, stats::Outcome, Arm, FeedbackEntry, COHORT_HEADER};

/// A request's place in an experiment.
#[derive(Debug, Clone)]
pub(super) struct Cohort {
    exp: usize,
    arm: Arm,
    stage: usize,
    /// `x-guardrail-cohort` is on the upstream request.
    upstream_sent: bool,
}

/// Rollout state of one request.
#[derive(Debug, Default)]
pub(super) struct RolloutState {
    cohort: Option<Cohort>,
    /// `assign: header` arms read in the headers phase, per experiment.
    flags: Vec<Option<Arm>>,
    /// The model the body gets for the arm, when it differs from the client's.
    pub(super) model: Option<String>,
    started_ns: u64,
    /// Response status (0: no response headers seen: reset or timeout).
    pub(super) status: u32,
    /// Usage the response settled with (quota only).
    pub(super) usage: Option<Usage>,
    /// A feedback request: its body is buffered up to this many bytes.
    feedback: bool,
    /// Output validation found a leak or an unsafe output rule in the answer: counted as a
    /// block of the arm (`max_block_rate_delta` covers guardrail blocks and output violations).
    pub(super) output_violation: bool,
}

impl RequestFilter {
    /// Headers phase, before identity: a feedback request is answered by the filter.
    pub(super) fn rollout_feedback_headers<H: Host>(
        &mut self,
        host: &mut H,
        headers: &[(Vec<u8>, Vec<u8>)],
        end_of_stream: bool,
    ) -> Option<Action> {
        let policy = self.settings.rollout.as_ref()?;
        let path = header_value(headers, ":path").unwrap_or_default();
        let path = path.split(|&b| b == b'?').next().unwrap_or_default();
        if path != policy.feedback_path.as_bytes() {
            return None;
        }
        if header_value(headers, ":method") != Some(b"POST") {
            let r = LocalReply::new(
                405,
                "invalid_request_error",
                "method_not_allowed",
                "Feedback is sent with POST.",
            );
            return Some(self.reply(host, &r));
        }
        if end_of_stream {
            return Some(self.reply(host, &rollout::parse_feedback(b"").err()?));
        }
        self.rollout.feedback = true;
        self.state = RequestState::Buffering;
        let mode = self.shared.probe.borrow().mode();
        Some(self.hold_or_stream(host, mode, false))
    }

    pub(super) fn is_feedback(&self) -> bool {
        self.rollout.feedback
    }

    /// A feedback body: buffered to its end, then answered locally.
    pub(super) fn rollout_feedback_body<H: Host>(
        &mut self,
        host: &mut H,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        if self.state != RequestState::Buffering {
            return Action::Pause;
        }
        if body_size > rollout::FEEDBACK_MAX_BYTES {
            let r = LocalReply::new(
                413,
                "invalid_request_error",
                "request_too_large",
                format!(
                    "A feedback body is at most {} bytes.",
                    rollout::FEEDBACK_MAX_BYTES
                ),
            );
            return self.reply(host, &r);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.state = RequestState::Done;
        let body = host
            .get_buffer(Body::Request, 0, body_size)
            .unwrap_or_default();
        let (id, score) = match rollout::parse_feedback(&body) {
            Ok(x) => x,
            Err(r) => {
                host.count("rollout.feedback.invalid", 1);
                return self.reply(host, &r);
            }
        };
        let settings = self.settings.clone();
        let Some(policy) = settings.rollout.as_ref() else {
            return Action::Continue;
        };
        match policy.feedback(host.store(), &id, score) {
            Ok(Some((entry, true))) => {
                host.count(
                    &format!("rollout.{}.{}.feedback", entry.experiment, entry.arm.as_str()),
                    1,
                );
                host.count(
                    &format!(
                        "rollout.{}.{}.feedback_score_milli",
                        entry.experiment,
                        entry.arm.as_str()
                    ),
                    (score * 1000.0).round() as i64,
                );
                let body = serde_json::json!({"request_id": id, "recorded": true}).to_string();
                if let Err(e) = host.send_local_response(
                    200,
                    &[("content-type", "application/json")],
                    body.as_bytes(),
                ) {
                    host.log(
                        Level::Error,
                        &format!("local reply refused (host status {})", e.0),
                    );
                }
                self.state = RequestState::Replied;
                Action::Pause
            }
            Ok(Some((_, false))) => self.reply(
                host,
                &LocalReply::new(
                    409,
                    "invalid_request_error",
                    "feedback_already_recorded",
                    "This request was already rated.",
                ),
            ),
            Ok(None) => self.reply(
                host,
                &LocalReply::new(
                    404,
                    "invalid_request_error",
                    "unknown_request_id",
                    "No answer of an experiment with this request id is remembered (unknown, not part of an experiment, or evicted).",
                ),
            ),
            Err(e) => {
                host.log(Level::Error, &format!("rollout feedback: {e}"));
                self.reply(
                    host,
                    &LocalReply::new(
                        503,
                        "api_error",
                        "feedback_unavailable",
                        "Feedback cannot be recorded right now.",
                    ),
                )
            }
        }
    }

    /// Headers phase of an inspected request: reads the feature flags, and assigns the arm
    /// now when every request takes part (no `match_models`), so the cohort header leaves with
    /// the headers in both hold modes.
    pub(super) fn rollout_headers<H: Host>(
        &mut self,
        host: &mut H,
        headers: &[(Vec<u8>, Vec<u8>)],
    ) -> Option<Action> {
        let settings = self.settings.clone();
        let policy = settings.rollout.as_ref()?;
        self.rollout.started_ns = host.now_nanos();
        let mut flags = Vec::with_capacity(policy.experiments.len());
        for e in &policy.experiments {
            flags.push(match &e.assign {
                rollout::Assign::Header(name) => match rollout::flag_arm(headers, name) {
                    Ok(a) => Some(a),
                    Err(r) => return Some(self.reply(host, &r)),
                },
                _ => None,
            });
        }
        self.rollout.flags = flags;
        if let Some(i) = policy.header_time() {
            self.rollout_assign(host, i);
            if let Some(c) = self.rollout.cohort.as_mut() {
                let value = format!("{}={}", policy.experiments[i].id, c.arm.as_str());
                if host
                    .set_header(HeaderMap::RequestHeaders, COHORT_HEADER, &value)
                    .is_ok()
                {
                    c.upstream_sent = true;
                }
            }
        }
        None
    }

    /// Picks the arm of experiment `i` at its current stage.
    fn rollout_assign<H: Host>(&mut self, host: &mut H, i: usize) {
        let settings = self.settings.clone();
        let Some(policy) = settings.rollout.as_ref() else {
            return;
        };
        let Some(e) = policy.experiments.get(i) else {
            return;
        };
        let st = match e.state(host.store(), host.now_nanos()) {
            Ok(s) => s,
            Err(err) => {
                host.log(Level::Error, &format!("rollout {}: {err}", e.id));
                host.count("rollout.store_failed", 1);
                return;
            }
        };
        let share = e.treatment_bp(&st);
        let arm = match &e.assign {
            rollout::Assign::Percentage => {
                let mut s = self.shared.rng.get();
                let x = rollout::splitmix(&mut s);
                self.shared.rng.set(s);
                rollout::arm_for(rollout::uniform(x), share)
            }
            rollout::Assign::User => match &self.identity {
                // `missing_user: anonymous` puts every unidentified request in one bucket: it
                // would send all of them to one arm, so they do not take part.
                Some(id) if !(id.tier == "anonymous" && id.user == "anon") => {
                    rollout::arm_for(policy.user_bucket(e, &id.user), share)
                }
                _ => return,
            },
            // The flag decides; a rolled-back experiment sends nobody to the treatment.
            rollout::Assign::Header(_) => match self.rollout.flags.get(i).copied().flatten() {
                Some(Arm::Treatment) if !st.rolled_back => Arm::Treatment,
                _ => Arm::Control,
            },
        };
        host.gauge(
            &format!("rollout.{}.stage_percent", e.id),
            u64::from(e.percent(&st)),
        );
        host.gauge(
            &format!("rollout.{}.rolled_back", e.id),
            u64::from(st.rolled_back),
        );
        self.rollout.cohort = Some(Cohort {
            exp: i,
            arm,
            stage: st.stage,
            upstream_sent: false,
        });
    }

    /// Body phase, once the body is inspected: assigns by the body's model (if not done in the
    /// headers phase), sets the arm's model and the cohort headers, and remembers the request
    /// for feedback.
    pub(super) fn rollout_body<H: Host>(&mut self, host: &mut H, ins: &Inspection<'_>) {
        let settings = self.settings.clone();
        let Some(policy) = settings.rollout.as_ref() else {
            return;
        };
        if ins.body.doc.is_none() {
            // Not JSON: no `model` to rewrite, so not part of an experiment.
            self.rollout.cohort = None;
            return;
        }
        let body_model = ins.body.model();
        if self.rollout.cohort.is_none() && policy.header_time().is_none() {
            if let Some(i) = policy.match_model(body_model.as_deref()) {
                self.rollout_assign(host, i);
            }
        }
        let Some(c) = self.rollout.cohort.clone() else {
            return;
        };
        let Some(e) = policy.experiments.get(c.exp) else {
            return;
        };
        let model = match c.arm {
            Arm::Control => &e.control_model,
            Arm::Treatment => &e.treatment_model,
        };
        if body_model.as_deref() != Some(model.as_str()) {
            self.rollout.model = Some(model.clone());
        }
        let value = format!("{}={}", e.id, c.arm.as_str());
        if !c.upstream_sent {
            if self.headers_paused
                && host
                    .set_header(HeaderMap::RequestHeaders, COHORT_HEADER, &value)
                    .is_ok()
            {
                if let Some(c) = self.rollout.cohort.as_mut() {
                    c.upstream_sent = true;
                }
            } else {
                // Stream mode with match_models: the headers left before the body named its
                // model.
                host.count("rollout.cohort_header_late", 1);
            }
        }
        self.decision.push((COHORT_HEADER, value));
        if !self.request_id.is_empty() {
            let entry = FeedbackEntry {
                request_id: self.request_id.clone(),
                experiment: e.id.clone(),
                config_hash: e.config_hash.clone(),
                stage: c.stage,
                arm: c.arm,
                rated: false,
            };
            if let Err(err) = policy.remember(host.store(), &entry) {
                host.log(Level::Error, &format!("rollout feedback table: {err}"));
            }
        }
    }

    /// The body passes unread (`request.oversize: pass`): its model cannot be rewritten, so the
    /// request leaves its experiment (and the cohort header, while the headers are held).
    pub(super) fn rollout_leave<H: Host>(&mut self, host: &mut H) {
        if self.rollout.cohort.take().is_some() {
            if self.headers_paused {
                let _ = host.remove_header(HeaderMap::RequestHeaders, COHORT_HEADER.as_bytes());
            }
            host.count("rollout.left_unread", 1);
        }
    }

    /// The quota estimate prices the arm's model.
    pub(super) fn rollout_estimate(&self, mut estimate: UsageEstimate) -> UsageEstimate {
        if let Some(m) = &self.rollout.model {
            estimate.model = Some(m.clone());
        }
        estimate
    }

    /// Response headers: the request id the client rates with.
    pub(super) fn rollout_response_headers<H: Host>(&mut self, host: &mut H, status: &[u8]) {
        if self.settings.rollout.is_none() {
            return;
        }
        self.rollout.status = std::str::from_utf8(status)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if self.rollout.cohort.is_some() && !self.request_id.is_empty() {
            let _ = host.set_header(HeaderMap::ResponseHeaders, "x-request-id", &self.request_id);
        }
    }

    /// End of the stream: counts the outcome in the arm's stage and judges the stage.
    pub(super) fn rollout_finish<H: Host>(&mut self, host: &mut H) {
        let settings = self.settings.clone();
        let (Some(policy), Some(c)) = (settings.rollout.as_ref(), self.rollout.cohort.take())
        else {
            return;
        };
        let Some(e) = policy.experiments.get(c.exp) else {
            return;
        };
        let now = host.now_nanos();
        let block = self.state == RequestState::Replied || self.rollout.output_violation;
        let status = self.rollout.status;
        let usage = self.rollout.usage.map(|u| {
            let model = self.admission.as_ref().and_then(|a| a.model.as_deref());
            let cost = settings
                .quota
                .as_ref()
                .map_or(0, |q| q.usage_cost(model, u));
            (u.prompt_tokens.saturating_add(u.completion_tokens), cost)
        });
        let o = Outcome {
            error: !block && (status == 0 || status >= 500),
            block,
            latency_ms: now.saturating_sub(self.rollout.started_ns) / 1_000_000,
            usage,
        };
        let m = |what: &str| format!("rollout.{}.{}.{what}", e.id, c.arm.as_str());
        host.count(&m("requests"), 1);
        host.count(&m("errors"), i64::from(o.error));
        host.count(&m("blocks"), i64::from(o.block));
        if let Some((tokens, cost)) = o.usage {
            host.count(&m("tokens"), i64::try_from(tokens).unwrap_or(i64::MAX));
            host.count(
                &m("cost_micro_usd"),
                i64::try_from(cost).unwrap_or(i64::MAX),
            );
        }
        host.histogram(&m("latency_ms"), o.latency_ms);
        let store = host.store();
        let result = e
            .record(store, c.stage, c.arm, &o)
            .and_then(|()| e.evaluate(store, now));
        match result {
            Ok(Some(t)) => {
                host.log(
                    if t.to_percent == 0 {
                        Level::Warn
                    } else {
                        Level::Info
                    },
                    &t.log_line(&e.id),
                );
                host.gauge(
                    &format!("rollout.{}.stage_percent", e.id),
                    u64::from(t.to_percent),
                );
                host.gauge(
                    &format!("rollout.{}.rolled_back", e.id),
                    u64::from(t.to_percent == 0),
                );
                host.count(
                    &format!(
                        "rollout.{}.{}",
                        e.id,
                        if t.to_percent == 0 {
                            "rollbacks"
                        } else {
                            "advances"
                        }
                    ),
                    1,
                );
            }
            Ok(None) => {}
            Err(err) => {
                host.log(Level::Error, &format!("rollout {}: {err}", e.id));
                host.count("rollout.store_failed", 1);
            }
        }
    }
}
