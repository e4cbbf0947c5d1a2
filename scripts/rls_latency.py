"""Latency the rate-limit service adds per request (quota.backend rls vs local), on loopback.

Two Envoys (--concurrency 2) in front of the mock LLM, one per backend, the stand-in RLS of
tests/e2e/rls_standin.py; N sequential requests per tier (free: request limit only, one call;
pro: request and cost limits, two calls). Prints p50 and p99 of each and the difference.

    make build && .venv/bin/python scripts/rls_latency.py      (N=400 by default)
"""
import os, sys, time, uuid, statistics
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness
from harness import request, chat_body
from rls_standin import RlsStandin, rls_cluster

mock = harness.MockLLM()
rls = RlsStandin({("free", "requests"): 10**9, ("pro", "requests"): 10**9, ("pro", "cost"): 4 * 10**9})
def q(backend):
    d = {"user_header": "x-user-id", "tier_header": "x-user-tier", "default_tier": "free",
         "tiers": {"free": {"daily_requests": 10**9}, "pro": {"daily_requests": 10**9, "daily_cost_usd": 4000.0}},
         "pricing": {"default": {"input_per_1m_usd": 1.0, "output_per_1m_usd": 2.0}}}
    if backend == "rls":
        d["backend"] = "rls"; d["rls"] = {"cluster": "ratelimit", "timeout_ms": 50}
    return {"quota": d}
envoys = {}
for b in ("local", "rls"):
    cfg = harness.envoy_config(q(b), mock.port)
    cfg["static_resources"]["clusters"].append(rls_cluster(rls.port))
    envoys[b] = harness.Envoy(q(b), mock.port, concurrency=2, bootstrap=cfg, name="lat-" + b)
N = int(os.environ.get("N", "400"))
def run(e, tier):
    user = "u-" + uuid.uuid4().hex[:8]
    lat = []
    for i in range(N):
        t0 = time.perf_counter()
        r = request(e.url, "POST", "/v1/chat/completions", body=chat_body("hello %d" % i),
                    headers={"content-type": "application/json", "x-user-id": user, "x-user-tier": tier})
        lat.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, r
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1]
try:
    for tier in ("free", "pro"):
        for b in ("local", "rls"):
            run(envoys[b], tier)  # warm
        res = {b: run(envoys[b], tier) for b in ("local", "rls")}
        print("tier=%s calls/request=%s local p50=%.2fms p99=%.2fms | rls p50=%.2fms p99=%.2fms | added p50=%.2fms p99=%.2fms" % (
            tier, "1" if tier == "free" else "2 (+report if over)", res["local"][0], res["local"][1], res["rls"][0], res["rls"][1],
            res["rls"][0] - res["local"][0], res["rls"][1] - res["local"][1]))
finally:
    for e in envoys.values(): e.stop()
    rls.stop(); mock.stop()
