"""Graceful degradation through a real Envoy, with the real OpenAI Python SDK.

1. Fallback answers: no healthy upstream (Envoy's own plain-text 503) and an upstream 500
   reach the SDK as `openai.InternalServerError` with an OpenAI error body and `retry-after`
   (`error`, the default), or as a normal completion carrying the configured text (`answer`),
   JSON and streaming.
2. A stream cut after 3 events: when Envoy sees the body end (close-delimited upstream, or an
   upstream that ends cleanly without [DONE]) the client's stream ends with an error event and
   `data: [DONE]`. A chunked stream cut mid-body is an upstream reset: Envoy resets the
   client's stream after the headers left (measured, Envoy 1.36 to 1.40); the filter can only
   count it (`degradation.stream_reset`) and record the failure.
3. Levels move with health (envoy/degraded.yaml, two mocks): killing the primary moves the
   level to limited and requests reach the backup cluster with the backup model; after the
   primary is back, a probe brings the level back to normal.
"""

import http.client
import json
import socket
import time

import openai
import pytest

import harness

ANSWER = "The assistant is busy; here is a fallback answer."
ANSWER_CFG = {"degradation": {"answer": ANSWER, "on_failure": {
    "upstream_5xx": "answer", "unavailable": "answer", "timeout": "answer"}}}
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


# Envoy's own plain-text 503s: the upstream port has nothing listening ("upstream connect
# error or disconnect/reset before headers"), the cluster has no host ("no healthy upstream"),
# the circuit breaker is full ("upstream_reset_before_response_started{overflow}").
UNAVAILABLE = ["connect_failure", "no_healthy_upstream", "overflow"]


@pytest.fixture(scope="module")
def dead_envoy():
    """Envoys whose upstream cannot be used, one per (configuration, kind of failure)."""
    # The upstream port stays bound (not listening) for the fixture's life: a connection is
    # refused, and no Envoy started meanwhile gets it for its own ephemeral listener or admin
    # port (a port merely found free was once handed to an admin interface, which answered 404).
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    port = hold.getsockname()[1]
    cache = {}

    def start(cfg, kind="no_healthy_upstream"):
        key = (json.dumps(cfg, sort_keys=True), kind)
        if key not in cache:
            boot = harness.envoy_config(cfg, port)
            cluster = boot["static_resources"]["clusters"][0]
            if kind == "no_healthy_upstream":
                cluster["load_assignment"]["endpoints"] = []
            elif kind == "overflow":
                cluster["circuit_breakers"] = {"thresholds": [{"max_requests": 0, "max_pending_requests": 0}]}
            cache[key] = harness.Envoy(cfg, port, name="test_degrade_dead", bootstrap=boot)
        return cache[key]

    try:
        yield start
    finally:
        for e in cache.values():
            e.stop()
        hold.close()


def sdk(envoy):
    return openai.OpenAI(base_url=envoy.url + "/v1", api_key="test", max_retries=0, timeout=15)


def error_of(exc):
    """The OpenAI error object of an APIStatusError (the SDK keeps `error` of the JSON body)."""
    body = exc.body
    assert isinstance(body, dict), body
    return body.get("error", body)


def sse_payloads(resp):
    return harness.parse_sse(resp.body.decode())


