"""Cohorts and gradual model rollout (`rollout` section), end to end through a real Envoy.

Every Envoy here runs two workers (`--concurrency 2`): the stage machine and the per-arm
counters live in shared data, so both workers' VMs must agree. Experiments are cached per
config for the whole module, so each test uses its own experiment id.

The many-request tests (healthy and failing treatment, stickiness) are marked `statistical`.
"""

import concurrent.futures
import json
import os
import re
import time
import uuid

import pytest

import harness
from harness import chat_body, is_openai_error, request

CHAT = "/v1/chat/completions"
WORKERS = 2
QUOTA = {"tiers": {"free": {"daily_requests": 1000000}},
         "pricing": {"default": {"input_per_1m_usd": 1.0, "output_per_1m_usd": 2.0}}}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def config(*experiments, client=True):
    return {"quota": QUOTA, "decision_headers": {"client": client},
            "rollout": {"experiments": list(experiments)}}


def experiment(eid, **extra):
    e = {"id": eid, "control": {"model": "model-a"}, "treatment": {"model": "model-b-%s" % eid},
         "assign": "user", "stages": [10, 50, 100], "stage_min_requests": 40, "stage_min_seconds": 1}
    e.update(extra)
    return e


def uid():
    return "u-" + uuid.uuid4().hex[:16]


def ask(envoy, user=None, headers=None, model="model-a"):
    h = {"x-user-id": user or uid()}
    h.update(headers or {})
    return request(envoy.url, "POST", CHAT, chat_body("hello there", model=model), headers=h)


def cohort(resp):
    return resp.headers.get("x-guardrail-cohort")


def transitions(envoy, eid):
    pattern = (r"rollout transition experiment=" + re.escape(eid)
               + r" from=(\d+)% to=(\d+)% reason=(\S+) gates: ([^\n\"]*)")
    return re.findall(pattern, envoy.log_text())


def burst(envoy, n, headers=None, users=None):
    users = users or [uid() for _ in range(n)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda u: ask(envoy, u, headers), users))


@pytest.mark.statistical
def test_healthy_treatment_reaches_full_rollout(start_envoy):
    eid = "healthy"
    envoy = start_envoy(config(experiment(eid)), concurrency=WORKERS)
    sent, deadline = 0, time.time() + 30
    while time.time() < deadline and not any(t[1] == "100" for t in transitions(envoy, eid)):
        rs = burst(envoy, 100)
        sent += len(rs)
        assert all(r.status == 200 for r in rs), [r for r in rs if r.status != 200][:1]
    seen = transitions(envoy, eid)
    # One log line per transition, whichever of the two workers decided it.
    assert [(a, b, why) for a, b, why, _ in seen] == [
        ("10", "50", "gates_passed"), ("50", "100", "gates_passed")], seen
    print("healthy treatment: %d requests to reach 100%%; %s" % (sent, seen))
    # At 100% every request goes to the treatment, its model rewritten in the body.
    for r in burst(envoy, 20):
        assert cohort(r) == "%s=treatment" % eid, r.headers
        assert r.json()["model"] == "model-b-%s" % eid
    stats = envoy.stats("wasmcustom.mesh_guardrail.rollout.%s." % eid)
    assert stats.get("wasmcustom.mesh_guardrail.rollout.%s.stage_percent" % eid) == 100, stats


@pytest.mark.statistical
def test_failing_treatment_is_rolled_back_and_gets_no_more_requests(start_envoy, mock):
    eid = "failing"
    treatment = "model-b-%s" % eid
    envoy = start_envoy(config(experiment(eid)), concurrency=WORKERS)
    chaos = {"x-mock-chaos": "fail=0.3", "x-mock-chaos-model": treatment, "x-mock-chaos-seed": "14"}
    sent, deadline = 0, time.time() + 30
    while time.time() < deadline and not transitions(envoy, eid):
        sent += len(burst(envoy, 50, chaos))
    seen = transitions(envoy, eid)
    assert len(seen) == 1, seen
    frm, to, why, figures = seen[0]
    assert (frm, to, why) == ("10", "0", "gate_failed:error_rate"), seen
    print("failing treatment: rolled back after %d requests: %s" % (sent, figures))
    # Judged once the first stage has run its minimum (40 treatment requests, 1 second).
    n_t = int(re.search(r"n_treatment=(\d+)", figures).group(1))
    assert n_t >= 40, figures
    # From now on nobody goes to the treatment, and its model is never sent upstream.
    mock.clear()
    rs = burst(envoy, 100, chaos)
    assert all(r.status == 200 and cohort(r) == "%s=control" % eid for r in rs), \
        [(r.status, cohort(r)) for r in rs if cohort(r) != "%s=control" % eid][:3]
    assert all(json.loads(e["body"])["model"] == "model-a" for e in mock.requests())
    # Still rolled back later: no transition to any other stage.
    assert transitions(envoy, eid) == seen
    stats = envoy.stats("wasmcustom.mesh_guardrail.rollout.%s." % eid)
    assert stats.get("wasmcustom.mesh_guardrail.rollout.%s.stage_percent" % eid) == 0, stats
    assert stats.get("wasmcustom.mesh_guardrail.rollout.%s.rolled_back" % eid) == 1, stats
    assert stats.get("wasmcustom.mesh_guardrail.rollout.%s.treatment.errors" % eid, 0) >= 10, stats


