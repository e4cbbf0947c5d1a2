#!/usr/bin/env bash
# A fleet on one machine: Redis, the rate-limit service (rls/), the mock LLM and two Envoys
# (:10000 and :10001, each --concurrency 2) sharing one set of quota counters through the RLS.
# Ctrl-C stops them all. Expects the filter and the RLS to be built (`make run-fleet` builds both).
#
#   GUARDRAIL_CONFIG=my.json scripts/run_fleet.sh   another plugin configuration (default
#                                                    examples/fleet/guardrail.json)
#   RLS_LIMITS=file.json                             another RLS limits file (default
#                                                    examples/fleet/rls-limits.json)
#   REDIS_PORT, RLS_PORT, MOCK_PORT, ENVOY_PORTS ("10000 10001"), ADMIN_PORTS ("9901 9902")
#
# Redis runs on loopback with its data (append-only file on) in a temporary directory removed
# at exit: counters survive a Redis restart during the run, not the run itself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WASM=target/wasm32-wasip1/release/mesh_guardrail.wasm
RLS_BIN=rls/target/release/mesh-guardrail-rls
PLUGIN="${GUARDRAIL_CONFIG:-examples/fleet/guardrail.json}"
LIMITS="${RLS_LIMITS:-examples/fleet/rls-limits.json}"
REDIS_PORT="${REDIS_PORT:-6390}"
RLS_PORT="${RLS_PORT:-8081}"
MOCK_PORT="${MOCK_PORT:-8000}"
read -r -a ENVOY_PORTS <<<"${ENVOY_PORTS:-10000 10001}"
read -r -a ADMIN_PORTS <<<"${ADMIN_PORTS:-9901 9902}"
PY="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] && PY=.venv/bin/python

for f in "$WASM" "$RLS_BIN"; do
  [[ -f "$f" ]] || { echo "run_fleet.sh: $f is missing; run \`make build rls\` first" >&2; exit 1; }
done
command -v redis-server >/dev/null 2>&1 ||
  { echo "run_fleet.sh: redis-server not found (apt-get install redis-server)" >&2; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/mesh-guardrail-fleet.XXXXXX")"
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup INT TERM EXIT

wait_port() {  # name port
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "run_fleet.sh: $1 exited during startup" >&2; exit 1; }
    done
    sleep 0.1
  done
  echo "run_fleet.sh: $1 did not listen on 127.0.0.1:$2" >&2
  exit 1
}

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$TMP" --appendonly yes --save "" \
  --logfile "$TMP/redis.log" &
pids+=($!)
wait_port redis "$REDIS_PORT"

"$RLS_BIN" --config "$LIMITS" --redis "redis://127.0.0.1:$REDIS_PORT" --listen "127.0.0.1:$RLS_PORT" &
pids+=($!)
wait_port mesh-guardrail-rls "$RLS_PORT"

# shellcheck disable=SC2086
"$PY" examples/mock_llm.py --host 127.0.0.1 --port "$MOCK_PORT" ${MOCK_ARGS:-} &
pids+=($!)

for i in "${!ENVOY_PORTS[@]}"; do
  cfg="$TMP/envoy-$i.yaml"
  "$PY" scripts/plugin_config.py envoy/fleet.yaml "$cfg" --plugin-config "$PLUGIN" \
    "LISTEN_PORT=${ENVOY_PORTS[$i]}" "ADMIN_PORT=${ADMIN_PORTS[$i]}" "MOCK_PORT=$MOCK_PORT" \
    "RLS_PORT=$RLS_PORT" "WASM_PATH=$WASM"
  scripts/envoy.sh -c "$cfg" --concurrency 2 --use-dynamic-base-id --log-level warning \
    --component-log-level wasm:info &
  pids+=($!)
done
for i in "${!ADMIN_PORTS[@]}"; do
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:${ADMIN_PORTS[$i]}/ready" 2>/dev/null && break
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "run_fleet.sh: a process exited during startup" >&2; exit 1; }
    done
    sleep 0.1
  done
done

cat <<MSG

mesh-guardrail fleet is running:
  Envoys   http://127.0.0.1:${ENVOY_PORTS[0]} and http://127.0.0.1:${ENVOY_PORTS[1]} (admin ${ADMIN_PORTS[0]}, ${ADMIN_PORTS[1]}), --concurrency 2 each
  RLS      127.0.0.1:$RLS_PORT (limits $LIMITS), Redis 127.0.0.1:$REDIS_PORT (data in $TMP)
  mock LLM http://127.0.0.1:$MOCK_PORT
  plugin configuration: $PLUGIN

# A free-tier user has 20 requests a day across both Envoys:
for i in \$(seq 1 25); do curl -s -o /dev/null -w '%{http_code} ' \\
  http://127.0.0.1:\$((${ENVOY_PORTS[0]} + i % 2))/v1/chat/completions \\
  -H 'content-type: application/json' -H 'x-user-id: alice' -H 'x-user-tier: free' \\
  -d '{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}]}'; done; echo

Ctrl-C stops them all.
MSG
wait -n "${pids[@]}"
