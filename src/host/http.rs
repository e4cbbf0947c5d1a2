//! The HTTP context: one per request. Buffers what must be inspected, applies the pipeline's
//! decisions, and never calls a host function that may panic.

use super::abi::{self, log, HostError};
use super::metrics::Metrics;
use super::{announce_hold, Shared};
use crate::config::{CompressedPolicy, OversizePolicy, Settings};
use crate::hold::{BodyArrival, HoldMode};
use crate::pii::PiiVault;
use crate::pipeline::{self, StreamRewriter};
use crate::quota::{Admission, Identity, QuotaRejection, Usage};
use crate::reply::LocalReply;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel, MapType};
use std::rc::Rc;

const H_SCORE: &str = "x-guardrail-injection-score";
const H_ACTION: &str = "x-guardrail-action";
const H_PII: &str = "x-guardrail-pii";
const H_ROUTE: &str = "x-guardrail-route";

#[derive(PartialEq)]
enum RequestState {
    /// Not inspected (method, path, content type, no body, or a pass policy).
    Skip,
    /// Buffering the body until end of stream (or trailers).
    Buffering,
    Done,
    /// A local reply was sent.
    Replied,
}

enum ResponseMode {
    Pass,
    Json,
    Sse(Box<StreamRewriter>),
}

pub struct GuardrailHttp {
    shared: Rc<Shared>,
    settings: Rc<Settings>,
    metrics: Rc<Metrics>,
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
    response_ok: bool,
    response_too_large: bool,
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

impl GuardrailHttp {
    pub fn new(shared: Rc<Shared>, context_id: u32) -> Self {
        GuardrailHttp {
            settings: shared.settings.clone(),
            metrics: shared.metrics.clone(),
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
            vault: PiiVault::default(),
            decision: Vec::new(),
            response: ResponseMode::Pass,
            response_ok: false,
            response_too_large: false,
        }
    }

    fn now_secs() -> u64 {
        abi::now_nanos() / 1_000_000_000
    }

    /// Sends an OpenAI-shaped local reply. Always followed by `Action::Pause`.
    fn reply(&mut self, r: &LocalReply) -> Action {
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        for (k, v) in &r.headers {
            headers.push((k.as_str(), v.as_str()));
        }
        if self.settings.client_headers {
            for (k, v) in &self.decision {
                headers.push((k, v.as_str()));
            }
        }
        if let Err(e) = abi::send_local_response(r.status, &headers, &r.body()) {
            log(
                LogLevel::Error,
                &format!("local reply refused (host status {})", e.0),
            );
        }
        self.metrics.error(r.code);
        self.state = RequestState::Replied;
        Action::Pause
    }

    fn quota_reply(&mut self, rej: &QuotaRejection) -> Action {
        let mut r = LocalReply::new(rej.status, rej.error_type, rej.code, rej.message.clone());
        r.headers = rej.headers.clone();
        if let Some(s) = rej.retry_after_secs {
            r.headers.push(("retry-after".into(), s.to_string()));
        }
        self.metrics.add(&format!("quota.rejected.{}", rej.code), 1);
        self.reply(&r)
    }

    /// Removes every `x-guardrail-*` header the client sent: they cannot be forged.
    fn strip_forged_headers(headers: &[(Vec<u8>, Vec<u8>)]) {
        for (name, _) in headers {
            if name.len() >= 12 && name[..12].eq_ignore_ascii_case(b"x-guardrail-") {
                let _ = abi::remove_header(MapType::HttpRequestHeaders, name);
            }
        }
    }

