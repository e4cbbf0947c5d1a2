//! Per-arm counters and the significance tests of the quality gates (pure, no I/O).
//!
//! - Rates (errors, blocks): a two-proportion z-test with a pooled variance, one-sided
//!   (treatment worse).
//! - Latency: the p95 of each arm from fixed histogram buckets (linear inside a bucket); the
//!   significance is a one-sample proportion z-test of the share of treatment requests in
//!   buckets above the one holding control's p95, against the 5% a treatment as fast as
//!   control would have there (conservative: the rest of control's p95 bucket is not counted).
//!   The gate also needs the p95s at least `min_latency_p95_delta_ms` apart, so the jitter of
//!   millisecond latencies is not read as a slower treatment.
//! - Means (cost per request, feedback score): a Welch z-test from sums and sums of squares.

/// Upper bounds (ms) of the latency buckets; one more bucket holds everything above.
pub const LATENCY_BOUNDS_MS: [u64; 13] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
];
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// What one request of an arm ended with.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcome {
    /// Upstream 5xx, reset or timeout (no response, or Envoy's own 503/504).
    pub error: bool,
    /// Refused by the guardrail (a local reply).
    pub block: bool,
    pub latency_ms: u64,
    /// Prompt + completion tokens and cost in micro-USD, from settled `usage` (quota only).
    pub usage: Option<(u64, u64)>,
}

/// One arm's counters in one stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArmStats {
    pub requests: u64,
    pub errors: u64,
    pub blocks: u64,
    pub tokens: u64,
    /// Requests with a settled cost, their sum and sum of squares (micro-USD).
    pub cost_n: u64,
    pub cost_sum: f64,
    pub cost_sq: f64,
    pub latency: [u64; LATENCY_BUCKETS],
    pub fb_n: u64,
    pub fb_sum: f64,
    pub fb_sq: f64,
}

pub fn latency_bucket(ms: u64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|&b| ms <= b)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

impl ArmStats {
    pub fn add(&mut self, o: &Outcome) {
        self.requests += 1;
        self.errors += u64::from(o.error);
        self.blocks += u64::from(o.block);
        if let Some(l) = self.latency.get_mut(latency_bucket(o.latency_ms)) {
            *l += 1;
        }
        if let Some((tokens, cost)) = o.usage {
            self.tokens = self.tokens.saturating_add(tokens);
            let c = cost as f64;
            self.cost_n += 1;
            self.cost_sum += c;
            self.cost_sq += c * c;
        }
    }

    pub fn add_feedback(&mut self, score: f64) {
        self.fb_n += 1;
        self.fb_sum += score;
        self.fb_sq += score * score;
    }

    /// Space-separated fields (shared data value).
    pub fn encode(&self) -> String {
        let mut s = format!(
            "{} {} {} {} {} {} {}",
            self.requests,
            self.errors,
            self.blocks,
            self.tokens,
            self.cost_n,
            self.cost_sum,
            self.cost_sq
        );
        for b in &self.latency {
            s.push(' ');
            s.push_str(&b.to_string());
        }
        s.push_str(&format!(" {} {} {}", self.fb_n, self.fb_sum, self.fb_sq));
        s
    }

    /// `None` for a value this version did not write.
    pub fn decode(b: &[u8]) -> Option<ArmStats> {
        let s = std::str::from_utf8(b).ok()?;
        let f: Vec<&str> = s.split(' ').collect();
        if f.len() != 7 + LATENCY_BUCKETS + 3 {
            return None;
        }
        let u = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
        let x = |i: usize| {
            f.get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
        };
        let mut latency = [0u64; LATENCY_BUCKETS];
        for (i, l) in latency.iter_mut().enumerate() {
            *l = u(7 + i)?;
        }
        let j = 7 + LATENCY_BUCKETS;
        Some(ArmStats {
            requests: u(0)?,
            errors: u(1)?,
            blocks: u(2)?,
            tokens: u(3)?,
            cost_n: u(4)?,
            cost_sum: x(5)?,
            cost_sq: x(6)?,
            latency,
            fb_n: u(j)?,
            fb_sum: x(j + 1)?,
            fb_sq: x(j + 2)?,
        })
    }

