//! A strict, span-preserving JSON scanner that borrows from its input.
//!
//! It validates a JSON document in one pass and lists every scalar ("leaf") with its place in
//! the document and its byte span. Edits are spliced into the original bytes, so every byte the
//! filter did not mean to change (key order, whitespace, number formatting, unknown fields)
//! reaches the upstream exactly as the client sent it, and a body is never re-serialised whole.
//!
//! Memory is linear in the number of values, whatever their depth: a leaf stores its parent
//! container and its own step (an array index or a key), and a container stores the same
//! (parent links, never a copied path). A leaf is 20 bytes and a container 16 in Wasm, keys are
//! spans of the input (8 bytes each), and string values are spans decoded on demand
//! ([`Document::str`], [`JsonStr::text`]: borrowed when they have no escapes). Paths are
//! walked when asked for ([`Path`]); matching a pattern costs at most its length.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// One step of a path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg<'a> {
    /// A decoded key: borrowed from the input unless it contains escapes.
    Key(Cow<'a, str>),
    Index(usize),
}

/// A validated JSON string: its raw text between the quotes, decoded on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStr<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> JsonStr<'a> {
    /// The bytes between the quotes, escapes as written.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the raw text contains a backslash escape (if not, raw and decoded are equal).
    pub fn has_escapes(&self) -> bool {
        self.escaped
    }

    /// Length of the decoded text in bytes (counted without decoding).
    pub fn len(&self) -> usize {
        if !self.escaped {
            return self.raw.len();
        }
        let mut n = 0;
        unescape_with(self.raw, |p| {
            n += match p {
                Piece::Run(s) => s.len(),
                Piece::Char(c) => c.len_utf8(),
            }
        });
        n
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    #[cfg(test)]
    /// The decoded text without a copy, when the string has no escapes.
    pub fn as_plain(&self) -> Option<&'a str> {
        if self.escaped {
            None
        } else {
            Some(self.raw)
        }
    }

    /// The decoded text: borrowed when the string has no escapes, decoded otherwise.
    #[inline]
    pub fn text(&self) -> Cow<'a, str> {
        if !self.escaped {
            return Cow::Borrowed(self.raw);
        }
        Cow::Owned(self.decode())
    }

    #[inline(never)]
    fn decode(&self) -> String {
        decode_raw(self.raw)
    }

    /// Whether the decoded text equals `s` (without decoding when there are no escapes).
    pub fn eq_str(&self, s: &str) -> bool {
        if self.escaped {
            // Escapes only shrink: a raw text shorter than `s` cannot decode to it.
            self.raw.len() >= s.len() && self.text() == s
        } else {
            self.raw == s
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafValue<'a> {
    Str(JsonStr<'a>),
    /// Number as written (validated JSON number syntax).
    Num,
    Bool(bool),
    Null,
}

impl<'a> LeafValue<'a> {
    /// The decoded string, if this is one.
    pub fn text(&self) -> Option<Cow<'a, str>> {
        match self {
            LeafValue::Str(s) => Some(s.text()),
            _ => None,
        }
    }
}

/// No parent (a root scalar, or the root container).
const NONE: u32 = u32::MAX;
/// The flag on [`Key::len`] saying the key has escapes.
const ESCAPED: u32 = 1 << 31;
/// Documents this long or longer are refused (positions are stored in 31 bits).
const MAX_LEN: usize = 1 << 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Str,
    StrEscaped,
    Num,
    True,
    False,
    Null,
}

/// One scalar of a document: its span, and its place (parent container and step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf<'a> {
    /// Byte span of the value in the document (strings include their quotes).
    pub start: usize,
    pub end: usize,
    /// The container holding this leaf ([`NONE`] for a root scalar).
    parent: u32,
    /// Index in the parent array, or the parent object's key (index in the key table).
    seg: u32,
    depth: u16,
    kind: Kind,
    _doc: PhantomData<&'a str>,
}

impl Leaf<'_> {
    /// The same leaf, for a document of another lifetime.
    fn rebind<'b>(&self) -> Leaf<'b> {
        Leaf {
            start: self.start,
            end: self.end,
            parent: self.parent,
            seg: self.seg,
            depth: self.depth,
            kind: self.kind,
            _doc: PhantomData,
        }
    }

    pub fn is_str(&self) -> bool {
        matches!(self.kind, Kind::Str | Kind::StrEscaped)
    }

    pub fn is_num(&self) -> bool {
        self.kind == Kind::Num
    }

    /// The boolean, if this leaf is `true` or `false`.
    pub fn bool(&self) -> Option<bool> {
        match self.kind {
            Kind::True => Some(true),
            Kind::False => Some(false),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        self.kind == Kind::Null
    }

    /// Depth of the leaf (length of its path).
    pub fn depth(&self) -> usize {
        usize::from(self.depth)
    }
}

/// A container (object or array) that has members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    parent: u32,
    seg: u32,
    /// The step at depth 0 of this container's path (its own step when it is at depth 1).
    top: u32,
    depth: u16,
    object: bool,
}

/// An object key: a span of the input, between the quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    start: u32,
    /// Raw length, with [`ESCAPED`] set when the key has escapes.
    len: u32,
    /// The object (its index in `nodes`) the key is a member of.
    node: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    Object,
    Array,
    Scalar,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document<'a> {
    pub root: RootKind,
    /// Byte offset of the root's opening `{` or `[` (for inserting fields).
    pub root_start: usize,
    /// Every leaf, in document order.
    pub leaves: Vec<Leaf<'a>>,
    /// Containers with members; the root container (if any) is the first.
    nodes: Vec<Node>,
    keys: Vec<Key>,
    text: &'a str,
    /// Where the scan could be resumed for a longer document with the same start: just after
    /// each of the last [`MAX_POINTS`] elements of the root object's `messages` or `input`
    /// array, in document order.
    points: Vec<ResumePoint>,
}

/// Resume points a document keeps (the last elements of its message array): a later request
/// resumes after any of its last 32 messages (the conversation went on, or was resent from an
/// earlier turn: a retry, an edit, a branch).
pub const MAX_POINTS: usize = 32;

/// The scanner's state just after an element of an array that is a member of the root object
/// (the cursor, the tables' lengths, the member's key and the array's node): all a scan needs
/// to go on from there, given the tables up to those lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ResumePoint {
    at: usize,
    leaves: usize,
    nodes: usize,
    keys: usize,
    /// The root object's member holding the array (index in the key table).
    member: u32,
    array: u32,
    /// The element just scanned.
    index: u32,
}

/// A scan's state after each of the last elements of the root object's `messages` or `input`
/// array, owned (no borrow of the input): [`resume_request_str`] scans a document that starts
/// with the same bytes as one of these points from there, and builds the same [`Document`]
/// as a whole scan (but for the resume points it keeps from before that point). The caller
/// must make sure the document does start with those bytes; given other bytes the result is
/// a document of those bytes that a scan would not have built (spans out of place), never a
/// panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// In document order; the tables run to the last one.
    points: Vec<ResumePoint>,
    leaves: Vec<Leaf<'static>>,
    nodes: Vec<Node>,
    keys: Vec<Key>,
    root_start: usize,
}

impl Checkpoint {
    /// The resume points: the bytes of the document before each, in increasing order.
    pub fn points(&self) -> impl Iterator<Item = usize> + '_ {
        self.points.iter().map(|p| p.at)
    }

    /// Bytes of the document before the last resume point.
    pub fn len(&self) -> usize {
        self.points.last().map_or(0, |p| p.at)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Leaves before resume point `k` (the first leaves of a document resumed there).
    pub fn leaves_at(&self, k: usize) -> usize {
        self.points.get(k).map_or(0, |p| p.leaves)
    }

    /// Keys before resume point `k`.
    pub fn keys_at(&self, k: usize) -> usize {
        self.points.get(k).map_or(0, |p| p.keys)
    }

    /// The leaves before the last point.
    pub fn leaves(&self) -> &[Leaf<'static>] {
        &self.leaves
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.points.capacity() * std::mem::size_of::<ResumePoint>()
            + self.leaves.capacity() * std::mem::size_of::<Leaf<'static>>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.keys.capacity() * std::mem::size_of::<Key>()
    }
}

impl<'a> Document<'a> {
    /// Object keys in the document.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Heap bytes [`Document::checkpoint`] would hold (0 without a point), known before it is
    /// built.
    pub fn checkpoint_bytes(&self) -> usize {
        self.points.last().map_or(0, |p| {
            self.points.len() * std::mem::size_of::<ResumePoint>()
                + p.leaves * std::mem::size_of::<Leaf<'static>>()
                + p.nodes * std::mem::size_of::<Node>()
                + p.keys * std::mem::size_of::<Key>()
        })
    }

