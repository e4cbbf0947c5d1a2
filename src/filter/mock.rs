//! A native mock of the host (test builds only): it models what the state machine relies on
//! in Envoy, and records what reached the upstream and the client.
//!
//! - Headers: a `Pause` from the request-headers callback holds them (a host that can hold,
//!   `allow_on_headers_stop_iteration: true`) or, when `holds_headers` is false, stops the
//!   stream until `resume_request` (Envoy's `StopAllIterationAndWatermark`: body callbacks do
//!   not run, the body waits). Headers already forwarded cannot be changed: the call is
//!   refused, as Envoy does.
//! - Bodies: a `Pause` from a body callback buffers; the next callback sees the whole buffer
//!   (`body_size` counts it) and a `Continue` forwards all of it. `set_buffer` takes
//!   `start == 0` (replace a prefix) or `start >= length` (append) only, like Envoy.
//! - Trailers: a `Continue` forwards the buffered body, then the trailers. A `resume_request`
//!   during the trailers callback followed by `Pause` does the same (what Envoy does).
//! - Response headers: a `Pause` holds them until a body (or trailers) callback continues.
//! - Local replies: recorded; an upstream request already started is reset.
//! - gRPC calls: queued in `grpc_calls`; the test answers one with `Stream::answer_grpc`
//!   (status 0 and an answer, or a gRPC status such as 4 DEADLINE_EXCEEDED, what Envoy sends
//!   when `timeout_ms` passes). A `resume_request` during the answer releases the request:
//!   headers, buffered body, trailers that waited, then body chunks that waited.
//! - Any host call can be refused (`refuse`).

use super::{Action, Body, HeaderMap, HeaderPairs, Host, HostError, Level, RequestFilter, Shared};
use crate::config::Settings;
use crate::quota::{MemStore, Store};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A host call the test makes the host refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    GetBuffer(Body),
    SetBuffer(Body),
    SetHeader(HeaderMap),
    RemoveHeader(HeaderMap),
    LocalReply,
    Resume,
    Grpc,
}

/// A gRPC call the filter made.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcCall {
    pub token: u32,
    pub cluster: String,
    pub service: String,
    pub method: String,
    pub message: Vec<u8>,
    pub timeout_ms: u32,
}

const REFUSED: HostError = HostError(2); // BadArgument

#[derive(Debug, Default, Clone, PartialEq)]
pub struct LocalResponse {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the upstream received.
#[derive(Debug, Default)]
pub struct Upstream {
    pub headers: Option<HeaderPairs>,
    pub body: Vec<u8>,
    pub trailers: bool,
    /// The upstream request was reset (a local reply after the headers had left).
    pub reset: bool,
}

/// What the client received.
#[derive(Debug, Default)]
pub struct Client {
    pub headers: Option<HeaderPairs>,
    pub body: Vec<u8>,
    pub trailers: bool,
    pub local: Option<LocalResponse>,
}

pub struct MockHost {
    pub store: MemStore,
    pub now: u64,
    pub holds_headers: bool,
    pub refuse: HashSet<Call>,
    pub counters: RefCell<HashMap<String, i64>>,
    pub gauges: RefCell<HashMap<String, u64>>,
    pub logs: RefCell<Vec<(Level, String)>>,
    pub effective: Option<u32>,
    /// Host properties by their dotted path.
    pub properties: HashMap<String, Vec<u8>>,
    req_headers: HeaderPairs,
    resp_headers: HeaderPairs,
    req_buffer: Vec<u8>,
    resp_buffer: Vec<u8>,
    /// The request headers have been forwarded.
    req_sent: bool,
    resp_sent: bool,
    /// Request headers stopped (Pause) and not forwarded yet.
    req_stopped: bool,
    /// Body chunks that arrived while the stream was stopped without a header hold.
    req_pending: Vec<(Vec<u8>, bool)>,
    resumed: bool,
    pub upstream: Upstream,
    pub client: Client,
    pub grpc_calls: Vec<GrpcCall>,
    /// The answer being delivered.
    grpc_answer: Vec<u8>,
    /// The trailers callback paused (trailers wait with the body).
    req_trailers_waiting: bool,
}

impl MockHost {
    pub fn new() -> Self {
        MockHost {
            store: MemStore::new(),
            now: 1_700_000_000_000_000_000,
            holds_headers: true,
            properties: HashMap::new(),
            refuse: HashSet::new(),
            counters: RefCell::new(HashMap::new()),
            gauges: RefCell::new(HashMap::new()),
            logs: RefCell::new(Vec::new()),
            effective: None,
            req_headers: Vec::new(),
            resp_headers: Vec::new(),
            req_buffer: Vec::new(),
            resp_buffer: Vec::new(),
            req_sent: false,
            resp_sent: false,
            req_stopped: false,
            req_pending: Vec::new(),
            resumed: false,
            upstream: Upstream::default(),
            client: Client::default(),
            grpc_calls: Vec::new(),
            grpc_answer: Vec::new(),
            req_trailers_waiting: false,
        }
    }

