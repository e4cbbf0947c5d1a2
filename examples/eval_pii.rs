//! PII detector evaluation on presidio-research style data.
//!
//! `cargo run --release --example eval_pii -- FILE.json [FILE.json ...] [--verbose]`
//!
//! Prints precision / recall per entity (span overlap with the same type), TP/FP/FN, round-trip
//! failures (anonymize then restore, whole text and streamed in 1/3/7-char deltas) and speed.
//! Every fifth sentence is reported separately as a held-aside slice: it was not looked at
//! while tuning. Dev data on the developer's screen only; nothing here is logged.

use mesh_guardrail::pii::{PiiConfig, PiiEngine, PiiKind, PiiVault};
use std::collections::BTreeMap;
use std::time::Instant;

fn kind_of(label: &str) -> Option<PiiKind> {
    Some(match label {
        "EMAIL_ADDRESS" => PiiKind::Email,
        "PHONE_NUMBER" => PiiKind::Phone,
        "US_SSN" => PiiKind::Ssn,
        "CREDIT_CARD" => PiiKind::CreditCard,
        "IBAN_CODE" => PiiKind::Iban,
        "IP_ADDRESS" => PiiKind::IpAddress,
        _ => return None,
    })
}

#[derive(Default, Clone, Copy)]
struct Score {
    tp: u32,
    fp: u32,
    fn_: u32,
}

struct Sentence {
    text: String,
    gold: Vec<(PiiKind, usize, usize)>,
}

fn load(path: &str) -> Result<Vec<Sentence>, String> {
    let raw = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let rows: serde_json::Value = serde_json::from_str(&raw).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for row in rows.as_array().ok_or("not an array")? {
        let text = row["full_text"].as_str().unwrap_or("").to_string();
        // Positions are in characters: map them to bytes.
        let mut byte_at: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        byte_at.push(text.len());
        let mut gold = Vec::new();
        for s in row["spans"].as_array().into_iter().flatten() {
            let Some(kind) = kind_of(s["entity_type"].as_str().unwrap_or("")) else {
                continue;
            };
            let (a, b) = (
                s["start_position"].as_u64().unwrap_or(0) as usize,
                s["end_position"].as_u64().unwrap_or(0) as usize,
            );
            if let (Some(&a), Some(&b)) = (byte_at.get(a), byte_at.get(b)) {
                gold.push((kind, a, b));
            }
        }
        out.push(Sentence { text, gold });
    }
    Ok(out)
}