    /// The scan's state after each of the last elements of the root object's `messages` (or
    /// `input`) array, when there is one: a later request of the same conversation starts with
    /// the bytes before one of them and is scanned from there ([`resume_request_str`]).
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        let last = *self.points.last()?;
        Some(Checkpoint {
            points: self.points.clone(),
            leaves: self
                .leaves
                .get(..last.leaves)?
                .iter()
                .map(|l| l.rebind())
                .collect(),
            nodes: self.nodes.get(..last.nodes)?.to_vec(),
            keys: self.keys.get(..last.keys)?.to_vec(),
            root_start: self.root_start,
        })
    }

    /// The document without its resume points (tests: a resumed scan keeps fewer).
    #[cfg(test)]
    pub(crate) fn without_points(mut self) -> Self {
        self.points.clear();
        self
    }

    /// The path of a leaf of this document (for a leaf of another document: empty when its
    /// parent does not fit this one, else meaningless; never a panic).
    pub fn path(&self, l: &Leaf<'a>) -> Path<'_, 'a> {
        let valid = l.parent == NONE && l.depth == 0
            || self
                .nodes
                .get(l.parent as usize)
                .is_some_and(|n| n.depth.checked_add(1) == Some(l.depth));
        Path {
            doc: self,
            parent: l.parent,
            seg: l.seg,
            depth: if valid { l.depth } else { 0 },
        }
    }

    /// The leaf's value (a string as a span, decoded on demand).
    pub fn value(&self, l: &Leaf<'a>) -> LeafValue<'a> {
        match l.kind {
            Kind::Str | Kind::StrEscaped => match self.raw_str(l) {
                Some(s) => LeafValue::Str(s),
                None => LeafValue::Null,
            },
            Kind::Num => LeafValue::Num,
            Kind::True => LeafValue::Bool(true),
            Kind::False => LeafValue::Bool(false),
            Kind::Null => LeafValue::Null,
        }
    }

    /// The string value, if this leaf is a string.
    pub fn str(&self, l: &Leaf<'a>) -> Option<JsonStr<'a>> {
        if l.is_str() {
            self.raw_str(l)
        } else {
            None
        }
    }

    /// The decoded string value (borrowed when it has no escapes), if this leaf is a string.
    pub fn text(&self, l: &Leaf<'a>) -> Option<Cow<'a, str>> {
        self.str(l).map(|s| s.text())
    }

    fn raw_str(&self, l: &Leaf<'a>) -> Option<JsonStr<'a>> {
        let raw = self
            .text
            .get(l.start.checked_add(1)?..l.end.checked_sub(1)?)?;
        Some(JsonStr {
            raw,
            escaped: l.kind == Kind::StrEscaped,
        })
    }

    /// The first leaf whose path matches `pattern`.
    pub fn find(&self, pattern: &[P<'_>]) -> Option<&Leaf<'a>> {
        self.leaves
            .iter()
            .find(|l| l.depth() == pattern.len() && path_is(self.path(l), pattern))
    }

    /// The first number leaf at `pattern`, as an unsigned integer.
    pub fn u64_at(&self, bytes: &[u8], pattern: &[P<'_>]) -> Option<u64> {
        let l = self
            .leaves
            .iter()
            .find(|l| l.is_num() && l.depth() == pattern.len() && path_is(self.path(l), pattern))?;
        num_u64(bytes, l)
    }

    fn key(&self, k: u32) -> Option<JsonStr<'a>> {
        let k = self.keys.get(k as usize)?;
        let start = k.start as usize;
        let raw = self.text.get(start..start + (k.len & !ESCAPED) as usize)?;
        Some(JsonStr {
            raw,
            escaped: k.len & ESCAPED != 0,
        })
    }

    fn node(&self, n: u32) -> Option<&Node> {
        self.nodes.get(n as usize)
    }

    /// Calls `f(path, span, key)` for every object key, in document order: the key's path (its
    /// object's path, then the key), its span with the quotes, and the decoded key. The scan
    /// recorded the keys: no pass over the bytes. The path is kept as a stack of containers
    /// (document order is depth first), so a key costs the containers entered since the
    /// previous one, not its depth: 900 KB of objects 126 deep stays linear.
    pub fn for_each_key(&self, f: impl FnMut(&[Seg<'a>], (usize, usize), Cow<'a, str>)) {
        self.for_each_key_from(0, f)
    }

    /// [`Document::for_each_key`] from the key `first` on (in document order).
    pub fn for_each_key_from(
        &self,
        first: usize,
        mut f: impl FnMut(&[Seg<'a>], (usize, usize), Cow<'a, str>),
    ) {
        let bytes: &'a [u8] = self.text.as_bytes();
        // `chain[i]` is the container `steps[i]` is taken in; the last step is the key.
        let mut chain: Vec<u32> = Vec::new();
        let mut steps: Vec<Seg<'a>> = Vec::new();
        // Containers entered since the common ancestor with the previous key, innermost first.
        let mut entered: Vec<u32> = Vec::new();
        for key in self.keys.get(first..).unwrap_or_default() {
            let Some(node) = self.node(key.node) else {
                continue;
            };
            // Walk up from the key's object to the first container already on the stack.
            entered.clear();
            let mut at = key.node;
            let mut common: Option<usize> = None;
            while let Some(n) = self.node(at) {
                let d = usize::from(n.depth);
                if chain.get(d) == Some(&at) {
                    common = Some(d);
                    break;
                }
                entered.push(at);
                at = n.parent;
            }
            match common {
                Some(d) => {
                    chain.truncate(d + 1);
                    steps.truncate(d);
                }
                None => {
                    chain.clear();
                    steps.clear();
                }
            }
            for &c in entered.iter().rev() {
                let Some(cn) = self.node(c) else { break };
                // The step into `c` is taken in its parent (the root has none).
                if let Some(pn) = self.node(cn.parent) {
                    steps.push(self.seg(pn.object, cn.seg));
                }
                chain.push(c);
            }
            let text = key_text(bytes, key);
            if steps.len() != usize::from(node.depth) {
                // Not a document the scan built: no path is better than a wrong one.
                continue;
            }
            steps.push(Seg::Key(text.clone()));
            let start = key.start as usize;
            let end = start + (key.len & !ESCAPED) as usize;
            f(&steps, (start.saturating_sub(1), end + 1), text);
        }
    }

    /// A step as a [`Seg`]: `object` says whether `seg` is a key or an index.
    fn seg(&self, object: bool, seg: u32) -> Seg<'a> {
        if object {
            Seg::Key(self.key(seg).map(|k| k.text()).unwrap_or_default())
        } else {
            Seg::Index(seg as usize)
        }
    }

    fn step_is(&self, object: bool, seg: u32, p: &P<'_>) -> bool {
        match p {
            P::I => !object,
            P::K(want) => object && self.key(seg).is_some_and(|k| k.eq_str(want)),
        }
    }
}

/// The path of a leaf: walked up through parent links when asked, never stored.
#[derive(Debug, Clone, Copy)]
pub struct Path<'d, 'a> {
    doc: &'d Document<'a>,
    parent: u32,
    seg: u32,
    depth: u16,
}

impl<'a> Path<'_, 'a> {
    pub fn len(&self) -> usize {
        usize::from(self.depth)
    }

    pub fn is_empty(&self) -> bool {
        self.depth == 0
    }

    /// The `n`th step from the root as (whether it is a key, its key or index): the first and
    /// the last cost one look-up, any other a walk up from the leaf.
    fn step(&self, n: usize) -> Option<(bool, u32)> {
        let len = self.len();
        if n >= len {
            return None;
        }
        let doc = self.doc;
        let root_object = doc.nodes.first()?.object;
        if n == 0 {
            let top = if len == 1 {
                self.seg
            } else {
                doc.node(self.parent)?.top
            };
            return Some((root_object, top));
        }
        let (mut parent, mut seg) = (self.parent, self.seg);
        for _ in n + 1..len {
            let node = doc.node(parent)?;
            (parent, seg) = (node.parent, node.seg);
        }
        Some((doc.node(parent)?.object, seg))
    }

    /// The `n`th step from the root.
    pub fn get(&self, n: usize) -> Option<Seg<'a>> {
        self.step(n).map(|(o, s)| self.doc.seg(o, s))
    }

    pub fn first(&self) -> Option<Seg<'a>> {
        self.get(0)
    }

    pub fn last(&self) -> Option<Seg<'a>> {
        self.get(self.len().checked_sub(1)?)
    }

    /// Whether the `n`th step is the key `k` (no decoding unless the key has escapes).
    pub fn key_is(&self, n: usize, k: &str) -> bool {
        self.step(n)
            .is_some_and(|(o, s)| self.doc.step_is(o, s, &P::K(k)))
    }

    /// Every step, from the root (one walk up).
    pub fn to_vec(&self) -> Vec<Seg<'a>> {
        let mut steps = Vec::with_capacity(self.len());
        self.collect_into(&mut steps);
        steps
    }

    /// [`Path::to_vec`] into `steps` (cleared first), reusing its room.
    pub fn collect_into(&self, steps: &mut Vec<Seg<'a>>) {
        let doc = self.doc;
        steps.clear();
        let (mut parent, mut seg) = (self.parent, self.seg);
        for _ in 0..self.len() {
            let Some(node) = doc.node(parent) else { break };
            steps.push(doc.seg(node.object, seg));
            (parent, seg) = (node.parent, node.seg);
        }
        steps.reverse();
    }

    pub fn iter(&self) -> std::vec::IntoIter<Seg<'a>> {
        self.to_vec().into_iter()
    }
}

