//! Finds every piece of text a detector must see in a request body, with its role and
//! location, and writes edits back into the original bytes.
//!
//! Formats: OpenAI chat completions (string content, content-part arrays, `tool_calls[].function.arguments`,
//! tool-role results, `name`), the Responses API (`input`, `instructions`), Anthropic messages
//! (`system`, content blocks, `tool_use`, `tool_result`), legacy `prompt`. A JSON object of
//! another shape has all its strings and keys scanned as user text; a body that is not JSON is
//! scanned as raw text.
//!
//! Every string value, object key and long number is a slot, whatever the format: PII runs
//! over all of them. Each slot says whether the model reads it (then prompt injection scores
//! it, for the roles it inspects) and with which role: known data fields (`model`, `user`,
//! `metadata`, ids, URLs...) are PII-only; unknown top-level fields are user text.

use super::json::{
    self, index_at, path_is, seg_index, segs_are, Document, JsonError, Leaf, LeafValue, RootKind,
    Seg, Splice, P,
};
use super::Role;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON object in one of the known LLM API shapes.
    Chat,
    /// JSON, but not a known shape: every string value and key is scanned as user text.
    OtherJson,
    /// Not JSON (or JSON that failed to parse): the whole body is one text.
    Raw,
}

/// Which part of the JSON a slot is: what an edit replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A string value (or the whole raw body).
    Str,
    /// An object key (PII; injection where the model reads it). Never sanitised.
    Key,
    /// A JSON number of at least [`NUMBER_MIN_DIGITS`] digits (PII only). An edit turns it
    /// into a JSON string holding the token, so the body stays valid JSON.
    Number,
}

/// JSON numbers with at least this many digits are scanned for PII: an SSN has 9 digits,
/// phone numbers and cards more. Shorter ones (counts, prices, limits) are not.
pub const NUMBER_MIN_DIGITS: usize = 9;

/// Top-level numeric parameters of the LLM APIs: never PII, whatever their digits (a `seed`
/// is a random 64-bit integer).
const NUMERIC_PARAMS: &[&str] = &[
    "seed",
    "created",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
];

/// One text to inspect.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSlot<'a> {
    pub role: Role,
    /// Whether the model reads this text (prompt injection is scored on it, for inspected
    /// roles); otherwise it is data (ids, URLs, `user`, `metadata`...) and only PII runs.
    pub reads: bool,
    pub kind: SlotKind,
    /// Leaf index in the document (string and number slots of JSON formats).
    pub leaf: Option<usize>,
    /// Byte span an edit replaces: the string or key with its quotes, the number, or the whole
    /// raw body.
    pub span: (usize, usize),
    /// The message (`messages[i]`: `(0, i)`, `input[i]`: `(1, i)`) a text belongs to, for
    /// scoring a message's parts joined.
    pub turn: Option<(u8, usize)>,
    /// The decoded text: borrowed from the body unless the JSON string has escapes (then
    /// decoded on first use).
    pub text: SlotText<'a>,
}

/// A slot's text. Plain text (borrowed or owned) is there at once; a JSON string with escapes
/// keeps its raw body and is decoded the first time it is read, so that a text whose verdicts
/// come from the cache (keyed on the raw body, [`SlotText::escaped_raw`]) is never decoded.
/// Reading it (`&*text`) always gives the decoded text.
#[derive(Clone)]
pub struct SlotText<'a> {
    /// The raw body (between the quotes) of a JSON string with escapes.
    escaped: Option<&'a str>,
    text: std::cell::OnceCell<Cow<'a, str>>,
}

impl<'a> SlotText<'a> {
    /// A JSON string's raw body with escapes, decoded on first use.
    pub fn escaped(raw: &'a str) -> Self {
        SlotText {
            escaped: Some(raw),
            text: std::cell::OnceCell::new(),
        }
    }

    /// The raw body of a JSON string with escapes (whether or not it was decoded yet); None for
    /// text that needed no decoding. The decoded text is a function of it.
    pub fn escaped_raw(&self) -> Option<&'a str> {
        self.escaped
    }
}

impl<'a> From<Cow<'a, str>> for SlotText<'a> {
    fn from(t: Cow<'a, str>) -> Self {
        SlotText {
            escaped: None,
            text: std::cell::OnceCell::from(t),
        }
    }
}

impl std::ops::Deref for SlotText<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.text.get_or_init(|| match self.escaped {
            Some(raw) => Cow::Owned(json::decode_raw(raw)),
            None => Cow::Borrowed(""),
        })
    }
}

impl AsRef<str> for SlotText<'_> {
    fn as_ref(&self) -> &str {
        self
    }
}

