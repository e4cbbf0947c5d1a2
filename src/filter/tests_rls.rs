//! Table tests of `quota.backend: rls` on the mock host: the request count in the headers
//! phase, the reservation in the body phase, each answer (OK, OVER_LIMIT, gRPC error, Envoy's
//! timeout, malformed), both failure modes, every hold mode, and the settlement report.

use super::mock::{Call, Stream};
use super::*;
use crate::config::Settings;
use crate::hold::RELEASE_AFTER_MS;
use crate::quota::rls::{encode_call, encode_response, Kind};

const EMAIL: &str = "jane.doe@example.com";
const CHAT: &str = "/v1/chat/completions";
const USER: &str = "r.alice";

fn rls_quota(extra: &str) -> String {
    format!(
        r#""quota": {{"backend": "rls", "rls": {{"cluster": "ratelimit", "timeout_ms": 40{extra}}},
        "tiers": {{"free": {{"daily_requests": 20, "daily_tokens": 10000, "daily_cost_usd": 1.0}},
                   "basic": {{"daily_requests": 5}}}},
        "pricing": {{"default": {{"input_per_1m_usd": 1.0, "output_per_1m_usd": 2.0}}}}}}"#
    )
}

fn settings(hold: &str, extra: &str) -> Settings {
    let json = format!(
        r#"{{"request": {{"hold_headers": "{hold}"}}, {}}}"#,
        rls_quota(extra)
    );
    match Settings::from_json(json.as_bytes(), vec![7; 32]) {
        Ok(s) => s,
        Err(e) => panic!("bad test settings {json}: {e}"),
    }
}

fn chat_body(text: &str) -> String {
    format!(r#"{{"model":"m","max_tokens":100,"messages":[{{"role":"user","content":"{text}"}}]}}"#)
}

fn headers<'a>(body: &str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, String)> {
    let mut h = vec![
        (":method", "POST".to_string()),
        (":path", CHAT.to_string()),
        ("content-type", "application/json".to_string()),
        ("content-length", body.len().to_string()),
        ("x-user-id", "alice".to_string()),
    ];
    h.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    h
}

fn send_headers(s: &mut Stream, h: &[(&str, String)]) -> Action {
    let refs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.request_headers(&refs, false)
}

/// The service's answer: OK with `remaining` of a limit of `limit` per day, reset in 3600 s.
fn ok(statuses: &[(u32, u32)]) -> Vec<u8> {
    let st: Vec<_> = statuses.iter().map(|&(l, r)| (1, l, r, 3600)).collect();
    encode_response(1, &st)
}

/// The request count call the filter must make.
fn count_call() -> Vec<u8> {
    encode_call(
        "mesh-guardrail",
        USER,
        "free",
        &[(Kind::Requests, 1)],
        false,
    )
}

/// What the body above reserves: prompt estimate + max_tokens 100, priced 1/2 USD per 1M.
fn reserve_amounts(body: &str) -> (u64, u64) {
    // The text is what the estimate counts: the message content only.
    let text = body
        .split("\"content\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_default();
    let prompt = (text.len() as u64).div_ceil(4);
    (prompt + 100, (prompt + 200).div_ceil(1))
}

fn chat_json(usage: (u64, u64)) -> String {
    format!(
        r#"{{"id":"x","object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":"hi"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{}}}}}"#,
        usage.0,
        usage.1,
        usage.0 + usage.1
    )
}

fn local(s: &Stream) -> (u32, String, Option<String>) {
    let Some(l) = &s.host.client.local else {
        panic!("no local reply; upstream {:?}", s.host.upstream.headers)
    };
    let retry = l
        .headers
        .iter()
        .find(|(k, _)| k == "retry-after")
        .map(|(_, v)| v.clone());
    (
        l.status,
        String::from_utf8_lossy(&l.body).into_owned(),
        retry,
    )
}

fn client_header(s: &Stream, name: &str) -> Option<String> {
    s.host.client.headers.as_ref().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.as_slice() == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    })
}

