"""The reference filters of `make bench` (benches/reference-filter) are only worth their numbers
if they do what the bench says they do: `mirror` makes exactly the host calls mesh-guardrail
makes on the bench's bodies, `noop` makes none, and `request` (the do-nothing filter)
reads the request headers and body and sets two headers. The layer-by-layer split of the
filter's Envoy cost rests on this. Checked with the proxy-wasm host of scripts/wasm_bench.mjs
(Node.js, `--hostcalls`), which counts the host functions each module calls per request.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

import harness

sys.path.insert(0, os.path.join(harness.ROOT, "scripts"))
import bench_envoy  # noqa: E402  (the Envoy bench's body generator and reference build)


@pytest.fixture(scope="module")
def node():
    path = shutil.which("node")
    if not path:
        pytest.fail("node not found: the in-V8 bench tools need Node.js (as `make wasm-test` does)")
    return path


@pytest.fixture(scope="module")
def reference_wasm():
    return bench_envoy.build_reference()


@pytest.fixture(scope="module")
def bodies(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench-bodies")
    out = []
    for label, n in (("4K", 4096), ("64K", 65536)):
        p = d / ("chat-%s.json" % label)
        p.write_bytes(bench_envoy.chat_body(n))
        out.append((label, str(p)))
    return out


def run_hostcalls(node, wasm, config, bodies):
    cmd = [node, os.path.join(harness.ROOT, "scripts", "wasm_bench.mjs"), "--wasm", wasm, "--config", config,
           "--hostcalls"]
    for label, path in bodies:
        cmd += ["--body-file", "%s=%s" % (label, path)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=harness.ROOT, timeout=120)


def hostcalls(node, wasm, config, bodies):
    r = run_hostcalls(node, wasm, config, bodies)
    assert r.returncode == 0, r.stderr[-2000:]
    return {row["label"]: row["per_request"] for row in map(json.loads, r.stdout.strip().splitlines())}


def test_mirror_makes_exactly_the_host_calls_of_mesh_guardrail(node, reference_wasm, bodies):
    ours = hostcalls(node, harness.require_wasm(), "{}", bodies)
    mirror = hostcalls(node, reference_wasm, "mirror", bodies)
    assert set(ours) == {"4K", "64K"}
    for label in ours:
        # Not an empty comparison: the filter reads both header maps and both bodies.
        assert ours[label].get("proxy_get_buffer_bytes") == 2, ours[label]
        assert ours[label].get("proxy_get_header_map_pairs") == 2, ours[label]
        assert mirror[label] == ours[label], (label, mirror[label], ours[label])


def test_noop_calls_no_host_function_and_request_reads_and_sets_headers(node, reference_wasm, bodies):
    assert hostcalls(node, reference_wasm, "noop", bodies) == {"4K": {}, "64K": {}}
    request = hostcalls(node, reference_wasm, "request", bodies)
    want = {"proxy_get_header_map_pairs": 1, "proxy_get_buffer_bytes": 1, "proxy_replace_header_map_value": 2}
    assert request == {"4K": want, "64K": want}


def test_reference_filter_refuses_an_unknown_mode(node, reference_wasm, bodies):
    r = run_hostcalls(node, reference_wasm, "mirrror", bodies[:1])
    assert r.returncode != 0
    assert "configuration must be noop, request or mirror" in r.stderr