    /// The `q` quantile (ms) from the buckets, linear inside the bucket; `None` when empty.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let n: u64 = self.latency.iter().sum();
        if n == 0 {
            return None;
        }
        let target = q * n as f64;
        let mut seen = 0u64;
        for (i, &c) in self.latency.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if (seen + c) as f64 >= target {
                let lo = if i == 0 {
                    0
                } else {
                    LATENCY_BOUNDS_MS.get(i - 1).copied().unwrap_or(0)
                };
                let hi = LATENCY_BOUNDS_MS.get(i).copied().unwrap_or(lo * 2);
                let frac = ((target - seen as f64) / c as f64).clamp(0.0, 1.0);
                return Some(lo as f64 + frac * (hi - lo) as f64);
            }
            seen += c;
        }
        Some(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1] as f64 * 2.0)
    }

    /// Index of the bucket holding the `q` quantile.
    fn quantile_bucket(&self, q: f64) -> Option<usize> {
        let n: u64 = self.latency.iter().sum();
        if n == 0 {
            return None;
        }
        let target = q * n as f64;
        let mut seen = 0u64;
        for (i, &c) in self.latency.iter().enumerate() {
            seen += c;
            if c > 0 && seen as f64 >= target {
                return Some(i);
            }
        }
        Some(LATENCY_BUCKETS - 1)
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// z of `x_t/n_t - x_c/n_c` with the pooled variance (0 when either arm is empty or the pooled
/// rate is 0 or 1: no evidence of a difference).
pub fn two_proportion_z(x_t: u64, n_t: u64, x_c: u64, n_c: u64) -> f64 {
    if n_t == 0 || n_c == 0 {
        return 0.0;
    }
    let (nt, nc) = (n_t as f64, n_c as f64);
    let p = (x_t + x_c) as f64 / (nt + nc);
    let se = (p * (1.0 - p) * (1.0 / nt + 1.0 / nc)).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return 0.0;
    }
    (x_t as f64 / nt - x_c as f64 / nc) / se
}

/// z of a proportion `x/n` against `p0`.
pub fn one_proportion_z(x: u64, n: u64, p0: f64) -> f64 {
    if n == 0 || p0 <= 0.0 || p0 >= 1.0 {
        return 0.0;
    }
    let se = (p0 * (1.0 - p0) / n as f64).sqrt();
    (x as f64 / n as f64 - p0) / se
}

/// Mean and (sample) variance from a count, sum and sum of squares.
fn mean_var(n: u64, sum: f64, sq: f64) -> (f64, f64) {
    let nf = n as f64;
    let mean = sum / nf;
    let var = if n > 1 {
        ((sq - sum * sum / nf) / (nf - 1.0)).max(0.0)
    } else {
        0.0
    };
    (mean, var)
}

/// Welch z of `mean_t - mean_c` (0 without variance or with fewer than 2 per arm).
pub fn welch_z(t: (u64, f64, f64), c: (u64, f64, f64)) -> f64 {
    if t.0 < 2 || c.0 < 2 {
        return 0.0;
    }
    let (mt, vt) = mean_var(t.0, t.1, t.2);
    let (mc, vc) = mean_var(c.0, c.1, c.2);
    let se = (vt / t.0 as f64 + vc / c.0 as f64).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return 0.0;
    }
    (mt - mc) / se
}

/// The gate thresholds (`None`: gate off).
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    pub max_error_rate_delta: Option<f64>,
    pub max_block_rate_delta: Option<f64>,
    pub max_latency_p95_ratio: Option<f64>,
    /// The latency gate also needs treatment's p95 to exceed control's by this many ms.
    pub min_latency_p95_delta_ms: f64,
    pub max_cost_ratio: Option<f64>,
    pub min_feedback_delta: Option<f64>,
    /// One-sided critical z for `confidence`.
    pub z_crit: f64,
}

