//! Regression aid: prints `score rule_ids` (score as exact f64 bits, plus each hit's id and
//! span) for every row of the given JSON Lines files, so that a performance change can be
//! checked to leave every result bit-identical.
//! `cargo run --release --example injection_regress -- FILE.jsonl...`

use mesh_guardrail::injection::{InjectionConfig, InjectionDetector};
use std::io::{BufRead, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let det = InjectionDetector::compile(&InjectionConfig::default()).map_err(|e| e.to_string())?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for p in std::env::args().skip(1) {
        for line in std::io::BufReader::new(std::fs::File::open(&p)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line)?;
            let text = v["text"].as_str().unwrap_or("");
            let verdict = det.scan(text);
            let ids: Vec<String> = verdict
                .hits
                .iter()
                .map(|h| match h.span {
                    Some((s, e)) => format!("{}@{s}-{e}", h.id),
                    None => h.id.to_string(),
                })
                .collect();
            let fv: Vec<String> = det
                .feature_vector(text)
                .iter()
                .map(|x| format!("{:016x}", x.to_bits()))
                .collect();
            writeln!(
                out,
                "{:016x} {:.6} {} | {}",
                verdict.score.to_bits(),
                verdict.score,
                ids.join(","),
                fv.join(" ")
            )?;
        }
    }
    Ok(())
}