    /// Inspects the whole buffered body, read once by the caller (the rewrite replaces exactly
    /// the bytes read).
    fn inspect_body(&mut self, read: Result<Vec<u8>, HostError>) -> Action {
        self.state = RequestState::Done;
        let bytes = match read {
            Ok(b) => b,
            Err(e) => {
                log(
                    LogLevel::Error,
                    &format!("cannot read request body (host status {})", e.0),
                );
                self.metrics.error("body_read_failed");
                let r = LocalReply::new(
                    500,
                    "api_error",
                    "guardrail_error",
                    "The request could not be inspected.",
                );
                return self.reply(&r);
            }
        };
        abi::increment(self.metrics.requests_inspected, 1);
        let settings = self.settings.clone();
        let ins =
            match pipeline::inspect_request_as(&settings, &bytes, self.json_typed, &mut self.vault)
            {
                Ok(i) => i,
                Err(r) => return self.reply(&r),
            };
        let pii_header = self.vault.counts_header();
        for (kind, n) in self.vault.counts() {
            self.metrics.pii(kind, n);
        }
        self.metrics.action(ins.report.action);
        self.decision = vec![
            (H_SCORE, pipeline::score_header(ins.report.score)),
            (H_ACTION, ins.report.action.as_str().to_string()),
        ];
        if let Some(p) = &pii_header {
            self.decision.push((H_PII, p.clone()));
        }
        if let Some(line) = ins.log_line(&self.request_id, pii_header.as_deref()) {
            log(LogLevel::Warn, &line);
        }
        if let Some(r) = &ins.reply {
            return self.reply(r);
        }

        // Quota: reserve the estimated cost before any upstream work.
        let mut route_model = None;
        let mut clamp = None;
        if let (Some(q), Some(id)) = (settings.quota.as_ref(), self.identity.as_ref()) {
            let estimate = ins.estimate();
            self.prompt_estimate = estimate.prompt_tokens;
            match q.admit(&self.shared.store, id, Self::now_secs(), &estimate) {
                Ok(adm) => {
                    self.metrics.add(&format!("quota.admitted.{}", adm.tier), 1);
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
                Err(rej) => return self.quota_reply(&rej),
            }
        }

        if let Some(new_body) = ins.rewritten(route_model.as_deref(), clamp) {
            // The body's length changes: correct the declared length (the headers are held,
            // so the upstream sees the new one). Without it Envoy frames the body itself.
            let length_fixed = !self.declared_length
                || abi::set_header(
                    MapType::HttpRequestHeaders,
                    "content-length",
                    &new_body.len().to_string(),
                )
                .is_ok()
                || abi::remove_header(MapType::HttpRequestHeaders, b"content-length").is_ok();
            if !length_fixed {
                log(
                    LogLevel::Error,
                    "cannot correct content-length of a rewritten request body",
                );
                let r = LocalReply::new(
                    500,
                    "api_error",
                    "guardrail_error",
                    "The request could not be rewritten.",
                );
                return self.reply(&r);
            }
            if let Err(e) = abi::set_buffer(BufferType::HttpRequestBody, 0, bytes.len(), &new_body)
            {
                // Forwarding the original would leak what was meant to be removed: refuse.
                log(
                    LogLevel::Error,
                    &format!("cannot rewrite request body (host status {})", e.0),
                );
                let r = LocalReply::new(
                    500,
                    "api_error",
                    "guardrail_error",
                    "The request could not be rewritten.",
                );
                return self.reply(&r);
            }
        }
        if self.settings.upstream_headers && self.headers_paused {
            for (k, v) in &self.decision {
                if abi::set_header(MapType::HttpRequestHeaders, k, v).is_err() {
                    self.metrics.error("upstream_header_refused");
                }
            }
        }
        Action::Continue
    }

    /// A body over `request.max_body_bytes`: 413, or forwarded unscanned under `oversize: pass`.
    fn oversize(&mut self) -> Action {
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
                self.reply(&r)
            }
            OversizePolicy::Pass => {
                self.state = RequestState::Skip;
                self.metrics.error("oversize_passed");
                abi::increment(self.metrics.requests_skipped, 1);
                if self.settings.upstream_headers {
                    let _ = abi::set_header(MapType::HttpRequestHeaders, H_ACTION, "skip");
                }
                self.admit_unread()
            }
        }
    }

    /// Quota admission for a request whose body is not inspected.
    fn admit_unread(&mut self) -> Action {
        let settings = self.settings.clone();
        let (Some(q), Some(id)) = (settings.quota.as_ref(), self.identity.as_ref()) else {
            return Action::Continue;
        };
        match q.admit(
            &self.shared.store,
            id,
            Self::now_secs(),
            &crate::quota::UsageEstimate::default(),
        ) {
            Ok(adm) => {
                self.metrics.add(&format!("quota.admitted.{}", adm.tier), 1);
                self.admission = Some(adm);
                Action::Continue
            }
            Err(rej) => self.quota_reply(&rej),
        }
    }