    fn refused(&self, c: Call) -> Result<(), HostError> {
        if self.refuse.contains(&c) {
            Err(REFUSED)
        } else {
            Ok(())
        }
    }

    pub fn counter(&self, name: &str) -> i64 {
        self.counters.borrow().get(name).copied().unwrap_or(0)
    }

    fn map(&mut self, map: HeaderMap) -> Result<&mut HeaderPairs, HostError> {
        match map {
            HeaderMap::RequestHeaders if self.req_sent => Err(REFUSED),
            HeaderMap::ResponseHeaders if self.resp_sent => Err(REFUSED),
            HeaderMap::RequestHeaders => Ok(&mut self.req_headers),
            HeaderMap::ResponseHeaders => Ok(&mut self.resp_headers),
        }
    }

    fn buffer(&mut self, body: Body) -> &mut Vec<u8> {
        match body {
            Body::Request => &mut self.req_buffer,
            Body::Response => &mut self.resp_buffer,
        }
    }
}

impl Host for MockHost {
    fn header_pairs(&self, map: HeaderMap) -> Result<HeaderPairs, HostError> {
        Ok(match map {
            HeaderMap::RequestHeaders => self.req_headers.clone(),
            HeaderMap::ResponseHeaders => self.resp_headers.clone(),
        })
    }

    fn set_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        self.refused(Call::SetHeader(map))?;
        let m = self.map(map)?;
        m.retain(|(k, _)| !k.eq_ignore_ascii_case(name.as_bytes()));
        m.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        Ok(())
    }

    fn remove_header(&mut self, map: HeaderMap, name: &[u8]) -> Result<(), HostError> {
        self.refused(Call::RemoveHeader(map))?;
        self.map(map)?
            .retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        Ok(())
    }

    fn get_buffer(&self, body: Body, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        self.refused(Call::GetBuffer(body))?;
        let b = match body {
            Body::Request => &self.req_buffer,
            Body::Response => &self.resp_buffer,
        };
        let end = start.saturating_add(max).min(b.len());
        Ok(b.get(start..end).unwrap_or_default().to_vec())
    }

    fn set_buffer(
        &mut self,
        body: Body,
        start: usize,
        size: usize,
        value: &[u8],
    ) -> Result<(), HostError> {
        self.refused(Call::SetBuffer(body))?;
        let b = self.buffer(body);
        if start == 0 {
            let n = size.min(b.len());
            b.splice(..n, value.iter().copied());
            Ok(())
        } else if start >= b.len() {
            b.extend_from_slice(value);
            Ok(())
        } else {
            Err(REFUSED)
        }
    }

