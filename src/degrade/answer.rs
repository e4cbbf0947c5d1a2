//! Fallback answers in the shape the client asked for, and the end of a broken stream.

use super::Failure;
use serde_json::{json, Value};

/// The API a request spoke, from its path (the answer's shape follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// OpenAI chat completions (and any other path: OpenAI-shaped errors).
    #[default]
    Chat,
    /// OpenAI legacy completions.
    Completions,
    /// OpenAI Responses API.
    Responses,
    /// Anthropic Messages API.
    Anthropic,
}

impl Dialect {
    pub fn from_path(path: &[u8]) -> Dialect {
        let end = path.iter().position(|&b| b == b'?').unwrap_or(path.len());
        let p = path.get(..end).unwrap_or_default();
        let p = p.strip_suffix(b"/").unwrap_or(p);
        if p.ends_with(b"/chat/completions") {
            Dialect::Chat
        } else if p.ends_with(b"/completions") {
            Dialect::Completions
        } else if p.ends_with(b"/responses") {
            Dialect::Responses
        } else if p.ends_with(b"/messages") {
            Dialect::Anthropic
        } else {
            Dialect::Chat
        }
    }
}

/// A complete answer the filter writes instead of the upstream's.
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    pub status: u32,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// `retry-after` seconds (errors only).
    pub retry_after: Option<u64>,
}

fn error_code(f: Failure) -> &'static str {
    match f {
        Failure::Upstream5xx => "upstream_error",
        Failure::Unavailable => "upstream_unavailable",
        Failure::Timeout => "upstream_timeout",
    }
}

fn error_message(f: Failure) -> &'static str {
    match f {
        Failure::Upstream5xx => "The model service failed to answer. Please retry shortly.",
        Failure::Unavailable => "The model service is unavailable. Please retry shortly.",
        Failure::Timeout => "The model service did not answer in time. Please retry shortly.",
    }
}

/// The error body of a dialect.
fn error_json(d: Dialect, code: &str, message: &str) -> Value {
    match d {
        Dialect::Anthropic => {
            json!({"type": "error", "error": {"type": "api_error", "message": message}})
        }
        _ => {
            json!({"error": {"message": message, "type": "server_error", "code": code, "param": null}})
        }
    }
}

/// An OpenAI-shaped (Anthropic-shaped on `/v1/messages`) error for a failure; the status
/// stays the upstream's 5xx so SDKs raise their server error.
pub fn error(d: Dialect, f: Failure, status: u32, retry_after: u64) -> Fallback {
    Fallback {
        status,
        content_type: "application/json",
        body: error_json(d, error_code(f), error_message(f))
            .to_string()
            .into_bytes(),
        retry_after: Some(retry_after),
    }
}

