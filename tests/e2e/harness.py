"""End-to-end harness: start the mock LLM and a real Envoy loading the guardrail Wasm module.

Nothing is built here (`make test` / `make build` build first). Paths and knobs:

  GUARDRAIL_WASM        the Wasm module (default target/wasm32-wasip1/release/mesh_guardrail.wasm)
  ENVOY_BIN             forwarded to scripts/envoy.sh, which resolves Envoy (see that script)
  E2E_ENVOY_LOG_LEVEL   Envoy's default log level (default: warning; the wasm component is info)
  ENVOY_VERSION         1.36 to 1.40: that Envoy (scripts/envoy.sh installs it in .tools/)
  E2E_HOLD_MODE         how Envoy loads the filter (default hold):
                          hold    allow_on_headers_stop_iteration: true, vm_id mesh_guardrail
                          stream  as istiod loads a WasmPlugin: no such field, empty vm_id

Envoy is started as:
  scripts/envoy.sh -c <generated.json> --use-dynamic-base-id --concurrency N
      --log-level warning --component-log-level wasm:info
      --admin-address-path <file> --drain-time-s 0          (stderr -> tests/e2e/.logs/<name>.log)
with the listener and admin on port 0 (the kernel picks free ports; the harness reads them
back from --admin-address-path and the admin /listeners endpoint, so there is no port race).
"""

import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WASM = os.path.abspath(os.environ.get(
    "GUARDRAIL_WASM", os.path.join(ROOT, "target", "wasm32-wasip1", "release", "mesh_guardrail.wasm")))
ENVOY_SH = os.path.join(ROOT, "scripts", "envoy.sh")
MOCK_PY = os.path.join(ROOT, "examples", "mock_llm.py")
# Generated configs and Envoy logs; E2E_LOG_DIR gives concurrent sessions (the matrix's
# lanes) their own, since a session empties it when it starts.
LOG_DIR = os.environ.get("E2E_LOG_DIR") or os.path.join(ROOT, "tests", "e2e", ".logs")
TEST_TOKEN_KEY = "e2e-test-token-key-not-a-secret"
HOLD_MODE = os.environ.get("E2E_HOLD_MODE", "hold")
if HOLD_MODE not in ("hold", "stream"):
    raise RuntimeError("E2E_HOLD_MODE must be hold or stream, not %r" % HOLD_MODE)
STREAM_MODE = HOLD_MODE == "stream"

START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 15.0


class EnvoyStartError(RuntimeError):
    """Envoy exited or never became ready. `.log` holds its log, `.returncode` its exit code."""

    def __init__(self, message, log, returncode):
        super().__init__(message + "\n--- envoy log (tail) ---\n" + tail(log, 60))
        self.log = log
        self.returncode = returncode


def tail(text, lines):
    parts = text.splitlines()
    return "\n".join(parts[-lines:])


def require_wasm():
    if not os.path.isfile(WASM):
        raise FileNotFoundError(
            "Wasm module not found: %s\nBuild it first: `make build` "
            "(cargo build --release --target wasm32-wasip1), or set GUARDRAIL_WASM." % WASM)
    return WASM


# ---------------------------------------------------------------------------------------------
# HTTP helpers (stdlib only)
# ---------------------------------------------------------------------------------------------
class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names, repeated headers joined by ", "
        self.body = body        # bytes

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %s %s %r>" % (self.status, self.headers.get("content-type"), self.body[:300])


def request(url, method="GET", path="/", body=None, headers=None, timeout=REQUEST_TIMEOUT):
    """One HTTP/1.1 request on a fresh connection. `body` is bytes, str or a JSON-able object."""
    u = urllib.parse.urlsplit(url)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs.setdefault("content-type", "application/json")
    if isinstance(body, str):
        body = body.encode("utf-8")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        try:
            conn.request(method, (u.path.rstrip("/") + path) if u.path else path, body=body, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy answered early (e.g. 413) and closed; the answer may still be readable
        resp = conn.getresponse()
        data = resp.read()
        out = {}
        for k, v in resp.getheaders():
            k = k.lower()
            out[k] = out[k] + ", " + v if k in out else v
        return Response(resp.status, out, data)
    finally:
        conn.close()


def chat_body(text, stream=False, include_usage=False, model="mock-gpt", system=None, **extra):
    messages = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": text})
    body = {"model": model, "messages": messages}
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return body


def parse_sse(raw):
    """Split an SSE body into the list of `data:` payloads (strings), in order."""
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() if line.startswith("data:") else None for line in block.split("\n")]
        data = [d for d in data if d is not None]
        if data:
            events.append("\n".join(data))
    return events