/// A whole admitted request, in each hold mode and host, with the count answered before or
/// after the body arrives: the upstream gets the tokenised body once, only after both answers.
#[test]
fn admitted_in_every_hold_mode() {
    // (hold_headers, host holds headers, count answered after the body arrived, trailers)
    let rows = [
        ("always", true, true, false),
        ("always", true, false, false),
        ("always", true, true, true),
        ("never", false, false, false),
        ("never", false, false, true),
        ("auto", true, true, false),
        ("auto", false, false, false),
        // A host that holds although the VM was told to stream: the body seen while the
        // headers were paused means hold; nothing is released uninspected.
        ("never", true, true, false),
    ];
    for (hold, holds, body_first, trailers) in rows {
        let row = format!("hold={hold} holds={holds} body_first={body_first} trailers={trailers}");
        let body = chat_body(&format!("Mail {EMAIL} please"));
        let mut s = Stream::new(settings(hold, ""));
        s.host.holds_headers = holds;
        let start = s.host.now;
        assert_eq!(
            send_headers(&mut s, &headers(&body, &[])),
            Action::Pause,
            "{row}"
        );
        assert_eq!(s.host.grpc_calls.len(), 1, "{row}");
        let call = s.last_grpc().clone();
        assert_eq!(call.cluster, "ratelimit");
        assert_eq!(call.service, "envoy.service.ratelimit.v3.RateLimitService");
        assert_eq!(call.method, "ShouldRateLimit");
        assert_eq!(
            call.timeout_ms, 40,
            "timeout_ms goes to the host, which enforces it"
        );
        assert_eq!(call.message, count_call(), "{row}");

        let send_body = |s: &mut Stream| {
            s.request_body(body.as_bytes(), !trailers);
            if trailers {
                s.request_trailers();
            }
        };
        if body_first {
            send_body(&mut s);
            assert_eq!(
                s.host.grpc_calls.len(),
                1,
                "{row}: no reservation before the count"
            );
        }
        assert!(s.host.upstream.headers.is_none(), "{row}");
        s.answer_grpc(call.token, 0, &ok(&[(20, 19)]));
        if hold == "auto" && !holds {
            // Undecided VM, a host that cannot hold: the probe's timer releases the headers.
            assert!(s.host.grpc_calls.len() == 1);
            s.tick(start + (RELEASE_AFTER_MS + 1) * 1_000_000);
            assert_eq!(
                s.shared.probe.borrow().mode(),
                Some(HoldMode::Stream),
                "{row}"
            );
        }
        if !body_first {
            if holds {
                assert!(
                    s.host.upstream.headers.is_none(),
                    "{row}: held for the body"
                );
            }
            send_body(&mut s);
        }
        assert_eq!(s.host.grpc_calls.len(), 2, "{row}: the reservation");
        assert!(
            s.host.upstream.body.is_empty(),
            "{row}: body held for the reservation"
        );
        let reserve = s.last_grpc().clone();
        let (tokens, cost) = reserve_amounts(&body);
        assert_eq!(
            reserve.message,
            encode_call(
                "mesh-guardrail",
                USER,
                "free",
                &[(Kind::Tokens, tokens), (Kind::Cost, cost)],
                false
            ),
            "{row}"
        );
        s.answer_grpc(
            reserve.token,
            0,
            &ok(&[(10_000, 9_000), (1_000_000, 990_000)]),
        );
        assert!(
            s.host.client.local.is_none(),
            "{row}: {:?}",
            s.host.client.local
        );
        let up = s.upstream_body();
        assert!(up.contains("[EMAIL_") && !up.contains(EMAIL), "{row}: {up}");
        assert_eq!(s.host.upstream.trailers, trailers, "{row}");
        let mode = s.shared.probe.borrow().mode();
        if holds {
            assert_eq!(
                mode,
                if hold == "never" {
                    Some(HoldMode::Stream)
                } else {
                    Some(HoldMode::Hold)
                },
                "{row}"
            );
            assert_eq!(
                s.upstream_header("content-length"),
                if hold == "never" && !body_first {
                    None
                } else {
                    Some(up.len().to_string())
                },
                "{row}"
            );
        } else {
            assert_eq!(s.upstream_header("content-length"), None, "{row}");
        }
        assert_eq!(s.host.counter("quota.admitted.free"), 1, "{row}");

        // Quota headers from the service's answers.
        s.response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        );
        assert_eq!(
            client_header(&s, "x-ratelimit-limit-requests").as_deref(),
            Some("20"),
            "{row}"
        );
        assert_eq!(
            client_header(&s, "x-ratelimit-remaining-requests").as_deref(),
            Some("19")
        );
        assert_eq!(
            client_header(&s, "x-ratelimit-reset-requests").as_deref(),
            Some("1h0m0s")
        );
        assert_eq!(
            client_header(&s, "x-ratelimit-remaining-tokens").as_deref(),
            Some("9000")
        );
        assert_eq!(
            client_header(&s, "ratelimit").as_deref(),
            Some("\"requests\";r=19;t=3600, \"tokens\";r=9000;t=3600")
        );
        assert_eq!(
            client_header(&s, "ratelimit-policy").as_deref(),
            Some("\"requests\";q=20;w=86400, \"tokens\";q=10000;w=86400")
        );
        assert_eq!(
            client_header(&s, "x-guardrail-budget-remaining-usd").as_deref(),
            Some("0.990000")
        );
        // Usage within the reservation: nothing to report.
        s.response_body(chat_json((5, 20)).as_bytes(), true);
        s.log();
        assert_eq!(s.host.grpc_calls.len(), 2, "{row}: no report");
    }
}

