"""Latency the rate-limit service adds per request (quota.backend rls vs local), on loopback.

Two Envoys (--concurrency 2) in front of the mock LLM, one per backend. The service is the
repository's RLS (rls/, limitador) with its counters in a Redis started here, as in
`make run-fleet`; `--standin` uses the Python stand-in of the e2e tests instead. N sequential
requests per tier (free: request limit only, one call; pro: request and cost limits, two
calls). Prints p50 and p99 of each and the difference.

    make build rls && .venv/bin/python scripts/rls_latency.py      (N=400 by default)

Part `rls` of `make bench` (BENCH_PART=rls).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402
from harness import chat_body, request  # noqa: E402
from rls_standin import RlsStandin, rls_cluster  # noqa: E402

RLS_BIN = os.path.join(ROOT, "rls", "target", "release", "mesh-guardrail-rls")
BIG = 4_000_000_000  # below the API's uint32 limits: never reached here


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("rls_latency: %s exited with code %s" % (what, proc.returncode))
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit("rls_latency: %s did not listen on %d" % (what, port))


class RealRls:
    """rls/ with Redis, both on free loopback ports, in a temporary directory."""

    def __init__(self):
        for need in (RLS_BIN, shutil.which("redis-server") or "redis-server"):
            if not os.path.exists(need):
                sys.exit("rls_latency: %s is missing (make rls; apt-get install redis-server)" % need)
        self.dir = tempfile.mkdtemp(prefix="rls-latency-")
        self.redis_port, self.port = free_port(), free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.redis_port, self.redis, "redis-server")
        limits = {"domain": "mesh-guardrail", "limits": [
            {"name": "free-requests", "match": {"tier": "free", "limit": "requests"}, "per": "user",
             "max_value": BIG, "seconds": 86400},
            {"name": "pro-requests", "match": {"tier": "pro", "limit": "requests"}, "per": "user",
             "max_value": BIG, "seconds": 86400},
            {"name": "pro-cost", "match": {"tier": "pro", "limit": "cost"}, "per": "user",
             "max_value": BIG, "seconds": 86400}]}
        config = os.path.join(self.dir, "limits.json")
        with open(config, "w") as f:
            json.dump(limits, f)
        self.proc = subprocess.Popen(
            [RLS_BIN, "--config", config, "--redis", "redis://127.0.0.1:%d" % self.redis_port,
             "--listen", "127.0.0.1:%d" % self.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "the RLS")

    def stop(self):
        for p in (self.proc, self.redis):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def quota(backend):
    d = {"user_header": "x-user-id", "tier_header": "x-user-tier", "default_tier": "free",
         "tiers": {"free": {"daily_requests": 10**9},
                   "pro": {"daily_requests": 10**9, "daily_cost_usd": 4000.0}},
         "pricing": {"default": {"input_per_1m_usd": 1.0, "output_per_1m_usd": 2.0}}}
    if backend == "rls":
        d["backend"] = "rls"
        d["rls"] = {"cluster": "ratelimit", "timeout_ms": 50}
    return {"quota": d}


def run(envoy, tier, n):
    user = "u-" + uuid.uuid4().hex[:8]
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        r = request(envoy.url, "POST", "/v1/chat/completions", body=chat_body("hello %d" % i),
                    headers={"content-type": "application/json", "x-user-id": user, "x-user-tier": tier})
        lat.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            sys.exit("rls_latency: %s answered %s: %r" % (tier, r.status, r.body[:200]))
    lat.sort()
    return lat[len(lat) // 2], lat[max(0, int(len(lat) * 0.99) - 1)]


def main():
    standin = "--standin" in sys.argv[1:]
    n = int(os.environ.get("N", "400"))
    mock = harness.MockLLM()
    rls = RlsStandin({("free", "requests"): 10**9, ("pro", "requests"): 10**9,
                      ("pro", "cost"): BIG}) if standin else RealRls()
    envoys = {}
    try:
        for b in ("local", "rls"):
            cfg = harness.envoy_config(quota(b), mock.port)
            cfg["static_resources"]["clusters"].append(rls_cluster(rls.port))
            envoys[b] = harness.Envoy(quota(b), mock.port, concurrency=2, bootstrap=cfg, name="lat-" + b)
        print("RLS: %s; %d sequential requests per row" % ("Python stand-in" if standin else "rls/ + Redis", n))
        for tier in ("free", "pro"):
            for b in ("local", "rls"):
                run(envoys[b], tier, min(n, 50))  # warm
            res = {b: run(envoys[b], tier, n) for b in ("local", "rls")}
            print("tier=%s calls/request=%s local p50=%.2fms p99=%.2fms | rls p50=%.2fms p99=%.2fms | "
                  "added p50=%.2fms p99=%.2fms" % (
                      tier, "1" if tier == "free" else "2 (+report if over)", res["local"][0], res["local"][1],
                      res["rls"][0], res["rls"][1], res["rls"][0] - res["local"][0], res["rls"][1] - res["local"][1]))
    finally:
        for e in envoys.values():
            e.stop()
        rls.stop()
        mock.stop()


if __name__ == "__main__":
    main()