impl std::fmt::Debug for SlotText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for SlotText<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<str> for SlotText<'_> {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for SlotText<'_> {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
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
    /// A JSON body with more texts (strings, keys, long numbers) than this limit.
    TooManyTexts(usize),
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
        Self::parse_limited(bytes, json_typed, usize::MAX)
    }

    /// [`RequestBody::parse_as`], refusing a JSON body with more than `max_texts` texts
    /// (string values, object keys, numbers of [`NUMBER_MIN_DIGITS`] digits or more) before
    /// its texts are collected.
    pub fn parse_limited(
        bytes: &'a [u8],
        json_typed: bool,
        max_texts: usize,
    ) -> Result<RequestBody<'a>, BodyError> {
        Self::parse_from(bytes, json_typed, max_texts, None)
    }

    /// [`RequestBody::parse_limited`] of a body that starts with the bytes `from` was taken
    /// from (the caller checked them, see `crate::memo`): the scan and the texts before the
    /// checkpoint are taken from it, the rest is parsed. The same body, or the same error, as
    /// [`RequestBody::parse_limited`].
    pub fn parse_from(
        bytes: &'a [u8],
        json_typed: bool,
        max_texts: usize,
        from: Option<(&BodyCheckpoint, usize)>,
    ) -> Result<RequestBody<'a>, BodyError> {
        let text = std::str::from_utf8(bytes).map_err(|_| BodyError::NotUtf8)?;
        // A point past the end of this body: a whole parse.
        let from = from.filter(|(cp, k)| cp.at(*k).is_some_and(|at| at <= bytes.len()));
        if json_typed && text.starts_with('\u{feff}') {
            return Err(BodyError::InvalidJson(JsonError {
                offset: 0,
                reason: BOM,
            }));
        }
        // `text` is `bytes`, checked as UTF-8 above: the scan does not check it again.
        let scanned = match from {
            Some((cp, k)) => json::resume_request_str(text, &cp.scan, k),
            None => json::scan_request_str(text),
        };
        match scanned {
            Ok(doc) => {
                let candidates = match from {
                    Some((cp, k)) => {
                        cp.candidates.get(k).copied().unwrap_or(0)
                            + doc
                                .leaves
                                .get(cp.scan.leaves_at(k)..)
                                .map_or(0, |l| l.iter().filter(|l| is_candidate(l)).count())
                    }
                    None => candidate_leaves(&doc),
                };
                if candidates > max_texts {
                    return Err(BodyError::TooManyTexts(max_texts));
                }
                let body = Self::from_doc(bytes, doc, max_texts, candidates, from);
                if body.slots.len() > max_texts {
                    return Err(BodyError::TooManyTexts(max_texts));
                }
                Ok(body)
            }
            Err(e) if e.is_duplicate_key() => Err(BodyError::DuplicateKey(e)),
            Err(e) if json_typed => Err(BodyError::InvalidJson(e)),
            Err(e) => Ok(RequestBody {
                bytes,
                format: Format::Raw,
                doc: None,
                raw: Some(text),
                slots: vec![TextSlot {
                    role: Role::User,
                    reads: true,
                    kind: SlotKind::Str,
                    leaf: None,
                    span: (0, bytes.len()),
                    turn: None,
                    text: Cow::Borrowed(text).into(),
                }],
                json_error: Some(e),
            }),
        }
    }

    /// `candidates`: [`candidate_leaves`] of `doc`, counted once by the caller.
    /// `from`: the checkpoint the document was resumed from (a known shape: its leaves hold a
    /// message), whose texts are the first slots; only the leaves and keys after it are read.
    fn from_doc(
        bytes: &'a [u8],
        doc: Document<'a>,
        max_texts: usize,
        candidates: usize,
        from: Option<(&BodyCheckpoint, usize)>,
    ) -> RequestBody<'a> {
        let known = from.is_some() || is_known_shape(&doc, doc.leaves.len());
        // The leaves after the checkpoint: messages before it have all their leaves before it.
        let first_leaf = from.map_or(0, |(cp, k)| cp.scan.leaves_at(k));
        let new_leaves = doc.leaves.get(first_leaf..).unwrap_or_default();
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
            for l in new_leaves.iter().filter(|l| l.depth() == 3) {
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
            for l in new_leaves {
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
            let class = |p: &[Seg<'_>]| classify(p, &role_of, &tool_result_blocks);
            let slots = collect_slots(bytes, &doc, class, max_texts, candidates, from);
            return RequestBody {
                bytes,
                format: Format::Chat,
                doc: Some(doc),
                raw: None,
                slots,
                json_error: None,
            };
        }
        // Another shape: every string, key and long number is user text.
        let slots = collect_slots(
            bytes,
            &doc,
            |_| Some(Role::User),
            max_texts,
            candidates,
            None,
        );
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
    /// that is not one of the API's field names shows as `<key>`, and so does a slot that is
    /// itself an object key: keys are client text).
    pub fn location(&self, slot: &TextSlot<'_>) -> String {
        if slot.kind == SlotKind::Key {
            return "<key>".to_string();
        }
        match (slot.leaf, &self.doc) {
            (Some(n), Some(doc)) => doc
                .leaves
                .get(n)
                .map(|l| json::render_path(doc.path(l), |k| SCHEMA_KEYS.contains(&k)))
                .unwrap_or_default(),
            _ => "body".to_string(),
        }
    }

    /// `self.location(slot).starts_with(p)` for some `p` of `prefixes`, without rendering the
    /// location. Each prefix must be non-empty and hold no `.`, `[` or `<` (then only the
    /// location's first step can hold it: a key the log shows by name).
    pub fn location_starts_with(&self, slot: &TextSlot<'_>, prefixes: &[&str]) -> bool {
        let first: Option<Cow<'_, str>> = if slot.kind == SlotKind::Key {
            None // "<key>"
        } else {
            match (slot.leaf, &self.doc) {
                (Some(n), Some(doc)) => match doc.leaves.get(n).and_then(|l| doc.path(l).first()) {
                    Some(Seg::Key(k)) if SCHEMA_KEYS.contains(&k.as_ref()) => Some(k),
                    // "<key>", "[i]...", or "" (a root scalar)
                    _ => None,
                },
                _ => Some(Cow::Borrowed("body")),
            }
        };
        first.is_some_and(|f| prefixes.iter().any(|p| f.starts_with(p)))
    }

    /// The key a data value or number stands under (`ssn` for `{"ssn": 123456789}`), read
    /// as context by PII detection; None for text the model reads, keys and raw bodies.
    pub fn label(&self, slot: &TextSlot<'_>) -> Option<Cow<'a, str>> {
        if slot.reads && slot.kind != SlotKind::Number {
            return None;
        }
        let doc = self.doc.as_ref()?;
        let leaf = doc.leaves.get(slot.leaf?)?;
        doc.path(leaf).iter().rev().find_map(|s| match s {
            Seg::Key(k) => Some(k),
            Seg::Index(_) => None,
        })
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

    /// Total bytes of the text the model reads (for token estimates).
    pub fn text_bytes(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.reads && s.kind == SlotKind::Str)
            .map(|s| s.text.len())
            .sum()
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
        // Quota's model rewrite wins over a text edit of the same leaf.
        let model_leaf = self.leaf_at(&[P::K("model")]);
        let routed = model.and(model_leaf).map(|l| (l.start, l.end));
        for (slot_idx, new) in texts {
            if let Some(slot) = self.slots.get(*slot_idx) {
                if Some(slot.span) == routed {
                    continue;
                }
                splices.push(Splice {
                    start: slot.span.0,
                    end: slot.span.1,
                    text: json::encode_str(new),
                });
            }
        }
        let mut inserts = String::new();
        if let Some(m) = model {
            match model_leaf {
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

/// Keys whose string values are structure, not text, under the known top-level fields
/// (`messages[2].tool_call_id`, `content[0].image_url.url`, `source.data`...): PII runs on
/// them, prompt injection does not.
const STRUCTURAL_KEYS: &[&str] = &[
    "role",
    "type",
    "id",
    "tool_call_id",
    "call_id",
    "tool_use_id",
    "status",
    "url",
    "image_url",
    "detail",
    "data",
    "media_type",
    "mime_type",
    "format",
    "file_id",
    "signature",
];

/// Top-level fields the model does not read: PII runs on their strings, prompt injection
/// does not. Any other unknown top-level field counts as user text.
const DATA_FIELDS: &[&str] = &[
    "model",
    "user",
    "metadata",
    "service_tier",
    "stream_options",
    "reasoning",
    "reasoning_effort",
    "store",
    "prompt_cache_key",
    "safety_identifier",
    "previous_response_id",
    "conversation",
    "include",
    "truncation",
    "modalities",
    "audio",
    "stop",
    "stop_sequences",
    "thinking",
    "container",
    "mcp_servers",
];

/// Who speaks in the text at path `p` (a string value or an object key) when the model reads
/// it; None when it is data (PII only).
fn classify(
    p: &[Seg<'_>],
    role_of: &dyn Fn(&str, usize) -> Role,
    tool_results: &[(usize, usize)],
) -> Option<Role> {
    if let Some(role) = slot_role(p, role_of, tool_results) {
        return Some(role);
    }
    let Some(Seg::Key(top)) = p.first() else {
        return Some(Role::User);
    };
    let top = top.as_ref();
    if DATA_FIELDS.contains(&top) {
        return None;
    }
    let known = [
        "messages",
        "input",
        "system",
        "instructions",
        "prompt",
        "tools",
        "functions",
        "tool_choice",
        "response_format",
        "text",
    ];
    if !known.contains(&top) {
        // An unknown top-level field: user text, whatever its shape.
        return Some(Role::User);
    }
    if p.len() > 1 && matches!(p.last(), Some(Seg::Key(k)) if STRUCTURAL_KEYS.contains(&k.as_ref()))
    {
        return None;
    }
    Some(match top {
        "messages" | "input" => match seg_index(p, 1) {
            Some(i) => {
                let in_tool_result =
                    seg_index(p, 3).is_some_and(|j| tool_results.binary_search(&(i, j)).is_ok());
                if in_tool_result {
                    Role::Tool
                } else {
                    role_of(top, i)
                }
            }
            None => Role::User,
        },
        "system" | "instructions" | "response_format" | "text" => Role::System,
        // Tool definitions may come from third parties (MCP servers): like tool results.
        "tools" | "functions" | "tool_choice" => Role::Tool,
        _ => Role::User,
    })
}

/// The message a path belongs to: `messages[i]` or `input[i]`.
fn turn_of(p: &[Seg<'_>]) -> Option<(u8, usize)> {
    let t = match p.first() {
        Some(Seg::Key(k)) if k == "messages" => 0,
        Some(Seg::Key(k)) if k == "input" => 1,
        _ => return None,
    };
    seg_index(p, 1).map(|i| (t, i))
}

/// Every string value, object key and long number of a document, in document order (keys
/// before their values), with what the model makes of it (`class`).
/// `from`: the checkpoint the document was resumed from; its texts are the first slots and
/// only the leaves and keys after it are read.
fn collect_slots<'a>(
    bytes: &'a [u8],
    doc: &Document<'a>,
    class: impl Fn(&[Seg<'_>]) -> Option<Role>,
    max_texts: usize,
    candidates: usize,
    from: Option<(&BodyCheckpoint, usize)>,
) -> Vec<TextSlot<'a>> {
    // The document's own text: `bytes` as UTF-8 (a document is only built from text that
    // `from_utf8` accepted), not checked a third time.
    let text = doc.source();
    let resumed = from.filter(|_| text.len() == bytes.len());
    // Where the leaves and keys after the checkpoint start (0 for a whole parse).
    let (first_leaf, first_key) =
        resumed.map_or((0, 0), |(cp, k)| (cp.scan.leaves_at(k), cp.scan.keys_at(k)));
    // Sized for the leaves that can become slots (keys are added as they come): a body of
    // many short numbers or empty strings would otherwise hold a slot's room for each leaf.
    // Resumed: the checkpoint's texts, then at most a slot per leaf and key after it, room
    // for all at once, not grown by doubling a copy of the history (and never for more slots
    // than the limit lets a body hold). One allocation: reserving after a first one would
    // reallocate it, copying its whole capacity.
    let capacity = match resumed {
        Some((cp, k)) => {
            let after = doc.leaves.len().saturating_sub(first_leaf)
                + doc.key_count().saturating_sub(first_key);
            candidates.max((cp.texts_at(k) + after).min(max_texts.saturating_add(1)))
        }
        None => candidates,
    };
    let mut slots = Vec::with_capacity(capacity);
    // One buffer for the leaves' paths (a path per leaf, not an allocation per leaf).
    let mut steps: Vec<Seg<'a>> = Vec::new();
    let mut push_leaf = |slots: &mut Vec<TextSlot<'a>>, n: usize, l: &Leaf<'a>| {
        if slots.len() > max_texts {
            return; // refused by the caller: stop growing
        }
        // The value first: the path (a walk up the document) only for a leaf that is a slot.
        let (kind, text) = match doc.value(l) {
            // An empty string has nothing to inspect or rewrite: no slot.
            LeafValue::Str(s) if s.is_empty() => return,
            // Decoded when first read (see `SlotText`).
            LeafValue::Str(s) if s.has_escapes() => (SlotKind::Str, SlotText::escaped(s.raw())),
            LeafValue::Str(s) => (SlotKind::Str, SlotText::from(Cow::Borrowed(s.raw()))),
            LeafValue::Num => {
                let Some(raw) = bytes
                    .get(l.start..l.end)
                    .and_then(|b| std::str::from_utf8(b).ok())
                else {
                    return;
                };
                if raw.bytes().filter(u8::is_ascii_digit).count() < NUMBER_MIN_DIGITS {
                    return;
                }
                (SlotKind::Number, SlotText::from(Cow::Borrowed(raw)))
            }
            _ => return,
        };
        doc.path(l).collect_into(&mut steps);
        let p = steps.as_slice();
        if kind == SlotKind::Number
            && matches!(p, [Seg::Key(k)] if NUMERIC_PARAMS.contains(&k.as_ref()))
        {
            return;
        }
        let role = class(p);
        slots.push(TextSlot {
            role: role.unwrap_or(Role::User),
            reads: role.is_some() && kind == SlotKind::Str,
            kind,
            leaf: Some(n),
            span: (l.start, l.end),
            turn: turn_of(p),
            text,
        });
    };
    if let Some((cp, k)) = resumed {
        // The checkpoint's texts (keys among them) first.
        cp.push_slots(text, k, &mut slots);
    }
    if text.len() != bytes.len() {
        // Another buffer than the document's: cannot happen, but values are still listed.
        for (n, l) in doc.leaves.iter().enumerate() {
            push_leaf(&mut slots, n, l);
        }
        return slots;
    }
    // Keys and leaves merged in document order.
    let mut leaves = doc.leaves.iter().enumerate().skip(first_leaf).peekable();
    doc.for_each_key_from(first_key, |p, span, key| {
        while let Some((n, l)) = leaves.next_if(|(_, l)| l.start < span.0) {
            push_leaf(&mut slots, n, l);
        }
        if slots.len() > max_texts {
            return; // refused by the caller: stop growing
        }
        let role = class(p);
        slots.push(TextSlot {
            role: role.unwrap_or(Role::User),
            reads: role.is_some(),
            kind: SlotKind::Key,
            leaf: None,
            span,
            turn: None,
            text: key.into(),
        });
    });
    for (n, l) in leaves {
        push_leaf(&mut slots, n, l);
    }
    slots
}

/// Leaves that can become text slots: non-empty strings and numbers of at least
/// [`NUMBER_MIN_DIGITS`] characters (an upper bound of the value slots; keys come on top).
fn candidate_leaves(doc: &Document<'_>) -> usize {
    doc.leaves.iter().filter(|l| is_candidate(l)).count()
}

fn is_candidate(l: &Leaf<'_>) -> bool {
    (l.is_str() && l.end - l.start > 2) || (l.is_num() && l.end - l.start >= NUMBER_MIN_DIGITS)
}

/// Whether a document is one of the known LLM API shapes: an object with a leaf under
/// `messages`, `input` or `prompt` among its first `leaves` leaves.
fn is_known_shape(doc: &Document<'_>, leaves: usize) -> bool {
    doc.root == RootKind::Object
        && doc.leaves.get(..leaves).unwrap_or_default().iter().any(|l| {
            matches!(doc.path(l).first(), Some(Seg::Key(k)) if k == "messages" || k == "input" || k == "prompt")
        })
}

/// What a slot is, without its text: kept in a [`BodyCheckpoint`], whose slots are rebuilt
/// over the bytes of a later request that starts with the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlotRecord {
    role: Role,
    reads: bool,
    kind: SlotKind,
    leaf: Option<usize>,
    span: (usize, usize),
    turn: Option<(u8, usize)>,
    /// The JSON string or key has escapes.
    escaped: bool,
}

/// A chat request body parsed up to the ends of its last messages, owned: the scan's
/// [`json::Checkpoint`], the texts before its last point and what the pipeline found for each
/// ([`crate::cache::SlotMemo`]). A
/// later request of the same conversation resends the bytes before one of the points first,
/// and is parsed from there ([`RequestBody::parse_from`]); `crate::memo` keeps them and
/// checks the bytes.
#[derive(Debug, Clone)]
pub struct BodyCheckpoint {
    scan: json::Checkpoint,
    slots: Vec<SlotRecord>,
    /// What the pipeline found for each slot's text (its results, or its digest).
    memos: Vec<crate::cache::SlotMemo>,
    /// Per point, [`candidate_leaves`] of the leaves before it.
    candidates: Vec<usize>,
}

impl BodyCheckpoint {
    /// The checkpoint of a parsed chat body (None for another shape, a body without a message
    /// array, or a checkpoint that would hold more than `max_bytes`: checked before anything is
    /// copied), with what the pipeline found per slot.
    pub fn of(
        body: &RequestBody<'_>,
        memos: &[crate::cache::SlotMemo],
        max_bytes: usize,
    ) -> Option<Self> {
        if body.format != Format::Chat {
            return None;
        }
        let doc = body.doc.as_ref()?;
        let per_slot =
            std::mem::size_of::<SlotRecord>() + std::mem::size_of::<crate::cache::SlotMemo>();
        // Every slot at most (those before the last point are kept).
        if doc.checkpoint_bytes() + body.slots.len() * per_slot > max_bytes {
            return None;
        }
        let scan = doc.checkpoint()?;
        // A resumed body is taken to be a known shape: so must the leaves before its first
        // point say.
        if !is_known_shape(doc, scan.leaves_at(0)) {
            return None;
        }
        let n = body.slots.partition_point(|s| s.span.1 <= scan.len());
        let slots = body.slots.get(..n)?;
        let mut candidates = Vec::new();
        let (mut count, mut from) = (0, 0);
        for k in 0..scan.points().count() {
            let upto = scan.leaves_at(k);
            count += scan
                .leaves()
                .get(from..upto)
                .map_or(0, |l| l.iter().filter(|l| is_candidate(l)).count());
            from = upto;
            candidates.push(count);
        }
        Some(BodyCheckpoint {
            slots: slots
                .iter()
                .map(|s| SlotRecord {
                    role: s.role,
                    reads: s.reads,
                    kind: s.kind,
                    leaf: s.leaf,
                    span: s.span,
                    turn: s.turn,
                    escaped: match s.kind {
                        SlotKind::Str => s.text.escaped_raw().is_some(),
                        // Every JSON escape is longer than what it decodes to, so a key
                        // has escapes exactly when its text is shorter than its span
                        // without the quotes (no search of the key's bytes).
                        SlotKind::Key => {
                            s.text.len() != s.span.1.saturating_sub(s.span.0).saturating_sub(2)
                        }
                        SlotKind::Number => false,
                    },
                })
                .collect(),
            memos: (0..n)
                .map(|i| memos.get(i).cloned().unwrap_or_default())
                .collect(),
            candidates,
            scan,
        })
    }

    /// The resume points: bytes of the body before each, in increasing order.
    pub fn points(&self) -> impl Iterator<Item = usize> + '_ {
        self.scan.points()
    }

    /// Bytes before point `k`.
    pub fn at(&self, k: usize) -> Option<usize> {
        self.scan.points().nth(k)
    }

    /// Bytes of the body before the last point.
    pub fn len(&self) -> usize {
        self.scan.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scan.is_empty()
    }

    /// What the pipeline found for slot `i` (the slots before a point are the first slots of
    /// a body parsed from it).
    pub fn memo(&self, i: usize) -> Option<&crate::cache::SlotMemo> {
        self.memos.get(i)
    }

    /// The texts before point `k` (the first slots of a body parsed from it).
    pub fn texts_at(&self, k: usize) -> usize {
        match self.at(k) {
            Some(at) => self.slots.partition_point(|r| r.span.1 <= at),
            None => 0,
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.scan.heap_bytes()
            + self.slots.capacity() * std::mem::size_of::<SlotRecord>()
            + self.memos.capacity() * std::mem::size_of::<crate::cache::SlotMemo>()
            + self
                .memos
                .iter()
                .map(crate::cache::SlotMemo::heap_bytes)
                .sum::<usize>()
            + self.candidates.capacity() * std::mem::size_of::<usize>()
    }

    /// The slots before point `k`, over `text` (which starts with the bytes before it): what
    /// [`collect_slots`] makes of those bytes.
    fn push_slots<'a>(&self, text: &'a str, k: usize, slots: &mut Vec<TextSlot<'a>>) {
        let n = self.texts_at(k);
        for r in self.slots.get(..n).unwrap_or_default() {
            let (s, e) = r.span;
            let t = match r.kind {
                SlotKind::Number => match text.get(s..e) {
                    Some(raw) => SlotText::from(Cow::Borrowed(raw)),
                    None => continue,
                },
                SlotKind::Str | SlotKind::Key => {
                    let Some(raw) = text.get(s + 1..e.saturating_sub(1)) else {
                        continue;
                    };
                    match (r.kind, r.escaped) {
                        (SlotKind::Str, true) => SlotText::escaped(raw),
                        (_, true) => SlotText::from(Cow::Owned(json::decode_raw(raw))),
                        (_, false) => SlotText::from(Cow::Borrowed(raw)),
                    }
                }
            };
            slots.push(TextSlot {
                role: r.role,
                reads: r.reads,
                kind: r.kind,
                leaf: r.leaf,
                span: r.span,
                turn: r.turn,
                text: t,
            });
        }
    }
}

/// The index after the closing quote of the JSON string that opens at `i`.
#[cfg(test)]
fn string_end(b: &[u8], mut i: usize) -> usize {
    use crate::swar;
    i += 1;
    loop {
        while let Some(w) = swar::word(b, i) {
            let hit = swar::eq(w, b'"') | swar::eq(w, b'\\');
            if hit != 0 {
                i += swar::first(hit);
                break;
            }
            i += 8;
        }
        match b.get(i) {
            None => return b.len(),
            Some(b'"') => return i + 1,
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
        }
    }
}

#[cfg(test)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// Calls `f(path, span, key)` for every object key of a document that `json::scan` accepted,
/// in document order: the key's path (its object's path and the key), its span with the
/// quotes, and the decoded key. One pass; the path is a stack, never copied. The filter reads
/// the keys the scan recorded (`Document::for_each_key`); this walk over the bytes is the
/// tests' oracle for it.
#[cfg(test)]
fn for_each_key<'a>(text: &'a str, mut f: impl FnMut(&[Seg<'a>], (usize, usize), Cow<'a, str>)) {
    let b = text.as_bytes();
    let mut path: Vec<Seg<'a>> = Vec::new();
    let mut i = 0;
    // The key at `i` (on its quote): decoded, reported; the cursor moves past its `:`.
    let mut key = |i: &mut usize, path: &mut Vec<Seg<'a>>, replace: bool| {
        let start = *i;
        let end = string_end(b, start);
        let raw = text
            .get(start + 1..end.saturating_sub(1))
            .unwrap_or_default();
        let k: Cow<'a, str> = if raw.contains('\\') {
            json::scan_str(text.get(start..end).unwrap_or_default())
                .ok()
                .and_then(|d| d.leaves.first().and_then(|l| d.text(l)))
                .map(|c| Cow::Owned(c.into_owned()))
                .unwrap_or_default()
        } else {
            Cow::Borrowed(raw)
        };
        if replace {
            path.pop();
        }
        path.push(Seg::Key(k.clone()));
        f(path, (start, end), k);
        // Past the `:`.
        *i = skip_ws(b, end) + 1;
    };
    loop {
        // A value at `i`.
        i = skip_ws(b, i);
        match b.get(i) {
            None => return,
            Some(b'{') => {
                i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                } else {
                    key(&mut i, &mut path, false);
                    continue;
                }
            }
            Some(b'[') => {
                i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    path.push(Seg::Index(0));
                    continue;
                }
            }
            Some(b'"') => i = string_end(b, i),
            Some(_) => {
                while matches!(b.get(i), Some(c) if !matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                {
                    i += 1;
                }
            }
        }
        // After a value: the next member or element, or close containers.
        loop {
            i = skip_ws(b, i);
            let Some(&c) = b.get(i) else { return };
            match (c, path.last_mut()) {
                (b',', Some(Seg::Key(_))) => {
                    i = skip_ws(b, i + 1);
                    key(&mut i, &mut path, true);
                    break;
                }
                (b',', Some(Seg::Index(n))) => {
                    *n += 1;
                    i += 1;
                    break;
                }
                (b'}' | b']', Some(_)) => {
                    path.pop();
                    i += 1;
                }
                // Not a document `json::scan` accepted: stop.
                _ => return,
            }
        }
    }
}

/// Which role a string leaf speaks for, or None when it is not text a detector must see
/// (ids, roles, types, model names, URLs of images...).
fn slot_role(
    p: &[Seg<'_>],
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
            let i = seg_index(p, 1)?;
            let role = role_of(top, i);
            if segs_are(p, &[P::K(top), P::I]) {
                return Some(Role::User); // `input: ["text", ...]`
            }
            if segs_are(p, &[P::K(top), P::I, P::K("content")])
                || segs_are(p, &[P::K(top), P::I, P::K("name")])
            {
                return Some(role);
            }
            if segs_are(p, &[P::K(top), P::I, P::K("output")]) {
                return Some(Role::Tool); // Responses `function_call_output`
            }
            if segs_are(p, &[P::K(top), P::I, P::K("arguments")])
                || segs_are(
                    p,
                    &[P::K(top), P::I, P::K("function_call"), P::K("arguments")],
                )
                || segs_are(
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
            let j = seg_index(p, 3);
            let in_tool_result = j
                .map(|j| tool_results.binary_search(&(i, j)).is_ok())
                .unwrap_or(false);
            if segs_are(p, &[P::K(top), P::I, P::K("content"), P::I, P::K("text")]) {
                return Some(if in_tool_result { Role::Tool } else { role });
            }
            // Anthropic tool_result: `content` string or blocks with `text`.
            if in_tool_result
                && (segs_are(
                    p,
                    &[P::K(top), P::I, P::K("content"), P::I, P::K("content")],
                ) || segs_are(
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
            if segs_are(p, &[P::K(top), P::I, P::K("content"), P::I]) {
                return Some(role);
            }
            None
        }
        "system" => {
            if segs_are(p, &[P::K("system")]) || segs_are(p, &[P::K("system"), P::I, P::K("text")])
            {
                Some(Role::System)
            } else {
                None
            }
        }
        "instructions" if p.len() == 1 => Some(Role::System),
        "prompt" => {
            if p.len() == 1 || segs_are(p, &[P::K("prompt"), P::I]) {
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

    /// A random valid JSON value: objects (escaped, repeated-looking and empty keys), arrays,
    /// strings with escapes, numbers, literals; nested up to `depth`.
    fn random_json(r: &mut crate::testutil::XorShift, depth: usize, out: &mut String) {
        const KEYS: [&str; 8] = [
            "\"role\"",
            "\"content\"",
            "\"a\\u0062\"",
            "\"\\\"q\"",
            "\"\"",
            "\"k\\n\"",
            "\"\u{e4}x\"",
            "\"messages\"",
        ];
        let pick = if depth == 0 {
            2 + r.below(3)
        } else {
            r.below(5)
        };
        match pick {
            0 => {
                out.push('{');
                for i in 0..r.below(4) {
                    if i > 0 {
                        out.push_str(if r.below(2) == 0 { "," } else { " ,\n " });
                    }
                    out.push_str(KEYS[r.below(KEYS.len())]);
                    out.push_str(if r.below(2) == 0 { ":" } else { " : " });
                    random_json(r, depth - 1, out);
                }
                out.push('}');
            }
            1 => {
                out.push('[');
                for i in 0..r.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    random_json(r, depth - 1, out);
                }
                out.push(']');
            }
            2 => out.push_str(["\"text\"", "\"a\\\"b\"", "\"\"", "\"x\\u00e9\""][r.below(4)]),
            3 => out.push_str(["12345678", "-0.5e3", "7"][r.below(3)]),
            _ => out.push_str(["true", "null", "false"][r.below(3)]),
        }
    }

    /// The keys the scan recorded, walked from the document, are the keys a walk over the
    /// bytes finds: same order, paths, spans and decoded texts (random documents and chat
    /// bodies).
    #[test]
    fn document_keys_equal_a_walk_over_the_bytes() {
        let mut r = crate::testutil::XorShift(0x0DDB_A11C_0FFE_E123);
        let mut docs: Vec<String> = vec![
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"tool","tool_call_id":"c","content":"{\"a\":1}"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}]}"#.to_string(),
            "{}".to_string(),
            "[]".to_string(),
            // Deep objects, then many sibling objects under an array (the stack of the key
            // walk goes down, across and back up).
            "{\"a\":".repeat(100) + "[{\"k\":1},{\"k\":{\"j\":[{\"i\":2}]}},{\"k\":3}]" + &"}".repeat(100),
        ];
        for _ in 0..3000 {
            let mut d = String::new();
            let depth = 3 + r.below(4);
            random_json(&mut r, depth, &mut d);
            docs.push(d);
        }
        let mut compared = 0;
        for d in &docs {
            let Ok(doc) = json::scan_str(d) else { continue };
            let mut want = Vec::new();
            for_each_key(d, |p, span, k| {
                want.push((format!("{p:?}"), span, k.into_owned()))
            });
            let mut got = Vec::new();
            doc.for_each_key(|p, span, k| got.push((format!("{p:?}"), span, k.into_owned())));
            assert_eq!(got, want, "{d}");
            compared += want.len();
        }
        assert!(compared > 1000, "{compared} keys compared");
    }

    /// Everything a slot says, its text's raw form included.
    fn slot_view(s: &TextSlot<'_>) -> String {
        format!(
            "{:?} {} {:?} {:?} {:?} {:?} {:?} {:?}",
            s.role,
            s.reads,
            s.kind,
            s.leaf,
            s.span,
            s.turn,
            &*s.text,
            s.text.escaped_raw()
        )
    }

    fn same_parse(
        a: &Result<RequestBody<'_>, BodyError>,
        b: &Result<RequestBody<'_>, BodyError>,
    ) -> bool {
        match (a, b) {
            (Ok(a), Ok(b)) => {
                a.format == b.format
                    && a.doc.clone().map(|d| d.without_points())
                        == b.doc.clone().map(|d| d.without_points())
                    && a.slots
                        .iter()
                        .map(slot_view)
                        .eq(b.slots.iter().map(slot_view))
            }
            (Err(a), Err(b)) => a == b,
            _ => false,
        }
    }

    /// A body parsed from a checkpoint of an earlier body that starts with the same bytes is
    /// the body a whole parse gives (document, every slot with its role, location and text)
    /// or the same error: random messages (nested, escaped and repeated keys, the roles'
    /// shapes of the three APIs), continued from every point with random messages and a
    /// random end (other root keys, a repeated root key, a bad end).
    #[test]
    fn a_body_parsed_from_a_checkpoint_is_the_whole_parse() {
        let mut r = crate::testutil::XorShift(0x5E5E_C0DE_0000_1717);
        const ROLES: [&str; 5] = ["user", "assistant", "tool", "system", "function"];
        fn message(r: &mut crate::testutil::XorShift, out: &mut String) {
            let role = ROLES[r.below(ROLES.len())];
            match r.below(5) {
                0 => out.push_str(&format!(r#"{{"role":"{role}","content":"m{} \u0040x"}}"#, r.below(99))),
                1 => out.push_str(&format!(
                    r#"{{"content":[{{"type":"text","text":"t{}"}},{{"type":"tool_result","content":"r\n"}}],"role":"{role}"}}"#,
                    r.below(99)
                )),
                2 => out.push_str(&format!(
                    r#"{{"role":"assistant","tool_calls":[{{"id":"c","function":{{"name":"f","arguments":"{{\"q\":{}}}"}}}}]}}"#,
                    r.below(99)
                )),
                3 => {
                    out.push_str(&format!(r#"{{"role":"{role}","content":"#));
                    random_json(r, 3, out);
                    out.push('}');
                }
                _ => random_json(r, 4, out),
            }
        }
        const ENDS: [&str; 6] = [
            r#"]}"#,
            r#"],"tools":[{"type":"function","function":{"name":"f","description":"d"}}],"stream":true}"#,
            r#"],"metadata":{"k\u0065y":"v","phone":"4155550132"}}"#,
            r#"],"model":"again"}"#,
            r#"],}"#,
            r#"]"#,
        ];
        let (mut compared, mut resumed) = (0, 0);
        for _ in 0..1500 {
            let top = ["messages", "input"][r.below(2)];
            let mut head = format!(r#"{{"model":"m","system":"s","{top}":["#);
            let n = 1 + r.below(6);
            for i in 0..n {
                if i > 0 {
                    head.push(',');
                }
                message(&mut r, &mut head);
            }
            let first = format!("{head}{}", ENDS[r.below(3)]);
            let Ok(body) = RequestBody::parse(first.as_bytes()) else {
                continue;
            };
            let Some(cp) = BodyCheckpoint::of(&body, &[], usize::MAX) else {
                continue;
            };
            let points: Vec<usize> = cp.points().collect();
            assert!(!points.is_empty() && points.len() <= json::MAX_POINTS);
            for (k, &at) in points.iter().enumerate() {
                let mut next = first[..at].to_string();
                for _ in 0..r.below(3) {
                    next.push(',');
                    message(&mut r, &mut next);
                }
                next.push_str(ENDS[r.below(ENDS.len())]);
                for max in [usize::MAX, 3 + r.below(20)] {
                    let whole = RequestBody::parse_limited(next.as_bytes(), true, max);
                    let from = RequestBody::parse_from(next.as_bytes(), true, max, Some((&cp, k)));
                    assert!(
                        same_parse(&whole, &from),
                        "point {k} of {first}\nnext {next}\nmax {max}"
                    );
                    compared += 1;
                    resumed += whole.is_ok() as usize;
                }
            }
        }
        assert!(
            compared > 3000 && resumed > 1000,
            "{compared} compared, {resumed} parsed"
        );
    }

    /// The string values the model reads (what injection scores), in order.
    fn texts(body: &str) -> Vec<(Role, String, String)> {
        let b = RequestBody::parse(body.as_bytes()).unwrap();
        b.slots
            .iter()
            .filter(|s| s.reads && s.kind == SlotKind::Str)
            .map(|s| (s.role, b.location(s), b.text(s).to_string()))
            .collect()
    }

    /// Every slot: (kind, model reads it, role, text).
    fn all_slots(body: &str) -> Vec<(SlotKind, bool, Role, String)> {
        let b = RequestBody::parse(body.as_bytes()).unwrap();
        b.slots
            .iter()
            .map(|s| (s.kind, s.reads, s.role, b.text(s).to_string()))
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
                    "messages[3].tool_calls[0].function.name".into(),
                    "get".into()
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
                Err(BodyError::TooManyTexts(n)) => panic!("no limit was set, yet {n}"),
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
        let n = b
            .slots
            .iter()
            .position(|s| s.reads && s.kind == SlotKind::Str)
            .unwrap();
        assert_eq!(b.text(&b.slots[n]), "mail jane.doe@example.com \"now\"");
        let out = b.rewrite(&[(n, "mail [EMAIL_1] \"now\"\n\u{1}".into())], None, None);
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
            // Every slot's location (values, keys, numbers): the expected one is there, and no
            // client-chosen key ever is.
            let locs: Vec<String> = b.slots.iter().map(|s| b.location(s)).collect();
            assert!(locs.contains(&want.to_string()), "{body}: {locs:?}");
            assert!(
                locs.iter()
                    .all(|l| !l.contains("jane") && !l.contains("a b")),
                "{body}: {locs:?}"
            );
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
        let n = b
            .slots
            .iter()
            .position(|s| s.text == "my mail is a@b.c")
            .unwrap();
        let out = b.rewrite(&[(n, "my mail is [EMAIL_1]\n\"q\"".into())], None, None);
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
    fn every_string_key_and_long_number_is_a_slot() {
        use SlotKind::{Key, Number, Str};
        // (body, text, kind, whether the model reads it, role)
        let msg = r#""messages":[{"role":"user","content":"hi"}]"#;
        let cases: Vec<(String, &str, SlotKind, bool, Role)> = vec![
            // One null under `prompt` no longer hides the other fields.
            (r#"{"query":"ATTACK","prompt":null}"#.into(), "ATTACK", Str, true, Role::User),
            (format!(r#"{{{msg},"query":"ATTACK"}}"#), "ATTACK", Str, true, Role::User),
            (format!(r#"{{{msg},"extra":{{"notes":["deep"]}}}}"#), "deep", Str, true, Role::User),
            (format!(r#"{{{msg},"user":"jane@x.com"}}"#), "jane@x.com", Str, false, Role::User),
            (format!(r#"{{{msg},"metadata":{{"m":"a@b.de"}}}}"#), "a@b.de", Str, false, Role::User),
            (format!(r#"{{{msg},"metadata":{{"jane@x.com":1}}}}"#), "jane@x.com", Key, false, Role::User),
            (format!(r#"{{{msg},"q":{{"jane@x.com":{{}}}}}}"#), "jane@x.com", Key, true, Role::User),
            (r#"{"a@b.de":[]}"#.into(), "a@b.de", Key, true, Role::User),
            (format!(r#"{{{msg},"metadata":{{"card":4111111111111111}}}}"#), "4111111111111111", Number, false, Role::User),
            (format!(r#"{{{msg},"n":-123456789.5e3}}"#), "-123456789.5e3", Number, false, Role::User),
            (
                r#"{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{"to":"a@b.de","deep":{"k":"v"}}}]}]}"#.into(),
                "a@b.de", Str, true, Role::Assistant,
            ),
            (
                r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://x/a@b.de"}}]}]}"#.into(),
                "http://x/a@b.de", Str, false, Role::User,
            ),
            (
                format!(r#"{{{msg},"tools":[{{"type":"function","function":{{"name":"f","description":"DESC"}}}}]}}"#),
                "DESC", Str, true, Role::Tool,
            ),
            (format!(r#"{{{msg},"tools":[{{"type":"function"}}]}}"#), "function", Str, false, Role::User),
            (format!(r#"{{"model":"m",{msg}}}"#), "m", Str, false, Role::User),
            (format!(r#"{{{msg}}}"#), "user", Str, false, Role::User),
            (r#"["a",{"b":"c"}]"#.into(), "b", Key, true, Role::User),
        ];
        for (body, text, kind, reads, role) in &cases {
            let slots = all_slots(body);
            assert!(
                slots
                    .iter()
                    .any(|s| (&s.0, &s.1, &s.2, s.3.as_str()) == (kind, reads, role, *text)),
                "{body}: no slot {text:?} {kind:?} reads={reads} {role:?} in {slots:?}"
            );
        }
        // Short numbers and the top-level numeric parameters are not slots.
        for body in [
            r#"{"n":12345678,"x":1.5}"#,
            r#"{"seed":1234567890123,"max_tokens":100000000000,"messages":[]}"#,
        ] {
            assert!(all_slots(body).iter().all(|s| s.0 != Number), "{body}");
        }
    }

    #[test]
    fn location_prefix_test_is_the_rendered_location_s() {
        let bodies: [&[u8]; 6] = [
            br#"{"model":"m","messages":[{"role":"system","content":"be nice"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"type":"function","function":{"name":"f","description":"does f","parameters":{"type":"object","properties":{"q":{"type":"string","description":"query"}}}}}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"description":"y"}}},"text":{"format":"z"},"functions":[{"name":"g","description":"g"}],"texts":"t","tool":"u","toolsx":"v"}"#,
            br#"{"instructions":"sys","input":[{"role":"developer","content":"dev"}],"text":{"format":{"type":"json_schema","name":"n"}}}"#,
            br#"{"system":"s","messages":[{"role":"user","content":"u"}],"metadata":{"user_id":"123456789"}}"#,
            br#"["a",{"b":"c"}]"#,
            br#""root""#,
            b"plain words",
        ];
        let prefixes = [
            "response_format",
            "text",
            "tools",
            "functions",
            "body",
            "model",
        ];
        for body in bodies {
            let b = RequestBody::parse(body).unwrap();
            for s in &b.slots {
                let loc = b.location(s);
                for p in prefixes {
                    assert_eq!(
                        b.location_starts_with(s, &[p]),
                        loc.starts_with(p),
                        "{loc:?} {p:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn keys_are_found_with_their_spans_in_any_document() {
        let docs = [
            r#"{}"#,
            r#"[]"#,
            r#""str""#,
            r#"{"a":{"b":[{},[],{"c\"d":"x\"}","e":[1,-2.5e+3,true,false,null]}]},"f":{"":""}}"#,
            " { \"sp ace\" : [ { \"k\" : { } } , \"v\" ] , \"z\":\"\\\\\"} ",
            r#"{"\u00e9t\u00e9":1,"\ud83d\ude00":{"x":[[[{"y":2}]]]}}"#,
            r#"[{"a":"}"},{"b":"]"},{"c":",\":"}]"#,
        ];
        for d in docs {
            let b = RequestBody::parse(d.as_bytes()).unwrap();
            let got: Vec<String> = b
                .slots
                .iter()
                .filter(|s| s.kind == SlotKind::Key)
                .map(|s| {
                    // The span is the key with its quotes.
                    let raw = &d[s.span.0..s.span.1];
                    assert_eq!(
                        serde_json::from_str::<String>(raw).unwrap(),
                        b.text(s),
                        "{d}"
                    );
                    b.text(s).to_string()
                })
                .collect();
            fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
                match v {
                    serde_json::Value::Object(m) => {
                        for (k, v) in m {
                            out.push(k.clone());
                            keys(v, out);
                        }
                    }
                    serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
                    _ => {}
                }
            }
            let mut want = Vec::new();
            keys(&serde_json::from_str(d).unwrap(), &mut want);
            let mut got_sorted = got.clone();
            got_sorted.sort();
            want.sort();
            assert_eq!(got_sorted, want, "{d}");
            // Slots are in document order.
            let starts: Vec<usize> = b.slots.iter().map(|s| s.span.0).collect();
            assert!(starts.windows(2).all(|w| w[0] < w[1]), "{d}");
        }
    }

    #[test]
    fn rewrite_of_keys_and_numbers_keeps_valid_json() {
        let body = r#"{"messages":[{"role":"user","content":"x"}],"metadata":{"a@b.de":{"card": 4111111111111111 }}}"#;
        let b = RequestBody::parse(body.as_bytes()).unwrap();
        let key = b.slots.iter().position(|s| s.text == "a@b.de").unwrap();
        let num = b
            .slots
            .iter()
            .position(|s| s.kind == SlotKind::Number)
            .unwrap();
        let out = b.rewrite(
            &[(key, "[EMAIL_1]".into()), (num, "[CREDIT_CARD_2]".into())],
            None,
            None,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["metadata"]["[EMAIL_1]"]["card"], "[CREDIT_CARD_2]");
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
