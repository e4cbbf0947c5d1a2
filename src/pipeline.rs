//! Combines the verdicts of every feature into one decision per request, and rewrites
//! responses (JSON whole, SSE incrementally). Pure: the host layer feeds bytes in and applies
//! what comes out.

use crate::body::extract::RequestBody;
use crate::body::json::{self, index_at, path_is, Document, LeafValue, Seg, Splice, P};
use crate::body::sse::{SseEvent, SseFramer};
use crate::config::{Mode, Settings};
use crate::injection::{InjectionAction, InjectionVerdict};
use crate::pii::{PiiVault, ResponseMode, StreamRestorer};
use crate::quota::{Usage, UsageEstimate};
use crate::reply::LocalReply;
use std::collections::BTreeMap;

/// What the request phase decided, for headers, metrics and the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestReport {
    /// Highest injection score over the inspected texts.
    pub score: f64,
    /// The action the score calls for (also computed in monitor mode).
    pub action: InjectionAction,
    /// Whether the action was applied (enforce mode).
    pub enforced: bool,
    /// Rule ids that fired, with where (structure only, never text).
    pub hits: Vec<(String, String)>,
    /// Body format seen: `chat`, `json`, `raw`.
    pub format: &'static str,
}

/// A request body after inspection: the decision, and the edits to write back.
pub struct Inspection<'a> {
    pub body: RequestBody<'a>,
    pub report: RequestReport,
    /// Set when the request must be answered locally (block).
    pub reply: Option<LocalReply>,
    edits: Vec<(usize, String)>,
}

/// Inspects a complete request body. An `Err` is a local reply for a body that cannot be
/// inspected at all (not UTF-8).
pub fn inspect_request<'a>(settings: &Settings, bytes: &'a [u8], vault: &mut PiiVault) -> Result<Inspection<'a>, LocalReply> {
    let body = RequestBody::parse(bytes).map_err(|_| {
        LocalReply::new(400, "invalid_request_error", "invalid_encoding", "The request body is not valid UTF-8 and cannot be inspected.")
    })?;
    let inj = &settings.injection;
    let inj_enforce = settings.injection_mode() == Mode::Enforce;
    let pii_enforce = settings.pii_mode() == Mode::Enforce;

    let mut verdicts: Vec<(usize, InjectionVerdict)> = Vec::new();
    let mut best = 0.0f64;
    let mut hits = Vec::new();
    if inj.enabled {
        for (i, slot) in body.slots.iter().enumerate() {
            if !inj.inspects(slot.role) {
                continue;
            }
            let v = inj.scan(body.text(slot));
            if v.score > 0.0 {
                if v.score >= inj.flag_threshold {
                    let loc = body.location(slot);
                    for h in &v.hits {
                        hits.push((h.id.clone(), loc.clone()));
                    }
                }
                best = best.max(v.score);
                verdicts.push((i, v));
            }
        }
    }
    let action = inj.action_for(best);
    let format = match body.format {
        crate::body::extract::Format::Chat => "chat",
        crate::body::extract::Format::OtherJson => "json",
        crate::body::extract::Format::Raw => "raw",
    };
    let report = RequestReport { score: best, action, enforced: inj_enforce, hits, format };

    if action == InjectionAction::Block && inj_enforce {
        let reply = LocalReply::new(
            400,
            "invalid_request_error",
            "prompt_injection_detected",
            "The request was blocked because it looks like a prompt injection.",
        );
        return Ok(Inspection { body, report, reply: Some(reply), edits: Vec::new() });
    }

    let mut edits = Vec::new();
    for (i, slot) in body.slots.iter().enumerate() {
        let original = body.text(slot);
        let mut text: Option<String> = None;
        if inj_enforce && action == InjectionAction::Sanitize {
            if let Some((_, v)) = verdicts.iter().find(|(j, v)| *j == i && v.score >= inj.sanitize_threshold) {
                text = Some(inj.sanitize(original, v));
            }
        }
        let current = text.as_deref().unwrap_or(original);
        if let Some(anon) = settings.pii.anonymize(current, vault) {
            if pii_enforce {
                text = Some(anon);
            }
        }
        if let Some(t) = text {
            edits.push((i, t));
        }
    }
    Ok(Inspection { body, report, reply: None, edits })
}

