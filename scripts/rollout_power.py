#!/usr/bin/env python3
"""Power of the rollout error-rate gate (src/rollout/stats.rs), computed exactly.

The gate fails when the treatment's error rate exceeds control's by more than
max_error_rate_delta AND the one-sided two-proportion z-test (pooled) is significant at
`confidence`. For a treatment failing at rate P_T against a healthy control failing at P_C, with
the treatment at STAGE% of traffic (so control gets (100-STAGE)/STAGE times as many requests),
this sums the binomial probabilities of every outcome that fails the gate.

    python3 scripts/rollout_power.py [--p-t 0.3] [--p-c 0.0] [--stage 10] [--delta 0.02] [--confidence 0.95]
"""
import argparse
import math


def z_crit(conf):
    lo, hi = 0.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < conf:
            lo = mid
        else:
            hi = mid
    return lo


def binom(n, p):
    if p <= 0:
        return [1.0] + [0.0] * n
    if p >= 1:
        return [0.0] * n + [1.0]
    lp, lq = math.log(p), math.log(1 - p)
    return [math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq)
            for k in range(n + 1)]


def z(xt, nt, xc, nc):
    p = (xt + xc) / (nt + nc)
    se = math.sqrt(p * (1 - p) * (1 / nt + 1 / nc))
    return 0.0 if se <= 0 else (xt / nt - xc / nc) / se


def power(nt, nc, pt, pc, delta, zc):
    bt, bc = binom(nt, pt), binom(nc, pc)
    total = 0.0
    for xc, qc in enumerate(bc):
        if qc < 1e-12:
            continue
        for xt, qt in enumerate(bt):
            if qt < 1e-12:
                continue
            if xt / nt - xc / nc > delta and z(xt, nt, xc, nc) > zc:
                total += qc * qt
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--p-t", type=float, default=0.3)
    ap.add_argument("--p-c", type=float, default=0.0)
    ap.add_argument("--stage", type=float, default=10)
    ap.add_argument("--delta", type=float, default=0.02)
    ap.add_argument("--confidence", type=float, default=0.95)
    a = ap.parse_args()
    zc = z_crit(a.confidence)
    ratio = (100 - a.stage) / a.stage
    print("treatment fails %.0f%%, control %.1f%%, stage %g%%, max delta %.2f, confidence %.2f (z > %.3f)"
          % (a.p_t * 100, a.p_c * 100, a.stage, a.delta, a.confidence, zc))
    print("treatment requests  control requests  P(gate fails)")
    first = {}
    for nt in list(range(1, 21)) + [25, 30, 40, 60]:
        nc = max(1, round(nt * ratio))
        pw = power(nt, nc, a.p_t, a.p_c, a.delta, zc)
        print("%18d  %16d  %.6f" % (nt, nc, pw))
        for target in (0.9, 0.95, 0.99, 0.999):
            if pw >= target and target not in first:
                first[target] = nt
    for target, nt in sorted(first.items()):
        print("power >= %.3f from %d treatment requests" % (target, nt))
    print("false rollbacks of a healthy treatment (failing at the control's %.1f%%):" % (a.p_c * 100))
    for nt in (40, 100, 200, 400):
        nc = max(1, round(nt * ratio))
        print("%18d  %16d  %.4f" % (nt, nc, power(nt, nc, a.p_c, a.p_c, a.delta, zc)))


if __name__ == "__main__":
    main()
