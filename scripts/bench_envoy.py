#!/usr/bin/env python3
"""Through-Envoy benchmark of mesh-guardrail: the same Envoy with and without the filter.

Part of `make bench` (scripts/bench.sh); runs on its own too:

    python3 scripts/bench_envoy.py [--rounds 5] [--secs 5] [--sizes 4k,64k] [--ttfb-n 60]

What it does (all on 127.0.0.1, free ports, everything it starts is killed on exit):
  * starts examples/mock_llm.py (SSE upstream for the time-to-first-byte test);
  * starts Envoys via scripts/envoy.sh, from envoy/bench-with-filter.yaml and
    envoy/bench-without-filter.yaml (identical except the wasm filter, config `{}`), and the
    with-filter config loading benches/reference-filter instead, filters that compute nothing:
      sdk-noop   an SDK filter that returns Continue everywhere and calls no host function
                 (4 KB only; --no-ladder skips it),
      reference  holds the headers, buffers and reads the body, adds two headers (the
                 "do-nothing filter"; --no-reference skips all three),
      mirror     exactly the host calls mesh-guardrail makes on a benign request (4 KB only),
    so the cost of the filter splits into Envoy's cost of any Wasm filter, of the host work,
    and mesh-guardrail's own computation. Each runs with
    `--concurrency 1`: one worker thread that runs the front listener and the zero-cost
    upstream listener (buffer + direct_response). wrk runs with one thread (-t1 -c8) so the
    loaded Envoy worker and wrk each get one of the 2 cores; only one Envoy is loaded at a time;
  * load: wrk POSTs a 4 KB and a 64 KB chat JSON body, ALTERNATING rounds with/without (ABBA
    order), reports requests/s, p50/p99 and the median of the per-round ratios with/without.
    Every round starts a fresh Envoy of each configuration (--no-fresh keeps one for all
    rounds): on this 2-core VM, two Envoys of the same configuration run up to 10% apart for
    their whole life, which one instance per configuration would turn into a bias of the ratio;
  * streaming: curl time_starttransfer of an SSE response (mock LLM, 5 ms between chunks),
    alternating with/without, medians and the difference;
  * the module size, and the memory of a long-lived with-filter Envoy before/after a soak load
    (--soak seconds per body size; admin /memory, VmRSS, /stats?filter=wasm), against the
    without-filter Envoy.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROCS = []  # (name, Popen) we started; killed on exit
TMP = None


def die(msg):
    print("bench_envoy: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(2)


def cleanup():
    for name, p in reversed(PROCS):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)  # its own session: Envoy (or func-e + envoy)
            except (ProcessLookupError, PermissionError):
                pass
    deadline = time.time() + 5
    for name, p in PROCS:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    PROCS.clear()
    if TMP and not os.environ.get("BENCH_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------------------------
# Bodies: realistic benign English chat (same spirit as benches/engine.rs)

SUBJECTS = ["The quarterly report", "Our onboarding flow", "The new billing service", "This migration plan",
            "The customer survey", "My manager", "The support team", "Our data pipeline", "The mobile app",
            "The marketing budget", "The deployment script", "This pull request", "The vendor contract"]
VERBS = ["needs", "should include", "is missing", "depends on", "could benefit from", "was delayed by",
         "has to cover", "will replace", "does not handle", "already supports", "must document"]
OBJECTS = ["a clearer summary of the main risks", "more detail about the rollout timeline",
           "a section on error handling and retries", "better test coverage for edge cases",
           "the feedback we collected last month", "a short comparison with the previous version",
           "an estimate of the monthly cost", "a plan for the holiday season",
           "the latency figures from last week", "a friendlier tone in the introduction"]
TAILS = ["before Friday", "for the next release", "so the team can review it", "in plain language",
         "as discussed yesterday", "if that is possible", "for the board meeting", "by the end of the sprint"]
ASKS = ["Can you help me rewrite this paragraph?", "Could you summarise the points above?",
        "What would you change first?", "Please suggest three improvements.",
        "Is there anything important I forgot?", "Can you turn this into a short email?"]


def prose(rng, n):
    out, size = [], 0
    while size < n:
        s = rng.choice(ASKS) if rng.random() < 0.2 else "%s %s %s %s." % (
            rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(TAILS))
        out.append(s)
        size += len(s) + 1
    return " ".join(out)


def chat_body(n, seed=7):
    """An OpenAI chat body of exactly n bytes (system, user, assistant, user)."""
    rng = random.Random(seed + n)
    system = ("You are a helpful assistant for an internal operations team. Answer concisely, "
              "use bullet points when listing steps, and say when you are not sure.")
    turns = 3
    per = max(100, (n - 400) // turns)
    msgs = [{"role": "system", "content": system}]
    for i in range(turns):
        msgs.append({"role": "assistant" if i % 2 else "user", "content": prose(rng, per)})
    body = {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 512, "messages": msgs}
    data = json.dumps(body, separators=(",", ":"))
    # Trim or pad the last message so the body is exactly n bytes.
    over = len(data) - n
    last = msgs[-1]["content"]
    if over > 0:
        last = last[: len(last) - over]
    else:
        last = last + " " * (-over)
    msgs[-1]["content"] = last
    data = json.dumps(body, separators=(",", ":"))
    return data.encode()


# ---------------------------------------------------------------------------------------------
# Processes

def free_ports(k):
    socks, ports = [], []
    for _ in range(k):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def start(name, argv, log_path, **kw):
    log = open(log_path, "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, cwd=ROOT, **kw)
    PROCS.append((name, p))
    return p


def stop(envoys):
    """Stops these Envoys (fresh per-round ones) and forgets them."""
    procs = [e.proc for e in envoys]
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait(timeout=10)
    PROCS[:] = [(n, p) for n, p in PROCS if p not in procs]


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


def http(method, url, body=None, headers=None, timeout=10):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def envoy_pid(p):
    """The Envoy process: the one we started, or its child when scripts/envoy.sh ran func-e."""
    def comm(pid):
        try:
            with open("/proc/%d/comm" % pid) as f:
                return f.read().strip()
        except OSError:
            return ""
    if comm(p.pid).startswith("envoy"):
        return p.pid
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == p.pid and comm(int(d)).startswith("envoy"):
                    return int(d)
            except (OSError, IndexError, ValueError):
                pass
    return p.pid


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def build_reference():
    """Builds benches/reference-filter (its own small crate) and returns the module's path."""
    target = os.path.join(ROOT, "target", "reference-filter")
    cmd = ["cargo", "build", "--release", "--target", "wasm32-wasip1", "--manifest-path",
           os.path.join(ROOT, "benches", "reference-filter", "Cargo.toml"), "--target-dir", target]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        die("building the reference filter failed (%s):\n%s" % (" ".join(cmd), r.stderr[-2000:]))
    return os.path.join(target, "wasm32-wasip1", "release", "reference_filter.wasm")


