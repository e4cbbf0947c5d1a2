//! Quality regression check of the filter's own decisions (`make regress`).
//!
//! Computes this build's decisions on the dev data (injection: `injection/dev.jsonl` and
//! `injection/dev_extra_attacks.jsonl`; PII: `pii/synth_dataset_v2.json`) with the default
//! configuration: the injection score, its action and the PII spans (kind and byte offsets) of
//! every text. It compares them with a stored baseline and prints the cases that changed; it
//! fails when more than `--max-worse` cases got worse.
//!
//! The baseline names each case by a hash of its input and stores only decisions: never a
//! text, a value or a label. "Worse" is judged with the labels read from the data at run time:
//! an attack whose action got milder, a benign text whose action got harsher, a PII sentence
//! whose labelled values are covered by fewer detected spans of their kind or that has more
//! detected spans matching no labelled value of their kind (a phone found over a labelled
//! street address is a false positive).
//!
//! ```text
//! cargo run --release --example regress -- [--data DIR] [--baseline FILE] [--max-worse N] [--write]
//! ```
//!
//! `REGRESS_DISABLE_RULE=<family>` drops one injection rule family (e.g. `override`) in this
//! binary only: the test that the check catches a lost rule.

use mesh_guardrail::injection::{InjectionConfig, InjectionDetector};
use mesh_guardrail::pii::{PiiConfig, PiiEngine};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

const HEADER: &str = "# mesh-guardrail regress baseline v1: id (sha256 of kind and input, 16 hex) \\t score \\t action \\t pii spans (kind@start-end)";

#[derive(Clone, PartialEq)]
struct Decision {
    score: String,
    action: String,
    spans: String,
}

enum Label {
    /// Injection: 1 attack, 0 benign.
    Injection(bool),
    /// PII: the labelled values' byte spans and kinds (`phone`, `email`...; the kind label of
    /// the detector, or the data set's own type name for types it does not detect).
    Pii(Vec<Span>),
}

/// A kind and a byte range.
type Span = (String, usize, usize);

struct Case {
    id: String,
    decision: Decision,
    label: Label,
    /// Detected spans (for the PII judgement).
    detected: Vec<Span>,
}

/// The detector's kind label for a presidio-research entity type.
fn kind_of(entity: &str) -> String {
    match entity {
        "EMAIL_ADDRESS" => "email",
        "PHONE_NUMBER" => "phone",
        "US_SSN" => "ssn",
        "CREDIT_CARD" => "credit_card",
        "IBAN_CODE" => "iban",
        "IP_ADDRESS" => "ip_address",
        other => other,
    }
    .to_string()
}

fn severity(action: &str) -> u8 {
    match action {
        "allow" => 0,
        "flag" => 1,
        "sanitize" => 2,
        "block" => 3,
        _ => 0,
    }
}