@pytest.mark.statistical
def test_slow_treatment_is_rolled_back_on_its_p95(start_envoy):
    eid = "slow"
    treatment = "model-b-%s" % eid
    envoy = start_envoy(config(experiment(eid)), concurrency=WORKERS)
    # Every treatment request waits 300 ms upstream; control answers at once.
    slow = {"x-mock-chaos": "timeout=1.0", "x-mock-chaos-timeout-ms": "300",
            "x-mock-chaos-model": treatment}
    deadline = time.time() + 40
    while time.time() < deadline and not transitions(envoy, eid):
        rs = burst(envoy, 100, slow)
        assert all(r.status == 200 for r in rs), [r for r in rs if r.status != 200][:1]
    seen = transitions(envoy, eid)
    assert [(a, b, why) for a, b, why, _ in seen] == [("10", "0", "gate_failed:latency_p95")], seen
    figures = seen[0][3]
    print("slow treatment: %s" % figures)
    # Past both the ratio (1.5) and the floor (50 ms), and significant.
    assert float(re.search(r"p95_ratio=([0-9.]+)", figures).group(1)) > 1.5, figures
    assert float(re.search(r"p95_delta_ms=([0-9.]+)", figures).group(1)) > 50, figures
    assert float(re.search(r"p95_z=([0-9.]+)", figures).group(1)) > 1.645, figures
    assert all(cohort(r) == "%s=control" % eid for r in burst(envoy, 40, slow))


@pytest.mark.statistical
def test_user_assignment_is_sticky_and_shares_match_the_stage(start_envoy, mock):
    eid = "sticky"
    # One stage at 25%: the final stage, so the share never moves during the test.
    envoy = start_envoy(config(experiment(eid, stages=[25])), concurrency=WORKERS)
    user = uid()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        rs = list(pool.map(lambda _: ask(envoy, user), range(200)))
    arms = {cohort(r) for r in rs}
    assert len(arms) == 1 and arms <= {"%s=control" % eid, "%s=treatment" % eid}, arms
    models = {r.json()["model"] for r in rs}
    assert len(models) == 1, models
    # 400 distinct users at 25%: 100 expected, sd 8.7; 4.5 sd either side.
    rs = burst(envoy, 400)
    treated = sum(cohort(r) == "%s=treatment" % eid for r in rs)
    print("stickiness: user %s always %s; %d of 400 users in treatment at 25%%" % (user, arms, treated))
    assert 61 <= treated <= 139, treated


@pytest.mark.statistical
def test_percentage_assignment_is_per_request(start_envoy):
    eid = "percent"
    envoy = start_envoy(config(experiment(eid, assign="percentage", stages=[30])), concurrency=WORKERS)
    user = uid()
    rs = burst(envoy, 300, users=[user] * 300)
    treated = sum(cohort(r) == "%s=treatment" % eid for r in rs)
    # 30% of 300: 90 expected, sd 7.9; 4.5 sd either side. One user gets both arms.
    print("percentage: %d of 300 requests of one user in treatment at 30%%" % treated)
    assert 54 <= treated <= 126, treated
    assert all(r.status == 200 for r in rs)


