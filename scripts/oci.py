#!/usr/bin/env python3
"""The filter as an OCI image (Python 3 standard library only).

  oci.py build [--wasm FILE] [--out DIR] [--tag TAG]
      Write an OCI image layout (oci-layout, index.json, blobs/sha256/...) of the module,
      default target/oci, tagged with the crate version. Prints the manifest digest and the
      module's sha256.
  oci.py push --registry HOST:PORT --repo NAME [--tag TAG] [--layout DIR]
      Push the layout's image over the OCI distribution API (blob upload POST + monolithic PUT,
      manifest PUT). Plain http for loopback registries (127.x, localhost, ::1), https otherwise;
      `http://` or `https://` in --registry forces the scheme. No authentication.
  oci.py pull --registry HOST:PORT --repo NAME (--digest sha256:HEX | --tag TAG) --out FILE
      Fetch the manifest, check it has the shape Istio accepts, fetch the Wasm layer and write it.
  oci.py pin [--file examples/istio/wasmplugin.yaml] [--wasm FILE] [--digest sha256:HEX]
      Rewrite `spec.sha256` (and an `@sha256:` digest in `spec.url`) to the value Istio checks.

The image is the *oci* variant of the Wasm image spec (solo-io/wasm spec/spec.md), the one
Istio's fetcher (istio/istio pkg/wasm/imagefetcher.go, extractOCIArtifactImage) reads as raw
Wasm: an OCI image manifest whose `layers` are exactly two, the runtime config JSON
(application/vnd.module.wasm.config.v1+json) and the module itself, uncompressed
(application/vnd.module.wasm.content.layer.v1+wasm). Istio rejects this variant with any other
layer count ("number of layers must be 2"), so an image with only the Wasm layer (what a bare
`oras push` makes) would not load. The config blob is the same runtime config, as `wasme push`
made it.

What Istio compares `WasmPlugin.spec.sha256` with for an `oci://` url: the *manifest digest*,
not the module's sha256. istio/istio pkg/wasm/imagefetcher.go, ImageFetcher.PrepareFetch,
returns `actualDigest = img.Digest().Hex` (the sha256 of the manifest bytes the registry
serves, i.e. its Docker-Content-Digest); pkg/wasm/cache.go, LocalFileCache.getOrFetch, sets
`dChecksum` from it for the "oci" scheme and fails with "module downloaded from ... has
checksum ..., which does not match" when it differs from spec.sha256 (64 lower-case hex
digits, no "sha256:" prefix: pkg/config/validation/validation.go, validateWasmPluginSHA).
For http(s) urls the same field is the sha256 of the module bytes. `pin` writes whichever one
the file's url calls for.

The layout is deterministic: no timestamps, canonical JSON (sorted keys, no spaces), so the
same module bytes always give the same manifest digest and a pinned digest can be rebuilt.
"""

import argparse
import hashlib
import ipaddress
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEFAULT_WASM = os.path.join(ROOT, "target", "wasm32-wasip1", "release", "mesh_guardrail.wasm")
DEFAULT_LAYOUT = os.path.join(ROOT, "target", "oci")
DEFAULT_PLUGIN_FILE = os.path.join(ROOT, "examples", "istio", "wasmplugin.yaml")
# The EnvoyFilter's ECDS Wasm config fetches the same oci:// image (istio-agent checks the same digest).
ENVOYFILTER_FILE = os.path.join(ROOT, "examples", "istio", "envoyfilter-hold.yaml")
_NESTED_SHA = re.compile(r'^(?P<indent>\s+)sha256:(?P<pre>\s*)(?P<q>"?)[0-9a-f]{64}(?P=q)(?P<post>\s*(#.*)?)$')

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"
TITLE = "org.opencontainers.image.title"
REF_NAME = "org.opencontainers.image.ref.name"