fn sse(out: &mut Vec<u8>, event: Option<&str>, data: &Value) {
    if let Some(e) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(e.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

const DONE: &[u8] = b"data: [DONE]\n\n";

/// A normal answer carrying `text`: JSON, or an SSE stream with the dialect's usual ending
/// (`data: [DONE]` for OpenAI chat and completions) when the request asked to stream.
pub fn answer(d: Dialect, stream: bool, model: &str, text: &str, created: u64) -> Fallback {
    let body = if stream {
        answer_sse(d, model, text, created)
    } else {
        answer_json(d, model, text, created)
            .to_string()
            .into_bytes()
    };
    Fallback {
        status: 200,
        content_type: if stream {
            "text/event-stream"
        } else {
            "application/json"
        },
        body,
        retry_after: None,
    }
}

fn responses_object(model: &str, text: &str, created: u64, status: &str) -> Value {
    let output = if status == "completed" {
        json!([{"type": "message", "id": "msg_guardrail", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}])
    } else {
        json!([])
    };
    json!({"id": "resp_guardrail", "object": "response", "created_at": created, "status": status,
           "model": model, "output": output,
           "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}})
}

fn answer_json(d: Dialect, model: &str, text: &str, created: u64) -> Value {
    match d {
        Dialect::Chat => json!({
            "id": "chatcmpl-guardrail", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}),
        Dialect::Completions => json!({
            "id": "cmpl-guardrail", "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}),
        Dialect::Responses => responses_object(model, text, created, "completed"),
        Dialect::Anthropic => json!({
            "id": "msg_guardrail", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}),
    }
}

fn answer_sse(d: Dialect, model: &str, text: &str, created: u64) -> Vec<u8> {
    let mut out = Vec::new();
    match d {
        Dialect::Chat => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-guardrail", "object": "chat.completion.chunk", "created": created,
                       "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": null,
                                                    "finish_reason": finish}]})
            };
            sse(
                &mut out,
                None,
                &chunk(json!({"role": "assistant", "content": text}), Value::Null),
            );
            sse(&mut out, None, &chunk(json!({}), json!("stop")));
            out.extend_from_slice(DONE);
        }
        Dialect::Completions => {
            let chunk = |t: &str, finish: Value| {
                json!({"id": "cmpl-guardrail", "object": "text_completion", "created": created, "model": model,
                       "choices": [{"index": 0, "text": t, "logprobs": null, "finish_reason": finish}]})
            };
            sse(&mut out, None, &chunk(text, Value::Null));
            sse(&mut out, None, &chunk("", json!("stop")));
            out.extend_from_slice(DONE);
        }
        Dialect::Responses => {
            let created_obj = responses_object(model, text, created, "in_progress");
            sse(
                &mut out,
                Some("response.created"),
                &json!({"type": "response.created", "sequence_number": 0, "response": created_obj}),
            );
            sse(
                &mut out,
                Some("response.output_text.delta"),
                &json!({"type": "response.output_text.delta", "sequence_number": 1,
                        "item_id": "msg_guardrail", "output_index": 0, "content_index": 0, "delta": text}),
            );
            sse(
                &mut out,
                Some("response.output_text.done"),
                &json!({"type": "response.output_text.done", "sequence_number": 2,
                        "item_id": "msg_guardrail", "output_index": 0, "content_index": 0, "text": text}),
            );
            sse(
                &mut out,
                Some("response.completed"),
                &json!({"type": "response.completed", "sequence_number": 3,
                        "response": responses_object(model, text, created, "completed")}),
            );
        }
        Dialect::Anthropic => {
            let msg = json!({"id": "msg_guardrail", "type": "message", "role": "assistant", "model": model,
                             "content": [], "stop_reason": null, "stop_sequence": null,
                             "usage": {"input_tokens": 0, "output_tokens": 0}});
            sse(
                &mut out,
                Some("message_start"),
                &json!({"type": "message_start", "message": msg}),
            );
            sse(
                &mut out,
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            sse(
                &mut out,
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            );
            sse(
                &mut out,
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": 0}),
            );
            sse(
                &mut out,
                Some("message_delta"),
                &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": 0}}),
            );
            sse(
                &mut out,
                Some("message_stop"),
                &json!({"type": "message_stop"}),
            );
        }
    }
    out
}

/// What the filter appends to a stream that ended without its terminal event: a final error
/// event, then `data: [DONE]` (OpenAI dialects; Anthropic streams end with their `error`
/// event, as Anthropic's own do).
pub fn cut_tail(d: Dialect) -> Vec<u8> {
    const CODE: &str = "stream_interrupted";
    const MESSAGE: &str = "The model's answer was interrupted before it finished.";
    let mut out = Vec::new();
    match d {
        Dialect::Chat | Dialect::Completions => {
            sse(&mut out, None, &error_json(d, CODE, MESSAGE));
            out.extend_from_slice(DONE);
        }
        Dialect::Responses => {
            sse(
                &mut out,
                Some("error"),
                &json!({"type": "error", "code": CODE, "message": MESSAGE, "param": null}),
            );
            out.extend_from_slice(DONE);
        }
        Dialect::Anthropic => {
            sse(&mut out, Some("error"), &error_json(d, CODE, MESSAGE));
        }
    }
    out
}

/// Whether an error body is already OpenAI-shaped (`{"error": {"message": ...}}`) or
/// Anthropic-shaped (`{"type": "error", "error": {...}}`): such a body passes unchanged.
pub fn is_shaped_error(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned())
        .is_some_and(|e| e.get("message").is_some_and(Value::is_string))
}

/// Watches a stream's bytes for its terminal event (`data: [DONE]`, Responses'
/// `response.completed`/`failed`/`incomplete`, Anthropic's `message_stop`, or an `error`
/// event), across chunk boundaries.
#[derive(Debug, Default)]
pub struct StreamEnd {
    tail: Vec<u8>,
    seen_bytes: bool,
    terminal: bool,
}

const TAIL: usize = 48;

const MARKERS: &[&[u8]] = &[
    b"\"type\":\"response.completed\"",
    b"\"type\": \"response.completed\"",
    b"\"type\":\"response.failed\"",
    b"\"type\": \"response.failed\"",
    b"\"type\":\"response.incomplete\"",
    b"\"type\": \"response.incomplete\"",
    b"\"type\":\"message_stop\"",
    b"\"type\": \"message_stop\"",
    b"event: message_stop",
    b"event: error",
    b"event:error",
];

impl StreamEnd {
    pub fn push(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        let mut hay = std::mem::take(&mut self.tail);
        let base_empty = hay.is_empty() && !self.seen_bytes;
        hay.extend_from_slice(chunk);
        if !self.terminal {
            self.terminal = MARKERS
                .iter()
                .any(|m| hay.windows(m.len()).any(|w| w == *m))
                || Self::has_done(&hay, base_empty);
        }
        self.seen_bytes = true;
        let keep = hay.len().saturating_sub(TAIL);
        self.tail = hay.split_off(keep);
    }

