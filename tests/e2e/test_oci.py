"""`make oci` (scripts/oci.py): the module as an OCI image, pushed to and pulled from a real
registry (the CNCF distribution registry, Debian package `docker-registry`) on loopback over the
OCI distribution API.

What Istio checks (istio/istio pkg/wasm/imagefetcher.go and pkg/wasm/cache.go, see the
docstring of scripts/oci.py): for an `oci://` url, WasmPlugin `spec.sha256` is compared with
the image's *manifest digest* (the registry's Docker-Content-Digest), not with the module's
sha256; and an *oci*-variant image must have exactly two layers, one of them the raw module
(application/vnd.module.wasm.content.layer.v1+wasm).

The registry binary is required when CI=true (.ci/run installs it); elsewhere the registry
tests are skipped without it.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest

import harness
import oci_registry

sys.path.insert(0, os.path.join(harness.ROOT, "scripts"))
import oci  # noqa: E402

OCI_PY = os.path.join(harness.ROOT, "scripts", "oci.py")
PLUGIN_FILE = os.path.join(harness.ROOT, "examples", "istio", "wasmplugin.yaml")
REPO = "mesh-guardrail"
TAG = "e2e"


def run_oci(*args):
    r = subprocess.run([sys.executable, OCI_PY] + list(args), capture_output=True, text=True, cwd=harness.ROOT,
                       timeout=120)
    assert r.returncode == 0, "oci.py %s failed (%d):\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr)
    return r.stdout


def field(out, name):
    m = re.search(r"^%s:\s+(sha256:[0-9a-f]{64})$" % re.escape(name), out, re.M)
    assert m, "no %r line in:\n%s" % (name, out)
    return m.group(1)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def wasm():
    with open(harness.require_wasm(), "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """`make oci`'s step (scripts/oci.py build) into a temporary layout: (dir, manifest digest)."""
    out = str(tmp_path_factory.mktemp("oci") / "layout")
    stdout = run_oci("build", "--wasm", harness.WASM, "--out", out, "--tag", TAG)
    return out, field(stdout, "manifest digest")