# The runtime config of the solo-io Wasm image spec (type, ABI versions, root ids). Istio reads
# nothing from it; it is there because the oci variant has two layers. Constant on purpose:
# anything that changes per build (a timestamp, a git revision) would change the manifest digest.
RUNTIME_CONFIG = {
    "type": "envoy_proxy",
    "abiVersions": ["proxy_abi_version_0_2_1"],
    "config": {"rootIds": ["mesh_guardrail"]},
}
MANIFEST_ANNOTATIONS = {
    "module.wasm.runtime/type": "envoy_proxy",
    "module.wasm.runtime/abi_version": "proxy_abi_version_0_2_1",
}

HTTP_TIMEOUT = 60.0


class OciError(Exception):
    pass


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def crate_version():
    try:
        with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
            m = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M)
        return m.group(1) if m else "latest"
    except OSError:
        return "latest"


def read_wasm(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise OciError("cannot read the Wasm module %s: %s (build it with `make build`)" % (path, e.strerror))
    if data[:4] != b"\0asm":
        raise OciError("%s is not a Wasm module (no \\0asm magic)" % path)
    return data


def descriptor(media_type, data, title=None):
    d = {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}
    if title:
        d["annotations"] = {TITLE: title}
    return d


def image(wasm):
    """The image of a module: (manifest bytes, {digest: blob bytes}) for the config and layers."""
    config = canonical_json(RUNTIME_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(WASM_CONFIG, config),
        "layers": [descriptor(WASM_CONFIG, config, "runtime-config.json"),
                   descriptor(WASM_LAYER, wasm, "plugin.wasm")],
        "annotations": MANIFEST_ANNOTATIONS,
    }
    return canonical_json(manifest), {digest_of(config): config, digest_of(wasm): wasm}


def check_manifest(manifest):
    """The checks Istio's fetcher makes on an *oci* variant image (pkg/wasm/imagefetcher.go,
    extractOCIArtifactImage), plus the OCI basics. Returns the Wasm layer's descriptor."""
    if not isinstance(manifest, dict) or manifest.get("schemaVersion") != 2:
        raise OciError("not an image manifest (schemaVersion 2): %r" % (manifest,)[:200])
    if manifest.get("mediaType", OCI_MANIFEST) != OCI_MANIFEST:
        raise OciError("manifest media type %r, expected %s" % (manifest.get("mediaType"), OCI_MANIFEST))
    layers = manifest.get("layers") or []
    if len(layers) != 2:
        raise OciError("Istio needs exactly 2 layers in a Wasm oci-variant image, this one has %d" % len(layers))
    wasm_layers = [layer for layer in layers if layer.get("mediaType") == WASM_LAYER]
    if len(wasm_layers) != 1:
        raise OciError("expected one layer of type %s, found %d" % (WASM_LAYER, len(wasm_layers)))
    return wasm_layers[0]


# ---------------------------------------------------------------------------------------------
# build: the OCI image layout
# ---------------------------------------------------------------------------------------------
def write_blob(blob_dir, data):
    path = os.path.join(blob_dir, digest_of(data).split(":", 1)[1])
    with open(path, "wb") as f:
        f.write(data)


def build(wasm_path=DEFAULT_WASM, out=DEFAULT_LAYOUT, tag=None):
    """Write the OCI image layout of the module to `out` (replacing an earlier layout there).
    Returns {"manifest_digest", "module_sha256", "tag", "layout"}."""
    wasm = read_wasm(wasm_path)
    tag = tag or crate_version()
    manifest, blobs = image(wasm)
    out = os.path.abspath(out)
    if os.path.exists(out):
        if not os.path.isdir(out) or (os.listdir(out) and not os.path.isfile(os.path.join(out, "oci-layout"))):
            raise OciError("%s exists and is not an OCI image layout: not overwriting it" % out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".oci-", dir=parent)
    try:
        blob_dir = os.path.join(tmp, "blobs", "sha256")
        os.makedirs(blob_dir)
        for data in list(blobs.values()) + [manifest]:
            write_blob(blob_dir, data)
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [dict(descriptor(OCI_MANIFEST, manifest), annotations={REF_NAME: tag})],
        }
        with open(os.path.join(tmp, "index.json"), "wb") as f:
            f.write(canonical_json(index))
        with open(os.path.join(tmp, "oci-layout"), "wb") as f:
            f.write(canonical_json({"imageLayoutVersion": "1.0.0"}))
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"manifest_digest": digest_of(manifest), "module_sha256": digest_of(wasm), "tag": tag, "layout": out,
            "module_size": len(wasm)}