    fn settle(&mut self, usage: Option<Usage>, text_bytes: usize) {
        if self.settled {
            return;
        }
        self.settled = true;
        let (Some(q), Some(adm)) = (self.settings.quota.as_ref(), self.admission.as_ref()) else {
            return;
        };
        let now = Self::now_secs();
        if !self.response_ok {
            q.refund(&self.shared.store, adm, now);
            self.metrics.add("quota.refunded", 1);
            return;
        }
        let usage = usage.unwrap_or(Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: pipeline::estimate_tokens(text_bytes),
        });
        let s = q.settle(&self.shared.store, adm, usage, now);
        self.metrics.add(
            &format!("quota.cost_micro_usd.{}", adm.tier),
            i64::try_from(s.cost_micro_usd).unwrap_or(i64::MAX),
        );
    }

    /// The first body (or trailers) callback of a request held while the VM learns its mode.
    fn body_arrived(&mut self) {
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
        announce_hold(&self.shared.probe, &self.settings);
    }
}

impl Context for GuardrailHttp {}

impl HttpContext for GuardrailHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        // One host call for all headers: each call into Envoy costs microseconds.
        let headers = abi::header_pairs(MapType::HttpRequestHeaders).unwrap_or_default();
        Self::strip_forged_headers(&headers);
        let get = |n: &str| header_value(&headers, n);
        self.request_id = get("x-request-id")
            .map(|b| lossy(b).chars().take(64).collect())
            .unwrap_or_default();
        let settings = self.settings.clone();

        if let Some(q) = settings.quota.as_ref() {
            let user = get(q.user_header());
            let tier = get(q.tier_header());
            match q.identify(user, tier) {
                Ok(id) => {
                    if let Err(rej) = q.precheck(&self.shared.store, &id, Self::now_secs()) {
                        return self.quota_reply(&rej);
                    }
                    self.identity = Some(id);
                }
                Err(rej) => return self.quota_reply(&rej),
            }
        }

        let method = get(":method").unwrap_or_default();
        let path = get(":path").unwrap_or_default();
        let content_type = get("content-type");
        if end_of_stream || !settings.inspects(method, path, content_type) {
            abi::increment(self.metrics.requests_skipped, 1);
            self.state = RequestState::Skip;
            // A body the filter does not read (a content type outside `request.content_types`)
            // still costs a request: it is admitted against quota with an empty estimate, so a
            // content type cannot be used to step around the limits.
            if !end_of_stream && settings.inspects(method, path, None) {
                return self.admit_unread();
            }
            return Action::Continue;
        }
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
                        return self.reply(&r);
                    }
                    CompressedPolicy::Pass => {
                        self.metrics.error("compressed_passed");
                        abi::increment(self.metrics.requests_skipped, 1);
                        if settings.upstream_headers {
                            let _ = abi::set_header(MapType::HttpRequestHeaders, H_ACTION, "skip");
                        }
                        return self.admit_unread();
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
        if declared.is_some_and(|n| n > settings.request.max_body_bytes) {
            return self.oversize();
        }
        self.state = RequestState::Buffering;
        self.json_typed = content_type.is_some_and(pipeline::is_json_media);
        // A rewritten body fixes `content-length` when it is written (the headers are still
        // held then); an unchanged body keeps the client's, at no extra host call.
        self.declared_length = get("content-length").is_some();
        let drop_length = self.declared_length && pipeline::request_may_rewrite(&settings);
        let mode = self.shared.probe.borrow().mode();
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
                    && abi::remove_header(MapType::HttpRequestHeaders, b"content-length").is_ok()
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
                    .hold(self.context_id, abi::now_nanos(), drop_length);
                self.probing = true;
                self.drop_length_on_release = drop_length;
                self.headers_paused = true;
                Action::Pause
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.body_arrived();
        if self.state != RequestState::Buffering {
            return if self.state == RequestState::Replied {
                Action::Pause
            } else {
                Action::Continue
            };
        }
        if body_size > self.settings.request.max_body_bytes {
            return self.oversize();
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.inspect_body(abi::get_buffer(BufferType::HttpRequestBody, 0, body_size))
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        // HTTP/2 with trailers: the body callback never saw end_of_stream.
        self.body_arrived();
        if self.state == RequestState::Buffering {
            let action =
                self.inspect_body(abi::get_buffer(BufferType::HttpRequestBody, 0, usize::MAX));
            if action == Action::Continue && !self.headers_paused {
                // Headers already forwarded, body held by the body callbacks: Envoy forwards
                // the trailers but drops the held body when the trailers callback continues
                // (measured: Envoy 1.36 and 1.40, h2c). Pausing and resuming the stream
                // forwards the held body, then the trailers.
                if abi::resume_request().is_ok() {
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

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let headers = abi::header_pairs(MapType::HttpResponseHeaders).unwrap_or_default();
        let get = |n: &str| header_value(&headers, n);
        let status = get(":status").unwrap_or_default();
        self.response_ok = status.first() == Some(&b'2');
        let settings = self.settings.clone();

        // Quota headers on every response of an identified user.
        if let (Some(q), Some(id)) = (settings.quota.as_ref(), self.identity.as_ref()) {
            let headers = match &self.admission {
                Some(adm) => adm.headers.clone(),
                None => q.status_headers(&self.shared.store, id, Self::now_secs()),
            };
            for (k, v) in headers {
                let _ = abi::set_header(MapType::HttpResponseHeaders, &k, &v);
            }
        }
        if settings.client_headers {
            for (k, v) in &self.decision {
                let _ = abi::set_header(MapType::HttpResponseHeaders, k, v);
            }
        }
        if end_of_stream || self.state == RequestState::Skip && self.admission.is_none() {
            if end_of_stream {
                self.settle(None, 0);
            }
            return Action::Continue;
        }
        let ct = get("content-type").unwrap_or_default();
        let media = ct
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .to_ascii_lowercase();
        let rewrites = pipeline::response_rewrites(&settings);
        let encoded = get("content-encoding")
            .map(|e| !e.trim_ascii().eq_ignore_ascii_case(b"identity"))
            .unwrap_or(false);
        if encoded {
            // A compressed response cannot be read: it passes, counted (ask upstreams not to
            // compress, or put the decompressor filter before this one).
            self.metrics.error("compressed_response_passed");
            return Action::Continue;
        }
        if media == b"text/event-stream" {
            self.response = ResponseMode::Sse(Box::new(StreamRewriter::new(&settings)));
            if rewrites {
                let _ = abi::remove_header(MapType::HttpResponseHeaders, b"content-length");
            }
        } else if media.ends_with(b"json") {
            self.response = ResponseMode::Json;
            if rewrites {
                let _ = abi::remove_header(MapType::HttpResponseHeaders, b"content-length");
            }
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let settings = self.settings.clone();
        match &mut self.response {
            ResponseMode::Pass => {
                if end_of_stream {
                    self.settle(None, 0);
                }
                Action::Continue
            }
            ResponseMode::Json => {
                if self.response_too_large {
                    return Action::Continue;
                }
                if body_size > settings.response.max_body_bytes {
                    self.response_too_large = true;
                    self.metrics.error("response_too_large_passed");
                    return Action::Continue;
                }
                if !end_of_stream {
                    return Action::Pause;
                }
                let bytes = match abi::get_buffer(BufferType::HttpResponseBody, 0, body_size) {
                    Ok(b) => b,
                    Err(_) => {
                        self.metrics.error("response_read_failed");
                        return Action::Continue;
                    }
                };
                let r = pipeline::rewrite_json_response(&settings, &self.vault, &bytes);
                if let Some(new) = &r.body {
                    if abi::set_buffer(BufferType::HttpResponseBody, 0, body_size, new).is_err() {
                        self.metrics.error("response_rewrite_failed");
                    }
                }
                self.settle(r.usage, r.text_bytes);
                Action::Continue
            }
            ResponseMode::Sse(rw) => {
                // Without pausing, the buffer holds only this chunk: read it, replace it.
                let chunk =
                    abi::get_buffer(BufferType::HttpResponseBody, 0, body_size).unwrap_or_default();
                let mut out = rw.push(&settings, &self.vault, &chunk);
                if end_of_stream {
                    out.extend(rw.finish(&settings, &self.vault));
                }
                if out != chunk
                    && abi::set_buffer(BufferType::HttpResponseBody, 0, body_size, &out).is_err()
                {
                    self.metrics.error("response_rewrite_failed");
                }
                if end_of_stream {
                    let (usage, text) = (rw.usage, rw.text_bytes);
                    self.settle(usage, text);
                }
                Action::Continue
            }
        }
    }

    fn on_log(&mut self) {
        if self.probing {
            // Ended (client gone) while held and undecided: nothing to release.
            self.shared.probe.borrow_mut().forget(self.context_id);
            self.probing = false;
        }
        // A request that never settled (upstream failure, client abort, stream cut): refund.
        if !self.settled && self.admission.is_some() {
            self.response_ok = false;
            self.settle(None, 0);
        }
    }
}
