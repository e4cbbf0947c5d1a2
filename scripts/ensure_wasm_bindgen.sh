#!/usr/bin/env bash
# Make sure wasm-bindgen-test-runner exists in the version of `wasm-bindgen` in Cargo.lock
# (the wasm32-unknown-unknown test runner; it must match the library version exactly).
# Installs wasm-bindgen-cli with cargo only when missing or of another version. Without
# --locked on purpose: with --locked the install fails here (a locked dependency version is
# not available from the registry). The build takes about 1.5 minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

WANT="${WASM_BINDGEN_VERSION:-$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock" 2>/dev/null || true)}"
WANT="${WANT:-0.2.130}"
HAVE="$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{ print $2 }' || true)"
if [[ "$HAVE" == "$WANT" ]]; then
  exit 0
fi
echo "ensure_wasm_bindgen: wasm-bindgen-test-runner ${HAVE:-missing}, want $WANT: installing wasm-bindgen-cli $WANT" >&2
cargo install wasm-bindgen-cli --version "$WANT" --force
wasm-bindgen-test-runner --version
