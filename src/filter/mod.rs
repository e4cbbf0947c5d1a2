//! The per-request state machine, pure: every effect goes through a [`Host`].
//!
//! One [`RequestFilter`] per HTTP stream. It buffers what must be inspected, applies the
//! pipeline's decisions (rewrites, local replies, decision headers), admits and settles quota,
//! and rewrites JSON and SSE responses. It never imports `proxy_wasm`: the host layer
//! (`src/host/http.rs`) is a thin adapter that implements [`Host`] over the proxy-wasm ABI and
//! forwards each callback here, and the tests drive the same code through a native mock host
//! that models Envoy's buffering (`mock`, test builds only).
//!
//! Host calls may be refused (Envoy returns a status instead of doing it, e.g. setting a
//! request header after the headers were forwarded). Each call site decides what a refusal
//! means; a refused body rewrite never forwards the original body.

use crate::config::{CompressedPolicy, OversizePolicy, RequestRoute, Settings};
use crate::hold::{BodyArrival, HoldMode, HoldProbe};
use crate::output;
use crate::pii::PiiVault;
use crate::pipeline::{self, StreamRewriter};
use crate::quota::rls::{self, Kind, Verdict};
use crate::quota::{Admission, FailureMode, Identity, QuotaPolicy, QuotaRejection, Store, Usage};
use crate::reply::LocalReply;
use std::cell::RefCell;
use std::rc::Rc;

mod degrade_hooks;
#[cfg(test)]
pub(crate) mod mock;
mod rollout;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_degrade;
#[cfg(test)]
mod tests_output;
#[cfg(test)]
mod tests_rls;
#[cfg(test)]
mod tests_rollout;

const H_SCORE: &str = "x-guardrail-injection-score";
const H_ACTION: &str = "x-guardrail-action";
const H_PII: &str = "x-guardrail-pii";
const H_ROUTE: &str = "x-guardrail-route";
const H_OUTPUT: &str = "x-guardrail-output";

/// Most bytes of an SSE response held in the host's buffer while the rewriter holds text back
/// (so that a stream ending in trailers can still send it). Above it the chunk goes on and the
/// held text waits in the rewriter, as for a stream that ends with its last body chunk.
pub const SSE_HOLD_LIMIT: usize = 64 * 1024;

/// What a callback tells the host to do with the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Stop here (headers: hold them; body: buffer it) until a later callback continues.
    Pause,
}

/// A host call refused with this status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u32);

/// Header names and raw values (names as the host gives them: lower case; values as bytes,
/// never assumed UTF-8).
pub type HeaderPairs = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderMap {
    RequestHeaders,
    ResponseHeaders,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    Request,
    Response,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warn,
    Error,
    Critical,
}