/// A number leaf's text parsed as an unsigned integer (`None` for fractions, negatives...).
pub fn num_u64(bytes: &[u8], l: &Leaf<'_>) -> Option<u64> {
    if !l.is_num() {
        return None;
    }
    std::str::from_utf8(bytes.get(l.start..l.end)?)
        .ok()?
        .parse()
        .ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub reason: &'static str,
}

impl JsonError {
    /// Whether the document is well-formed but repeats a key in one object.
    pub fn is_duplicate_key(&self) -> bool {
        self.reason == DUPLICATE_KEY
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

/// The reason of [`scan_request`]'s error for a key repeated in one object.
pub const DUPLICATE_KEY: &str = "duplicate key in an object";

/// Nesting deeper than this is refused. Memory no longer depends on depth (parent links), but
/// the depth bounds the scanner's stack of open containers and a path walk. 128 is
/// serde_json's default recursion limit (the parser of many Rust servers); LLM API bodies
/// nest far less (an Anthropic tool result's text sits at depth 6, a tool's JSON schema
/// rarely passes 30).
pub const MAX_DEPTH: usize = 128;

/// The first index at or after `i` whose byte ends the plain run of a string (a `"`, a `\\`
/// or a control character) when it lies in a whole 8-byte word from `i`; otherwise the start
/// of the last partial word (the caller goes on byte by byte). Word-at-a-time (SWAR): a
/// string's body costs about one comparison per eight bytes, natively and in Wasm (64-bit
/// integers are native there).
#[inline(never)]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    use crate::swar;
    while let Some(w) = swar::word(b, i) {
        let hit = swar::eq(w, b'"') | swar::eq(w, b'\\') | swar::below(w, 0x20);
        if hit != 0 {
            return i + swar::first(hit);
        }
        i += 8;
    }
    i
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

/// Four hex digits at `b[i..i + 4]`.
fn hex4_at(b: &[u8], i: usize) -> Option<u32> {
    let d = b.get(i..i + 4)?;
    d.iter()
        .try_fold(0u32, |v, &c| Some(v * 16 + hex_digit(c)?))
}

/// The decoded text of the raw body of a string the scanner validated
/// ([`JsonStr::raw`]; what [`JsonStr::text`] returns for a string with escapes).
pub fn decode_raw(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    unescape(raw, &mut out);
    out
}

/// Decodes the raw body of a string the scanner validated, appending to `out`. A lone
/// surrogate decodes to U+FFFD, as in the scan; anything malformed (impossible for a
/// validated body) also becomes U+FFFD rather than a panic.
fn unescape(raw: &str, out: &mut String) {
    unescape_with(raw, |p| match p {
        Piece::Run(s) => out.push_str(s),
        Piece::Char(c) => out.push(c),
    });
}

/// A piece of decoded text: a run of plain text, or the character of an escape.
enum Piece<'s> {
    Run(&'s str),
    Char(char),
}

/// [`unescape`] into a sink of pieces.
fn unescape_with<'s>(raw: &'s str, mut sink: impl FnMut(Piece<'s>)) {
    let b = raw.as_bytes();
    let mut run = 0;
    let mut i = 0;
    loop {
        // A validated body has no quote or control byte: the skip stops only at escapes.
        i = skip_plain(b, i);
        match b.get(i) {
            None => break,
            Some(b'\\') => {}
            Some(_) => {
                i += 1;
                continue;
            }
        }
        sink(Piece::Run(raw.get(run..i).unwrap_or_default()));
        let e = b.get(i + 1).copied();
        i += 2;
        let ch = match e {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => match hex4_at(b, i) {
                Some(hi) => {
                    i += 4;
                    let cp = if (0xD800..0xDC00).contains(&hi) {
                        match (b.get(i..i + 2), hex4_at(b, i + 2)) {
                            (Some(b"\\u"), Some(lo)) if (0xDC00..0xE000).contains(&lo) => {
                                i += 6;
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            }
                            _ => 0xFFFD,
                        }
                    } else {
                        hi
                    };
                    char::from_u32(cp).unwrap_or('\u{FFFD}')
                }
                None => '\u{FFFD}',
            },
            _ => '\u{FFFD}',
        };
        sink(Piece::Char(ch));
        // A malformed tail (not produced by the scanner) must not leave `run` off a char
        // boundary: `get` then yields nothing rather than panicking.
        i = i.min(b.len());
        run = i;
    }
    sink(Piece::Run(raw.get(run..).unwrap_or_default()));
}

struct Scanner<'a> {
    b: &'a [u8],
    /// The input as text when it is known to be UTF-8 (then strings need no check of their own).
    text: Option<&'a str>,
    i: usize,
}

impl<'a> Scanner<'a> {
    fn err(&self, reason: &'static str) -> JsonError {
        JsonError {
            offset: self.i,
            reason,
        }
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect_lit(&mut self, lit: &[u8]) -> Result<(), JsonError> {
        if self.b.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self
                .peek()
                .ok_or_else(|| self.err("truncated \\u escape"))?;
            let d = hex_digit(c).ok_or_else(|| self.err("invalid \\u escape"))?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// The decoded length of the escape after a backslash (cursor on the escape letter),
    /// moving past it.
    fn escape(&mut self) -> Result<usize, JsonError> {
        let e = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
        self.i += 1;
        match e {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(1),
            b'u' => {
                let hi = self.hex4()?;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by a low one; a lone one decodes to
                    // U+FFFD (scanned, never re-emitted unless edited).
                    if self.b.get(self.i..self.i + 2) == Some(b"\\u") {
                        let save = self.i;
                        self.i += 2;
                        let lo = self.hex4()?;
                        if (0xDC00..0xE000).contains(&lo) {
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            self.i = save;
                            0xFFFD
                        }
                    } else {
                        0xFFFD
                    }
                } else if (0xDC00..0xE000).contains(&hi) {
                    0xFFFD
                } else {
                    hi
                };
                Ok(char::from_u32(cp).map_or(3, char::len_utf8))
            }
            _ => Err(self.err("invalid escape")),
        }
    }

    /// Validates a string starting at the opening quote, without decoding it. Inlined into
    /// its two callers, so the result stays in registers (returned through memory, it cost a
    /// store-forwarding stall per string).
    #[inline(always)]
    fn string(&mut self) -> Result<JsonStr<'a>, JsonError> {
        self.i += 1; // opening quote
        let start = self.i;
        let mut escaped = false;
        loop {
            // Skip eight plain bytes at a time, then go byte by byte up to the next escape.
            self.i = skip_plain(self.b, self.i);
            loop {
                let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                match c {
                    b'"' => {
                        // Escapes are ASCII and decode to whole characters, so the raw text is
                        // valid UTF-8 exactly when the decoded text is. (The owned scanner this
                        // replaces reported the error after the quote when there were escapes.)
                        let raw = match self.text {
                            Some(t) => t.get(start..self.i),
                            None => self
                                .b
                                .get(start..self.i)
                                .and_then(|r| std::str::from_utf8(r).ok()),
                        };
                        let Some(raw) = raw else {
                            self.i += usize::from(escaped);
                            return Err(self.err("invalid UTF-8 in string"));
                        };
                        self.i += 1;
                        return Ok(JsonStr { raw, escaped });
                    }
                    b'\\' => {
                        escaped = true;
                        self.i += 1;
                        self.escape()?;
                        break;
                    }
                    0..=0x1f => return Err(self.err("control character in string")),
                    _ => self.i += 1,
                }
            }
        }
    }

    /// An object member's key and the `:` after it (cursor on the key's opening quote).
    fn member_key(&mut self, node: u32) -> Result<Key, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected object key"));
        }
        let start = self.i + 1;
        let k = self.string()?;
        let k = Key {
            start: start as u32,
            len: k.raw.len() as u32 | if k.escaped { ESCAPED } else { 0 },
            node,
        };
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.err("expected ':'"));
        }
        self.i += 1;
        Ok(k)
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        Ok(())
    }
}

