//! The reference filters of `make bench` (see Cargo.toml): proxy-wasm filters that compute
//! nothing, so that their cost in the same Envoy is the floor each layer of host work sets. The
//! plugin configuration picks the mode:
//!
//! - `noop`: an HTTP context that returns Continue everywhere and calls no host function: what
//!   Envoy and V8 cost for any Rust SDK filter (context create, the per-phase calls, log, done,
//!   delete).
//! - `request` (or empty, the default): holds the request headers, buffers and reads the body,
//!   adds two request headers. The "do-nothing filter" of a filter that reads the body.
//! - `mirror`: the host calls mesh-guardrail makes with config `{}` on a benign chat request
//!   (checked by scripts/wasm_bench.mjs --hostcalls): request header map read and held, body
//!   buffered and read; response header map read, `content-length` removed, body buffered and
//!   read; four counters incremented (three on the request: inspected, its action and the
//!   memo's hit, as a body sent again counts; one when the answer is read, as output
//!   validation counts it). mesh-guardrail minus `mirror` is its own computation.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { mode: Mode::Request, metrics: (0, 0, 0, 0) }) });
}}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Noop,
    Request,
    Mirror,
}

struct Root {
    mode: Mode,
    metrics: (u32, u32, u32, u32),
}

impl Context for Root {}
impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let cfg = hostcalls::get_buffer(proxy_wasm::types::BufferType::PluginConfiguration, 0, usize::MAX).ok().flatten().unwrap_or_default();
        self.mode = match cfg.trim_ascii() {
            b"noop" => Mode::Noop,
            b"" | b"{}" | b"request" => Mode::Request,
            b"mirror" => Mode::Mirror,
            _ => {
                proxy_wasm::hostcalls::log(LogLevel::Critical, "reference-filter: configuration must be noop, request or mirror").ok();
                return false;
            }
        };
        if self.mode == Mode::Mirror {
            let a = hostcalls::define_metric(MetricType::Counter, "reference.requests").unwrap_or(0);
            let b = hostcalls::define_metric(MetricType::Counter, "reference.allow").unwrap_or(0);
            let c = hostcalls::define_metric(MetricType::Counter, "reference.output_checked").unwrap_or(0);
            let d = hostcalls::define_metric(MetricType::Counter, "reference.memo_hits").unwrap_or(0);
            self.metrics = (a, b, c, d);
        }
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(match self.mode {
            Mode::Noop => Box::new(Noop) as Box<dyn HttpContext>,
            Mode::Request => Box::new(Reference),
            Mode::Mirror => Box::new(Mirror { metrics: self.metrics }),
        })
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// What `request` and `mirror` do with the request headers (as mesh-guardrail does): read the
/// whole map and hold it until the body is complete.
fn read_and_hold_request_headers(end_of_stream: bool) -> Action {
    let _ = hostcalls::get_map_bytes(proxy_wasm::types::MapType::HttpRequestHeaders);
    if end_of_stream {
        Action::Continue
    } else {
        Action::Pause
    }
}

struct Noop;
impl Context for Noop {}
impl HttpContext for Noop {}

struct Reference;
impl Context for Reference {}
impl HttpContext for Reference {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        read_and_hold_request_headers(end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let n = self.get_http_request_body(0, body_size).map(|b| b.len()).unwrap_or(0);
        self.set_http_request_header("x-reference-bytes", Some(&n.to_string()));
        self.set_http_request_header("x-reference-action", Some("allow"));
        Action::Continue
    }
}

struct Mirror {
    metrics: (u32, u32, u32, u32),
}
impl Context for Mirror {}
impl HttpContext for Mirror {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        read_and_hold_request_headers(end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let _ = self.get_http_request_body(0, body_size);
        let _ = hostcalls::increment_metric(self.metrics.0, 1);
        let _ = hostcalls::increment_metric(self.metrics.1, 1);
        let _ = hostcalls::increment_metric(self.metrics.3, 1);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        let _ = hostcalls::get_map_bytes(proxy_wasm::types::MapType::HttpResponseHeaders);
        if !end_of_stream {
            self.set_http_response_header("content-length", None);
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let _ = self.get_http_response_body(0, body_size);
        let _ = hostcalls::increment_metric(self.metrics.2, 1);
        Action::Continue
    }
}