impl Inspection<'_> {
    /// What quota needs to reserve for this request.
    pub fn estimate(&self) -> UsageEstimate {
        UsageEstimate {
            model: self.body.model().map(str::to_string),
            prompt_tokens: estimate_tokens(self.body.text_bytes()),
            max_completion_tokens: self.body.max_tokens().map(|(n, _)| n),
        }
    }

    pub fn is_stream(&self) -> bool {
        self.body.is_stream()
    }

    /// The body to forward, if it changed: text edits plus quota's routing (model rewrite,
    /// max_tokens clamp).
    pub fn rewritten(&self, route_model: Option<&str>, clamp_max_tokens: Option<u64>) -> Option<Vec<u8>> {
        if self.edits.is_empty() && route_model.is_none() && clamp_max_tokens.is_none() {
            return None;
        }
        Some(self.body.rewrite(&self.edits, route_model, clamp_max_tokens))
    }

    /// One structured log line (JSON) for a non-allow decision: rule ids, score, locations.
    /// Never any text from the body.
    pub fn log_line(&self, request_id: &str, pii: Option<&str>) -> Option<String> {
        if self.report.action == InjectionAction::Allow {
            return None;
        }
        let hits: Vec<serde_json::Value> =
            self.report.hits.iter().map(|(rule, loc)| serde_json::json!({"rule": rule, "location": loc})).collect();
        Some(
            serde_json::json!({
                "event": "guardrail_decision",
                "request_id": request_id,
                "action": self.report.action.as_str(),
                "enforced": self.report.enforced,
                "score": (self.report.score * 100.0).round() / 100.0,
                "format": self.report.format,
                "hits": hits,
                "pii": pii,
            })
            .to_string(),
        )
    }
}

/// Rough token count for text of this many bytes (quota's estimate: about four bytes a token).
pub fn estimate_tokens(bytes: usize) -> u64 {
    crate::quota::QuotaPolicy::estimate_prompt_tokens(bytes)
}

/// `x-guardrail-injection-score` value: two decimals.
pub fn score_header(score: f64) -> String {
    format!("{:.2}", score.clamp(0.0, 1.0))
}

// ---------------------------------------------------------------------------------------------
// Responses

/// String fields of a response that are structure, not model output: never rewritten.
const STRUCTURAL_KEYS: &[&str] =
    &["id", "object", "model", "role", "type", "finish_reason", "stop_reason", "system_fingerprint", "tool_call_id", "call_id", "item_id", "status", "service_tier"];

fn is_model_text(path: &[Seg]) -> bool {
    match path.last() {
        Some(Seg::Key(k)) => !STRUCTURAL_KEYS.contains(&k.as_str()) && (k != "name" || path.len() == 1),
        _ => true,
    }
}

