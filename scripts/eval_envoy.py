#!/usr/bin/env python3
"""Evaluate the guardrail through a real Envoy, the way a user's traffic meets it.

  injection: every row of the JSONL files ({"text", "label", "source"}; .gz accepted) is sent as
             a user message through Envoy with {"mode": "monitor"} (rows of a --tool file as the
             result of a tool call the assistant made, `role: tool`); anything but
             `x-guardrail-action: allow` counts as detected. Prints recall per attack source,
             false-positive rate per benign source, and balanced accuracy (mean attack recall per
             source and mean specificity per benign source, averaged).
  pii:       every sentence of the presidio-research JSON files is sent through Envoy with {}
             to the echoing mock LLM. The spans the upstream saw as `[TYPE_hex]` tokens are the
             detections (span overlap with the same type counts); the client must read its
             original sentence back exactly, in JSON and in SSE with deltas of 1, 3 and 7
             characters. Finally Envoy's log is searched for every email and card value.

Usage:
  scripts/eval_envoy.py injection FILE.jsonl [FILE ...] [--tool FILE.jsonl ...] [--config JSON]
  scripts/eval_envoy.py pii FILE.json [FILE ...] [--limit N] [--no-stream]
"""

import argparse
import collections
import gzip
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402

TOKEN = re.compile(r"\[([A-Z_]+?)_([0-9a-f]{8,64})\]")
PRESIDIO = {
    "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN", "US_SSN": "SSN", "IP_ADDRESS": "IP_ADDRESS",
}


