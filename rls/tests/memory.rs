//! ShouldRateLimit through a real tonic client, in-memory counters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use mesh_guardrail_rls::proto::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use mesh_guardrail_rls::proto::envoy::service::ratelimit::v3::rate_limit_response::Code;

const OK: i32 = Code::Ok as i32;
const OVER: i32 = Code::OverLimit as i32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_admit_exactly_the_limit() {
    let url = start_memory().await;
    for round in 0..3 {
        let name = format!("u-concurrent-{round}");
        let mut tasks = Vec::new();
        for i in 0..60 {
            // Several connections, as from several Envoy workers.
            let mut c = client(&url).await;
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                let _ = i;
                c.should_rate_limit(request(vec![user("free", &name, "requests", None)], 0))
                    .await
                    .unwrap()
                    .into_inner()
            }));
        }
        let mut admitted = 0;
        let mut remaining = Vec::new();
        for t in tasks {
            let r = t.await.unwrap();
            if r.overall_code == OK {
                admitted += 1;
                remaining.push(r.statuses[0].limit_remaining);
            } else {
                assert_eq!(r.overall_code, OVER);
                assert_eq!(r.statuses[0].limit_remaining, 0);
            }
        }
        assert_eq!(admitted, 20, "round {round}");
        // Each admitted request saw a different remaining: 19, 18, ... 0.
        remaining.sort_unstable();
        assert_eq!(remaining, (0..20).collect::<Vec<u32>>(), "round {round}");
    }
}

#[tokio::test]
async fn hits_addend_charges_token_amounts() {
    let mut c = client(&start_memory().await).await;
    let ask = |d, hits| {
        let req = request(vec![d], hits);
        let mut c = c.clone();
        async move { c.should_rate_limit(req).await.unwrap().into_inner() }
    };
    // Per-descriptor hits_addend: 600 of 1000 tokens.
    let r = ask(user("free", "t1", "tokens", Some(600)), 0).await;
    assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (OK, 400));
    // 600 more does not fit: refused and not charged.
    let r = ask(user("free", "t1", "tokens", Some(600)), 0).await;
    assert_eq!(
        (
            r.overall_code,
            r.statuses[0].code,
            r.statuses[0].limit_remaining
        ),
        (OVER, OVER, 400)
    );
    // Request-level hits_addend applies to descriptors without their own.
    let r = ask(user("free", "t1", "tokens", None), 400).await;
    assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (OK, 0));
    // Per-descriptor 0: check only, OVER_LIMIT because nothing remains.
    let r = ask(user("free", "t1", "tokens", Some(0)), 0).await;
    assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (OVER, 0));
    // Per-descriptor 0 on a fresh user: OK, nothing charged.
    let r = ask(user("free", "t2", "tokens", Some(0)), 0).await;
    assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (OK, 1000));
    // Request-level 0 counts as 1.
    let r = ask(user("free", "t2", "tokens", None), 0).await;
    assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (OK, 999));
    c.should_rate_limit(request(vec![], 0)).await.unwrap_err();
}

