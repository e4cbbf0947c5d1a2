#!/usr/bin/env python3
"""Write a copy of an Envoy config with the filter's plugin configuration taken from a JSON file
(GUARDRAIL_CONFIG in scripts/run.sh and scripts/run_fleet.sh) and `__NAME__` placeholders filled.

    scripts/plugin_config.py ENVOY_YAML OUT [--plugin-config FILE.json] [NAME=VALUE ...]

The plugin configuration replaces `__PLUGIN_CONFIG__` in a template, or else the `value:` line
under every `type.googleapis.com/google.protobuf.StringValue` of the mesh_guardrail filter. The
file must be one JSON object without duplicate keys; it is written compact, YAML-quoted.
A placeholder left unfilled is an error.
"""
import argparse
import json
import re
import sys

PLACEHOLDER = re.compile(r"__([A-Z][A-Z0-9_]*)__")


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError("duplicate keys: %s" % ", ".join(dup))
    return dict(pairs)


def load_plugin_config(path):
    with open(path) as f:
        obj = json.load(f, object_pairs_hook=no_duplicates)
    if not isinstance(obj, dict):
        raise ValueError("%s: the plugin configuration must be a JSON object" % path)
    return json.dumps(obj, separators=(",", ":"))


def yaml_single_quoted(text):
    return "'" + text.replace("'", "''") + "'"


def render(text, plugin_json, values):
    values = dict(values)
    if plugin_json is not None:
        if "__PLUGIN_CONFIG__" in text:
            values["PLUGIN_CONFIG"] = plugin_json.replace("'", "''")
        else:
            lines, replaced, after_type = [], 0, False
            for line in text.splitlines(keepends=True):
                if after_type and re.match(r"^\s*value:\s", line):
                    indent = line[: len(line) - len(line.lstrip())]
                    line = indent + "value: " + yaml_single_quoted(plugin_json) + "\n"
                    replaced += 1
                    after_type = False
                elif "type.googleapis.com/google.protobuf.StringValue" in line:
                    after_type = True
                elif line.strip() and not line.lstrip().startswith("#"):
                    after_type = False
                lines.append(line)
            if not replaced:
                raise ValueError("no plugin configuration (StringValue value:) found")
            text = "".join(lines)

    def fill(m):
        if m.group(1) not in values:
            raise ValueError("placeholder %s has no value" % m.group(0))
        return values[m.group(1)]

    out = []
    for line in text.splitlines(keepends=True):
        out.append(line if line.lstrip().startswith("#") else PLACEHOLDER.sub(fill, line))
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("envoy_yaml")
    ap.add_argument("out")
    ap.add_argument("--plugin-config")
    ap.add_argument("values", nargs="*", help="NAME=VALUE for __NAME__")
    args = ap.parse_intermixed_args()
    try:
        values = dict(v.split("=", 1) for v in args.values)
        plugin = load_plugin_config(args.plugin_config) if args.plugin_config else None
        with open(args.envoy_yaml) as f:
            text = render(f.read(), plugin, values)
    except (OSError, ValueError) as e:
        print("plugin_config.py: %s" % e, file=sys.stderr)
        return 1
    with open(args.out, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
