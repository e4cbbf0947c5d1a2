"""Shared data between plugin instances of one Envoy.

istiod gives every WasmPlugin an empty `vm_id`, so all of them share one shared-data namespace in
the proxy. Two instances configured differently (here: two listeners, same root id, empty
vm_id, different quota sections) must not read each other's records; an explicit
`quota.namespace` is how two instances choose to share them.
"""

import copy
import uuid

import harness

CHAT = "/v1/chat/completions"


def quota(requests, namespace=None):
    q = {"tiers": {"free": {"daily_requests": requests}}}
    if namespace:
        q["namespace"] = namespace
    return {"quota": q}


def two_instances(mock_port, first, second):
    """One Envoy, two listeners, each with its own instance of the filter (same root id, empty
    vm_id, as istiod configures WasmPlugins)."""
    a = harness.envoy_config(first, mock_port, hold_mode=harness.HOLD_MODE)
    b = harness.envoy_config(second, mock_port, hold_mode=harness.HOLD_MODE)
    for cfg in (a, b):
        wasm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
            "http_filters"][0]["typed_config"]["config"]
        wasm["vm_config"]["vm_id"] = ""
    listener_b = copy.deepcopy(b["static_resources"]["listeners"][0])
    listener_b["name"] = "second"
    a["static_resources"]["listeners"].append(listener_b)
    return a


def ports(envoy):
    statuses = harness.request(envoy.admin_url, "GET", "/listeners?format=json").json()["listener_statuses"]
    by_name = {s["name"]: s["local_address"]["socket_address"] for s in statuses}
    return ["http://%s:%d" % (by_name[n]["address"], by_name[n]["port_value"]) for n in ("e2e", "second")]


def chat(url, user):
    return harness.request(url, "POST", CHAT, harness.chat_body("What is the capital of France?"),
                           headers={"x-user-id": user})


def test_instances_configured_differently_keep_their_own_counters(mock):
    e = harness.Envoy(None, mock.port, name="shared_data", bootstrap=two_instances(mock.port, quota(2), quota(3)))
    try:
        first, second = ports(e)
        user = "u-%s" % uuid.uuid4().hex[:12]
        assert [chat(first, user).status for _ in range(3)] == [200, 200, 429]
        # The second instance has its own limit of 3, untouched by the first one's two requests.
        got = [chat(second, user) for _ in range(4)]
        assert [r.status for r in got] == [200, 200, 200, 429], got
        assert [r.headers.get("x-ratelimit-remaining-requests") for r in got[:3]] == ["2", "1", "0"]
    finally:
        e.stop()


def test_instances_sharing_a_namespace_share_counters(mock):
    e = harness.Envoy(None, mock.port, name="shared_data",
                      bootstrap=two_instances(mock.port, quota(3, "team-a"), quota(3, "team-a")))
    try:
        first, second = ports(e)
        user = "u-%s" % uuid.uuid4().hex[:12]
        assert chat(first, user).status == 200
        assert chat(second, user).headers.get("x-ratelimit-remaining-requests") == "1"
        assert chat(first, user).status == 200
        assert chat(second, user).status == 429
    finally:
        e.stop()
