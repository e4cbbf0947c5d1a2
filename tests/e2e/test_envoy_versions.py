"""Which Envoy the suite runs on, and the other ways users start one.

`make e2e` runs the whole suite once per Envoy of Istio 1.28 to master (ENVOY_VERSION 1.36 to
1.40, each from its PyPI wheel) and per hold mode (scripts/e2e_matrix.sh). These tests prove
that the Envoy running is the one asked for, and cover func-e where it is installed.
"""

import os
import shutil
import subprocess

import pytest

import harness


def test_the_running_envoy_is_the_requested_version(envoy):
    info = harness.request(envoy.admin_url, "GET", "/server_info").json()
    version = info["version"]  # e.g. "bad8280.../1.36.4/Clean/RELEASE/BoringSSL"
    wanted = os.environ.get("ENVOY_VERSION")
    if not wanted:
        pytest.skip("ENVOY_VERSION is not set: the default Envoy (%s) runs" % version.split("/")[1])
    assert version.split("/")[1].startswith(wanted.rstrip(".") + "."), (wanted, version)


def test_the_filter_runs_in_the_requested_hold_mode(envoy, mock):
    # Warm the VM (auto mode decides on the first inspected request), then read its log line.
    r = harness.request(envoy.url, "POST", "/v1/chat/completions", harness.chat_body("Hello there."),
                        timeout=5)
    assert r.status == 200, r
    expected = "request hold mode: %s" % harness.HOLD_MODE
    assert expected in envoy.log_text(), envoy.log_text()[-2000:]


def test_func_e_runs_the_demo_config():
    func_e = shutil.which("func-e")
    if not func_e:
        pytest.skip("func-e is not installed (it cannot be installed from the package registries this "
                    "machine reaches); with func-e on PATH, scripts/envoy.sh runs `func-e run` and this "
                    "test validates envoy/envoy.yaml through it")
    which = subprocess.run([harness.ENVOY_SH, "--which"], capture_output=True, text=True, check=True)
    assert which.stdout.strip() == func_e + " run"
    rc, out = harness.validate_config(os.path.join(harness.ROOT, "envoy", "envoy.yaml"))
    assert rc == 0, out
