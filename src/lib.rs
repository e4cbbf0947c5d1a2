//! mesh-guardrail: a proxy-wasm filter that guards LLM traffic in Envoy and Istio.
//!
//! The pipeline is visible in the module tree. Everything except `host` is pure Rust with no
//! `proxy_wasm` import: it takes bytes and configuration and returns verdicts and edits, so it
//! is unit-tested natively, in `wasm32-unknown-unknown` (wasm-bindgen-test) and benchmarked.
//!
//! - `config`: the plugin configuration schema, validated and compiled once.
//! - `body`: request/response body codecs (JSON scanner, OpenAI/Responses/Anthropic extraction,
//!   SSE framing).
//! - `injection`: prompt-injection scoring and sanitising.
//! - `pii`: PII detection, reversible tokens (the vault) and streaming restoration.
//! - `output`: output validation (system-prompt leaks, unsafe output rules), whole and
//!   incremental.
//! - `path`: request paths normalised as upstreams resolve them (for `request.path_prefixes`).
//! - `headers`: request headers read as bytes, refused when sent more than once.
//! - `identity`: the caller's identity from a JWT payload Envoy's `jwt_authn` put in dynamic
//!   metadata.
//! - `quota`: per-user quotas and budgets over a compare-and-swap `Store`.
//! - `hold`: whether the host holds request headers while the body is read (learnt per VM).
//! - `cache`: the per-VM verdict cache (detector results per text, so a resent conversation
//!   costs its new text).
//! - `memo`: per-VM checkpoints of where a conversation's messages ended, so a resent
//!   conversation is parsed from there.
//! - `pipeline`: combines the verdicts into one decision per request and response.
//! - `reply`: OpenAI-shaped local replies.
//! - `rollout`: cohorts and gradual model rollout with quality gates and automatic rollback
//!   (assignment, per-arm counters and the stage machine in shared data).
//! - `degrade`: graceful degradation: fallback answers for upstream failures, the end of a
//!   broken stream, and degradation levels from upstream health in shared data.
//! - `filter`: the per-request state machine (headers, bodies, trailers, local replies,
//!   quota admission and settlement, response rewriting), generic over a small `Host` trait
//!   and table-tested against a native mock host.
//! - `host`: the only module that talks to Envoy (wasm32-wasip1 only): a thin adapter that
//!   implements `filter::Host` over the proxy-wasm ABI.

pub mod body;
pub mod cache;
pub mod config;
pub mod degrade;
pub mod filter;
pub mod headers;
pub mod hold;
pub mod identity;
pub mod injection;
pub mod memo;
mod nh;
pub mod output;
pub mod path;
pub mod pii;
pub mod pipeline;
pub mod quota;
pub mod reply;
pub mod rollout;
mod swar;
mod text;

#[cfg(test)]
mod testutil;

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod host;
