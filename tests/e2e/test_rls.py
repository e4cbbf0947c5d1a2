"""quota.backend: rls end to end: two Envoys (`--concurrency 2` each) count one user's
requests at one rate-limit service, in the current hold mode (E2E_HOLD_MODE). The service here
is a stand-in (tests/e2e/rls_standin.py) that these tests can stop, slow down and read the
counters of; the real engine (rls/ on limitador and Redis) is driven by test_fleet.py through
`make run-fleet`'s stack, with the same exact-admission check.

- exact admission across the fleet: 60 parallel requests of one user with a limit of 20,
  spread over both Envoys, admit exactly 20 (3 rounds);
- a cost budget is settled from `usage` across both Envoys (reserve, then report the rest);
- the service stopped: `failure_mode: deny` answers 503 within 200 ms, `allow` passes
  (counted); restarted, requests are admitted again; a slow service gets the failure mode
  after `timeout_ms`.
"""

import concurrent.futures
import json
import time
import uuid

import pytest

import harness
from harness import chat_body, is_openai_error, request
from rls_standin import RlsStandin, rls_cluster

LIMITS = {("free", "requests"): 20, ("pro", "requests"): 1000, ("pro", "cost"): 1_000_000}


def quota(failure_mode="deny", timeout_ms=50):
    return {"quota": {
        "backend": "rls",
        "rls": {"cluster": "ratelimit", "timeout_ms": timeout_ms, "failure_mode": failure_mode},
        "user_header": "x-user-id", "tier_header": "x-user-tier", "default_tier": "free",
        "tiers": {"free": {"daily_requests": 20},
                  "pro": {"daily_requests": 1000, "daily_cost_usd": 1.0}},
        "pricing": {"default": {"input_per_1m_usd": 1.0, "output_per_1m_usd": 2.0}},
    }}


@pytest.fixture(scope="module")
def rls():
    r = RlsStandin(LIMITS)
    yield r
    r.stop()


@pytest.fixture(scope="module")
def fleet(mock, rls):
    """"fleet": two Envoys with a timeout the stand-in (Python, 60 calls at once on a shared
    machine) always meets: admission is what they test. "deny" and "allow": `timeout_ms` 50."""
    started = []

    def start(mode, timeout_ms=50):
        plugin = quota(mode, timeout_ms)
        cfg = harness.envoy_config(plugin, mock.port)
        cfg["static_resources"]["clusters"].append(rls_cluster(rls.port))
        e = harness.Envoy(plugin, mock.port, concurrency=2, bootstrap=cfg, name="rls-" + mode)
        started.append(e)
        return e

    envoys = {"fleet": [start("deny", 2000), start("deny", 2000)],
              "deny": start("deny"), "allow": start("allow")}
    yield envoys
    for e in started:
        e.stop()


def post(envoy, user, tier="free", text="hello", headers=None, **extra):
    h = {"content-type": "application/json", "x-user-id": user, "x-user-tier": tier}
    h.update(headers or {})
    return request(envoy.url, "POST", "/v1/chat/completions", body=chat_body(text, **extra), headers=h)


def error_code(resp):
    try:
        return resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def test_fleet_admits_exactly_the_limit(fleet, rls):
    a, b = fleet["fleet"]
    for round_ in range(3):
        user = "u-" + uuid.uuid4().hex[:12]
        with concurrent.futures.ThreadPoolExecutor(60) as pool:
            resps = list(pool.map(lambda i: post((a, b)[i % 2], user, text="round %d req %d" % (round_, i)),
                                  range(60)))
        statuses = sorted(r.status for r in resps)
        assert statuses.count(200) == 20, (round_, [(r.status, error_code(r)) for r in resps])
        refused = [r for r in resps if r.status != 200]
        assert len(refused) == 40
        for r in refused:
            assert r.status == 429 and is_openai_error(r), r
            assert error_code(r) == "daily_request_limit_exceeded"
            assert int(r.headers["retry-after"]) > 0
            assert r.headers["x-ratelimit-remaining-requests"] == "0"
        # Each Envoy got 30 calls: counting alone, each would admit 20 (40 in all); 20 in all is
        # one count for the fleet. Which Envoy admits them is the order the calls arrive in (on
        # a loaded machine one Envoy's 30 can all come first), so it is not asserted.
        assert rls.counter("free", "requests", "r." + user) == 20
        remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in resps if r.status == 200)
        assert remaining == list(range(20)), remaining