@pytest.fixture(scope="module")
def registry():
    binary = oci_registry.find_binary()
    if not binary:
        msg = ("docker-registry (the CNCF distribution registry) is not installed: "
               "apt-get install docker-registry (.ci/run installs it)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + " [CI=true: required]")
        pytest.skip(msg)
    reg = oci_registry.Registry(binary)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def pushed(registry, layout):
    out, digest = layout
    stdout = run_oci("push", "--registry", registry.address, "--repo", REPO, "--tag", TAG, "--layout", out)
    return field(stdout, "manifest digest")


def read_blob(layout_dir, digest):
    with open(os.path.join(layout_dir, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        data = f.read()
    assert sha256(data) == digest
    return data


def test_layout_is_an_oci_image_layout_with_the_wasm_media_types(layout, wasm):
    out, digest = layout
    with open(os.path.join(out, "oci-layout")) as f:
        assert json.load(f) == {"imageLayoutVersion": "1.0.0"}
    with open(os.path.join(out, "index.json")) as f:
        index = json.load(f)
    assert [(m["mediaType"], m["digest"], m["annotations"]["org.opencontainers.image.ref.name"])
            for m in index["manifests"]] == [("application/vnd.oci.image.manifest.v1+json", digest, TAG)]
    manifest = json.loads(read_blob(out, digest))
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.module.wasm.config.v1+json"
    # Istio's oci-variant reader: exactly two layers, one of them the raw module.
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.module.wasm.config.v1+json", "application/vnd.module.wasm.content.layer.v1+wasm"]
    wasm_layer = manifest["layers"][1]
    assert wasm_layer["size"] == len(wasm)
    assert read_blob(out, wasm_layer["digest"]) == wasm
    config = json.loads(read_blob(out, manifest["config"]["digest"]))
    assert config["type"] == "envoy_proxy"
    # Every blob the manifest names is in the layout, and nothing else is.
    names = {d["digest"].split(":", 1)[1] for d in [manifest["config"]] + manifest["layers"]}
    assert sorted(os.listdir(os.path.join(out, "blobs", "sha256"))) == sorted(names | {digest.split(":", 1)[1]})


def test_layout_is_deterministic(layout, tmp_path):
    out, digest = layout
    again = str(tmp_path / "again")
    assert field(run_oci("build", "--wasm", harness.WASM, "--out", again, "--tag", TAG),
                 "manifest digest") == digest
    for sub in ("oci-layout", "index.json", "blobs/sha256/" + digest.split(":", 1)[1]):
        with open(os.path.join(out, sub), "rb") as a, open(os.path.join(again, sub), "rb") as b:
            assert a.read() == b.read(), sub
    # Another tag names the same manifest: the tag is only in index.json.
    other = str(tmp_path / "other-tag")
    assert field(run_oci("build", "--wasm", harness.WASM, "--out", other, "--tag", "9.9.9"),
                 "manifest digest") == digest


def test_push_then_pull_by_digest_gives_the_same_module(registry, layout, pushed, wasm, tmp_path):
    out, digest = layout
    assert pushed == digest
    pulled = str(tmp_path / "pulled.wasm")
    stdout = run_oci("pull", "--registry", registry.address, "--repo", REPO, "--digest", digest, "--out", pulled)
    assert field(stdout, "manifest digest") == digest
    assert field(stdout, "module sha256") == sha256(wasm)
    with open(pulled, "rb") as f:
        assert f.read() == wasm, "the pulled module differs from the built one"


def test_registry_serves_the_manifest_under_the_same_digest(registry, layout, pushed):
    """What Istio's fetcher sees when it resolves the tag: the manifest bytes and their digest."""
    out, digest = layout
    req = urllib.request.Request("%s/v2/%s/manifests/%s" % (registry.url, REPO, TAG),
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body, headers = r.read(), r.headers
    assert headers["Docker-Content-Digest"] == digest
    assert headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    assert sha256(body) == digest
    assert body == read_blob(out, digest)
    manifest = json.loads(body)
    assert manifest["config"]["mediaType"] == "application/vnd.module.wasm.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.module.wasm.config.v1+json", "application/vnd.module.wasm.content.layer.v1+wasm"]


def test_pull_refuses_a_manifest_of_another_digest(registry, pushed, tmp_path):
    wrong = "sha256:" + "0" * 64
    r = subprocess.run([sys.executable, OCI_PY, "pull", "--registry", registry.address, "--repo", REPO,
                        "--digest", wrong, "--out", str(tmp_path / "x.wasm")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "manifest unknown" in r.stderr, r.stderr
    assert not (tmp_path / "x.wasm").exists()


def test_wasmplugin_sha256_is_the_manifest_digest(layout):
    """examples/istio/wasmplugin.yaml pins what Istio checks: the manifest digest (oci:// url)."""
    if not os.path.isfile(PLUGIN_FILE):
        pytest.skip("examples/istio/wasmplugin.yaml is not in this tree: nothing to compare "
                    "(once it is, `make oci-pin` writes its spec.sha256)")
    _, digest = layout
    spec = oci.read_plugin_file(PLUGIN_FILE)
    assert spec["url"] and spec["url"].startswith("oci://"), "spec.url: %r" % spec["url"]
    want = oci.expected_sha256(spec["url"], digest, None)
    assert spec["sha256"] == want, (
        "examples/istio/wasmplugin.yaml spec.sha256 is %s, but Istio will see the manifest digest %s "
        "of this build: run `make oci-pin` (the module's bytes, hence the digest, change with the "
        "source, the Rust toolchain and the $CARGO_HOME path)" % (spec["sha256"], digest))
    if "@sha256:" in spec["url"]:
        assert spec["url"].endswith("@" + digest)
    # The EnvoyFilter (hold mode) fetches the same image: the same digest, in every patch.
    shas = oci.envoyfilter_sha256s()
    assert shas and all(s == want for s in shas), (shas, want)


def test_pin_rewrites_only_the_sha256_value(wasm, tmp_path):
    plugin = tmp_path / "wasmplugin.yaml"
    original = (
        "# a comment\n"
        "apiVersion: extensions.istio.io/v1alpha1\n"
        "kind: WasmPlugin\n"
        "metadata:\n"
        "  name: mesh-guardrail\n"
        "spec:\n"
        "  selector:\n"
        "    matchLabels:\n"
        "      sha256: not-this-one\n"
        "  match:\n"
        "  - mode: CLIENT\n"
        "  url: oci://registry.example.com/mesh-guardrail:0.1.0   # the tag\n"
        "  # Digest of the OCI image.\n"
        "  sha256: \"" + "0" * 64 + "\"  # pinned by make oci-pin\n"
        "  pluginConfig:\n"
        "    sha256: nested\n"
    )
    plugin.write_text(original)
    r = oci.pin(str(plugin), harness.WASM)
    digest = oci.digest_of(oci.image(wasm)[0])
    assert r["sha256"] == digest.split(":", 1)[1] and r["changed"]
    assert plugin.read_text() == original.replace("0" * 64, digest.split(":", 1)[1])
    assert oci.read_plugin_file(str(plugin)) == {"url": "oci://registry.example.com/mesh-guardrail:0.1.0",
                                                 "sha256": digest.split(":", 1)[1]}
    assert not oci.pin(str(plugin), harness.WASM)["changed"]

    # A url pinned by digest gets the same digest; an http url pins the module's sha256.
    plugin.write_text(original.replace(":0.1.0", "@sha256:" + "1" * 64))
    oci.pin(str(plugin), harness.WASM)
    assert oci.read_plugin_file(str(plugin))["url"] == "oci://registry.example.com/mesh-guardrail@" + digest
    plugin.write_text(original.replace("oci://registry.example.com/mesh-guardrail:0.1.0",
                                       "https://example.com/mesh_guardrail.wasm"))
    oci.pin(str(plugin), harness.WASM)
    assert oci.read_plugin_file(str(plugin))["sha256"] == sha256(wasm).split(":", 1)[1]
