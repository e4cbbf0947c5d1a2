#!/usr/bin/env python3
"""Agent-shaped request bodies for `make bench` (issue 17): many distinct conversations, each
request being the conversation's history plus one new user or tool turn.

    python3 scripts/agent_load.py --out DIR [--buckets 4k,16k,64k,256k] [--seed 17] [--stats]

Writes DIR/agent-<BUCKET>.bodies per bucket: the request bodies (OpenAI chat JSON, compact), each
preceded by a line with its length in bytes, in sending order: turn k of every conversation,
then turn k + 1 (as concurrent agents would send them). bench/agent.lua (wrk) and
scripts/wasm_bench.mjs --bodies-file read this format.

Conversations (seeded, `random.Random(seed)`; sizes in bytes of message text):
  * system prompt: 0.5 to 1 x min(2500, bucket / 5), plus 4 tool definitions (~1.2 KB);
  * user turns: log-normal, median 250, clipped to 40..4000;
  * after a user turn the assistant makes 0 to 3 tool calls (arguments 60 to 400), each followed
    by its tool result: a JSON array of records (id, title, status, owner, amount, note, trace),
    log-normal, median 1500, clipped to 200..6000; 8% of the results are large, 8 to 24 KB;
  * then an assistant answer: log-normal, median 500, clipped to 100..3000.
Benign English (no PII, no attack phrases), like the single-body runs. A request is every point
where the last message is a user turn or a tool result; a bucket takes the consecutive points
of a conversation whose body is 0.75 to 1 x the bucket size (at most --per-conv of them), from
as many conversations as it needs for --count bodies (480; 120 at 256 KB).

Every user turn and tool result from a conversation's first request in the bucket on carries the
marker ~~EPOCH~~ (9 bytes; earlier turns carry a constant in its place). The sender replaces it
with the number of its pass over the bodies (bench/agent.lua: 9 letters, `aaaaaaaab`; digits would
read as PII), so that on each pass
the new turn of a request is text the filter has not seen, while its history is exactly what
the same conversation's previous request sent: as an agent's requests really arrive.
"""

import argparse
import json
import math
import os
import random
import statistics

MARK = "~~EPOCH~~"

SUBJECTS = ["The quarterly report", "Our onboarding flow", "The new billing service", "This migration plan",
            "The customer survey", "The support queue", "Our data pipeline", "The mobile app", "The deploy job",
            "The marketing budget", "The vendor contract", "The staging cluster", "The nightly export"]
VERBS = ["needs", "should include", "is missing", "depends on", "could benefit from", "was delayed by",
         "has to cover", "will replace", "does not handle", "already supports", "must document"]
OBJECTS = ["a clearer summary of the main risks", "more detail about the rollout timeline",
           "a section on error handling and retries", "better test coverage for edge cases",
           "the feedback we collected last month", "a short comparison with the previous version",
           "an estimate of the monthly cost", "a plan for the holiday season",
           "the latency figures from last week", "the open tickets from the east region"]
TAILS = ["before Friday", "for the next release", "so the team can review it", "in plain language",
         "as discussed yesterday", "if that is possible", "for the board meeting", "by the end of the sprint"]
ASKS = ["Can you check the open tickets for this?", "Could you summarise the results above?",
        "What would you change first?", "Please look up the latest numbers.",
        "Is there anything important I forgot?", "Can you compare this with last week?"]
STATUS = ["open", "closed", "pending", "escalated", "waiting on customer"]
TOOLS = [
    ("search_tickets", "Search the ticket database and return matching tickets as records."),
    ("get_metrics", "Return the time series of a service metric for a time range."),
    ("list_deployments", "List the deployments of a service with their status and owner."),
    ("read_document", "Return the text of an internal document by its id."),
]


def prose(rng, n):
    out, size = [], 0
    while size < n:
        s = rng.choice(ASKS) if rng.random() < 0.15 else "%s %s %s %s." % (
            rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(TAILS))
        out.append(s)
        size += len(s) + 1
    return " ".join(out)[:max(n, 1)]


def lognormal(rng, median, lo, hi, sigma=0.8):
    return int(min(hi, max(lo, median * math.exp(rng.gauss(0.0, sigma)))))


def tool_result(rng, n):
    recs, size = [], 2
    while size < n:
        rec = {"id": rng.randrange(10 ** 6), "title": prose(rng, rng.randrange(20, 60)),
               "status": rng.choice(STATUS), "owner": "team-%d" % rng.randrange(40),
               "amount": round(rng.random() * 10000, 2), "note": prose(rng, rng.randrange(40, 240)), "trace": MARK}
        s = json.dumps(rec, separators=(",", ":"))
        recs.append(rec)
        size += len(s) + 1
    return json.dumps(recs, separators=(",", ":"))