#[test]
fn over_limit_answers_429_from_the_service_status() {
    // The count refused: 429 before any upstream work, retry-after from the service.
    for hold in ["always", "never", "auto"] {
        let body = chat_body("hello");
        let mut s = Stream::new(settings(hold, ""));
        s.host.holds_headers = hold != "never";
        send_headers(&mut s, &headers(&body, &[]));
        let t = s.last_grpc().token;
        s.answer_grpc(t, 0, &encode_response(2, &[(2, 20, 0, 7200)]));
        let (status, reply, retry) = local(&s);
        assert_eq!(status, 429, "{hold}");
        assert!(
            reply.contains("\"code\":\"daily_request_limit_exceeded\""),
            "{reply}"
        );
        assert!(reply.contains("\"type\":\"insufficient_quota\""), "{reply}");
        assert!(reply.contains("request limit of 20"), "{reply}");
        assert_eq!(retry.as_deref(), Some("7200"));
        let l = s.host.client.local.clone().unwrap_or_default();
        assert!(l
            .headers
            .contains(&("x-ratelimit-remaining-requests".into(), "0".into())));
        assert!(
            s.host.upstream.headers.is_none(),
            "{hold}: nothing went upstream"
        );
        assert_eq!(s.host.grpc_calls.len(), 1);
        assert_eq!(
            s.host
                .counter("quota.rejected.daily_request_limit_exceeded"),
            1
        );
        // A body arriving after the reply goes nowhere.
        s.request_body(body.as_bytes(), true);
        assert!(s.host.upstream.body.is_empty());
    }
    // The reservation refused: the code names the limit the service says is over.
    for (statuses, code) in [
        (
            vec![(2, 10_000, 50, 60), (1, 1_000_000, 5, 60)],
            "daily_token_limit_exceeded",
        ),
        (
            vec![(1, 10_000, 5000, 60), (2, 1_000_000, 3, 60)],
            "daily_cost_limit_exceeded",
        ),
        // No status says which: the first descriptor sent.
        (vec![], "daily_token_limit_exceeded"),
    ] {
        let body = chat_body("hello");
        let mut s = Stream::new(settings("always", ""));
        send_headers(&mut s, &headers(&body, &[]));
        let t = s.last_grpc().token;
        s.answer_grpc(t, 0, &ok(&[(20, 3)]));
        s.request_body(body.as_bytes(), true);
        let t = s.last_grpc().token;
        s.answer_grpc(t, 0, &encode_response(2, &statuses));
        let (status, reply, retry) = local(&s);
        assert_eq!(status, 429);
        assert!(reply.contains(&format!("\"code\":\"{code}\"")), "{reply}");
        let want = if statuses.is_empty() {
            None
        } else {
            Some("60".to_string())
        };
        if let Some(w) = want {
            assert_eq!(retry, Some(w));
        } else {
            assert!(retry.is_some());
        }
        assert!(s.host.upstream.headers.is_none() && s.host.upstream.body.is_empty());
    }
}

