"""Foundation behaviour of the filter, through a real Envoy (plugin config {} unless said).

These tests pin the external contract that does not depend on detection quality: the filter
loads, passes benign traffic unchanged in meaning, cannot be fooled by forged decision headers,
survives garbage bodies, enforces its body limit with an OpenAI-shaped 413, keeps SSE streams
intact, works with the official OpenAI SDK, and refuses invalid configuration loudly.
"""

import glob
import json
import os

import pytest

import harness
from harness import chat_body, is_openai_error, parse_sse, request

ENVOY_CONFIGS = sorted(glob.glob(os.path.join(harness.ROOT, "envoy", "*.yaml")))
BENIGN = "Summarise the plot of Hamlet in two sentences, please."


def assert_served(envoy, text="What is the capital of France?"):
    r = request(envoy.url, "POST", "/v1/chat/completions", chat_body(text))
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == text
    return r


# --------------------------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------------------------
def test_envoy_configs_exist():
    names = [os.path.basename(p) for p in ENVOY_CONFIGS]
    assert "envoy.yaml" in names, names


@pytest.mark.parametrize("path", ENVOY_CONFIGS, ids=[os.path.basename(p) for p in ENVOY_CONFIGS])
def test_envoy_config_validates(path):
    # Templates (envoy/bench-*.yaml) are validated with their __PLACEHOLDERS__ filled in.
    rc, out = harness.validate_config(path)
    assert rc == 0, out[-4000:]
    assert "OK" in out


@pytest.mark.parametrize("path", ENVOY_CONFIGS, ids=[os.path.basename(p) for p in ENVOY_CONFIGS])
def test_envoy_config_allows_headers_stop_iteration(path):
    # Without it, requests whose headers the filter paused hang (Envoy >= 1.35).
    with open(path) as f:
        text = f.read()
    if "envoy.filters.http.wasm" in text:
        assert "allow_on_headers_stop_iteration: true" in text


# --------------------------------------------------------------------------------------------
# benign traffic
# --------------------------------------------------------------------------------------------
def test_benign_chat_passes_and_upstream_body_is_equivalent(envoy, mock):
    body = chat_body(BENIGN, system="You are a helpful assistant.", temperature=0.2)
    body["messages"].append({"role": "assistant", "content": "Sure."})
    body["messages"].append({"role": "user", "content": [{"type": "text", "text": BENIGN}]})
    r = request(envoy.url, "POST", "/v1/chat/completions", body)
    assert r.status == 200, r
    assert r.json()["choices"][0]["message"]["content"] == BENIGN
    last = mock.last()
    assert last["path"] == "/v1/chat/completions"
    assert json.loads(last["body"]) == body


def test_get_without_body_passes(envoy):
    r = request(envoy.url, "GET", "/v1/models")
    assert r.status == 200, r
    assert r.json()["object"] == "list"


def test_forged_decision_headers_never_reach_upstream(envoy, mock):
    forged = {
        "x-guardrail-action": "allow",
        "x-guardrail-pii": "email=0",
        "x-guardrail-injection-score": "0.00",
        "X-Guardrail-Anything": "forged",
    }
    r = request(envoy.url, "POST", "/v1/chat/completions", chat_body(BENIGN), headers=forged)
    assert r.status == 200, r
    got = mock.last()["headers"]
    leaked = {k: v for k, v in got.items() if k.lower().startswith("x-guardrail-")}
    assert leaked == {}, "client-sent x-guardrail-* headers reached the upstream: %r" % leaked


def test_forged_headers_on_bodyless_request_are_stripped(envoy, mock):
    r = request(envoy.url, "GET", "/v1/models", headers={"x-guardrail-action": "allow"})
    assert r.status == 200, r
    assert not any(k.startswith("x-guardrail-") for k in mock.last()["headers"])


