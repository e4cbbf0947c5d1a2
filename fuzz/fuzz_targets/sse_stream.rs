//! An SSE response fed in chunks split at places chosen by the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mesh_guardrail::pipeline::StreamRewriter;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((settings, rest)) = common::settings(data) else {
        return;
    };
    let Some((&split_seed, stream)) = rest.split_first() else {
        return;
    };
    let vault = common::filled_vault(&settings);
    let mut rw = StreamRewriter::new(&settings);
    // Chunk sizes from a small generator seeded by the input: 1 to 64 bytes.
    let mut state = u32::from(split_seed) | 1;
    let mut pos = 0;
    while pos < stream.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 64) as usize + 1;
        let end = (pos + n).min(stream.len());
        let _ = rw.push(&settings, &vault, &stream[pos..end]);
        pos = end;
    }
    let _ = rw.finish(&settings, &vault);
});
