//! The reference filter of `make bench` (see Cargo.toml): holds the request headers, buffers and
//! reads the body, adds two request headers, and computes nothing. Its throughput in the same
//! Envoy is the floor any body-inspecting Wasm filter starts from.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;
impl Context for Root {}
impl RootContext for Root {
    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Reference))
    }
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Reference;
impl Context for Reference {}
impl HttpContext for Reference {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        let _ = self.get_http_request_headers();
        if end_of_stream {
            Action::Continue
        } else {
            Action::Pause
        }
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
