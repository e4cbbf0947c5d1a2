//! Trains the injection detector's hashed n-gram model (`src/injection/ngram.rs`) and measures
//! it leave-one-source-out. Deterministic (fixed seed, one thread); run by
//! `scripts/train_injection_ngram.sh` (`make train-injection`).
//!
//! `cargo run --release --example train_injection -- [--out FILE] [--loso] [--markdown]
//!     [--tool FILE]... [--measure FILE]... FILE...`
//!
//! - `FILE`: labelled JSON Lines (`{"text","label","source"}`, optionally `"category"` and a
//!   `"weight"` in 0..=1 that scales the row's loss) the model trains on, user context.
//! - `--tool FILE`: the same, but every text is a tool result (`ScanContext::tool_result`).
//! - `--measure FILE`: scored with the trained model, never trained on (e.g. data whose licence
//!   does not allow shipping weights trained on it); `tool:FILE` marks a tool-result file.
//! - `--out FILE`: where the model is written (`ngram::Model::to_bytes`).
//! - `--loso`: for every source (but `synthetic/*`), trains without it and scores it; prints
//!   recall per attack source, false-positive rate per benign source, rules alone and with the
//!   model.
//!
//! Rows of the kept-aside slice (FNV-1a of the text % 4 == 0, as in `eval_injection`) never
//! train. The rule model (`weights.rs`) is fixed: the n-gram weights learn what it misses, on
//! top of its logit. Every (source, label) group is drawn equally often per epoch, so a big
//! source cannot dominate; benign draws weigh `BENIGN_WEIGHT` times more.

use mesh_guardrail::injection::ngram::{self, Model, DIM};
use mesh_guardrail::injection::{InjectionConfig, InjectionDetector, ScanContext};
use std::collections::BTreeMap;
use std::io::BufRead;

const SEED: u64 = 0x5eed_2026_1126;
const EPOCHS: usize = 12;
const DRAWS_PER_GROUP: usize = 1200;
const LR: f32 = 0.08;
const L2: f32 = 1e-4;
const BENIGN_WEIGHT: f64 = 3.0;
/// The user-context intercept stays 0: a learned one lets the many attacks no word gives away
/// drag every text up, and long benign prompts with a few trigger words then cross the flag
/// threshold (the rule model's own intercept is a fixed prior for the same reason).
const BIAS_LR: f64 = 0.0;
const TOOL_BIAS_LR: f64 = 0.002;
/// The model may lower a text's logit by at most this much (see `ngram::Model::score`).
const FLOOR: f64 = -1.0;

