use super::stats::Outcome;
use super::*;
use crate::quota::MemStore;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn policy(json: &str) -> Result<RolloutPolicy, ConfigError> {
    let cfg: RolloutConfig =
        serde_json::from_str(json).map_err(|e| ConfigError::new("parse", e.to_string()))?;
    RolloutPolicy::compile(&cfg, true)
}

fn exp(extra: &str) -> String {
    format!(
        r#"{{"experiments":[{{"id":"exp1","control":{{"model":"m-old"}},"treatment":{{"model":"m-new"}}{extra}}}]}}"#
    )
}

fn err_field(json: &str) -> String {
    match policy(json) {
        Err(e) => e.field,
        Ok(_) => "accepted".into(),
    }
}

#[test]
fn bad_configurations_are_refused_naming_the_field() {
    assert!(policy(&exp("")).is_ok());
    let cases = [
        (exp(r#","stages":[10,5,100]"#), "rollout.experiments[0].stages"),
        (exp(r#","stages":[10,10]"#), "rollout.experiments[0].stages"),
        (exp(r#","stages":[0,100]"#), "rollout.experiments[0].stages"),
        (exp(r#","stages":[50,101]"#), "rollout.experiments[0].stages"),
        (exp(r#","stages":[]"#), "rollout.experiments[0].stages"),
        (exp(r#","gates":{"confidence":1.0}"#), "rollout.experiments[0].gates.confidence"),
        (exp(r#","gates":{"confidence":0.5}"#), "rollout.experiments[0].gates.confidence"),
        (exp(r#","gates":{"max_error_rate_delta":1.5}"#), "rollout.experiments[0].gates.max_error_rate_delta"),
        (exp(r#","gates":{"max_latency_p95_ratio":0.5}"#), "rollout.experiments[0].gates.max_latency_p95_ratio"),
        (exp(r#","gates":{"min_feedback_delta":0.2}"#), "rollout.experiments[0].gates.min_feedback_delta"),
        (exp(r#","gates":{"min_latency_p95_delta_ms":-1}"#), "rollout.experiments[0].gates.min_latency_p95_delta_ms"),
        (exp(r#","gates":{"min_latency_p95_delta_ms":60001}"#), "rollout.experiments[0].gates.min_latency_p95_delta_ms"),
        (exp(r#","gates":{"min_latency_p95_delta_ms":null}"#), "parse"),
        (exp(r#","assign":"header""#), "rollout.experiments[0].flag_header"),
        (exp(r#","assign":"header","flag_header":"x-guardrail-flag""#), "rollout.experiments[0].flag_header"),
        (exp(r#","assign":"percentage","flag_header":"x-flag""#), "rollout.experiments[0].flag_header"),
        (exp(r#","stage_min_requests":0"#), "rollout.experiments[0].stage_min_requests"),
        (r#"{"experiments":[{"id":"Exp 1","control":{"model":"a"},"treatment":{"model":"b"}}]}"#.into(), "rollout.experiments[0].id"),
        (r#"{"experiments":[{"id":"e","control":{"model":"a"},"treatment":{"model":"a"}}]}"#.into(), "rollout.experiments[0].treatment.model"),
        (r#"{"experiments":[{"id":"e","control":{"model":"a"},"treatment":{"model":"b"},"match_models":["x"]},{"id":"e","control":{"model":"a"},"treatment":{"model":"b"}}]}"#.into(), "rollout.experiments[1].id"),
        (r#"{"experiments":[{"id":"e","control":{"model":"a"},"treatment":{"model":"b"}},{"id":"f","control":{"model":"a"},"treatment":{"model":"b"}}]}"#.into(), "rollout.experiments[0].match_models"),
        (r#"{"feedback_slots":0}"#.into(), "rollout.feedback_slots"),
        (r#"{"feedback_path":"guardrail"}"#.into(), "rollout.feedback_path"),
    ];
    for (json, field) in cases {
        assert_eq!(err_field(&json), field, "{json}");
    }
    // `user` needs an identity (the quota section).
    let cfg: RolloutConfig = serde_json::from_str(&exp("")).unwrap();
    assert_eq!(
        RolloutPolicy::compile(&cfg, false).unwrap_err().field,
        "rollout.experiments[0].assign"
    );
}

#[test]
fn the_whole_plugin_configuration_refuses_a_bad_rollout_section() {
    let bad = r#"{"quota":{},"rollout":{"experiments":[{"id":"e","control":{"model":"a"},"treatment":{"model":"b"},"stages":[50,20]}]}}"#;
    let e = crate::config::Settings::from_json(bad.as_bytes(), vec![7; 32])
        .err()
        .unwrap();
    assert_eq!(e.field, "rollout.experiments[0].stages");
    let unknown = r#"{"rollout":{"experiments":[{"id":"e","control":{"model":"a"},"treatment":{"model":"b"},"stagez":[5]}]}}"#;
    let e = crate::config::Settings::from_json(unknown.as_bytes(), vec![7; 32])
        .err()
        .unwrap();
    assert!(e.to_string().contains("stagez"), "{e}");
}

#[test]
fn user_assignment_is_keyed_stable_and_monotone() {
    let mut p = policy(&exp("")).unwrap();
    let e = p.experiments[0].clone();
    let unkeyed: Vec<u32> = (0..50)
        .map(|i| p.user_bucket(&e, &format!("u{i}")))
        .collect();
    // Stable: the same inputs give the same bucket (no process-random hashing).
    let again: Vec<u32> = (0..50)
        .map(|i| p.user_bucket(&e, &format!("u{i}")))
        .collect();
    assert_eq!(unkeyed, again);
    // Known value: SHA-256("rollout/v1\0exp1\0exp1\0alice")[..8] mapped to [0, 10000).
    let d: [u8; 32] = Sha256::digest(b"rollout/v1\0exp1\0exp1\0alice").into();
    let x = u64::from_be_bytes(d[..8].try_into().unwrap());
    assert_eq!(p.user_bucket(&e, "alice"), uniform(x));
    p.set_key(b"0123456789abcdef0123");
    let keyed: Vec<u32> = (0..50)
        .map(|i| p.user_bucket(&e, &format!("u{i}")))
        .collect();
    assert_ne!(keyed, unkeyed, "the key changes the assignment");
    let k =
        crate::pii::hmac::hmac_sha256(b"0123456789abcdef0123", b"rollout/v1\0exp1\0exp1\0alice");
    assert_eq!(
        p.user_bucket(&e, "alice"),
        uniform(u64::from_be_bytes(k[..8].try_into().unwrap()))
    );
    // Monotone: raising the stage only moves users control -> treatment.
    for b in keyed {
        let mut was_treatment = false;
        for stage in [500, 1000, 2500, 5000, 10000] {
            let t = arm_for(b, stage) == Arm::Treatment;
            assert!(t || !was_treatment, "bucket {b} left treatment at {stage}");
            was_treatment = t;
        }
        assert!(was_treatment, "everyone is treatment at 100%");
        assert_eq!(arm_for(b, 0), Arm::Control);
    }
}

#[test]
fn user_buckets_are_uniform() {
    let p = policy(&exp("")).unwrap();
    let e = &p.experiments[0];
    let n = 20_000;
    let below = (0..n)
        .filter(|i| p.user_bucket(e, &format!("user-{i}")) < 1000)
        .count();
    // 10% expected: 2000 +- 4.5 sigma (sigma = 42.4).
    assert!((1810..=2190).contains(&below), "{below}");
    // Another experiment (salt) gives an independent split.
    let p2 = policy(&exp(r#","salt":"other""#)).unwrap();
    let same = (0..2000)
        .filter(|i| {
            let u = format!("user-{i}");
            (p.user_bucket(e, &u) < 5000) == (p2.user_bucket(&p2.experiments[0], &u) < 5000)
        })
        .count();
    assert!((900..=1100).contains(&same), "{same}");
}

#[test]
fn percentage_draws_are_uniform() {
    let mut s = 42u64;
    let hits = (0..10_000)
        .filter(|_| arm_for(uniform(splitmix(&mut s)), 2500) == Arm::Treatment)
        .count();
    assert!((2330..=2670).contains(&hits), "{hits}");
}

#[test]
fn the_flag_header_is_on_off_and_refused_when_repeated() {
    let h = |pairs: &[(&str, &str)]| -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    };
    assert_eq!(
        flag_arm(&h(&[("x-flag", "on")]), "x-flag"),
        Ok(Arm::Treatment)
    );
    assert_eq!(
        flag_arm(&h(&[("x-flag", " ON ")]), "x-flag"),
        Ok(Arm::Treatment)
    );
    assert_eq!(
        flag_arm(&h(&[("x-flag", "off")]), "x-flag"),
        Ok(Arm::Control)
    );
    assert_eq!(
        flag_arm(&h(&[("x-flag", "maybe")]), "x-flag"),
        Ok(Arm::Control)
    );
    assert_eq!(flag_arm(&h(&[]), "x-flag"), Ok(Arm::Control));
    let r = flag_arm(&h(&[("x-flag", "on"), ("x-flag", "off")]), "x-flag").unwrap_err();
    assert_eq!((r.status, r.code), (400, "ambiguous_flag"));
}

fn run(e: &Experiment, store: &MemStore, arm: Arm, n: u64, error_every: u64, now: u64) {
    let st = e.state(store, now).unwrap();
    for i in 0..n {
        let o = Outcome {
            error: error_every > 0 && i % error_every == 0,
            latency_ms: 3,
            ..Outcome::default()
        };
        e.record(store, st.stage, arm, &o).unwrap();
    }
}

const SEC: u64 = 1_000_000_000;

#[test]
fn a_healthy_treatment_advances_through_every_stage() {
    let p = policy(&exp(
        r#","stages":[10,50,100],"stage_min_requests":40,"stage_min_seconds":1"#,
    ))
    .unwrap();
    let e = &p.experiments[0];
    let store = MemStore::new();
    let st = e.state(&store, 0).unwrap();
    assert_eq!((e.percent(&st), st.rolled_back), (10, false));
    run(e, &store, Arm::Control, 360, 0, 0);
    run(e, &store, Arm::Treatment, 40, 0, 0);
    // Not before stage_min_seconds.
    assert_eq!(e.evaluate(&store, SEC / 2).unwrap(), None);
    let t = e.evaluate(&store, SEC).unwrap().unwrap();
    assert_eq!((t.from_percent, t.to_percent), (10, 50));
    assert_eq!(t.reason, "gates_passed");
    // The CAS already moved: nobody else transitions this stage again.
    assert_eq!(e.evaluate(&store, SEC).unwrap(), None);
    // Stage 2 starts empty: not enough requests yet.
    assert_eq!(e.evaluate(&store, 3 * SEC).unwrap(), None);
    run(e, &store, Arm::Control, 40, 0, 0);
    run(e, &store, Arm::Treatment, 40, 0, 0);
    let t = e.evaluate(&store, 3 * SEC).unwrap().unwrap();
    assert_eq!((t.from_percent, t.to_percent), (50, 100));
    let line = t.log_line(&e.id);
    assert!(
        line.starts_with(
            "rollout transition experiment=exp1 from=50% to=100% reason=gates_passed gates: "
        ),
        "{line}"
    );
    assert!(line.contains("error_z="), "{line}");
    // The last stage is final.
    assert_eq!(e.evaluate(&store, 100 * SEC).unwrap(), None);
    assert_eq!(e.percent(&e.state(&store, 0).unwrap()), 100);
}

#[test]
fn a_failing_treatment_is_rolled_back_and_stays_at_zero() {
    let p = policy(&exp(
        r#","stages":[10,50,100],"stage_min_requests":40,"stage_min_seconds":1"#,
    ))
    .unwrap();
    let e = &p.experiments[0];
    let store = MemStore::new();
    run(e, &store, Arm::Control, 360, 0, 0);
    // 30% of the treatment's answers fail (every 3rd and a bit: 14 of 40).
    run(e, &store, Arm::Treatment, 40, 3, 0);
    let t = e.evaluate(&store, 2 * SEC).unwrap().unwrap();
    assert_eq!((t.from_percent, t.to_percent), (10, 0), "{t:?}");
    assert_eq!(t.reason, "gate_failed:error_rate");
    let st = e.state(&store, 0).unwrap();
    assert!(st.rolled_back);
    assert_eq!(e.treatment_bp(&st), 0);
    // Stays rolled back whatever comes next.
    run(e, &store, Arm::Control, 1000, 0, 0);
    assert_eq!(e.evaluate(&store, 1000 * SEC).unwrap(), None);
    // A changed configuration starts afresh (new keys).
    let p2 = policy(&exp(
        r#","stages":[10,50,100],"stage_min_requests":41,"stage_min_seconds":1"#,
    ))
    .unwrap();
    let st2 = p2.experiments[0].state(&store, 5 * SEC).unwrap();
    assert!(!st2.rolled_back);
    assert_eq!(p2.experiments[0].percent(&st2), 10);
}

#[test]
fn concurrent_writers_retry_and_one_transition_wins() {
    let p = policy(&exp(
        r#","stages":[10,100],"stage_min_requests":5,"stage_min_seconds":0"#,
    ))
    .unwrap();
    let e = &p.experiments[0];
    let store = MemStore::new();
    e.state(&store, 0).unwrap();
    store.inject_conflicts_on("/treatment", 3);
    run(e, &store, Arm::Treatment, 5, 0, 0);
    assert_eq!(e.stats(&store, 0, Arm::Treatment).unwrap().requests, 5);
    run(e, &store, Arm::Control, 5, 0, 0);
    // A lost CAS on the state means another worker transitioned: no transition here.
    store.inject_conflicts_on("/state", 1);
    assert_eq!(e.evaluate(&store, 0).unwrap(), None);
    assert!(e.evaluate(&store, 0).unwrap().is_some());
}

#[test]
fn feedback_is_remembered_bounded_and_counted_once() {
    let p = policy(r#"{"feedback_slots":4,"experiments":[{"id":"e","control":{"model":"a"},"treatment":{"model":"b"}}]}"#).unwrap();
    let e = &p.experiments[0];
    let store = MemStore::new();
    let entry = |id: &str| FeedbackEntry {
        request_id: id.into(),
        experiment: "e".into(),
        config_hash: e.config_hash.clone(),
        stage: 0,
        arm: Arm::Treatment,
        rated: false,
    };
    p.remember(&store, &entry("req-1")).unwrap();
    assert_eq!(p.feedback(&store, "nope", 0.5).unwrap(), None);
    let (got, counted) = p.feedback(&store, "req-1", 0.75).unwrap().unwrap();
    assert!(counted);
    assert_eq!(got.arm, Arm::Treatment);
    assert_eq!(
        p.feedback(&store, "req-1", 0.75).unwrap().map(|x| x.1),
        Some(false)
    );
    let s = e.stats(&store, 0, Arm::Treatment).unwrap();
    assert_eq!((s.fb_n, s.fb_sum), (1, 0.75));
    // Bounded: 4 slots, so many later requests evict it.
    for i in 0..100 {
        p.remember(&store, &entry(&format!("later-{i}"))).unwrap();
    }
    assert_eq!(store.len(), 5, "4 slots + the arm's counters");
}

#[test]
fn feedback_bodies_are_validated() {
    assert_eq!(
        parse_feedback(br#"{"request_id":"abc","score":0.5}"#),
        Ok(("abc".into(), 0.5))
    );
    for bad in [
        &br#"{"request_id":"abc","score":1.5}"#[..],
        br#"{"request_id":"abc","score":-0.1}"#,
        br#"{"request_id":"","score":0.5}"#,
        br#"{"request_id":"abc"}"#,
        br#"{"request_id":"abc","score":"high"}"#,
        br#"{"request_id":"abc","score":0.5,"score":0.9}"#,
        br#"{"request_id":"abc","score":0.5,"user":"x"}"#,
        b"not json",
    ] {
        let r = parse_feedback(bad).unwrap_err();
        assert_eq!((r.status, r.code), (400, "invalid_feedback"), "{bad:?}");
    }
}

#[test]
fn match_models_and_header_time() {
    let p = policy(r#"{"experiments":[{"id":"a","control":{"model":"x"},"treatment":{"model":"y"},"match_models":["gpt-4o"]},{"id":"b","control":{"model":"x"},"treatment":{"model":"z"}}]}"#).unwrap();
    assert_eq!(p.match_model(Some("gpt-4o")), Some(0));
    assert_eq!(p.match_model(Some("other")), Some(1));
    assert_eq!(p.match_model(None), Some(1));
    assert_eq!(p.header_time(), None);
    let q = policy(&exp("")).unwrap();
    assert_eq!(q.header_time(), Some(0));
}

/// The error gate's power by simulation (the exact figures: scripts/rollout_power.py):
/// stage 10%, stage_min_requests 40 (40 treatment and 360 control outcomes at the judgement).
#[test]
fn power_of_the_error_gate_by_simulation() {
    let p = policy(&exp(r#","stages":[10,50,100],"stage_min_requests":40"#)).unwrap();
    let g = &p.experiments[0].gates;
    let mut rng = 2026u64;
    let mut draw = |rate: f64| (splitmix(&mut rng) >> 11) as f64 / (1u64 << 53) as f64 <= rate;
    let trials = 2000;
    let mut run = |p_t: f64, p_c: f64, n_t: u64| {
        let mut failed = 0;
        for _ in 0..trials {
            let mut c = stats::ArmStats::default();
            let mut t = stats::ArmStats::default();
            for _ in 0..(9 * n_t) {
                c.add(&Outcome {
                    error: draw(p_c),
                    latency_ms: 3,
                    ..Outcome::default()
                });
            }
            for _ in 0..n_t {
                t.add(&Outcome {
                    error: draw(p_t),
                    latency_ms: 3,
                    ..Outcome::default()
                });
            }
            failed += u32::from(stats::judge(g, &c, &t).failed == Some("error_rate"));
        }
        f64::from(failed) / f64::from(trials)
    };
    let caught = run(0.3, 0.0, 40);
    let caught_10 = run(0.3, 0.0, 10);
    let false_40 = run(0.01, 0.01, 40);
    let false_200 = run(0.01, 0.01, 200);
    println!(
        "30% failing arm caught: {caught} at 40 treatment requests, {caught_10} at 10; healthy arm (1% vs 1%) rolled back: {false_40} at 40, {false_200} at 200"
    );
    assert!(caught >= 0.999, "{caught}");
    // Exact: 0.972 at 10 requests.
    assert!((0.95..=0.99).contains(&caught_10), "{caught_10}");
    // Exact: 0.086 at 40, 0.010 at 200 (the z-test is lenient with few events).
    assert!((0.06..=0.115).contains(&false_40), "{false_40}");
    assert!(false_200 <= 0.02, "{false_200}");
}
