//! The whole request decision: parse, extract, score, anonymise, estimate, rewrite.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mesh_guardrail::pii::PiiVault;
use mesh_guardrail::pipeline;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((settings, body)) = common::settings(data) else {
        return;
    };
    let mut vault = PiiVault::default();
    if let Ok(ins) = pipeline::inspect_request(&settings, body, &mut vault) {
        let _ = ins.estimate();
        let _ = ins.log_line("fuzz", vault.counts_header().as_deref());
        let _ = ins.rewritten(Some("m-mini"), Some(7));
        let _ = ins.rewritten(None, None);
    }
});