# --------------------------------------------------------------------------------------------
# garbage bodies: always an answer, OpenAI-shaped when it is a 4xx, and the VM survives
# --------------------------------------------------------------------------------------------
GARBAGE = {
    "invalid_json": b'{"messages": [{"role": "user", "content": "hi"',
    "not_utf8": b"\xff\xfe",
    "empty": b"",
    "array": b"[1,2]",
    "string": b'"str"',
    "null": b"null",
    "deep_nesting": b"[" * 5000 + b"]" * 5000,
    "messages_not_list": b'{"messages": "hello"}',
    "content_not_text": b'{"messages": [{"role": "user", "content": 42}]}',
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_body_gets_an_answer_and_next_request_is_served(envoy, name):
    r = request(envoy.url, "POST", "/v1/chat/completions", GARBAGE[name],
                headers={"content-type": "application/json"})
    assert 100 <= r.status <= 599
    if 400 <= r.status < 500:
        assert is_openai_error(r), r
    assert_served(envoy)


# --------------------------------------------------------------------------------------------
# body limit
# --------------------------------------------------------------------------------------------
def test_two_megabyte_body_gets_openai_shaped_413(envoy, mock):
    mock.clear()
    big = "lorem ipsum dolor sit amet " * (2 * 1024 * 1024 // 27 + 1)
    r = request(envoy.url, "POST", "/v1/chat/completions", chat_body(big))
    assert r.status == 413, r
    assert is_openai_error(r), r
    assert r.json()["error"]["code"] == "request_too_large"
    # The headers may have gone upstream already (the filter holds them only when it must),
    # but the request must never complete there.
    reached = [q for q in mock.requests() if q.get("complete", True)]
    assert reached == [], "an over-limit request completed upstream: %r" % [q["headers"] for q in reached]
    assert_served(envoy)


# --------------------------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------------------------
def test_sse_stream_arrives_intact(envoy):
    text = "Streams must arrive intact, chunk after chunk, until the very end."
    r = request(envoy.url, "POST", "/v1/chat/completions",
                chat_body(text, stream=True, include_usage=True), headers={"x-mock-delta-size": "3"})
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/event-stream")
    events = parse_sse(r.text)
    assert events and events[-1] == "[DONE]", events[-3:]
    chunks = [json.loads(e) for e in events[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == text
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert any(c["choices"] and c["choices"][0].get("finish_reason") == "stop" for c in chunks)
    usage = [c["usage"] for c in chunks if c.get("usage")]
    assert len(usage) == 1 and usage[0]["total_tokens"] == usage[0]["prompt_tokens"] + usage[0]["completion_tokens"]
    assert r.text.rstrip().endswith("data: [DONE]")


def test_sse_stream_with_one_char_deltas(envoy):
    text = "tiny deltas"
    r = request(envoy.url, "POST", "/v1/chat/completions", chat_body(text, stream=True),
                headers={"x-mock-delta-size": "1"})
    assert r.status == 200, r
    events = parse_sse(r.text)
    assert events[-1] == "[DONE]"
    content = "".join((json.loads(e)["choices"][0]["delta"].get("content") or "")
                      for e in events[:-1] if json.loads(e)["choices"])
    assert content == text


# --------------------------------------------------------------------------------------------
# the official OpenAI SDK
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(envoy):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=envoy.url + "/v1", api_key="x", max_retries=0, timeout=15)


def test_openai_sdk_completion(client):
    resp = client.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": BENIGN}])
    assert resp.choices[0].message.content == BENIGN
    assert resp.usage.total_tokens > 0


def test_openai_sdk_streaming(client):
    stream = client.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": BENIGN}],
                                            stream=True, stream_options={"include_usage": True})
    parts, usage = [], None
    for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
        if chunk.usage:
            usage = chunk.usage
    assert "".join(parts) == BENIGN
    assert usage is not None and usage.total_tokens > 0


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
def test_empty_config_as_struct_loads(start_envoy):
    e = start_envoy({}, configuration_as="struct")
    assert_served(e)


def test_monitor_mode_config_loads(start_envoy):
    e = start_envoy({"mode": "monitor", "decision_headers": {"upstream": True, "client": True}})
    assert_served(e)


@pytest.mark.cases
@pytest.mark.parametrize("cfg,field", [
    ({"bogus": 1}, "bogus"),
    ({"mode": 3}, "mode"),
    ({"mode": "yolo"}, "mode"),
    ({"decision_headers": {"upstream": True, "bogus_inner": 1}}, "bogus_inner"),
    ("{not json", None),
], ids=["unknown_field", "mistyped_mode", "unknown_mode_value", "unknown_nested_field", "not_json"])
def test_invalid_config_is_refused_and_logged(start_envoy, mock, cfg, field):
    # Envoy 1.40: when on_configure returns false, the plugin "fails closed": a static listener
    # cannot be created and Envoy exits at startup (rc 1), logging the filter's own error line.
    try:
        e = start_envoy(cfg)
    except harness.EnvoyStartError as err:
        log = err.log
    else:
        # Not refused at startup: the filter must still not serve traffic.
        mock.clear()
        r = request(e.url, "POST", "/v1/chat/completions", chat_body(BENIGN))
        log = e.log_text()
        assert r.status >= 500, "Envoy started with an invalid plugin config and served %r" % r
        assert mock.requests() == []
    # The filter's own log lines ("wasm log <plugin> <root_id>: ...") at warning level or above.
    wasm_errors = [line for line in log.splitlines() if "wasm log" in line
                   and any(lvl in line for lvl in ("[warning]", "[error]", "[critical]"))]
    assert wasm_errors, "the filter logged no error line:\n" + harness.tail(log, 40)
    if field:
        assert any(field in line for line in wasm_errors), "no error line names `%s`:\n%s" % (
            field, "\n".join(wasm_errors))


# --------------------------------------------------------------------------------------------
# HTTP/2 with request trailers: end_of_stream arrives in the trailers callback, not the body's
# --------------------------------------------------------------------------------------------
def test_h2c_request_with_trailers(envoy, mock):
    mock.clear()
    body = chat_body(BENIGN)
    raw = json.dumps(body).encode()
    host, port = envoy.host_port
    status, data = harness.h2c_request(
        host, port, "/v1/chat/completions",
        headers=[("content-type", "application/json")], body=raw,
        trailers=[("x-trailer-check", "1")], data_chunk=64)
    assert status == 200, (status, data[:300])
    assert json.loads(data)["choices"][0]["message"]["content"] == BENIGN
    assert json.loads(mock.last()["body"]) == body


MONITOR_UPSTREAM = {"mode": "monitor", "decision_headers": {"upstream": True, "client": True}}


def test_monitor_mode_decision_headers_reach_upstream_and_client(start_envoy, mock):
    e = start_envoy(MONITOR_UPSTREAM)
    r = request(e.url, "POST", "/v1/chat/completions", chat_body(BENIGN),
                headers={"x-guardrail-action": "forged"})
    assert r.status == 200, r
    up = mock.last()["headers"]
    assert "forged" not in up.get("x-guardrail-action", "")
    if harness.STREAM_MODE:
        # Without the header hold the headers leave before the body is read: no decision
        # headers upstream (documented), and the forged one is still removed.
        assert "x-guardrail-action" not in up and "x-guardrail-injection-score" not in up, up
    else:
        assert up.get("x-guardrail-action") in ("allow", "flag", "sanitize", "block"), up
        score = float(up.get("x-guardrail-injection-score", "nan"))
        assert 0.0 <= score <= 1.0
    assert r.headers.get("x-guardrail-action") in ("allow", "flag", "sanitize", "block"), r.headers


def test_h2c_request_with_trailers_is_inspected(start_envoy, mock):
    # The decision headers are computed from the body; over h2c with trailers the body phase
    # only ends in the trailers callback. They reach the upstream only if the filter finished there.
    e = start_envoy(MONITOR_UPSTREAM)
    body = chat_body(BENIGN)
    host, port = e.host_port
    status, data = harness.h2c_request(
        host, port, "/v1/chat/completions", headers=[("content-type", "application/json")],
        body=json.dumps(body).encode(), trailers=[("x-trailer-check", "1")], data_chunk=64)
    assert status == 200, (status, data[:300])
    assert json.loads(data)["choices"][0]["message"]["content"] == BENIGN
    last = mock.last()
    assert json.loads(last["body"]) == body
    if harness.STREAM_MODE:
        # The body (held by the filter) still reaches the upstream whole, before the trailers.
        assert last["headers"].get("x-guardrail-action") is None, last["headers"]
    else:
        assert last["headers"].get("x-guardrail-action") in ("allow", "flag", "sanitize", "block"), last["headers"]
