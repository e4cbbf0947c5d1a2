//! Evaluates the injection detector on labelled JSON Lines files
//! (`{"text","label","source",...}`, label 1 = attack):
//!
//! `cargo run --release --example eval_injection -- [--config CONFIG] [--tool FILE]... FILE.jsonl...`
//!
//! `CONFIG` is an `injection` config object, inline JSON or a file path. `--tool FILE` scores
//! that file's texts as tool results (`ScanContext::tool_result`, as the filter does for
//! `role: tool`, Anthropic `tool_result` and Responses `function_call_output`); it also prints
//! that file's figures per category (injection family). Prints recall per
//! attack source and false-positive rate per benign source at the flag threshold (anything
//! but `allow` counts as detected), for all rows and for the kept-aside slice (FNV-1a of the
//! text % 4 == 0, never used for training), a threshold sweep with balanced accuracy (mean
//! recall over attack sources and mean specificity over benign sources, averaged), and the
//! scanning cost in microseconds per KB.

use mesh_guardrail::injection::{InjectionConfig, InjectionDetector, ScanContext};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Instant;

fn holdout(text: &str) -> bool {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h.is_multiple_of(4)
}

struct Row {
    label: i64,
    source: String,
    category: String,
    tool: bool,
    holdout: bool,
    score: f64,
}

fn table(rows: &[&Row], threshold: f64, title: &str) {
    let mut per: BTreeMap<(i64, &str), (usize, usize)> = BTreeMap::new();
    for r in rows {
        let e = per.entry((r.label, r.source.as_str())).or_default();
        e.0 += 1;
        if r.score >= threshold {
            e.1 += 1;
        }
    }
    println!("\n== {title} (detected = score >= {threshold:.2}) ==");
    println!(
        "{:<8} {:<40} {:>6} {:>9} {:>8}",
        "kind", "source", "rows", "detected", "rate"
    );
    for ((label, src), (n, d)) in &per {
        let kind = if *label == 1 { "attack" } else { "benign" };
        let what = if *label == 1 { "recall" } else { "FPR" };
        println!(
            "{:<8} {:<40} {:>6} {:>9} {:>7.3} {}",
            kind,
            src,
            n,
            d,
            *d as f64 / (*n).max(1) as f64,
            what
        );
    }
    println!("balanced accuracy: {:.3}", balanced(rows, threshold));
}

fn balanced(rows: &[&Row], t: f64) -> f64 {
    let mut per: BTreeMap<(i64, &str), (usize, usize)> = BTreeMap::new();
    for r in rows {
        let e = per.entry((r.label, r.source.as_str())).or_default();
        e.0 += 1;
        let correct = (r.score >= t) == (r.label == 1);
        if correct {
            e.1 += 1;
        }
    }
    let mean = |label: i64| {
        let v: Vec<f64> = per
            .iter()
            .filter(|(k, _)| k.0 == label)
            .map(|(_, (n, c))| *c as f64 / (*n).max(1) as f64)
            .collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let (a, b) = (mean(1), mean(0));
    match (a.is_nan(), b.is_nan()) {
        (false, false) => (a + b) / 2.0,
        (true, false) => b,
        (false, true) => a,
        _ => f64::NAN,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut cfg = InjectionConfig::default();
    let mut paths = Vec::new();
    while let Some(a) = args.next() {
        if a == "--tool" {
            paths.push((args.next().ok_or("--tool needs a path")?, true));
            continue;
        }
        if a == "--config" {
            let c = args.next().ok_or("--config needs a value")?;
            let json = if c.trim_start().starts_with('{') {
                c
            } else {
                std::fs::read_to_string(&c)?
            };
            cfg = serde_json::from_str(&json)?;
        } else {
            paths.push((a, false));
        }
    }
    if paths.is_empty() {
        return Err("usage: eval_injection [--config CONFIG] FILE.jsonl...".into());
    }
    let mut det = InjectionDetector::compile(&cfg).map_err(|e| e.to_string())?;
    // Another n-gram model than the embedded one (e.g. one `train_injection --out` just wrote).
    if let Ok(p) = std::env::var("EVAL_NGRAM_MODEL") {
        det = det.with_ngram_model(std::fs::read(p)?);
    }
    let mut rows = Vec::new();
    let mut texts = Vec::new();
    for (p, tool) in &paths {
        for line in std::io::BufReader::new(std::fs::File::open(p)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line)?;
            let text = v["text"].as_str().unwrap_or("").to_string();
            rows.push(Row {
                label: v["label"].as_i64().unwrap_or(0),
                source: v["source"].as_str().unwrap_or("").to_string(),
                category: v["category"].as_str().unwrap_or("").to_string(),
                tool: *tool,
                holdout: holdout(&text),
                score: 0.0,
            });
            texts.push(text);
        }
    }
    let start = Instant::now();
    let mut bytes = 0usize;
    for (r, t) in rows.iter_mut().zip(&texts) {
        r.score = det
            .scan_in(
                t,
                ScanContext {
                    tool_result: r.tool,
                    ..ScanContext::USER
                },
            )
            .score;
        bytes += t.len();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let all: Vec<&Row> = rows.iter().collect();
    let kept: Vec<&Row> = rows.iter().filter(|r| r.holdout).collect();
    println!("rows: {} (kept-aside slice: {})", all.len(), kept.len());
    table(&all, det.flag_threshold, "all rows");
    table(&kept, det.flag_threshold, "kept-aside slice");
    if rows.iter().any(|r| r.tool) {
        // Tool-result rows by category (family), all rows: source/category as the key.
        let by_cat: Vec<Row> = rows
            .iter()
            .filter(|r| r.tool)
            .map(|r| Row {
                label: r.label,
                source: format!("{} / {}", r.source, r.category),
                category: String::new(),
                tool: true,
                holdout: r.holdout,
                score: r.score,
            })
            .collect();
        let refs: Vec<&Row> = by_cat.iter().collect();
        table(
            &refs,
            det.flag_threshold,
            "tool results by category, all rows",
        );
        let refs: Vec<&Row> = by_cat.iter().filter(|r| r.holdout).collect();
        table(
            &refs,
            det.flag_threshold,
            "tool results by category, kept-aside slice",
        );
    }
    println!("\n== threshold sweep: balanced accuracy ==");
    println!("{:>9} {:>10} {:>11}", "threshold", "all", "kept-aside");
    let mut t = 0.30;
    while t <= 0.951 {
        println!(
            "{:>9.2} {:>10.3} {:>11.3}",
            t,
            balanced(&all, t),
            balanced(&kept, t)
        );
        t += 0.05;
    }
    println!(
        "\nscan cost: {:.2} us/KB over {} KB",
        elapsed * 1e6 / (bytes as f64 / 1024.0),
        bytes / 1024
    );
    Ok(())
}
