//! The HTTP context: a thin adapter. Every callback goes to the pure state machine
//! ([`crate::filter::RequestFilter`]); [`AbiHost`] carries out its host calls through
//! [`super::abi`], which returns errors instead of panicking.

use super::abi;
use super::metrics::Metrics;
use super::store::SharedDataStore;
use super::Shared;
use crate::filter::{self, Body, HeaderMap, HeaderPairs, Host, HostError, Level, RequestFilter};
use crate::quota::Store;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel, MapType};
use std::rc::Rc;

/// The proxy-wasm host, as the state machine sees it.
pub struct AbiHost<'a> {
    pub metrics: &'a Metrics,
    pub store: &'a SharedDataStore,
}

fn map_type(map: HeaderMap) -> MapType {
    match map {
        HeaderMap::RequestHeaders => MapType::HttpRequestHeaders,
        HeaderMap::ResponseHeaders => MapType::HttpResponseHeaders,
    }
}

fn buffer_type(body: Body) -> BufferType {
    match body {
        Body::Request => BufferType::HttpRequestBody,
        Body::Response => BufferType::HttpResponseBody,
    }
}

pub fn log_level(level: Level) -> LogLevel {
    match level {
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
        Level::Critical => LogLevel::Critical,
    }
}

impl Host for AbiHost<'_> {
    fn header_pairs(&self, map: HeaderMap) -> Result<HeaderPairs, HostError> {
        abi::header_pairs(map_type(map))
    }

    fn set_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        abi::set_header(map_type(map), name, value)
    }

    fn remove_header(&mut self, map: HeaderMap, name: &[u8]) -> Result<(), HostError> {
        abi::remove_header(map_type(map), name)
    }

    fn get_buffer(&self, body: Body, start: usize, max: usize) -> Result<Vec<u8>, HostError> {
        abi::get_buffer(buffer_type(body), start, max)
    }

    fn set_buffer(
        &mut self,
        body: Body,
        start: usize,
        size: usize,
        value: &[u8],
    ) -> Result<(), HostError> {
        abi::set_buffer(buffer_type(body), start, size, value)
    }

    fn send_local_response(
        &mut self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        abi::send_local_response(status, headers, body)
    }

    fn resume_request(&mut self) -> Result<(), HostError> {
        abi::resume_request()
    }

    fn set_effective_context(&mut self, context_id: u32) -> Result<(), HostError> {
        abi::set_effective_context(context_id)
    }

    fn store(&self) -> &dyn Store {
        self.store
    }

    fn count(&self, name: &str, by: i64) {
        self.metrics.add(name, by);
    }

    fn gauge(&self, name: &str, value: i64) {
        self.metrics.set_gauge(name, value);
    }

    fn log(&self, level: Level, message: &str) {
        abi::log(log_level(level), message);
    }

    fn now_nanos(&self) -> u64 {
        abi::now_nanos()
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        abi::property(path)
    }

    fn dispatch_grpc_call(
        &mut self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, HostError> {
        abi::dispatch_grpc_call(cluster, service, method, message, timeout_ms)
    }

    fn grpc_response(&self, max: usize) -> Result<Vec<u8>, HostError> {
        abi::get_buffer(BufferType::GrpcReceiveBuffer, 0, max)
    }
}

pub struct GuardrailHttp {
    shared: Rc<Shared>,
    filter: RequestFilter,
}

fn action(a: filter::Action) -> Action {
    match a {
        filter::Action::Continue => Action::Continue,
        filter::Action::Pause => Action::Pause,
    }
}

impl GuardrailHttp {
    pub fn new(shared: Rc<Shared>, context_id: u32) -> Self {
        GuardrailHttp {
            filter: RequestFilter::new(shared.filter.clone(), context_id),
            shared,
        }
    }
}

/// Splits the borrow: the host borrows the shared metrics and store, the filter is mutable.
macro_rules! with_host {
    ($self:ident, |$host:ident, $filter:ident| $body:expr) => {{
        let mut $host = AbiHost {
            metrics: &$self.shared.metrics,
            store: &$self.shared.store,
        };
        let $filter = &mut $self.filter;
        $body
    }};
}

impl Context for GuardrailHttp {
    /// The rate-limit service answered (or failed, or timed out) for this stream.
    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        with_host!(self, |host, f| f.on_grpc_call_response(
            &mut host,
            token_id,
            status_code,
            response_size
        ))
    }
}

impl HttpContext for GuardrailHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        with_host!(self, |host, f| action(
            f.on_request_headers(&mut host, end_of_stream)
        ))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        with_host!(self, |host, f| action(f.on_request_body(
            &mut host,
            body_size,
            end_of_stream
        )))
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        with_host!(self, |host, f| action(f.on_request_trailers(&mut host)))
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        with_host!(self, |host, f| action(
            f.on_response_headers(&mut host, end_of_stream)
        ))
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        with_host!(self, |host, f| action(f.on_response_body(
            &mut host,
            body_size,
            end_of_stream
        )))
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        with_host!(self, |host, f| action(f.on_response_trailers(&mut host)))
    }

    fn on_log(&mut self) {
        with_host!(self, |host, f| f.on_log(&mut host))
    }
}
