//! Prints the injection model's feature vector for every row of JSON Lines files, for
//! `scripts/train_injection.py`:
//! `cargo run --release --example injection_features -- FILE.jsonl... > features.jsonl`
//! Output lines: `{"label":0|1,"source":"...","holdout":bool,"x":[...]}`. `holdout` marks the
//! deterministic kept-aside slice (FNV-1a of the text, one in four) never used for training.

use mesh_guardrail::injection::{InjectionConfig, InjectionDetector};
use std::io::{BufRead, Write};

/// FNV-1a 64 of the text: the kept-aside slice is `hash % 4 == 0`.
pub fn holdout(text: &str) -> bool {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h.is_multiple_of(4)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let det = InjectionDetector::compile(&InjectionConfig::default()).map_err(|e| e.to_string())?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for path in std::env::args().skip(1) {
        let f = std::io::BufReader::new(std::fs::File::open(&path)?);
        for line in f.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line)?;
            let text = v["text"].as_str().unwrap_or("");
            let x = det.feature_vector(text);
            let row = serde_json::json!({
                "label": v["label"].as_i64().unwrap_or(0),
                "source": v["source"].as_str().unwrap_or(""),
                "holdout": holdout(text),
                "x": x,
            });
            writeln!(out, "{row}")?;
        }
    }
    Ok(())
}