fn split_chars(s: &str, n: usize) -> Vec<&str> {
    let idx: Vec<usize> = s
        .char_indices()
        .map(|(b, _)| b)
        .step_by(n)
        .chain(std::iter::once(s.len()))
        .collect();
    idx.windows(2)
        .map(|w| &s[w[0]..w[1]])
        .filter(|p| !p.is_empty())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    if files.is_empty() {
        eprintln!("usage: eval_pii FILE.json [FILE.json ...] [--verbose]");
        std::process::exit(2);
    }
    let mut sentences = Vec::new();
    for f in &files {
        match load(f) {
            Ok(mut s) => sentences.append(&mut s),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
    let engine = match PiiEngine::compile(&PiiConfig::default(), b"eval-key".to_vec()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };

    let mut scores: [BTreeMap<PiiKind, Score>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let mut examples: Vec<String> = Vec::new();
    let (mut rt_json, mut rt_stream) = (0u32, [0u32; 3]);
    for (idx, s) in sentences.iter().enumerate() {
        let split = usize::from(idx % 5 == 0);
        let pred = engine.detect(&s.text);
        for p in &pred {
            if p.kind == PiiKind::Secret {
                continue;
            }
            let hit = s
                .gold
                .iter()
                .any(|&(k, a, b)| k == p.kind && p.start < b && a < p.end);
            let e = scores[split].entry(p.kind).or_default();
            if hit {
                e.tp += 1;
            } else {
                e.fp += 1;
                if verbose {
                    let other = s
                        .gold
                        .iter()
                        .find(|&&(_, a, b)| p.start < b && a < p.end)
                        .map(|g| format!(" (gold {:?})", g.0))
                        .unwrap_or_default();
                    examples.push(format!(
                        "FP {:?}{other}: {:?}  in: {:?}",
                        p.kind,
                        &s.text[p.start..p.end],
                        s.text.replace('\n', " ")
                    ));
                }
            }
        }
        for &(k, a, b) in &s.gold {
            if !pred.iter().any(|p| p.kind == k && p.start < b && a < p.end) {
                scores[split].entry(k).or_default().fn_ += 1;
                if verbose {
                    let other = pred
                        .iter()
                        .find(|p| p.start < b && a < p.end)
                        .map(|p| format!(" (found {:?})", p.kind))
                        .unwrap_or_default();
                    examples.push(format!(
                        "FN {k:?}{other}: {:?}  in: {:?}",
                        &s.text[a..b],
                        s.text.replace('\n', " ")
                    ));
                }
            }
        }
        // Round trips.
        let mut vault = PiiVault::default();
        let anon = engine
            .anonymize(&s.text, &mut vault)
            .unwrap_or_else(|| s.text.clone());
        let back = engine
            .restore(&anon, &vault)
            .unwrap_or_else(|| anon.clone());
        if back != s.text {
            rt_json += 1;
            if verbose {
                examples.push(format!("ROUND TRIP (json): {:?} -> {:?}", s.text, back));
            }
        }
        for (k, n) in [1usize, 3, 7].into_iter().enumerate() {
            let mut r = engine.stream_restorer();
            let mut out = String::new();
            for piece in split_chars(&anon, n) {
                out.push_str(&r.push(&engine, &vault, piece));
            }
            out.push_str(&r.finish(&engine, &vault));
            if out != s.text {
                rt_stream[k] += 1;
                if verbose {
                    examples.push(format!(
                        "ROUND TRIP (stream {n}): {:?} -> {:?}",
                        s.text, out
                    ));
                }
            }
        }
    }

    println!(
        "PII detection, {} sentences from {} file(s); span overlap, same type",
        sentences.len(),
        files.len()
    );
    for (split, name) in [
        (0usize, "tuning slice (4/5)"),
        (1, "held-aside slice (every 5th)"),
        (2, "all"),
    ] {
        println!("\n{name}");
        println!(
            "{:<12} {:>9} {:>9} {:>6} {:>6} {:>6}",
            "entity", "precision", "recall", "TP", "FP", "FN"
        );
        for kind in PiiKind::ALL {
            if kind == PiiKind::Secret {
                continue;
            }
            let s = if split == 2 {
                let (a, b) = (
                    scores[0].get(&kind).copied().unwrap_or_default(),
                    scores[1].get(&kind).copied().unwrap_or_default(),
                );
                Score {
                    tp: a.tp + b.tp,
                    fp: a.fp + b.fp,
                    fn_: a.fn_ + b.fn_,
                }
            } else {
                scores[split].get(&kind).copied().unwrap_or_default()
            };
            let p = if s.tp + s.fp == 0 {
                1.0
            } else {
                s.tp as f64 / (s.tp + s.fp) as f64
            };
            let gold = s.tp.saturating_sub(0) + s.fn_; // approx: TP counts predictions
            let r = if gold == 0 {
                1.0
            } else {
                1.0 - s.fn_ as f64 / gold.max(1) as f64
            };
            println!(
                "{:<12} {:>9.3} {:>9.3} {:>6} {:>6} {:>6}",
                kind.label(),
                p,
                r,
                s.tp,
                s.fp,
                s.fn_
            );
        }
    }
    println!(
        "\nround-trip failures: json {rt_json}, stream@1 {}, stream@3 {}, stream@7 {}",
        rt_stream[0], rt_stream[1], rt_stream[2]
    );

    // Speed: a 4 KB prompt of the sentences, detection + tokenisation.
    let mut prompt = String::new();
    for s in sentences.iter().cycle().take(sentences.len().max(1) * 4) {
        if prompt.len() + s.text.len() + 1 > 4096 {
            break;
        }
        prompt.push_str(&s.text);
        prompt.push('\n');
    }
    let plain: String =
        "The quick brown fox jumps over the lazy dog, then writes a short note about the weather. "
            .repeat(4096 / 89 + 1);
    let plain = &plain[..4096];
    for (name, text) in [
        ("4 KB of dev sentences", prompt.as_str()),
        ("4 KB of plain prose", plain),
    ] {
        // Best of 10 batches: the machine is shared, the minimum is the least disturbed figure.
        let iters = 2_000;
        let (mut best_anon, mut best_detect, mut n) = (f64::MAX, f64::MAX, 0usize);
        for _ in 0..10 {
            let t = Instant::now();
            for _ in 0..iters {
                let mut vault = PiiVault::default();
                n += engine
                    .anonymize(std::hint::black_box(text), &mut vault)
                    .map(|s| s.len())
                    .unwrap_or(0);
            }
            best_anon = best_anon.min(t.elapsed().as_secs_f64() * 1e6 / iters as f64);
            let t = Instant::now();
            for _ in 0..iters {
                n += engine.detect(std::hint::black_box(text)).len();
            }
            best_detect = best_detect.min(t.elapsed().as_secs_f64() * 1e6 / iters as f64);
        }
        std::hint::black_box(n);
        println!(
            "speed ({name}, {} bytes): anonymize {:.2} us per prompt ({:.2} us per KB), detect only {:.2} us",
            text.len(),
            best_anon,
            best_anon * 1024.0 / text.len() as f64,
            best_detect
        );
    }
    if verbose {
        println!("\nexamples:");
        for e in examples.iter().take(400) {
            println!("  {e}");
        }
    }
}