def load_layout(layout, tag=None):
    """(manifest bytes, manifest digest, {digest: blob bytes}, tag) of an image in a layout."""
    try:
        with open(os.path.join(layout, "index.json"), "rb") as f:
            index = json.loads(f.read())
    except (OSError, ValueError) as e:
        raise OciError("no readable OCI image layout at %s (%s): run `make oci` first" % (layout, e))
    manifests = index.get("manifests") or []
    if tag:
        manifests = [m for m in manifests if (m.get("annotations") or {}).get(REF_NAME) == tag]
    if len(manifests) != 1:
        raise OciError("%s/index.json: expected one manifest%s, found %d"
                       % (layout, " tagged %s" % tag if tag else "", len(manifests)))
    desc = manifests[0]

    def blob(digest):
        algo, _, hexd = digest.partition(":")
        path = os.path.join(layout, "blobs", algo, hexd)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise OciError("blob %s missing from the layout: %s" % (digest, e.strerror))
        if digest_of(data) != digest:
            raise OciError("blob %s in the layout is corrupt (its sha256 is %s)" % (digest, digest_of(data)))
        return data

    manifest = blob(desc["digest"])
    m = json.loads(manifest)
    check_manifest(m)
    blobs = {}
    for d in [m["config"]] + m["layers"]:
        blobs[d["digest"]] = blob(d["digest"])
    return manifest, desc["digest"], blobs, (desc.get("annotations") or {}).get(REF_NAME)


# ---------------------------------------------------------------------------------------------
# The distribution API (plain urllib)
# ---------------------------------------------------------------------------------------------
class Registry:
    def __init__(self, registry, repo):
        if "://" in registry:
            u = urllib.parse.urlsplit(registry)
            scheme, host = u.scheme, u.netloc
        else:
            host = registry.rstrip("/")
            scheme = "http" if is_loopback(host) else "https"
        if scheme not in ("http", "https") or not host:
            raise OciError("bad --registry %r: expected HOST:PORT (or http(s)://HOST:PORT)" % registry)
        if not re.fullmatch(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", repo):
            raise OciError("bad --repo %r: OCI repository names are lower-case [a-z0-9._-/]" % repo)
        self.base = "%s://%s" % (scheme, host)
        self.repo = repo

    def url(self, path):
        return "%s/v2/%s/%s" % (self.base, self.repo, path)

    def call(self, method, url, data=None, headers=None, ok=(200,)):
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
                body = resp.read()
                status, hdrs = resp.status, resp.headers
        except urllib.error.HTTPError as e:
            body, status, hdrs = e.read(), e.code, e.headers
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise OciError("%s %s: cannot reach the registry: %s" % (method, url, reason))
        if status not in ok:
            hint = ""
            if status == 401:
                hint = " (the registry wants authentication, which this script does not do: use oras or crane)"
            raise OciError("%s %s: HTTP %d%s: %s" % (method, url, status, hint,
                                                      body[:500].decode("utf-8", "replace").strip()))
        return status, hdrs, body

    def blob_exists(self, digest):
        status, _, _ = self.call("HEAD", self.url("blobs/" + digest), ok=(200, 404))
        return status == 200

    def upload_blob(self, data):
        """POST /blobs/uploads/, then one monolithic PUT <location>?digest=..."""
        digest = digest_of(data)
        if self.blob_exists(digest):
            return digest, False
        _, hdrs, _ = self.call("POST", self.url("blobs/uploads/"), data=b"", ok=(202,))
        location = hdrs.get("Location")
        if not location:
            raise OciError("POST %s: 202 without a Location header" % self.url("blobs/uploads/"))
        location = urllib.parse.urljoin(self.base + "/", location)
        put = location + ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})
        _, hdrs, _ = self.call("PUT", put, data=data, ok=(201,),
                               headers={"Content-Type": "application/octet-stream",
                                        "Content-Length": str(len(data))})
        got = hdrs.get("Docker-Content-Digest")
        if got and got != digest:
            raise OciError("the registry stored blob %s as %s" % (digest, got))
        return digest, True

    def put_manifest(self, reference, manifest):
        _, hdrs, _ = self.call("PUT", self.url("manifests/" + reference), data=manifest, ok=(201,),
                               headers={"Content-Type": OCI_MANIFEST})
        return hdrs.get("Docker-Content-Digest")

    def get_manifest(self, reference):
        _, hdrs, body = self.call("GET", self.url("manifests/" + reference), headers={"Accept": OCI_MANIFEST})
        return body, hdrs.get("Docker-Content-Digest"), hdrs.get("Content-Type")

    def get_blob(self, digest):
        _, _, body = self.call("GET", self.url("blobs/" + digest))
        if digest_of(body) != digest:
            raise OciError("blob %s from the registry has sha256 %s" % (digest, digest_of(body)))
        return body