fn case_id(kind: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    let d = h.finalize();
    let mut s = String::with_capacity(16);
    for b in d.iter().take(8) {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn parse_spans(s: &str) -> Vec<Span> {
    s.split(',')
        .filter_map(|x| {
            let (k, r) = x.split_once('@')?;
            let (a, b) = r.split_once('-')?;
            Some((k.to_string(), a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

/// Same kind and overlapping bytes.
fn matches(a: &Span, b: &Span) -> bool {
    a.0 == b.0 && a.1 < b.2 && b.1 < a.2
}

/// (labelled values covered by a detected span of their kind, detected spans that match no
/// labelled value of their kind): a phone found over a street address is a false positive,
/// and losing it is better, not worse.
fn pii_quality(gold: &[Span], detected: &[Span]) -> (usize, usize) {
    let covered = gold
        .iter()
        .filter(|g| detected.iter().any(|d| matches(g, d)))
        .count();
    let outside = detected
        .iter()
        .filter(|d| !gold.iter().any(|g| matches(g, d)))
        .count();
    (covered, outside)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data = std::env::var("DATA_DIR").unwrap_or_else(|_| "../shared/data".into());
    let mut baseline = "tests/regress/baseline.tsv".to_string();
    let mut max_worse: usize = 0;
    let mut write = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().ok_or("--data needs a directory")?,
            "--baseline" => baseline = args.next().ok_or("--baseline needs a file")?,
            "--max-worse" => {
                max_worse = args.next().ok_or("--max-worse needs a number")?.parse()?
            }
            "--write" => write = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut det =
        InjectionDetector::compile(&InjectionConfig::default()).map_err(|e| e.to_string())?;
    if let Ok(family) = std::env::var("REGRESS_DISABLE_RULE") {
        if !family.is_empty() {
            eprintln!("regress: injection rule family {family:?} disabled (REGRESS_DISABLE_RULE)");
            det = det.without_rule(&family);
        }
    }
    let pii =
        PiiEngine::compile(&PiiConfig::default(), vec![7u8; 32]).map_err(|e| e.to_string())?;
    let decide = |text: &str| -> (Decision, Vec<Span>) {
        let v = det.scan(text);
        let matches = pii.detect(text);
        let spans: Vec<String> = matches
            .iter()
            .map(|m| format!("{}@{}-{}", m.kind.label(), m.start, m.end))
            .collect();
        (
            Decision {
                score: format!("{:.6}", v.score),
                action: det.action_for(v.score).as_str().to_string(),
                spans: spans.join(","),
            },
            matches
                .iter()
                .map(|m| (m.kind.label().to_string(), m.start, m.end))
                .collect(),
        )
    };

    let mut cases: Vec<Case> = Vec::new();
    let mut seen = HashSet::new();
    for file in ["injection/dev.jsonl", "injection/dev_extra_attacks.jsonl"] {
        let path = format!("{data}/{file}");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let t = v["text"].as_str().unwrap_or_default();
            let id = case_id("injection", t);
            if !seen.insert(id.clone()) {
                continue;
            }
            let (decision, detected) = decide(t);
            cases.push(Case {
                id,
                decision,
                label: Label::Injection(v["label"].as_i64() == Some(1)),
                detected,
            });
        }
    }
    let path = format!("{data}/pii/synth_dataset_v2.json");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?)?;
    for r in &rows {
        let t = r["full_text"].as_str().unwrap_or_default();
        let id = case_id("pii", t);
        if !seen.insert(id.clone()) {
            continue;
        }
        let gold = r["spans"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        Some((
                            kind_of(s["entity_type"].as_str()?),
                            usize::try_from(s["start_position"].as_u64()?).ok()?,
                            usize::try_from(s["end_position"].as_u64()?).ok()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (decision, detected) = decide(t);
        cases.push(Case {
            id,
            decision,
            label: Label::Pii(gold),
            detected,
        });
    }

    if write {
        let mut out = String::from(HEADER);
        out.push('\n');
        for c in &cases {
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}",
                c.id, c.decision.score, c.decision.action, c.decision.spans
            );
        }
        if let Some(dir) = std::path::Path::new(&baseline).parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&baseline, out)?;
        println!("regress: wrote {} cases to {baseline}", cases.len());
        return Ok(());
    }

    let stored = std::fs::read_to_string(&baseline)
        .map_err(|e| format!("{baseline}: {e} (make regress-baseline writes it)"))?;
    let mut base: BTreeMap<&str, Decision> = BTreeMap::new();
    for line in stored
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        if let [id, score, action, spans] = f[..] {
            base.insert(
                id,
                Decision {
                    score: score.into(),
                    action: action.into(),
                    spans: spans.into(),
                },
            );
        }
    }
    let (mut changed, mut worse, mut new) = (0usize, 0usize, 0usize);
    let mut lines = Vec::new();
    for c in &cases {
        let Some(old) = base.get(c.id.as_str()) else {
            new += 1;
            continue;
        };
        if *old == c.decision {
            continue;
        }
        changed += 1;
        let is_worse = match &c.label {
            Label::Injection(attack) => {
                let (o, n) = (severity(&old.action), severity(&c.decision.action));
                if *attack {
                    n < o
                } else {
                    n > o
                }
            }
            Label::Pii(gold) => {
                let (oc, oo) = pii_quality(gold, &parse_spans(&old.spans));
                let (nc, no) = pii_quality(gold, &c.detected);
                nc < oc || no > oo
            }
        };
        worse += usize::from(is_worse);
        let kind = match c.label {
            Label::Injection(_) => "injection",
            Label::Pii(_) => "pii",
        };
        lines.push(format!(
            "{} {kind} {}: score {} -> {}, action {} -> {}, pii [{}] -> [{}]",
            if is_worse { "WORSE" } else { "changed" },
            c.id,
            old.score,
            c.decision.score,
            old.action,
            c.decision.action,
            old.spans,
            c.decision.spans
        ));
    }
    let current: HashSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let gone = base.keys().filter(|k| !current.contains(**k)).count();
    // Worse first, then the rest.
    lines.sort_by_key(|l| !l.starts_with("WORSE"));
    for l in lines.iter().take(200) {
        println!("{l}");
    }
    if lines.len() > 200 {
        println!("... and {} more changed cases", lines.len() - 200);
    }
    println!(
        "regress: {} cases, {changed} changed, {worse} worse (allowed {max_worse}), {new} not in the baseline, {gone} of the baseline not in the data",
        cases.len()
    );
    if worse > max_worse {
        println!("regress: FAILED: {worse} cases got worse (more than {max_worse})");
        std::process::exit(1);
    }
    println!("regress: ok");
    Ok(())
}