/// A hyper-parameter, overridable for experiments as `TRAIN_<NAME>` in the environment.
fn hp(name: &str, default: f64) -> f64 {
    std::env::var(format!("TRAIN_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Row {
    label: u8,
    source: String,
    /// The kind of text, for balancing: the category minus its attack/benign prefix
    /// (`indirect-email` and `benign-email` are both `email`).
    kind: String,
    tool: bool,
    train: bool,
    measure: bool,
    text: String,
    z_rule: f64,
    /// (block << 18) | bucket
    feats: Vec<u32>,
    blocks: usize,
    /// How much the row's loss counts (`"weight"` in the file, default 1).
    weight: f64,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn holdout(text: &str) -> bool {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h.is_multiple_of(4)
}

const MASK: u32 = (1 << ngram::BITS) - 1;

struct Trained {
    w: Vec<f32>,
    bias: f64,
    tool_bias: f64,
    /// Lower bound of the model's logit (`ngram::Model`'s `floor`).
    floor: f64,
}

fn forward(t: &Trained, r: &Row, sums: &mut Vec<(f64, u32)>) -> (f64, usize, usize) {
    sums.clear();
    sums.resize(r.blocks.max(1), (0.0, 0));
    for &f in &r.feats {
        let (b, k) = ((f >> ngram::BITS) as usize, f & MASK);
        let mut w = f64::from(t.w[k as usize]);
        if r.tool {
            w += f64::from(t.w[ngram::tool_bucket(k) as usize]);
        }
        if let Some(s) = sums.get_mut(b) {
            s.0 += w;
            s.1 += 1;
        }
    }
    let mut best = (f64::NEG_INFINITY, 0, 0);
    for (a, b) in ngram::windows(r.blocks.max(1)) {
        let (s0, c0) = sums[a];
        let (s1, c1) = if b != a { sums[b] } else { (0.0, 0) };
        let c = c0 + c1;
        if c == 0 {
            continue;
        }
        let c = if r.tool {
            c.max(ngram::TOOL_MIN_FEATURES)
        } else {
            c
        };
        let m = (s0 + s1) / f64::from(c);
        if m > best.0 {
            best = (m, a, b);
        }
    }
    if !best.0.is_finite() {
        best.0 = 0.0;
    }
    let mut m = t.bias + best.0;
    if r.tool {
        m += t.tool_bias;
    }
    if m < t.floor {
        // Clamped: the weights get no gradient from this row (`usize::MAX` marks it).
        return (r.z_rule + t.floor, usize::MAX, usize::MAX);
    }
    (r.z_rule + m, best.1, best.2)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z.clamp(-30.0, 30.0)).exp())
}

fn train(rows: &[Row], use_row: impl Fn(&Row) -> bool) -> Trained {
    let mut rng = Rng(SEED);
    let mut groups: BTreeMap<(&str, &str, u8), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.train && !r.measure && use_row(r) {
            groups
                .entry((r.source.as_str(), r.kind.as_str(), r.label))
                .or_default()
                .push(i);
        }
    }
    let mut t = Trained {
        w: vec![0.0; DIM],
        bias: hp("BIAS0", 0.0),
        tool_bias: hp("TOOL_BIAS0", 0.0),
        floor: hp("FLOOR", FLOOR),
    };
    let (epochs, draws) = (
        hp("EPOCHS", EPOCHS as f64) as usize,
        hp("DRAWS", DRAWS_PER_GROUP as f64) as usize,
    );
    let (lr, l2) = (
        hp("LR", f64::from(LR)) as f32,
        hp("L2", f64::from(L2)) as f32,
    );
    let (benign_weight, bias_lr) = (hp("BENIGN", BENIGN_WEIGHT), hp("BIAS_LR", BIAS_LR));
    let tool_bias_lr = hp("TOOL_BIAS_LR", TOOL_BIAS_LR);
    let mut g2 = vec![1e-6f32; DIM];
    let mut sums = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    for _ in 0..epochs {
        order.clear();
        for idx in groups.values() {
            for _ in 0..draws {
                order.push(idx[rng.below(idx.len())]);
            }
        }
        for k in (1..order.len()).rev() {
            let j = rng.below(k + 1);
            order.swap(k, j);
        }
        for &i in &order {
            let r = &rows[i];
            let (z, a, b) = forward(&t, r, &mut sums);
            if a == usize::MAX {
                continue;
            }
            let lw = if r.label == 0 { benign_weight } else { 1.0 } * r.weight;
            let g = (sigmoid(z) - f64::from(r.label)) * lw;
            t.bias -= bias_lr * g;
            if r.tool {
                t.tool_bias -= tool_bias_lr * g;
            }
            let count = sums[a].1 + if b != a { sums[b].1 } else { 0 };
            if count == 0 {
                continue;
            }
            // As `forward` (and `ngram::Model::score`): a tool row's mean is over at least
            // TOOL_MIN_FEATURES features.
            let count = if r.tool {
                count.max(ngram::TOOL_MIN_FEATURES)
            } else {
                count
            };
            let gf = (g / f64::from(count)) as f32;
            for &f in &r.feats {
                let blk = (f >> ngram::BITS) as usize;
                if blk != a && blk != b {
                    continue;
                }
                let k = (f & MASK) as usize;
                let mut upd = |k: usize| {
                    let d = gf + l2 * t.w[k];
                    g2[k] += d * d;
                    t.w[k] -= lr * d / g2[k].sqrt();
                };
                upd(k);
                if r.tool {
                    upd(ngram::tool_bucket(k as u32) as usize);
                }
            }
        }
    }
    t
}

/// A category without its attack/benign prefix, so that the attacks and the clean texts of one
/// kind (e-mails, tables, code, tool outputs) form balanced groups: a model must not learn that
/// e-mails are attacks because a source holds more attack e-mails than clean ones. Categories
/// that name an attack family (direct attacks, jailbreaks) are one kind.
fn kind_of(category: &str) -> String {
    for p in ["indirect-", "benign-"] {
        if let Some(k) = category.strip_prefix(p) {
            return match k {
                "tool" | "tool-output" | "agent" => "tool".to_string(),
                k => k.to_string(),
            };
        }
    }
    String::new()
}

