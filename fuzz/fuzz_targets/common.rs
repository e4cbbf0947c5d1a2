//! Configurations the fuzz targets run under, picked by the input's first byte.
#![allow(dead_code)]

use mesh_guardrail::config::Settings;
use mesh_guardrail::pii::PiiVault;
use mesh_guardrail::pipeline;
use std::rc::Rc;

const KEY: &[u8] = b"fuzz-token-key-0123456789abcdef";

const CONFIGS: &[&str] = &[
    "{}",
    r#"{"mode": "monitor"}"#,
    r#"{"pii": {"response": "redact", "entities": {"secret": "anonymize", "phone": "redact"}}}"#,
    r#"{"injection": {"roles": {"system": true, "assistant": true, "developer": true}},
        "quota": {"tiers": {"free": {"daily_requests": 5, "daily_cost_usd": 0.001,
                  "clamp_max_tokens": true, "downgrade": {"below_fraction": 0.9, "model": "m-mini"}}}}}"#,
];

thread_local! {
    // Compiled once: compiling the detectors costs far more than one input.
    static COMPILED: Vec<Rc<Settings>> = CONFIGS
        .iter()
        .filter_map(|c| Settings::from_json(c.as_bytes(), KEY.to_vec()).ok().map(Rc::new))
        .collect();
}

/// The settings for this input, and the rest of the input.
pub fn settings(data: &[u8]) -> Option<(Rc<Settings>, &[u8])> {
    let (&first, rest) = data.split_first()?;
    let settings = COMPILED.with(|all| all.get(usize::from(first) % all.len().max(1)).cloned())?;
    Some((settings, rest))
}

/// A vault holding the tokens of a request with one value of each kind, so that responses have
/// something to restore.
pub fn filled_vault(settings: &Settings) -> PiiVault {
    let mut vault = PiiVault::default();
    let body = br#"{"model":"m","messages":[{"role":"user","content":"Mail jane.doe@example.com, call +1 415 555 0100, card 4111 1111 1111 1111, IBAN DE89370400440532013000, SSN 123-45-6789, host 10.1.2.3"}]}"#;
    let _ = pipeline::inspect_request(settings, body, &mut vault);
    vault
}