/// Everything the state machine asks of its host.
pub trait Host {
    /// All headers of a map in one call.
    fn header_pairs(&self, map: HeaderMap) -> Result<HeaderPairs, HostError>;
    fn set_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError>;
    /// Removes every value of `name`.
    fn remove_header(&mut self, map: HeaderMap, name: &[u8]) -> Result<(), HostError>;
    /// Up to `max` bytes from `start` of the current (buffered) body.
    fn get_buffer(&self, body: Body, start: usize, max: usize) -> Result<Vec<u8>, HostError>;
    /// Replaces `size` bytes at `start` with `value`. Envoy accepts `start == 0` (replace a
    /// prefix) or `start >= length` (append) only.
    fn set_buffer(
        &mut self,
        body: Body,
        start: usize,
        size: usize,
        value: &[u8],
    ) -> Result<(), HostError>;
    fn send_local_response(
        &mut self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError>;
    /// Resumes the (effective) request after the filter paused it.
    fn resume_request(&mut self) -> Result<(), HostError>;
    /// From the root context: makes `context_id` the target of the next calls.
    fn set_effective_context(&mut self, context_id: u32) -> Result<(), HostError>;
    /// The quota store (shared by every worker).
    fn store(&self) -> &dyn Store;
    /// Adds to the counter `mesh_guardrail.<name>`; `name` comes from a bounded set
    /// (configuration or code), never from request data.
    fn count(&self, name: &str, by: i64);
    fn log(&self, level: Level, message: &str);
    /// Sets the gauge `mesh_guardrail.<name>` (a bounded name, as for `count`).
    fn gauge(&self, name: &str, value: u64);
    /// Records a value in the histogram `mesh_guardrail.<name>` (a bounded name).
    fn histogram(&self, _name: &str, _value: u64) {}
    /// Nanoseconds since the Unix epoch.
    fn now_nanos(&self) -> u64;
    /// A host property (path parts, e.g. `metadata.filter_metadata.<ns>.<key>`), `None` when
    /// the host has none.
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError>;
    /// Starts a unary gRPC call to the Envoy cluster `cluster`; its answer (or failure, or
    /// DEADLINE_EXCEEDED after `timeout_ms`, which the host enforces) comes back through
    /// [`RequestFilter::on_grpc_call_response`] with the returned token.
    fn dispatch_grpc_call(
        &mut self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostError>;
    /// Up to `max` bytes of the gRPC answer being delivered (during
    /// [`RequestFilter::on_grpc_call_response`] only).
    fn grpc_response(&self, max: usize) -> Result<Vec<u8>, HostError>;
}

/// What every request of one root context (one VM's plugin instance) shares.
pub struct Shared {
    pub settings: Rc<Settings>,
    pub probe: RefCell<HoldProbe>,
    /// The VM's generator for `rollout` `assign: percentage` (the host seeds it).
    pub rng: std::cell::Cell<u64>,
}

impl Shared {
    pub fn new(settings: Rc<Settings>) -> Self {
        let probe = RefCell::new(HoldProbe::new(settings.request.hold_headers));
        Shared {
            settings,
            probe,
            rng: std::cell::Cell::new(0x5EED),
        }
    }
}

/// Logs the VM's hold mode once, when it is decided.
pub fn announce_hold<H: Host + ?Sized>(shared: &Shared, host: &H) {
    let Some(mode) = shared.probe.borrow_mut().announce() else {
        return;
    };
    match mode {
        HoldMode::Hold => host.log(
            Level::Info,
            "request hold mode: hold (request headers are held until the body is inspected)",
        ),
        HoldMode::Stream => host.log(
            if shared.settings.upstream_headers { Level::Warn } else { Level::Info },
            "request hold mode: stream (the host does not hold request headers, e.g. Istio's WasmPlugin: \
             headers go upstream at once, the body is held until inspected; upstream decision headers \
             are unavailable)",
        ),
    }
}

/// The root context's timer while the VM learns its hold mode: releases the requests whose
/// body never came (without `content-length` if their body may change). `stop_timer` runs,
/// before any release, once the timer is no longer needed.
pub fn on_tick<H: Host + ?Sized>(shared: &Shared, host: &mut H, stop_timer: impl FnOnce(&mut H)) {
    let due = shared.probe.borrow_mut().due(host.now_nanos());
    announce_hold(shared, host);
    if !shared.probe.borrow().needs_timer() {
        stop_timer(host);
    }
    // Last: each release makes that request the effective context of later host calls.
    for w in due {
        if host.set_effective_context(w.context_id).is_err() {
            continue; // the request is gone
        }
        if w.drop_length {
            // The body may be rewritten after the headers have left.
            let _ = host.remove_header(HeaderMap::RequestHeaders, b"content-length");
        }
        if let Err(e) = host.resume_request() {
            host.log(
                Level::Error,
                &format!("cannot release a held request (host status {})", e.0),
            );
        }
    }
}

#[derive(Debug, PartialEq)]
enum RequestState {
    /// Not inspected (method, path, content type, no body, or a pass policy).
    Skip,
    /// Buffering the body until end of stream (or trailers).
    Buffering,
    Done,
    /// A local reply was sent.
    Replied,
}

/// What the headers phase does once the request is counted (`quota.backend: rls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterHeaders {
    /// The body is not read: let the request go.
    Unread,
    /// The body is read: hold or stream as the VM's mode says (the probe learns it then).
    Inspect { drop_length: bool },
}

/// Tokens and micro-USD a request reserves from its estimate (`quota.backend: rls`).
#[derive(Debug, Clone, PartialEq)]
struct Reservation {
    tokens: u64,
    cost: u64,
    model: Option<String>,
}

/// A `ShouldRateLimit` call the request waits for (it is paused meanwhile).
#[derive(Debug)]
enum RlsWait {
    /// The request count (headers phase).
    Requests { token: u32, next: AfterHeaders },
    /// The token and cost reservation (body phase).
    Reserve {
        token: u32,
        res: Reservation,
        kinds: Vec<Kind>,
    },
}

impl RlsWait {
    fn token(&self) -> u32 {
        match self {
            RlsWait::Requests { token, .. } | RlsWait::Reserve { token, .. } => *token,
        }
    }
}

enum ResponseMode {
    /// Not read (no admission to settle, compressed, or a media type the filter does not read).
    Pass,
    Json,
    Sse(Box<StreamRewriter>),
}

/// The state of one HTTP stream.
pub struct RequestFilter {
    shared: Rc<Shared>,
    settings: Rc<Settings>,
    context_id: u32,
    state: RequestState,
    /// The request headers are still held (not yet forwarded upstream).
    headers_paused: bool,
    /// Held while the VM learns its hold mode (registered with the probe).
    probing: bool,
    /// `content-length` goes if the probe releases the headers (set when registered).
    drop_length_on_release: bool,
    /// The request declared a `content-length` (to correct if the body is rewritten).
    declared_length: bool,
    /// The request's content type says JSON: its body must be one JSON document.
    json_typed: bool,
    request_id: String,
    identity: Option<Identity>,
    admission: Option<Admission>,
    settled: bool,
    /// Prompt tokens estimated from the request, for settling a response without `usage`.
    prompt_estimate: u64,
    vault: PiiVault,
    /// Decision headers, kept for the response.
    decision: Vec<(&'static str, String)>,
    response: ResponseMode,
    /// The response started with a 2xx status: it is charged, never refunded.
    response_ok: bool,
    response_too_large: bool,
    /// Bytes of rewritten SSE output at the front of the host's (paused) response buffer.
    sse_buffered: Option<usize>,
    /// An OpenAI chat or legacy completions path (takes `stream_options.include_usage`).
    completions_path: bool,
    /// `include_usage` was added for quota: the client's stream drops the usage chunk.
    hide_usage: bool,
    /// The rate-limit service call this request waits for.
    rls_wait: Option<RlsWait>,
    /// A body inspected while the request-count call was in flight: its reservation is next.
    rls_body: Option<Reservation>,
    /// A body callback came while the headers were paused for the request count: the host
    /// holds headers, whatever the VM's mode says.
    rls_body_seen: bool,
    /// The service's latest statuses, for the quota headers.
    rls_statuses: rls::Statuses,
    /// The settlement report in flight (fire and forget; its answer is only counted).
    rls_report: Option<u32>,
    /// The request's experiment, arm and outcome (`rollout`).
    rollout: rollout::RolloutState,
    /// Degradation: level, route, fallback answer, stream end (`crate::degrade`).
    deg: degrade_hooks::DegradeState,
    /// Output validation: the request's system-prompt fingerprint (taken by the response).
    output_fp: Option<crate::output::Fingerprint>,
    /// The host held this request's headers through its body: it can hold response headers
    /// too (for `x-guardrail-output` and a `block` status on JSON answers).
    holds_headers: bool,
    /// The JSON response headers are held until the body is checked.
    response_headers_held: bool,
    /// Output decisions were counted and logged.
    output_reported: bool,
    /// The response announced trailers (`trailer` header).
    trailers_announced: bool,
}

/// A header's value from a fetched map (Envoy hands names in lower case).
fn header_value<'a>(headers: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_slice())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Counts what one inspection took from the memo and the verdict cache (`cache.memo_hits`,
/// `cache.memo_misses`: requests parsed from a conversation's checkpoint or whole;
/// `cache.hits`, `cache.misses`: text lookups), from their counters before and after it.
fn count_reuse<H: Host>(
    host: &mut H,
    settings: &Settings,
    (memo, cache): (crate::memo::MemoStats, crate::cache::CacheStats),
) {
    let (m, c) = (settings.memo.stats(), settings.cache.stats());
    for (name, now, was) in [
        ("cache.memo_hits", m.hits, memo.hits),
        ("cache.memo_misses", m.misses, memo.misses),
        ("cache.hits", c.hits, cache.hits),
        ("cache.misses", c.misses, cache.misses),
    ] {
        let n = now.saturating_sub(was);
        if n > 0 {
            host.count(name, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

fn guardrail_error(message: &'static str) -> LocalReply {
    LocalReply::new(500, "api_error", "guardrail_error", message)
}

impl RequestFilter {
    pub fn new(shared: Rc<Shared>, context_id: u32) -> Self {
        let max_pii_values = shared.settings.pii.max_values;
        RequestFilter {
            settings: shared.settings.clone(),
            shared,
            context_id,
            state: RequestState::Skip,
            headers_paused: false,
            probing: false,
            drop_length_on_release: false,
            declared_length: false,
            json_typed: false,
            request_id: String::new(),
            identity: None,
            admission: None,
            settled: false,
            prompt_estimate: 0,
            vault: PiiVault::with_limit(max_pii_values),
            decision: Vec::new(),
            response: ResponseMode::Pass,
            response_ok: false,
            response_too_large: false,
            sse_buffered: None,
            completions_path: false,
            hide_usage: false,
            rls_wait: None,
            rls_body: None,
            rls_body_seen: false,
            rls_statuses: rls::Statuses::default(),
            rls_report: None,
            rollout: rollout::RolloutState::default(),
            deg: Default::default(),
            output_fp: None,
            holds_headers: false,
            response_headers_held: false,
            output_reported: false,
            trailers_announced: false,
        }
    }

    fn now_secs<H: Host>(host: &H) -> u64 {
        host.now_nanos() / 1_000_000_000
    }

    fn error<H: Host>(host: &H, code: &str) {
        host.count(&format!("errors.{code}"), 1);
    }

    /// Sends an OpenAI-shaped local reply. Always followed by `Action::Pause`.
    fn reply<H: Host>(&mut self, host: &mut H, r: &LocalReply) -> Action {
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        for (k, v) in &r.headers {
            headers.push((k.as_str(), v.as_str()));
        }
        if self.settings.client_headers {
            for (k, v) in &self.decision {
                headers.push((k, v.as_str()));
            }
        }
        if let Err(e) = host.send_local_response(r.status, &headers, &r.body()) {
            host.log(
                Level::Error,
                &format!("local reply refused (host status {})", e.0),
            );
        }
        Self::error(host, r.code);
        self.state = RequestState::Replied;
        Action::Pause
    }

    fn quota_reply<H: Host>(&mut self, host: &mut H, rej: &QuotaRejection) -> Action {
        let mut r = LocalReply::new(rej.status, rej.error_type, rej.code, rej.message.clone());
        r.headers = rej.headers.clone();
        if let Some(s) = rej.retry_after_secs {
            r.headers.push(("retry-after".into(), s.to_string()));
        }
        host.count(&format!("quota.rejected.{}", rej.code), 1);
        self.reply(host, &r)
    }

    /// Removes every `x-guardrail-*` header the client sent: they cannot be forged.
    fn strip_forged_headers<H: Host>(host: &mut H, headers: &[(Vec<u8>, Vec<u8>)]) {
        for (name, _) in headers {
            if name.len() >= 12 && name[..12].eq_ignore_ascii_case(b"x-guardrail-") {
                let _ = host.remove_header(HeaderMap::RequestHeaders, name);
            }
        }
    }

    /// Whether the filter reads this request's answer: to restore or redact PII, or to settle
    /// quota from its `usage`.
    fn reads_answers(&self) -> bool {
        pipeline::response_rewrites(&self.settings)
            || self.settings.quota.is_some()
            || self.settings.output.enabled
    }

    /// Asks the upstream for an uncompressed answer when the filter must read it: a compressed
    /// answer would pass unread (tokens instead of the client's own PII, no usage). Called
    /// while the request headers can still change (both hold modes).
    fn uncompressed_answers<H: Host>(&self, host: &mut H, headers: &[(Vec<u8>, Vec<u8>)]) {
        if !self.reads_answers() || header_value(headers, "accept-encoding").is_none() {
            return;
        }
        if host
            .remove_header(HeaderMap::RequestHeaders, b"accept-encoding")
            .is_err()
        {
            Self::error(host, "accept_encoding_kept");
        }
    }

    /// Inspects the whole buffered body, read once by the caller (the rewrite replaces exactly
    /// the bytes read).
    fn inspect_body<H: Host>(&mut self, host: &mut H, read: Result<Vec<u8>, HostError>) -> Action {
        self.state = RequestState::Done;
        let bytes = match read {
            Ok(b) => b,
            Err(e) => {
                host.log(
                    Level::Error,
                    &format!("cannot read request body (host status {})", e.0),
                );
                Self::error(host, "body_read_failed");
                return self.reply(
                    host,
                    &guardrail_error("The request could not be inspected."),
                );
            }
        };
        host.count("requests_inspected", 1);
        let settings = self.settings.clone();
        let before = (settings.memo.stats(), settings.cache.stats());
        let result =
            pipeline::inspect_request_as(&settings, &bytes, self.json_typed, &mut self.vault);
        count_reuse(host, &settings, before);
        let ins = match result {
            Ok(i) => i,
            Err(r) => return self.reply(host, &r),
        };
        let pii_header = self.vault.counts_header();
        for (kind, n) in self.vault.counts() {
            if n > 0 {
                host.count(&format!("pii.{}", kind.label()), i64::from(n));
            }
        }
        host.count(&format!("action.{}", ins.report.action.as_str()), 1);
        self.decision = vec![
            (H_SCORE, pipeline::score_header(ins.report.score)),
            (H_ACTION, ins.report.action.as_str().to_string()),
        ];
        if let Some(p) = &pii_header {
            self.decision.push((H_PII, p.clone()));
        }
        if let Some(line) = ins.log_line(&self.request_id, pii_header.as_deref()) {
            host.log(Level::Warn, &line);
        }
        self.rollout_body(host, &ins);
        if let Some(r) = &ins.reply {
            return self.reply(host, r);
        }
        self.holds_headers = self.headers_paused;
        self.output_fp = settings.output.fingerprint(ins.system_texts());
        if let Some(a) = self.degrade_request_body(host, &ins) {
            return a;
        }

        // Quota: reserve the estimated cost before any upstream work.
        let mut route_model = None;
        let mut clamp = None;
        let mut reservation = None;
        if let (Some(q), Some(_)) = (settings.quota.as_ref(), self.identity.as_ref()) {
            if q.rls().is_some() {
                // Reserved at the service once the body is rewritten (no routing or clamp
                // with this backend: the remaining budget is known only after reserving).
                let estimate = self.rollout_estimate(ins.estimate());
                self.prompt_estimate = estimate.prompt_tokens;
                let (tokens, cost) = q.reservation(&estimate);
                reservation = Some(Reservation {
                    tokens,
                    cost,
                    model: estimate.model,
                });
            }
        }
        if let (Some(q), Some(id), None) = (
            settings.quota.as_ref(),
            self.identity.as_ref(),
            reservation.as_ref(),
        ) {
            let estimate = self.rollout_estimate(ins.estimate());
            self.prompt_estimate = estimate.prompt_tokens;
            match q.admit(host.store(), id, Self::now_secs(host), &estimate) {
                Ok(adm) => {
                    host.count(&format!("quota.admitted.{}", adm.tier), 1);
                    route_model = adm.route_model.clone();
                    clamp = adm.clamp_max_tokens;
                    let mut route = Vec::new();
                    if let Some(m) = &route_model {
                        route.push(format!("model={m}"));
                    }
                    if let Some(c) = clamp {
                        route.push(format!("max_tokens={c}"));
                    }
                    if !route.is_empty() {
                        self.decision.push((H_ROUTE, route.join(",")));
                    }
                    self.admission = Some(adm);
                }
                Err(rej) => return self.quota_reply(host, &rej),
            }
        }

        let route_model = route_model.or_else(|| self.degrade_backup_model());
        // A stream that asks for no usage gets it, so quota settles on the upstream's count.
        let stream_usage =
            self.admission.is_some() && self.completions_path && ins.stream_without_usage();
        self.hide_usage = stream_usage;
        // Quota's downgrade wins over the experiment's model.
        let model = route_model.as_deref().or(self.rollout.model.as_deref());
        if let Some(new_body) = ins.rewritten_with(model, clamp, stream_usage) {
            // The body's length changes: correct the declared length (the headers are held,
            // so the upstream sees the new one). Without it Envoy frames the body itself.
            let length_fixed = !self.declared_length
                || host
                    .set_header(
                        HeaderMap::RequestHeaders,
                        "content-length",
                        &new_body.len().to_string(),
                    )
                    .is_ok()
                || host
                    .remove_header(HeaderMap::RequestHeaders, b"content-length")
                    .is_ok();
            if !length_fixed {
                host.log(
                    Level::Error,
                    "cannot correct content-length of a rewritten request body",
                );
                self.refund(host);
                return self.reply(
                    host,
                    &guardrail_error("The request could not be rewritten."),
                );
            }
            if let Err(e) = host.set_buffer(Body::Request, 0, bytes.len(), &new_body) {
                // Forwarding the original would leak what was meant to be removed: refuse.
                host.log(
                    Level::Error,
                    &format!("cannot rewrite request body (host status {})", e.0),
                );
                self.refund(host);
                return self.reply(
                    host,
                    &guardrail_error("The request could not be rewritten."),
                );
            }
        }
        if let Some(res) = reservation {
            if matches!(self.rls_wait, Some(RlsWait::Requests { .. })) {
                // The request count is still in flight: reserve once it is answered.
                self.rls_body = Some(res);
                return Action::Pause;
            }
            return self.rls_reserve(host, res);
        }
        self.finish_body(host)
    }

    /// The body is inspected and admitted: decision headers upstream (headers still held).
    fn finish_body<H: Host>(&mut self, host: &mut H) -> Action {
        if self.settings.upstream_headers && self.headers_paused {
            for (k, v) in &self.decision {
                if host.set_header(HeaderMap::RequestHeaders, k, v).is_err() {
                    Self::error(host, "upstream_header_refused");
                }
            }
            self.degrade_keep_route(host);
        }
        Action::Continue
    }

    // -----------------------------------------------------------------------------------------
    // quota.backend: rls. The request count is taken in the headers phase, the token and cost
    // reservation in the body phase; the request is paused while each call is in flight, and a
    // call that fails (error, Envoy's timeout, malformed answer) gets the failure mode.
    // -----------------------------------------------------------------------------------------

    fn rls_call<H: Host>(
        &self,
        host: &mut H,
        q: &QuotaPolicy,
        id: &Identity,
        items: &[(Kind, u64)],
        report: bool,
    ) -> Result<u32, HostError> {
        let Some(r) = q.rls() else {
            return Err(HostError(0));
        };
        let message = rls::encode_call(&r.domain, &id.user, &id.tier, items, report);
        host.dispatch_grpc_call(
            &r.cluster,
            rls::SERVICE,
            rls::METHOD,
            &message,
            r.timeout_ms,
        )
    }

    /// Headers phase: counts the request at the service and pauses until it answers.
    fn rls_count_request<H: Host>(&mut self, host: &mut H, next: AfterHeaders) -> Action {
        let settings = self.settings.clone();
        let (Some(q), Some(id)) = (settings.quota.as_ref(), self.identity.as_ref()) else {
            return self.rls_after_requests(host, next);
        };
        if !q.rls_kinds(id).requests {
            return self.rls_after_requests(host, next);
        }
        match self.rls_call(host, q, id, &[(Kind::Requests, 1)], false) {
            Ok(token) => {
                self.rls_wait = Some(RlsWait::Requests { token, next });
                self.headers_paused = true;
                Action::Pause
            }
            Err(e) => {
                let why = format!("dispatch refused (host status {})", e.0);
                self.rls_failed(host, RlsWait::Requests { token: 0, next }, &why)
            }
        }
    }

    /// The request is counted (or the service failed open): go on as the headers phase would.
    fn rls_after_requests<H: Host>(&mut self, host: &mut H, next: AfterHeaders) -> Action {
        self.rls_admission(host);
        match next {
            AfterHeaders::Unread => {
                self.rls_admitted(host);
                Action::Continue
            }
            AfterHeaders::Inspect { drop_length } => {
                if let Some(res) = self.rls_body.take() {
                    return self.rls_reserve(host, res);
                }
                if self.state != RequestState::Buffering {
                    // Body oversize and passed while the count was in flight.
                    self.rls_admitted(host);
                    return Action::Continue;
                }
                let mode = if self.rls_body_seen {
                    Some(HoldMode::Hold)
                } else {
                    self.shared.probe.borrow().mode()
                };
                self.hold_or_stream(host, mode, drop_length)
            }
        }
    }

    /// Body phase: reserves the estimate's tokens and cost and pauses until the answer.
    fn rls_reserve<H: Host>(&mut self, host: &mut H, res: Reservation) -> Action {
        let settings = self.settings.clone();
        let (Some(q), Some(id)) = (settings.quota.as_ref(), self.identity.as_ref()) else {
            return self.finish_body(host);
        };
        let k = q.rls_kinds(id);
        let mut items = Vec::with_capacity(2);
        if k.tokens {
            items.push((Kind::Tokens, res.tokens));
        }
        if k.cost {
            items.push((Kind::Cost, res.cost));
        }
        if items.is_empty() {
            self.rls_reserved(host, res);
            return self.finish_body(host);
        }
        let kinds = items.iter().map(|i| i.0).collect();
        match self.rls_call(host, q, id, &items, false) {
            Ok(token) => {
                self.rls_wait = Some(RlsWait::Reserve { token, res, kinds });
                Action::Pause
            }
            Err(e) => {
                let why = format!("dispatch refused (host status {})", e.0);
                self.rls_failed(
                    host,
                    RlsWait::Reserve {
                        token: 0,
                        res,
                        kinds,
                    },
                    &why,
                )
            }
        }
    }

    /// The admission record of a counted request (headers from the service's statuses).
    fn rls_admission<H: Host>(&mut self, host: &H) {
        let (Some(q), Some(id)) = (self.settings.quota.as_ref(), self.identity.as_ref()) else {
            return;
        };
        let now = Self::now_secs(host);
        let headers = crate::quota::rls_headers(q, &self.rls_statuses, now);
        match self.admission.as_mut() {
            Some(adm) => adm.headers = headers,
            None => {
                self.admission = Some(Admission {
                    headers,
                    route_model: None,
                    clamp_max_tokens: None,
                    tier: id.tier.clone(),
                    user: id.user.clone(),
                    day: now / 86_400,
                    model: None,
                    reserved_tokens: 0,
                    reserved_cost_micro_usd: 0,
                    system_reserved: false,
                    finished: std::cell::Cell::new(false),
                })
            }
        }
    }

    fn rls_reserved<H: Host>(&mut self, host: &mut H, res: Reservation) {
        self.rls_admission(host);
        if let Some(adm) = self.admission.as_mut() {
            adm.reserved_tokens = res.tokens;
            adm.reserved_cost_micro_usd = res.cost;
            adm.model = res.model;
        }
        self.rls_admitted(host);
    }

    fn rls_admitted<H: Host>(&self, host: &H) {
        if let Some(adm) = &self.admission {
            host.count(&format!("quota.admitted.{}", adm.tier), 1);
        }
    }

    /// A call failed (refused by the host, gRPC error or timeout, malformed answer).
    fn rls_failed<H: Host>(&mut self, host: &mut H, wait: RlsWait, why: &str) -> Action {
        host.count("quota.rls_failed", 1);
        let mode = self
            .settings
            .quota
            .as_ref()
            .and_then(|q| q.rls())
            .map(|r| r.failure_mode)
            .unwrap_or_default();
        host.log(
            Level::Warn,
            &format!(
                "rate-limit service call failed ({why}); failure_mode {}",
                match mode {
                    FailureMode::Deny => "deny",
                    FailureMode::Allow => "allow",
                }
            ),
        );
        match mode {
            FailureMode::Deny => {
                let rej = crate::quota::unavailable("rate-limit service unavailable");
                self.quota_reply(host, &rej)
            }
            FailureMode::Allow => {
                host.count("quota.rls_fail_open", 1);
                self.rls_proceed(host, wait)
            }
        }
    }

    fn rls_proceed<H: Host>(&mut self, host: &mut H, wait: RlsWait) -> Action {
        match wait {
            RlsWait::Requests { next, .. } => self.rls_after_requests(host, next),
            RlsWait::Reserve { res, .. } => {
                self.rls_reserved(host, res);
                self.finish_body(host)
            }
        }
    }

    /// A gRPC call of this stream ended: `status_code` 0 with `response_size` bytes of answer,
    /// or a gRPC status (4 DEADLINE_EXCEEDED for Envoy's timeout, 14 UNAVAILABLE...).
    pub fn on_grpc_call_response<H: Host>(
        &mut self,
        host: &mut H,
        token: u32,
        status_code: u32,
        response_size: usize,
    ) {
        if self.rls_report == Some(token) {
            self.rls_report = None;
            let ok = status_code == 0
                && host
                    .grpc_response(response_size)
                    .ok()
                    .and_then(|b| rls::decode_response(&b).ok())
                    .is_some();
            host.count(
                if ok {
                    "quota.rls_reported"
                } else {
                    "quota.rls_report_failed"
                },
                1,
            );
            return;
        }
        let Some(wait) = self.rls_wait.take() else {
            return;
        };
        if wait.token() != token {
            self.rls_wait = Some(wait);
            return;
        }
        if self.state == RequestState::Replied {
            return;
        }
        let kinds: Vec<Kind> = match &wait {
            RlsWait::Requests { .. } => vec![Kind::Requests],
            RlsWait::Reserve { kinds, .. } => kinds.clone(),
        };
        let answer = if status_code != 0 {
            Err(format!("gRPC status {status_code}"))
        } else {
            host.grpc_response(response_size)
                .map_err(|e| format!("answer unreadable (host status {})", e.0))
                .and_then(|b| rls::interpret(&b, &kinds).map_err(|e| e.0.to_string()))
        };
        let action = match answer {
            Ok((verdict, statuses)) => {
                for k in &kinds {
                    if let Some(s) = statuses.get(*k) {
                        self.rls_statuses.set(*k, s.clone());
                    }
                }
                match verdict {
                    Verdict::Ok => self.rls_proceed(host, wait),
                    Verdict::OverLimit(kind) => {
                        let settings = self.settings.clone();
                        let rej = match (settings.quota.as_ref(), self.identity.as_ref()) {
                            (Some(q), Some(id)) => {
                                q.rls_exceeded(id, kind, &self.rls_statuses, Self::now_secs(host))
                            }
                            // No call is made without both: never leave the request paused.
                            _ => crate::quota::unavailable("rate-limit service answer"),
                        };
                        self.quota_reply(host, &rej)
                    }
                }
            }
            Err(why) => self.rls_failed(host, wait, &why),
        };
        if action == Action::Continue && self.state != RequestState::Replied {
            // Every wait paused the stream (headers, or the body at its end): release it.
            match host.resume_request() {
                Ok(()) => self.headers_paused = false,
                Err(e) => host.log(
                    Level::Error,
                    &format!(
                        "cannot resume a request after its quota check (host status {})",
                        e.0
                    ),
                ),
            }
        }
    }

    /// Settles with the service: what the request used beyond its reservation is reported
    /// (`hits_mode: report`); an over-estimate cannot be given back (`hits_addend` is
    /// unsigned). Fire and forget: the answer is only counted.
    fn rls_settle<H: Host>(&mut self, host: &mut H, q: &QuotaPolicy, usage: Usage) {
        let Some(adm) = self.admission.as_ref() else {
            return;
        };
        if adm.finished.replace(true) {
            return;
        }
        let tokens = usage.prompt_tokens.saturating_add(usage.completion_tokens);
        let cost = q.usage_cost(adm.model.as_deref(), usage);
        host.count(
            &format!("quota.cost_micro_usd.{}", adm.tier),
            i64::try_from(cost.max(adm.reserved_cost_micro_usd)).unwrap_or(i64::MAX),
        );
        let Some(id) = self.identity.as_ref() else {
            return;
        };
        let k = q.rls_kinds(id);
        let mut items = Vec::with_capacity(2);
        let more_tokens = tokens.saturating_sub(adm.reserved_tokens);
        let more_cost = cost.saturating_sub(adm.reserved_cost_micro_usd);
        if k.tokens && more_tokens > 0 {
            items.push((Kind::Tokens, more_tokens));
        }
        if k.cost && more_cost > 0 {
            items.push((Kind::Cost, more_cost));
        }
        if items.is_empty() {
            return;
        }
        match self.rls_call(host, q, id, &items, true) {
            Ok(token) => self.rls_report = Some(token),
            Err(_) => host.count("quota.rls_report_failed", 1),
        }
    }

    /// A body over `request.max_body_bytes`: 413, or forwarded unscanned under `oversize: pass`.
    fn oversize<H: Host>(&mut self, host: &mut H) -> Action {
        match self.settings.request.oversize {
            OversizePolicy::Reject => {
                let r = LocalReply::new(
                    413,
                    "invalid_request_error",
                    "request_too_large",
                    format!(
                        "The request body exceeds the guardrail limit of {} bytes.",
                        self.settings.request.max_body_bytes
                    ),
                );
                self.reply(host, &r)
            }
            OversizePolicy::Pass => {
                self.state = RequestState::Skip;
                self.rollout_leave(host);
                Self::error(host, "oversize_passed");
                host.count("requests_skipped", 1);
                if self.settings.upstream_headers {
                    let _ = host.set_header(HeaderMap::RequestHeaders, H_ACTION, "skip");
                }
                self.admit_unread(host)
            }
        }
    }

    /// Quota admission for a request whose body is not inspected.
    fn admit_unread<H: Host>(&mut self, host: &mut H) -> Action {
        let settings = self.settings.clone();
        let (Some(q), Some(id)) = (settings.quota.as_ref(), self.identity.as_ref()) else {
            return Action::Continue;
        };
        if q.rls().is_some() {
            if let Some(RlsWait::Requests { next, .. }) = self.rls_wait.as_mut() {
                // Passed unread while the request count is in flight: hold until it answers.
                *next = AfterHeaders::Unread;
                return Action::Pause;
            }
            if self.admission.is_some() || self.rls_wait.is_some() {
                return Action::Continue; // counted in the headers phase
            }
            return self.rls_count_request(host, AfterHeaders::Unread);
        }
        match q.admit(
            host.store(),
            id,
            Self::now_secs(host),
            &crate::quota::UsageEstimate::default(),
        ) {
            Ok(adm) => {
                host.count(&format!("quota.admitted.{}", adm.tier), 1);
                self.admission = Some(adm);
                Action::Continue
            }
            Err(rej) => self.quota_reply(host, &rej),
        }
    }

    /// Takes the reservation back: nothing went (or will go) upstream for it.
    fn refund<H: Host>(&mut self, host: &mut H) {
        if self.settled {
            return;
        }
        self.settled = true;
        if let (Some(q), Some(adm)) = (self.settings.quota.as_ref(), self.admission.as_ref()) {
            if q.rls().is_some() {
                // The service cannot give hits back: the count and reservation stand.
                adm.finished.set(true);
                host.count("quota.rls_unrefunded", 1);
                return;
            }
            q.refund(host.store(), adm, Self::now_secs(host));
            host.count("quota.refunded", 1);
        }
    }

    /// Settles the admission once. A response that started 2xx is charged: from `usage` if it
    /// was seen, else the prompt estimate plus the text seen; when the answer was not read to
    /// its end (over `response.max_body_bytes`, compressed or of another media type, cut short
    /// or abandoned by the client) at least the whole reservation. Only a request that got no
    /// 2xx response is refunded.
    fn settle<H: Host>(
        &mut self,
        host: &mut H,
        usage: Option<Usage>,
        text_bytes: usize,
        complete: bool,
    ) {
        if self.settled {
            return;
        }
        if !self.response_ok {
            self.refund(host);
            return;
        }
        self.settled = true;
        let (Some(q), Some(adm)) = (self.settings.quota.as_ref(), self.admission.as_ref()) else {
            return;
        };
        let usage = usage.unwrap_or_else(|| {
            let mut completion = pipeline::estimate_tokens(text_bytes);
            if !complete {
                let reserved = adm.reserved_tokens.saturating_sub(self.prompt_estimate);
                completion = completion.max(reserved);
            }
            Usage {
                prompt_tokens: self.prompt_estimate,
                completion_tokens: completion,
            }
        });
        self.rollout.usage = Some(usage);
        if q.rls().is_some() {
            let q = self.settings.clone();
            if let Some(q) = q.quota.as_ref() {
                self.rls_settle(host, q, usage);
            }
            if !complete {
                host.count("quota.settled_unread", 1);
            }
            return;
        }
        let s = q.settle(host.store(), adm, usage, Self::now_secs(host));
        host.count(
            &format!("quota.cost_micro_usd.{}", adm.tier),
            i64::try_from(s.cost_micro_usd).unwrap_or(i64::MAX),
        );
        if !complete {
            host.count("quota.settled_unread", 1);
        }
    }

    /// A body (or trailers) callback while the headers are paused for the request count: the
    /// host holds headers. An undecided VM learns it from this request.
    fn rls_body_arrived<H: Host>(&mut self, host: &H) {
        if self.rls_body_seen {
            return;
        }
        self.rls_body_seen = true;
        if self.shared.probe.borrow().mode().is_none() {
            let mut probe = self.shared.probe.borrow_mut();
            probe.hold(self.context_id, host.now_nanos(), false);
            probe.body_arrived(self.context_id);
        }
        announce_hold(&self.shared, host);
    }

    /// The first body (or trailers) callback of a request held while the VM learns its mode.
    fn body_arrived<H: Host>(&mut self, host: &H) {
        if !self.probing {
            return;
        }
        self.probing = false;
        let arrival = self.shared.probe.borrow_mut().body_arrived(self.context_id);
        if arrival == BodyArrival::Released {
            // The root context's timer forwarded the headers (without `content-length` if
            // the body may change).
            self.headers_paused = false;
            if self.drop_length_on_release {
                self.declared_length = false;
            }
        }
        announce_hold(&self.shared, host);
    }

    pub fn on_request_headers<H: Host>(&mut self, host: &mut H, end_of_stream: bool) -> Action {
        // One host call for all headers: each call into Envoy costs microseconds.
        let headers = host
            .header_pairs(HeaderMap::RequestHeaders)
            .unwrap_or_default();
        Self::strip_forged_headers(host, &headers);
        let get = |n: &str| header_value(&headers, n);
        self.request_id = get("x-request-id")
            .map(|b| lossy(b).chars().take(64).collect())
            .unwrap_or_default();
        if let Some(a) = self.rollout_feedback_headers(host, &headers, end_of_stream) {
            return a;
        }
        let settings = self.settings.clone();

        if let Some(q) = settings.quota.as_ref() {
            match q.identify_request(&headers, |p| host.property(p).map_err(|e| e.0)) {
                Ok(id) => {
                    // The rate-limit service cannot be read without counting: no precheck.
                    if q.rls().is_none() {
                        if let Err(rej) = q.precheck(host.store(), &id, Self::now_secs(host)) {
                            return self.quota_reply(host, &rej);
                        }
                    }
                    self.identity = Some(id);
                }
                Err(rej) => return self.quota_reply(host, &rej),
            }
        }

        let method = get(":method").unwrap_or_default();
        let path = get(":path").unwrap_or_default();
        self.completions_path = pipeline::completions_path(path);
        let content_type = get("content-type");
        self.json_typed = content_type.is_some_and(pipeline::is_json_media);
        let route = if end_of_stream {
            RequestRoute::Skip // no body to read
        } else {
            settings.route(method, path, content_type)
        };
        match route {
            RequestRoute::Inspect => {}
            RequestRoute::Refuse(r) => return self.reply(host, &r),
            RequestRoute::Skip => {
                host.count("requests_skipped", 1);
                self.state = RequestState::Skip;
                return Action::Continue;
            }
        }
        self.degrade_request_headers(host, path);
        if let Some(enc) = get("content-encoding") {
            if !enc.trim_ascii().eq_ignore_ascii_case(b"identity") {
                match settings.request.compressed {
                    CompressedPolicy::Reject => {
                        let r = LocalReply::new(
                            415,
                            "invalid_request_error",
                            "unsupported_content_encoding",
                            "Compressed request bodies cannot be inspected; send the body uncompressed.",
                        );
                        return self.reply(host, &r);
                    }
                    CompressedPolicy::Pass => {
                        Self::error(host, "compressed_passed");
                        host.count("requests_skipped", 1);
                        if settings.upstream_headers {
                            let _ = host.set_header(HeaderMap::RequestHeaders, H_ACTION, "skip");
                        }
                        self.uncompressed_answers(host, &headers);
                        return self.admit_unread(host);
                    }
                }
            }
        }
        // A declared length over the limit is answered now, before Envoy's own buffer limit
        // (1 MiB by default) can race the filter with a plain-text 413 of its own.
        let declared = get("content-length").and_then(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
        });
        self.uncompressed_answers(host, &headers);
        if declared.is_some_and(|n| n > settings.request.max_body_bytes) {
            return self.oversize(host);
        }
        if let Some(a) = self.rollout_headers(host, &headers) {
            return a;
        }
        self.state = RequestState::Buffering;
        // A rewritten body fixes `content-length` when it is written (the headers are still
        // held then); an unchanged body keeps the client's, at no extra host call.
        self.declared_length = get("content-length").is_some();
        let drop_length = self.declared_length
            && (pipeline::request_may_rewrite(&settings) || self.deg.rewrites_model());
        if self.identity.is_some() && settings.quota.as_ref().is_some_and(|q| q.rls().is_some()) {
            return self.rls_count_request(host, AfterHeaders::Inspect { drop_length });
        }
        let mode = self.shared.probe.borrow().mode();
        self.hold_or_stream(host, mode, drop_length)
    }

    /// The end of the headers phase of a request whose body is read: hold the headers, or let
    /// them go, or (VM undecided) hold and let the probe learn.
    fn hold_or_stream<H: Host>(
        &mut self,
        host: &mut H,
        mode: Option<HoldMode>,
        drop_length: bool,
    ) -> Action {
        match mode {
            // Hold the headers while the body is read: a blocked or over-quota request must not
            // open an upstream request at all, and decision headers can only be added to
            // headers not yet forwarded. Envoy needs `allow_on_headers_stop_iteration: true`.
            Some(HoldMode::Hold) => {
                self.headers_paused = true;
                Action::Pause
            }
            // The headers leave now; the body callbacks hold the body until it is inspected, and
            // a local reply then resets the upstream request before any body byte reaches it.
            Some(HoldMode::Stream) => {
                if drop_length
                    && host
                        .remove_header(HeaderMap::RequestHeaders, b"content-length")
                        .is_ok()
                {
                    self.declared_length = false;
                }
                Action::Continue
            }
            // Undecided: hold, and let the probe learn from this request (see `crate::hold`).
            None => {
                self.shared
                    .probe
                    .borrow_mut()
                    .hold(self.context_id, host.now_nanos(), drop_length);
                self.probing = true;
                self.drop_length_on_release = drop_length;
                self.headers_paused = true;
                Action::Pause
            }
        }
    }

    pub fn on_request_body<H: Host>(
        &mut self,
        host: &mut H,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        self.body_arrived(host);
        if self.is_feedback() {
            return self.rollout_feedback_body(host, body_size, end_of_stream);
        }
        if matches!(self.rls_wait, Some(RlsWait::Requests { .. })) {
            self.rls_body_arrived(host);
        }
        if self.rls_wait.is_some() && self.state != RequestState::Buffering {
            // Held until the service answers (a Continue would release the paused headers).
            return Action::Pause;
        }
        if self.state != RequestState::Buffering {
            return if self.state == RequestState::Replied {
                Action::Pause
            } else {
                Action::Continue
            };
        }
        if body_size > self.settings.request.max_body_bytes {
            return self.oversize(host);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let read = host.get_buffer(Body::Request, 0, body_size);
        self.inspect_body(host, read)
    }

    pub fn on_request_trailers<H: Host>(&mut self, host: &mut H) -> Action {
        // HTTP/2 with trailers: the body callback never saw end_of_stream.
        self.body_arrived(host);
        if self.is_feedback() {
            let size = host
                .get_buffer(Body::Request, 0, crate::rollout::FEEDBACK_MAX_BYTES + 1)
                .map_or(0, |b| b.len());
            let action = self.rollout_feedback_body(host, size, true);
            if action == Action::Continue && !self.headers_paused {
                let _ = host.resume_request();
                return Action::Pause;
            }
            return action;
        }
        if matches!(self.rls_wait, Some(RlsWait::Requests { .. })) {
            self.rls_body_arrived(host);
        }
        if self.rls_wait.is_some() && self.state != RequestState::Buffering {
            return Action::Pause;
        }
        if self.state == RequestState::Buffering {
            let read = host.get_buffer(Body::Request, 0, usize::MAX);
            let action = self.inspect_body(host, read);
            if action == Action::Continue && !self.headers_paused {
                // Headers already forwarded, body held by the body callbacks: Envoy forwards
                // the trailers but drops the held body when the trailers callback continues
                // (measured: Envoy 1.36 and 1.40, h2c). Pausing and resuming the stream
                // forwards the held body, then the trailers.
                if host.resume_request().is_ok() {
                    return Action::Pause;
                }
            }
            return action;
        }
        if self.state == RequestState::Replied {
            return Action::Pause;
        }
        Action::Continue
    }

    pub fn on_response_headers<H: Host>(&mut self, host: &mut H, end_of_stream: bool) -> Action {
        let headers = host
            .header_pairs(HeaderMap::ResponseHeaders)
            .unwrap_or_default();
        let get = |n: &str| header_value(&headers, n);
        let status = get(":status").unwrap_or_default();
        self.response_ok = status.first() == Some(&b'2');
        self.rollout_response_headers(host, status);
        let settings = self.settings.clone();
        self.degrade_response_headers(host, &headers, end_of_stream);

        // Quota headers on every response of an identified user.
        if let (Some(q), Some(id)) = (settings.quota.as_ref(), self.identity.as_ref()) {
            let headers = match &self.admission {
                Some(adm) => adm.headers.clone(),
                // The rate-limit service cannot be read without counting.
                None if q.rls().is_some() => Vec::new(),
                None => q.status_headers(host.store(), id, Self::now_secs(host)),
            };
            for (k, v) in headers {
                let _ = host.set_header(HeaderMap::ResponseHeaders, &k, &v);
            }
        }
        if settings.client_headers {
            for (k, v) in &self.decision {
                let _ = host.set_header(HeaderMap::ResponseHeaders, k, v);
            }
        }
        if end_of_stream {
            self.settle(host, None, 0, true);
            return Action::Continue;
        }
        if self.state == RequestState::Skip && self.admission.is_none() {
            return Action::Continue;
        }
        let ct = get("content-type").unwrap_or_default();
        let media = ct
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .to_ascii_lowercase();
        let rewrites =
            pipeline::response_rewrites(&settings) || output::response::enabled(&settings);
        let encoded = get("content-encoding")
            .map(|e| !e.trim_ascii().eq_ignore_ascii_case(b"identity"))
            .unwrap_or(false);
        if encoded {
            // A compressed response cannot be read: it passes, counted (the request-headers
            // phase asked for an uncompressed answer; this upstream compressed anyway).
            Self::error(host, "compressed_response_passed");
            return Action::Continue;
        }
        if media == b"text/event-stream" {
            self.trailers_announced = get("trailer").is_some();
            let rw = StreamRewriter::new(&settings)
                .hiding_usage(self.hide_usage)
                .validating(&settings, self.output_fp.take());
            if rw.may_change() {
                let _ = host.remove_header(HeaderMap::ResponseHeaders, b"content-length");
            }
            self.response = ResponseMode::Sse(Box::new(rw));
        } else if media.ends_with(b"json") {
            self.response = ResponseMode::Json;
            if rewrites {
                let _ = host.remove_header(HeaderMap::ResponseHeaders, b"content-length");
            }
            // The decision header (and a `block` status) can go on a JSON answer only while
            // its headers are held, which a host that held the request headers allows.
            let block = settings.output.leak_action == output::LeakAction::Block;
            if settings.output.enabled && self.holds_headers && (settings.client_headers || block) {
                self.response_headers_held = true;
                return Action::Pause;
            }
        }
        Action::Continue
    }

    /// Counts and logs output validation decisions once; sets `x-guardrail-output` (and the
    /// `block` status) while the JSON response headers are held.
    fn output_report<H: Host>(&mut self, host: &mut H, report: &output::Report, blocked: bool) {
        if self.output_reported || !self.settings.output.enabled {
            return;
        }
        self.output_reported = true;
        self.rollout.output_violation = !report.is_clean();
        let v = &self.settings.output;
        host.count("output.checked", 1);
        for (name, n) in report.metrics(v) {
            host.count(&name, n);
        }
        if !report.is_clean() {
            host.log(Level::Warn, &report.log_line(v, &self.request_id));
        }
        if self.response_headers_held {
            if blocked
                && host
                    .set_header(HeaderMap::ResponseHeaders, ":status", "403")
                    .is_err()
            {
                Self::error(host, "output_status_refused");
            }
            if self.settings.client_headers {
                if let Some(h) = report.header(v) {
                    let _ = host.set_header(HeaderMap::ResponseHeaders, H_OUTPUT, &h);
                }
            }
        }
    }

    /// A whole JSON response (end of stream, or trailers): restore/redact, read `usage`.
    fn finish_json<H: Host>(&mut self, host: &mut H, body_size: usize) {
        let bytes = match host.get_buffer(Body::Response, 0, body_size) {
            Ok(b) => b,
            Err(_) => {
                Self::error(host, "response_read_failed");
                self.settle(host, None, 0, false);
                return;
            }
        };
        // One scan of the answer serves the restore and, when nothing was restored, output
        // validation.
        let doc = crate::body::json::scan(&bytes).ok();
        let r =
            pipeline::rewrite_json_response_doc(&self.settings, &self.vault, &bytes, doc.as_ref());
        // Output validation reads what the client will see: the restored body.
        let o = match r.body.as_deref() {
            Some(restored) => {
                output::response::check_json(&self.settings, self.output_fp.as_ref(), restored)
            }
            None => output::response::check_json_doc(
                &self.settings,
                self.output_fp.as_ref(),
                &bytes,
                doc.as_ref(),
            ),
        };
        self.output_report(host, &o.report, o.blocked);
        if let Some(new) = o.body.as_ref().or(r.body.as_ref()) {
            if host
                .set_buffer(Body::Response, 0, bytes.len(), new)
                .is_err()
            {
                Self::error(host, "response_rewrite_failed");
            }
        }
        self.settle(host, r.usage, r.text_bytes, true);
    }

    pub fn on_response_body<H: Host>(
        &mut self,
        host: &mut H,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        if self.deg.replacing() {
            return self.degrade_response_body(host, body_size, end_of_stream);
        }
        let settings = self.settings.clone();
        match &mut self.response {
            ResponseMode::Pass => {
                if end_of_stream {
                    // Not read: charged at least the reservation.
                    self.settle(host, None, 0, false);
                }
                Action::Continue
            }
            ResponseMode::Json => {
                if self.response_too_large {
                    if end_of_stream {
                        self.settle(host, None, 0, false);
                    }
                    return Action::Continue;
                }
                if body_size > settings.response.max_body_bytes {
                    self.response_too_large = true;
                    Self::error(host, "response_too_large_passed");
                    if end_of_stream {
                        self.settle(host, None, 0, false);
                    }
                    return Action::Continue;
                }
                if !end_of_stream {
                    return Action::Pause;
                }
                self.finish_json(host, body_size);
                Action::Continue
            }
            ResponseMode::Sse(rw) => {
                // The buffer holds this chunk, after any output kept from paused chunks.
                let kept = self.sse_buffered.take().unwrap_or(0);
                let buffer = host
                    .get_buffer(Body::Response, 0, body_size)
                    .unwrap_or_default();
                let chunk = buffer.get(kept..).unwrap_or_default();
                self.deg.sse_chunk(chunk);
                let mut out = rw.push(&settings, &self.vault, chunk);
                if end_of_stream {
                    out.extend(rw.finish(&settings, &self.vault));
                    out.extend(self.deg.sse_end(host, self.response_ok));
                }
                let too_large = rw.take_events_too_large();
                if too_large > 0 {
                    host.count("errors.sse_event_too_large", i64::from(too_large));
                }
                let mut write = Vec::new();
                let new: &[u8] = if kept == 0 {
                    &out
                } else {
                    write.reserve(kept + out.len());
                    write.extend_from_slice(buffer.get(..kept).unwrap_or_default());
                    write.extend_from_slice(&out);
                    &write
                };
                let changed = new != buffer.as_slice();
                if changed
                    && host
                        .set_buffer(Body::Response, 0, buffer.len(), new)
                        .is_err()
                {
                    Self::error(host, "response_rewrite_failed");
                }
                if end_of_stream {
                    let (usage, text) = (rw.usage, rw.text_bytes);
                    let report = rw.output.clone();
                    self.output_report(host, &report, false);
                    self.settle(host, usage, text, true);
                    return Action::Continue;
                }
                // Text held back must still reach the client if the stream ends in trailers,
                // and a trailers callback can only add to a body the host is buffering: keep
                // this chunk's output buffered until the rewriter lets go of what it holds.
                let now_buffered = if changed { new.len() } else { buffer.len() };
                if rw.holding_for(self.trailers_announced) && now_buffered <= SSE_HOLD_LIMIT {
                    self.sse_buffered = Some(now_buffered);
                    return Action::Pause;
                }
                Action::Continue
            }
        }
    }

    /// The response ends in trailers (HTTP/2, or HTTP/1 chunked trailers): its body callbacks
    /// never saw end of stream. Finish it here.
    pub fn on_response_trailers<H: Host>(&mut self, host: &mut H) -> Action {
        if self.deg.replacing() {
            self.degrade_replace(host, usize::MAX);
            return Action::Continue;
        }
        let settings = self.settings.clone();
        match &mut self.response {
            ResponseMode::Pass => self.settle(host, None, 0, false),
            ResponseMode::Json => {
                if self.response_too_large {
                    self.settle(host, None, 0, false);
                } else {
                    // The body callbacks paused: the host is buffering the whole body.
                    self.finish_json(host, usize::MAX);
                }
            }
            ResponseMode::Sse(rw) => {
                let mut rest = rw.finish(&settings, &self.vault);
                rest.extend(self.deg.sse_end(host, self.response_ok));
                if !rest.is_empty() {
                    if let Some(kept) = self.sse_buffered.take() {
                        // The last chunk paused: append to what the host buffers.
                        if host.set_buffer(Body::Response, kept, 0, &rest).is_err() {
                            Self::error(host, "response_rewrite_failed");
                        }
                    } else {
                        // Held past SSE_HOLD_LIMIT: nothing buffered to add to.
                        Self::error(host, "response_trailer_text_dropped");
                    }
                }
                let (usage, text) = (rw.usage, rw.text_bytes);
                let report = rw.output.clone();
                self.output_report(host, &report, false);
                self.settle(host, usage, text, true);
            }
        }
        Action::Continue
    }

    pub fn on_log<H: Host>(&mut self, host: &mut H) {
        self.degrade_log(host);
        if self.probing {
            // Ended (client gone) while held and undecided: nothing to release.
            self.shared.probe.borrow_mut().forget(self.context_id);
            self.probing = false;
        }
        // Not settled: the response was cut or the client left. A response that started 2xx
        // is charged (usage if the stream carried it, else text seen and the reservation);
        // one that never started is refunded.
        if !self.settled && self.admission.is_some() {
            let (usage, text) = match &self.response {
                ResponseMode::Sse(rw) => (rw.usage, rw.text_bytes),
                _ => (None, 0),
            };
            self.settle(host, usage, text, false);
        }
        // A stream the client left (or the upstream cut) is still counted.
        if let ResponseMode::Sse(rw) = &self.response {
            let report = rw.output.clone();
            self.output_report(host, &report, false);
        }
        self.rollout_finish(host);
    }
}