/// Every way a call can fail, in both failure modes and in both phases.
#[test]
fn failures_get_the_failure_mode() {
    enum Fail {
        Status(u32),
        Answer(Vec<u8>),
        Refused,
    }
    let fails = [
        ("unavailable", Fail::Status(14)),
        ("timeout", Fail::Status(4)), // Envoy ends the call after timeout_ms
        ("truncated answer", Fail::Answer(vec![0x12, 5, 0x08])),
        ("overall unknown", Fail::Answer(encode_response(0, &[]))),
        (
            "statuses mismatch",
            Fail::Answer(ok(&[(1, 1), (1, 1), (1, 1)])),
        ),
        ("dispatch refused", Fail::Refused),
    ];
    for (name, fail) in &fails {
        for phase in ["count", "reserve"] {
            for mode in ["deny", "allow"] {
                let row = format!("{name} {phase} {mode}");
                let body = chat_body("hello");
                let extra = format!(r#", "failure_mode": "{mode}""#);
                let mut s = Stream::new(settings("always", &extra));
                let fail_now = |s: &mut Stream| match fail {
                    Fail::Status(c) => {
                        let t = s.last_grpc().token;
                        s.answer_grpc(t, *c, b"")
                    }
                    Fail::Answer(a) => {
                        let t = s.last_grpc().token;
                        s.answer_grpc(t, 0, a)
                    }
                    Fail::Refused => {}
                };
                if phase == "count" && matches!(fail, Fail::Refused) {
                    s.host.refuse.insert(Call::Grpc);
                }
                let a = send_headers(&mut s, &headers(&body, &[]));
                if phase == "count" {
                    fail_now(&mut s);
                    if matches!(fail, Fail::Refused) {
                        s.host.refuse.clear();
                    }
                } else {
                    assert_eq!(a, Action::Pause);
                    let t = s.last_grpc().token;
                    s.answer_grpc(t, 0, &ok(&[(20, 3)]));
                    if matches!(fail, Fail::Refused) {
                        s.host.refuse.insert(Call::Grpc);
                    }
                }
                s.request_body(body.as_bytes(), true);
                if phase == "reserve" {
                    fail_now(&mut s);
                } else if s.host.client.local.is_none() {
                    // allow: the reservation goes on normally
                    assert_ne!(s.last_grpc().message, count_call(), "{row}");
                    let t = s.last_grpc().token;
                    s.answer_grpc(t, 0, &ok(&[(10_000, 9_000), (1_000_000, 1)]));
                }
                assert_eq!(s.host.counter("quota.rls_failed"), 1, "{row}");
                if *mode == *"deny" {
                    let (status, reply, retry) = local(&s);
                    assert_eq!(status, 503, "{row}");
                    assert!(
                        reply.contains("\"code\":\"quota_unavailable\""),
                        "{row}: {reply}"
                    );
                    assert_eq!(retry.as_deref(), Some("1"), "{row}");
                    assert!(s.host.upstream.body.is_empty(), "{row}");
                    assert_eq!(s.host.counter("quota.rls_fail_open"), 0);
                } else {
                    assert!(
                        s.host.client.local.is_none(),
                        "{row}: {:?}",
                        s.host.client.local
                    );
                    assert!(s.upstream_body().contains("hello"), "{row}");
                    assert_eq!(s.host.counter("quota.rls_fail_open"), 1, "{row}");
                    assert_eq!(s.host.counter("quota.admitted.free"), 1, "{row}");
                }
            }
        }
    }
}

/// A request whose body is not read is counted in the headers phase only, and released by the
/// answer; its usage is reported whole at the end.
#[test]
fn unread_requests_are_counted_then_reported() {
    for hold in ["always", "never"] {
        // A compressed body passed unread (`request.compressed: pass`): it still costs a request.
        let json = format!(
            r#"{{"request": {{"hold_headers": "{hold}", "compressed": "pass"}}, {}}}"#,
            rls_quota("")
        );
        let mut s = Stream::new(Settings::from_json(json.as_bytes(), vec![7; 32]).unwrap());
        s.host.holds_headers = hold == "always";
        let h = vec![
            (":method", "POST".to_string()),
            (":path", CHAT.to_string()),
            ("content-type", "application/json".to_string()),
            ("content-encoding", "gzip".to_string()),
            ("x-user-id", "alice".to_string()),
        ];
        assert_eq!(send_headers(&mut s, &h), Action::Pause);
        assert_eq!(s.last_grpc().message, count_call());
        // A held host delivers the body meanwhile: it waits for the answer too.
        assert_eq!(
            s.request_body(b"opaque", true),
            if hold == "always" {
                Some(Action::Pause)
            } else {
                None
            }
        );
        assert!(s.host.upstream.headers.is_none(), "{hold}");
        let t = s.last_grpc().token;
        s.answer_grpc(t, 0, &ok(&[(20, 10)]));
        assert_eq!(s.upstream_body(), "opaque", "{hold}");
        s.response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        );
        s.response_body(chat_json((40, 60)).as_bytes(), true);
        assert_eq!(s.host.grpc_calls.len(), 2, "{hold}: the report");
        assert_eq!(
            s.last_grpc().message,
            encode_call(
                "mesh-guardrail",
                USER,
                "free",
                &[(Kind::Tokens, 100), (Kind::Cost, 160)],
                true
            )
        );
        let t = s.last_grpc().token;
        s.answer_grpc(t, 0, &ok(&[(10_000, 9_000), (1_000_000, 1)]));
        assert_eq!(s.host.counter("quota.rls_reported"), 1);
    }
}

