"""pytest fixtures for the end-to-end suite (real Envoy + the guardrail Wasm + the mock LLM).

Fixtures:
  mock          session: the mock LLM (examples/mock_llm.py) on a free port.
                `.url`, `.last()` (what the upstream received), `.requests()`, `.clear()`.
  start_envoy   module: a factory `start_envoy(plugin_config: dict|str = {}, concurrency=1,
                env=None, configuration_as="string")` -> Envoy with `.url`, `.admin_url`,
                `.log_text()`, `.stop()`. `env` adds Wasm VM environment variables (merged over
                GUARDRAIL_TOKEN_KEY). Instances are cached per module by their arguments and
                stopped at module end, so tests sharing a config share one Envoy. A refused
                configuration raises harness.EnvoyStartError (with `.log`).
  envoy         module: start_envoy({}).

When a test fails, the log lines every Envoy of the module wrote during that test (and the
logs of Envoys that failed to start) are attached to the report ("envoy log" section).
Full logs and generated configs stay in tests/e2e/.logs/.

Markers:
  statistical   a behavioural test that sends hundreds of requests to assert rates. It runs
                unless E2E_STATISTICAL=0; scripts/e2e_matrix.sh runs it in the newest Envoy's
                cells only (the matrix table counts the others as skipped), to keep CI short.
  cases         a test parametrized over many inputs to the module's own parser (refused
                configurations naming their field). With E2E_EVERY_CASE=0 only its first case
                runs; scripts/e2e_matrix.sh runs every case in the newest Envoy's cells.

E2E_LOG_DIR (default tests/e2e/.logs) holds the generated configs and Envoy logs; it is
emptied at the start of a session, so concurrent sessions need their own.
"""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import harness  # noqa: E402

# Every Envoy started in this session that is still referenced, with its log offset at the
# start of the current test: {id(envoy): (envoy, offset)}.
_LIVE = {}
_FAILED_STARTS = []  # logs of Envoys that failed to start during the current test


def pytest_sessionstart(session):
    # Fresh logs per session (the directory is git-ignored).
    if os.path.isdir(harness.LOG_DIR):
        for name in os.listdir(harness.LOG_DIR):
            try:
                os.remove(os.path.join(harness.LOG_DIR, name))
            except OSError:
                pass
    try:
        harness.require_wasm()
    except FileNotFoundError as e:
        pytest.exit(str(e), returncode=4)


def pytest_configure(config):
    config.addinivalue_line("markers", "statistical: many-request behavioural test (E2E_STATISTICAL=0 skips)")
    config.addinivalue_line("markers", "cases: parametrized over the module's own parsing of many inputs "
                                       "(E2E_EVERY_CASE=0 runs the first case only)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("E2E_STATISTICAL", "1") == "0":
        skip = pytest.mark.skip(reason="statistical test: runs in the newest Envoy's cells (E2E_STATISTICAL=0 here)")
        for item in items:
            if "statistical" in item.keywords:
                item.add_marker(skip)
    if os.environ.get("E2E_EVERY_CASE", "1") == "0":
        # The first case of each `cases` test still runs: Envoy's side (a refused plugin
        # configuration, the log line) is proven on every Envoy; the other cases exercise the
        # module's parser, the same code on every Envoy.
        skip = pytest.mark.skip(reason="further case of a `cases` test: runs in the newest Envoy's cells "
                                       "(E2E_EVERY_CASE=0 here)")
        seen = set()
        for item in items:
            if "cases" not in item.keywords:
                continue
            fn = (item.nodeid.split("[", 1)[0])
            if fn in seen:
                item.add_marker(skip)
            seen.add(fn)


@pytest.fixture(scope="session")
def mock():
    m = harness.MockLLM()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def start_envoy(mock, request):
    cache = {}

    def start(plugin_config=None, concurrency=1, env=None, configuration_as="string"):
        if plugin_config is None:
            plugin_config = {}
        key = (plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config, sort_keys=True),
               concurrency, json.dumps(env or {}, sort_keys=True), configuration_as)
        e = cache.get(key)
        if e is not None and e.alive():
            return e
        try:
            e = harness.Envoy(plugin_config, mock.port, concurrency=concurrency, env=env,
                              configuration_as=configuration_as, name=request.module.__name__.split(".")[-1])
        except harness.EnvoyStartError as err:
            _FAILED_STARTS.append(err.log)
            raise
        cache[key] = e
        _LIVE[id(e)] = (e, 0)
        return e

    yield start
    for e in cache.values():
        e.stop()
        _LIVE.pop(id(e), None)


@pytest.fixture(scope="module")
def envoy(start_envoy):
    return start_envoy({})


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _FAILED_STARTS.clear()
    for k, (e, _) in list(_LIVE.items()):
        _LIVE[k] = (e, e.log_size())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    chunks = []
    for e, offset in list(_LIVE.values()):
        text = e.log_text()[offset:]
        if text.strip():
            chunks.append("=== %s (%s) ===\n%s" % (e.config_path, "running" if e.alive() else "exited",
                                                  harness.tail(text, 200)))
    for log in _FAILED_STARTS:
        chunks.append("=== envoy that failed to start ===\n" + harness.tail(log, 200))
    if chunks:
        text = "\n".join(chunks)
        # Shown under the failure's traceback (pytest prints report sections with it).
        report.sections.append(("envoy log", text))
        if item.config.getoption("tbstyle", "auto") == "no":
            print("\n----- envoy log for %s (%s) -----\n%s" % (item.nodeid, report.when, text))
