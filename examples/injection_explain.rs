//! Development aid: prints score, action and rule ids for each row of JSON Lines files (or for
//! each argument with `--text`), to see why a prompt scored as it did.
//! `cargo run --release --example injection_explain -- [--text] FILE.jsonl|TEXT...`

use mesh_guardrail::injection::{InjectionConfig, InjectionDetector};
use std::io::BufRead;

fn show(det: &InjectionDetector, label: &str, text: &str) {
    let v = det.scan(text);
    let mut ids: Vec<&str> = v.hits.iter().map(|h| h.id.as_str()).collect();
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
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let det = InjectionDetector::compile(&InjectionConfig::default()).map_err(|e| e.to_string())?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--text") {
        for t in args.iter().skip(1) {
            show(&det, "-", t);
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
                &v["label"].to_string(),
                v["text"].as_str().unwrap_or(""),
            );
        }
    }
    Ok(())
}