fn num_at(bytes: &[u8], doc: &Document, pattern: &[P<'_>]) -> Option<u64> {
    let l = doc.leaves.iter().find(|l| l.value == LeafValue::Num && path_is(&l.path, pattern))?;
    std::str::from_utf8(bytes.get(l.start..l.end)?).ok()?.parse().ok()
}

/// `usage` of an OpenAI (prompt/completion) or Anthropic/Responses (input/output) body.
pub fn usage_of(bytes: &[u8], doc: &Document) -> Option<Usage> {
    let get = |a: &str, b: &str| num_at(bytes, doc, &[P::K("usage"), P::K(a)]).or_else(|| num_at(bytes, doc, &[P::K("usage"), P::K(b)]));
    let prompt = get("prompt_tokens", "input_tokens");
    let completion = get("completion_tokens", "output_tokens");
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    Some(Usage { prompt_tokens: prompt.unwrap_or(0), completion_tokens: completion.unwrap_or(0) })
}

/// Whether responses need rewriting at all under this configuration.
pub fn response_rewrites(settings: &Settings) -> bool {
    settings.pii_mode() == Mode::Enforce && settings.pii.response != ResponseMode::Off
}

/// Result of a whole (non-streamed) response body.
#[derive(Debug, Default, PartialEq)]
pub struct JsonResponse {
    /// New body when anything changed.
    pub body: Option<Vec<u8>>,
    pub usage: Option<Usage>,
    /// Bytes of model-written text (for estimates when there is no usage).
    pub text_bytes: usize,
}

/// Restores/redacts PII in every model-written string of a JSON response and reads `usage`.
/// A body that is not JSON passes unchanged (an upstream error page, say).
pub fn rewrite_json_response(settings: &Settings, vault: &PiiVault, bytes: &[u8]) -> JsonResponse {
    let Ok(doc) = json::scan(bytes) else {
        return JsonResponse::default();
    };
    let usage = usage_of(bytes, &doc);
    let rewrite = response_rewrites(settings);
    let mut splices = Vec::new();
    let mut text_bytes = 0;
    for l in &doc.leaves {
        let LeafValue::Str(s) = &l.value else { continue };
        if !is_model_text(&l.path) || matches!(l.path.first(), Some(Seg::Key(k)) if k == "usage") {
            continue;
        }
        text_bytes += s.len();
        if rewrite {
            if let Some(new) = settings.pii.restore(s, vault) {
                splices.push(Splice { start: l.start, end: l.end, text: json::encode_str(&new) });
            }
        }
    }
    let body = if splices.is_empty() { None } else { Some(json::apply_splices(bytes, &mut splices).0) };
    JsonResponse { body, usage, text_bytes }
}

/// Which text stream of an SSE response a delta belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum StreamKey {
    /// OpenAI chat: `choices[i].delta.content`.
    Content(usize),
    /// OpenAI chat: `choices[i].delta.tool_calls[k].function.arguments`.
    ToolArgs(usize, usize),
    /// Anthropic: content block `index`'s `delta.text` / `delta.partial_json`.
    Block(usize, bool),
}

/// Rewrites an SSE response incrementally: restores/redacts PII in deltas (holding back only
/// what could still be the start of a match), keeps every event in order, reads `usage` from
/// the final chunk, and ends with `data: [DONE]` whenever the upstream did.
pub struct StreamRewriter {
    framer: SseFramer,
    rewrite: bool,
    streams: BTreeMap<StreamKey, StreamRestorer>,
    /// Raw JSON of `id`, `created`, `model` of the last chunk, for flush events.
    meta: (String, String, String),
    pub usage: Option<Usage>,
    /// Bytes of model-written text seen (for estimates when there is no usage chunk).
    pub text_bytes: usize,
    pub saw_done: bool,
}

impl StreamRewriter {
    pub fn new(settings: &Settings) -> Self {
        StreamRewriter {
            framer: SseFramer::new(),
            rewrite: response_rewrites(settings),
            streams: BTreeMap::new(),
            meta: ("\"guardrail\"".into(), "0".into(), "\"\"".into()),
            usage: None,
            text_bytes: 0,
            saw_done: false,
        }
    }

