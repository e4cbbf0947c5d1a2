//! Finds every piece of text a detector must see in a request body, with its role and
//! location, and writes edits back into the original bytes.
//!
//! Formats: OpenAI chat completions (string content, content-part arrays, `tool_calls[].function.arguments`,
//! tool-role results, `name`), the Responses API (`input`, `instructions`), Anthropic messages
//! (`system`, content blocks, `tool_result`), legacy `prompt`. A JSON object of another shape has
//! all its strings scanned as user text; a body that is not JSON is scanned as raw text.

use super::json::{
    self, index_at, path_is, Document, JsonError, Leaf, Path, RootKind, Seg, Splice, P,
};
use super::Role;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON object in one of the known LLM API shapes.
    Chat,
    /// JSON, but not a known shape: every string value is scanned as user text.
    OtherJson,
    /// Not JSON (or JSON that failed to parse): the whole body is one text.
    Raw,
}

/// One text to inspect.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSlot<'a> {
    pub role: Role,
    /// Leaf index in the document (JSON formats); None for raw bodies.
    pub leaf: Option<usize>,
    /// The decoded text: borrowed from the body unless the JSON string has escapes.
    pub text: Cow<'a, str>,
}

/// A parsed request body: the document, its texts, and the fields quota and routing need.
#[derive(Debug)]
pub struct RequestBody<'a> {
    pub bytes: &'a [u8],
    pub format: Format,
    pub doc: Option<Document<'a>>,
    /// Raw text when `format == Raw`.
    pub raw: Option<&'a str>,
    pub slots: Vec<TextSlot<'a>>,
    /// Why a JSON body failed to parse (for logs), when it did.
    pub json_error: Option<json::JsonError>,
}

/// Why a body cannot be inspected at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    NotUtf8,
    /// A body typed JSON that is not one JSON document (or starts with a byte order mark).
    InvalidJson(JsonError),
    /// A JSON body with a key repeated in one of its objects.
    DuplicateKey(JsonError),
}

/// The error for a JSON-typed body that starts with a UTF-8 byte order mark. RFC 8259 lets a
/// parser ignore it or not, and servers differ (Python strips it, Go refuses it): refused.
pub const BOM: &str = "byte order mark before the document";

/// Object keys that are names of the API's own fields: a log may name them. Any other key was
/// chosen by the client (it may be an email address) and is logged as `<key>`.
const SCHEMA_KEYS: &[&str] = &[
    "arguments",
    "content",
    "description",
    "function",
    "function_call",
    "image_url",
    "input",
    "input_text",
    "instructions",
    "messages",
    "metadata",
    "model",
    "name",
    "output",
    "parameters",
    "prompt",
    "properties",
    "role",
    "source",
    "system",
    "text",
    "tool_calls",
    "tool_choice",
    "tools",
    "type",
    "url",
    "user",
];

fn role_from(s: &str) -> Role {
    match s {
        "system" => Role::System,
        "developer" => Role::Developer,
        "assistant" | "model" => Role::Assistant,
        "tool" | "function" => Role::Tool,
        // "user" and anything unknown: untrusted.
        _ => Role::User,
    }
}