/// Scans a whole document. Trailing non-whitespace, bad syntax, invalid UTF-8 inside strings
/// and nesting beyond [`MAX_DEPTH`] are errors. A key repeated in one object is allowed (see
/// [`scan_request`]).
pub fn scan(bytes: &[u8]) -> Result<Document<'_>, JsonError> {
    // Outside strings only ASCII is valid JSON, so a body that is not UTF-8 is never a valid
    // document: one check up front (std's, word at a time) spares a check per string, and
    // the rare invalid body is scanned string by string for the exact error.
    match std::str::from_utf8(bytes) {
        Ok(text) => scan_with(bytes, Some(text), false),
        Err(_) => scan_with(bytes, None, false),
    }
}

/// [`scan`] of text already known to be UTF-8.
pub fn scan_str(text: &str) -> Result<Document<'_>, JsonError> {
    scan_with(text.as_bytes(), Some(text), false)
}

/// [`scan`] that also refuses a key repeated in any object of the document ([`DUPLICATE_KEY`],
/// at the second occurrence): parsers disagree on which copy counts (Python's and Go's take
/// the last, a first-match lookup the first), so a request must not have one. Keys are
/// compared decoded (`"a"` and `"\u0061"` are the same key).
pub fn scan_request(bytes: &[u8]) -> Result<Document<'_>, JsonError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => scan_with(bytes, Some(text), true),
        Err(_) => scan_with(bytes, None, true),
    }
}

/// [`scan_request`] of text already known to be UTF-8 (the same result: `scan_request` runs
/// this on a body that `from_utf8` accepts).
pub fn scan_request_str(text: &str) -> Result<Document<'_>, JsonError> {
    scan_with(text.as_bytes(), Some(text), true)
}

/// [`scan_request_str`] of a document whose first bytes are those before the checkpoint's
/// resume point `k` (see [`Checkpoint::points`]), scanning from there: the same document, or
/// the same error, as a whole scan (the scan's state after a prefix is a function of that
/// prefix alone). A point past the end of `text` is a whole scan.
pub fn resume_request_str<'a>(
    text: &'a str,
    cp: &Checkpoint,
    k: usize,
) -> Result<Document<'a>, JsonError> {
    scan_from(text.as_bytes(), Some(text), true, Some((cp, k)))
}

impl<'a> Document<'a> {
    /// The whole text the document was scanned from.
    pub fn source(&self) -> &'a str {
        self.text
    }
}

/// An open container while scanning.
struct Open {
    node: u32,
    object: bool,
    /// The current member: an index, or a key (index in the key table).
    seg: u32,
    /// Where this object's keys start in the stack of open objects' keys.
    keys_from: usize,
}

fn scan_with<'a>(
    bytes: &'a [u8],
    text: Option<&'a str>,
    unique_keys: bool,
) -> Result<Document<'a>, JsonError> {
    scan_from(bytes, text, unique_keys, None)
}

/// Whether the key `k` names the array a checkpoint is taken in.
fn is_turns_key(bytes: &[u8], k: Option<&Key>) -> bool {
    k.is_some_and(|k| {
        let raw = bytes.get(k.start as usize..(k.start + (k.len & !ESCAPED)) as usize);
        raw == Some(b"messages") || raw == Some(b"input")
    })
}

fn scan_from<'a>(
    bytes: &'a [u8],
    text: Option<&'a str>,
    unique_keys: bool,
    from: Option<(&Checkpoint, usize)>,
) -> Result<Document<'a>, JsonError> {
    let mut s = Scanner {
        b: bytes,
        text,
        i: 0,
    };
    if bytes.len() >= MAX_LEN {
        return Err(s.err("document too large"));
    }
    // The point to resume from, with the checkpoint's tables.
    let from = match from {
        Some((cp, k)) => match cp.points.get(k) {
            Some(p) if p.at <= bytes.len() && p.at > 0 => Some((cp, *p, k)),
            // Not a point of this document: a whole scan.
            _ => None,
        },
        None => None,
    };
    // Sized for a typical chat chunk or small request, so those never reallocate; a large
    // document is counted first, so its vectors are allocated once and never grown by
    // doubling (a grown vector briefly holds its old and new blocks: 1.5 times the need).
    let (n_leaves, n_nodes, n_keys) = match from {
        // Resumed: the checkpoint's tables and bounds of the rest (outside any string).
        Some((_, p, _)) => {
            let (l, n, k) = bounds(bytes.get(p.at..).unwrap_or_default());
            (p.leaves + l, p.nodes + n, p.keys + k)
        }
        None if bytes.len() > PRESIZE_FROM => bounds(bytes),
        None => (16, 8, 16),
    };
    let mut leaves: Vec<Leaf<'_>> = Vec::with_capacity(n_leaves);
    let mut nodes: Vec<Node> = Vec::with_capacity(n_nodes);
    let mut keys: Vec<Key> = Vec::with_capacity(n_keys);
    // The containers around the cursor, innermost last.
    let mut open: Vec<Open> = Vec::with_capacity(8);
    // The keys of the open objects so far (duplicate check), innermost object's last.
    let mut open_keys: Vec<u32> = Vec::new();
    s.ws();
    let mut root_start = s.i;
    let mut root = match s.peek() {
        Some(b'{') => RootKind::Object,
        Some(b'[') => RootKind::Array,
        Some(_) => RootKind::Scalar,
        None => return Err(s.err("empty document")),
    };
    // The last points after an element of the root's `messages` or `input` array.
    let mut points: Vec<ResumePoint> = Vec::new();
    // Resumed: the tables and the two open containers (the root object and the array) as they
    // were at the point, the cursor after the element.
    let mut after_value = false;
    if let Some((cp, p, k)) = from {
        leaves.clear();
        leaves.extend(
            cp.leaves
                .get(..p.leaves)
                .unwrap_or_default()
                .iter()
                .map(|l| l.rebind()),
        );
        nodes.clear();
        nodes.extend_from_slice(cp.nodes.get(..p.nodes).unwrap_or_default());
        keys.clear();
        keys.extend_from_slice(cp.keys.get(..p.keys).unwrap_or_default());
        if unique_keys {
            // The root object's members so far (the array's objects are closed).
            open_keys.extend(
                (0..keys.len() as u32)
                    .filter(|&k| keys.get(k as usize).is_some_and(|k| k.node == 0)),
            );
        }
        open.push(Open {
            node: 0,
            object: true,
            seg: p.member,
            keys_from: 0,
        });
        open.push(Open {
            node: p.array,
            object: false,
            seg: p.index,
            keys_from: open_keys.len(),
        });
        root = RootKind::Object;
        root_start = cp.root_start;
        points.extend_from_slice(cp.points.get(..=k).unwrap_or_default());
        s.i = p.at;
        after_value = true;
    }

    // State machine: `value` parses one value at the cursor; containers push onto `open`.
    'value: loop {
        if !std::mem::take(&mut after_value) {
            s.ws();
            let start = s.i;
            let c = s.peek().ok_or_else(|| s.err("unexpected end of input"))?;
            // Where this value is: its container and step.
            let (parent, seg) = open.last().map_or((NONE, NONE), |o| (o.node, o.seg));
            let depth = open.len() as u16;
            let kind = match c {
                b'{' | b'[' => {
                    if open.len() >= MAX_DEPTH {
                        return Err(s.err("nesting too deep"));
                    }
                    s.i += 1;
                    s.ws();
                    let object = c == b'{';
                    if s.peek() == Some(if object { b'}' } else { b']' }) {
                        // Empty: no member, so no node.
                        s.i += 1;
                        None
                    } else {
                        let top = match depth {
                            0 => NONE,
                            1 => seg,
                            _ => nodes.get(parent as usize).map_or(NONE, |n| n.top),
                        };
                        let node = nodes.len() as u32;
                        nodes.push(Node {
                            parent,
                            seg,
                            top,
                            depth,
                            object,
                        });
                        let mut o = Open {
                            node,
                            object,
                            seg: 0,
                            keys_from: open_keys.len(),
                        };
                        if object {
                            o.seg = keys.len() as u32;
                            keys.push(s.member_key(node)?);
                            if unique_keys {
                                open_keys.push(o.seg);
                            }
                        }
                        open.push(o);
                        continue 'value;
                    }
                }
                b'"' => Some(if s.string()?.escaped {
                    Kind::StrEscaped
                } else {
                    Kind::Str
                }),
                b't' => {
                    s.expect_lit(b"true")?;
                    Some(Kind::True)
                }
                b'f' => {
                    s.expect_lit(b"false")?;
                    Some(Kind::False)
                }
                b'n' => {
                    s.expect_lit(b"null")?;
                    Some(Kind::Null)
                }
                b'-' | b'0'..=b'9' => {
                    s.number()?;
                    Some(Kind::Num)
                }
                _ => return Err(s.err("unexpected character")),
            };
            if let Some(kind) = kind {
                leaves.push(Leaf {
                    start,
                    end: s.i,
                    parent,
                    seg,
                    depth,
                    kind,
                    _doc: PhantomData,
                });
            }
        }
        // After a value: close containers or move to the next member.
        loop {
            if let [root_open, array] = open.as_slice() {
                if root_open.object && root_open.node == 0 && !array.object {
                    let same = points.last().is_some_and(|r| r.member == root_open.seg);
                    if same || is_turns_key(bytes, keys.get(root_open.seg as usize)) {
                        if !same {
                            points.clear(); // another array: `input` after `messages`
                        }
                        if points.len() >= 2 * MAX_POINTS {
                            // The last MAX_POINTS are kept (amortised: one move per
                            // MAX_POINTS elements); the rest are dropped at the end.
                            points.drain(..MAX_POINTS);
                        }
                        points.push(ResumePoint {
                            at: s.i,
                            leaves: leaves.len(),
                            nodes: nodes.len(),
                            keys: keys.len(),
                            member: root_open.seg,
                            array: array.node,
                            index: array.seg,
                        });
                    }
                }
            }
            s.ws();
            let Some(o) = open.last_mut() else {
                if s.i != bytes.len() {
                    return Err(s.err("trailing characters after document"));
                }
                let text = match text {
                    Some(t) => t,
                    // Unreachable for a valid document (strings are checked, the rest is ASCII).
                    None => std::str::from_utf8(bytes).map_err(|_| s.err("invalid UTF-8"))?,
                };
                if let Some(extra) = points.len().checked_sub(MAX_POINTS) {
                    points.drain(..extra);
                }
                return Ok(Document {
                    root,
                    root_start,
                    leaves,
                    nodes,
                    keys,
                    text,
                    points,
                });
            };
            match (o.object, s.peek()) {
                (true, Some(b',')) => {
                    s.i += 1;
                    s.ws();
                    o.seg = keys.len() as u32;
                    keys.push(s.member_key(o.node)?);
                    if unique_keys {
                        open_keys.push(o.seg);
                    }
                    continue 'value;
                }
                (false, Some(b',')) => {
                    s.i += 1;
                    o.seg += 1;
                    continue 'value;
                }
                (true, Some(b'}')) => {
                    if unique_keys {
                        let members = open_keys.get(o.keys_from..).unwrap_or_default();
                        if let Some(at) = repeated_key(bytes, &keys, members) {
                            s.i = at;
                            return Err(s.err(DUPLICATE_KEY));
                        }
                        open_keys.truncate(o.keys_from);
                    }
                    s.i += 1;
                    open.pop();
                }
                (false, Some(b']')) => {
                    s.i += 1;
                    open.pop();
                }
                (true, _) => return Err(s.err("expected ',' or '}'")),
                (false, _) => return Err(s.err("expected ',' or ']'")),
            }
        }
    }
}

