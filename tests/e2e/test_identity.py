"""Who pays: the quota identity behind Envoy's real `jwt_authn` filter (issue 12, row 2).

Envoy runs `envoy.filters.http.jwt_authn` before the Wasm filter, with a local JWKS given
inline: an HS256 key generated for the test (a `kty: oct` JWK) and tokens signed here with the
standard library. jwt_authn verifies the token and writes its payload into dynamic metadata
(`payload_in_metadata: jwt_payload`); requests without a token pass it (`allow_missing`), a
token that does not verify is answered 401 by jwt_authn itself.

- `quota.identity.source: jwt`: the verified `sub` claim picks the bucket and `plan` the tier;
  a client-sent `x-user-id` / `x-user-tier` changes nothing; no token: 401 `missing_user_id`.
- `source: headers` (the default): a user or tier header sent more than once (an authn layer
  that appends leaves the client's value first) is 400 `ambiguous_identity`; the first value
  used to pick the bucket and the tier. Envoy's own jwt_authn (1.36 to 1.40) removes
  client-sent copies of its `claim_to_headers` headers: pinned here too.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import time
import uuid

import pytest

import harness
from harness import chat_body, is_openai_error, request

CHAT = "/v1/chat/completions"
ISSUER = "https://issuer.test.invalid"
KID = "e2e"
TIERS = {"free": {"daily_requests": 5}, "premium": {"daily_requests": 50}}
PRICING = {"default": {"input_per_1m_usd": 1.0, "output_per_1m_usd": 2.0}}
JWT_QUOTA = {"quota": {"tiers": TIERS, "pricing": PRICING, "identity": {
    "source": "jwt", "payload_key": "jwt_payload", "user_claim": "sub", "tier_claim": "plan"}}}
HEADER_QUOTA = {"quota": {"tiers": TIERS, "pricing": PRICING}}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def secret():
    return os.urandom(32)


def sign(secret, claims):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    payload = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret, (header + "." + payload).encode(), hashlib.sha256).digest()
    return header + "." + payload + "." + b64url(sig)


def token(secret, sub, **claims):
    now = int(time.time())
    return sign(secret, dict({"iss": ISSUER, "sub": sub, "iat": now, "exp": now + 600}, **claims))


def bootstrap(plugin_config, upstream_port, secret, claim_to_headers=False):
    cfg = harness.envoy_config(plugin_config, upstream_port)
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    jwks = json.dumps({"keys": [{"kty": "oct", "kid": KID, "alg": "HS256", "k": b64url(secret)}]})
    provider = {
        "issuer": ISSUER,
        "local_jwks": {"inline_string": jwks},
        "payload_in_metadata": "jwt_payload",
    }
    if claim_to_headers:
        provider["claim_to_headers"] = [{"header_name": "x-user-id", "claim_name": "sub"}]
    hcm["http_filters"].insert(0, {"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {"test": provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
            {"provider_name": "test"}, {"allow_missing": {}}]}}}],
    }})
    return cfg


@pytest.fixture(scope="module")
def envoys(mock, secret):
    started = []

    def start(plugin_config, claim_to_headers=False):
        e = harness.Envoy(plugin_config, mock.port, name="test_identity",
                          bootstrap=bootstrap(plugin_config, mock.port, secret, claim_to_headers))
        started.append(e)
        return e

    yield start
    for e in started:
        e.stop()


@pytest.fixture(scope="module")
def jwt_envoy(envoys):
    return envoys(JWT_QUOTA)


@pytest.fixture(scope="module")
def header_envoy(envoys):
    return envoys(HEADER_QUOTA, claim_to_headers=True)


def uid(tag):
    return "%s-%s" % (tag, uuid.uuid4().hex[:12])


def chat(envoy, headers):
    return request(envoy.url, "POST", CHAT, chat_body("What is the capital of France?"), headers=headers)


def raw_request(envoy, headers):
    """POST with header lines sent exactly as given (repeated names included)."""
    host, port = envoy.host_port
    body = json.dumps(chat_body("hello")).encode()
    conn = http.client.HTTPConnection(host, port, timeout=harness.REQUEST_TIMEOUT)
    try:
        conn.putrequest("POST", CHAT)
        conn.putheader("content-type", "application/json")
        conn.putheader("content-length", str(len(body)))
        for k, v in headers:
            conn.putheader(k, v)
        conn.endheaders(body)
        resp = conn.getresponse()
        return harness.Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def assert_error(r, status, code):
    assert r.status == status, r
    assert is_openai_error(r), r
    assert r.json()["error"]["code"] == code, r


def test_verified_sub_picks_the_bucket_and_claim_the_tier(jwt_envoy, secret):
    alice, victim = uid("alice"), uid("victim")
    bearer = {"authorization": "Bearer " + token(secret, alice)}
    for want in ("4", "3"):
        r = chat(jwt_envoy, bearer)
        assert r.status == 200, r
        assert r.headers["x-ratelimit-limit-requests"] == "5"
        assert r.headers["x-ratelimit-remaining-requests"] == want
    # A client-sent user and tier change neither the bucket nor the tier.
    r = chat(jwt_envoy, dict(bearer, **{"x-user-id": victim, "x-user-tier": "premium"}))
    assert r.status == 200, r
    assert r.headers["x-ratelimit-limit-requests"] == "5"
    assert r.headers["x-ratelimit-remaining-requests"] == "2"
    # The victim's own bucket is untouched.
    r = chat(jwt_envoy, {"authorization": "Bearer " + token(secret, victim)})
    assert r.headers["x-ratelimit-remaining-requests"] == "4", r
    # The tier comes from the token.
    r = chat(jwt_envoy, {"authorization": "Bearer " + token(secret, uid("gold"), plan="premium")})
    assert r.status == 200, r
    assert r.headers["x-ratelimit-limit-requests"] == "50"


def test_bucket_exhaustion_follows_the_token(jwt_envoy, secret, mock):
    alice = uid("alice")
    bearer = {"authorization": "Bearer " + token(secret, alice)}
    for _ in range(5):
        assert chat(jwt_envoy, bearer).status == 200
    mock.clear()
    # Out of quota: another x-user-id does not buy more.
    r = chat(jwt_envoy, dict(bearer, **{"x-user-id": uid("fresh")}))
    assert_error(r, 429, "daily_request_limit_exceeded")
    assert mock.requests() == []


def test_no_token_is_401_and_headers_do_not_count(jwt_envoy, mock):
    mock.clear()
    r = chat(jwt_envoy, {"x-user-id": uid("mallory"), "x-user-tier": "premium"})
    assert_error(r, 401, "missing_user_id")
    assert "claim `sub`" in r.json()["error"]["message"]
    assert mock.requests() == []


def test_bad_token_is_refused_by_jwt_authn(jwt_envoy, mock):
    mock.clear()
    forged = token(os.urandom(32), uid("mallory"))
    r = chat(jwt_envoy, {"authorization": "Bearer " + forged})
    assert r.status == 401, r
    assert mock.requests() == []


def test_claim_to_headers_replaces_a_client_value(header_envoy, secret, mock):
    # Pinned, not fixed here: Envoy's jwt_authn (1.36 to 1.40) removes client-sent copies of
    # its claim_to_headers headers before adding the verified value, so the verified user
    # pays even without the filter's own check below (older Envoys appended instead).
    alice, victim = uid("alice"), uid("victim")
    bearer = ("authorization", "Bearer " + token(secret, alice))
    r = raw_request(header_envoy, [bearer, ("x-user-id", victim)])
    assert r.status == 200, r
    assert r.headers["x-ratelimit-remaining-requests"] == "4"
    r = raw_request(header_envoy, [("x-user-id", victim)])  # no token: jwt_authn removes it
    assert_error(r, 401, "missing_user_id")
    r = raw_request(header_envoy, [bearer])
    assert r.headers["x-ratelimit-remaining-requests"] == "3", r


@pytest.mark.parametrize("lines", [
    [("x-user-id", "first"), ("x-user-id", "second")],
    [("x-user-id", ""), ("x-user-id", "second")],
    [("x-user-id", "one"), ("x-user-tier", "free"), ("x-user-tier", "premium")],
], ids=["user_twice", "user_empty_then_set", "tier_twice"])
def test_repeated_identity_header_lines_are_refused(start_envoy, mock, lines):
    # Any authn layer that appends (older jwt_authn, Lua, ext_authz with append) leaves the
    # client's value first; the first value used to pick the bucket and the tier.
    envoy = start_envoy(HEADER_QUOTA)
    tag = uid("twice")
    lines = [(k, v and "%s-%s" % (v, tag) if k == "x-user-id" else v) for k, v in lines]
    mock.clear()
    r = raw_request(envoy, lines)
    assert_error(r, 400, "ambiguous_identity")
    assert "x-user-" in r.json()["error"]["message"]
    assert tag not in r.text
    assert mock.requests() == []
    r = raw_request(envoy, [("x-user-id", "single-" + tag)])
    assert r.status == 200, r