fn quantise(t: &Trained) -> Vec<u8> {
    let levels = hp("QLEVELS", f64::from(ngram::LEVELS)) as f32;
    let pct = hp("QPCT", 1.0);
    let mut mags: Vec<f32> = t.w.iter().map(|w| w.abs()).filter(|&w| w > 0.0).collect();
    mags.sort_by(|a, b| a.total_cmp(b));
    let at = ((mags.len() as f64 * pct) as usize).min(mags.len().saturating_sub(1));
    let max = mags.get(at).copied().unwrap_or(0.0).max(1e-9);
    let scale = max / levels;
    let q: Vec<i8> =
        t.w.iter()
            .map(|w| (w / scale).round().clamp(-levels, levels) as i8)
            .collect();
    Model::to_bytes(&q, scale, t.bias as f32, t.tool_bias as f32, t.floor as f32)
}

/// (rows, detected) per (label, source).
type Tally = BTreeMap<(u8, String), (usize, usize)>;

fn tally(det: &InjectionDetector, rows: &[&Row]) -> Tally {
    let mut out = Tally::new();
    for r in rows {
        let v = det.scan_in(
            &r.text,
            ScanContext {
                tool_result: r.tool,
                ..ScanContext::USER
            },
        );
        let e = out.entry((r.label, r.source.clone())).or_default();
        e.0 += 1;
        if v.score >= det.flag_threshold {
            e.1 += 1;
        }
    }
    out
}

/// Writes the left-out source's errors (missed attacks, flagged benign rows) with their scores
/// to `DIR/<source>.jsonl`, for reading what a model does not carry to unseen data.
fn dump_errors(
    dir: &str,
    source: &str,
    det: &InjectionDetector,
    rows: &[&Row],
) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let name: String = source
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/{name}.jsonl"))?);
    for r in rows {
        let v = det.scan_in(
            &r.text,
            ScanContext {
                tool_result: r.tool,
                ..ScanContext::USER
            },
        );
        if (v.score >= det.flag_threshold) != (r.label == 1) {
            let line = serde_json::json!({"label": r.label, "score": v.score, "text": r.text});
            writeln!(f, "{line}")?;
        }
    }
    f.flush()
}

fn rate(t: &Tally, label: u8) -> Option<(usize, f64)> {
    let v: Vec<_> = t.iter().filter(|(k, _)| k.0 == label).collect();
    let n: usize = v.iter().map(|(_, x)| x.0).sum();
    let d: usize = v.iter().map(|(_, x)| x.1).sum();
    (n > 0).then(|| (n, d as f64 / n as f64))
}