def test_cohort_headers_upstream_and_client_and_the_arm_model(start_envoy, mock):
    eid = "headers"
    envoy = start_envoy(config(experiment(eid, stages=[100])), concurrency=WORKERS)
    r = ask(envoy)
    assert r.status == 200
    assert cohort(r) == "headers=treatment"
    assert r.headers.get("x-request-id"), r.headers
    up = mock.last()
    assert up["headers"].get("x-guardrail-cohort") == "headers=treatment", up["headers"]
    assert json.loads(up["body"])["model"] == "model-b-headers"
    # A client cannot forge the cohort header.
    r = ask(envoy, headers={"x-guardrail-cohort": "headers=control"})
    assert mock.last()["headers"].get("x-guardrail-cohort") == "headers=treatment"


def test_header_assignment_follows_the_flag(start_envoy, mock):
    eid = "flag"
    envoy = start_envoy(config(experiment(eid, assign="header", flag_header="x-model-flag")),
                        concurrency=WORKERS)
    for value, arm, model in [("on", "treatment", "model-b-flag"), ("off", "control", "model-a"),
                              ("yes", "control", "model-a"), (None, "control", "model-a")]:
        h = {"x-model-flag": value} if value else {}
        r = ask(envoy, headers=h)
        assert r.status == 200 and cohort(r) == "flag=%s" % arm, (value, r.headers)
        up = mock.last()
        assert up["headers"].get("x-guardrail-cohort") == "flag=%s" % arm
        assert json.loads(up["body"])["model"] == model
    # A repeated flag is ambiguous: refused.
    u = harness.urllib.parse.urlsplit(envoy.url)
    conn = harness.http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    body = json.dumps(chat_body("hi", model="model-a"))
    conn.putrequest("POST", CHAT)
    for k, v in [("content-type", "application/json"), ("content-length", str(len(body))),
                 ("x-user-id", uid()), ("x-model-flag", "on"), ("x-model-flag", "off")]:
        conn.putheader(k, v)
    conn.endheaders(body.encode())
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    assert resp.status == 400 and data["error"]["code"] == "ambiguous_flag", data
    assert is_openai_error(harness.Response(resp.status, {}, json.dumps(data).encode()))


def test_match_models_assigns_from_the_body(start_envoy, mock):
    eid = "matched"
    e = experiment(eid, stages=[100], match_models=["gpt-old"])
    envoy = start_envoy(config(e), concurrency=WORKERS)
    r = ask(envoy, model="gpt-old")
    assert r.status == 200 and cohort(r) == "matched=treatment"
    up = mock.last()
    assert json.loads(up["body"])["model"] == "model-b-matched"
    if harness.STREAM_MODE:
        # The headers left before the body named its model: no upstream cohort header (counted).
        assert "x-guardrail-cohort" not in up["headers"]
        stats = envoy.stats("wasmcustom.mesh_guardrail.rollout.cohort_header_late")
        assert stats.get("wasmcustom.mesh_guardrail.rollout.cohort_header_late", 0) >= 1, stats
    else:
        assert up["headers"].get("x-guardrail-cohort") == "matched=treatment"
    # Another model does not take part: untouched, no cohort.
    r = ask(envoy, model="gpt-other")
    assert r.status == 200 and cohort(r) is None
    up = mock.last()
    assert json.loads(up["body"])["model"] == "gpt-other"
    assert "x-guardrail-cohort" not in up["headers"]


def test_feedback_endpoint(start_envoy, mock):
    eid = "feedback"
    envoy = start_envoy(config(experiment(eid, stages=[100])), concurrency=WORKERS)
    r = ask(envoy)
    rid = r.headers.get("x-request-id")
    assert r.status == 200 and rid, r.headers
    fb = lambda body, method="POST": request(envoy.url, method, "/guardrail/feedback", body,
                                             headers={"content-type": "application/json"})
    ok = fb({"request_id": rid, "score": 0.8})
    assert ok.status == 200 and ok.json() == {"request_id": rid, "recorded": True}, ok
    again = fb({"request_id": rid, "score": 0.1})
    assert again.status == 409 and again.json()["error"]["code"] == "feedback_already_recorded"
    unknown = fb({"request_id": "no-such-request", "score": 0.5})
    assert unknown.status == 404 and is_openai_error(unknown), unknown
    for bad in [{"request_id": rid, "score": 1.5}, {"request_id": rid}, "not json",
                '{"request_id":"%s","score":0.5,"score":0.6}' % rid]:
        resp = fb(bad)
        assert resp.status == 400 and is_openai_error(resp), (bad, resp)
        assert resp.json()["error"]["code"] == "invalid_feedback"
    assert fb(None, "GET").status == 405
    stats = envoy.stats("wasmcustom.mesh_guardrail.rollout.%s." % eid)
    assert stats.get("wasmcustom.mesh_guardrail.rollout.%s.treatment.feedback" % eid) == 1, stats
    assert stats.get("wasmcustom.mesh_guardrail.rollout.%s.treatment.feedback_score_milli" % eid) == 800
    # No feedback body reaches the upstream (in stream mode the headers have left, and the
    # upstream request is reset before any body byte, as for every refused request).
    assert all(e["body"] == "" for e in mock.requests() if e["path"] == "/guardrail/feedback")
    if not harness.STREAM_MODE:
        assert all(e["path"] != "/guardrail/feedback" for e in mock.requests())


