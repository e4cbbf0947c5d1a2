//! Quick timing loop for the injection detector on a realistic benign chat prompt:
//! `cargo run --release --example injection_bench [SIZE_BYTES [BATCHES]]` (default 4096 and 30;
//! `SIZE 1 BATCHES=1`-style short runs suit callgrind and size-scaling checks).

use mesh_guardrail::injection::{InjectionConfig, InjectionDetector};
use std::time::Instant;

const PARAGRAPHS: &[&str] = &[
    "Hi! I'm preparing a short talk for our team meeting next week about how we migrated our billing service from a monolith to a set of smaller services, and I'd like your help tightening the outline. ",
    "The audience is mostly engineers, a few product managers and one person from finance, so please keep the jargon under control and explain any acronym the first time it appears. ",
    "Here is the rough structure I have so far: first, why we started (deploys took two hours and a failed migration once blocked invoices for a whole afternoon); second, what we tried first and why it did not work; ",
    "third, the approach that finally worked, which was to carve out the invoice rendering path behind a feature flag and run both versions side by side for three weeks while comparing outputs. ",
    "Can you ignore the typos in my notes? I wrote them on my phone on the train. I would also like a slide that summarises the previous quarter's incidents, with the numbers rounded, and a closing slide with lessons learned. ",
    "One of my colleagues suggested we role-play the Q&A session beforehand, where you act as a sceptical finance director asking about costs, and I answer. We could try that after the outline is done. ",
    "Some context on the numbers: we process roughly 40,000 invoices a month, peak load is on the first business day, and the old system needed a nightly batch window of about four hours that we have now removed entirely. ",
    "The new services are written in Go and Rust, deployed on Kubernetes, and we use a message queue between the order service and the invoicing service so a slow PDF renderer never blocks checkout. ",
    "What I am unsure about is how much detail to give on the data migration itself: we copied eleven years of historical invoices, verified checksums, and kept the old database read-only for a month as a safety net. ",
    "Please also suggest a title that is a bit playful but not cheesy, and point out anything in the outline that seems out of order or repetitive. Thanks a lot, this really helps! ",
];

fn main() -> Result<(), String> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let size = args.first().copied().unwrap_or(4096);
    let batches = args.get(1).copied().unwrap_or(30).max(1);
    let det = InjectionDetector::compile(&InjectionConfig::default()).map_err(|e| e.to_string())?;
    let mut text = String::new();
    let mut k = 0;
    while text.len() < size {
        text.push_str(PARAGRAPHS[k % PARAGRAPHS.len()]);
        k += 1;
    }
    let text: String = text.chars().take(size).collect();
    let v = det.scan(&text);
    println!(
        "score on the benign prompt: {:.3} ({} hits)",
        v.score,
        v.hits.len()
    );
    // Best of several batches: the machine is shared, the minimum is the least disturbed.
    let iters = (2_000_000 / size.max(1)).clamp(1, 500);
    let mut best = f64::MAX;
    let mut acc = 0.0;
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..iters {
            acc += det.scan(std::hint::black_box(&text)).score;
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / iters as f64);
    }
    println!(
        "{:.2} us per scan of {} bytes ({:.2} us/KB, best of {batches} batches of {iters}) [{acc:.1}]",
        best,
        text.len(),
        best / (text.len() as f64 / 1024.0)
    );
    Ok(())
}
