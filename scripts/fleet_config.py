#!/usr/bin/env python3
"""Make the fleet's two configurations from one source, examples/fleet/limits.json:

  examples/fleet/rls-limits.json   the limits file of the RLS (rls/, mesh-guardrail-rls --config)
  examples/fleet/guardrail.json    the filter's plugin configuration (quota.backend: rls)

    scripts/fleet_config.py            writes both
    scripts/fleet_config.py --check    fails if either differs from what the source gives

Per tier, `daily_requests`, `daily_tokens` and `daily_cost_usd` become one RLS limit each, per
user, over 86400 s, matched on the descriptor entries the filter sends (tenant, user, tier,
limit): `limit` is `requests` (1 hit a request), `tokens` (hits_addend = tokens) or `cost`
(hits_addend = micro-USD, so max_value = daily_cost_usd * 1e6). The same tiers and pricing go
into the plugin configuration, with quota.backend rls pointing at the Envoy cluster `ratelimit`.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLEET = os.path.join(ROOT, "examples", "fleet")
DAY = 86400
MICRO_USD = 1_000_000
KINDS = (("daily_requests", "requests", 1), ("daily_tokens", "tokens", 1),
         ("daily_cost_usd", "cost", MICRO_USD))


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ValueError("duplicate keys: %s" % ", ".join(sorted(dup)))
    return dict(pairs)


def rls_limits(src):
    limits = []
    for tier, spec in src["tiers"].items():
        # downgrade and clamp_max_tokens are the filter's alone.
        unknown = set(spec) - {k for k, _, _ in KINDS} - {"downgrade", "clamp_max_tokens"}
        if unknown:
            raise ValueError("tier %s: unknown fields %s" % (tier, sorted(unknown)))
        for field, kind, scale in KINDS:
            if field in spec:
                limits.append({
                    "name": "%s-%s" % (tier, kind),
                    "match": {"tier": tier, "limit": kind},
                    "per": "user",
                    "max_value": int(round(spec[field] * scale)),
                    "seconds": DAY,
                })
    return {"domain": src["domain"], "limits": limits}


def plugin_config(src):
    rls = dict(src["rls"])
    rls["domain"] = src["domain"]
    return {"quota": {
        "backend": "rls",
        "rls": rls,
        "default_tier": src["default_tier"],
        "tiers": src["tiers"],
        "pricing": src["pricing"],
    }}


def render(obj):
    return json.dumps(obj, indent=2) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=os.path.join(FLEET, "limits.json"))
    ap.add_argument("--out-dir", default=FLEET)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    with open(args.source) as f:
        src = json.load(f, object_pairs_hook=no_duplicates)
    outputs = {"rls-limits.json": render(rls_limits(src)),
               "guardrail.json": render(plugin_config(src))}
    stale = []
    for name, text in outputs.items():
        path = os.path.join(args.out_dir, name)
        if args.check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(path)
            except FileNotFoundError:
                stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("fleet_config.py: out of date (run scripts/fleet_config.py): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
