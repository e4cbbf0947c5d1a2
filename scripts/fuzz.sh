#!/usr/bin/env bash
# Fuzz the filter's pure core with cargo-fuzz (libFuzzer), each target for a bounded time.
#
#   scripts/fuzz.sh [target ...]        default: every target in fuzz/Cargo.toml
#   FUZZ_SECONDS=60                     time per target (CI runs each for at least 60 s)
#   FUZZ_JOBS=<cores>                   targets fuzzed at once (default: the number of cores; each
#                                       target is one libFuzzer process on its own core)
#   FUZZ_SANITIZER=none                 none (default: the crate has no unsafe code outside the
#                                       host layer, which is not fuzzed) or address
#
# Targets: request_pipeline (the whole request decision), json_response (restore/redact and
# usage of a JSON answer), sse_stream (an SSE answer fed in chunks split by the input),
# plugin_config (parse and compile the configuration). Seeds: fuzz/corpus/<target>/ (new
# inputs found are added there; commit the interesting ones after `cargo fuzz cmin`). A crash
# leaves its input in fuzz/artifacts/<target>/ and fails this script: make it a regression test.
#
# cargo-fuzz needs a nightly compiler's -Z flags; the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1 (only for this build, in fuzz/target).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --version 0.13.2 >&2
fi
export RUSTC_BOOTSTRAP=1
SECS="${FUZZ_SECONDS:-60}"
SAN="${FUZZ_SANITIZER:-none}"
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo fuzz list)
fi
if ! cargo fuzz build --sanitizer "$SAN" >&2; then
  echo "fuzz.sh: cargo fuzz build failed" >&2
  exit 1
fi
JOBS="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
((JOBS >= 1)) || JOBS=1
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
fuzz_one() {
  local t="$1"
  mkdir -p "corpus/$t"
  echo "=== fuzz $t for ${SECS}s ===" >&2
  if cargo fuzz run --sanitizer "$SAN" "$t" "corpus/$t" -- -max_total_time="$SECS" \
      -print_final_stats=1 -max_len=65536 -timeout=10 >"$logs/$t.log" 2>&1; then
    echo ok >"$logs/$t.rc"
  else
    echo CRASH >"$logs/$t.rc"
  fi
}
running=0
for t in "${targets[@]}"; do
  if ((running >= JOBS)); then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait || true
summary=()
status=0
for t in "${targets[@]}"; do
  result="$(cat "$logs/$t.rc" 2>/dev/null || echo CRASH)"
  if [[ "$result" != ok ]]; then
    status=1
    echo "--- fuzz $t: last lines of its log" >&2
    tail -40 "$logs/$t.log" >&2 || true
  fi
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t.log" | awk '{print $2}' | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$logs/$t.log" | tail -1 || true)
  summary+=("$(printf '%-18s %-6s %12s execs  %s  corpus %s files' "$t" "$result" "${execs:-?}" "${cov:-cov: ?}" \
    "$(find "corpus/$t" -type f | wc -l)")")
done
echo
echo "fuzzing (${SECS}s per target, $JOBS at once, sanitizer $SAN)"
printf '%s\n' "${summary[@]}"
exit $status
