//! The degradation hooks of the state machine (`crate::degrade` holds the logic): the level
//! and route of a request (request headers), the backup model and local answers (request
//! body), fallback answers for failures (response headers and body), the end of a stream
//! that broke, and the outcome that feeds the health window (log).

use super::{header_value, Action, Body, HeaderMap, Host, Level, RequestFilter, RequestState};
use crate::body::Role;
use crate::degrade::{self, answer, health, Dialect, FailureAction, Route, StreamEnd};
use crate::pipeline::Inspection;

pub(super) const H_DEGRADED: &str = "x-guardrail-degraded";
const H_ROUTE: &str = "x-guardrail-route";
/// The gauge of the current level (0 normal, 1 limited, 2 minimal, 3 offline).
pub const LEVEL_GAUGE: &str = "degradation.level";

/// What one request carries for degradation.
#[derive(Debug, Default)]
pub(super) struct DegradeState {
    dialect: Dialect,
    /// The level and route decided at request-headers time (levels configured).
    level: degrade::Level,
    route: Option<Route>,
    stream: bool,
    model: Option<String>,
    /// The body was read: `stream` and `model` are known.
    shape_known: bool,
    /// The response status (for the outcome).
    status: Option<u32>,
    /// The answer that replaces the upstream's (failure), and whether an already shaped
    /// upstream error may pass instead.
    replace: Option<(answer::Fallback, bool)>,
    /// SSE bytes seen, watched for the terminal event.
    end: StreamEnd,
    sse: bool,
}

impl DegradeState {
    /// The request body's `model` is rewritten to the backup model.
    pub(super) fn rewrites_model(&self) -> bool {
        self.route == Some(Route::Backup)
    }

    pub(super) fn replacing(&self) -> bool {
        self.replace.is_some()
    }

    /// Every SSE chunk read: watched for the stream's terminal event.
    pub(super) fn sse_chunk(&mut self, chunk: &[u8]) {
        self.sse = true;
        self.end.push(chunk);
    }

    /// The end of a 2xx SSE body that never carried its terminal event (the upstream ended
    /// the body early): a final error event and `data: [DONE]` to append.
    pub(super) fn sse_end<H: Host>(&self, host: &H, response_ok: bool) -> Vec<u8> {
        if !response_ok || self.end.finished() {
            return Vec::new();
        }
        host.count("degradation.stream_ended_early", 1);
        answer::cut_tail(self.dialect)
    }
}

impl RequestFilter {
    fn level_changed<H: Host>(&self, host: &H, change: Option<(degrade::Level, degrade::Level)>) {
        if let Some((from, to)) = change {
            host.log(
                if to > from { Level::Warn } else { Level::Info },
                &format!(
                    "{{\"event\":\"degradation_level\",\"from\":\"{}\",\"to\":\"{}\"}}",
                    from.as_str(),
                    to.as_str()
                ),
            );
            host.gauge(LEVEL_GAUGE, to as u64);
            host.count(&format!("degradation.to.{}", to.as_str()), 1);
        }
    }

    /// Request headers of an inspected request: its dialect, and (levels on) its level and
    /// route. A request for the backup gets `x-guardrail-route: backup` now, while the route
    /// can still change in both hold modes.
    pub(super) fn degrade_request_headers<H: Host>(&mut self, host: &mut H, path: &[u8]) {
        self.deg.dialect = Dialect::from_path(path);
        let settings = self.settings.clone();
        let Some(levels) = settings.degradation.levels.as_ref() else {
            return;
        };
        let d = health::decide(levels, host.store(), Self::now_secs(host));
        self.level_changed(host, d.change);
        self.deg.level = d.level;
        self.deg.route = Some(d.route);
        host.count(&format!("degradation.route.{}", route_name(d.route)), 1);
        // A probe names the primary, so a route can send it there and not to a failover
        // (an aggregate cluster would hide the primary's health).
        let route = match d.route {
            Route::Backup => Some("backup"),
            Route::Probe => Some("primary"),
            Route::Primary | Route::Local => None,
        };
        if let Some(r) = route {
            if host
                .set_header(HeaderMap::RequestHeaders, H_ROUTE, r)
                .is_err()
            {
                Self::error(host, "degradation_route_refused");
            }
        }
    }