/// Feedback scores each arm needs before the feedback gate is judged.
pub const MIN_FEEDBACK: u64 = 10;

/// The gate figures of one evaluation (for the transition log line).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateReport {
    /// The first gate that failed (`None`: all passed).
    pub failed: Option<&'static str>,
    pub n_control: u64,
    pub n_treatment: u64,
    pub error_delta: f64,
    pub error_z: f64,
    pub block_delta: f64,
    pub block_z: f64,
    pub p95_ratio: Option<f64>,
    /// Treatment p95 minus control p95 (ms).
    pub p95_delta_ms: Option<f64>,
    pub p95_z: f64,
    pub cost_ratio: Option<f64>,
    pub cost_z: f64,
    pub feedback_delta: Option<f64>,
    pub feedback_z: f64,
}

fn rate(x: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        x as f64 / n as f64
    }
}

/// Judges treatment against control. A gate fails only when the difference is beyond its
/// threshold AND significant at the configured confidence.
pub fn judge(g: &Gates, c: &ArmStats, t: &ArmStats) -> GateReport {
    let mut r = GateReport {
        n_control: c.requests,
        n_treatment: t.requests,
        error_delta: rate(t.errors, t.requests) - rate(c.errors, c.requests),
        error_z: two_proportion_z(t.errors, t.requests, c.errors, c.requests),
        block_delta: rate(t.blocks, t.requests) - rate(c.blocks, c.requests),
        block_z: two_proportion_z(t.blocks, t.requests, c.blocks, c.requests),
        ..GateReport::default()
    };
    let mut fail = |name: &'static str, failed: bool| {
        if failed && r.failed.is_none() {
            r.failed = Some(name);
        }
    };
    if let Some(max) = g.max_error_rate_delta {
        fail("error_rate", r.error_delta > max && r.error_z > g.z_crit);
    }
    if let Some(max) = g.max_block_rate_delta {
        fail("block_rate", r.block_delta > max && r.block_z > g.z_crit);
    }
    if let (Some(pc), Some(pt), Some(bucket)) = (
        c.latency_quantile(0.95),
        t.latency_quantile(0.95),
        c.quantile_bucket(0.95),
    ) {
        let ratio = if pc > 0.0 { pt / pc } else { 1.0 };
        let n_t: u64 = t.latency.iter().sum();
        let above: u64 = t.latency.iter().skip(bucket + 1).sum();
        r.p95_ratio = Some(ratio);
        r.p95_delta_ms = Some(pt - pc);
        r.p95_z = one_proportion_z(above, n_t, 0.05);
        if let Some(max) = g.max_latency_p95_ratio {
            fail(
                "latency_p95",
                ratio > max && pt - pc > g.min_latency_p95_delta_ms && r.p95_z > g.z_crit,
            );
        }
    }
    if c.cost_n >= 2 && t.cost_n >= 2 && c.cost_sum > 0.0 {
        let ratio = (t.cost_sum / t.cost_n as f64) / (c.cost_sum / c.cost_n as f64);
        r.cost_ratio = Some(ratio);
        r.cost_z = welch_z(
            (t.cost_n, t.cost_sum, t.cost_sq),
            (c.cost_n, c.cost_sum, c.cost_sq),
        );
        if let Some(max) = g.max_cost_ratio {
            fail("cost", ratio > max && r.cost_z > g.z_crit);
        }
    }
    if c.fb_n >= MIN_FEEDBACK && t.fb_n >= MIN_FEEDBACK {
        let delta = t.fb_sum / t.fb_n as f64 - c.fb_sum / c.fb_n as f64;
        r.feedback_delta = Some(delta);
        r.feedback_z = welch_z((t.fb_n, t.fb_sum, t.fb_sq), (c.fb_n, c.fb_sum, c.fb_sq));
        if let Some(min) = g.min_feedback_delta {
            fail("feedback", delta < min && r.feedback_z < -g.z_crit);
        }
    }
    r
}

