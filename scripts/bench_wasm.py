#!/usr/bin/env python3
"""The filter module in V8 without Envoy: part of `make bench` (scripts/bench.sh), or alone:

    python3 scripts/bench_wasm.py [--sizes 1k,4k,64k,1m] [--secs 1] [--summary FILE]

Runs scripts/wasm_bench.mjs under Node.js (`node --no-liftoff`: TurboFan only, as Envoy's V8
runs Wasm), which drives target/wasm32-wasip1/release/mesh_guardrail.wasm through whole
requests over the proxy-wasm ABI: request headers and body, a small chat.completion response,
log, done. The figure is the median time per request of the filter's own code in V8, with a
host whose calls cost next to nothing: what the filter adds to Envoy's CPU per request beyond
Envoy's own cost of running any Wasm filter (see the reference filter in the Envoy part).
Bodies: the same benign chat generator as scripts/bench_envoy.py, and a PII-dense variant
(an email, phone number, card or IBAN about every 170 bytes). The largest default size is
900 KB, the default `request.max_body_bytes` (a larger body gets 413 before it is read).
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from bench_envoy import chat_body, prose  # noqa: E402  (one body generator for both parts)

PII = ["jane.doe@example.com", "+1 415 555 0134", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00",
       "m.rossi@example.org", "(212) 555-0199", "5500 0000 0000 0004", "192.168.10.24"]


def pii_body(n, seed=11):
    """A chat body of n bytes whose user text carries a PII value about every 170 bytes."""
    rng = random.Random(seed + n)
    words = []
    size = 0
    while size < n:
        chunk = prose(rng, 150) + " Contact: " + rng.choice(PII) + "."
        words.append(chunk)
        size += len(chunk) + 1
    text = " ".join(words)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    data = json.dumps(body, separators=(",", ":"))
    over = len(data) - n
    if over > 0:
        text = text[: len(text) - over]
        body["messages"][0]["content"] = text
        data = json.dumps(body, separators=(",", ":"))
    return data.encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=os.environ.get("BENCH_WASM_SIZES", "1k,4k,64k,900k"))
    ap.add_argument("--secs", type=float, default=float(os.environ.get("BENCH_WASM_SECS", 1)))
    ap.add_argument("--config", default="{}")
    ap.add_argument("--wasm", default=os.path.join(ROOT, "target/wasm32-wasip1/release/mesh_guardrail.wasm"))
    ap.add_argument("--summary", help="append key=value summary lines to this file")
    ap.add_argument("--agent", action="store_true",
                    help="instead: the agent load (scripts/agent_load.py) on one VM, cache on and off: us per "
                         "request per pass and the VM memory with the verdict cache full")
    ap.add_argument("--agent-buckets", default="64k,256k")
    ap.add_argument("--passes", type=int, default=int(os.environ.get("BENCH_WASM_PASSES", 12)))
    args = ap.parse_args()
    if args.agent:
        return agent(args)
    node = shutil.which("node")
    if not node:
        print("node not found: skipping the in-V8 benchmark (install Node.js to run it)")
        return 0
    if not os.path.isfile(args.wasm):
        print("bench_wasm: %s missing: run `make build`" % args.wasm, file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="guardrail-wasm-bench-")
    try:
        files = []
        for s in args.sizes.split(","):
            s = s.strip().lower()
            n = int(s[:-1]) * (1024 * 1024 if s.endswith("m") else 1024) if s[-1] in "km" else int(s)
            for kind, gen in (("benign", chat_body), ("pii", pii_body)):
                path = os.path.join(tmp, "%s-%s.json" % (kind, s))
                with open(path, "wb") as f:
                    f.write(gen(n))
                files.append(("%s %s" % (kind, s.upper()), path))
        cmd = [node, "--no-liftoff", os.path.join(ROOT, "scripts", "wasm_bench.mjs"), "--wasm", args.wasm,
               "--config", args.config, "--secs", str(args.secs)]
        for label, path in files:
            cmd += ["--body-file", "%s=%s" % (label, path)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
        if out.returncode != 0:
            print("bench_wasm: node failed:\n" + out.stderr[-3000:], file=sys.stderr)
            return 2
        res = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("Node %s (V8 %s), --no-liftoff; config %s; median of batches over %.1f s per body"
          % (res["node"], res["v8"], args.config, args.secs))
    print("%-14s %9s %12s %14s %9s %10s  %s" % ("body", "bytes", "median_us", "p10-p90_us", "us/KB", "requests", "result"))
    print("-" * 90)
    summary = []
    per_kb = {}
    for r in res["results"]:
        result = ("LOCAL REPLY %s (not inspected in full)" % r["local_reply"]) if r.get("local_reply") else (
            "forwarded, rewritten" if r.get("rewritten") else "forwarded unchanged")
        print("%-14s %9d %12.2f %14s %9.3f %10d  %s" % (r["label"], r["bytes"], r["median_us"],
                                                       "%.1f-%.1f" % (r["p10_us"], r["p90_us"]), r["us_per_kb"],
                                                       r["requests"], result))
        kind, size = r["label"].split()
        key = "wasm.%s.%s_us" % (kind, size.lower())
        summary.append("%s=%.2f" % (key, r["median_us"]))
        per_kb[(kind, size.lower())] = r["us_per_kb"]
    for kind in ("benign", "pii"):
        a, b = per_kb.get((kind, "4k")), per_kb.get((kind, "900k"))
        if a and b:
            print("%s: us/KB at 900 KB / at 4 KB = %.2f (1.0 = linear)" % (kind, b / a))
            summary.append("wasm.linearity.%s=%.2f" % (kind, b / a))
    if args.summary:
        with open(args.summary, "a") as f:
            f.write("\n".join(summary) + "\n")
    return 0


def agent(args):
    node = shutil.which("node")
    if not node:
        print("node not found: skipping the in-V8 agent run")
        return 0
    tmp = tempfile.mkdtemp(prefix="guardrail-wasm-agent-")
    summary = []
    try:
        gen = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "agent_load.py"), "--out", tmp,
                              "--buckets", args.agent_buckets], capture_output=True, text=True, check=True)
        buckets = [json.loads(l) for l in gen.stdout.splitlines() if l.strip()]
        print("The agent load in V8 (scripts/wasm_bench.mjs --cycle %d): one VM, the bodies in order, %d passes, each"
              % (args.passes, args.passes))
        print("pass with new turns; median us per request of the pass and the VM's linear memory after it")
        print("%-6s %-22s %8s %12s %12s %14s %14s" % ("bucket", "config", "bodies", "pass 1 us", "last pass us",
                                                     "memory MiB", "after pass 1"))
        for b in buckets:
            for label, cfg in (("{} (cache on)", "{}"), ("cache.enabled false", '{"cache":{"enabled":false}}')):
                cmd = [node, "--no-liftoff", os.path.join(ROOT, "scripts", "wasm_bench.mjs"), "--wasm", args.wasm,
                       "--config", cfg, "--cycle", str(args.passes), "--bodies-file", b["path"]]
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
                if out.returncode != 0:
                    print("bench_wasm: node failed:\n" + out.stderr[-3000:], file=sys.stderr)
                    return 2
                res = json.loads(out.stdout.strip().splitlines()[-1])
                p = res["passes"]
                print("%-6s %-22s %8d %12.1f %12.1f %8.2f->%.2f %14.2f" % (
                    b["bucket"], label, res["bodies"], p[0]["median_us"], p[-1]["median_us"],
                    res["memory_before_mib"], p[-1]["memory_mib"], p[0]["memory_mib"]))
                key = "on" if cfg == "{}" else "off"
                summary.append("wasm.agent.%s.%s.us=%.1f" % (b["bucket"].lower(), key, p[-1]["median_us"]))
                summary.append("wasm.agent.%s.%s.memory_mib=%.2f" % (b["bucket"].lower(), key, p[-1]["memory_mib"]))
                if key == "on" and b["bucket"] == buckets[-1]["bucket"]:
                    summary.append("wasm.agent.cache_full_mib=%.2f" % p[-1]["memory_mib"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.summary:
        with open(args.summary, "a") as f:
            f.write("\n".join(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
