"""The PII token key (issue 12, row 12).

A key under 16 bytes is refused at load, with a log line naming where it was set
(`GUARDRAIL_TOKEN_KEY` or `pii.token_key`); it used to be accepted down to one byte. A key set
in the plugin configuration works but is warned about at start-up: Envoy shows the plugin
configuration in /config_dump.
"""

import hashlib
import hmac
import json
import re

import pytest

import harness
from harness import chat_body, request

LONG_KEY = "config-key-0123456789-not-a-secret"
EMAIL = "jane.doe@example.com"


def start_or_log(start_envoy, mock, config, env):
    """(envoy or None, log): an Envoy whose filter refused its configuration either does not
    start or answers 5xx without reaching the upstream."""
    try:
        e = start_envoy(config, env=env)
    except harness.EnvoyStartError as err:
        return None, err.log
    mock.clear()
    r = request(e.url, "POST", "/v1/chat/completions", chat_body("hello"))
    if r.status >= 500:
        assert mock.requests() == []
        return None, e.log_text()
    return e, e.log_text()


def wasm_lines(log, levels):
    return [line for line in log.splitlines() if "wasm log" in line and any(lvl in line for lvl in levels)]


@pytest.mark.cases
@pytest.mark.parametrize("config,env,field", [
    ({}, {"GUARDRAIL_TOKEN_KEY": "k"}, "GUARDRAIL_TOKEN_KEY"),
    ({}, {"GUARDRAIL_TOKEN_KEY": "fifteen-bytes!!"}, "GUARDRAIL_TOKEN_KEY"),
    ({"pii": {"token_key": "k"}}, {"GUARDRAIL_TOKEN_KEY": ""}, "pii.token_key"),
    # Refused even where the environment variable wins: it still shows in /config_dump.
    ({"pii": {"token_key": "short"}}, {}, "pii.token_key"),
], ids=["env_1_byte", "env_15_bytes", "config_1_byte", "config_short_env_set"])
def test_short_keys_are_refused_naming_where(start_envoy, mock, config, env, field):
    e, log = start_or_log(start_envoy, mock, config, env)
    assert e is None, "a short token key was accepted"
    errors = wasm_lines(log, ("[critical]", "[error]"))
    assert any(field in line and "at least 16 bytes" in line for line in errors), "\n".join(errors) or log[-3000:]
    for value in ("fifteen-bytes!!", "short"):
        assert value not in "\n".join(errors)


def test_a_key_in_the_plugin_configuration_works_and_is_warned_about(start_envoy, mock):
    e, log = start_or_log(start_envoy, mock, {"pii": {"token_key": LONG_KEY}}, {"GUARDRAIL_TOKEN_KEY": ""})
    assert e is not None, log[-3000:]
    warnings = wasm_lines(log, ("[warning]",))
    assert any("pii.token_key" in line and "/config_dump" in line for line in warnings), "\n".join(warnings)
    assert LONG_KEY not in log
    mock.clear()
    request(e.url, "POST", "/v1/chat/completions", chat_body("Mail " + EMAIL))
    sent = json.loads(mock.last()["body"])["messages"][-1]["content"]
    token = re.search(r"\[EMAIL_([0-9a-f]{8,})\]", sent)
    assert token, sent
    mac = hmac.new(LONG_KEY.encode(), EMAIL.encode(), hashlib.sha256).hexdigest()
    assert mac.startswith(token.group(1))


def test_a_key_from_the_environment_is_not_warned_about(start_envoy, mock):
    e, log = start_or_log(start_envoy, mock, {}, {})
    assert e is not None, log[-3000:]
    assert not any("token key" in line or "token_key" in line for line in wasm_lines(log, ("[warning]",)))
