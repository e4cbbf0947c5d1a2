//! A whole JSON response: restore or redact PII tokens, read usage.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mesh_guardrail::pipeline;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((settings, body)) = common::settings(data) else {
        return;
    };
    let vault = common::filled_vault(&settings);
    let _ = pipeline::rewrite_json_response(&settings, &vault, body);
});