class Envoy:
    def __init__(self, label, template, wasm, mock_port, concurrency, envoy_cmd, plugin_config="{}"):
        self.label = label
        self.admin, self.front, self.upstream = free_ports(3)
        with open(os.path.join(ROOT, "envoy", template)) as f:
            cfg = f.read()
        for k, v in {"__ADMIN_PORT__": self.admin, "__FRONT_PORT__": self.front,
                     "__UPSTREAM_PORT__": self.upstream, "__MOCK_PORT__": mock_port,
                     "__WASM_PATH__": wasm, "__PLUGIN_CONFIG__": plugin_config}.items():
            cfg = cfg.replace(k, str(v))
        left = re.findall(r"__[A-Z_]+__", cfg)
        if left:
            die("unfilled placeholders in envoy/%s: %s" % (template, left))
        self.cfg_path = os.path.join(TMP, label + "-" + template)
        with open(self.cfg_path, "w") as f:
            f.write(cfg)
        self.log = self.cfg_path + ".log"
        self.proc = start("envoy-" + label, envoy_cmd + ["-c", self.cfg_path, "--concurrency", str(concurrency),
                                                        "--disable-hot-restart", "--log-level", "warn"], self.log)
        self.url = "http://127.0.0.1:%d/v1/chat/completions" % self.front
        self.pid = None

    def wait_ready(self, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                die("Envoy (%s) exited with %s; log:\n%s" % (self.label, self.proc.returncode, tail(self.log)))
            try:
                st, _, b = http("GET", "http://127.0.0.1:%d/ready" % self.admin, timeout=1)
                if st == 200 and b.strip() == b"LIVE":
                    with socket.create_connection(("127.0.0.1", self.front), timeout=1):
                        pass
                    self.pid = envoy_pid(self.proc)
                    return
            except OSError:
                pass
            time.sleep(0.2)
        die("Envoy (%s) not ready after %ds; log:\n%s" % (self.label, timeout, tail(self.log)))

    def memory(self):
        out = {"rss_kb": rss_kb(self.pid)}
        try:
            _, _, b = http("GET", "http://127.0.0.1:%d/memory" % self.admin, timeout=5)
            m = json.loads(b)
            out["allocated"] = int(m.get("allocated", 0))
            out["heap_size"] = int(m.get("heap_size", 0))
        except (OSError, ValueError):
            pass
        try:
            _, _, b = http("GET", "http://127.0.0.1:%d/stats?filter=wasm" % self.admin, timeout=5)
            out["wasm_stats"] = [l for l in b.decode(errors="replace").splitlines() if l.strip()]
        except OSError:
            out["wasm_stats"] = []
        return out


# ---------------------------------------------------------------------------------------------
# wrk

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def run_wrk(url, body_path, secs, threads, conns):
    env = dict(os.environ, BENCH_BODY=body_path)
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--timeout", "10s", "--latency",
            "-s", os.path.join(ROOT, "bench", "post.lua"), url]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=secs + 30)
    out = r.stdout
    if r.returncode != 0:
        die("wrk failed (%d): %s %s" % (r.returncode, out, r.stderr))
    return parse_wrk(out)


