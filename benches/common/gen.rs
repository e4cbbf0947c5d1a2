//! Deterministic generators of request bodies for the native benchmark (`benches/engine.rs`)
//! and the instruction-count profile of the agent path (`examples/agent_profile.rs`): prose,
//! PII values, JSON strings and agent conversations, the same bytes for the same seed.

#![allow(dead_code)]

use mesh_guardrail::config::Settings;
use mesh_guardrail::pii::PiiVault;
use mesh_guardrail::pipeline;
use std::hint::black_box;

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

pub const SUBJECTS: &[&str] = &[
    "The quarterly report",
    "Our onboarding flow",
    "The new billing service",
    "This migration plan",
    "The customer survey",
    "My manager",
    "The support team",
    "Our data pipeline",
    "The mobile app",
    "The marketing budget",
    "The deployment script",
    "This pull request",
    "The vendor contract",
    "Our hiring process",
    "The database cluster",
    "The design review",
    "The travel policy",
];
pub const VERBS: &[&str] = &[
    "needs",
    "should include",
    "is missing",
    "depends on",
    "could benefit from",
    "was delayed by",
    "has to cover",
    "will replace",
    "does not handle",
    "already supports",
    "must document",
];
pub const OBJECTS: &[&str] = &[
    "a clearer summary of the main risks",
    "more detail about the rollout timeline",
    "a section on error handling and retries",
    "better test coverage for edge cases",
    "the feedback we collected last month",
    "a short comparison with the previous version",
    "an estimate of the monthly cost",
    "the numbers from the finance spreadsheet",
    "a plan for the holiday season",
    "a checklist for new team members",
    "the latency figures from last week",
    "a friendlier tone in the introduction",
    "the open questions from the kickoff meeting",
    "a note about accessibility",
];
pub const TAILS: &[&str] = &[
    "before Friday",
    "for the next release",
    "so the team can review it",
    "in plain language",
    "without adding too much text",
    "as discussed yesterday",
    "if that is possible",
    "for the board meeting",
    "by the end of the sprint",
    "in a table if it helps",
];
pub const ASKS: &[&str] = &[
    "Can you help me rewrite this paragraph?",
    "Could you summarise the points above?",
    "What would you change first?",
    "Please suggest three improvements.",
    "Is there anything important I forgot?",
    "How would you explain this to a new hire?",
    "Which option is cheaper in the long run?",
    "Can you turn this into a short email?",
];

pub fn sentence(r: &mut Rng) -> String {
    if r.below(5) == 0 {
        r.pick(ASKS).to_string()
    } else {
        format!(
            "{} {} {} {}.",
            r.pick(SUBJECTS),
            r.pick(VERBS),
            r.pick(OBJECTS),
            r.pick(TAILS)
        )
    }
}

pub fn luhn_check_digit(payload: &str) -> u32 {
    let mut sum = 0;
    for (i, c) in payload.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    (10 - sum % 10) % 10
}

pub fn card(r: &mut Rng) -> String {
    let prefix = r.pick(&["4", "51", "52", "37", "6011"]);
    let len = if prefix == "37" { 15 } else { 16 };
    let mut p = prefix.to_string();
    p.push_str(&r.digits(len - 1 - prefix.len()));
    p.push(char::from(b'0' + luhn_check_digit(&p) as u8));
    match r.below(3) {
        0 => p,
        1 if len == 16 => format!("{} {} {} {}", &p[0..4], &p[4..8], &p[8..12], &p[12..16]),
        _ if len == 16 => format!("{}-{}-{}-{}", &p[0..4], &p[4..8], &p[8..12], &p[12..16]),
        _ => p,
    }
}

