//! The request pipeline on a resent agent conversation, as a plain loop for instruction
//! counts (issue 17): deterministic where wall-clock benchmarks on a shared machine are not.
//!
//!     cargo build --release --example agent_profile
//!     valgrind --tool=callgrind target/release/examples/agent_profile 65536 1
//!     valgrind --tool=callgrind target/release/examples/agent_profile 65536 201
//!
//! Arguments: body bytes (default 65536), requests after the first (default 200), plugin
//! configuration (default `{}`), and `single` for one user message of that size sent again
//! instead of a conversation. A conversation is `benches/engine.rs`'s agent body (system prompt,
//! user turns, tool calls, tool results, answers) whose last 2 KB, a new user turn, change with
//! every request; the first request fills the verdict cache and the conversation memo. The
//! instructions of one request are the difference between two runs' totals divided by the
//! difference in requests (the setup cancels out). With `CARGO_PROFILE_RELEASE_STRIP=none
//! CARGO_PROFILE_RELEASE_DEBUG=line-tables-only`, `callgrind_annotate --inclusive=yes` names
//! the functions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/common/gen.rs"]
mod gen;

use gen::{agent_body, json_str, prose, run_request, stamp, Rng};
use mesh_guardrail::config::Settings;

const KEY: &[u8] = b"bench-key-0123456789abcdef-0123456789";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(65536);
    let iters: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let cfg = args.get(3).cloned().unwrap_or_else(|| "{}".to_string());
    let single = args.get(4).is_some_and(|m| m == "single");
    let (mut body, at) = if single {
        let text = prose(&mut Rng(7), n.saturating_sub(80), false);
        let b = format!(
            r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":{}}}]}}"#,
            json_str(&text)
        );
        (b.into_bytes(), 0)
    } else {
        agent_body(0xA6E7 ^ n as u64, n, 2048)
    };
    let s = Settings::from_json(cfg.as_bytes(), KEY.to_vec()).expect("configuration");
    let run = run_request;
    run(&s, &body);
    for k in 1..=iters {
        if !single {
            stamp(&mut body, at, k);
        }
        run(&s, &body);
    }
    eprintln!("{} bytes, {iters} requests after the first", body.len());
}
