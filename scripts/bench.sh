#!/usr/bin/env bash
# `make bench`: the whole benchmark of mesh-guardrail, one report on stdout.
#
#   scripts/bench.sh            native engine + through Envoy (about 4-5 minutes with a warm build)
#   scripts/bench.sh native     only the native engine table (cargo bench --bench engine)
#   scripts/bench.sh wasm       only the module in V8 without Envoy (scripts/bench_wasm.py, Node.js)
#   scripts/bench.sh envoy      only the through-Envoy part (scripts/bench_envoy.py), agent load included
#   scripts/bench.sh agent      only the agent load through Envoy (scripts/bench_envoy.py --agent-only)
#
# 1. Native engine (benches/engine.rs): median us per call, MB/s, us/KB of the public Rust API
#    (request pipeline, injection, PII, JSON and SSE response rewriting) on benign and PII-dense
#    chat bodies of 1 KB, 4 KB, 64 KB and 1 MB.
# 2. The module in V8 (scripts/bench_wasm.py): the built .wasm driven through whole requests by a
#    proxy-wasm host in Node.js (V8, TurboFan only, as in Envoy): the filter's own us per request,
#    benign and PII-dense, 1 KB to 900 KB. Precise where wrk is noisy.
#    Then scripts/worst_case.py: bodies of up to 900 KB built to be expensive (deep nesting, tiny
#    leaves, many keys, messages, escapes, PII-dense text), each on a fresh VM: memory growth and
#    time per request against issue 12's targets (16 MiB, 50 ms).
# 3. Through Envoy (scripts/bench_envoy.py): the same Envoy with and without the filter (config {}),
#    and with reference filters that compute nothing (benches/reference-filter: an SDK filter that
#    calls no host function, the do-nothing filter (reads the body), and one making exactly mesh-guardrail's
#    host calls), so the filter's cost splits layer by layer; wrk with
#    4 KB and 64 KB bodies in alternating rounds, the SSE time to first byte, the module size and
#    the memory of the worker VMs. Then the agent load (scripts/agent_load.py, bench/agent.lua):
#    distinct conversations resent with one new user or tool turn per request, in 4, 16, 64 and
#    256 KB buckets, without a filter, with the reference filter and with mesh-guardrail.
#
# Knobs (environment): GUARDRAIL_BENCH_SECS (native seconds per cell, 0.3), BENCH_ROUNDS (5),
# BENCH_SECS (wrk seconds per round, 5), BENCH_SIZES (4k,64k), BENCH_TTFB_N (60),
# BENCH_ENVOY_CONCURRENCY (1), ENVOY_BIN (see scripts/envoy.sh).
# Needs: cargo (+ wasm32-wasip1 target), python3, curl, wrk (installed with apt-get when missing
# and possible), Envoy (scripts/envoy.sh resolves it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WHAT="${1:-all}"
case "$WHAT" in all|native|wasm|envoy|agent|rls) ;; *) echo "usage: scripts/bench.sh [all|native|wasm|envoy|agent|rls]" >&2; exit 2 ;; esac

START=$(date +%s)
SUMMARY="$(mktemp -t guardrail-bench-summary.XXXXXX)"
NATIVE_LOG="$(mktemp -t guardrail-bench-build.XXXXXX)"
trap 'rm -f "$SUMMARY" "$NATIVE_LOG"' EXIT

die() { echo "bench.sh: error: $*" >&2; exit 2; }

ensure_wrk() {
  command -v wrk >/dev/null 2>&1 && return 0
  echo "wrk not found: installing it with apt-get ..." >&2
  local SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "wrk is missing and this is not root (no sudo): install wrk (apt-get install wrk)"
    SUDO="sudo"
  fi
  command -v apt-get >/dev/null 2>&1 || die "wrk is missing and apt-get is not available: install wrk (https://github.com/wg/wrk)"
  $SUDO apt-get update -qq >&2 || die "apt-get update failed; install wrk yourself"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >&2 || die "apt-get install wrk failed; install wrk yourself"
  command -v wrk >/dev/null 2>&1 || die "wrk still not on PATH after apt-get install"
}

