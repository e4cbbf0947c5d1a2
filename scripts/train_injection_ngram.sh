#!/usr/bin/env bash
# `make train-injection`: trains the hashed n-gram model of the injection detector
# (src/injection/ngram.rs) and writes src/injection/ngram_weights.bin; with --loso, first prints
# the leave-one-source-out table (train without a source, score it; README "Evaluation").
#
#   scripts/train_injection_ngram.sh [--loso] DATA_DIR
#
# Deterministic: fixed seed, one thread, no dependency beyond cargo (the trainer is
# examples/train_injection.rs and uses the detector's own feature code, so training and the
# filter cannot disagree on features). Takes well under a minute on one core.
# Trains on DATA_DIR/injection/{dev,dev_extra_attacks,direct_more}.jsonl (user context),
# indirect.jsonl and the pii/ sentences (tool-result context), the hand-written src/injection/train_extra.jsonl,
# minus the kept-aside slice. benign_instructions.jsonl (CC BY-NC 4.0) is only measured
# (--measure): the shipped weights never train on it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOSO=()
if [[ "${1:-}" == "--loso" ]]; then LOSO=(--loso); shift; fi
DATA="${1:?usage: scripts/train_injection_ngram.sh [--loso] DATA_DIR}"
I="$DATA/injection"
# Clean tool output that reads like people talking (a customer's question, a form filled in): the
# presidio-research sentences of DATA_DIR/pii, as benign tool results at half weight. Without them
# the model flagged 12% of those sentences arriving as tool results (it had learnt that any
# request in a tool result is injected); see README "Evaluation".
TOOL_BENIGN="target/train/pii_tool_benign.jsonl"
mkdir -p target/train
python3 - "$DATA/pii" "$TOOL_BENIGN" <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
with open(out, "w") as o:
    for name in ("generated_large.json", "synth_dataset_v2.json"):
        for r in json.load(open(os.path.join(src, name))):
            text = r.get("full_text") if isinstance(r, dict) else None
            if text:
                o.write(json.dumps({"text": text, "label": 0, "source": "presidio-research/" + name[:-5],
                                    "category": "benign-tool-output", "weight": 0.5}, ensure_ascii=False) + "\n")
PY
cargo run --release --example train_injection -- "${LOSO[@]}" --out src/injection/ngram_weights.bin \
  "$I/dev.jsonl" "$I/dev_extra_attacks.jsonl" "$I/direct_more.jsonl" src/injection/train_extra.jsonl \
  --tool "$I/indirect.jsonl" --tool "$TOOL_BENIGN" --measure "$I/benign_instructions.jsonl"