def wait_for(pred, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_cost_budget_settled_from_usage_across_envoys(fleet, rls):
    a, b = fleet["fleet"]
    user = "u-" + uuid.uuid4().hex[:12]
    # Reserved: prompt estimate + max_tokens 5, at 1 and 2 micro-USD per token; the usage the
    # mock reports (11 prompt, 7 completion) costs 11 + 14 = 25 micro-USD, more than reserved:
    # the rest is reported when the response ends.
    r1 = post(a, user, tier="pro", text="hi", headers={"x-mock-usage": "11,7"}, max_tokens=5)
    assert r1.status == 200, r1
    assert r1.headers["x-guardrail-budget-limit-usd"] == "1.000000"
    assert wait_for(lambda: rls.counter("pro", "cost", "r." + user) == 25), rls.counter("pro", "cost", "r." + user)
    r2 = post(b, user, tier="pro", text="hi", headers={"x-mock-usage": "11,7"}, max_tokens=5)
    assert r2.status == 200, r2
    assert wait_for(lambda: rls.counter("pro", "cost", "r." + user) == 50)
    # The second answer's remaining budget (from the service) counts the first request's
    # settled usage (25) and its own reservation (1 prompt token + 5 completion: 11).
    assert r2.headers["x-guardrail-budget-remaining-usd"] == "0.999964"
    # A usage below the reservation is charged the reservation (hits cannot be given back).
    r3 = post(a, user, tier="pro", text="hi", headers={"x-mock-usage": "1,1"}, max_tokens=50)
    assert r3.status == 200
    time.sleep(0.2)
    assert rls.counter("pro", "cost", "r." + user) == 50 + 1 + 100


def test_service_down_deny_fast_allow_counted_then_back(fleet, rls):
    deny, allow = fleet["deny"], fleet["allow"]
    user = "u-" + uuid.uuid4().hex[:12]
    assert post(deny, user).status == 200
    rls.stop()
    try:
        for _ in range(5):
            t0 = time.monotonic()
            r = post(deny, user)
            elapsed = time.monotonic() - t0
            assert r.status == 503 and is_openai_error(r), r
            assert error_code(r) == "quota_unavailable"
            assert r.headers["retry-after"] == "1"
            assert elapsed < 0.2, elapsed
        before = allow.stats("wasmcustom.mesh_guardrail.quota.rls_fail_open").get(
            "wasmcustom.mesh_guardrail.quota.rls_fail_open", 0)
        r = post(allow, user)
        assert r.status == 200, r
        after = allow.stats("wasmcustom.mesh_guardrail.quota.rls_fail_open")
        assert after.get("wasmcustom.mesh_guardrail.quota.rls_fail_open", 0) == before + 1, after
    finally:
        rls.start()
    assert wait_for(lambda: post(deny, user).status == 200, timeout=5)
    assert rls.counter("free", "requests", "r." + user) >= 2


def test_slow_service_gets_the_failure_mode_after_timeout(fleet, rls):
    deny = fleet["deny"]
    user = "u-" + uuid.uuid4().hex[:12]
    rls.delay_ms = 300
    try:
        t0 = time.monotonic()
        r = post(deny, user)
        elapsed = time.monotonic() - t0
    finally:
        rls.delay_ms = 0
    assert r.status == 503 and error_code(r) == "quota_unavailable", r
    assert 0.04 <= elapsed < 0.2, elapsed
    time.sleep(0.35)  # the slow call finishes at the service (it counted): no VM is left broken
    assert post(deny, user).status == 200
