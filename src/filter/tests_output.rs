//! Table tests of output validation on the mock host: JSON and SSE answers that leak the
//! system prompt or carry credentials, in both hold modes; the `x-guardrail-output` header,
//! counters and the log line (without text).

use super::mock::Stream;
use crate::config::Settings;

const SYSTEM: &str = "You are the Acme billing assistant. Never reveal the discount code to \
    customers and always answer in formal English with short sentences.";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
/// PII restoration already turns credentials the model writes into `[SECRET]`: off here, so
/// the output rules see them.
const NO_PII_SECRET: &str = r#","pii":{"entities":{"secret":"off"}}"#;

fn settings(json: &str) -> Settings {
    match Settings::from_json(json.as_bytes(), vec![7; 32]) {
        Ok(s) => s,
        Err(e) => panic!("bad test settings {json}: {e}"),
    }
}

fn config(hold: &str, extra: &str) -> Settings {
    settings(&format!(
        r#"{{"request": {{"hold_headers": "{hold}"}}, "decision_headers": {{"client": true}}{extra}}}"#
    ))
}

fn request(s: &mut Stream, stream: bool) {
    let body = format!(
        r#"{{"model":"m","stream":{stream},"messages":[{{"role":"system","content":"{SYSTEM}"}},{{"role":"user","content":"What is my balance?"}}]}}"#
    );
    let h = [
        (":method", "POST".to_string()),
        (":path", "/v1/chat/completions".to_string()),
        ("content-type", "application/json".to_string()),
        ("content-length", body.len().to_string()),
    ];
    let refs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.request_headers(&refs, false);
    s.request_body(body.as_bytes(), true);
}

fn chat_json(content: &str) -> String {
    format!(
        r#"{{"id":"x","object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":{}}},"finish_reason":"stop"}}]}}"#,
        serde_json::Value::String(content.into())
    )
}

fn sse_chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = chars
        .chunks(size)
        .map(|c| {
            let t: String = c.iter().collect();
            format!(
                "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
                serde_json::Value::String(t)
            )
        })
        .collect();
    out.push("data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".into());
    out.push("data: [DONE]\n\n".into());
    out
}

/// The text a chat SSE client assembles, and the finish reasons it saw.
fn assembled(body: &str) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut finish = Vec::new();
    for line in body.lines() {
        let Some(d) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(d) else {
            continue;
        };
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
        if let Some(f) = v["choices"][0]["finish_reason"].as_str() {
            finish.push(f.to_string());
        }
    }
    (text, finish)
}

fn client_header(s: &Stream, name: &str) -> Option<String> {
    s.host.client.headers.as_ref().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.as_slice() == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    })
}

fn json_answer(hold: &str, extra: &str, content: &str) -> Stream {
    let mut s = Stream::new(config(hold, extra));
    request(&mut s, false);
    s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    let answer = chat_json(content);
    let (a, b) = answer.split_at(answer.len() / 2);
    s.response_body(a.as_bytes(), false);
    s.response_body(b.as_bytes(), true);
    s
}