    /// `data: [DONE]` (or `data:[DONE]`) at the start of a line.
    fn has_done(hay: &[u8], at_stream_start: bool) -> bool {
        for m in [&b"data: [DONE]"[..], &b"data:[DONE]"[..]] {
            for (i, w) in hay.windows(m.len()).enumerate() {
                if w == m {
                    let line_start = match i.checked_sub(1).and_then(|j| hay.get(j)) {
                        Some(b) => *b == b'\n' || *b == b'\r',
                        None => at_stream_start,
                    };
                    if line_start {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// The stream carried its terminal event.
    pub fn finished(&self) -> bool {
        self.terminal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Value {
        match serde_json::from_slice(b) {
            Ok(v) => v,
            Err(e) => panic!("{e}: {}", String::from_utf8_lossy(b)),
        }
    }

    fn events(b: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(b)
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn dialects_from_paths() {
        assert_eq!(Dialect::from_path(b"/v1/chat/completions"), Dialect::Chat);
        assert_eq!(
            Dialect::from_path(b"/openai/v1/completions?x=1"),
            Dialect::Completions
        );
        assert_eq!(Dialect::from_path(b"/v1/responses"), Dialect::Responses);
        assert_eq!(Dialect::from_path(b"/v1/messages"), Dialect::Anthropic);
        assert_eq!(Dialect::from_path(b"/v1/other"), Dialect::Chat);
    }

    #[test]
    fn errors_are_shaped_per_dialect_and_keep_the_status() {
        let e = error(Dialect::Chat, Failure::Unavailable, 503, 7);
        assert_eq!((e.status, e.retry_after), (503, Some(7)));
        let v = parse(&e.body);
        assert_eq!(v["error"]["type"], "server_error");
        assert_eq!(v["error"]["code"], "upstream_unavailable");
        assert!(v["error"]["param"].is_null());
        assert!(is_shaped_error(&e.body));
        let a = parse(&error(Dialect::Anthropic, Failure::Timeout, 504, 1).body);
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "api_error");
        assert!(!is_shaped_error(b"no healthy upstream"));
        assert!(!is_shaped_error(br#"{"error": "x"}"#));
    }

    #[test]
    fn answers_carry_the_text_in_every_dialect() {
        let t = "Try again later.";
        let c = parse(&answer(Dialect::Chat, false, "m", t, 1).body);
        assert_eq!(c["object"], "chat.completion");
        assert_eq!(c["choices"][0]["message"]["content"], t);
        let l = parse(&answer(Dialect::Completions, false, "m", t, 1).body);
        assert_eq!(l["choices"][0]["text"], t);
        let r = parse(&answer(Dialect::Responses, false, "m", t, 1).body);
        assert_eq!(r["output"][0]["content"][0]["text"], t);
        let a = parse(&answer(Dialect::Anthropic, false, "m", t, 1).body);
        assert_eq!(a["content"][0]["text"], t);

        let s = answer(Dialect::Chat, true, "m", t, 1);
        assert_eq!(s.content_type, "text/event-stream");
        let ev = events(&s.body);
        assert_eq!(ev.last().map(String::as_str), Some("data: [DONE]"));
        let first = parse(ev[0].trim_start_matches("data: ").as_bytes());
        assert_eq!(first["choices"][0]["delta"]["content"], t);
        for d in [Dialect::Completions, Dialect::Responses, Dialect::Anthropic] {
            let s = answer(d, true, "m", t, 1);
            assert!(String::from_utf8_lossy(&s.body).contains(t), "{d:?}");
            let mut end = StreamEnd::default();
            end.push(&s.body);
            assert!(end.finished(), "{d:?} answer must end its stream");
        }
    }

    #[test]
    fn cut_tail_ends_with_done_after_an_error_event() {
        let tail = cut_tail(Dialect::Chat);
        let ev = events(&tail);
        assert_eq!(ev.len(), 2);
        let err = parse(ev[0].trim_start_matches("data: ").as_bytes());
        assert_eq!(err["error"]["code"], "stream_interrupted");
        assert_eq!(ev[1], "data: [DONE]");
        assert!(String::from_utf8_lossy(&cut_tail(Dialect::Anthropic)).starts_with("event: error"));
    }

    #[test]
    fn stream_end_sees_terminal_events_across_chunks() {
        let mut e = StreamEnd::default();
        e.push(b"data: {\"choices\":[{\"delta\":{\"content\":\"data: [DONE]\"}}]}\n\n");
        assert!(!e.finished(), "[DONE] inside a JSON string is not the end");
        e.push(b"data: [DO");
        assert!(!e.finished());
        e.push(b"NE]\n\n");
        assert!(e.finished());

        let mut r = StreamEnd::default();
        r.push(b"event: response.output_text.delta\ndata: {\"type\": \"response.output_text.delta\"}\n\n");
        assert!(!r.finished());
        r.push(b"event: response.completed\ndata: {\"type\":\"response.comp");
        r.push(b"leted\"}\n\n");
        assert!(r.finished());

        let mut a = StreamEnd::default();
        a.push(b"event: message_st");
        a.push(b"op\ndata: {}\n\n");
        assert!(a.finished());

        let mut start = StreamEnd::default();
        start.push(b"data: [DONE]\n\n");
        assert!(start.finished());
    }
}