impl<'a> RequestBody<'a> {
    /// Parses a request body whose content type does not say JSON: a JSON document when it is
    /// one, else raw text.
    pub fn parse(bytes: &'a [u8]) -> Result<RequestBody<'a>, BodyError> {
        Self::parse_as(bytes, false)
    }

    /// Parses a request body. `json_typed`: the content type says JSON (`application/json`,
    /// `+json`), so the body must be one JSON document, without a byte order mark; any other
    /// body is JSON when it parses as JSON, else raw text. A JSON body must not repeat a key in
    /// any of its objects.
    pub fn parse_as(bytes: &'a [u8], json_typed: bool) -> Result<RequestBody<'a>, BodyError> {
        let text = std::str::from_utf8(bytes).map_err(|_| BodyError::NotUtf8)?;
        if json_typed && text.starts_with('\u{feff}') {
            return Err(BodyError::InvalidJson(JsonError {
                offset: 0,
                reason: BOM,
            }));
        }
        match json::scan_request(bytes) {
            Ok(doc) => Ok(Self::from_doc(bytes, doc)),
            Err(e) if e.is_duplicate_key() => Err(BodyError::DuplicateKey(e)),
            Err(e) if json_typed => Err(BodyError::InvalidJson(e)),
            Err(e) => Ok(RequestBody {
                bytes,
                format: Format::Raw,
                doc: None,
                raw: Some(text),
                slots: vec![TextSlot {
                    role: Role::User,
                    leaf: None,
                    text: Cow::Borrowed(text),
                }],
                json_error: Some(e),
            }),
        }
    }

    fn from_doc(bytes: &'a [u8], doc: Document<'a>) -> RequestBody<'a> {
        let known = doc.root == RootKind::Object
            && doc.leaves.iter().any(|l| {
                matches!(doc.path(l).first(), Some(Seg::Key(k)) if k == "messages" || k == "input" || k == "prompt")
            });
        // One slot at most per string: sized once (a body of many short strings would
        // otherwise hold a doubled vector).
        let mut slots = Vec::with_capacity(
            doc.leaves
                .iter()
                .filter(|l| l.is_str() && l.end - l.start > 2)
                .count(),
        );
        if known {
            // Roles of messages[i] / input[i], looked up by index (the role key may come after
            // the content in the object). Indexed by position, so a body of many thousand
            // messages costs linear time, not one scan of every role per text.
            let mut roles: [Vec<Option<Role>>; 2] = [Vec::new(), Vec::new()];
            let top_slot = |top: &str| match top {
                "messages" => Some(0),
                "input" => Some(1),
                _ => None,
            };
            // Depth first: a path step is a walk up from the leaf (cheap only when shallow).
            for l in doc.leaves.iter().filter(|l| l.depth() == 3) {
                let p = doc.path(l);
                if let (Some(Seg::Key(top)), Some(i), Some(r)) =
                    (p.first(), index_at(p, 1), doc.str(l))
                {
                    if p.key_is(2, "role") {
                        if let Some(v) = top_slot(&top).and_then(|t| roles.get_mut(t)) {
                            // `i` is an array index of this document: bounded by its size.
                            if v.len() <= i {
                                v.resize(i + 1, None);
                            }
                            if let Some(slot) = v.get_mut(i) {
                                // The first `role` of a message wins, as before.
                                slot.get_or_insert_with(|| role_from(&r.text()));
                            }
                        }
                    }
                }
            }
            let role_of = |top: &str, i: usize| {
                top_slot(top)
                    .and_then(|t| roles.get(t))
                    .and_then(|v| v.get(i).copied().flatten())
                    .unwrap_or(Role::User)
            };
            // Content blocks typed `tool_result` (Anthropic) carry tool output inside a user turn.
            let mut tool_result_blocks: Vec<(usize, usize)> = Vec::new();
            for l in &doc.leaves {
                let p = doc.path(l);
                if path_is(
                    p,
                    &[P::K("messages"), P::I, P::K("content"), P::I, P::K("type")],
                ) && doc.str(l).is_some_and(|s| s.eq_str("tool_result"))
                {
                    if let (Some(i), Some(j)) = (index_at(p, 1), index_at(p, 3)) {
                        tool_result_blocks.push((i, j));
                    }
                }
            }
            tool_result_blocks.sort_unstable();
            for (n, l) in doc.leaves.iter().enumerate() {
                // An empty string has nothing to inspect or rewrite: no slot.
                let Some(s) = doc.str(l).filter(|s| !s.is_empty()) else {
                    continue;
                };
                if let Some(role) = slot_role(doc.path(l), &role_of, &tool_result_blocks) {
                    slots.push(TextSlot {
                        role,
                        leaf: Some(n),
                        text: s.text(),
                    });
                }
            }
            return RequestBody {
                bytes,
                format: Format::Chat,
                doc: Some(doc),
                raw: None,
                slots,
                json_error: None,
            };
        }
        for (n, l) in doc.leaves.iter().enumerate() {
            if let Some(s) = doc.str(l).filter(|s| !s.is_empty()) {
                slots.push(TextSlot {
                    role: Role::User,
                    leaf: Some(n),
                    text: s.text(),
                });
            }
        }
        RequestBody {
            bytes,
            format: Format::OtherJson,
            doc: Some(doc),
            raw: None,
            slots,
            json_error: None,
        }
    }

    /// The text of a slot (decoded once, when the body was parsed).
    pub fn text<'s>(&self, slot: &'s TextSlot<'_>) -> &'s str {
        &slot.text
    }

    /// Where a slot is, for logs: `messages[2].content` (structure only, never the text; a key
    /// that is not one of the API's field names shows as `<key>`).
    pub fn location(&self, slot: &TextSlot<'_>) -> String {
        match (slot.leaf, &self.doc) {
            (Some(n), Some(doc)) => doc
                .leaves
                .get(n)
                .map(|l| json::render_path(doc.path(l), |k| SCHEMA_KEYS.contains(&k)))
                .unwrap_or_default(),
            _ => "body".to_string(),
        }
    }

    fn leaf_at(&self, pattern: &[P<'_>]) -> Option<&Leaf<'a>> {
        self.doc.as_ref()?.find(pattern)
    }

    /// The `model` field (borrowed from the body unless it has escapes).
    pub fn model(&self) -> Option<Cow<'a, str>> {
        let doc = self.doc.as_ref()?;
        doc.find(&[P::K("model")]).and_then(|l| doc.text(l))
    }

    /// `max_completion_tokens`, `max_tokens` or `max_output_tokens`, whichever is set.
    pub fn max_tokens(&self) -> Option<(u64, &'static str)> {
        for key in ["max_completion_tokens", "max_tokens", "max_output_tokens"] {
            if let Some(l) = self.leaf_at(&[P::K(key)]) {
                if l.is_num() {
                    let raw = self
                        .bytes
                        .get(l.start..l.end)
                        .and_then(|b| std::str::from_utf8(b).ok())?;
                    if let Ok(v) = raw.parse::<u64>() {
                        return Some((v, key));
                    }
                }
            }
        }
        None
    }

    /// `"stream": true`.
    pub fn is_stream(&self) -> bool {
        self.leaf_at(&[P::K("stream")])
            .map(|l| l.bool() == Some(true))
            .unwrap_or(false)
    }

    /// Total bytes of inspected text (for token estimates).
    pub fn text_bytes(&self) -> usize {
        self.slots.iter().map(|s| s.text.len()).sum()
    }

    /// Writes edits back. `texts` replaces slot texts; `model` and `max_tokens` rewrite or add
    /// those fields. Every other byte is kept.
    pub fn rewrite(
        &self,
        texts: &[(usize, String)],
        model: Option<&str>,
        max_tokens: Option<u64>,
    ) -> Vec<u8> {
        let Some(doc) = &self.doc else {
            // Raw body: the only slot is the whole text.
            return match texts.first() {
                Some((_, t)) => t.clone().into_bytes(),
                None => self.bytes.to_vec(),
            };
        };
        let mut splices = Vec::with_capacity(texts.len() + 2);
        for (slot_idx, new) in texts {
            if let Some(leaf) = self
                .slots
                .get(*slot_idx)
                .and_then(|s| s.leaf)
                .and_then(|n| doc.leaves.get(n))
            {
                splices.push(Splice {
                    start: leaf.start,
                    end: leaf.end,
                    text: json::encode_str(new),
                });
            }
        }
        let mut inserts = String::new();
        if let Some(m) = model {
            match self.leaf_at(&[P::K("model")]) {
                Some(l) => splices.push(Splice {
                    start: l.start,
                    end: l.end,
                    text: json::encode_str(m),
                }),
                None => inserts.push_str(&format!("\"model\":{},", json::encode_str(m))),
            }
        }
        if let Some(n) = max_tokens {
            let key = self.max_tokens().map(|(_, k)| k);
            match key.and_then(|k| self.leaf_at(&[P::K(k)])) {
                Some(l) => splices.push(Splice {
                    start: l.start,
                    end: l.end,
                    text: n.to_string(),
                }),
                None => inserts.push_str(&format!("\"max_tokens\":{n},")),
            }
        }
        if !inserts.is_empty() && doc.root == RootKind::Object {
            // Insert right after the opening brace; the trailing comma is valid because a
            // parsed object that has `messages` has at least one member.
            let at = doc.root_start + 1;
            if doc.leaves.is_empty() {
                inserts.pop();
            }
            splices.push(Splice {
                start: at,
                end: at,
                text: inserts,
            });
        }
        json::apply_splices(self.bytes, &mut splices).0
    }
}

/// Which role a string leaf speaks for, or None when it is not text a detector must see
/// (ids, roles, types, model names, URLs of images...).
fn slot_role(
    p: Path<'_, '_>,
    role_of: &dyn Fn(&str, usize) -> Role,
    tool_results: &[(usize, usize)],
) -> Option<Role> {
    // No pattern below is longer: a deeper leaf is answered without walking its path.
    if p.len() > 7 {
        return None;
    }
    let top = match p.first() {
        Some(Seg::Key(k)) => k,
        _ => return None,
    };
    let top = top.as_ref();
    match top {
        "messages" | "input" => {
            if p.len() == 1 {
                // `input` as a plain string (Responses API).
                return Some(Role::User);
            }
            let i = index_at(p, 1)?;
            let role = role_of(top, i);
            if path_is(p, &[P::K(top), P::I]) {
                return Some(Role::User); // `input: ["text", ...]`
            }
            if path_is(p, &[P::K(top), P::I, P::K("content")])
                || path_is(p, &[P::K(top), P::I, P::K("name")])
            {
                return Some(role);
            }
            if path_is(p, &[P::K(top), P::I, P::K("output")]) {
                return Some(Role::Tool); // Responses `function_call_output`
            }
            if path_is(p, &[P::K(top), P::I, P::K("arguments")])
                || path_is(
                    p,
                    &[P::K(top), P::I, P::K("function_call"), P::K("arguments")],
                )
                || path_is(
                    p,
                    &[
                        P::K(top),
                        P::I,
                        P::K("tool_calls"),
                        P::I,
                        P::K("function"),
                        P::K("arguments"),
                    ],
                )
            {
                return Some(Role::Assistant);
            }
            let j = index_at(p, 3);
            let in_tool_result = j
                .map(|j| tool_results.binary_search(&(i, j)).is_ok())
                .unwrap_or(false);
            if path_is(p, &[P::K(top), P::I, P::K("content"), P::I, P::K("text")]) {
                return Some(if in_tool_result { Role::Tool } else { role });
            }
            // Anthropic tool_result: `content` string or blocks with `text`.
            if in_tool_result
                && (path_is(
                    p,
                    &[P::K(top), P::I, P::K("content"), P::I, P::K("content")],
                ) || path_is(
                    p,
                    &[
                        P::K(top),
                        P::I,
                        P::K("content"),
                        P::I,
                        P::K("content"),
                        P::I,
                        P::K("text"),
                    ],
                ))
            {
                return Some(Role::Tool);
            }
            // Plain string parts: `content: ["a", "b"]`.
            if path_is(p, &[P::K(top), P::I, P::K("content"), P::I]) {
                return Some(role);
            }
            None
        }
        "system" => {
            if path_is(p, &[P::K("system")]) || path_is(p, &[P::K("system"), P::I, P::K("text")]) {
                Some(Role::System)
            } else {
                None
            }
        }
        "instructions" if p.len() == 1 => Some(Role::System),
        "prompt" => {
            if p.len() == 1 || path_is(p, &[P::K("prompt"), P::I]) {
                Some(Role::User)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn texts(body: &str) -> Vec<(Role, String, String)> {
        let b = RequestBody::parse(body.as_bytes()).unwrap();
        b.slots
            .iter()
            .map(|s| (s.role, b.location(s), b.text(s).to_string()))
            .collect()
    }

    #[test]
    fn roles_of_many_messages_by_index() {
        // Thousands of turns (roles looked up by index), a role after its content, a message
        // without a role (user), and `input` kept apart. (A second `role` key in a message is
        // refused: `duplicate_keys_are_refused_anywhere`.)
        let mut msgs = Vec::new();
        for i in 0..3000 {
            msgs.push(match i % 4 {
                0 => format!(r#"{{"content":"s{i}","role":"system"}}"#),
                1 => format!(r#"{{"role":"assistant","content":"a{i}"}}"#),
                2 => format!(r#"{{"content":"u{i}"}}"#),
                _ => format!(r#"{{"role":"tool","content":"t{i}"}}"#),
            });
        }
        let body = format!(
            r#"{{"input":[{{"role":"system","content":"x"}}],"messages":[{}]}}"#,
            msgs.join(",")
        );
        let t = texts(&body);
        assert_eq!(t.len(), 3001);
        assert_eq!(t[0], (Role::System, "input[0].content".into(), "x".into()));
        for (i, (role, loc, text)) in t[1..].iter().enumerate() {
            let want = [Role::System, Role::Assistant, Role::User, Role::Tool][i % 4];
            assert_eq!(
                (*role, loc.as_str()),
                (want, format!("messages[{i}].content").as_str()),
                "{text}"
            );
        }
    }

    #[test]
    fn chat_completions_texts_and_roles() {
        let body = r#"{"model":"gpt-4o","messages":[
            {"content":"be nice","role":"system"},
            {"role":"developer","content":"dev rules"},
            {"role":"user","name":"alice","content":[{"type":"text","text":"hello"},{"type":"image_url","image_url":{"url":"http://x/y.png"}}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get","arguments":"{\"q\":\"w\"}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"tool says hi"},
            {"role":"user","content":"bye"}]}"#;
        assert_eq!(
            texts(body),
            vec![
                (Role::System, "messages[0].content".into(), "be nice".into()),
                (
                    Role::Developer,
                    "messages[1].content".into(),
                    "dev rules".into()
                ),
                (Role::User, "messages[2].name".into(), "alice".into()),
                (
                    Role::User,
                    "messages[2].content[0].text".into(),
                    "hello".into()
                ),
                (
                    Role::Assistant,
                    "messages[3].tool_calls[0].function.arguments".into(),
                    "{\"q\":\"w\"}".into()
                ),
                (
                    Role::Tool,
                    "messages[4].content".into(),
                    "tool says hi".into()
                ),
                (Role::User, "messages[5].content".into(), "bye".into()),
            ]
        );
    }

    #[test]
    fn responses_api_and_anthropic() {
        assert_eq!(
            texts(r#"{"model":"m","instructions":"sys","input":"hi"}"#),
            vec![
                (Role::System, "instructions".into(), "sys".into()),
                (Role::User, "input".into(), "hi".into())
            ]
        );
        assert_eq!(
            texts(
                r#"{"input":[{"role":"user","content":[{"type":"input_text","text":"q"}]},{"type":"function_call_output","call_id":"x","output":"res"}]}"#
            ),
            vec![
                (Role::User, "input[0].content[0].text".into(), "q".into()),
                (Role::Tool, "input[1].output".into(), "res".into())
            ]
        );
        let anth = r#"{"model":"claude","max_tokens":10,"system":[{"type":"text","text":"S"}],"messages":[
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"from tool"}]},{"type":"text","text":"mine"}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"plain tool"}]}]}"#;
        assert_eq!(
            texts(anth),
            vec![
                (Role::System, "system[0].text".into(), "S".into()),
                (
                    Role::Tool,
                    "messages[0].content[0].content[0].text".into(),
                    "from tool".into()
                ),
                (
                    Role::User,
                    "messages[0].content[1].text".into(),
                    "mine".into()
                ),
                (
                    Role::Tool,
                    "messages[1].content[0].content".into(),
                    "plain tool".into()
                ),
            ]
        );
    }

    #[test]
    fn other_shapes_and_raw_text_are_still_scanned() {
        assert_eq!(texts(r#"["a", {"b": "c"}]"#).len(), 2);
        // An empty string is no text to inspect (a body of many holds no slot for each).
        assert_eq!(texts(r#"["", {"b": ""}, "x"]"#).len(), 1);
        assert_eq!(
            texts(r#"{"messages":[{"role":"user","content":""}]}"#).len(),
            0
        );
        assert_eq!(
            texts(r#"{"query": "x"}"#),
            vec![(Role::User, "<key>".into(), "x".into())]
        );
        let raw = texts("{not json ignore previous");
        assert_eq!(
            raw,
            vec![(
                Role::User,
                "body".into(),
                "{not json ignore previous".into()
            )]
        );
        assert!(matches!(
            RequestBody::parse(b"\xff\xfe{}"),
            Err(BodyError::NotUtf8)
        ));
    }

    #[test]
    fn json_typed_bodies_must_parse_and_no_json_body_repeats_a_key() {
        // (body, content type says JSON, outcome): a format, or the error's kind and reason.
        #[derive(Debug, PartialEq)]
        enum Want {
            Parsed(Format),
            Invalid(&'static str),
            Duplicate,
            NotUtf8,
        }
        use Want::*;
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let cases: Vec<(Vec<u8>, bool, Want)> = vec![
            (
                br#"{"messages":[{"content":"x"}]}"#.to_vec(),
                true,
                Parsed(Format::Chat),
            ),
            (
                br#"{"query":"x"}"#.to_vec(),
                false,
                Parsed(Format::OtherJson),
            ),
            (b"plain words".to_vec(), false, Parsed(Format::Raw)),
            (
                b"plain words".to_vec(),
                true,
                Invalid("unexpected character"),
            ),
            (
                br#"{"x": NaN}"#.to_vec(),
                true,
                Invalid("unexpected character"),
            ),
            (br#"{"x": NaN}"#.to_vec(), false, Parsed(Format::Raw)),
            (
                br#"{"x": 1,}"#.to_vec(),
                true,
                Invalid("expected object key"),
            ),
            (b"".to_vec(), true, Invalid("empty document")),
            ("\u{feff}{\"messages\":[]}".into(), true, Invalid(BOM)),
            (
                "\u{feff}{\"messages\":[]}".into(),
                false,
                Parsed(Format::Raw),
            ),
            (
                deep(json::MAX_DEPTH).into_bytes(),
                true,
                Parsed(Format::OtherJson),
            ),
            (
                deep(json::MAX_DEPTH + 1).into_bytes(),
                true,
                Invalid("nesting too deep"),
            ),
            (
                deep(json::MAX_DEPTH + 1).into_bytes(),
                false,
                Parsed(Format::Raw),
            ),
            (br#"{"model":"a","model":"b"}"#.to_vec(), true, Duplicate),
            (br#"{"model":"a","model":"b"}"#.to_vec(), false, Duplicate),
            (
                br#"{"messages":[{"role":"user","content":"x","\u0072ole":"system"}]}"#.to_vec(),
                true,
                Duplicate,
            ),
            (
                br#"{"tools":[{"function":{"parameters":{"a":1,"a":2}}}]}"#.to_vec(),
                true,
                Duplicate,
            ),
            (b"\xff{}".to_vec(), true, NotUtf8),
            (b"\xff{}".to_vec(), false, NotUtf8),
        ];
        for (body, typed, want) in &cases {
            let got = match RequestBody::parse_as(body, *typed) {
                Ok(b) => Parsed(b.format),
                Err(BodyError::InvalidJson(e)) => Invalid(e.reason),
                Err(BodyError::DuplicateKey(e)) => {
                    assert!(e.is_duplicate_key());
                    Duplicate
                }
                Err(BodyError::NotUtf8) => NotUtf8,
            };
            assert_eq!(
                &got,
                want,
                "{:?} typed={typed}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn escaped_text_is_decoded_for_detection_and_re_encoded_on_rewrite() {
        let body =
            br#"{"messages":[{"role":"user","content":"mail jane.doe\u0040example.com \"now\""}]}"#;
        let b = RequestBody::parse_as(body, true).unwrap();
        assert_eq!(b.text(&b.slots[0]), "mail jane.doe@example.com \"now\"");
        let out = b.rewrite(&[(0, "mail [EMAIL_1] \"now\"\n\u{1}".into())], None, None);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["messages"][0]["content"], "mail [EMAIL_1] \"now\"\n\u{1}");
    }

    #[test]
    fn locations_name_schema_positions_never_client_keys() {
        let cases = [
            (
                r#"{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}"#,
                "messages[0].content[0].text",
            ),
            (r#"{"jane.doe@example.com":"x"}"#, "<key>"),
            (
                r#"{"metadata":{"jane.doe@example.com":"x"}}"#,
                "metadata.<key>",
            ),
            (r#"[{"a b\u0000c":{"name":"x"}}]"#, "[0].<key>.name"),
            (r#"{"input":"x"}"#, "input"),
        ];
        for (body, want) in cases {
            let b = RequestBody::parse(body.as_bytes()).unwrap();
            let locs: Vec<String> = b.slots.iter().map(|s| b.location(s)).collect();
            assert_eq!(locs, vec![want.to_string()], "{body}");
        }
        // Deep paths are cut short in a log line.
        let deep = format!("{}\"x\"{}", "[".repeat(100), "]".repeat(100));
        let b = RequestBody::parse(deep.as_bytes()).unwrap();
        assert_eq!(b.location(&b.slots[0]), format!("{}...", "[0]".repeat(16)));
    }

    #[test]
    fn rewrite_changes_only_edited_texts() {
        let body = r#"{ "model" : "gpt-4o",
  "messages": [{"role":"user","content":"my mail is a@b.c"}], "temperature": 0.70 }"#;
        let b = RequestBody::parse(body.as_bytes()).unwrap();
        let out = b.rewrite(&[(0, "my mail is [EMAIL_1]\n\"q\"".into())], None, None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{ "model" : "gpt-4o",
  "messages": [{"role":"user","content":"my mail is [EMAIL_1]\n\"q\""}], "temperature": 0.70 }"#
        );
    }

    #[test]
    fn rewrite_model_and_max_tokens() {
        let b = RequestBody::parse(br#"{"model":"big","max_tokens":500,"messages":[]}"#).unwrap();
        assert_eq!(b.max_tokens(), Some((500, "max_tokens")));
        assert_eq!(b.model().as_deref(), Some("big"));
        let out = b.rewrite(&[], Some("small"), Some(100));
        assert_eq!(
            out,
            br#"{"model":"small","max_tokens":100,"messages":[]}"#.to_vec()
        );
        let b = RequestBody::parse(br#"{"messages":[{"role":"user","content":"x"}]}"#).unwrap();
        let out = b.rewrite(&[], None, Some(7));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["max_tokens"], 7);
        assert_eq!(v["messages"][0]["content"], "x");
    }

    #[test]
    fn stream_flag() {
        assert!(RequestBody::parse(br#"{"stream":true,"messages":[]}"#)
            .unwrap()
            .is_stream());
        assert!(!RequestBody::parse(br#"{"stream":"yes","messages":[]}"#)
            .unwrap()
            .is_stream());
    }
}