def parse_wrk(out):
    res = {"rps": float("nan"), "p50": float("nan"), "p99": float("nan"), "non2xx": 0, "errors": 0, "requests": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+\w+)" % pct, out, re.M)
        if m:
            res[key] = ms(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    return res


WRK_RUNS = [0]


def run_wrk_agent(url, bodies_path, secs, threads, conns):
    """wrk with bench/agent.lua over a scripts/agent_load.py bodies file; each run its own epochs."""
    WRK_RUNS[0] += 1
    env = dict(os.environ, BENCH_BODIES=bodies_path, BENCH_EPOCH_BASE=str(WRK_RUNS[0] * 100000))
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--timeout", "10s", "--latency",
            "-s", os.path.join(ROOT, "bench", "agent.lua"), url]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=secs + 60)
    if r.returncode != 0:
        die("wrk (agent) failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr))
    return parse_wrk(r.stdout)


def curl_ttfb(url, body_path):
    argv = ["curl", "-sS", "-o", "/dev/null", "--max-time", "20", "-w", "%{http_code} %{time_starttransfer} %{time_total}",
            "-H", "content-type: application/json", "-H", "x-bench-upstream: mock",
            "-H", "x-mock-chunk-delay-ms: 5", "-H", "x-mock-delta-size: 6",
            "--data-binary", "@" + body_path, url]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    parts = r.stdout.split()
    if r.returncode != 0 or len(parts) != 3:
        return None
    return int(parts[0]), float(parts[1]) * 1e3, float(parts[2]) * 1e3


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def fmt_bytes(n):
    return "%.1f MiB" % (n / 1048576.0) if n is not None else "n/a"


FLOOR_CONFIG = json.dumps({
    "injection": {"enabled": False},
    "pii": {"response": "off", "entities": {k: "off" for k in
                                            ("email", "phone", "ssn", "credit_card", "iban", "ip_address", "secret")}},
}, separators=(",", ":"))
FLOOR_CONFIG = os.environ.get("BENCH_FLOOR_CONFIG", FLOOR_CONFIG)  # e.g. a config that skips every request
# Configurations measured at the first body size only (4 KB, the target's): they cost run time.
LADDER_ONLY_FIRST = ("sdk-noop", "mirror", "without-2")


def main():
    global TMP
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 5)))
    ap.add_argument("--secs", type=int, default=int(os.environ.get("BENCH_SECS", 5)), help="seconds per wrk round")
    ap.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "4k,64k"))
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--conns", type=int, default=8, help="wrk connections")
    ap.add_argument("--concurrency", type=int, default=int(os.environ.get("BENCH_ENVOY_CONCURRENCY", 1)))
    ap.add_argument("--ttfb-n", type=int, default=int(os.environ.get("BENCH_TTFB_N", 60)))
    ap.add_argument("--wasm", default=os.path.join(ROOT, "target/wasm32-wasip1/release/mesh_guardrail.wasm"))
    ap.add_argument("--summary", help="append key=value summary lines to this file")
    ap.add_argument("--no-reference", dest="reference", action="store_false",
                    default=not os.environ.get("BENCH_NO_REFERENCE"),
                    help="skip the reference filters (benches/reference-filter: sdk-noop, reference, mirror; "
                         "filters that compute nothing, the floor of any such filter)")
    ap.add_argument("--no-fresh", dest="fresh", action="store_false", default=os.environ.get("BENCH_FRESH", "1") != "0",
                    help="keep one Envoy per configuration for all rounds (BENCH_FRESH=0) instead of fresh ones per round")
    ap.add_argument("--soak", type=int, default=int(os.environ.get("BENCH_SOAK_SECS", 10)),
                    help="seconds of load per body size on the long-lived with/without pair, for the memory figures")
    ap.add_argument("--no-aa", dest="aa", action="store_false", default=not os.environ.get("BENCH_NO_AA"),
                    help="skip the second no-filter Envoy (4 KB only) whose ratio to the first is the run's noise floor")
    ap.add_argument("--no-ladder", dest="ladder", action="store_false", default=not os.environ.get("BENCH_NO_LADDER"),
                    help="skip the sdk-noop and mirror reference filters (4 KB rows that split the cost)")
    ap.add_argument("--floor", action="store_true", default=bool(os.environ.get("BENCH_FLOOR")),
                    help="also load a third Envoy: the filter with every detector off (injection disabled, "
                         "PII entities and response off): the host-layer floor (BENCH_FLOOR=1; "
                         "BENCH_FLOOR_CONFIG=<json> replaces that config)")
    ap.add_argument("--agent", default=os.environ.get("BENCH_AGENT", "4k,16k,64k,256k"),
                    help="buckets of the agent load (scripts/agent_load.py, bench/agent.lua): conversations resent "
                         "with one new turn each request; BENCH_AGENT='' or --agent '' skips it")
    ap.add_argument("--agent-only", action="store_true", default=bool(os.environ.get("BENCH_AGENT_ONLY")),
                    help="only the agent load (make bench BENCH_PART=agent)")
    ap.add_argument("--agent-conns", type=int, default=int(os.environ.get("BENCH_AGENT_CONNS", 8)))
    args = ap.parse_args()

    if not shutil.which("wrk"):
        die("wrk not found: install it (Debian/Ubuntu: apt-get update && apt-get install -y wrk), "
            "or run scripts/bench.sh which installs it")
    if not shutil.which("curl"):
        die("curl not found")
    if not os.path.isfile(args.wasm):
        die("%s missing: run `cargo build --release --target wasm32-wasip1` (or `make build`)" % args.wasm)
    try:
        which = subprocess.run([os.path.join(ROOT, "scripts", "envoy.sh"), "--which"], capture_output=True,
                               text=True, timeout=600, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as e:
        die("scripts/envoy.sh --which failed: %s" % e)
    if which.returncode != 0:
        die("no Envoy found by scripts/envoy.sh (set ENVOY_BIN, install func-e, or "
            "scripts/setup_venv.sh): %s" % which.stderr.strip())
    envoy_cmd = [os.path.join(ROOT, "scripts", "envoy.sh")]
    version = ""
    try:
        v = subprocess.run(which.stdout.split() + ["--version"], capture_output=True, text=True, timeout=60)
        m = re.search(r"/(\d+\.\d+\.\d+)/", v.stdout)
        version = m.group(1) if m else v.stdout.strip()[:80]
    except (OSError, subprocess.TimeoutExpired):
        pass

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    TMP = tempfile.mkdtemp(prefix="guardrail-bench-")
    try:
        return run(args, envoy_cmd, which.stdout.strip(), version)
    finally:
        cleanup()


def run(args, envoy_cmd, envoy_which, version):
    summary = []
    sizes = []
    for s in args.sizes.split(","):
        s = s.strip().lower()
        n = int(s[:-1]) * 1024 if s.endswith("k") else int(s)
        sizes.append((s.upper(), n))
    bodies = {}
    for label, n in sizes:
        path = os.path.join(TMP, "chat-%s.json" % label)
        with open(path, "wb") as f:
            f.write(chat_body(n))
        bodies[label] = path

    # Mock LLM (SSE upstream for the TTFB test).
    mock_log = os.path.join(TMP, "mock_llm.log")
    mock = start("mock_llm", [sys.executable, "-u", os.path.join(ROOT, "examples", "mock_llm.py"), "--port", "0",
                              "--quiet"], mock_log)
    mock_port = None
    deadline = time.time() + 20
    while time.time() < deadline and mock_port is None:
        if mock.poll() is not None:
            die("mock_llm exited: " + tail(mock_log))
        m = re.search(r"listening on http://[\d.]+:(\d+)", tail(mock_log, 5))
        if m:
            mock_port = int(m.group(1))
        else:
            time.sleep(0.1)
    if mock_port is None:
        die("mock_llm did not start: " + tail(mock_log))

    wasm_size = os.path.getsize(args.wasm)
    # Every configuration under test: name -> (template, module, plugin configuration).
    specs = {"with": ("bench-with-filter.yaml", args.wasm, "{}"),
             "without": ("bench-without-filter.yaml", args.wasm, "{}")}
    if args.aa:
        # A second no-filter Envoy: its ratio to "without" is this run's noise floor (A/A).
        specs["without-2"] = ("bench-without-filter.yaml", args.wasm, "{}")
    if args.reference:
        ref_wasm = build_reference()
        if args.ladder:
            specs["sdk-noop"] = ("bench-with-filter.yaml", ref_wasm, "noop")
        specs["reference"] = ("bench-with-filter.yaml", ref_wasm, "request")
        if args.ladder:
            specs["mirror"] = ("bench-with-filter.yaml", ref_wasm, "mirror")
    if args.floor:
        specs["floor"] = ("bench-with-filter.yaml", args.wasm, FLOOR_CONFIG)

    def spawn(names_, tag=""):
        out = {}
        for name in names_:
            template, wasm, cfg = specs[name]
            out[name] = Envoy(name + tag, template, wasm, mock_port, args.concurrency, envoy_cmd, cfg)
        for e in out.values():
            e.wait_ready()
        return out

    if args.agent_only:
        print("Through Envoy %s (%s), --concurrency %d each; wrk -t%d -c%d; %d rounds x %ds per bucket"
              % (version, envoy_which, args.concurrency, args.threads, args.agent_conns, args.rounds, args.secs))
        agent_part(args, specs, spawn, summary)
        if args.summary:
            with open(args.summary, "a") as f:
                for s_ in summary:
                    f.write(s_ + "\n")
        return 0

    # The with/without pair that serves the sanity checks, the memory soak and the SSE test; with
    # --no-fresh, every configuration stays up and serves every round too.
    envoys = spawn(list(specs) if not args.fresh else ["with", "without"])
    with_f, without = envoys["with"], envoys["without"]
    names = list(specs)

    print("Through Envoy %s (%s), --concurrency %d each; wrk -t%d -c%d; %d rounds x %ds per body size, alternating"
          % (version, envoy_which, args.concurrency, args.threads, args.conns, args.rounds, args.secs))
    print("  with    = envoy/bench-with-filter.yaml    (wasm filter, config {}, V8)  front :%d"
          % with_f.front)
    print("  without = envoy/bench-without-filter.yaml (no filter)                   front :%d" % without.front)
    if args.aa:
        print("  without-2 = a second Envoy without the filter (4 KB): its ratio is the run's noise floor (A/A)")
    if args.reference:
        print("  benches/reference-filter in envoy/bench-with-filter.yaml instead of mesh-guardrail, computing nothing:")
        if args.ladder:
            print("  sdk-noop  = returns Continue everywhere, calls no host function (Envoy + V8 cost of any SDK filter)")
        print("  reference = holds the headers, buffers and reads the body, adds two headers (the do-nothing filter)")
        if args.ladder:
            print("  mirror    = the host calls mesh-guardrail makes on these bodies: request headers and body read,")
            print("              response headers read (content-length removed) and body read, four counters")
    if args.floor:
        print("  floor   = envoy/bench-with-filter.yaml, detectors off: %s" % FLOOR_CONFIG)
    print("  upstream = a listener of the same Envoy: buffer + direct_response chat.completion (costs ~nothing)")
    print("  2 cores: the loaded Envoy's single worker on one, wrk's single thread on the other; only one Envoy")
    print("  is loaded at a time (the other idles)")
    if args.fresh:
        print("  every round starts a fresh Envoy of each configuration (1 s warm-up each): two Envoys of the same")
        print("  configuration differ by up to 10% here, so one instance per configuration would bias the ratio")

    # Sanity: each answers 200 with the upstream's JSON (a blocked request would fake a speed-up).
    def sanity(envs, show):
        for label, path in bodies.items():
            with open(path, "rb") as f:
                body = f.read()
            for name, e in envs.items():
                st, hdrs, b = http("POST", e.url, body, {"content-type": "application/json"})
                if st != 200 or b"chat.completion" not in b:
                    die("sanity: %s filter, %s body: HTTP %d %s" % (name, label, st, b[:300]))
                g = {k.lower(): v for k, v in hdrs.items() if k.lower().startswith("x-guardrail")}
                if g and show:
                    print("  sanity %s/%s: %s" % (name, label, g))
    sanity(envoys, True)
    print()

    mem_before = {n: e.memory() for n, e in envoys.items()}
    if args.fresh:
        # Memory: the long-lived pair under load (the rounds run on fresh Envoys).
        soak = {}
        for label, n in sizes:
            for name in ("with", "without"):
                r_ = run_wrk(envoys[name].url, bodies[label], args.soak, args.threads, args.conns)
                soak[name] = soak.get(name, 0) + r_["requests"]
        mem_after = {n: e.memory() for n, e in envoys.items()}

    # Load, alternating.
    results = {}  # (label, name) -> [res...]
    for label, n in sizes:
        names = [x for x in specs if label == sizes[0][0] or x not in LADDER_ONLY_FIRST]
        if not args.fresh:
            for name in names:  # warm-up (V8 tiering, connection pools), discarded
                run_wrk(envoys[name].url, bodies[label], 2, args.threads, args.conns)
        print("Load: POST %s chat JSON (%d bytes) -> /v1/chat/completions" % (label, n))
        print("  %-5s %-8s %11s %9s %9s %8s %9s %6s" % ("round", "filter", "req/s", "p50_ms", "p99_ms", "envoy%", "non2xx", "errors"))
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]  # ABBA / rotated
            if len(names) == 2 and r % 2:
                order = names[::-1]
            live = envoys
            if args.fresh:
                live = spawn(names, ".%s.r%d" % (label.lower(), r + 1))
                sanity(live, False)
                for name in names:  # warm-up (V8 tiering, connection pools), discarded
                    run_wrk(live[name].url, bodies[label], 1, args.threads, args.conns)
            for name in order:
                e = live[name]
                c0, t0 = cpu_seconds(e.pid), time.time()
                res = run_wrk(e.url, bodies[label], args.secs, args.threads, args.conns)
                res["cpu"] = 100.0 * (cpu_seconds(e.pid) - c0) / (time.time() - t0)
                results.setdefault((label, name), []).append(res)
                print("  %-5d %-8s %11.0f %9.3f %9.3f %7.0f%% %9d %6d" % (
                    r + 1, name, res["rps"], res["p50"], res["p99"], res["cpu"], res["non2xx"], res["errors"]),
                    flush=True)
            if args.fresh:
                stop(live.values())
        print()
    if not args.fresh:
        mem_after = {n: e.memory() for n, e in envoys.items()}
    for extra in ("floor", "reference", "sdk-noop", "mirror", "without-2"):
        mem_before.pop(extra, None)
        mem_after.pop(extra, None)

    # Streaming TTFB.
    sse_path = os.path.join(TMP, "sse.json")
    with open(sse_path, "w") as f:
        json.dump({"model": "gpt-4o-mini", "stream": True,
                   "messages": [{"role": "system", "content": "You are a helpful assistant."},
                                {"role": "user", "content": "Summarise the rollout plan in one short sentence please."}]}, f)
    ttfb = {"with": [], "without": []}
    total = {"with": [], "without": []}
    bad = 0
    for name in ("with", "without"):  # warm-up
        for _ in range(3):
            curl_ttfb(envoys[name].url, sse_path)
    for i in range(args.ttfb_n):
        order = ("with", "without") if i % 2 == 0 else ("without", "with")
        for name in order:
            r = curl_ttfb(envoys[name].url, sse_path)
            if r is None or r[0] != 200:
                bad += 1
                continue
            ttfb[name].append(r[1])
            total[name].append(r[2])
    # The stream passes through whole and unbuffered: check content once.
    st, _, b = http("POST", with_f.url, open(sse_path, "rb").read(),
                    {"content-type": "application/json", "x-bench-upstream": "mock", "x-mock-chunk-delay-ms": "1"})
    sse_ok = st == 200 and b.rstrip().endswith(b"data: [DONE]")

    # ---- report
    print("Summary through Envoy (medians over rounds; ratio = median of per-round with/without req/s)")
    print("  %-5s %-8s %11s %9s %9s %8s %12s" % ("body", "filter", "req/s", "p50_ms", "p99_ms", "envoy%", "ratio"))
    for label, n in sizes:
        w, wo = results[(label, "with")], results[(label, "without")]
        ratios = [a["rps"] / b["rps"] for a, b in zip(w, wo) if b["rps"] > 0]
        ratio = med(ratios)
        rows = [("with", w), ("without", wo)]
        ratio_of = {"with": ratio}
        for extra in ("without-2", "sdk-noop", "reference", "mirror", "floor"):
            if (label, extra) in results:
                rs = results[(label, extra)]
                ratio_of[extra] = med([a["rps"] / b["rps"] for a, b in zip(rs, wo) if b["rps"] > 0])
                rows.append((extra, rs))
        for name, rs in rows:
            r_ = "%.3f" % ratio_of[name] if name in ratio_of else ""
            print("  %-5s %-8s %11.0f %9.3f %9.3f %7.0f%% %12s" % (
                label, name, med([x["rps"] for x in rs]), med([x["p50"] for x in rs]), med([x["p99"] for x in rs]),
                med([x["cpu"] for x in rs]), r_))
        cpu_w = med([x["cpu"] for x in w])
        # Envoy CPU time per request: with a saturated single worker this is the filter's cost.
        per_req = lambda rs: med([x["cpu"] / 100.0 / x["rps"] * 1e6 for x in rs if x["rps"] > 0])
        added_us = per_req(w) - per_req(wo)
        line = "  %-5s Envoy CPU per request: with %.0f us, without %.0f us -> the filter adds %.0f us/request" % (
            label, per_req(w), per_req(wo), added_us)
        if args.floor:
            line += " (floor, detectors off: +%.0f us)" % (per_req(results[(label, "floor")]) - per_req(wo))
        print(line)
        summary.append("envoy.added_us_per_req.%s=%.0f" % (label.lower(), added_us))
        if (label, "reference") in results:
            ref = results[(label, "reference")]
            ref_us = per_req(ref) - per_req(wo)
            summary.append("envoy.reference_ratio.%s=%.3f" % (label.lower(), ratio_of["reference"]))
            summary.append("envoy.reference_added_us.%s=%.0f" % (label.lower(), ref_us))
            if (label, "mirror") in results and (label, "sdk-noop") in results:
                # Where the CPU per request goes, one rung at a time (medians of rounds).
                rungs = [("without", "Envoy, no filter", None),
                         ("sdk-noop", "+ any Rust SDK filter (calls into V8, contexts)", "sdk-noop"),
                         ("reference", "+ hold the headers, buffer and read the body", "reference"),
                         ("mirror", "+ mesh-guardrail's other host calls (response, counters)", "mirror"),
                         ("with", "+ mesh-guardrail's own computation (detectors)", "with")]
                print("  %-5s Envoy CPU per request, layer by layer:" % label)
                prev = None
                for key, what, rname in rungs:
                    us = per_req(results[(label, key)])
                    print("  %-5s   %-58s %s%s" % (
                        label, what, "%6.0f us" % us if prev is None else "%+6.0f us" % (us - prev),
                        "   ratio %.3f" % ratio_of[rname] if rname else ""))
                    prev = us
                    if rname:
                        summary.append("envoy.ratio_%s.%s=%.3f" % (rname, label.lower(), ratio_of[rname]))
                own = per_req(w) - per_req(results[(label, "mirror")])
                summary.append("envoy.own_us_per_req.%s=%.0f" % (label.lower(), own))
            else:
                print("  %-5s the reference filter adds %.0f us/request (ratio %.3f): Envoy's cost of any Wasm filter"
                      " that holds and reads the body; mesh-guardrail's own work is the other %.0f us"
                      % (label, ref_us, ratio_of["reference"], added_us - ref_us))
        if cpu_w < 80:
            print("  %-5s note: the with-filter Envoy used only %.0f%% CPU: the host is busy with other work, "
                  "ratios are noisy" % (label, cpu_w))
        errs = sum(x["non2xx"] + x["errors"] for x in w + wo)
        p50_add = med([x["p50"] for x in w]) - med([x["p50"] for x in wo])
        print("  %-5s ratio with/without %.3f (per round: %s; min %.3f), p50 added %.3f ms, errors %d%s" % (
            label, ratio, " ".join("%.2f" % x for x in ratios), min(ratios) if ratios else float("nan"), p50_add, errs,
            ("  [target >= 0.80: %s%s%s]" % ("OK" if ratio >= 0.80 else "BELOW",
                                            "; sdk-noop %.3f" % ratio_of["sdk-noop"] if "sdk-noop" in ratio_of else "",
                                            "; A/A %.3f" % ratio_of["without-2"] if "without-2" in ratio_of else ""))
            if label == "4K" else ""))
        summary.append("envoy.ratio.%s=%.3f" % (label.lower(), ratio))
        if "without-2" in ratio_of:
            summary.append("envoy.aa_ratio.%s=%.3f" % (label.lower(), ratio_of["without-2"]))
        summary.append("envoy.p50_added_ms.%s=%.3f" % (label.lower(), p50_add))
    print()

    tw, two = med(ttfb["with"]), med(ttfb["without"])
    print("Streaming: SSE from examples/mock_llm.py through Envoy (first event at once, then 5 ms between chunks),")
    print("  curl time_starttransfer, %d alternating requests each (failed: %d); stream intact through the filter: %s"
          % (args.ttfb_n, bad, "yes" if sse_ok else "NO"))
    print("  %-8s %12s %12s %14s" % ("filter", "TTFB_p50_ms", "TTFB_p90_ms", "total_p50_ms"))
    for name in ("with", "without"):
        xs = sorted(ttfb[name])
        p90 = xs[int(0.9 * (len(xs) - 1))] if xs else float("nan")
        print("  %-8s %12.3f %12.3f %14.3f" % (name, med(xs), p90, med(total[name])))
    print("  TTFB added by the filter: %.3f ms (target < 1 ms: %s)" % (tw - two, "OK" if tw - two < 1.0 else "ABOVE"))
    summary.append("envoy.ttfb_added_ms=%.3f" % (tw - two))
    print()

    print("Module and memory")
    print("  wasm module: %s  %d bytes (%.0f KiB)  [target < 1 MB: %s]" % (
        os.path.relpath(args.wasm, ROOT), wasm_size, wasm_size / 1024.0, "OK" if wasm_size < 1_000_000 else "ABOVE"))
    summary.append("wasm_bytes=%d" % wasm_size)
    print("  %-8s %-7s %12s %14s %14s" % ("envoy", "when", "VmRSS", "allocated", "heap_size"))
    for name in ("with", "without"):
        for when, m in (("before", mem_before[name]), ("after", mem_after[name])):
            print("  %-8s %-7s %12s %14s %14s" % (
                name, when, fmt_bytes(m["rss_kb"] * 1024 if m.get("rss_kb") else None),
                fmt_bytes(m.get("allocated")), fmt_bytes(m.get("heap_size"))))
    a, b = mem_after["with"].get("rss_kb"), mem_after["without"].get("rss_kb")
    if a and b:
        print("  the filter's cost in RSS after load (with - without): %s (V8 runtime + the filter VMs, v8.active below)"
              % fmt_bytes((a - b) * 1024))
        summary.append("envoy.rss_delta_mib=%.1f" % ((a - b) / 1024.0))
    grow = None
    if mem_before["with"].get("rss_kb") and mem_after["with"].get("rss_kb"):
        grow = mem_after["with"]["rss_kb"] - mem_before["with"]["rss_kb"]
        print("  with-filter RSS growth over the load: %s%s" % (
            fmt_bytes(grow * 1024), " (%d requests, %d s per body size)" % (soak["with"], args.soak) if args.fresh else ""))
    interesting = re.compile(r"(runtime\.v8\.(active|created)|wasm.*(memory|heap)|guardrail)", re.I)
    lines_b = {l.split(":")[0]: l.split(":", 1)[1].strip() for l in mem_before["with"]["wasm_stats"] if ":" in l}
    lines_a = {l.split(":")[0]: l.split(":", 1)[1].strip() for l in mem_after["with"]["wasm_stats"] if ":" in l}
    keys = [k for k in lines_a if interesting.search(k) and lines_a[k] not in ("No recorded values",)]
    if keys:
        print("  /stats?filter=wasm (with-filter Envoy)          before -> after")
        for k in keys[:20]:
            print("    %-52s %s -> %s" % (k, lines_b.get(k, "-"), lines_a[k]))
    print()

    if args.agent:
        stop(list(envoys.values()))
        agent_part(args, specs, spawn, summary)

    if args.summary:
        with open(args.summary, "a") as f:
            for s in summary:
                f.write(s + "\n")
    return 0