# ------------------------------------------------------------------------------------------
# 1. The SDK sees the failure it expects: error
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", UNAVAILABLE)
@pytest.mark.parametrize("stream", [False, True])
def test_no_healthy_upstream_raises_internal_server_error_with_retry_after(dead_envoy, stream, kind):
    envoy = dead_envoy({}, kind)
    raw = harness.request(envoy.url, "POST", "/v1/chat/completions", harness.chat_body("hi"))
    assert raw.status == 503 and harness.is_openai_error(raw), raw  # not Envoy's plain text
    with pytest.raises(openai.InternalServerError) as ei:
        sdk(envoy).chat.completions.create(model="mock-gpt", messages=MESSAGES, stream=stream)
    e = ei.value
    assert e.status_code == 503
    assert e.response.headers["retry-after"] == "5"
    assert e.response.headers["content-type"] == "application/json"
    assert e.response.headers["x-guardrail-degraded"] == "normal"
    err = error_of(e)
    assert err["type"] == "server_error" and err["code"] == "upstream_unavailable", err
    assert "param" in err and isinstance(err["message"], str)
    assert e.code == "upstream_unavailable"


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_500_raises_internal_server_error_with_retry_after(envoy, stream):
    with pytest.raises(openai.InternalServerError) as ei:
        sdk(envoy).chat.completions.create(model="mock-gpt", messages=MESSAGES, stream=stream,
                                           extra_headers={"x-mock-status": "500"})
    e = ei.value
    assert e.status_code == 500
    assert e.response.headers["retry-after"] == "5"
    assert e.response.headers["x-guardrail-degraded"] == "normal"
    # The mock's own error is already OpenAI-shaped: it passes (with retry-after added).
    err = error_of(e)
    assert err["type"] == "server_error" and err["code"] == "mock_error", err


# ------------------------------------------------------------------------------------------
# 1. ... or the answer it expects: answer
# ------------------------------------------------------------------------------------------
def check_answer(client, headers=None):
    c = client.chat.completions.create(model="mock-gpt", messages=MESSAGES, extra_headers=headers or {})
    assert c.object == "chat.completion"
    assert c.choices[0].message.content == ANSWER
    assert c.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(model="mock-gpt", messages=MESSAGES, stream=True,
                                                 extra_headers=headers or {}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("kind", ["connect_failure", "no_healthy_upstream"])
def test_answer_on_no_healthy_upstream(dead_envoy, kind):
    envoy = dead_envoy(ANSWER_CFG, kind)
    if harness.STREAM_MODE:
        # The headers go upstream at once: Envoy finds no healthy upstream (or a full circuit
        # breaker) with the headers, before the filter read the body, so whether the client
        # streams is unknown; `answer` becomes `error` (an answer in the wrong shape would
        # parse as nothing). A connect failure may come before or after the body was read:
        # either an error or the answer in the right shape. The first request of a VM is held
        # while it learns its hold mode (its body is read): learn it first.
        harness.request(envoy.url, "POST", "/v1/chat/completions", harness.chat_body("warm up"))
        errors = 0
        for stream in (False, True):
            try:
                c = sdk(envoy).chat.completions.create(model="mock-gpt", messages=MESSAGES, stream=stream)
            except openai.InternalServerError as e:
                assert e.response.headers["retry-after"] == "5"
                assert error_of(e)["code"] == "upstream_unavailable"
                errors += 1
                continue
            assert kind == "connect_failure", "an answer although the body was not read"
            text = "".join(ch.choices[0].delta.content or "" for ch in c if ch.choices) if stream \
                else c.choices[0].message.content
            assert text == ANSWER
        if kind != "connect_failure":
            assert errors == 2
            assert degradation_stats(envoy).get("answer_shape_unknown", 0) >= 2
        return
    check_answer(sdk(envoy))
    r = harness.request(envoy.url, "POST", "/v1/chat/completions", harness.chat_body("hi", stream=True))
    assert r.status == 200 and r.headers["x-guardrail-degraded"] == "normal", r
    assert sse_payloads(r)[-1] == "[DONE]"


def test_answer_on_upstream_500(start_envoy):
    envoy = start_envoy(ANSWER_CFG)
    check_answer(sdk(envoy), {"x-mock-status": "500"})


# ------------------------------------------------------------------------------------------
# 2. A stream cut after 3 events
# ------------------------------------------------------------------------------------------
CUT = {"x-mock-chaos": "cut=1", "x-mock-cut-after": "3"}


def degradation_stats(envoy):
    return {k.rsplit(".", 1)[-1]: v for k, v in envoy.stats("wasmcustom.mesh_guardrail.degradation").items()}


def test_stream_cut_after_3_events_ends_with_done(envoy, mock):
    body = harness.chat_body("one two three four five six seven eight", stream=True)
    r = harness.request(envoy.url, "POST", "/v1/chat/completions", body,
                        dict(CUT, **{"x-mock-close-delimited": "1"}))
    assert r.status == 200, r
    assert mock.last()["chaos"] == "cut"
    events = sse_payloads(r)
    assert events[-1] == "[DONE]", events
    err = json.loads(events[-2])["error"]
    assert err["code"] == "stream_interrupted" and err["type"] == "server_error"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                   for e in events[:-2] if json.loads(e).get("choices"))
    assert text and "one two three four five six seven eight".startswith(text), text
    # The SDK raises the error event (APIError), after the text that came.
    client = sdk(envoy)
    got = []
    with pytest.raises(openai.APIError) as ei:
        for ch in client.chat.completions.create(
                model="mock-gpt", messages=[{"role": "user", "content": "one two three four five"}],
                stream=True, extra_headers=dict(CUT, **{"x-mock-close-delimited": "1"})):
            got.append(ch)
    assert "interrupted" in str(ei.value)