    /// The backup model for a request routed to the backup.
    pub(super) fn degrade_backup_model(&self) -> Option<String> {
        if !self.deg.rewrites_model() {
            return None;
        }
        self.settings
            .degradation
            .levels
            .as_ref()
            .and_then(|l| l.backup_model.clone())
    }

    /// After the decision headers went upstream: a quota route header must not replace the
    /// backup route.
    pub(super) fn degrade_keep_route<H: Host>(&self, host: &mut H) {
        let route = match self.deg.route {
            Some(Route::Backup) => "backup",
            Some(Route::Probe) => "primary",
            _ => return,
        };
        let _ = host.set_header(HeaderMap::RequestHeaders, H_ROUTE, route);
    }

    /// The body is inspected and allowed: note its shape; at `minimal` or `offline` answer it
    /// here (template answer by intent, or the fixed message) in the shape it asked for.
    pub(super) fn degrade_request_body<H: Host>(
        &mut self,
        host: &mut H,
        ins: &Inspection<'_>,
    ) -> Option<Action> {
        self.deg.stream = ins.is_stream();
        self.deg.model = ins.body.model().map(|m| m.into_owned());
        self.deg.shape_known = true;
        if self.deg.route != Some(Route::Local) {
            return None;
        }
        let settings = self.settings.clone();
        let levels = settings.degradation.levels.as_ref()?;
        let (text, intent) = match self.deg.level {
            degrade::Level::Minimal => {
                let user = ins
                    .body
                    .slots
                    .iter()
                    .rev()
                    .find(|s| s.role == Role::User && s.reads)
                    .map(|s| s.text.to_lowercase())
                    .unwrap_or_default();
                match levels
                    .intents
                    .iter()
                    .find(|i| i.phrases.iter().any(|p| user.contains(p.as_str())))
                {
                    Some(i) => (i.answer.as_str(), i.id.as_str()),
                    None => (levels.offline_message.as_str(), "none"),
                }
            }
            _ => (levels.offline_message.as_str(), "offline"),
        };
        let model = self.deg.model.clone().unwrap_or_default();
        let fb = answer::answer(
            self.deg.dialect,
            self.deg.stream,
            &model,
            text,
            Self::now_secs(host),
        );
        let level = self.deg.level.as_str();
        let headers = [("content-type", fb.content_type), (H_DEGRADED, level)];
        if let Err(e) = host.send_local_response(200, &headers, &fb.body) {
            host.log(
                Level::Error,
                &format!("degraded answer refused (host status {})", e.0),
            );
        }
        host.count(&format!("degradation.answered.{level}.{intent}"), 1);
        self.state = RequestState::Replied;
        Some(Action::Pause)
    }