def agent_part(args, specs, spawn, summary):
    """The agent load: per bucket, fresh Envoys without a filter, with the reference filter and
    with mesh-guardrail ({}) every round, rotated; wrk cycles through the conversation bodies."""
    if not args.agent:
        return
    out_dir = os.path.join(TMP, "agent")
    gen = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "agent_load.py"), "--out", out_dir,
                          "--buckets", args.agent], capture_output=True, text=True, cwd=ROOT)
    if gen.returncode != 0:
        die("scripts/agent_load.py failed: %s" % gen.stderr[-2000:])
    buckets = [json.loads(l) for l in gen.stdout.splitlines() if l.strip()]
    names = [n for n in ("without", "reference", "with", "floor") if n in specs]
    print()
    print("Agent load (scripts/agent_load.py, seed 17; bench/agent.lua): distinct conversations, each request the")
    print("  history plus one new user or tool turn; wrk cycles through the bodies in turn order (never the same")
    print("  body twice in a row), each pass with new turns (epoch marker); -c%d; fresh Envoys every round"
          % args.agent_conns)
    results = {}
    for b in buckets:
        label = b["bucket"]
        print("Load: agent %s: %d bodies from %d conversations, %d to %d bytes (median %d)" % (
            label, b["bodies"], b["conversations"], b["min"], b["max"], b["median"]))
        with open(b["path"], "rb") as f:
            first = f.read(2000000)
        nl = first.index(b"\n")
        body0 = first[nl + 1:nl + 1 + int(first[:nl])].replace(b"~~EPOCH~~", b"aaaaaaaaa")
        print("  %-5s %-9s %11s %9s %9s %8s %9s %6s" % ("round", "filter", "req/s", "p50_ms", "p99_ms", "envoy%",
                                                       "non2xx", "errors"))
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            live = spawn(names, ".agent-%s.r%d" % (label.lower(), r + 1))
            for name, e in live.items():
                st, _, rb = http("POST", e.url, body0, {"content-type": "application/json"})
                if st != 200 or b"chat.completion" not in rb:
                    die("sanity (agent %s): %s: HTTP %d %s" % (label, name, st, rb[:300]))
            for name in names:  # warm-up (V8 tiering, connection pools), discarded
                run_wrk_agent(live[name].url, b["path"], 1, args.threads, args.agent_conns)
            for name in order:
                e = live[name]
                k0 = reuse_counters(e) if name in ("with", "floor") else {}
                c0, t0 = cpu_seconds(e.pid), time.time()
                res = run_wrk_agent(e.url, b["path"], args.secs, args.threads, args.agent_conns)
                res["cpu"] = 100.0 * (cpu_seconds(e.pid) - c0) / (time.time() - t0)
                if k0:
                    k1 = reuse_counters(e)
                    res["reuse"] = {k: k1.get(k, 0) - v for k, v in k0.items()}
                results.setdefault((label, name), []).append(res)
                print("  %-5d %-9s %11.0f %9.3f %9.3f %7.0f%% %9d %6d" % (
                    r + 1, name, res["rps"], res["p50"], res["p99"], res["cpu"], res["non2xx"], res["errors"]),
                    flush=True)
            stop(live.values())
        print()
    print("Summary, agent load (medians over rounds; ratio = median of per-round ratios to Envoy without a filter)")
    print("  %-6s %-9s %11s %9s %9s %10s %16s" % ("bucket", "filter", "req/s", "p50_ms", "p99_ms", "ratio",
                                                   "vs reference"))
    for b in buckets:
        label = b["bucket"]
        wo = results[(label, "without")]
        ratio_of = {}
        for name in names:
            rs = results[(label, name)]
            ratio_of[name] = med([a["rps"] / w["rps"] for a, w in zip(rs, wo) if w["rps"] > 0])
        for name in names:
            rs = results[(label, name)]
            vs = ""
            if name == "with" and "reference" in results_names(results, label):
                ref = results[(label, "reference")]
                vs = "%.3f" % med([a["rps"] / x["rps"] for a, x in zip(rs, ref) if x["rps"] > 0])
                summary.append("envoy.agent.with_vs_reference.%s=%s" % (label.lower(), vs))
            print("  %-6s %-9s %11.0f %9.3f %9.3f %10.3f %16s" % (
                label, name, med([x["rps"] for x in rs]), med([x["p50"] for x in rs]), med([x["p99"] for x in rs]),
                ratio_of[name], vs))
            summary.append("envoy.agent.ratio_%s.%s=%.3f" % (name, label.lower(), ratio_of[name]))
        for name in ("with", "floor"):
            tot = {}
            for x in results.get((label, name), []):
                for k, v in x.get("reuse", {}).items():
                    tot[k] = tot.get(k, 0) + v
            mh, mm = tot.get("cache.memo_hits", 0), tot.get("cache.memo_misses", 0)
            ch, cm = tot.get("cache.hits", 0), tot.get("cache.misses", 0)
            if mh + mm:
                print("  %-6s %-9s conversation memo: %d of %d requests resumed (%.1f%%); verdict cache: %d of %d "
                      "text lookups hit (wasmcustom.mesh_guardrail.cache.*, measured runs)" % (
                          label, name, mh, mh + mm, 100.0 * mh / (mh + mm), ch, ch + cm))
                summary.append("envoy.agent.memo_hit_rate_%s.%s=%.3f" % (name, label.lower(), mh / (mh + mm)))
        errs = sum(x["non2xx"] + x["errors"] for n in names for x in results[(label, n)])
        per = " ".join("%.2f" % (a["rps"] / w["rps"]) for a, w in zip(results[(label, "with")], wo) if w["rps"] > 0)
        print("  %-6s mesh-guardrail per round: %s; errors %d" % (label, per, errs))
    print()


def reuse_counters(e):
    """The filter's memo and cache counters (wasmcustom.mesh_guardrail.cache.*) of Envoy `e`."""
    out = {}
    try:
        _, _, b = http("GET", "http://127.0.0.1:%d/stats?filter=mesh_guardrail%%5C.cache" % e.admin, timeout=5)
    except OSError:
        return out
    for line in b.decode(errors="replace").splitlines():
        m = re.match(r"wasmcustom\.mesh_guardrail\.(cache\.\w+): (\d+)$", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def results_names(results, label):
    return {n for (l, n) in results if l == label}


if __name__ == "__main__":
    sys.exit(main())