def is_loopback(host):
    name = urllib.parse.urlsplit("//" + host).hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def push(registry, repo, tag=None, layout=DEFAULT_LAYOUT):
    manifest, digest, blobs, layout_tag = load_layout(layout)
    tag = tag or layout_tag
    if not tag:
        raise OciError("no --tag given and the layout's manifest has no %s annotation" % REF_NAME)
    reg = Registry(registry, repo)
    uploaded = [d for d, data in blobs.items() if reg.upload_blob(data)[1]]
    got = reg.put_manifest(tag, manifest)
    if got and got != digest:
        raise OciError("the registry gave the manifest digest %s, the layout's is %s" % (got, digest))
    return {"reference": "%s/%s:%s" % (reg.base.split("://", 1)[1], repo, tag), "manifest_digest": digest,
            "registry_digest": got, "uploaded": uploaded, "blobs": sorted(blobs)}


def pull(registry, repo, out, digest=None, tag=None):
    if bool(digest) == bool(tag):
        raise OciError("pull needs exactly one of --digest and --tag")
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise OciError("bad --digest %r: expected sha256:<64 lower-case hex>" % digest)
    reg = Registry(registry, repo)
    body, got, content_type = reg.get_manifest(digest or tag)
    actual = digest_of(body)
    if digest and actual != digest:
        raise OciError("the manifest fetched by %s has sha256 %s" % (digest, actual))
    if got and got != actual:
        raise OciError("Docker-Content-Digest %s differs from the manifest's sha256 %s" % (got, actual))
    try:
        manifest = json.loads(body)
    except ValueError:
        raise OciError("the manifest is not JSON (Content-Type %s)" % content_type)
    layer = check_manifest(manifest)
    wasm = reg.get_blob(layer["digest"])
    if len(wasm) != layer.get("size"):
        raise OciError("Wasm layer is %d bytes, the manifest says %s" % (len(wasm), layer.get("size")))
    if wasm[:4] != b"\0asm":
        raise OciError("the Wasm layer is not a Wasm module (no \\0asm magic)")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(wasm)
    return {"manifest_digest": actual, "registry_digest": got, "module_sha256": digest_of(wasm),
            "size": len(wasm), "out": out}


# ---------------------------------------------------------------------------------------------
# The WasmPlugin manifest: read spec.url / spec.sha256, and pin
# ---------------------------------------------------------------------------------------------
_KEY = re.compile(r"^(?P<indent>[ ]*)(?P<key>[A-Za-z0-9_]+):(?P<rest>.*)$")
_SCALAR = re.compile(r"^(?P<pre>\s*)(?P<q>[\"']?)(?P<val>[^\"'#\s]*)(?P=q)(?P<post>\s*(?:#.*)?)$")


