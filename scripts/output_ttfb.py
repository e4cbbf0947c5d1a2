#!/usr/bin/env python3
"""Time to first byte that output validation adds to a streamed answer (SSE, chat).

Starts the mock LLM and one Envoy per configuration (the guardrail with `{}`, and with
`{"output": {"enabled": false}}`), asks for an answer streamed in deltas of
x-mock-delta-size characters every x-mock-chunk-delay-ms, and reports the median over N runs
of: the first body byte, and the first non-empty content delta (what a reader sees).

  .venv/bin/python scripts/output_ttfb.py [--runs 5] [--delta 4] [--delay-ms 10] [--chars 1200]

Build first (make build). The added delay is the hold-back window: the first text is released
once window_bytes * 1.5 bytes (384 with the default 256) are checked, so it is about
384 / delta * delay ms (a real model at 50 tokens/s of ~4 characters: about 2 s).
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
import harness  # noqa: E402


def measure(url, body, headers):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    t0 = time.monotonic()
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                 headers=dict(headers, **{"content-type": "application/json"}))
    resp = conn.getresponse()
    first_byte = first_text = None
    buf = b""
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        now = time.monotonic() - t0
        if first_byte is None:
            first_byte = now
        buf += chunk
        if first_text is None:
            for line in buf.split(b"\n"):
                if line.startswith(b"data: {"):
                    try:
                        obj = json.loads(line[6:])
                    except ValueError:
                        continue
                    for c in obj.get("choices") or []:
                        if (c.get("delta") or {}).get("content"):
                            first_text = now
            if first_text is None:
                buf = buf[buf.rfind(b"\n") + 1:]
    conn.close()
    return first_byte, first_text, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--delta", type=int, default=4)
    ap.add_argument("--delay-ms", type=int, default=10)
    ap.add_argument("--chars", type=int, default=1200)
    a = ap.parse_args()
    answer = ("The quick brown fox jumps over the lazy dog. " * 100)[: a.chars]
    headers = {"x-mock-reply": answer, "x-mock-delta-size": str(a.delta),
               "x-mock-chunk-delay-ms": str(a.delay_ms)}
    body = harness.chat_body("hi", stream=True, system="You are a helpful assistant of Example Corp.")
    mock = harness.MockLLM()
    results = {}
    try:
        for name, cfg in [("output off", {"output": {"enabled": False}}), ("output on ({})", {})]:
            envoy = harness.Envoy(cfg, mock.port, name="ttfb")
            try:
                measure(envoy.url, body, headers)  # warm up
                runs = [measure(envoy.url, body, headers) for _ in range(a.runs)]
            finally:
                envoy.stop()
            results[name] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
    finally:
        mock.stop()
    print("SSE chat, %d characters in %d-character deltas every %d ms, median of %d (hold mode %s):"
          % (a.chars, a.delta, a.delay_ms, a.runs, harness.HOLD_MODE))
    for name, (fb, ft, total) in results.items():
        print("  %-16s first byte %7.1f ms   first text %7.1f ms   whole answer %7.1f ms"
              % (name, fb * 1000, ft * 1000, total * 1000))
    off, on = results["output off"], results["output on ({})"]
    print("  added: first byte %+.1f ms, first text %+.1f ms, whole answer %+.1f ms"
          % ((on[0] - off[0]) * 1000, (on[1] - off[1]) * 1000, (on[2] - off[2]) * 1000))


if __name__ == "__main__":
    main()