def test_bad_rollout_configuration_is_refused_naming_the_field(start_envoy):
    with pytest.raises(harness.EnvoyStartError) as e:
        start_envoy(config(experiment("bad", stages=[50, 10])))
    assert "rollout.experiments[0].stages" in e.value.log


def prometheus_names(envoy):
    text = request(envoy.admin_url, "GET", "/stats/prometheus").text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def test_examples_are_valid_yaml_and_name_real_metrics(start_envoy):
    yaml = pytest.importorskip("yaml")
    folder = os.path.join(ROOT, "examples", "rollout")
    docs = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(folder, name)) as f:
                docs[name] = [d for d in yaml.safe_load_all(f) if d is not None]
    kinds = {d.get("kind") for ds in docs.values() for d in ds}
    assert {"MetricTemplate", "Canary", "AnalysisTemplate"} <= kinds, kinds
    with open(os.path.join(folder, "mesh-guardrail.json")) as f:
        plugin = json.load(f)
    eid = plugin["rollout"]["experiments"][0]["id"]
    envoy = start_envoy(plugin, concurrency=WORKERS)
    for _ in range(10):
        assert ask(envoy, model=plugin["rollout"]["experiments"][0]["control"]["model"]).status == 200
    names = prometheus_names(envoy)
    queries = []
    for ds in docs.values():
        for d in ds:
            blob = json.dumps(d)
            queries += re.findall(r"mesh_guardrail_rollout_[a-z0-9_]+", blob)
    assert queries, "no metric named in the examples"
    for q in set(queries):
        base = re.sub(r"_(bucket|sum|count)$", "", q)
        assert q in names or base in names, (q, sorted(n for n in names if "rollout" in n))
    assert eid


def test_envoy_routes_an_arm_by_the_cohort_header(mock):
    """The cohort header is set before Envoy picks the route: a header match sends the
    treatment to its own cluster (both hold modes: the arm is picked in the headers phase)."""
    eid = "routed"
    plugin = config(experiment(eid, assign="header", flag_header="x-model-flag"))
    treatment_llm = harness.MockLLM()
    try:
        boot = harness.envoy_config(plugin, mock.port)
        res = boot["static_resources"]
        res["clusters"].append(dict(json.loads(json.dumps(res["clusters"][0])), name="treatment_llm"))
        res["clusters"][1]["load_assignment"] = {"cluster_name": "treatment_llm", "endpoints": [{"lb_endpoints": [{
            "endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": treatment_llm.port}}}}]}]}
        hcm = res["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        routes.insert(0, {"match": {"prefix": "/", "headers": [
            {"name": "x-guardrail-cohort", "string_match": {"exact": "%s=treatment" % eid}}]},
            "route": {"cluster": "treatment_llm", "timeout": "120s"}})
        envoy = harness.Envoy(plugin, mock.port, concurrency=WORKERS, name="routed", bootstrap=boot)
        try:
            mock.clear()
            treatment_llm.clear()
            r = ask(envoy, headers={"x-model-flag": "on"})
            assert r.status == 200 and cohort(r) == "%s=treatment" % eid
            got = treatment_llm.requests()
            assert len(got) == 1 and json.loads(got[0]["body"])["model"] == "model-b-%s" % eid, got
            assert mock.requests() == []
            r = ask(envoy, headers={"x-model-flag": "off"})
            assert r.status == 200 and cohort(r) == "%s=control" % eid
            assert len(treatment_llm.requests()) == 1
            assert len(mock.requests()) == 1
        finally:
            envoy.stop()
    finally:
        treatment_llm.stop()