def spec_fields(text):
    """{key: (line index, scalar value)} of the direct children of the top-level `spec:` mapping
    of the first YAML document that has one. Block style only (what kubectl users write)."""
    lines = text.split("\n")
    fields, in_spec, child_indent = {}, False, None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if line.startswith("---") or line.startswith("..."):
            if fields:
                break
            in_spec = False
            continue
        m = _KEY.match(line)
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            if in_spec:
                break
            in_spec = bool(m and m.group("key") == "spec" and not m.group("rest").split("#")[0].strip())
            continue
        if not in_spec or not m:
            continue
        if child_indent is None:
            child_indent = indent
        if indent != child_indent:
            continue
        s = _SCALAR.match(m.group("rest"))
        fields[m.group("key")] = (i, s.group("val") if s else m.group("rest").strip())
    return fields, lines


def read_plugin_file(path=DEFAULT_PLUGIN_FILE):
    """{"url": ..., "sha256": ...} from a WasmPlugin manifest (values None when absent)."""
    with open(path, encoding="utf-8") as f:
        fields, _ = spec_fields(f.read())
    return {k: fields[k][1] if k in fields else None for k in ("url", "sha256")}


def expected_sha256(url, manifest_digest, module_sha256):
    """What Istio compares spec.sha256 with for this url (see the module docstring)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "oci":
        return manifest_digest.split(":", 1)[1]
    if scheme in ("http", "https"):
        return module_sha256.split(":", 1)[1]
    raise OciError("spec.url %r: only oci:// and http(s):// urls carry a checksum Istio verifies" % url)


def pin(path=DEFAULT_PLUGIN_FILE, wasm_path=DEFAULT_WASM, digest=None):
    """Rewrite spec.sha256 (and an @sha256: digest in an oci:// spec.url) in place, keeping
    everything else (comments, quoting, layout) as it was. Returns {"sha256", "url", "changed"}."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise OciError("cannot read %s: %s" % (path, e.strerror))
    fields, lines = spec_fields(text)
    if "url" not in fields:
        raise OciError("%s: no spec.url found" % path)
    if "sha256" not in fields:
        raise OciError("%s: no spec.sha256 line to rewrite (add `sha256: \"\"` under spec)" % path)
    url = fields["url"][1]
    if digest:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise OciError("bad --digest %r: expected sha256:<64 lower-case hex>" % digest)
        manifest_digest, module_sha = digest, None
        if not url.startswith("oci://"):
            raise OciError("--digest is a manifest digest, but spec.url is not oci://")
    else:
        wasm = read_wasm(wasm_path)
        manifest_digest, module_sha = digest_of(image(wasm)[0]), digest_of(wasm)
    value = expected_sha256(url, manifest_digest, module_sha)

    def set_scalar(i, new):
        key = _KEY.match(lines[i])
        s = _SCALAR.match(key.group("rest"))
        if not s:
            raise OciError("%s line %d: cannot rewrite %r (not a plain scalar)" % (path, i + 1, lines[i]))
        lines[i] = "%s%s:%s%s%s%s%s" % (key.group("indent"), key.group("key"), s.group("pre") or " ", s.group("q"),
                                        new, s.group("q"), s.group("post"))

    set_scalar(fields["sha256"][0], value)
    new_url = url
    if url.startswith("oci://") and "@sha256:" in url:
        new_url = re.sub(r"@sha256:[0-9a-fA-F]*", "@" + manifest_digest, url)
        set_scalar(fields["url"][0], new_url)
    new_text = "\n".join(lines)
    changed = new_text != text
    if changed:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new_text)
    return {"sha256": value, "url": new_url, "changed": changed}


def envoyfilter_sha256s(path=ENVOYFILTER_FILE):
    """The `sha256:` values of the EnvoyFilter's remote Wasm code (one per patch carrying it)."""
    with open(path, encoding="utf-8") as f:
        return [m.group(0).split("sha256:", 1)[1].split("#")[0].strip().strip('"')
                for m in map(_NESTED_SHA.match, f.read().splitlines()) if m]