pub fn iban(r: &mut Rng) -> String {
    let (cc, bban) = match r.below(3) {
        0 => ("DE", r.digits(18)),
        1 => ("FR", r.digits(23)),
        _ => (
            "NL",
            format!("{}{}", r.pick(&["ABNA", "INGB", "RABO"]), r.digits(10)),
        ),
    };
    // ISO 13616 check digits: 98 - (BBAN + CC + "00" as digits) mod 97.
    let mut m: u32 = 0;
    for c in bban.chars().chain(cc.chars()).chain("00".chars()) {
        let v = c.to_digit(36).unwrap_or(0);
        m = if v >= 10 {
            (m * 100 + v) % 97
        } else {
            (m * 10 + v) % 97
        };
    }
    let full = format!("{cc}{:02}{bban}", 98 - m);
    if r.below(2) == 0 {
        full
    } else {
        full.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub fn pii_value(r: &mut Rng) -> String {
    let first = r.pick(&[
        "alice", "bob", "carol", "dmitri", "eva", "farid", "grace", "hiro",
    ]);
    let last = r.pick(&[
        "smith", "nguyen", "mueller", "rossi", "kowalski", "tanaka", "okafor",
    ]);
    match r.below(6) {
        0 => format!(
            "{first}.{last}{}@{}",
            r.below(100),
            r.pick(&["example.com", "mail.acme.io", "corp.example.org"])
        ),
        1 => match r.below(3) {
            0 => format!("+1 {}-555-{}", 200 + r.below(700), r.digits(4)),
            1 => format!("({}) 555-{}", 200 + r.below(700), r.digits(4)),
            _ => format!("+44 20 7946 {}", r.digits(4)),
        },
        2 => card(r),
        3 => iban(r),
        4 => format!(
            "{}.{}.{}.{}",
            10 + r.below(200),
            r.below(256),
            r.below(256),
            1 + r.below(254)
        ),
        _ => format!(
            "{}-{}-{}",
            100 + r.below(600),
            10 + r.below(89),
            1000 + r.below(8999)
        ),
    }
}

pub const PII_LEADS: &[&str] = &[
    "Contact",
    "Send it to",
    "My card is",
    "Wire the refund to",
    "The server is at",
    "Call",
    "Her details are",
    "Use",
];

/// English prose of about `n` bytes; PII-dense text gets a value every ~100 bytes.
pub fn prose(r: &mut Rng, n: usize, pii: bool) -> String {
    let mut s = String::with_capacity(n + 200);
    let mut since = 0usize;
    while s.len() < n {
        if !s.is_empty() {
            s.push(if r.below(8) == 0 { '\n' } else { ' ' });
        }
        if pii && since >= 80 {
            let v = pii_value(r);
            s.push_str(&format!("{} {v}.", r.pick(PII_LEADS)));
            since = 0;
        } else {
            let t = sentence(r);
            since += t.len() + 1;
            s.push_str(&t);
        }
    }
    s
}

pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// An agent conversation (OpenAI chat with tools) of about `n` bytes whose last message, a new
/// user turn of `new_bytes`, starts with a 12-digit counter at the returned offset: writing a
/// new number there makes the turn new text without moving a byte of the body. History: a
/// system prompt, user turns, assistant tool calls, tool results (JSON arrays of records) and
/// assistant answers.
pub fn agent_body(seed: u64, n: usize, new_bytes: usize) -> (Vec<u8>, usize) {
    let mut r = Rng(seed);
    let system = format!(
        "You are an operations agent for an internal team. {}",
        prose(&mut r, 1500, false)
    );
    let mut body = format!(
        r#"{{"model":"gpt-4o","tools":[{{"type":"function","function":{{"name":"search_tickets","description":"Search the ticket database","parameters":{{"type":"object","properties":{{"query":{{"type":"string"}}}}}}}}}}],"messages":[{{"role":"system","content":{}}}"#,
        json_str(&system)
    );
    let mut call = 0;
    while body.len() + new_bytes + 400 < n {
        let len = 100 + r.below(400);
        let user = prose(&mut r, len, false);
        body.push_str(&format!(
            r#",{{"role":"user","content":{}}}"#,
            json_str(&user)
        ));
        call += 1;
        let args = format!(r#"{{"query":{}}}"#, json_str(&prose(&mut r, 40, false)));
        body.push_str(&format!(
            r#",{{"role":"assistant","content":null,"tool_calls":[{{"id":"call_{call}","type":"function","function":{{"name":"search_tickets","arguments":{}}}}}]}}"#,
            json_str(&args)
        ));
        let mut recs = Vec::new();
        let want = if r.below(10) == 0 { 6000 } else { 1200 };
        let mut len = 0;
        while len < want {
            let rec = format!(
                r#"{{"id":{},"title":{},"status":"open","note":{}}}"#,
                r.below(100_000),
                json_str(&prose(&mut r, 30, false)),
                json_str(&prose(&mut r, 120, false))
            );
            len += rec.len();
            recs.push(rec);
        }
        let result = format!("[{}]", recs.join(","));
        body.push_str(&format!(
            r#",{{"role":"tool","tool_call_id":"call_{call}","content":{}}}"#,
            json_str(&result)
        ));
        let len = 200 + r.below(600);
        let answer = prose(&mut r, len, false);
        body.push_str(&format!(
            r#",{{"role":"assistant","content":{}}}"#,
            json_str(&answer)
        ));
    }
    body.push_str(r#",{"role":"user","content":""#);
    let at = body.len();
    body.push_str("000000000000 ");
    let new = prose(&mut r, new_bytes.saturating_sub(13), false);
    let new = json_str(&new);
    body.push_str(&new[1..new.len() - 1]);
    body.push_str(r#""}]}"#);
    (body.into_bytes(), at)
}

/// Writes `n` as 12 digits at `at`.
pub fn stamp(body: &mut [u8], at: usize, mut n: u64) {
    for i in (0..12).rev() {
        body[at + i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// One request through the pipeline as the filter runs it: inspect, rewrite, a fresh vault.
pub fn run_request(s: &Settings, b: &[u8]) {
    let mut v = PiiVault::default();
    if let Ok(ins) = pipeline::inspect_request(s, black_box(b), &mut v) {
        black_box(ins.rewritten(None, None));
        black_box(&ins.report);
    }
    black_box(&v);
}