    fn send_local_response(
        &mut self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        self.refused(Call::LocalReply)?;
        self.client.local = Some(LocalResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        });
        if self.req_sent {
            self.upstream.reset = true;
        }
        Ok(())
    }

    fn resume_request(&mut self) -> Result<(), HostError> {
        self.refused(Call::Resume)?;
        self.resumed = true;
        Ok(())
    }

    fn set_effective_context(&mut self, context_id: u32) -> Result<(), HostError> {
        self.effective = Some(context_id);
        Ok(())
    }

    fn store(&self) -> &dyn Store {
        &self.store
    }

    fn count(&self, name: &str, by: i64) {
        *self
            .counters
            .borrow_mut()
            .entry(name.to_string())
            .or_insert(0) += by;
    }

    fn gauge(&self, name: &str, value: u64) {
        self.gauges.borrow_mut().insert(name.to_string(), value);
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }

    fn now_nanos(&self) -> u64 {
        self.now
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.properties.get(&path.join(".")).cloned())
    }

    fn dispatch_grpc_call(
        &mut self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostError> {
        self.refused(Call::Grpc)?;
        let token = 100 + self.grpc_calls.len() as u32;
        self.grpc_calls.push(GrpcCall {
            token,
            cluster: cluster.to_string(),
            service: service.to_string(),
            method: method.to_string(),
            message: message.to_vec(),
            timeout_ms,
        });
        Ok(token)
    }

    fn grpc_response(&self, max: usize) -> Result<Vec<u8>, HostError> {
        Ok(self.grpc_answer[..max.min(self.grpc_answer.len())].to_vec())
    }
}