#[tokio::test]
async fn report_mode_charges_past_the_limit() {
    let mut c = client(&start_memory().await).await;
    let tokens = |hits, report: bool| {
        let mut e = vec![
            ("tenant", "acme"),
            ("user", "r1"),
            ("tier", "free"),
            ("limit", "tokens"),
        ];
        if report {
            e.push(("hits_mode", "report"));
        }
        request(vec![descriptor(&e, Some(hits))], 0)
    };
    let r = c
        .should_rate_limit(tokens(900, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.statuses[0].limit_remaining, 100);
    // The usage turned out to be 500 more: a settlement is charged whatever the limit says,
    // its status says the counter is now over, the overall code stays OK.
    let r = c
        .should_rate_limit(tokens(500, true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            r.overall_code,
            r.statuses[0].code,
            r.statuses[0].limit_remaining
        ),
        (OK, OVER, 0)
    );
    // And it was charged: even 1 token no longer fits.
    let r = c
        .should_rate_limit(tokens(1, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.overall_code, OVER);
    let bad = request(
        vec![descriptor(&[("user", "r1"), ("hits_mode", "maybe")], None)],
        0,
    );
    let e = c.should_rate_limit(bad).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_refused_request_charges_none_of_its_descriptors() {
    let mut c = client(&start_memory().await).await;
    let both = |tokens| {
        request(
            vec![
                user("free", "a1", "requests", None),
                user("free", "a1", "tokens", Some(tokens)),
            ],
            0,
        )
    };
    let r = c.should_rate_limit(both(700)).await.unwrap().into_inner();
    assert_eq!(r.overall_code, OK);
    assert_eq!(
        (r.statuses[0].limit_remaining, r.statuses[1].limit_remaining),
        (19, 300)
    );
    // Tokens do not fit: the request is refused and its request count is not charged either.
    let r = c.should_rate_limit(both(400)).await.unwrap().into_inner();
    assert_eq!(r.overall_code, OVER);
    assert_eq!((r.statuses[0].code, r.statuses[1].code), (OK, OVER));
    assert_eq!(
        (r.statuses[0].limit_remaining, r.statuses[1].limit_remaining),
        (19, 300)
    );
    let r = c.should_rate_limit(both(300)).await.unwrap().into_inner();
    assert_eq!(r.overall_code, OK);
    assert_eq!(
        (r.statuses[0].limit_remaining, r.statuses[1].limit_remaining),
        (18, 0)
    );
}

#[tokio::test]
async fn statuses_carry_the_limit_remaining_and_reset() {
    let mut c = client(&start_memory().await).await;
    let r = c
        .should_rate_limit(request(vec![user("free", "s1", "requests", None)], 0))
        .await
        .unwrap()
        .into_inner();
    let s = &r.statuses[0];
    let limit = s.current_limit.as_ref().unwrap();
    // Two limits apply (free-requests per user: 20/day, tenant-requests: 1000/hour); the
    // status shows the most restrictive after this request.
    assert_eq!(
        (limit.name.as_str(), limit.requests_per_unit),
        ("free-requests", 20)
    );
    assert_eq!(limit.unit, Unit::Day as i32);
    assert_eq!(s.limit_remaining, 19);
    let reset = s.duration_until_reset.as_ref().unwrap();
    assert!(
        reset.seconds > 86_390 && reset.seconds <= 86_400,
        "{reset:?}"
    );
    // The pro tier's cost budget, per tenant and user, charged in micro-USD.
    let r = c
        .should_rate_limit(request(vec![user("pro", "s1", "cost", Some(1_250_000))], 0))
        .await
        .unwrap()
        .into_inner();
    let s = &r.statuses[0];
    assert_eq!(s.current_limit.as_ref().unwrap().name, "pro-cost");
    assert_eq!(s.limit_remaining, 3_750_000);
}

#[tokio::test]
async fn descriptors_without_a_limit_are_ok() {
    let mut c = client(&start_memory().await).await;
    for req in [
        // No limit matches (tier enterprise has none, kind unknown).
        request(vec![user("enterprise", "n1", "tokens", Some(10_000))], 0),
        request(vec![descriptor(&[("generic_key", "x")], None)], 0),
        // A `per` key missing: the per-user limit does not apply.
        request(
            vec![descriptor(
                &[("tier", "free"), ("limit", "tokens")],
                Some(5000),
            )],
            0,
        ),
        // Another domain.
        {
            let mut r = request(vec![user("free", "n1", "requests", None)], 0);
            r.domain = "other".into();
            r
        },
    ] {
        let r = c.should_rate_limit(req).await.unwrap().into_inner();
        assert_eq!(r.overall_code, OK);
        assert_eq!(r.statuses.len(), 1);
        assert_eq!(r.statuses[0].code, OK);
        assert!(r.statuses[0].current_limit.is_none());
    }
}

#[tokio::test]
async fn ambiguous_or_empty_requests_are_refused() {
    let mut c = client(&start_memory().await).await;
    let repeated = descriptor(
        &[
            ("user", "x"),
            ("user", "y"),
            ("tier", "free"),
            ("limit", "requests"),
        ],
        None,
    );
    for (req, what) in [
        (request(vec![repeated], 0), "repeated key"),
        (request(vec![descriptor(&[], None)], 0), "no entries"),
        (
            request(vec![descriptor(&[("", "v")], None)], 0),
            "empty key",
        ),
        (
            {
                let mut r = request(vec![user("free", "x", "requests", None)], 0);
                r.domain.clear();
                r
            },
            "empty domain",
        ),
    ] {
        let e = c.should_rate_limit(req).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{what}");
    }
}