/// Documents larger than this have their vectors sized by [`bounds`] first.
const PRESIZE_FROM: usize = 64 * 1024;

/// Upper bounds of the leaves, containers and keys of a document: one pass over the bytes
/// outside strings (strings are skipped a word at a time). Leaves are at most the strings that
/// are not keys (one colon each) plus the number and literal tokens; containers, the brackets
/// not closed at once. Nesting past [`MAX_DEPTH`] gives small bounds: the scan will refuse it.
fn bounds(b: &[u8]) -> (usize, usize, usize) {
    let (mut strings, mut tokens, mut colons, mut containers) = (0usize, 0usize, 0usize, 0usize);
    let mut depth = 0usize;
    // The last byte outside strings that is not whitespace.
    let mut prev = b' ';
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i += 1;
        match c {
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            b'"' => {
                strings += 1;
                loop {
                    i = skip_plain(b, i);
                    match b.get(i) {
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => i += 2,
                        Some(_) => i += 1,
                        None => break,
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return (16, 8, 16);
                }
                containers += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if matches!(prev, b'[' | b'{') {
                    containers = containers.saturating_sub(1);
                }
            }
            b':' => colons += 1,
            b',' => {}
            _ if !(prev.is_ascii_alphanumeric() || matches!(prev, b'.' | b'+' | b'-')) => {
                tokens += 1
            }
            _ => {}
        }
        prev = c;
    }
    (strings.saturating_sub(colons) + tokens, containers, colons)
}

/// The raw text of a key, and its decoded text when it has escapes.
fn key_text<'b>(bytes: &'b [u8], k: &Key) -> Cow<'b, str> {
    let start = k.start as usize;
    let raw = bytes
        .get(start..start + (k.len & !ESCAPED) as usize)
        .and_then(|r| std::str::from_utf8(r).ok())
        .unwrap_or_default();
    if k.len & ESCAPED == 0 {
        Cow::Borrowed(raw)
    } else {
        let mut out = String::with_capacity(raw.len());
        unescape(raw, &mut out);
        Cow::Owned(out)
    }
}

/// The offset of the opening quote of a key that repeats an earlier key of the same object.
/// Small objects are compared pairwise; larger ones sort hashes of their decoded keys and
/// compare the texts of equal hashes (a collision cannot refuse distinct keys).
fn repeated_key(bytes: &[u8], keys: &[Key], members: &[u32]) -> Option<usize> {
    let key = |m: &u32| keys.get(*m as usize);
    let quote = |k: &Key| (k.start as usize).saturating_sub(1);
    if members.len() <= 8 {
        for (n, a) in members.iter().enumerate().skip(1) {
            let ka = key(a)?;
            let ta = key_text(bytes, ka);
            for b in members.get(..n).unwrap_or_default() {
                if key(b).is_some_and(|kb| key_text(bytes, kb) == ta) {
                    return Some(quote(ka));
                }
            }
        }
        return None;
    }
    let mut hashed: Vec<(u64, u32)> = members
        .iter()
        .filter_map(|m| Some((fnv1a(key_text(bytes, key(m)?).as_bytes()), *m)))
        .collect();
    hashed.sort_unstable();
    let mut found: Option<usize> = None;
    for w in hashed.windows(2) {
        if let [(ha, a), (hb, b)] = w {
            if ha == hb {
                if let (Some(ka), Some(kb)) = (key(a), key(b)) {
                    if key_text(bytes, ka) == key_text(bytes, kb) {
                        let at = quote(ka).max(quote(kb));
                        found = Some(found.map_or(at, |f| f.min(at)));
                    }
                }
            }
        }
    }
    found
}

fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// JSON-encodes a string value (with quotes).
pub fn encode_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    // Copy runs of plain bytes whole (the SWAR skip also stops at `"`, `\\` and controls);
    // only those three kinds of byte need an escape, and all are ASCII, so every run boundary
    // is a char boundary.
    let b = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        i = skip_plain(b, i);
        let Some(&c) = b.get(i) else { break };
        let esc: Option<&str> = match c {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(s.get(run..i).unwrap_or_default());
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(c >> 4)]));
                out.push(char::from(HEX[usize::from(c & 15)]));
            }
        }
        i += 1;
        run = i;
    }
    out.push_str(s.get(run..).unwrap_or_default());
    out.push('"');
    out
}

/// One replacement of the byte range `start..end` of a document by `text` (already JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Splice {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Applies non-overlapping splices (any order) to `bytes`. Overlapping or out-of-range
/// splices are skipped rather than corrupting the document; the return says how many applied.
pub fn apply_splices(bytes: &[u8], splices: &mut [Splice]) -> (Vec<u8>, usize) {
    splices.sort_by_key(|s| (s.start, s.end));
    let extra: usize = splices.iter().map(|s| s.text.len()).sum();
    let mut out = Vec::with_capacity(bytes.len() + extra);
    let mut pos = 0;
    let mut applied = 0;
    for sp in splices.iter() {
        if sp.start < pos || sp.end < sp.start || sp.end > bytes.len() {
            continue;
        }
        out.extend_from_slice(bytes.get(pos..sp.start).unwrap_or_default());
        out.extend_from_slice(sp.text.as_bytes());
        pos = sp.end;
        applied += 1;
    }
    out.extend_from_slice(bytes.get(pos..).unwrap_or_default());
    (out, applied)
}

