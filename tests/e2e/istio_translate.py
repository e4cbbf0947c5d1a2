"""The Envoy configuration Istio would give a proxy for the manifests of examples/istio/.

Pure functions (no I/O, no Istio): enough of istiod and of the istio-agent to run the manifests'
filter through a real Envoy.

- `wasmplugin_to_ecds(doc, wasm_path)`: the ECDS resource (a TypedExtensionConfig) istiod builds
  for a WasmPlugin (pilot/pkg/model/wasm.go `buildPluginConfig`, `buildVMConfig`,
  `buildDataSource`), after the istio-agent's rewrite (pkg/wasm/convert.go): the module is
  fetched and the remote code becomes a local file, the pull-secret variable is stripped.
  `wasmplugin_http_filter(doc)` is the HTTP filter istiod puts in the listener for it
  (pilot/pkg/networking/core/extension/wasmplugin.go `toEnvoyHTTPFilter`).
- `envoyfilter_to_ecds(doc, wasm_path)`: the TypedExtensionConfig an EnvoyFilter's
  EXTENSION_CONFIG ADD patch carries, as istiod serves it (verbatim), after the same agent
  rewrite. `envoyfilter_http_filter(doc, context)`: the value of its HTTP_FILTER patch.
- `bootstrap(ecds_path, upstream_port, http_filter)`: an Envoy bootstrap with one listener whose
  HTTP filters are that `config_discovery` filter (its ADS source replaced by the file
  `ecds_path`) and the router. `ecds_file(resource)` is that file's content.

What istiod does that is left out: choosing the listeners (selector, match, phase, priority
decide where the filter goes among Istio's own filters; here it is the only filter before the
router), the pull secret and the RBAC deny-all fallback it sends when a module cannot be loaded.
"""

import decimal
import json
import math
import urllib.parse

WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
TEC_TYPE = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
STRING_VALUE_TYPE = "type.googleapis.com/google.protobuf.StringValue"
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

# Variables istiod puts into vm_config.environment_variables.key_values for the istio-agent.
WASM_SECRET_ENV = "ISTIO_META_WASM_IMAGE_PULL_SECRET"
WASM_POLICY_ENV = "ISTIO_META_WASM_IMAGE_PULL_POLICY"
WASM_RESOURCE_VERSION_ENV = "ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION"
WASMPLUGIN_RESOURCE_PREFIX = "extensions.istio.io/wasmplugin/"

# istiod's ECDS source for WasmPlugins: ADS, and wait for the resource without a time limit.
ISTIOD_CONFIG_SOURCE = {"ads": {}, "resource_api_version": "V3", "initial_fetch_timeout": "0s"}

_FAILURE_POLICY = {"FAIL_CLOSE": "FAIL_CLOSED", "FAIL_OPEN": "FAIL_OPEN", "FAIL_RELOAD": "FAIL_RELOAD"}