    /// Feeds a chunk of the response body; returns the bytes to send on now.
    pub fn push(&mut self, settings: &Settings, vault: &PiiVault, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 64);
        for ev in self.framer.push(chunk) {
            self.event(settings, vault, ev, &mut out);
        }
        out
    }

    /// The stream ended: flushes held text and any unterminated event.
    pub fn finish(&mut self, settings: &Settings, vault: &PiiVault) -> Vec<u8> {
        let mut out = Vec::new();
        let rest = self.framer.take_rest();
        if !rest.is_empty() {
            // Treat an unterminated final event as complete.
            let mut raw = rest;
            raw.extend_from_slice(b"\n\n");
            self.event(settings, vault, SseEvent { raw }, &mut out);
        }
        self.flush_all(settings, vault, &mut out);
        out
    }

    fn flush_all(&mut self, settings: &Settings, vault: &PiiVault, out: &mut Vec<u8>) {
        let keys: Vec<StreamKey> = self.streams.keys().cloned().collect();
        for k in keys {
            self.flush(settings, vault, &k, out);
        }
    }

    fn flush(&mut self, settings: &Settings, vault: &PiiVault, key: &StreamKey, out: &mut Vec<u8>) {
        let Some(mut r) = self.streams.remove(key) else { return };
        let held = r.finish(&settings.pii, vault);
        if held.is_empty() {
            return;
        }
        let (id, created, model) = &self.meta;
        let t = json::encode_str(&held);
        let data = match key {
            StreamKey::Content(i) => format!(
                r#"{{"id":{id},"object":"chat.completion.chunk","created":{created},"model":{model},"choices":[{{"index":{i},"delta":{{"content":{t}}},"finish_reason":null}}]}}"#
            ),
            StreamKey::ToolArgs(i, k) => format!(
                r#"{{"id":{id},"object":"chat.completion.chunk","created":{created},"model":{model},"choices":[{{"index":{i},"delta":{{"tool_calls":[{{"index":{k},"function":{{"arguments":{t}}}}}]}},"finish_reason":null}}]}}"#
            ),
            StreamKey::Block(i, false) => {
                out.extend_from_slice(b"event: content_block_delta\n");
                format!(r#"{{"type":"content_block_delta","index":{i},"delta":{{"type":"text_delta","text":{t}}}}}"#)
            }
            StreamKey::Block(i, true) => {
                out.extend_from_slice(b"event: content_block_delta\n");
                format!(r#"{{"type":"content_block_delta","index":{i},"delta":{{"type":"input_json_delta","partial_json":{t}}}}}"#)
            }
        };
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    fn event(&mut self, settings: &Settings, vault: &PiiVault, ev: SseEvent, out: &mut Vec<u8>) {
        let Some(data) = ev.data() else {
            out.extend_from_slice(&ev.raw);
            return;
        };
        if data.trim() == "[DONE]" {
            self.flush_all(settings, vault, out);
            self.saw_done = true;
            out.extend_from_slice(&ev.raw);
            return;
        }
        let bytes = data.as_bytes();
        let Ok(doc) = json::scan(bytes) else {
            out.extend_from_slice(&ev.raw);
            return;
        };
        if let Some(u) = usage_of(bytes, &doc) {
            let prev = self.usage.unwrap_or_default();
            // Anthropic splits usage over message_start (input) and message_delta (output).
            self.usage = Some(Usage {
                prompt_tokens: if u.prompt_tokens > 0 { u.prompt_tokens } else { prev.prompt_tokens },
                completion_tokens: if u.completion_tokens > 0 { u.completion_tokens } else { prev.completion_tokens },
            });
        }
        if let Some(u) = num_at(bytes, &doc, &[P::K("message"), P::K("usage"), P::K("input_tokens")]) {
            let prev = self.usage.unwrap_or_default();
            self.usage = Some(Usage { prompt_tokens: u, ..prev });
        }
        for l in &doc.leaves {
            if l.path.len() == 1 {
                let slot = match &l.path[0] {
                    Seg::Key(k) if k == "id" => &mut self.meta.0,
                    Seg::Key(k) if k == "created" => &mut self.meta.1,
                    Seg::Key(k) if k == "model" => &mut self.meta.2,
                    _ => continue,
                };
                if let Some(raw) = bytes.get(l.start..l.end).and_then(|b| std::str::from_utf8(b).ok()) {
                    *slot = raw.to_string();
                }
            }
        }

        let mut splices = Vec::new();
        let mut finished: Vec<StreamKey> = Vec::new();
        for l in &doc.leaves {
            let p = &l.path;
            let key = if path_is(p, &[P::K("choices"), P::I, P::K("delta"), P::K("content")]) {
                index_at(p, 1).map(StreamKey::Content)
            } else if path_is(p, &[P::K("choices"), P::I, P::K("delta"), P::K("tool_calls"), P::I, P::K("function"), P::K("arguments")]) {
                // The tool call's own `index` field names the call across chunks; the array
                // position is the fallback.
                let k = tool_call_index(bytes, &doc, p).or_else(|| index_at(p, 4));
                index_at(p, 1).zip(k).map(|(i, k)| StreamKey::ToolArgs(i, k))
            } else if path_is(p, &[P::K("delta"), P::K("text")]) || path_is(p, &[P::K("delta"), P::K("partial_json")]) {
                let json_delta = matches!(p.last(), Some(Seg::Key(k)) if k == "partial_json");
                num_at(bytes, &doc, &[P::K("index")]).map(|i| StreamKey::Block(i as usize, json_delta))
            } else {
                None
            };
            if path_is(p, &[P::K("choices"), P::I, P::K("finish_reason")]) && matches!(l.value, LeafValue::Str(_)) {
                if let Some(i) = index_at(p, 1) {
                    let ks: Vec<StreamKey> = self
                        .streams
                        .keys()
                        .filter(|k| matches!(k, StreamKey::Content(j) | StreamKey::ToolArgs(j, _) if *j == i))
                        .cloned()
                        .collect();
                    finished.extend(ks);
                }
            }
            let (Some(key), LeafValue::Str(text)) = (key, &l.value) else { continue };
            self.text_bytes += text.len();
            if !self.rewrite {
                continue;
            }
            let r = self.streams.entry(key).or_default();
            let emitted = r.push(&settings.pii, vault, text);
            if emitted != *text {
                splices.push(Splice { start: l.start, end: l.end, text: json::encode_str(&emitted) });
            }
        }
        if matches!(doc.leaves.iter().find(|l| path_is(&l.path, &[P::K("type")])).and_then(|l| l.as_str()), Some("content_block_stop")) {
            if let Some(i) = num_at(bytes, &doc, &[P::K("index")]) {
                finished.push(StreamKey::Block(i as usize, false));
                finished.push(StreamKey::Block(i as usize, true));
            }
        }
        // Held text must come before the event that ends its stream.
        for k in &finished {
            self.flush(settings, vault, k, out);
        }
        if splices.is_empty() {
            out.extend_from_slice(&ev.raw);
        } else {
            let (new, _) = json::apply_splices(bytes, &mut splices);
            out.extend_from_slice(&ev.with_data(&String::from_utf8_lossy(&new)));
        }
    }
}

fn tool_call_index(bytes: &[u8], doc: &Document, args_path: &[Seg]) -> Option<usize> {
    let (Some(i), Some(k)) = (index_at(args_path, 1), index_at(args_path, 4)) else { return None };
    let l = doc.leaves.iter().find(|l| {
        path_is(&l.path, &[P::K("choices"), P::I, P::K("delta"), P::K("tool_calls"), P::I, P::K("index")])
            && index_at(&l.path, 1) == Some(i)
            && index_at(&l.path, 4) == Some(k)
    })?;
    std::str::from_utf8(bytes.get(l.start..l.end)?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn settings(json: &str) -> Settings {
        Settings::from_json(json.as_bytes(), b"test-key-0123456789abcdef".to_vec()).unwrap()
    }

    #[test]
    fn benign_request_is_unchanged() {
        let s = settings("{}");
        let mut vault = PiiVault::default();
        let body = br#"{"model":"m","messages":[{"role":"user","content":"What is the capital of France?"}]}"#;
        let ins = inspect_request(&s, body, &mut vault).unwrap();
        assert!(ins.reply.is_none());
        assert_eq!(ins.report.action, InjectionAction::Allow);
        assert!(ins.rewritten(None, None).is_none());
        assert!(ins.log_line("r1", None).is_none());
        let est = ins.estimate();
        assert_eq!(est.model.as_deref(), Some("m"));
        assert_eq!(est.prompt_tokens, 8);
    }

    #[test]
    fn non_utf8_gets_a_clear_reply() {
        let s = settings("{}");
        let r = inspect_request(&s, b"\xff\xfe\x00", &mut PiiVault::default()).err().unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.code, "invalid_encoding");
    }

    #[test]
    fn routing_rewrites_the_body() {
        let s = settings("{}");
        let body = br#"{"model":"big","max_tokens":900,"messages":[{"role":"user","content":"hi"}]}"#;
        let ins = inspect_request(&s, body, &mut PiiVault::default()).unwrap();
        let out = ins.rewritten(Some("small"), Some(10)).unwrap();
        assert_eq!(out, br#"{"model":"small","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#.to_vec());
    }

    #[test]
    fn json_response_usage_is_read() {
        let s = settings("{}");
        let body = br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hello"}}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}"#;
        let r = rewrite_json_response(&s, &PiiVault::default(), body);
        assert_eq!(r.usage, Some(Usage { prompt_tokens: 11, completion_tokens: 7 }));
        assert_eq!(r.text_bytes, 5);
        let anth = br#"{"content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":3,"output_tokens":2}}"#;
        assert_eq!(rewrite_json_response(&s, &PiiVault::default(), anth).usage, Some(Usage { prompt_tokens: 3, completion_tokens: 2 }));
        assert_eq!(rewrite_json_response(&s, &PiiVault::default(), b"<html>bad gateway").usage, None);
    }

    fn chunk(i: usize, content: &str) -> String {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\",\"choices\":[{{\"index\":{i},\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
            json::encode_str(content)
        )
    }

    fn sse_stream(parts: &[&str]) -> String {
        let mut s = String::new();
        for p in parts {
            s.push_str(&chunk(0, p));
        }
        s.push_str("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        s.push_str("data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}\n\n");
        s.push_str("data: [DONE]\n\n");
        s
    }

    fn collect_content(out: &[u8]) -> (String, bool) {
        let mut f = SseFramer::new();
        let mut text = String::new();
        let mut done = false;
        for ev in f.push(out) {
            let d = ev.data().unwrap();
            if d == "[DONE]" {
                done = true;
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&d).unwrap();
            if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                text.push_str(c);
            }
        }
        (text, done)
    }

    #[test]
    fn sse_passes_intact_at_every_split_and_reads_usage() {
        let s = settings("{}");
        let vault = PiiVault::default();
        let stream = sse_stream(&["Hel", "lo, ", "wor", "ld!"]);
        for size in [1, 2, 3, 5, 7, 13, 64, stream.len()] {
            let mut rw = StreamRewriter::new(&s);
            let mut out = Vec::new();
            for c in stream.as_bytes().chunks(size) {
                out.extend(rw.push(&s, &vault, c));
            }
            out.extend(rw.finish(&s, &vault));
            let (text, done) = collect_content(&out);
            assert_eq!(text, "Hello, world!", "chunk size {size}");
            assert!(done);
            assert!(String::from_utf8(out).unwrap().ends_with("data: [DONE]\n\n"));
            assert_eq!(rw.usage, Some(Usage { prompt_tokens: 11, completion_tokens: 7 }));
            assert_eq!(rw.text_bytes, 13);
        }
    }

    #[test]
    fn sse_without_done_gets_no_done() {
        let s = settings("{}");
        let vault = PiiVault::default();
        let mut rw = StreamRewriter::new(&s);
        let mut out = rw.push(&s, &vault, chunk(0, "abc").as_bytes());
        out.extend(rw.push(&s, &vault, b"data: {\"choices\":[]}"));
        out.extend(rw.finish(&s, &vault));
        let (content, done) = collect_content(&out);
        assert!(!done);
        // Text held back (it could still grow into a PII value) is flushed at the end.
        assert_eq!(content, "abc");
        assert!(String::from_utf8(out).unwrap().contains("data: {\"choices\":[]}\n\n"));
    }
}