/// Reserve-then-report: usage beyond the reservation is reported (hits_mode report) while the
/// stream is alive; below it nothing is (the service cannot give hits back); a response that
/// did not start 2xx is not refunded either (counted).
#[test]
fn settlement_reports_only_usage_beyond_the_reservation() {
    let body = chat_body("hello there");
    let (tokens, cost) = reserve_amounts(&body);
    // (prompt, completion) from usage -> report (tokens, cost) or none
    type Row = ((u64, u64), Option<Vec<(Kind, u64)>>);
    let rows: [Row; 3] = [
        ((3, 50), None),
        (
            (3, 200),
            Some(vec![(Kind::Tokens, 203 - tokens), (Kind::Cost, 403 - cost)]),
        ),
        ((tokens, 0), None),
    ];
    for ((p, c), want) in rows {
        let mut s = Stream::new(settings("always", ""));
        send_headers(&mut s, &headers(&body, &[]));
        let t = s.last_grpc().token;
        s.answer_grpc(t, 0, &ok(&[(20, 3)]));
        s.request_body(body.as_bytes(), true);
        let t = s.last_grpc().token;
        s.answer_grpc(t, 0, &ok(&[(10_000, 9_000), (1_000_000, 900_000)]));
        s.response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        );
        s.response_body(chat_json((p, c)).as_bytes(), true);
        match &want {
            None => assert_eq!(s.host.grpc_calls.len(), 2, "usage ({p},{c})"),
            Some(items) => {
                assert_eq!(s.host.grpc_calls.len(), 3, "usage ({p},{c})");
                assert_eq!(
                    s.last_grpc().message,
                    encode_call("mesh-guardrail", USER, "free", items, true)
                );
                // The report's failure is only counted: the client already has its answer.
                let t = s.last_grpc().token;
                s.answer_grpc(t, 14, b"");
                assert_eq!(s.host.counter("quota.rls_report_failed"), 1);
            }
        }
        s.log();
        assert_eq!(
            s.host.grpc_calls.len(),
            if want.is_some() { 3 } else { 2 },
            "settled once"
        );
    }
    // An upstream 500: nothing can be given back.
    let mut s = Stream::new(settings("always", ""));
    send_headers(&mut s, &headers(&body, &[]));
    let t = s.last_grpc().token;
    s.answer_grpc(t, 0, &ok(&[(20, 3)]));
    s.request_body(body.as_bytes(), true);
    let t = s.last_grpc().token;
    s.answer_grpc(t, 0, &ok(&[(10_000, 9_000), (1_000_000, 900_000)]));
    s.response_headers(
        &[(":status", "500"), ("content-type", "application/json")],
        false,
    );
    s.response_body(b"{}", true);
    assert_eq!(s.host.grpc_calls.len(), 2);
    assert_eq!(s.host.counter("quota.rls_unrefunded"), 1);
}

