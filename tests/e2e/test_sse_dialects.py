"""Every SSE dialect through a real Envoy: OpenAI chat completions, legacy completions
(`choices[].text`), the Responses API (`response.output_text.delta`, whole texts in `.done` and
`response.completed`) and Anthropic messages (`content_block_delta`). The client reads its own
PII back whatever the dialect, line ending or delta size, in order; quota settles from each
dialect's `usage`; a chat stream that asks for no usage gets it from the upstream for quota and
the client never sees the usage chunk; an event over the bound passes unmodified, counted."""

import json
import re
import uuid

import pytest

import harness
from harness import parse_sse, request

EMAIL = "jane.roe@example.org"
PHONE = "+1 (415) 555-0199"
IBAN = "DE89 3704 0044 0532 0130 00"
SENTENCE = "Hi, I'm Jane. Mail me at %s or call %s. IBAN %s, thanks." % (EMAIL, PHONE, IBAN)
TOKEN = re.compile(r"\[(EMAIL|PHONE|IBAN)_[0-9a-f]{8,}\]")

# Prices 1 and 2 micro-USD per token: usage 11,7 costs 11 + 14 = 25 micro-USD; the follow-up
# JSON request ("ping", max_tokens 7) reserves 1 + 14 = 15.
COST = {"quota": {
    "user_header": "x-user-id", "default_tier": "free", "daily_budget_usd": 1000.0,
    "tiers": {"free": {"daily_requests": 1000, "daily_cost_usd": 0.0001}},
    "pricing": {"default": {"input_per_1m_usd": 1.0, "output_per_1m_usd": 2.0}},
}}
SETTLED = 25
RESERVED = 15