def read_lines(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def start(plugin_config, concurrency=1):
    mock = harness.MockLLM()
    try:
        envoy = harness.Envoy(plugin_config, mock.port, concurrency=concurrency, name="eval")
    except BaseException:
        mock.stop()
        raise
    return mock, envoy


def tool_body(text):
    """A chat request whose last message is `text` as the result of a tool call."""
    return {
        "model": "mock-gpt",
        "messages": [
            {"role": "user", "content": "Look this up for me and summarise it."},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": text},
        ],
    }


def eval_injection(args):
    cfg = json.loads(args.config) if args.config else {"mode": "monitor"}
    cfg.setdefault("mode", "monitor")
    mock, envoy = start(cfg)
    counts = collections.defaultdict(lambda: [0, 0])  # (label, source) -> [detected, total]
    actions = collections.Counter()
    t0 = time.monotonic()
    try:
        n = 0
        for path, tool in [(p, False) for p in args.files] + [(p, True) for p in args.tool]:
            for row in read_lines(path):
                body = tool_body(row["text"]) if tool else harness.chat_body(row["text"])
                r = harness.request(envoy.url, "POST", "/v1/chat/completions", body=body,
                                    headers={"x-mock-reply": "ok"})
                action = r.headers.get("x-guardrail-action")
                if action is None:
                    raise SystemExit("no x-guardrail-action on the response (status %s): is the filter loaded "
                                     "in monitor mode?" % r.status)
                actions[action] += 1
                key = (int(row["label"]), row.get("source", "?"))
                counts[key][0] += action != "allow"
                counts[key][1] += 1
                n += 1
        elapsed = time.monotonic() - t0
        log = envoy.log_text()
    finally:
        envoy.stop()
        mock.stop()

    print("injection through Envoy (monitor mode, detected = action != allow), %d rows in %.1f s" % (n, elapsed))
    print("%-45s %6s %8s %8s" % ("source", "label", "rows", "rate"))
    recalls, specs = [], []
    for (label, source), (det, total) in sorted(counts.items()):
        rate = det / total if total else 0.0
        kind = "recall" if label == 1 else "FPR"
        print("%-45s %6s %8d %7.1f%% %s" % (source[:45], "attack" if label else "benign", total, 100 * rate, kind))
        (recalls if label == 1 else specs).append(rate if label == 1 else 1 - rate)
    parts = recalls + specs
    if recalls and specs:
        bal = (sum(recalls) / len(recalls) + sum(specs) / len(specs)) / 2
        print("balanced accuracy: %.3f (mean recall %.3f over %d attack sources, mean specificity %.3f over %d benign sources)"
              % (bal, sum(recalls) / len(recalls), len(recalls), sum(specs) / len(specs), len(specs)))
    elif parts:
        print("mean rate: %.3f" % (sum(parts) / len(parts)))
    print("actions: %s" % dict(actions))
    # The attack text must never reach the log: check a few long rows verbatim.
    leaked = 0
    for path in args.files + args.tool:
        for row in read_lines(path):
            if int(row["label"]) == 1 and len(row["text"]) > 40 and row["text"][:40] in log:
                leaked += 1
    print("rows whose text appears in Envoy's log: %d" % leaked)
    return 1 if leaked else 0


def upstream_spans(original, seen):
    """Recovers which spans of `original` the upstream saw replaced by tokens."""
    spans = []
    pos_o = 0
    pos_s = 0
    matches = list(TOKEN.finditer(seen))
    for i, m in enumerate(matches):
        literal = seen[pos_s:m.start()]
        if not original.startswith(literal, pos_o):
            return None
        start = pos_o + len(literal)
        nxt = seen[m.end():matches[i + 1].start()] if i + 1 < len(matches) else seen[m.end():]
        if nxt:
            end = original.find(nxt, start + 1) if i + 1 < len(matches) else len(original) - len(nxt)
            if end < start:
                return None
        else:
            end = len(original) if i + 1 == len(matches) else start  # adjacent tokens: unknown split
        spans.append((m.group(1), start, end))
        pos_o = end
        pos_s = m.end()
    return spans


def eval_pii(args):
    mock, envoy = start({})
    tp = collections.Counter()
    fp = collections.Counter()
    fn = collections.Counter()
    failures = collections.Counter()
    values = []
    t0 = time.monotonic()
    n = 0
    try:
        for path in args.files:
            with open(path, encoding="utf-8") as f:
                rows = json.load(f)
            for row in rows[: args.limit or None]:
                text = row["full_text"]
                gold = [(PRESIDIO[s["entity_type"]], s["start_position"], s["end_position"])
                        for s in row["spans"] if s["entity_type"] in PRESIDIO]
                values += [text[s:e] for t, s, e in gold if t in ("EMAIL", "CREDIT_CARD")]
                r = harness.request(envoy.url, "POST", "/v1/chat/completions", body=harness.chat_body(text))
                n += 1
                if r.status != 200:
                    failures["status %d" % r.status] += 1
                    continue
                if r.json()["choices"][0]["message"]["content"] != text:
                    failures["json round trip"] += 1
                seen = json.loads(mock.last()["body"])["messages"][-1]["content"]
                found = upstream_spans(text, seen)
                if found is None:
                    failures["alignment"] += 1
                    found = []
                for t, s, e in found:
                    if any(gt == t and s < ge and gs < e for gt, gs, ge in gold):
                        tp[t] += 1
                    else:
                        fp[t] += 1
                for t, s, e in gold:
                    if not any(ft == t and s < fe and fs < e for ft, fs, fe in found):
                        fn[t] += 1
                if not args.no_stream:
                    for delta in (1, 3, 7):
                        rs = harness.request(envoy.url, "POST", "/v1/chat/completions",
                                             body=harness.chat_body(text, stream=True, include_usage=True),
                                             headers={"x-mock-delta-size": str(delta)})
                        events = harness.parse_sse(rs.text)
                        got = "".join(
                            (c.get("delta", {}).get("content") or "")
                            for e in events if e != "[DONE]"
                            for c in json.loads(e).get("choices", []))
                        if got != text or not events or events[-1] != "[DONE]":
                            failures["sse round trip (delta %d)" % delta] += 1
        elapsed = time.monotonic() - t0
        log = envoy.log_text()
    finally:
        envoy.stop()
        mock.stop()

    print("PII through Envoy with {}: %d sentences in %.1f s" % (n, elapsed))
    print("%-12s %9s %7s %5s %5s %5s" % ("entity", "precision", "recall", "tp", "fp", "fn"))
    for t in ["EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IBAN", "IP_ADDRESS"]:
        p = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 1.0
        r = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 1.0
        print("%-12s %9.3f %7.3f %5d %5d %5d" % (t, p, r, tp[t], fp[t], fn[t]))
    other = sorted(set(fp) - set(PRESIDIO.values()))
    for t in other:
        print("%-12s (not in the labels) %d detections" % (t, fp[t]))
    print("round-trip failures: %s" % (dict(failures) or "none"))
    leaked = sum(1 for v in values if v and v in log)
    print("email/card values found in Envoy's log: %d of %d" % (leaked, len(values)))
    return 1 if leaked or failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("injection")
    a.add_argument("files", nargs="+")
    a.add_argument("--tool", action="append", default=[], help="JSONL file whose rows are sent as tool results")
    a.add_argument("--config", help="plugin configuration JSON (mode forced to monitor unless given)")
    b = sub.add_parser("pii")
    b.add_argument("files", nargs="+")
    b.add_argument("--limit", type=int, default=0, help="sentences per file (0: all)")
    b.add_argument("--no-stream", action="store_true", help="skip the SSE round trips")
    args = ap.parse_args()
    harness.require_wasm()
    sys.exit(eval_injection(args) if args.what == "injection" else eval_pii(args))


if __name__ == "__main__":
    main()