/// Only the kinds the tier limits are sent: a tier with a request limit only makes no
/// reservation call, and its answer's headers name only requests.
#[test]
fn descriptors_follow_the_tier() {
    let body = chat_body("hi");
    let mut s = Stream::new(settings("always", ""));
    send_headers(&mut s, &headers(&body, &[("x-user-tier", "basic")]));
    assert_eq!(
        s.last_grpc().message,
        encode_call(
            "mesh-guardrail",
            USER,
            "basic",
            &[(Kind::Requests, 1)],
            false
        )
    );
    let t = s.last_grpc().token;
    s.answer_grpc(t, 0, &ok(&[(5, 4)]));
    s.request_body(body.as_bytes(), true);
    assert_eq!(
        s.host.grpc_calls.len(),
        1,
        "no reservation for a request-only tier"
    );
    assert_eq!(s.upstream_body(), body);
    s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    assert_eq!(
        client_header(&s, "x-ratelimit-remaining-requests").as_deref(),
        Some("4")
    );
    assert_eq!(client_header(&s, "x-ratelimit-limit-tokens"), None);
    s.response_body(chat_json((500, 500)).as_bytes(), true);
    assert_eq!(
        s.host.grpc_calls.len(),
        1,
        "nothing to report for a request-only tier"
    );
}

/// An answer for a call this stream is not waiting for (a stale token) changes nothing; a
/// request without a user id is refused before any call.
#[test]
fn stray_answers_and_missing_users() {
    let body = chat_body("hi");
    let mut s = Stream::new(settings("always", ""));
    send_headers(&mut s, &headers(&body, &[]));
    let t = s.last_grpc().token;
    s.answer_grpc(t + 7, 0, &ok(&[(20, 0)]));
    s.answer_grpc(t + 7, 14, b"");
    assert!(s.host.client.local.is_none() && s.host.upstream.headers.is_none());
    s.request_body(body.as_bytes(), true);
    s.answer_grpc(t, 0, &ok(&[(20, 1)]));
    assert_eq!(s.host.grpc_calls.len(), 2);

    let mut s = Stream::new(settings("always", ""));
    let h: Vec<_> = headers(&body, &[])
        .into_iter()
        .filter(|(k, _)| *k != "x-user-id")
        .collect();
    send_headers(&mut s, &h);
    assert_eq!(local(&s).0, 401);
    assert!(s.host.grpc_calls.is_empty());
}

/// A host that delivers body chunks while the headers are paused for the count holds
/// headers: when the count is answered before the body's end, nothing is released, whatever
/// the VM's mode says (releasing would send the first chunk uninspected).
#[test]
fn body_chunks_during_the_count_keep_the_request_held() {
    for hold in ["never", "auto", "always"] {
        let body = chat_body(&format!("Mail {EMAIL} please"));
        let (first, rest) = body.as_bytes().split_at(20);
        let mut s = Stream::new(settings(hold, ""));
        s.host.holds_headers = true;
        send_headers(&mut s, &headers(&body, &[]));
        assert_eq!(s.request_body(first, false), Some(Action::Pause), "{hold}");
        let t = s.last_grpc().token;
        s.answer_grpc(t, 0, &ok(&[(20, 19)]));
        assert!(s.host.upstream.headers.is_none(), "{hold}: released early");
        assert!(s.host.upstream.body.is_empty(), "{hold}");
        s.request_body(rest, true);
        let t = s.last_grpc().token;
        s.answer_grpc(t, 0, &ok(&[(10_000, 9_000), (1_000_000, 1)]));
        let up = s.upstream_body();
        assert!(
            up.contains("[EMAIL_") && !up.contains(EMAIL),
            "{hold}: {up}"
        );
        if hold == "auto" {
            assert_eq!(s.shared.probe.borrow().mode(), Some(HoldMode::Hold));
        }
    }
}
