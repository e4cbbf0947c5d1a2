//! Development aid: prints score, action and rule ids for each row of JSON Lines files (or for
//! each argument with `--text`), to see why a prompt scored as it did; `--tool` scores the texts
//! as tool results, `--definition` as tool definitions. With `--text`, also the contributions
//! to the logit: each rule family (weight x feature), the n-gram model's pooled logit and its
//! strongest buckets (ids, never text).
//! `cargo run --release --example injection_explain -- [--tool|--definition] [--text] FILE.jsonl|TEXT...`

use mesh_guardrail::injection::{InjectionConfig, InjectionDetector, ScanContext};
use std::io::BufRead;

fn show(det: &InjectionDetector, ctx: ScanContext, label: &str, text: &str, explain: bool) {
    let v = det.scan_in(text, ctx);
    let mut ids: Vec<&str> = v.hits.iter().map(|h| h.id.as_ref()).collect();
    ids.dedup();
    let preview: String = text
        .chars()
        .take(110)
        .collect::<String>()
        .replace('\n', " ");
    println!(
        "{:.3} {:<8} {} [{}] {}",
        v.score,
        det.action_for(v.score).as_str(),
        label,
        ids.join(","),
        preview
    );
    if explain {
        for (name, c) in det.contributions(text, ctx) {
            println!("    {c:+8.3}  {name}");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let det = InjectionDetector::compile(&InjectionConfig::default()).map_err(|e| e.to_string())?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let ctx = match args.first().map(String::as_str) {
        Some("--tool") => ScanContext::TOOL_RESULT,
        Some("--definition") => ScanContext::DEFINITION,
        _ => ScanContext::USER,
    };
    if ctx != ScanContext::USER {
        args.remove(0);
    }
    if args.first().map(String::as_str) == Some("--text") {
        for t in args.iter().skip(1) {
            show(&det, ctx, "-", t, true);
        }
        return Ok(());
    }
    for p in &args {
        for line in std::io::BufReader::new(std::fs::File::open(p)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line)?;
            show(
                &det,
                ctx,
                &v["label"].to_string(),
                v["text"].as_str().unwrap_or(""),
                false,
            );
        }
    }
    Ok(())
}