/// Path matching helper: `path_is(doc.path(leaf), &[K("messages"), I, K("content")])`.
#[derive(Debug, Clone, Copy)]
pub enum P<'a> {
    K(&'a str),
    /// Any array index.
    I,
}

/// Whether a leaf's path matches `pattern` (a walk up from the leaf, at most the pattern's
/// length; keys are compared without decoding unless they have escapes).
pub fn path_is(path: Path<'_, '_>, pattern: &[P<'_>]) -> bool {
    if path.len() != pattern.len() {
        return false;
    }
    let doc = path.doc;
    let (mut parent, mut seg) = (path.parent, path.seg);
    for p in pattern.iter().rev() {
        let Some(node) = doc.node(parent) else {
            return false;
        };
        if !doc.step_is(node.object, seg, p) {
            return false;
        }
        (parent, seg) = (node.parent, node.seg);
    }
    true
}

/// [`path_is`] for a path already collected into steps ([`Path::to_vec`]).
pub fn segs_are(path: &[Seg<'_>], pattern: &[P<'_>]) -> bool {
    path.len() == pattern.len()
        && path.iter().zip(pattern).all(|(s, p)| match (s, p) {
            (Seg::Key(k), P::K(want)) => k == want,
            (Seg::Index(_), P::I) => true,
            _ => false,
        })
}

/// [`index_at`] for a path already collected into steps.
pub fn seg_index(path: &[Seg<'_>], n: usize) -> Option<usize> {
    match path.get(n) {
        Some(Seg::Index(i)) => Some(*i),
        _ => None,
    }
}

/// Index at position `n` of a path, if that step is an array index.
pub fn index_at(path: Path<'_, '_>, n: usize) -> Option<usize> {
    match path.step(n) {
        Some((false, i)) => Some(i as usize),
        _ => None,
    }
}

/// At most this many steps of a path are rendered for a log line.
const RENDER_STEPS: usize = 16;

/// Renders a path as `messages[2].content[0].text` for logs: structure only, never a value.
/// Keys come from the client, so only those `schema_key` knows (names of the API's own fields)
/// are written; any other key is written `<key>` (an email used as a key never reaches a log).
pub fn render_path(path: Path<'_, '_>, schema_key: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for (n, seg) in path.iter().enumerate() {
        if n == RENDER_STEPS {
            out.push_str("...");
            break;
        }
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if schema_key(&k) { &k } else { "<key>" });
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The previous scanner, which owned every path and value: the reference the borrowing one is
/// tested against. Its string loop goes byte by byte (no word-at-a-time skip), so the two
/// share no code but the error type.
#[cfg(test)]
#[path = "json_oracle.rs"]
pub(crate) mod owned;

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn encode_str_round_trips_every_escape_at_every_position() {
        let specials = [
            "\"", "\\", "\n", "\r", "\t", "\u{1}", "\u{1f}", "\u{8}", "é", "€", "😀", "\u{7f}", "/",
        ];
        for sp in specials {
            for pos in 0..20 {
                let s: String = format!(
                    "{}{sp}{}",
                    "ab".repeat(pos / 2 + 1).get(..pos).unwrap(),
                    "xyz".repeat(5)
                );
                let enc = encode_str(&s);
                assert!(!enc[1..enc.len() - 1].bytes().any(|b| b < 0x20), "{enc:?}");
                let doc = format!("[{enc}]");
                let d = scan(doc.as_bytes()).unwrap();
                assert_eq!(d.text(&d.leaves[0]).as_deref(), Some(s.as_str()), "{enc:?}");
                // serde_json reads it back the same (the upstream's parser, not only ours).
                let v: Vec<String> = serde_json::from_str(&doc).unwrap();
                assert_eq!(v[0], s);
            }
        }
        assert_eq!(encode_str(""), "\"\"");
        assert_eq!(encode_str("a\u{1}b"), "\"a\\u0001b\"");
        assert_eq!(encode_str("\u{1f}"), "\"\\u001f\"");
    }

    #[test]
    fn word_at_a_time_skip_stops_at_every_special_byte_in_every_position() {
        // A quote, a backslash escape or a control character at each offset of a long string,
        // with multi-byte UTF-8 around: the SWAR skip must never step over one.
        for special in ["\"", "\\n", "\u{1}"] {
            for pos in 0..24 {
                let body: String = (0..40)
                    .map(|i| if i % 7 == 3 { 'é' } else { 'a' })
                    .collect();
                let (pre, post) =
                    body.split_at(body.char_indices().nth(pos).map(|(i, _)| i).unwrap());
                let doc = format!("[\"{pre}{special}{post}\"]");
                match special {
                    "\"" => assert!(scan(doc.as_bytes()).is_err(), "{doc:?}"),
                    "\\n" => {
                        let d = scan(doc.as_bytes()).unwrap();
                        assert_eq!(
                            d.text(&d.leaves[0]).as_deref(),
                            Some(format!("{pre}\n{post}").as_str())
                        );
                    }
                    _ => assert_eq!(
                        scan(doc.as_bytes()).unwrap_err().reason,
                        "control character in string"
                    ),
                }
            }
        }
        assert_eq!(skip_plain(b"abcdefgh", 0), 8);
        assert_eq!(skip_plain(b"abcdefg\"", 0), 7);
        assert_eq!(skip_plain(b"\"bcdefgh", 0), 0);
        assert_eq!(skip_plain(b"abcdefghij\"klmnopq", 0), 10);
        assert_eq!(skip_plain(b"abc\x01\"\\fghij", 0), 3);
        assert_eq!(skip_plain(b"abcdefghij", 0), 8); // a partial word is left to the caller
        assert_eq!(skip_plain("ééééé\u{7f}x".as_bytes(), 0), 8); // 0x7f and UTF-8 bytes are plain
    }

    #[test]
    fn scans_leaves_with_paths_and_spans() {
        let doc = br#"{"a": [1, "x\ny", {"b": true}], "c": null, "d": -1.5e3}"#;
        let d = scan(doc).unwrap();
        assert_eq!(d.root, RootKind::Object);
        let rendered: Vec<(String, Option<String>, Option<bool>)> = d
            .leaves
            .iter()
            .map(|l| {
                let b = l.bool();
                (
                    render_path(d.path(l), |_| true),
                    d.text(l).map(|s| s.into_owned()),
                    b,
                )
            })
            .collect();
        assert_eq!(
            rendered,
            vec![
                ("a[0]".to_string(), None, None),
                ("a[1]".to_string(), Some("x\ny".into()), None),
                ("a[2].b".to_string(), None, Some(true)),
                ("c".to_string(), None, None),
                ("d".to_string(), None, None),
            ]
        );
        assert_eq!(d.value(&d.leaves[0]), LeafValue::Num);
        assert_eq!(d.value(&d.leaves[3]), LeafValue::Null);
        let x = d.str(&d.leaves[1]).unwrap();
        assert_eq!(
            (x.raw(), x.has_escapes(), x.len(), x.as_plain()),
            ("x\\ny", true, 3, None)
        );
        let s = &d.leaves[1];
        assert_eq!(&doc[s.start..s.end], br#""x\ny""#);
        assert_eq!(&doc[d.leaves[4].start..d.leaves[4].end], b"-1.5e3");
    }

    #[test]
    fn decodes_escapes_and_surrogates() {
        let d = scan(br#"["\u00e9\ud83d\ude00\"\\\/\b\f\r\t", "\ud800x"]"#).unwrap();
        assert_eq!(d.text(&d.leaves[0]).unwrap(), "é😀\"\\/\u{8}\u{c}\r\t");
        assert_eq!(d.text(&d.leaves[1]).unwrap(), "\u{FFFD}x");
    }

    #[test]
    fn rejects_malformed_documents() {
        let bad: &[&[u8]] = &[
            b"",
            b"   ",
            b"{",
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"[1,]",
            b"[1 2]",
            b"{\"a\":1}x",
            b"\"\x01\"",
            b"\"\xff\"",
            b"01",
            b"1.",
            b"-",
            b"tru",
            b"{\"a\":\"\\x\"}",
            b"{1:2}",
            b"\"abc",
            b"\"\\u12\"",
        ];
        for b in bad {
            assert!(
                scan(b).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(b)
            );
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            scan(deep.as_bytes()).unwrap_err().reason,
            "nesting too deep"
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(scan(ok.as_bytes()).is_ok());
    }

    #[test]
    fn memory_is_linear_in_the_values_whatever_their_depth() {
        // Issue 12: each leaf copied its whole path, so 900 KB of 127-deep arrays took 1.5 GiB.
        // Now a leaf stores its parent: the peak heap of a scan is a small multiple of the body
        // (a 2-byte leaf `1,` costs one 32-byte Leaf natively, 20 in Wasm, plus the growth of
        // the vector; an object member also a 12-byte Key) at any depth.
        #[cfg(target_pointer_width = "32")]
        assert_eq!(
            (
                std::mem::size_of::<Leaf<'_>>(),
                std::mem::size_of::<Node>(),
                std::mem::size_of::<Key>()
            ),
            (20, 16, 12)
        );
        let n = 64 * 1024;
        let fill = |open: &str, unit: &str, close: &str| {
            let mut b = open.to_string();
            while b.len() + unit.len() + close.len() <= n {
                b.push_str(unit);
            }
            b.pop();
            b + close
        };
        let d = MAX_DEPTH - 1;
        let cases = [
            fill(&"[".repeat(d), "1,", &"]".repeat(d)),
            fill(&"[".repeat(d), "\"a\",", &"]".repeat(d)),
            fill(
                &("{\"a\":".repeat(d - 1) + "["),
                "{\"k\":1},",
                &("]".to_string() + &"}".repeat(d - 1)),
            ),
            fill("[", "[1],", "]"),
            fill("[", "1,", "]"),
        ];
        for body in &cases {
            let (doc, peak) = crate::testutil::peak_heap(|| scan_request(body.as_bytes()));
            let doc = doc.unwrap();
            // A leaf, the container it may open, and the key it may stand under.
            let per_leaf = std::mem::size_of::<Leaf<'_>>()
                + std::mem::size_of::<Node>()
                + std::mem::size_of::<Key>();
            assert!(
                peak <= 2 * per_leaf * doc.leaves.len() + 64 * 1024,
                "{} leaves, peak {peak} bytes for {} bytes of {:?}...",
                doc.leaves.len(),
                body.len(),
                &body[..140]
            );
            // Paths still read right at depth.
            let last = doc.leaves.last().unwrap();
            let p = doc.path(last);
            assert_eq!(p.len(), last.depth());
            assert_eq!(p.to_vec().len(), p.len());
        }
    }

    #[test]
    fn bounds_are_tight_for_plain_documents() {
        // (leaves, containers, keys): the vectors of a large document are sized by these.
        for (doc, want) in [
            ("[1,2,3]", (3, 1, 0)),
            ("[[],[],{}]", (0, 1, 0)),
            (r#"{"a":"b","c":[true,null,-1.5e3]}"#, (4, 2, 2)),
            (r#"["x,:[{", "\"]"]"#, (2, 1, 0)),
        ] {
            assert_eq!(bounds(doc.as_bytes()), want, "{doc}");
        }
    }

    #[test]
    fn duplicate_keys_are_found_in_every_object() {
        // (document, offset of the repeated key's quote) for scan_request; scan accepts all.
        let many: String = (0..40).map(|i| format!("\"k{i}\":{i},")).collect();
        let cases: Vec<(String, Option<usize>)> = vec![
            (r#"{"a":1,"b":2}"#.into(), None),
            (r#"{"a":1,"a":2}"#.into(), Some(7)),
            (
                r#"{"model":"x","messages":[],"model":"y"}"#.into(),
                Some(27),
            ),
            // compared decoded
            (r#"{"a":1,"\u0061":2}"#.into(), Some(7)),
            (r#"{"é":1,"\u00e9":2}"#.into(), Some(8)),
            // nested objects, interleaved with their parent's keys
            (r#"{"x":{"k":1,"k":2}}"#.into(), Some(12)),
            (r#"{"a":1,"b":{"c":1,"a":2},"d":3}"#.into(), None),
            (r#"{"a":1,"b":{"c":1},"a":2}"#.into(), Some(19)),
            (r#"[{"m":1},{"m":1}]"#.into(), None),
            (r#"{"a":{"a":{"a":1}}}"#.into(), None),
            // a large object (hashed and sorted) with its duplicate last, and without
            (format!("{{{many}\"k3\":0}}"), Some(1 + many.len())),
            (format!("{{{many}\"z\":0}}"), None),
            (
                r#"{"messages":[{"role":"user","content":"x","role":"system"}]}"#.into(),
                Some(42),
            ),
        ];
        for (doc, want) in &cases {
            assert!(scan(doc.as_bytes()).is_ok(), "{doc}");
            match (scan_request(doc.as_bytes()), want) {
                (Ok(_), None) => {}
                (Err(e), Some(at)) => {
                    assert!(e.is_duplicate_key(), "{doc}: {e}");
                    assert_eq!(e.offset, *at, "{doc}");
                    assert_eq!(doc.as_bytes()[*at], b'"');
                }
                (r, _) => panic!("{doc}: {r:?}"),
            }
        }
    }

    #[test]
    fn agrees_with_serde_json_on_strings() {
        let cases = [
            "plain",
            "quote \" and \\ backslash",
            "ctl \u{1} \u{1f}",
            "ünïcødé 中文 😀",
            "\n\r\t",
        ];
        for c in cases {
            let enc = encode_str(c);
            assert_eq!(serde_json::from_str::<String>(&enc).unwrap(), c);
            let d = scan(enc.as_bytes()).unwrap();
            assert_eq!(d.text(&d.leaves[0]).unwrap(), c);
        }
    }

    #[test]
    fn splices_keep_other_bytes() {
        let doc = br#"{ "model" :"m",  "x":"abc" , "n": 5 }"#;
        let d = scan(doc).unwrap();
        let x = d.find(&[P::K("x")]).unwrap();
        let mut sp = vec![Splice {
            start: x.start,
            end: x.end,
            text: encode_str("A\"B"),
        }];
        let (out, n) = apply_splices(doc, &mut sp);
        assert_eq!(n, 1);
        assert_eq!(out, br#"{ "model" :"m",  "x":"A\"B" , "n": 5 }"#.to_vec());
    }

    #[test]
    fn overlapping_splices_are_skipped() {
        let mut sp = vec![
            Splice {
                start: 0,
                end: 3,
                text: "X".into(),
            },
            Splice {
                start: 2,
                end: 4,
                text: "Y".into(),
            },
            Splice {
                start: 9,
                end: 99,
                text: "Z".into(),
            },
        ];
        let (out, n) = apply_splices(b"abcdef", &mut sp);
        assert_eq!(n, 1);
        assert_eq!(out, b"Xdef".to_vec());
    }

    // ------------------------------------------------------------------ against the owned scanner

    /// The scan's leaves in the owned reference's shape, with both `text` and the decoded
    /// length checked.
    fn as_owned(bytes: &[u8]) -> Result<(RootKind, usize, Vec<owned::Leaf>), JsonError> {
        let doc = scan(bytes)?;
        let leaves = doc
            .leaves
            .iter()
            .map(|l| owned::Leaf {
                path: check_path(&doc, l)
                    .path(l)
                    .iter()
                    .map(|s| match s {
                        Seg::Key(k) => owned::Seg::Key(k.to_string()),
                        Seg::Index(i) => owned::Seg::Index(i),
                    })
                    .collect(),
                start: l.start,
                end: l.end,
                value: match doc.value(l) {
                    LeafValue::Str(s) => {
                        let t = s.text().into_owned();
                        assert_eq!(t.len(), s.len());
                        assert_eq!(s.as_plain().is_some(), !s.raw().contains('\\'));
                        assert!(s.eq_str(&t));
                        assert_eq!(
                            Some(s.raw()),
                            std::str::from_utf8(&bytes[l.start + 1..l.end - 1]).ok()
                        );
                        owned::LeafValue::Str(t)
                    }
                    LeafValue::Num => owned::LeafValue::Num,
                    LeafValue::Bool(b) => owned::LeafValue::Bool(b),
                    LeafValue::Null => owned::LeafValue::Null,
                },
            })
            .collect();
        Ok((doc.root, doc.root_start, leaves))
    }

    /// Every view of a leaf's path agrees with its materialised steps; returns the document.
    fn check_path<'d, 'a>(doc: &'d Document<'a>, l: &Leaf<'a>) -> &'d Document<'a> {
        let p = doc.path(l);
        let v = p.to_vec();
        assert_eq!((p.len(), p.is_empty()), (v.len(), v.is_empty()));
        for (n, seg) in v.iter().enumerate() {
            assert_eq!(p.get(n).as_ref(), Some(seg));
            if let Seg::Key(k) = seg {
                assert!(p.key_is(n, k));
            }
        }
        assert_eq!(p.get(v.len()), None);
        assert_eq!(
            (p.first(), p.last()),
            (v.first().cloned(), v.last().cloned())
        );
        let pattern: Vec<P<'_>> = v
            .iter()
            .map(|s| match s {
                Seg::Key(k) => P::K(k),
                Seg::Index(_) => P::I,
            })
            .collect();
        assert!(path_is(p, &pattern));
        if let Some(P::K(_)) = pattern.last() {
            let mut other = pattern.clone();
            other.pop();
            other.push(P::K("\u{0}not a key"));
            assert!(!path_is(p, &other));
        }
        doc
    }

    /// Same acceptance, same error (reason and offset), same leaves (paths, spans, values).
    fn same_as_owned(bytes: &[u8]) {
        let want = owned::scan(bytes).map(|d| (d.root, d.root_start, d.leaves));
        assert_eq!(
            as_owned(bytes),
            want,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        // The counted bounds hold (vectors of large documents are sized by them).
        if let Ok(d) = scan(bytes) {
            let (l, n, k) = bounds(bytes);
            assert!(d.leaves.len() <= l && d.nodes.len() <= n && d.keys.len() <= k);
        }
        // The string-by-string UTF-8 check agrees with the up-front one.
        assert_eq!(scan_with(bytes, None, false), scan(bytes));
        // The duplicate check changes nothing else: the same document, or its own error.
        match scan_request(bytes) {
            Err(e) if e.is_duplicate_key() => assert!(scan(bytes).is_ok()),
            r => assert_eq!(r, scan(bytes)),
        }
        if let Ok(t) = std::str::from_utf8(bytes) {
            assert_eq!(scan_str(t), scan(bytes));
        }
    }

    #[test]
    fn scan_equals_owned_reference() {
        let docs: Vec<&[u8]> = vec![
            br#"{"a":1,"b":[true,false,null,"x"],"c":{"d":-1.5e3,"e":{}},"f":[]}"#,
            br#"  {"k\u0041y":"v\n\t\"\\\/\b\f\r","u":"\u00e4\ud83d\ude00\ud800x\udc00\ud800\u0041"} "#,
            br#"["a",1,[2,[3,[]]],{"x":{"y":"z"}}]"#,
            br#""just a string""#,
            b"42",
            b" [] ",
            b"{}",
            b"\"\xc3\xa4\xf0\x9f\x98\x80\"",
            br#"{"dup":1,"dup":2}"#,
            br#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":{"prompt_tokens":3}}"#,
            br#"["\ud800\ud800\udc00", "\ud800\u0041", "\udfff", "\u0000", "\ud83d\ude00\ud83d"]"#,
            // invalid
            b"",
            b"   ",
            b"{",
            b"{\"a\"}",
            b"{\"a\":}",
            b"[1,]",
            b"{\"a\":1,}",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"tru",
            b"nulll",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\ud800\\u12g4\"",
            b"\"\\ud800\\u12\"",
            b"\"\\",
            b"\"\\u",
            b"\"a\x01\"",
            b"\"\xff\"",
            b"\"\\n\xff\"",
            b"\"\xc3\\n\"",
            b"{} x",
            b"[\"\xc3\"]",
            b"\"unterminated",
            b"{\"a\":1}\xff",
            b"{\"a\xff\":1}",
            b"<html>bad gateway",
        ];
        for d in &docs {
            same_as_owned(d);
        }
        // Long strings: a quote, backslash or control byte at every offset of the 8-byte words.
        for pos in 0..20 {
            for special in [
                "\\n",
                "\\\"",
                "\u{1}",
                "\"",
                "ä",
                "\\u00e4",
                "\\",
                "\\ud83d\\ude00",
                "\\ud83d",
                "\u{7f}",
            ] {
                let body = format!("{}{special}{}", "a".repeat(pos), "b".repeat(17));
                same_as_owned(format!("{{\"k\":\"{body}\"}}").as_bytes());
                same_as_owned(format!("{{\"{body}\":\"{body}{body}\"}}").as_bytes());
                same_as_owned(format!("[\"{body}").as_bytes());
            }
        }
        let deep_ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let deep_bad = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let deep_obj = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        same_as_owned(deep_ok.as_bytes());
        same_as_owned(deep_bad.as_bytes());
        same_as_owned(deep_obj.as_bytes());
        same_as_owned(
            deep_obj
                .replacen("{\"a\":", "", 1)
                .strip_suffix('}')
                .unwrap()
                .as_bytes(),
        );
        // Mutations of valid documents: every truncation and every single-byte change.
        let bases: [&[u8]; 2] = [
            br#"{"id":"c\u00e41","choices":[{"index":0,"delta":{"content":"a\"b\\c\ud83d\ude00"},"n":-0.5E+2}],"ok":true,"z":null}"#,
            "{\"k\\ud800ey\": [\"plain words here ä€😀 and more\", {\"x\": [false, 12e-3, \"\\u00e4\\n\"]}], \"e\": []}".as_bytes(),
        ];
        let subst = [
            b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'0', b'-', b'e', b'u', b'd', b' ',
            0x01, 0xc3, 0x80, b'a',
        ];
        for base in bases {
            for cut in 0..=base.len() {
                same_as_owned(&base[..cut]);
            }
            for pos in 0..base.len() {
                for &c in &subst {
                    let mut m = base.to_vec();
                    m[pos] = c;
                    same_as_owned(&m);
                }
                // and every deletion
                let mut m = base.to_vec();
                m.remove(pos);
                same_as_owned(&m);
            }
        }
    }

    #[test]
    fn random_documents_equal_owned_reference() {
        // Random token soups biased towards almost-valid JSON.
        let tokens: [&[u8]; 24] = [
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"\"",
            b"\"k\"",
            b"\"v\\n\"",
            b"\"\\u00e4\"",
            b"\"\\ud83d\\ude00\"",
            b"\"\\ud800\"",
            b"1",
            b"-0.5e3",
            b"true",
            b"null",
            b" ",
            b"\\",
            b"\xc3\xa4",
            b"\xff",
            b"\"abcdefghijkl\"",
            b"{\"a\":",
            b"[1,",
            b"\"x\":",
        ];
        let mut rng = crate::testutil::XorShift(0x9E37_79B9_7F4A_7C15u64);
        let mut next = |n: usize| rng.below(n);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut d = Vec::new();
            for _ in 0..next(12) {
                d.extend_from_slice(tokens[next(tokens.len())]);
            }
            same_as_owned(&d);
            accepted += usize::from(scan(&d).is_ok());
        }
        assert!(
            accepted > 200,
            "the generator should produce valid documents too ({accepted})"
        );
    }

    #[test]
    fn accepted_documents_agree_with_serde_json() {
        // Whatever both accept decodes to the same strings (serde_json refuses lone surrogates,
        // which this scanner maps to U+FFFD).
        let docs = [
            r#"{"a":"x\ny","b":["\u00e4\ud83d\ude00","\/\b\f\r\t\"\\"],"c":{"d\u0041":"é€😀"}}"#,
            r#"["", "plain", "a\u0000b"]"#,
        ];
        for d in docs {
            let v: serde_json::Value = serde_json::from_str(d).unwrap();
            let doc = scan(d.as_bytes()).unwrap();
            for l in &doc.leaves {
                let mut cur = &v;
                for s in doc.path(l).iter() {
                    cur = match s {
                        Seg::Key(k) => &cur[k.as_ref()],
                        Seg::Index(i) => &cur[i],
                    };
                }
                assert_eq!(cur.as_str(), doc.text(l).as_deref(), "{d}");
            }
        }
    }

    #[test]
    fn keys_borrow_unless_escaped_and_find_helpers() {
        let doc = br#"{"usage":{"prompt_tokens":12,"out\u0070ut_tokens":3.5},"model":"m","n":-1}"#;
        let d = scan(doc).unwrap();
        let paths: Vec<Vec<Seg<'_>>> = d.leaves.iter().map(|l| d.path(l).to_vec()).collect();
        assert!(matches!(
            &paths[0][1],
            Seg::Key(Cow::Borrowed("prompt_tokens"))
        ));
        assert!(matches!(&paths[1][1], Seg::Key(Cow::Owned(k)) if k == "output_tokens"));
        assert_eq!(
            d.u64_at(doc, &[P::K("usage"), P::K("prompt_tokens")]),
            Some(12)
        );
        assert_eq!(d.u64_at(doc, &[P::K("usage"), P::K("output_tokens")]), None);
        assert_eq!(d.u64_at(doc, &[P::K("n")]), None);
        assert_eq!(
            d.find(&[P::K("model")]).and_then(|l| d.text(l)).as_deref(),
            Some("m")
        );
        assert_eq!(
            d.find(&[P::K("model")])
                .and_then(|l| d.str(l))
                .and_then(|s| s.as_plain()),
            Some("m")
        );
        // A leaf of another document has no path here rather than a wrong one or a panic.
        let other = scan(br#"[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]"#).unwrap();
        assert!(d.path(&other.leaves[0]).is_empty());
        assert_eq!(d.path(&other.leaves[0]).to_vec(), vec![]);
    }
}