    /// Response headers: a 5xx of an inspected request that went upstream becomes the
    /// configured fallback (error or answer) in the request's shape; a degraded request's
    /// response says its level.
    pub(super) fn degrade_response_headers<H: Host>(
        &mut self,
        host: &mut H,
        headers: &[(Vec<u8>, Vec<u8>)],
        end_of_stream: bool,
    ) {
        // Inspected (`Buffering`: Envoy answered before the body was read, e.g. no healthy
        // upstream in stream mode); not a skipped request or the filter's own reply.
        if !matches!(self.state, RequestState::Done | RequestState::Buffering) {
            return;
        }
        let status: u32 = header_value(headers, ":status")
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        self.deg.status = Some(status);
        let level = self.deg.level.as_str();
        if status < 500 {
            if self.deg.level != degrade::Level::Normal {
                let _ = host.set_header(HeaderMap::ResponseHeaders, H_DEGRADED, level);
            }
            return;
        }
        let settings = self.settings.clone();
        let policy = &settings.degradation;
        let details = host.property(&["response", "code_details"]).ok().flatten();
        let timed = header_value(headers, "x-envoy-upstream-service-time").is_some();
        let failure = degrade::Failure::classify(status, details.as_deref(), timed);
        let mut action = policy.action(failure);
        if action == FailureAction::Answer && !self.deg.shape_known {
            // Envoy answered before the body was read (stream mode: no healthy upstream is
            // decided with the headers): whether the client streams is unknown, and an answer
            // in the wrong shape would parse as nothing. An error parses in both.
            host.count("degradation.answer_shape_unknown", 1);
            action = FailureAction::Error;
        }
        host.count(
            &format!(
                "degradation.failure.{}.{}",
                failure.as_str(),
                match action {
                    FailureAction::Error => "error",
                    FailureAction::Answer => "answer",
                }
            ),
            1,
        );
        let model = self.deg.model.clone().unwrap_or_default();
        let fb = match action {
            FailureAction::Error => {
                answer::error(self.deg.dialect, failure, status, policy.retry_after_secs)
            }
            FailureAction::Answer => answer::answer(
                self.deg.dialect,
                self.deg.stream,
                &model,
                &policy.answer,
                Self::now_secs(host),
            ),
        };
        let mut ok = true;
        if fb.status != status {
            ok &= host
                .set_header(
                    HeaderMap::ResponseHeaders,
                    ":status",
                    &fb.status.to_string(),
                )
                .is_ok();
        }
        ok &= host
            .set_header(HeaderMap::ResponseHeaders, "content-type", fb.content_type)
            .is_ok();
        let _ = host.remove_header(HeaderMap::ResponseHeaders, b"content-length");
        let _ = host.remove_header(HeaderMap::ResponseHeaders, b"content-encoding");
        if let Some(s) = fb.retry_after {
            ok &= host
                .set_header(HeaderMap::ResponseHeaders, "retry-after", &s.to_string())
                .is_ok();
        }
        ok &= host
            .set_header(HeaderMap::ResponseHeaders, H_DEGRADED, level)
            .is_ok();
        if !ok {
            Self::error(host, "degradation_header_refused");
        }
        if end_of_stream {
            // No body will come to replace: the upstream's (empty) answer keeps the new
            // headers; an error status still makes SDKs raise.
            Self::error(host, "degradation_no_body");
            return;
        }
        let keep_shaped = action == FailureAction::Error;
        self.deg.replace = Some((fb, keep_shaped));
    }

    /// A body chunk of a response being replaced: held until its end, then replaced (an
    /// upstream error already OpenAI- or Anthropic-shaped passes under `error`).
    pub(super) fn degrade_response_body<H: Host>(
        &mut self,
        host: &mut H,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        self.degrade_replace(host, body_size);
        Action::Continue
    }

    /// Writes the fallback over the buffered body (end of stream or trailers).
    pub(super) fn degrade_replace<H: Host>(&mut self, host: &mut H, body_size: usize) {
        let Some((fb, keep_shaped)) = self.deg.replace.take() else {
            return;
        };
        let old = host
            .get_buffer(Body::Response, 0, body_size)
            .unwrap_or_default();
        if !(keep_shaped && answer::is_shaped_error(&old))
            && host
                .set_buffer(Body::Response, 0, old.len(), &fb.body)
                .is_err()
        {
            Self::error(host, "response_rewrite_failed");
        }
        self.settle(host, None, 0, false);
    }

    /// The request is over: its upstream outcome feeds the health window. A 5xx, or a stream
    /// that never carried its terminal event (ended early or reset), is a failure.
    pub(super) fn degrade_log<H: Host>(&mut self, host: &mut H) {
        let Some(status) = self.deg.status else {
            return; // no response (the client left, or the filter answered)
        };
        let cut = self.deg.sse && !self.deg.end.finished();
        if cut && !self.settled && self.response_ok {
            // Reset mid-stream: Envoy reset the client's stream; nothing could be appended.
            host.count("degradation.stream_reset", 1);
        }
        let settings = self.settings.clone();
        let (Some(levels), Some(route)) = (settings.degradation.levels.as_ref(), self.deg.route)
        else {
            return;
        };
        let ok = status < 500 && !cut;
        let change = health::record(levels, host.store(), Self::now_secs(host), route, ok);
        self.level_changed(host, change);
    }
}

fn route_name(r: Route) -> &'static str {
    match r {
        Route::Primary => "primary",
        Route::Backup => "backup",
        Route::Probe => "probe",
        Route::Local => "local",
    }
}