def is_openai_error(resp):
    """True when the body is {"error": {"message", "type", "code", "param"}}."""
    try:
        obj = resp.json()
    except ValueError:
        return False
    err = obj.get("error") if isinstance(obj, dict) else None
    return (isinstance(err, dict) and isinstance(err.get("message"), str) and isinstance(err.get("type"), str)
            and "code" in err and "param" in err)


# ---------------------------------------------------------------------------------------------
# Mock LLM
# ---------------------------------------------------------------------------------------------
class MockLLM:
    def __init__(self, args=()):
        self.proc = subprocess.Popen(
            [sys.executable, MOCK_PY, "--host", "127.0.0.1", "--port", "0", "--quiet"] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError("mock_llm did not start: %r" % line)
        self.url = line.strip().rsplit(" ", 1)[-1]
        self.port = int(self.url.rsplit(":", 1)[-1])

    def last(self):
        """The last request the mock received: {"method", "path", "headers", "body"}."""
        return request(self.url, "GET", "/_last").json()

    def requests(self):
        return request(self.url, "GET", "/_requests").json()

    def clear(self):
        request(self.url, "DELETE", "/_requests")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


# ---------------------------------------------------------------------------------------------
# Envoy
# ---------------------------------------------------------------------------------------------
def envoy_config(plugin_config, upstream_port, wasm=None, vm_env=None, listener_port=0, admin_port=0,
                 configuration_as="string", route_timeout="120s", hold_mode=None):
    """The Envoy bootstrap (a dict, written as JSON) used by the e2e tests.

    `plugin_config`: a dict (serialised to JSON) or a raw string passed verbatim.
    `configuration_as`: "string" (google.protobuf.StringValue, the project's default) or "struct"
    (google.protobuf.Struct; Envoy hands the filter its JSON form).
    `hold_mode`: "hold" or "stream" (default: E2E_HOLD_MODE).
    """
    hold_mode = hold_mode or HOLD_MODE
    if configuration_as == "struct":
        if not isinstance(plugin_config, dict):
            raise ValueError("a Struct configuration needs a dict")
        configuration = dict({"@type": "type.googleapis.com/google.protobuf.Struct"}, **plugin_config)
    else:
        value = plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)
        configuration = {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": value}
    key_values = {"GUARDRAIL_TOKEN_KEY": TEST_TOKEN_KEY}
    key_values.update(vm_env or {})
    wasm_config = {
        "name": "mesh_guardrail",
        "root_id": "mesh_guardrail",
        "configuration": configuration,
        "vm_config": {
            "vm_id": "mesh_guardrail",
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": wasm or WASM}},
            "environment_variables": {"key_values": key_values},
        },
    }
    if hold_mode == "hold":
        # The filter can then hold request headers while it reads the body (Envoy >= 1.35).
        wasm_config["allow_on_headers_stop_iteration"] = True
    else:
        # As istiod generates a WasmPlugin's ECDS resource: no header hold, no vm_id.
        wasm_config["vm_config"]["vm_id"] = ""
    wasm_filter = {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": wasm_config,
        },
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "e2e",
        "codec_type": "AUTO",
        # As in envoy/envoy.yaml: routes, filters and upstream see one spelling of each path.
        "normalize_path": True,
        "merge_slashes": True,
        "stream_idle_timeout": "60s",
        "route_config": {"name": "e2e", "virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "mock_llm", "timeout": route_timeout}}]}]},
        "http_filters": [wasm_filter, {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [{
                "name": "e2e",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
                # Above the filter's 900 KiB body limit, so the filter (not Envoy's plain-text
                # 413) answers bodies that arrive without a declared length (as in envoy.yaml).
                "per_connection_buffer_limit_bytes": 2097152,
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}],
            }],
            "clusters": [{
                "name": "mock_llm", "type": "STATIC", "connect_timeout": "2s",
                # HTTP/1.1 chunked trailers from the upstream reach the filter (the mock's
                # x-mock-trailers), as an HTTP/2 upstream's trailers would.
                "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http_protocol_options": {"enable_trailers": True}}}},
                "load_assignment": {"cluster_name": "mock_llm", "endpoints": [{"lb_endpoints": [{"endpoint": {
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": upstream_port}}}}]}]},
            }],
        },
    }


class Envoy:
    """A running Envoy. `.url` (listener), `.admin_url`, `.log_text()`, `.stop()`."""

    _seq = 0

    def __init__(self, plugin_config, upstream_port, concurrency=1, env=None, configuration_as="string",
                 name=None, bootstrap=None, extra_env=None):
        """`bootstrap`: a complete Envoy bootstrap (dict) used instead of `envoy_config(...)`
        (`plugin_config` and `env` are then unused). `extra_env`: variables added to the Envoy
        process environment (e.g. for Wasm `host_env_keys`)."""
        require_wasm()
        os.makedirs(LOG_DIR, exist_ok=True)
        Envoy._seq += 1
        tag = "%s-%d-%d" % (name or "envoy", os.getpid(), Envoy._seq)
        self.workdir = tempfile.mkdtemp(prefix="e2e-%s-" % tag)
        self.config_path = os.path.join(LOG_DIR, tag + ".json")
        self.log_path = os.path.join(LOG_DIR, tag + ".log")
        self.admin_path = os.path.join(self.workdir, "admin_address")
        self.plugin_config = plugin_config
        with open(self.config_path, "w") as f:
            json.dump(bootstrap if bootstrap is not None else
                      envoy_config(plugin_config, upstream_port, vm_env=env, configuration_as=configuration_as),
                      f, indent=1)
        level = os.environ.get("E2E_ENVOY_LOG_LEVEL", "warning")
        self.cmd = [ENVOY_SH, "-c", self.config_path,
                    "--use-dynamic-base-id",          # no shared-memory clash between instances
                    "--concurrency", str(concurrency),
                    "--log-level", level, "--component-log-level", "wasm:info",
                    "--admin-address-path", self.admin_path,
                    "--drain-time-s", "0"]
        # Envoy logs to stderr, captured in the log file. (Not --log-path: that file is flushed
        # on a timer, and the last lines of an Envoy that exits at startup could be missing.)
        self._stderr = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=self._stderr, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     env=dict(os.environ, **extra_env) if extra_env else None)
        self.url = None
        self.admin_url = None
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _fail(self, why):
        raise EnvoyStartError("Envoy %s (cmd: %s)" % (why, " ".join(self.cmd)), self.log_text(),
                              self.proc.returncode)

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        # 1. admin address file, then /ready == LIVE
        while True:
            if self.proc.poll() is not None:
                self._fail("exited with code %s during startup" % self.proc.returncode)
            if time.monotonic() > deadline:
                self._fail("not ready after %.0fs" % START_TIMEOUT)
            if self.admin_url is None and os.path.exists(self.admin_path):
                with open(self.admin_path) as f:
                    addr = f.read().strip()
                if addr:
                    self.admin_url = "http://" + addr
            if self.admin_url is not None:
                try:
                    r = request(self.admin_url, "GET", "/ready", timeout=2)
                    if r.status == 200:
                        break
                except OSError:
                    pass
            time.sleep(0.05)
        # 2. the listener's real port (configured as 0) from the admin API, then a TCP probe
        listeners = request(self.admin_url, "GET", "/listeners?format=json").json()
        sa = listeners["listener_statuses"][0]["local_address"]["socket_address"]
        self.url = "http://%s:%d" % (sa["address"], sa["port_value"])
        while True:
            try:
                socket.create_connection((sa["address"], sa["port_value"]), timeout=2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    self._fail("exited with code %s" % self.proc.returncode)
                if time.monotonic() > deadline:
                    self._fail("listener not accepting connections")
                time.sleep(0.05)

    @property
    def host_port(self):
        u = urllib.parse.urlsplit(self.url)
        return u.hostname, u.port

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_size(self):
        return len(self.log_text())

    def stats(self, prefix=""):
        r = request(self.admin_url, "GET", "/stats?format=json&filter=" + urllib.parse.quote(prefix))
        return {s["name"]: s.get("value") for s in r.json().get("stats", []) if "name" in s}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._stderr.closed:
            self._stderr.close()


_PLACEHOLDER = re.compile(r"__([A-Z][A-Z0-9_]*)__")


def render_placeholders(text):
    """Fill the `__NAME__` placeholders of a config template (e.g. envoy/bench-*.yaml) with
    values good enough for `--mode validate`: distinct ports for `__*_PORT__`, the built module
    for `__WASM_PATH__`, `{}` for `__PLUGIN_CONFIG__`. Other placeholders are left as they are (validation then fails)."""
    ports = {}

    def fill(m):
        name = m.group(1)
        if name.endswith("_PORT"):
            return str(ports.setdefault(name, 20000 + len(ports)))
        if name == "WASM_PATH":
            return WASM
        if name == "PLUGIN_CONFIG":
            return "{}"
        return m.group(0)

    # Only placeholders in YAML/JSON values, not those inside comments.
    lines = []
    for line in text.splitlines(keepends=True):
        code, hash_, comment = line.partition("#") if line.lstrip().startswith("#") else (line, "", "")
        lines.append(_PLACEHOLDER.sub(fill, code) + hash_ + comment)
    return "".join(lines)


def validate_config(path, cwd=ROOT, timeout=60):
    """Run `envoy --mode validate -c path`; returns (returncode, output). A template with
    `__NAME__` placeholders is validated as a filled copy (see render_placeholders)."""
    with open(path) as f:
        text = f.read()
    rendered = render_placeholders(text)
    if rendered != text:
        os.makedirs(LOG_DIR, exist_ok=True)
        filled = os.path.join(LOG_DIR, "validate-" + os.path.basename(path))
        with open(filled, "w") as f:
            f.write(rendered)
        path = filled
    p = subprocess.run([ENVOY_SH, "--mode", "validate", "-c", path, "--log-level", "warning",
                        "--component-log-level", "wasm:info", "--use-dynamic-base-id"],
                       cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout


# ---------------------------------------------------------------------------------------------
# A minimal HTTP/2 (h2c prior knowledge) client: enough to send one request with trailers.
# HPACK: we send literal headers without Huffman; of the response we only decode :status when
# it is an indexed static-table entry (how Envoy encodes common statuses) and read DATA raw.
# ---------------------------------------------------------------------------------------------
_STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}


def _hpack_int(value, prefix_bits, first_byte_flags):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = [first_byte_flags | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_literal(name, value):
    # Literal Header Field without Indexing, new name (0x00), no Huffman.
    n, v = name.encode(), value.encode()
    return b"\x00" + _hpack_int(len(n), 7, 0) + n + _hpack_int(len(v), 7, 0) + v


def _frame(ftype, flags, stream_id, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream_id) + payload


def h2c_request(host, port, path, headers, body, trailers, timeout=REQUEST_TIMEOUT, data_chunk=16384):
    """POST over h2c with request trailers. Returns (status or None, response body bytes)."""
    DATA, HEADERS, SETTINGS, GOAWAY, WINDOW_UPDATE, RST = 0, 1, 4, 7, 8, 3
    END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(SETTINGS, 0, 0, b""))
        block = b"".join(_hpack_literal(k, v) for k, v in
                         [(":method", "POST"), (":scheme", "http"), (":path", path),
                          (":authority", "%s:%d" % (host, port))] + list(headers))
        out = _frame(HEADERS, END_HEADERS, 1, block)
        for i in range(0, len(body), data_chunk):
            out += _frame(DATA, 0, 1, body[i:i + data_chunk])
        tblock = b"".join(_hpack_literal(k, v) for k, v in trailers)
        out += _frame(HEADERS, END_HEADERS | END_STREAM, 1, tblock)
        s.sendall(out)
        status, data, buf = None, b"", b""
        while True:
            while len(buf) < 9:
                chunk = s.recv(65536)
                if not chunk:
                    return status, data
                buf += chunk
            length = int.from_bytes(buf[0:3], "big")
            ftype, flags, sid = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            while len(buf) < 9 + length:
                chunk = s.recv(65536)
                if not chunk:
                    return status, data
                buf += chunk
            payload, buf = buf[9:9 + length], buf[9 + length:]
            if ftype == SETTINGS and not flags & ACK:
                s.sendall(_frame(SETTINGS, ACK, 0, b""))
            elif ftype == HEADERS and sid == 1:
                p = payload
                if flags & 0x8:  # PADDED
                    p = p[1:len(p) - p[0]]
                if flags & 0x20:  # PRIORITY
                    p = p[5:]
                if status is None and p and p[0] & 0x80:
                    status = _STATIC_STATUS.get(p[0] & 0x7F)
                if status is None and p:
                    status = -1  # present but not decodable by this tiny client
                if flags & END_STREAM:
                    return status, data
            elif ftype == DATA and sid == 1:
                p = payload
                if flags & 0x8:
                    p = p[1:len(p) - p[0]]
                data += p
                if length:
                    inc = struct.pack(">I", length)
                    s.sendall(_frame(WINDOW_UPDATE, 0, 0, inc) + _frame(WINDOW_UPDATE, 0, 1, inc))
                if flags & END_STREAM:
                    return status, data
            elif ftype in (GOAWAY,) or (ftype == RST and sid == 1):
                return status, data
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# envoy/degraded.yaml: retries, circuit breakers, outlier detection, an aggregate cluster
# (primary then backup) and the x-guardrail-route header routes, with the filter in front.
# ---------------------------------------------------------------------------------------------
DEGRADED_YAML = os.path.join(ROOT, "envoy", "degraded.yaml")


def degraded_bootstrap(primary_port, backup_port, plugin_config=None, hold_mode=None):
    """envoy/degraded.yaml as a bootstrap dict for `Envoy(bootstrap=...)`: the listener and admin
    on port 0, the clusters llm_primary/llm_backup on these ports, the built Wasm module, the
    test token key, `plugin_config` (dict; default: the file's own) and the hold mode (stream:
    as istiod loads a WasmPlugin, without allow_on_headers_stop_iteration and with an empty
    vm_id)."""
    import yaml
    with open(DEGRADED_YAML) as f:
        boot = yaml.safe_load(f)
    hold_mode = hold_mode or HOLD_MODE
    boot["admin"]["address"]["socket_address"]["port_value"] = 0
    listener = boot["static_resources"]["listeners"][0]
    listener["address"]["socket_address"]["port_value"] = 0
    ports = {"llm_primary": primary_port, "llm_backup": backup_port}
    for c in boot["static_resources"]["clusters"]:
        if c["name"] in ports:
            ep = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
            ep["address"]["socket_address"]["port_value"] = ports[c["name"]]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    wasm = hcm["http_filters"][0]["typed_config"]["config"]
    wasm["vm_config"]["code"]["local"]["filename"] = WASM
    wasm["vm_config"]["environment_variables"]["key_values"]["GUARDRAIL_TOKEN_KEY"] = TEST_TOKEN_KEY
    if plugin_config is not None:
        wasm["configuration"]["value"] = json.dumps(plugin_config)
    if hold_mode != "hold":
        wasm.pop("allow_on_headers_stop_iteration", None)
        wasm["vm_config"]["vm_id"] = ""
    return boot


def free_port():
    """A port free right now (for a mock that must come back on the same port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