def test_stream_without_done_gets_error_event_and_done(envoy):
    r = harness.request(envoy.url, "POST", "/v1/chat/completions",
                        harness.chat_body("hello there", stream=True), {"x-mock-no-finish": "1"})
    events = sse_payloads(r)
    assert events[-1] == "[DONE]" and "stream_interrupted" in events[-2], events
    assert sum(1 for e in events if e == "[DONE]") == 1


def test_chunked_stream_cut_is_reset_by_envoy_and_counted(start_envoy):
    """What Envoy does (measured): a chunked upstream body closed mid-stream is an upstream
    reset after the response started; Envoy resets the client's stream (HTTP/1.1: the
    connection closes without the last chunk). No filter callback can write then; the filter
    counts it and records the failure."""
    envoy = start_envoy({"pii": {"response": "off"}})
    before = degradation_stats(envoy).get("stream_reset", 0)
    with pytest.raises(http.client.IncompleteRead):
        harness.request(envoy.url, "POST", "/v1/chat/completions",
                        harness.chat_body("one two three four five six", stream=True), CUT)
    deadline = time.monotonic() + 5
    while degradation_stats(envoy).get("stream_reset", 0) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert degradation_stats(envoy).get("stream_reset", 0) == before + 1


# ------------------------------------------------------------------------------------------
# 3. Levels move with health (envoy/degraded.yaml)
# ------------------------------------------------------------------------------------------
LEVELS_CFG = {"degradation": {"levels": {
    "window_secs": 10, "min_requests": 2, "failure_rate": 0.5, "backup_model": "mock-gpt-mini",
    "probe_interval_secs": 2, "recover_probes": 1}}}


@pytest.fixture
def two_mocks():
    port = harness.free_port()
    primary = harness.MockLLM(["--port", str(port)])
    backup = harness.MockLLM()
    mocks = {"primary": primary, "backup": backup, "port": port}
    yield mocks
    mocks["primary"].stop()
    backup.stop()


def level_gauge(envoy):
    return envoy.stats("wasmcustom.mesh_guardrail.degradation.level").get(
        "wasmcustom.mesh_guardrail.degradation.level")


def chat(envoy, text="What is the capital of France?"):
    return harness.request(envoy.url, "POST", "/v1/chat/completions", harness.chat_body(text))


