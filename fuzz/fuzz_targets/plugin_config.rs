//! The plugin configuration: parse and compile whatever Envoy hands over.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mesh_guardrail::config::Settings;

fuzz_target!(|data: &[u8]| {
    let _ = Settings::from_json(data, b"fuzz-token-key-0123456789abcdef".to_vec());
});