def pin_envoyfilter(value, path=ENVOYFILTER_FILE):
    """Keeps the EnvoyFilter's remote code sha256 in step with the WasmPlugin's."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    hits = 0
    for i, line in enumerate(lines):
        m = _NESTED_SHA.match(line)
        if m:
            hits += 1
            lines[i] = '%ssha256:%s%s%s%s%s' % (m.group("indent"), m.group("pre") or " ", m.group("q"), value,
                                                m.group("q"), m.group("post"))
    if not hits:
        raise OciError("%s: no sha256 line to rewrite" % path)
    new_text = "\n".join(lines)
    if new_text != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new_text)
    return new_text != text


# ---------------------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(prog="oci.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write the OCI image layout (default target/oci)")
    b.add_argument("--wasm", default=DEFAULT_WASM)
    b.add_argument("--out", default=DEFAULT_LAYOUT)
    b.add_argument("--tag", help="the layout's ref name (default: the crate version)")
    u = sub.add_parser("push", help="push the layout's image to a registry")
    u.add_argument("--registry", required=True, help="HOST:PORT (http for loopback, else https)")
    u.add_argument("--repo", required=True)
    u.add_argument("--tag", help="default: the layout's ref name")
    u.add_argument("--layout", default=DEFAULT_LAYOUT)
    g = sub.add_parser("pull", help="pull the module of an image from a registry")
    g.add_argument("--registry", required=True)
    g.add_argument("--repo", required=True)
    g.add_argument("--digest", help="sha256:<hex> manifest digest")
    g.add_argument("--tag")
    g.add_argument("--out", required=True)
    n = sub.add_parser("pin", help="rewrite spec.sha256 in the WasmPlugin manifest")
    n.add_argument("--file", default=DEFAULT_PLUGIN_FILE)
    n.add_argument("--wasm", default=DEFAULT_WASM)
    n.add_argument("--digest", help="manifest digest to pin (default: computed from --wasm)")
    a = p.parse_args(argv)
    try:
        if a.cmd == "build":
            r = build(a.wasm, a.out, a.tag)
            print("%s: OCI image layout of %s (%d bytes), tag %s"
                  % (os.path.relpath(r["layout"]), os.path.relpath(a.wasm), r["module_size"], r["tag"]))
            print("manifest digest: %s" % r["manifest_digest"])
            print("module sha256:   %s" % r["module_sha256"])
            print("WasmPlugin spec.sha256 for an oci:// url (the manifest digest): %s"
                  % r["manifest_digest"].split(":", 1)[1])
        elif a.cmd == "push":
            r = push(a.registry, a.repo, a.tag, a.layout)
            print("pushed %s (%d of %d blobs uploaded)" % (r["reference"], len(r["uploaded"]), len(r["blobs"])))
            print("manifest digest: %s" % r["manifest_digest"])
        elif a.cmd == "pull":
            r = pull(a.registry, a.repo, a.out, a.digest, a.tag)
            print("pulled %s (%d bytes)" % (r["out"], r["size"]))
            print("manifest digest: %s" % r["manifest_digest"])
            print("module sha256:   %s" % r["module_sha256"])
        elif a.cmd == "pin":
            r = pin(a.file, a.wasm, a.digest)
            print("%s %s: spec.sha256 %s (url %s)"
                  % ("pinned" if r["changed"] else "already pinned", os.path.relpath(a.file), r["sha256"], r["url"]))
            if os.path.abspath(a.file) == DEFAULT_PLUGIN_FILE and os.path.isfile(ENVOYFILTER_FILE):
                changed = pin_envoyfilter(r["sha256"])
                print("%s %s: sha256 %s" % ("pinned" if changed else "already pinned",
                                            os.path.relpath(ENVOYFILTER_FILE), r["sha256"]))
    except OciError as e:
        print("oci.py %s: error: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