def test_killing_the_primary_moves_to_limited_then_recovers(two_mocks):
    primary, backup = two_mocks["primary"], two_mocks["backup"]
    envoy = harness.Envoy(None, 0, name="test_degrade_levels",
                          bootstrap=harness.degraded_bootstrap(primary.port, backup.port, LEVELS_CFG))
    try:
        r = chat(envoy)
        assert r.status == 200 and "x-guardrail-degraded" not in r.headers, r
        assert primary.last()["body"] and json.loads(primary.last()["body"])["model"] == "mock-gpt"

        primary.stop()
        statuses = []
        for _ in range(6):
            r = chat(envoy)
            statuses.append((r.status, r.headers.get("x-guardrail-degraded")))
            if r.headers.get("x-guardrail-degraded") == "limited":
                break
        # The first failure answers an OpenAI error (the default); then the level is limited.
        assert statuses[0][0] == 503 and statuses[-1] == (200, "limited"), statuses
        assert len(statuses) <= 3, statuses
        backup.clear()
        r = chat(envoy)
        assert r.status == 200 and r.headers["x-guardrail-degraded"] == "limited", r
        got = backup.last()
        assert json.loads(got["body"])["model"] == "mock-gpt-mini"
        assert got["headers"].get("x-guardrail-route") == "backup"
        assert level_gauge(envoy) == 1
        assert envoy.log_text().count('"to":"limited"') == 1

        # The primary comes back on its port; after the probe interval a probe reaches it.
        two_mocks["primary"] = primary = harness.MockLLM(["--port", str(two_mocks["port"])])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = chat(envoy)
            if r.status == 200 and "x-guardrail-degraded" not in r.headers:
                break
            time.sleep(0.5)
        assert "x-guardrail-degraded" not in r.headers, r
        probes = [q for q in primary.requests() if q["headers"].get("x-guardrail-route") == "primary"]
        assert len(probes) == 1, primary.requests()
        assert json.loads(probes[0]["body"])["model"] == "mock-gpt"
        assert level_gauge(envoy) == 0
        assert envoy.log_text().count('"to":"normal"') == 1
    finally:
        envoy.stop()


# ------------------------------------------------------------------------------------------
# Behavioural: a faulty upstream at a rate, every answer parseable
# ------------------------------------------------------------------------------------------
@pytest.mark.statistical
def test_every_answer_of_a_faulty_upstream_parses(envoy, mock):
    """200 requests to an upstream that fails (500) 30% of the time and, for streams, cuts the
    stream (close-delimited) another 30%: every answer the client gets is a complete completion,
    an OpenAI error with retry-after, or a stream ending in an error event and [DONE]. With
    p = 0.3 per mode and n = 100 per shape, seeing no fault of a mode has probability
    0.7^100 < 1e-15: the draws themselves are checked too (seeded, reproducible)."""
    mock.clear()
    outcomes = {"ok": 0, "error": 0, "interrupted": 0}
    for i in range(200):
        stream = i % 2 == 1
        headers = {"x-mock-chaos": "fail=0.3,cut=0.3" if stream else "fail=0.3",
                   "x-mock-chaos-seed": "15", "x-mock-close-delimited": "1"}
        r = harness.request(envoy.url, "POST", "/v1/chat/completions",
                            harness.chat_body("request %d of the faulty run" % i, stream=stream), headers)
        if r.status >= 500:
            assert harness.is_openai_error(r) and r.headers.get("retry-after") == "5", r
            outcomes["error"] += 1
        elif not stream:
            assert r.status == 200 and r.json()["choices"][0]["message"]["content"], r
            outcomes["ok"] += 1
        else:
            events = sse_payloads(r)
            assert r.status == 200 and events[-1] == "[DONE]", (r, events[-3:])
            if "stream_interrupted" in events[-2]:
                outcomes["interrupted"] += 1
            else:
                assert json.loads(events[-2]).get("choices") is not None, events[-2]
                outcomes["ok"] += 1
    counts = harness.request(mock.url, "GET", "/_chaos").json()["counts"]
    assert outcomes["error"] == counts["fail"] and outcomes["interrupted"] == counts["cut"], (outcomes, counts)
    assert counts["fail"] > 0 and counts["cut"] > 0 and outcomes["ok"] > 0, (outcomes, counts)