command -v cargo >/dev/null 2>&1 || die "cargo not found"
command -v python3 >/dev/null 2>&1 || die "python3 not found"
if [[ "$WHAT" == all || "$WHAT" == envoy || "$WHAT" == agent ]]; then
  command -v curl >/dev/null 2>&1 || die "curl not found"
  ensure_wrk
fi

GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain 2>/dev/null | head -1)" ]]; then GIT_REV="$GIT_REV+dirty"; fi
CPU="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
echo "=================================================================================================="
echo "mesh-guardrail benchmark   $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: make bench  (scripts/bench.sh $WHAT)   commit $GIT_REV"
echo "host: $(nproc) cores, ${CPU:-unknown CPU}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(rustc --version 2>/dev/null || echo 'rustc ?')"
LOAD1="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)"
if awk -v l="$LOAD1" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
  echo "WARNING: load average $LOAD1 on $(nproc) cores before starting: other work competes for the CPU, numbers"
  echo "         will be noisy (medians and alternating rounds absorb some of it; rerun on an idle host)."
fi
echo "=================================================================================================="
echo

if [[ "$WHAT" != native ]]; then
  # The module Envoy loads must match the source (a no-op when `make build` just ran).
  if ! cargo build --release --target wasm32-wasip1 >"$NATIVE_LOG" 2>&1; then
    tail -30 "$NATIVE_LOG" >&2
    die "cargo build --release --target wasm32-wasip1 failed"
  fi
fi

if [[ "$WHAT" == all || "$WHAT" == native ]]; then
  echo "## 1. Native engine: cargo bench --bench engine"
  echo "(compiling the benchmark in the release profile; the first build takes a minute or two)" >&2
  if ! cargo bench --bench engine --no-run >"$NATIVE_LOG" 2>&1; then
    tail -30 "$NATIVE_LOG" >&2
    die "cargo bench --bench engine --no-run failed"
  fi
  GUARDRAIL_BENCH_SUMMARY="$SUMMARY" cargo bench --bench engine 2>>"$NATIVE_LOG" || {
    tail -30 "$NATIVE_LOG" >&2
    die "the native benchmark failed"
  }
  echo
fi

if [[ "$WHAT" == all || "$WHAT" == wasm ]]; then
  echo "## 2. The module in V8 without Envoy: scripts/bench_wasm.py (Node.js, proxy-wasm host in JS)"
  python3 scripts/bench_wasm.py --summary "$SUMMARY" || die "the in-V8 benchmark failed"
  echo
  echo "## 2b. Worst-case request bodies in V8: scripts/worst_case.py (memory growth and time per request)"
  python3 scripts/worst_case.py --summary "$SUMMARY" || echo "(some bodies are over issue 12's targets: see the table)"
  echo
  echo "## 2c. The agent load in V8: us per request, cache on and off, and the VM memory with the cache full"
  python3 scripts/bench_wasm.py --agent --summary "$SUMMARY" || echo "(the in-V8 agent run failed)"
  echo
fi

if [[ "$WHAT" == all || "$WHAT" == envoy ]]; then
  echo "## 3. Through Envoy: scripts/bench_envoy.py"
  python3 scripts/bench_envoy.py --summary "$SUMMARY"
fi

if [[ "$WHAT" == agent ]]; then
  echo "## 3b. Agent load through Envoy: scripts/bench_envoy.py --agent-only"
  python3 scripts/bench_envoy.py --agent-only --summary "$SUMMARY"
  echo "## 3c. The agent load in V8: us per request, cache on and off, and the VM memory with the cache full"
  python3 scripts/bench_wasm.py --agent --summary "$SUMMARY" || echo "(the in-V8 agent run failed)"
fi

if [[ "$WHAT" == all || "$WHAT" == rls ]]; then
  echo "## 4. quota.backend rls: latency the rate-limit service (rls/ + Redis) adds per request"
  [[ -x rls/target/release/mesh-guardrail-rls ]] || cargo build --release --manifest-path rls/Cargo.toml >&2
  PY=python3; [[ -x .venv/bin/python ]] && PY=.venv/bin/python
  "$PY" scripts/rls_latency.py | tee -a "$NATIVE_LOG"
  line=$(grep -m1 "^tier=free" "$NATIVE_LOG" || true)
  [[ -n "$line" ]] && echo "rls.added=$(sed -E 's/.*added (p50=[0-9.]+ms p99=[0-9.]+ms).*/\1/' <<<"$line")" >>"$SUMMARY"