fn fmt_rate(x: Option<(usize, f64)>) -> String {
    x.map_or("-".to_string(), |(_, r)| format!("{r:.3}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut loso = false;
    let mut files: Vec<(String, bool, bool)> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = Some(args.next().ok_or("--out needs a path")?),
            "--loso" => loso = true,
            "--tool" => files.push((args.next().ok_or("--tool needs a path")?, true, false)),
            "--measure" => {
                let p = args.next().ok_or("--measure needs a path")?;
                match p.strip_prefix("tool:") {
                    Some(p) => files.push((p.to_string(), true, true)),
                    None => files.push((p, false, true)),
                }
            }
            _ => files.push((a, false, false)),
        }
    }
    if files.is_empty() {
        return Err("usage: train_injection [--out FILE] [--loso] [--tool FILE]... [--measure FILE]... FILE...".into());
    }
    let base =
        InjectionDetector::compile(&InjectionConfig::default()).map_err(|e| e.to_string())?;
    let rules_only = InjectionDetector::compile(&InjectionConfig::default())
        .map_err(|e| e.to_string())?
        .with_ngram_model(Vec::new());
    let mut rows = Vec::new();
    for (p, tool, measure) in &files {
        for line in std::io::BufReader::new(std::fs::File::open(p)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line)?;
            let text = v["text"].as_str().unwrap_or("").to_string();
            // As the filter scores it (an identifier-shaped text is never a tool row).
            let ctx = ngram::Context {
                tool_result: *tool,
                ..ngram::Context::USER
            }
            .for_text(&text);
            let (z_rule, norm) = base.rule_logit_and_norm(&text, ctx);
            let mut feats = Vec::new();
            ngram::features(&norm, |b, k| feats.push((b.min(16383) << ngram::BITS) | k));
            rows.push(Row {
                label: v["label"].as_i64().unwrap_or(0).clamp(0, 1) as u8,
                source: v["source"].as_str().unwrap_or("").to_string(),
                kind: kind_of(v["category"].as_str().unwrap_or("")),
                tool: ctx.tool_result,
                train: !holdout(&text),
                measure: *measure,
                blocks: norm.len().div_ceil(ngram::BLOCK).max(1),
                weight: v["weight"].as_f64().unwrap_or(1.0).clamp(0.0, 1.0),
                text,
                z_rule,
                feats,
            });
        }
    }
    eprintln!("{} rows loaded", rows.len());
    if loso {
        let mut sources: Vec<String> = rows
            .iter()
            .filter(|r| !r.measure && !r.source.starts_with("synthetic"))
            .map(|r| r.source.clone())
            .collect();
        sources.sort();
        sources.dedup();
        println!("| left-out source | attack rows | recall rules | recall rules+model | benign rows | FPR rules | FPR rules+model | balanced acc. rules+model |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        let mut bal = Vec::new();
        let (mut recalls, mut specs) = (Vec::new(), Vec::new());
        for s in &sources {
            let t = train(&rows, |r| &r.source != s);
            let det = InjectionDetector::compile(&InjectionConfig::default())
                .map_err(|e| e.to_string())?
                .with_ngram_model(quantise(&t));
            let test: Vec<&Row> = rows.iter().filter(|r| &r.source == s).collect();
            let before = tally(&rules_only, &test);
            let after = tally(&det, &test);
            if let Ok(dir) = std::env::var("TRAIN_DUMP_DIR") {
                dump_errors(&dir, s, &det, &test)?;
            }
            let (a, b) = (rate(&after, 1), rate(&after, 0));
            let ba = match (a, b) {
                (Some(a), Some(b)) => (a.1 + 1.0 - b.1) / 2.0,
                (Some(a), None) => a.1,
                (None, Some(b)) => 1.0 - b.1,
                _ => f64::NAN,
            };
            bal.push(ba);
            if let Some(a) = a {
                recalls.push(a.1);
            }
            if let Some(b) = b {
                specs.push(1.0 - b.1);
            }
            println!(
                "| {s} | {} | {} | {} | {} | {} | {} | {ba:.3} |",
                a.map_or(0, |x| x.0),
                fmt_rate(rate(&before, 1)),
                fmt_rate(a),
                b.map_or(0, |x| x.0),
                fmt_rate(rate(&before, 0)),
                fmt_rate(b),
            );
        }
        let mean = bal.iter().sum::<f64>() / bal.len().max(1) as f64;
        let m = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        println!(
            "mean recall over left-out attack sources {:.3}, mean FPR over left-out benign sources {:.3}, balanced accuracy {:.3} (mean of the per-source figures above: {mean:.3})",
            m(&recalls),
            1.0 - m(&specs),
            (m(&recalls) + m(&specs)) / 2.0
        );
    }
    if let Some(out) = out {
        let t = train(&rows, |_| true);
        let bytes = quantise(&t);
        std::fs::write(&out, Model::pack(&bytes))?;
        eprintln!(
            "wrote {out}: bias {:.3}, tool bias {:.3}, {} non-zero weights",
            t.bias,
            t.tool_bias,
            bytes.iter().skip(16).filter(|&&b| b != 0).count()
        );
        let det = InjectionDetector::compile(&InjectionConfig::default())
            .map_err(|e| e.to_string())?
            .with_ngram_model(bytes);
        for (title, keep) in [("kept-aside slice", true), ("measure-only files", false)] {
            let test: Vec<&Row> = rows
                .iter()
                .filter(|r| {
                    if keep {
                        !r.train && !r.measure
                    } else {
                        r.measure
                    }
                })
                .collect();
            println!("\n{title}: source, label, rows, detected rate (rules only -> rules+model)");
            let before = tally(&rules_only, &test);
            let after = tally(&det, &test);
            for ((l, s), (n, d)) in &after {
                let b = before.get(&(*l, s.clone())).map_or(0, |x| x.1);
                println!(
                    "  {s:<70} {l} {n:>5} {:.3} -> {:.3}",
                    b as f64 / *n as f64,
                    *d as f64 / *n as f64
                );
            }
        }
    }
    Ok(())
}