fn json_content(s: &Stream) -> String {
    let v: serde_json::Value = serde_json::from_str(&s.client_body()).expect("json");
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn json_leak_is_replaced_and_reported_when_the_headers_are_held() {
    let leak = format!("Sure. My instructions say: {SYSTEM} Your balance is 3 EUR.");
    for (hold, header) in [("always", true), ("never", false)] {
        let s = json_answer(hold, "", &leak);
        assert_eq!(json_content(&s), "I can't help with that.", "{hold}");
        assert_eq!(
            client_header(&s, "x-guardrail-output").as_deref(),
            header.then_some("leak=replaced"),
            "{hold}"
        );
        assert_eq!(s.host.counter("output.leak.replaced"), 1);
        let logs = s.host.logs.borrow();
        let line = logs
            .iter()
            .find(|(_, l)| l.contains("guardrail_output"))
            .map(|(_, l)| l.clone())
            .expect("log line");
        assert!(
            !line.contains("billing") && !line.contains("balance"),
            "{line}"
        );
    }
}

#[test]
fn json_clean_answer_is_untouched() {
    for hold in ["always", "never"] {
        let s = json_answer(hold, "", "Your balance is 3 EUR. Anything else?");
        assert_eq!(json_content(&s), "Your balance is 3 EUR. Anything else?");
        assert_eq!(client_header(&s, "x-guardrail-output"), None);
        assert_eq!(s.host.counter("output.checked"), 1);
    }
}

#[test]
fn json_leak_block_is_a_403_error_when_held() {
    let leak = format!("My instructions: {SYSTEM}");
    let s = json_answer("always", r#","output":{"leak":{"action":"block"}}"#, &leak);
    let v: serde_json::Value = serde_json::from_str(&s.client_body()).expect("json");
    assert_eq!(v["error"]["code"], "output_blocked");
    assert_eq!(client_header(&s, ":status").as_deref(), Some("403"));
}

#[test]
fn json_unsafe_rules_flag_redact_replace() {
    let text = format!("Use {AWS} to log in.");
    let rows = [
        ("", text.clone(), "unsafe=aws_access_key:flagged"),
        (
            r#","output":{"unsafe":{"action":"redact"}}"#,
            "Use [REDACTED:aws_access_key] to log in.".to_string(),
            "unsafe=aws_access_key:redacted",
        ),
        (
            r#","output":{"refusal":"No.","unsafe":{"action":"replace"}}"#,
            "No.".to_string(),
            "unsafe=aws_access_key:replaced",
        ),
    ];
    for (extra, want, header) in rows {
        let s = json_answer("always", &format!("{extra}{NO_PII_SECRET}"), &text);
        assert_eq!(json_content(&s), want, "{extra}");
        assert_eq!(
            client_header(&s, "x-guardrail-output").as_deref(),
            Some(header)
        );
    }
}

#[test]
fn monitor_mode_reports_and_changes_nothing() {
    let leak = format!("Sure: {SYSTEM}");
    let s = json_answer("always", r#","output":{"mode":"monitor"}"#, &leak);
    assert_eq!(json_content(&s), leak);
    assert_eq!(
        client_header(&s, "x-guardrail-output").as_deref(),
        Some("leak=detected")
    );
}

fn sse_answer(hold: &str, extra: &str, text: &str, size: usize) -> Stream {
    let mut s = Stream::new(config(hold, extra));
    request(&mut s, true);
    s.response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    );
    let chunks = sse_chunks(text, size);
    let n = chunks.len();
    for (i, c) in chunks.iter().enumerate() {
        s.response_body(c.as_bytes(), i + 1 == n);
    }
    s
}

#[test]
fn sse_leak_never_reaches_the_client_and_ends_with_a_refusal() {
    let leak = format!("Sure. My instructions say: {SYSTEM} Your balance is 3 EUR.");
    let v = config("always", "");
    let fp = v.output.fingerprint([SYSTEM]).expect("fp");
    for hold in ["always", "never"] {
        for size in [1, 4, 17, 400] {
            let s = sse_answer(hold, "", &leak, size);
            let body = s.client_body();
            let (text, finish) = assembled(&body);
            assert_eq!(fp.overlap(&text), 0, "{hold} {size}: {text}");
            assert!(text.ends_with("I can't help with that."), "{text}");
            assert_eq!(finish, vec!["content_filter".to_string()], "{body}");
            assert!(body.ends_with("data: [DONE]\n\n"));
            assert_eq!(body.matches("[DONE]").count(), 1);
            assert_eq!(s.host.counter("output.leak.replaced"), 1);
        }
    }
}

#[test]
fn sse_clean_and_redacted_answers_are_whole() {
    let clean = "Your balance is 3 EUR. ".repeat(40);
    let secret = format!(
        "{}Use {AWS} now. {}",
        "a b c ".repeat(30),
        "d e f ".repeat(30)
    );
    for size in [1, 3, 50] {
        let s = sse_answer("never", "", &clean, size);
        let (text, finish) = assembled(&s.client_body());
        assert_eq!(text, clean);
        assert_eq!(finish, vec!["stop".to_string()]);
        let s = sse_answer(
            "never",
            &format!(r#","output":{{"unsafe":{{"action":"redact"}}}}{NO_PII_SECRET}"#),
            &secret,
            size,
        );
        let (text, _) = assembled(&s.client_body());
        assert_eq!(text, secret.replace(AWS, "[REDACTED:aws_access_key]"));
        assert_eq!(s.host.counter("output.unsafe.aws_access_key.redacted"), 1);
    }
}

/// Every string of every SSE event the client got, except the request fields a Responses
/// answer echoes (`instructions`), joined by spaces.
fn client_strings(body: &str) -> String {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    if k != "instructions" {
                        walk(x, out);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for line in body.lines() {
        if let Some(d) = line.strip_prefix("data: ") {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(d) {
                walk(&v, &mut out);
            }
        }
    }
    out.join(" ")
}

/// The delta text a client assembles in the Anthropic, Responses and legacy dialects.
fn deltas(body: &str) -> String {
    let mut out = String::new();
    for line in body.lines() {
        let Some(d) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(d) else {
            continue;
        };
        let t = if v["type"] == "content_block_delta" {
            v["delta"]["text"].as_str()
        } else if v["type"].as_str().is_some_and(|t| t.ends_with(".delta")) {
            v["delta"].as_str()
        } else {
            v["choices"][0]["text"].as_str()
        };
        out.push_str(t.unwrap_or_default());
    }
    out
}

fn anthropic_events(text: &str, size: usize) -> Vec<String> {
    let mut ev = vec!["event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"c\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n".to_string(),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_string()];
    let chars: Vec<char> = text.chars().collect();
    for c in chars.chunks(size) {
        let t: String = c.iter().collect();
        ev.push(format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}\n\n", serde_json::Value::String(t)));
    }
    ev.push(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".into(),
    );
    ev.push("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n".into());
    ev.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".into());
    ev
}

fn responses_events(text: &str, size: usize) -> Vec<String> {
    let sys = serde_json::Value::String(SYSTEM.into());
    let full = serde_json::Value::String(text.into());
    let mut ev = vec![format!("event: response.created\ndata: {{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{{\"id\":\"r\",\"object\":\"response\",\"status\":\"in_progress\",\"instructions\":{sys},\"output\":[]}}}}\n\n")];
    let chars: Vec<char> = text.chars().collect();
    for (n, c) in chars.chunks(size).enumerate() {
        let t: String = c.iter().collect();
        ev.push(format!("event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"sequence_number\":{},\"item_id\":\"i\",\"output_index\":0,\"content_index\":0,\"delta\":{}}}\n\n", n + 1, serde_json::Value::String(t)));
    }
    ev.push(format!("event: response.output_text.done\ndata: {{\"type\":\"response.output_text.done\",\"sequence_number\":900,\"item_id\":\"i\",\"output_index\":0,\"content_index\":0,\"text\":{full}}}\n\n"));
    ev.push(format!("event: response.completed\ndata: {{\"type\":\"response.completed\",\"sequence_number\":901,\"response\":{{\"id\":\"r\",\"object\":\"response\",\"status\":\"completed\",\"instructions\":{sys},\"output\":[{{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{{\"type\":\"output_text\",\"text\":{full}}}]}}],\"usage\":{{\"input_tokens\":3,\"output_tokens\":4}}}}}}\n\n"));
    ev
}

fn legacy_events(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut ev: Vec<String> = chars
        .chunks(size)
        .map(|c| {
            let t: String = c.iter().collect();
            format!("data: {{\"id\":\"x\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"text\":{},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n", serde_json::Value::String(t))
        })
        .collect();
    ev.push("data: {\"id\":\"x\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n".into());
    ev.push("data: [DONE]\n\n".into());
    ev
}

/// Chat is covered through the filter above; here the rewriter alone, in the other dialects:
/// a leak never reaches the client (no shingle of the system text outside the echoed
/// `instructions`), the stream ends in the dialect's own way, and a clean answer is whole.
#[test]
fn sse_leak_check_in_every_dialect() {
    let s = config("never", "");
    let fp = s.output.fingerprint([SYSTEM]).expect("fp");
    let leak = format!("Sure. My instructions say: {SYSTEM} Bye.");
    let clean = "Your balance is 3 EUR. ".repeat(20);
    type Events = fn(&str, usize) -> Vec<String>;
    let dialects: [(&str, Events, &str); 3] = [
        ("anthropic", anthropic_events, "message_stop"),
        ("responses", responses_events, "response.completed"),
        ("legacy", legacy_events, "[DONE]"),
    ];
    let vault = crate::pii::PiiVault::with_limit(10);
    for (name, events, last) in dialects {
        for size in [1, 5, 64, 1000] {
            for (text, leaks) in [(&leak, true), (&clean, false)] {
                let mut rw =
                    crate::pipeline::StreamRewriter::new(&s).validating(&s, Some(fp.clone()));
                let mut out = Vec::new();
                for e in events(text, size) {
                    out.extend(rw.push(&s, &vault, e.as_bytes()));
                }
                out.extend(rw.finish(&s, &vault));
                let body = String::from_utf8(out).expect("utf8");
                let strings = client_strings(&body);
                let tail = body
                    .trim_end()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .to_string();
                assert!(tail.contains(last), "{name} {size}: {tail}");
                if leaks {
                    assert_eq!(fp.overlap(&strings), 0, "{name} {size}: {body}");
                    assert!(deltas(&body).ends_with("I can't help with that."), "{name}");
                    assert_eq!(rw.output.refused, Some(crate::output::Refusal::Leak));
                } else {
                    assert_eq!(deltas(&body), clean, "{name} {size}");
                    assert!(rw.output.is_clean());
                }
            }
        }
    }
}

/// An answer that announces trailers keeps its checked-but-held text paused in the host, so the
/// trailers callback can still add it; one that does not streams (nothing is paused on the
/// output window) and, should it end in trailers anyway, the held text is counted as dropped.
#[test]
fn sse_output_window_and_response_trailers() {
    let text = "Your balance is 3 EUR. ".repeat(30);
    for announced in [true, false] {
        let mut s = Stream::new(config("never", ""));
        request(&mut s, true);
        let mut h = vec![(":status", "200"), ("content-type", "text/event-stream")];
        if announced {
            h.push(("trailer", "x-end"));
        }
        s.response_headers(&h, false);
        let chunks = sse_chunks(&text, 4);
        let n = chunks.len();
        // The stream ends in trailers: no finishing chunk, no [DONE].
        for c in chunks.iter().take(n - 2) {
            s.response_body(c.as_bytes(), false);
        }
        let (before, _) = assembled(&s.client_body());
        s.response_trailers();
        let (got, _) = assembled(&s.client_body());
        if announced {
            assert!(before.is_empty(), "paused until the end");
            assert_eq!(got, text);
            assert_eq!(s.host.counter("errors.response_trailer_text_dropped"), 0);
        } else {
            // Streamed: all but the window had reached the client before the trailers.
            assert!(before.len() + 384 >= text.len(), "{}", before.len());
            assert_eq!(got, before);
            assert!(text.starts_with(&got) && got.len() < text.len());
            assert_eq!(s.host.counter("errors.response_trailer_text_dropped"), 1);
        }
    }
}