/// One request through one filter on a mock host.
pub struct Stream {
    pub host: MockHost,
    pub shared: Rc<Shared>,
    pub filter: RequestFilter,
    pub actions: Vec<(&'static str, Action)>,
}

pub fn pairs(list: &[(&str, &str)]) -> HeaderPairs {
    list.iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

impl Stream {
    pub fn new(settings: Settings) -> Self {
        Self::with_shared(Rc::new(Shared::new(Rc::new(settings))), 1)
    }

    pub fn with_shared(shared: Rc<Shared>, context_id: u32) -> Self {
        Stream {
            host: MockHost::new(),
            filter: RequestFilter::new(shared.clone(), context_id),
            shared,
            actions: Vec::new(),
        }
    }

    fn replied(&self) -> bool {
        self.host.client.local.is_some()
    }

    fn forward_request_headers(&mut self) {
        if !self.host.req_sent {
            self.host.req_sent = true;
            self.host.req_stopped = false;
            self.host.upstream.headers = Some(self.host.req_headers.clone());
        }
    }

    fn forward_request_body(&mut self) {
        self.forward_request_headers();
        let b = std::mem::take(&mut self.host.req_buffer);
        self.host.upstream.body.extend_from_slice(&b);
    }

    pub fn request_headers(&mut self, headers: &[(&str, &str)], end_of_stream: bool) -> Action {
        self.host.req_headers = pairs(headers);
        let a = self
            .filter
            .on_request_headers(&mut self.host, end_of_stream);
        self.actions.push(("request_headers", a));
        if self.replied() {
            return a;
        }
        match a {
            Action::Continue => self.forward_request_headers(),
            Action::Pause => self.host.req_stopped = true,
        }
        a
    }

    /// A request body chunk. Without a header hold, a chunk that arrives while the headers
    /// are stopped waits (no callback) until the request is resumed.
    pub fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Option<Action> {
        if self.replied() {
            return None;
        }
        if self.host.req_stopped && !self.host.holds_headers {
            self.host.req_pending.push((chunk.to_vec(), end_of_stream));
            return None;
        }
        self.host.req_buffer.extend_from_slice(chunk);
        let size = self.host.req_buffer.len();
        let a = self
            .filter
            .on_request_body(&mut self.host, size, end_of_stream);
        self.actions.push(("request_body", a));
        if !self.replied() && a == Action::Continue {
            self.forward_request_body();
        }
        Some(a)
    }

    pub fn request_trailers(&mut self) -> Option<Action> {
        if self.replied() {
            return None;
        }
        self.host.resumed = false;
        let a = self.filter.on_request_trailers(&mut self.host);
        self.actions.push(("request_trailers", a));
        if !self.replied() && (a == Action::Continue || self.host.resumed) {
            self.forward_request_body();
            self.host.upstream.trailers = true;
        } else if !self.replied() {
            self.host.req_trailers_waiting = true;
        }
        self.host.resumed = false;
        Some(a)
    }

    /// The root context's timer at `now_nanos`; a released request then gets the body
    /// chunks that waited.
    pub fn tick(&mut self, now_nanos: u64) -> bool {
        self.host.now = now_nanos;
        self.host.resumed = false;
        let mut timer = true;
        super::on_tick(&self.shared, &mut self.host, |_| timer = false);
        if self.host.resumed {
            self.host.resumed = false;
            self.forward_request_headers();
            for (chunk, eos) in std::mem::take(&mut self.host.req_pending) {
                self.request_body(&chunk, eos);
            }
        }
        timer
    }

    /// Delivers the answer to gRPC call `token`: `status` 0 with `answer`, or a gRPC status.
    pub fn answer_grpc(&mut self, token: u32, status: u32, answer: &[u8]) {
        self.host.grpc_answer = answer.to_vec();
        self.host.resumed = false;
        let size = if status == 0 { answer.len() } else { 0 };
        self.filter
            .on_grpc_call_response(&mut self.host, token, status, size);
        self.host.grpc_answer.clear();
        if self.host.resumed && !self.replied() {
            self.host.resumed = false;
            self.forward_request_body();
            if std::mem::take(&mut self.host.req_trailers_waiting) {
                self.host.upstream.trailers = true;
            }
            for (chunk, eos) in std::mem::take(&mut self.host.req_pending) {
                self.request_body(&chunk, eos);
            }
        }
    }

    /// The token of the last gRPC call made.
    pub fn last_grpc(&self) -> &super::mock::GrpcCall {
        match self.host.grpc_calls.last() {
            Some(c) => c,
            None => panic!("no gRPC call was made"),
        }
    }

    pub fn response_headers(&mut self, headers: &[(&str, &str)], end_of_stream: bool) -> Action {
        self.host.resp_headers = pairs(headers);
        let a = self
            .filter
            .on_response_headers(&mut self.host, end_of_stream);
        self.actions.push(("response_headers", a));
        if a == Action::Continue {
            self.send_response_headers();
        }
        a
    }

    /// Response headers leave (at once, or with the body after a `Pause`, as Envoy does with
    /// `allow_on_headers_stop_iteration`).
    fn send_response_headers(&mut self) {
        if !self.host.resp_sent {
            self.host.resp_sent = true;
            self.host.client.headers = Some(self.host.resp_headers.clone());
        }
    }

    pub fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Action {
        self.host.resp_buffer.extend_from_slice(chunk);
        let size = self.host.resp_buffer.len();
        let a = self
            .filter
            .on_response_body(&mut self.host, size, end_of_stream);
        self.actions.push(("response_body", a));
        if a == Action::Continue {
            self.send_response_headers();
            let b = std::mem::take(&mut self.host.resp_buffer);
            self.host.client.body.extend_from_slice(&b);
        }
        a
    }

    pub fn response_trailers(&mut self) -> Action {
        let a = self.filter.on_response_trailers(&mut self.host);
        self.actions.push(("response_trailers", a));
        self.send_response_headers();
        let b = std::mem::take(&mut self.host.resp_buffer);
        self.host.client.body.extend_from_slice(&b);
        self.host.client.trailers = true;
        a
    }

    pub fn log(&mut self) {
        self.filter.on_log(&mut self.host);
    }

    /// What the upstream got as text.
    pub fn upstream_body(&self) -> String {
        String::from_utf8_lossy(&self.host.upstream.body).into_owned()
    }

    pub fn client_body(&self) -> String {
        String::from_utf8_lossy(&self.host.client.body).into_owned()
    }

    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.host.upstream.headers.as_ref().and_then(|h| {
            h.iter()
                .find(|(k, _)| k.as_slice() == name.as_bytes())
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        })
    }
}
