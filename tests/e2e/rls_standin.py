"""A stand-in for Envoy's rate-limit service (envoy.service.ratelimit.v3.RateLimitService/
ShouldRateLimit), for the filter's `quota.backend: rls` e2e tests until the repository's own
RLS (rls/, limitador) is wired into the suite. Not an engine: in-process counters, one lock.

Semantics (those of rls/ and, for one descriptor, of envoyproxy/ratelimit):
- a descriptor's hits: its own `hits_addend` if set, else the request's (0 counts 1);
- a limit applies to a descriptor by its `tier` and `limit` entries, one counter per `user`;
- a request is admitted when every descriptor fits (`remaining >= hits`; hits 0: remaining
  > 0); then every descriptor is charged, else none;
- a descriptor with the entry `hits_mode: report` is charged whatever the limit says and
  never refuses (a settlement).

Protobuf is encoded by hand (grpcio's generic handlers pass raw bytes): no generated code.

    rls = RlsStandin({("free", "requests"): 20}); rls.port; rls.counter("free", "requests",
    "r.alice"); rls.stop(); rls.start(); rls.delay_ms = 100
"""

import datetime
import threading
import time
from concurrent import futures

import grpc

SERVICE = "envoy.service.ratelimit.v3.RateLimitService"
DAY = 86400


def _varint(data, i):
    v = shift = 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, i
        shift += 7


def _fields(data):
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(data, i)
        elif wt == 2:
            n, i = _varint(data, i)
            v, i = data[i:i + n], i + n
        elif wt == 1:
            v, i = data[i:i + 8], i + 8
        elif wt == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, v


def _put_varint(out, v):
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _field_varint(out, num, v):
    _put_varint(out, num << 3)
    _put_varint(out, v)


def _field_bytes(out, num, b):
    _put_varint(out, (num << 3) | 2)
    _put_varint(out, len(b))
    out.extend(b)


def decode_request(data):
    """-> (domain, [(entries dict, hits or None)], request hits)"""
    domain, descriptors, hits = "", [], 0
    for num, v in _fields(data):
        if num == 1:
            domain = bytes(v).decode()
        elif num == 2:
            entries, dh = {}, None
            for n2, v2 in _fields(v):
                if n2 == 1:
                    kv = dict(_fields(v2))
                    entries[bytes(kv.get(1, b"")).decode()] = bytes(kv.get(2, b"")).decode()
                elif n2 == 3:
                    dh = dict(_fields(v2)).get(1, 0)
            descriptors.append((entries, dh))
        elif num == 3:
            hits = v
    return domain, descriptors, hits


def encode_response(overall, statuses):
    """statuses: [(code, limit or None, remaining, reset_secs)]"""
    out = bytearray()
    _field_varint(out, 1, overall)
    for code, limit, remaining, reset in statuses:
        st = bytearray()
        _field_varint(st, 1, code)
        if limit is not None:
            rl = bytearray()
            _field_varint(rl, 1, limit)
            _field_varint(rl, 2, 4)  # DAY
            _field_bytes(st, 2, rl)
            _field_varint(st, 3, remaining)
            d = bytearray()
            _field_varint(d, 1, reset)
            _field_bytes(st, 4, d)
        _field_bytes(out, 2, st)
    return bytes(out)


class RlsStandin:
    def __init__(self, limits, port=0):
        """limits: {(tier, limit kind): max per UTC day}"""
        self.limits = dict(limits)
        self.counters = {}
        self.calls = []
        self.delay_ms = 0
        self.lock = threading.Lock()
        self.port = port
        self.server = None
        self.start()

    def start(self):
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            "ShouldRateLimit": grpc.unary_unary_rpc_method_handler(self._should_rate_limit)})
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:%d" % self.port)
        self.server.start()

    def stop(self):
        if self.server is not None:
            self.server.stop(0).wait()
            self.server = None

    def counter(self, tier, kind, user):
        day = int(time.time()) // DAY
        return self.counters.get((day, tier, kind, user), 0)

    def _should_rate_limit(self, data, context):
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        _domain, descriptors, req_hits = decode_request(data)
        now = int(time.time())
        day, reset = now // DAY, DAY - now % DAY
        plan = []
        for entries, dh in descriptors:
            hits = dh if dh is not None else (req_hits or 1)
            report = entries.get("hits_mode") == "report"
            limit = self.limits.get((entries.get("tier"), entries.get("limit")))
            key = (day, entries.get("tier"), entries.get("limit"), entries.get("user"))
            plan.append((key, limit, hits, report))
        with self.lock:
            self.calls.append(descriptors)
            def fits(key, limit, hits, report):
                if limit is None or report:
                    return True
                left = limit - self.counters.get(key, 0)
                return left >= hits if hits else left > 0
            admitted = all(fits(*p) for p in plan)
            statuses = []
            for key, limit, hits, report in plan:
                ok = fits(key, limit, hits, report)
                if admitted or report:
                    self.counters[key] = self.counters.get(key, 0) + hits
                if limit is None:
                    statuses.append((1, None, 0, 0))
                else:
                    remaining = max(0, limit - self.counters.get(key, 0))
                    statuses.append((1 if ok else 2, limit, remaining, reset))
        return encode_response(1 if admitted else 2, statuses)


def rls_cluster(port, name="ratelimit"):
    """An Envoy cluster with HTTP/2 to the stand-in."""
    return {
        "name": name, "type": "STATIC", "connect_timeout": "1s",
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }


def utc_day():
    return datetime.datetime.now(datetime.timezone.utc).date()