fi

# ---- one summary line of the key numbers
get() { grep -m1 "^$1=" "$SUMMARY" 2>/dev/null | cut -d= -f2- || true; }
parts=()
v=$(get native.request_pipeline.benign.4k_us); [[ -n "$v" ]] && parts+=("pipeline 4KB ${v}us (<20)")
v=$(get native.injection.scan.benign.4k_us);   [[ -n "$v" ]] && parts+=("injection 4KB ${v}us (<10)")
v=$(get native.pii.anonymize.pii.4k_us);       [[ -n "$v" ]] && parts+=("PII-dense tokenise 4KB ${v}us (<10)")
v=$(get native.pii.anonymize.benign.4k_us);    [[ -n "$v" ]] && parts+=("benign PII 4KB ${v}us")
v=$(get native.linearity_worst);               [[ -n "$v" ]] && parts+=("worst us/KB 1MB/4KB ${v}")
v=$(get wasm.benign.4k_us);                    [[ -n "$v" ]] && parts+=("in V8 4KB ${v}us/request")
v=$(get wasm.worst_case_mib);                  [[ -n "$v" ]] && parts+=("worst-case body +${v} MiB VM memory (<=16)")
v=$(get envoy.ratio.4k);                       [[ -n "$v" ]] && parts+=("Envoy req/s with/without 4KB ${v} (>=0.80)")
v=$(get envoy.aa_ratio.4k);                    [[ -n "$v" ]] && parts+=("A/A noise 4KB ${v}")
v=$(get envoy.ratio_sdk-noop.4k);              [[ -n "$v" ]] && parts+=("SDK no-op filter 4KB ${v}")
v=$(get envoy.reference_ratio.4k);             [[ -n "$v" ]] && parts+=("reference filter 4KB ${v}")
v=$(get envoy.own_us_per_req.4k);              [[ -n "$v" ]] && parts+=("own computation ${v}us Envoy CPU/request at 4KB")
v=$(get envoy.ratio.64k);                      [[ -n "$v" ]] && parts+=("64KB ${v}")
v=$(get envoy.added_us_per_req.4k);            [[ -n "$v" ]] && parts+=("filter adds ${v}us Envoy CPU/request at 4KB")
v=$(get envoy.agent.ratio_with.64k);           [[ -n "$v" ]] && parts+=("agent 64KB ${v} (>=0.80; reference $(get envoy.agent.ratio_reference.64k))")
v=$(get envoy.agent.ratio_with.16k);           [[ -n "$v" ]] && parts+=("agent 16KB ${v}")
v=$(get envoy.agent.ratio_with.256k);          [[ -n "$v" ]] && parts+=("agent 256KB ${v}")
v=$(get wasm.agent.64k.on.us);                 [[ -n "$v" ]] && parts+=("agent 64KB in V8 ${v}us/request (cache off $(get wasm.agent.64k.off.us))")
v=$(get wasm.agent.cache_full_mib);            [[ -n "$v" ]] && parts+=("VM memory, cache full ${v} MiB (cache off $(get wasm.agent.256k.off.memory_mib))")
v=$(get envoy.ttfb_added_ms);                  [[ -n "$v" ]] && parts+=("SSE TTFB added ${v}ms (<1)")
v=$(get rls.added);                            [[ -n "$v" ]] && parts+=("RLS call adds ${v} (one call)")
v=$(get wasm_bytes);                           [[ -n "$v" ]] && parts+=("wasm ${v} B (<1MB)")
v=$(get envoy.rss_delta_mib);                  [[ -n "$v" ]] && parts+=("RSS +${v} MiB")
echo "=================================================================================================="
IFS='|'; line="${parts[*]}"; unset IFS
echo "SUMMARY: ${line//|/ | }"
echo "(total $(( $(date +%s) - START )) s)"