# ---------------------------------------------------------------------------------------------
# google.protobuf.Struct -> JSON, as istiod's protomarshal.ToJSON writes pluginConfig
# ---------------------------------------------------------------------------------------------
def _number(x):
    """A Struct number is a double; Go's JSON encoders write it as encoding/json does: no
    exponent between 1e-6 and 1e21, shortest digits, so 5 -> "5", 1.0 -> "1", 5e-05 -> "0.00005"."""
    f = float(x)
    if math.isnan(f) or math.isinf(f):
        raise ValueError("a Struct cannot hold %r" % x)
    if f == 0:
        return "0"
    if 1e-6 <= abs(f) < 1e21:
        text = format(decimal.Decimal(repr(f)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    mant, _, exp = repr(f).partition("e")
    return "%se%s%d" % (mant, "-" if exp.startswith("-") else "+", abs(int(exp)))


def struct_json(value):
    """Compact JSON of a Struct value: keys sorted (Go marshals the Struct's map in key order),
    every number a double."""
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + struct_json(value[k]) for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(struct_json(v) for v in value) + "]"
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return _number(value)
    raise TypeError("not a Struct value: %r" % (value,))


# ---------------------------------------------------------------------------------------------
# WasmPlugin -> ECDS
# ---------------------------------------------------------------------------------------------
def _wasm_url(url):
    """istiod's parseWasmPluginURL: oci, file, http and https kept; anything else is an OCI
    reference without scheme (`registry:5000/img:tag` parses with scheme `registry`)."""
    u = urllib.parse.urlsplit(url)
    if u.scheme in ("oci", "file", "http", "https"):
        return u.scheme, url
    return "oci", "oci://" + url


def wasmplugin_http_filter(doc):
    """The HTTP filter istiod inserts for a WasmPlugin (named after the ECDS resource)."""
    return {"name": wasmplugin_resource_name(doc),
            "config_discovery": {"config_source": dict(ISTIOD_CONFIG_SOURCE),
                                 "type_urls": [WASM_TYPE, RBAC_TYPE]}}


def wasmplugin_resource_name(doc):
    meta = doc["metadata"]
    return WASMPLUGIN_RESOURCE_PREFIX + "%s.%s" % (meta.get("namespace", "default"), meta["name"])


def wasmplugin_to_istiod_ecds(doc, resource_version="1", proxy_version=(1, 28)):
    """The TypedExtensionConfig istiod sends (before the istio-agent sees it)."""
    if doc.get("kind") != "WasmPlugin":
        raise ValueError("not a WasmPlugin: %r" % doc.get("kind"))
    spec = doc["spec"]
    meta = doc["metadata"]
    if spec.get("type", "HTTP") not in ("HTTP", "UNSPECIFIED_PLUGIN_TYPE"):
        raise ValueError("only HTTP plugins are translated here")
    scheme, url = _wasm_url(spec["url"])
    if scheme == "file":
        code = {"local": {"filename": url[len("file://"):]}}
    else:
        remote = {"http_uri": {"uri": url, "timeout": "30s", "cluster": "_"}}
        if spec.get("sha256"):
            remote["sha256"] = spec["sha256"]
        code = {"remote": remote}
    key_values = {}
    if spec.get("imagePullSecret"):
        # istiod puts the secret's content here; the agent strips it (see agent_rewrite).
        key_values[WASM_SECRET_ENV] = "<content of %s>" % spec["imagePullSecret"]
    if spec.get("imagePullPolicy", "UNSPECIFIED_POLICY") != "UNSPECIFIED_POLICY":
        key_values[WASM_POLICY_ENV] = spec["imagePullPolicy"]
    key_values[WASM_RESOURCE_VERSION_ENV] = resource_version
    env_vars = {"key_values": key_values}
    envs = (spec.get("vmConfig") or {}).get("env") or []
    if envs:
        host_keys = []
        for e in envs:
            source = e.get("valueFrom", "INLINE")
            if source == "INLINE":
                key_values[e["name"]] = e.get("value", "")
            elif source == "HOST":
                host_keys.append(e["name"])
        env_vars["host_env_keys"] = host_keys
    plugin = {
        "name": "%s.%s" % (meta.get("namespace", "default"), meta["name"]),
        "root_id": spec.get("pluginName", ""),
        # vm_id: not set (empty). Every worker's VM of this code still shares one vm_id ("").
        "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": code, "environment_variables": env_vars},
    }
    if spec.get("pluginConfig"):
        plugin["configuration"] = {"@type": STRING_VALUE_TYPE, "value": struct_json(spec["pluginConfig"])}
    strategy = spec.get("failStrategy", "FAIL_CLOSE")
    if tuple(proxy_version) >= (1, 25):
        plugin["failure_policy"] = _FAILURE_POLICY[strategy]
    else:
        # Proxies before 1.25 get the (since deprecated) boolean.
        plugin["fail_open"] = strategy == "FAIL_OPEN"
    return {"name": wasmplugin_resource_name(doc), "typed_config": {"@type": WASM_TYPE, "config": plugin}}


def agent_rewrite(resource, wasm_path):
    """What the istio-agent does to a Wasm ECDS resource before Envoy gets it: a remote module
    (oci://, http[s]://) is fetched (here: `wasm_path` stands for the fetched file) and the code
    becomes a local file; the pull-secret variable is removed."""
    out = json.loads(json.dumps(resource))
    tc = out.get("typed_config", {})
    if tc.get("@type") != WASM_TYPE:
        return out
    vm = tc.get("config", {}).get("vm_config", {})
    if "remote" not in vm.get("code", {}):
        return out
    vm["code"] = {"local": {"filename": wasm_path}}
    env = vm.get("environment_variables")
    if env is not None:
        env.get("key_values", {}).pop(WASM_SECRET_ENV, None)
        if not env.get("key_values"):
            env.pop("key_values", None)
        if not env:
            vm.pop("environment_variables")
    return out


def wasmplugin_to_ecds(doc, wasm_path, resource_version="1", proxy_version=(1, 28)):
    """The ECDS resource Envoy receives for a WasmPlugin (istiod, then the istio-agent)."""
    return agent_rewrite(wasmplugin_to_istiod_ecds(doc, resource_version, proxy_version), wasm_path)


# ---------------------------------------------------------------------------------------------
# EnvoyFilter -> ECDS
# ---------------------------------------------------------------------------------------------
def _patches(doc, apply_to):
    if doc.get("kind") != "EnvoyFilter":
        raise ValueError("not an EnvoyFilter: %r" % doc.get("kind"))
    return [p for p in doc["spec"].get("configPatches", []) if p.get("applyTo") == apply_to]


def envoyfilter_to_ecds(doc, wasm_path):
    """The ECDS resource Envoy receives for the EnvoyFilter's EXTENSION_CONFIG ADD patch: istiod
    serves the patch value as it is, the istio-agent rewrites a remote module to a local file."""
    adds = [p for p in _patches(doc, "EXTENSION_CONFIG") if p["patch"].get("operation") == "ADD"]
    if len(adds) != 1:
        raise ValueError("expected one EXTENSION_CONFIG ADD patch, found %d" % len(adds))
    value = adds[0]["patch"]["value"]
    return agent_rewrite({"name": value["name"], "typed_config": value["typed_config"]}, wasm_path)


def envoyfilter_http_filter(doc, context="GATEWAY"):
    """The value of the EnvoyFilter's HTTP_FILTER patch for `context` (GATEWAY, SIDECAR_INBOUND)."""
    found = [p for p in _patches(doc, "HTTP_FILTER") if p.get("match", {}).get("context", "ANY") in (context, "ANY")]
    if len(found) != 1:
        raise ValueError("expected one HTTP_FILTER patch for %s, found %d" % (context, len(found)))
    return json.loads(json.dumps(found[0]["patch"]["value"]))


# ---------------------------------------------------------------------------------------------
# Envoy bootstrap fetching the ECDS resource from a file
# ---------------------------------------------------------------------------------------------
def ecds_file(resource, version="1"):
    """The content of a path_config_source file: a DiscoveryResponse, resources as Any."""
    return {"version_info": version, "resources": [dict({"@type": TEC_TYPE}, **resource)]}


def file_sourced(http_filter, ecds_path):
    """`http_filter` (a config_discovery filter) with its ADS source replaced by the file."""
    f = json.loads(json.dumps(http_filter))
    cd = f["config_discovery"]
    source = {"path_config_source": {"path": ecds_path}, "resource_api_version": "V3"}
    if "initial_fetch_timeout" in cd.get("config_source", {}):
        source["initial_fetch_timeout"] = cd["config_source"]["initial_fetch_timeout"]
    cd["config_source"] = source
    cd.setdefault("apply_default_config_without_warming", False)
    return f


def bootstrap(ecds_path, upstream_port, http_filter, listener_port=0, admin_port=0, route_timeout="120s"):
    """An Envoy bootstrap: listener -> `http_filter` (config_discovery from `ecds_path`) -> router
    -> 127.0.0.1:`upstream_port`."""
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": "istio_e2e",
        "codec_type": "AUTO",
        "stream_idle_timeout": "60s",
        "route_config": {"name": "istio_e2e", "virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": route_timeout}}]}]},
        "http_filters": [file_sourced(http_filter, ecds_path),
                         {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}],
    }
    return {
        # Filesystem subscriptions want a node identity.
        "node": {"id": "istio-e2e", "cluster": "istio-e2e"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [{
                "name": "istio_e2e",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
                "per_connection_buffer_limit_bytes": 2097152,
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}],
            }],
            "clusters": [{
                "name": "upstream", "type": "STATIC", "connect_timeout": "2s",
                "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [{"endpoint": {
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": upstream_port}}}}]}]},
            }],
        },
    }