impl GateReport {
    /// `gates: error_delta=... z=...` for the transition log line (aggregates only).
    pub fn figures(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        format!(
            "n_control={} n_treatment={} error_delta={:.4} error_z={:.2} block_delta={:.4} block_z={:.2} p95_ratio={} p95_delta_ms={} p95_z={:.2} cost_ratio={} cost_z={:.2} feedback_delta={} feedback_z={:.2}",
            self.n_control,
            self.n_treatment,
            self.error_delta,
            self.error_z,
            self.block_delta,
            self.block_z,
            opt(self.p95_ratio),
            self.p95_delta_ms.map_or("-".to_string(), |v| format!("{v:.0}")),
            self.p95_z,
            opt(self.cost_ratio),
            self.cost_z,
            opt(self.feedback_delta),
            self.feedback_z
        )
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn gates() -> Gates {
        Gates {
            max_error_rate_delta: Some(0.02),
            max_block_rate_delta: Some(0.02),
            max_latency_p95_ratio: Some(1.5),
            min_latency_p95_delta_ms: 50.0,
            max_cost_ratio: Some(1.5),
            min_feedback_delta: Some(-0.1),
            z_crit: normal_quantile(0.95),
        }
    }

    #[test]
    fn normal_quantile_matches_tables() {
        for (p, z) in [
            (0.5, 0.0),
            (0.9, 1.281_551_6),
            (0.95, 1.644_853_6),
            (0.975, 1.959_964_0),
            (0.99, 2.326_347_9),
            (0.999, 3.090_232_3),
            (0.01, -2.326_347_9),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-6,
                "{p}: {}",
                normal_quantile(p)
            );
        }
    }

    #[test]
    fn two_proportion_z_matches_a_worked_example() {
        // 30/200 vs 20/200: pooled p = 0.125, se = sqrt(0.125*0.875*0.01) = 0.033072,
        // z = 0.05 / 0.033072 = 1.5119.
        let z = two_proportion_z(30, 200, 20, 200);
        assert!((z - 1.511_86).abs() < 1e-4, "{z}");
        // 12/40 vs 4/360 (a 30% failing arm at stage 10%, min_requests 40).
        let z = two_proportion_z(12, 40, 4, 360);
        assert!((z - 8.845_38).abs() < 1e-4, "{z}");
        assert_eq!(two_proportion_z(0, 40, 0, 360), 0.0);
        assert_eq!(two_proportion_z(1, 0, 0, 10), 0.0);
    }

    #[test]
    fn one_proportion_and_welch_z() {
        // 20 of 100 above vs 5%: (0.2-0.05)/sqrt(0.0475/100) = 6.882.
        assert!((one_proportion_z(20, 100, 0.05) - 6.882_47).abs() < 1e-4);
        // Means 1.0 vs 0.0 with variance 1 each, n = 50: z = 1/sqrt(2/50) = 5.
        let arm = |mean: f64| {
            let mut s = (0u64, 0.0, 0.0);
            for i in 0..50 {
                let v = mean + if i % 2 == 0 { 1.0 } else { -1.0 } * (49.0f64 / 50.0).sqrt();
                s = (s.0 + 1, s.1 + v, s.2 + v * v);
            }
            s
        };
        let z = welch_z(arm(1.0), arm(0.0));
        assert!((z - 5.0).abs() < 1e-6, "{z}");
    }

    #[test]
    fn a_failing_arm_fails_the_error_gate_and_a_healthy_one_passes() {
        let mut c = ArmStats::default();
        let mut t = ArmStats::default();
        for i in 0..360 {
            c.add(&Outcome {
                error: i % 100 == 0,
                latency_ms: 3,
                ..Outcome::default()
            });
        }
        for i in 0..40 {
            t.add(&Outcome {
                error: i % 10 < 3,
                latency_ms: 3,
                ..Outcome::default()
            });
        }
        let r = judge(&gates(), &c, &t);
        assert_eq!(r.failed, Some("error_rate"), "{r:?}");
        // A delta over the threshold that is not significant passes: 1 error in 30 vs 4/360
        // (delta 0.022, z = 1.04).
        let mut small = ArmStats::default();
        for i in 0..30 {
            small.add(&Outcome {
                error: i == 0,
                latency_ms: 3,
                ..Outcome::default()
            });
        }
        let r = judge(&gates(), &c, &small);
        assert!(r.error_delta > 0.02);
        assert_eq!(r.failed, None, "{r:?}");
        let mut healthy = ArmStats::default();
        for i in 0..40 {
            healthy.add(&Outcome {
                error: i == 7,
                latency_ms: 3,
                ..Outcome::default()
            });
        }
        assert_eq!(judge(&gates(), &c, &healthy).failed, None);
    }