def body_for(dialect, text, stream=True, **extra):
    if dialect == "chat":
        path, body = "/v1/chat/completions", {"model": "mock-gpt", "messages": [{"role": "user", "content": text}]}
    elif dialect == "legacy":
        path, body = "/v1/completions", {"model": "mock-gpt", "prompt": text}
    elif dialect == "responses":
        path, body = "/v1/responses", {"model": "mock-gpt", "input": text}
    else:
        path, body = "/v1/messages", {"model": "claude-mock", "max_tokens": 64,
                                      "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    body.update(extra)
    return path, body


def send(envoy, dialect, text, headers=None, stream=True, **extra):
    path, body = body_for(dialect, text, stream=stream, **extra)
    return request(envoy.url, "POST", path, body, headers=headers or {})


def events_of(raw):
    """(event name or None, parsed data or "[DONE]") for every event, any line ending."""
    out = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", raw):
        name, data = None, []
        for line in re.split(r"\r\n|\n|\r", block):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            d = "\n".join(data)
            out.append((name, d if d == "[DONE]" else json.loads(d)))
    return out


def client_text(dialect, raw):
    """The text a client of `dialect` assembles from the deltas, and the whole texts it is
    also given (Responses API `.done` events and `response.completed`)."""
    text, wholes = [], []
    for name, d in events_of(raw):
        if d == "[DONE]":
            continue
        if dialect == "chat":
            for c in d.get("choices", []):
                text.append(c.get("delta", {}).get("content") or "")
        elif dialect == "legacy":
            for c in d.get("choices", []):
                text.append(c.get("text") or "")
        elif dialect == "responses":
            assert name == d["type"], (name, d)
            if d["type"] == "response.output_text.delta":
                text.append(d["delta"])
            elif d["type"] == "response.output_text.done":
                wholes.append(d["text"])
            elif d["type"] == "response.completed":
                wholes.append(d["response"]["output"][0]["content"][0]["text"])
        else:
            assert name == d["type"], (name, d)
            if d["type"] == "content_block_delta":
                text.append(d["delta"]["text"])
    return "".join(text), wholes


DIALECTS = ["chat", "legacy", "responses", "anthropic"]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("delta,eol", [(1, "lf"), (3, "crlf"), (7, "cr")])
def test_every_dialect_restores_the_clients_pii(start_envoy, mock, dialect, delta, eol):
    envoy = start_envoy({})
    r = send(envoy, dialect, SENTENCE, headers={"x-mock-delta-size": str(delta), "x-mock-eol": eol})
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/event-stream")
    # The upstream saw tokens only.
    seen = mock.last()["body"]
    assert EMAIL not in seen and PHONE not in seen and IBAN not in seen
    assert {m.group(1) for m in TOKEN.finditer(seen)} == {"EMAIL", "PHONE", "IBAN"}
    text, wholes = client_text(dialect, r.text)
    assert text == SENTENCE
    assert wholes == ([SENTENCE, SENTENCE] if dialect == "responses" else [])
    assert not TOKEN.search(r.text)


@pytest.mark.parametrize("dialect", ["chat", "legacy"])
def test_text_in_the_finishing_chunk_keeps_its_place(start_envoy, dialect):
    # The last piece rides in the chunk with finish_reason: held text must not jump ahead of it.
    envoy = start_envoy({})
    for delta in range(2, 12):
        r = send(envoy, dialect, SENTENCE, headers={"x-mock-delta-size": str(delta),
                                                    "x-mock-finish-with-content": "1"})
        assert r.status == 200, r
        assert client_text(dialect, r.text)[0] == SENTENCE
    # Pieces "Write to b", "ob, then j", "ane ok": the last one emits "jane " and holds "ok".
    reply = "Write to bob, then jane ok"
    r = send(envoy, dialect, "hi", headers={"x-mock-delta-size": "10", "x-mock-reply": reply,
                                            "x-mock-finish-with-content": "1"})
    assert r.status == 200, r
    assert client_text(dialect, r.text)[0] == reply


@pytest.mark.parametrize("dialect", DIALECTS)
def test_pii_the_model_invents_is_redacted_in_every_dialect(start_envoy, dialect):
    envoy = start_envoy({})
    r = send(envoy, dialect, "hello", headers={"x-mock-reply": "Write to support@othercorp.com now.",
                                                "x-mock-delta-size": "4"})
    assert r.status == 200, r
    assert "othercorp" not in r.text
    assert client_text(dialect, r.text)[0] == "Write to [EMAIL] now."


def uid():
    return "sse-%s" % uuid.uuid4().hex[:16]


def micro(usd_text):
    whole, frac = usd_text.split(".")
    return int(whole) * 1_000_000 + int(frac)


def settled_since(envoy, user):
    """Budget left after the user's earlier requests settled, read from a JSON request that
    reserves RESERVED micro-USD."""
    r = request(envoy.url, "POST", "/v1/chat/completions",
                harness.chat_body("ping", max_tokens=7),
                headers={"x-user-id": user, "x-mock-usage": "11,7"})
    assert r.status == 200, r
    return 100 - micro(r.headers["x-guardrail-budget-remaining-usd"]) - RESERVED


@pytest.mark.parametrize("dialect", DIALECTS)
def test_quota_settles_from_each_dialects_usage(start_envoy, mock, dialect):
    envoy = start_envoy(COST, concurrency=2)
    user = uid()
    r = send(envoy, dialect, "ping", headers={"x-user-id": user, "x-mock-usage": "11,7"})
    assert r.status == 200, r
    assert r.headers["x-guardrail-budget-limit-usd"] == "0.000100"
    assert client_text(dialect, r.text)[0] == "ping"
    # Charged exactly the upstream's usage (11 in, 7 out), not an estimate from the text.
    assert settled_since(envoy, user) == SETTLED


@pytest.mark.parametrize("dialect", ["chat", "legacy"])
def test_stream_without_usage_gets_it_for_quota_and_the_client_never_sees_it(start_envoy, mock, dialect):
    envoy = start_envoy(COST, concurrency=2)
    user = uid()
    r = send(envoy, dialect, "ping", headers={"x-user-id": user, "x-mock-usage": "11,7"})
    assert r.status == 200, r
    upstream = json.loads(mock.last()["body"])
    assert upstream["stream_options"] == {"include_usage": True}
    events = events_of(r.text)
    assert events[-1] == (None, "[DONE]")
    assert not [d for _, d in events[:-1] if d.get("usage")], r.text
    assert not [d for _, d in events[:-1] if d.get("choices") == []], r.text
    assert client_text(dialect, r.text)[0] == "ping"
    assert settled_since(envoy, user) == SETTLED
    # A client that asks for usage gets its chunk (and the options it sent, untouched).
    user = uid()
    r = send(envoy, dialect, "ping", headers={"x-user-id": user, "x-mock-usage": "11,7"},
             stream_options={"include_usage": True})
    assert r.status == 200, r
    assert json.loads(mock.last()["body"])["stream_options"] == {"include_usage": True}
    usage = [d["usage"] for _, d in events_of(r.text)[:-1] if d.get("usage")]
    assert usage == [{"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}]
    assert settled_since(envoy, user) == SETTLED


def test_stream_options_are_not_added_without_quota(start_envoy, mock):
    envoy = start_envoy({})
    r = send(envoy, "chat", "ping")
    assert r.status == 200, r
    assert "stream_options" not in json.loads(mock.last()["body"])


def test_large_tool_definitions_are_reserved(start_envoy, mock):
    # 40 KB of tool description, stream without usage: the reservation counts it (about
    # 10k tokens = 10k micro-USD of input here), so a 100 micro-USD budget refuses the next one.
    envoy = start_envoy(COST, concurrency=2)
    user = uid()
    tools = [{"type": "function", "function": {"name": "f", "description": "d" * 40000,
                                                "parameters": {"type": "object", "properties": {}}}}]
    r = send(envoy, "chat", "ping", headers={"x-user-id": user, "x-mock-ignore-include-usage": "1"},
             tools=tools, max_tokens=7)
    assert r.status == 200, r
    assert micro(r.headers["x-guardrail-budget-remaining-usd"]) == 0
    # No usage came back (the upstream ignored include_usage): settled from the estimate.
    r = send(envoy, "chat", "ping", headers={"x-user-id": user})
    assert r.status == 429, r


def test_event_over_the_bound_passes_unmodified_and_counted(start_envoy, mock):
    envoy = start_envoy({"response": {"max_body_bytes": 2048}})
    before = sum(v or 0 for v in envoy.stats("sse_event_too_large").values())
    big = "x" * 3000
    r = send(envoy, "chat", SENTENCE + " " + big, headers={"x-mock-delta-size": "4000"})
    assert r.status == 200, r
    # The one content event (over 2 KiB) passed as the upstream sent it: tokens and all.
    assert TOKEN.search(r.text)
    assert client_text("chat", r.text)[0].endswith(big)
    after = sum(v or 0 for v in envoy.stats("sse_event_too_large").values())
    assert after == before + 1, envoy.stats("mesh_guardrail")
    # Small events on the same Envoy are still restored.
    r = send(envoy, "chat", SENTENCE, headers={"x-mock-delta-size": "5"})
    assert client_text("chat", r.text)[0] == SENTENCE