def conversation(rng, bucket, limit):
    """Yields (messages so far) at every request point, until the body passes `limit` bytes."""
    sys_n = int(rng.uniform(0.5, 1.0) * min(2500, bucket // 5))
    system = "You are an operations agent for an internal platform team. " + prose(rng, sys_n)
    tools = [{"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": {"query": {"type": "string", "description": "What to look for."},
                                         "limit": {"type": "integer"}}, "required": ["query"]}}}
             for name, desc in TOOLS]
    head = {"model": "gpt-4o", "temperature": 0.2, "tools": tools}
    msgs = [{"role": "system", "content": system}]
    call = 0

    def body():
        return json.dumps(dict(head, messages=msgs), separators=(",", ":"))

    while True:
        user = prose(rng, lognormal(rng, 250, 40, 4000)) + " (" + MARK + ")"
        msgs.append({"role": "user", "content": user})
        b = body()
        if len(b) > limit:
            return
        yield b
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
            call += 1
            cid = "call_%06d" % call
            name = rng.choice(TOOLS)[0]
            args = json.dumps({"query": prose(rng, lognormal(rng, 120, 40, 380)), "limit": rng.randrange(5, 50)})
            msgs.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}]})
            n = rng.randrange(8000, 24000) if rng.random() < 0.08 else lognormal(rng, 1500, 200, 6000)
            msgs.append({"role": "tool", "tool_call_id": cid, "content": tool_result(rng, n)})
            b = body()
            if len(b) > limit:
                return
            yield b
        msgs.append({"role": "assistant", "content": prose(rng, lognormal(rng, 500, 100, 3000))})


def fix_history(body, first):
    """`body` with the markers of messages before index `first` replaced by a constant."""
    d = json.loads(body)
    for m in d["messages"][:first]:
        if isinstance(m.get("content"), str):
            m["content"] = m["content"].replace(MARK, "zzzzzzzzz")
    return json.dumps(d, separators=(",", ":"))


def bucket_bodies(bucket, count, per_conv, seed):
    lo, hi = int(bucket * 0.75), bucket
    convs = []
    c = 0
    total = 0
    while total < count and c < 50 * count:
        rng = random.Random("%d/%d/%d" % (seed, bucket, c))
        c += 1
        points = [b for b in conversation(rng, bucket, hi) if len(b) >= lo][:per_conv]
        if len(points) < 2:
            continue  # a conversation that jumps over the window (a large tool result)
        points = points[:count - total]
        # Only the turns a request of the window brings carry the marker: the history before
        # the window is the same on every pass (seen before, as a long conversation's early
        # turns are), so a pass's first request is new only by its last turn too.
        first = len(json.loads(points[0])["messages"]) - 1
        points = [fix_history(p, first) for p in points]
        convs.append(points)
        total += len(points)
    # Sending order: turn k of every conversation, then turn k + 1.
    order = []
    for k in range(max(len(p) for p in convs)):
        for p in convs:
            if k < len(p):
                order.append(p[k])
    return convs, order


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--buckets", default="4k,16k,64k,256k")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--count", type=int, default=480, help="bodies per bucket (a quarter of it at 256 KB)")
    ap.add_argument("--per-conv", type=int, default=8, help="most requests taken from one conversation")
    ap.add_argument("--stats", action="store_true", help="print the size distribution per bucket")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for b in args.buckets.split(","):
        b = b.strip().lower()
        size = int(b[:-1]) * 1024 if b.endswith("k") else int(b)
        count = args.count if size < 256 * 1024 else max(1, args.count // 4)
        convs, order = bucket_bodies(size, count, args.per_conv, args.seed)
        path = os.path.join(args.out, "agent-%s.bodies" % b.upper())
        with open(path, "wb") as f:
            for body in order:
                data = body.encode()
                f.write(b"%d\n" % len(data))
                f.write(data)
        sizes = [len(x) for x in order]
        line = {"bucket": b.upper(), "path": path, "bodies": len(order), "conversations": len(convs),
                "min": min(sizes), "median": int(statistics.median(sizes)), "max": max(sizes)}
        if args.stats:
            msgs = [len(json.loads(x)["messages"]) for x in order]
            line["messages_median"] = int(statistics.median(msgs))
        print(json.dumps(line))


if __name__ == "__main__":
    main()