    #[test]
    fn latency_gate_uses_the_buckets_above_controls_p95() {
        let mut c = ArmStats::default();
        let mut t = ArmStats::default();
        for _ in 0..200 {
            c.add(&Outcome {
                latency_ms: 40,
                ..Outcome::default()
            });
            t.add(&Outcome {
                latency_ms: 400,
                ..Outcome::default()
            });
        }
        let r = judge(&gates(), &c, &t);
        assert_eq!(r.failed, Some("latency_p95"), "{r:?}");
        assert!(r.p95_ratio.unwrap_or(0.0) > 5.0);
        assert_eq!(judge(&gates(), &c, &c).failed, None);
    }

    #[test]
    fn latency_gate_ignores_differences_under_its_floor_in_ms() {
        // Control at 3 ms; treatment at 3 ms with one request in ten at 20 ms: p95 3.4
        // against 17, significant and over the ratio, but 14 ms apart.
        let mut c = ArmStats::default();
        let mut t = ArmStats::default();
        for i in 0..200 {
            c.add(&Outcome {
                latency_ms: 3,
                ..Outcome::default()
            });
            t.add(&Outcome {
                latency_ms: if i % 10 == 0 { 20 } else { 3 },
                ..Outcome::default()
            });
        }
        let r = judge(&gates(), &c, &t);
        assert_eq!(r.failed, None, "{r:?}");
        assert!(r.p95_ratio.unwrap_or(0.0) > 1.5 && r.p95_z > 1.645, "{r:?}");
        let delta = r.p95_delta_ms.unwrap_or(f64::MAX);
        assert!(delta > 5.0 && delta < 50.0, "{r:?}");
        let strict = Gates {
            min_latency_p95_delta_ms: 0.0,
            ..gates()
        };
        assert_eq!(judge(&strict, &c, &t).failed, Some("latency_p95"));
        assert!(r.figures().contains(&format!("p95_delta_ms={delta:.0} ")));
    }

    #[test]
    fn cost_and_feedback_gates() {
        let mut c = ArmStats::default();
        let mut t = ArmStats::default();
        for i in 0..100u64 {
            c.add(&Outcome {
                usage: Some((10, 100 + i % 7)),
                ..Outcome::default()
            });
            t.add(&Outcome {
                usage: Some((10, 300 + i % 7)),
                ..Outcome::default()
            });
            c.add_feedback(0.8 + (i % 3) as f64 * 0.05);
            t.add_feedback(0.3 + (i % 3) as f64 * 0.05);
        }
        let mut g = gates();
        let r = judge(&g, &c, &t);
        assert_eq!(r.failed, Some("cost"), "{r:?}");
        g.max_cost_ratio = None;
        let r = judge(&g, &c, &t);
        assert_eq!(r.failed, Some("feedback"), "{r:?}");
        g.min_feedback_delta = None;
        assert_eq!(judge(&g, &c, &t).failed, None);
    }

    #[test]
    fn stats_round_trip() {
        let mut s = ArmStats::default();
        s.add(&Outcome {
            error: true,
            block: false,
            latency_ms: 70_000,
            usage: Some((12, 345)),
        });
        s.add_feedback(0.25);
        assert_eq!(ArmStats::decode(s.encode().as_bytes()), Some(s));
        assert_eq!(ArmStats::decode(b"1 2 3"), None);
    }
}
