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
# indirect.jsonl (tool-result context) and the hand-written src/injection/train_extra.jsonl,
# minus the kept-aside slice. benign_instructions.jsonl (CC BY-NC 4.0) is only measured
# (--measure): the shipped weights never train on it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOSO=()
if [[ "${1:-}" == "--loso" ]]; then LOSO=(--loso); shift; fi
DATA="${1:?usage: scripts/train_injection_ngram.sh [--loso] DATA_DIR}"
I="$DATA/injection"
cargo run --release --example train_injection -- "${LOSO[@]}" --out src/injection/ngram_weights.bin \
  "$I/dev.jsonl" "$I/dev_extra_attacks.jsonl" "$I/direct_more.jsonl" src/injection/train_extra.jsonl \
  --tool "$I/indirect.jsonl" --measure "$I/benign_instructions.jsonl"
