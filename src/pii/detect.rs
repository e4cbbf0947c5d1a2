//! Hand-written PII scanners: one forward pass over the bytes, dispatching on the byte class
//! (digit-run grammar with Luhn / SSN / IPv4 rules, `@`-anchored email, `:`-anchored IPv6,
//! word-start IBAN with mod-97, fixed-prefix API keys). No regex: regex-lite has no prefilter
//! and costs ~100x more per byte.
//!
//! Every scanner looks behind at most `CONTEXT_WINDOW` bytes and ahead at most past the next
//! break character, and no match spans a break (see `stream.rs`), which is what lets the
//! streaming restorer cut the text at breaks and get the same result as a whole-text scan.

use super::{PiiKind, PiiMatch};

/// Bytes before a candidate searched for context words ("phone", "order", ...).
pub(crate) const CONTEXT_WINDOW: usize = 48;

const MAX_DIGITS: usize = 24;
const MAX_GROUPS: usize = 10;

#[inline]
pub(crate) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[inline]
fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Scan `text[from..]`; `text[..from]` is look-behind context only. Matches are appended in
/// order, non-overlapping. `enabled[kind as usize]` filters the kinds reported.
pub(crate) fn scan(text: &str, from: usize, enabled: &[bool; 7], out: &mut Vec<PiiMatch>) {
    let b = text.as_bytes();
    let n = b.len();
    let first = out.len();
    let mut i = from;
    while i < n {
        let c = b[i];
        match CLASS[c as usize] {
            K_ALPHA => {
                if matches!(c, b'n' | b't' | b'r') && i > 0 && b[i - 1] == b'\\' {
                    // The letter of an escaped line break or tab (`\n` as two characters, as
                    // in text copied from JSON or logs): a boundary, not the start of a word.
                    i += 1;
                    continue;
                }
                if i == 0 || !(is_word(b[i - 1]) || b[i - 1] == b'-') || escape_before(b, i) {
                    // `iban_at` needs a digit at `i + 2`, `secret_at` one of four first bytes:
                    // most word starts are neither and skip both calls.
                    if b.get(i + 2).is_some_and(u8::is_ascii_digit) {
                        if let Some(e) = iban_at(b, i) {
                            push(out, enabled, PiiKind::Iban, i, e);
                            i = e;
                            continue;
                        }
                    }
                    if matches!(c, b's' | b'A' | b'g' | b'x') {
                        if let Some(e) = secret_at(b, i) {
                            push(out, enabled, PiiKind::Secret, i, e);
                            i = e;
                            continue;
                        }
                    }
                }
                i = skip_alnum(b, i);
            }
            K_DIGIT | K_PLUS_PAREN => {
                if chunk_start_ok(b, i) {
                    if let Some((kind, end)) = digit_value_at(b, i) {
                        push(out, enabled, kind, i, end);
                        i = end;
                        continue;
                    }
                }
                i = if c.is_ascii_digit() {
                    skip_alnum(b, i)
                } else {
                    i + 1
                };
            }
            K_AT => {
                if let Some((s, e)) = email_at(b, i, from) {
                    push(out, enabled, PiiKind::Email, s, e);
                    i = e;
                    continue;
                }
                i += 1;
            }
            K_COLON => {
                if let Some((s, e)) = ipv6_at(b, i, from) {
                    push(out, enabled, PiiKind::IpAddress, s, e);
                    i = e;
                    continue;
                }
                i += 1;
            }
            _ => {
                // Nothing starts at spaces, punctuation or non-ASCII bytes: skip them all.
                i += 1;
                while i < n && CLASS[b[i] as usize] == K_OTHER {
                    i += 1;
                }
            }
        }
    }
    resolve_overlaps(out, first);
}

const K_OTHER: u8 = 0;
const K_ALPHA: u8 = 1;
const K_DIGIT: u8 = 2;
const K_PLUS_PAREN: u8 = 3;
const K_AT: u8 = 4;
const K_COLON: u8 = 5;

/// What `scan` does at each byte value.
static CLASS: [u8; 256] = {
    let mut t = [K_OTHER; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphabetic() {
            K_ALPHA
        } else if b.is_ascii_digit() {
            K_DIGIT
        } else if b == b'+' || b == b'(' {
            K_PLUS_PAREN
        } else if b == b'@' {
            K_AT
        } else if b == b':' {
            K_COLON
        } else {
            K_OTHER
        };
        c += 1;
    }
    t
};

fn push(out: &mut Vec<PiiMatch>, enabled: &[bool; 7], kind: PiiKind, start: usize, end: usize) {
    if enabled[kind as usize] {
        out.push(PiiMatch { kind, start, end });
    }
}

/// Sort by start and keep the longer of two overlapping matches.
fn resolve_overlaps(out: &mut Vec<PiiMatch>, first: usize) {
    if out.len() - first < 2 {
        return;
    }
    let mut tail: Vec<PiiMatch> = out.drain(first..).collect();
    tail.sort_by_key(|m| (m.start, usize::MAX - m.end));
    for m in tail {
        let kept = out.len() > first;
        match out.last_mut() {
            Some(last) if kept && m.start < last.end => {
                if m.end - m.start > last.end - last.start {
                    *last = m;
                }
            }
            _ => out.push(m),
        }
    }
}

fn skip_alnum(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while let Some(c) = b.get(i) {
        if !c.is_ascii_alphanumeric() {
            break;
        }
        i += 1;
    }
    i
}

// ---------------------------------------------------------------- context words

/// Context words found in the window before a candidate. Bracketed text (our own tokens such as
/// `[PHONE_1a2b3c4d]`) is blanked so a restored response sees the same context as the request.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Context {
    pub phone: bool,
    pub card: bool,
    pub negative: bool,
    pub ssn: bool,
    pub version: bool,
    pub address: bool,
}

/// Phone words that count only at the start of a word ("tel" but not "hotel" or "Castelo",
/// "ring" but not "during", "fax" but not "Halifax").
const PHONE_WORDS: &[&[u8]] = &[
    b"tel",
    b"call",
    b"mobile",
    b"cell",
    b"fax",
    b"reach",
    b"dial",
    b"sms",
    b"message",
    b"answer",
    b"ring",
    b"ph.",
    b"ph:",
    b"t:",
    b"m:",
    b"anruf",
    b"handy",
    b"mobil",
    b"erreich",
    b"zentrale",
    b"nachricht",
    b"portable",
    b"celular",
    b"movil",
];
/// Phone words that count anywhere, also inside a compound ("homephone", "Telefonrufnummer").
const PHONE_WORDS_IN: &[&[u8]] = &[b"phone", b"whatsapp", b"rufnummer", b"durchwahl"];
const CARD_WORDS: &[&[u8]] = &[
    b"card",
    b"visa",
    b"mastercard",
    b"amex",
    b"credit",
    b"debit",
    b"karte",
    b"kredit",
    b"cc ",
    b"cc#",
    b"cc:",
];
const NEGATIVE_WORDS: &[&[u8]] = &[
    b"order",
    b"tracking",
    b"invoice",
    b"ticket",
    b"reference",
    b"ref ",
    b"ref:",
    b"ref#",
    b"id:",
    b"id#",
    b"case",
    b"serial",
    b"isbn",
    b"bestell",
    b"rechnung",
    b"sendung",
    b"auftrag",
    b"vorgang",
    b"kundennummer",
    b"artikel",
    b"license",
    b"licence",
    b"passport",
    b"zip",
    b"postal",
    b"postcode",
    b"plz",
    b"ausweis",
    b"reisepass",
    b"steuer",
    b"account",
    b"acct",
    b"iban",
    b"badge",
    b"build",
    b"transaction",
    b"receipt",
    b"policy",
];
/// Street addresses: house, suite and apartment numbers.
const ADDRESS_WORDS: &[&[u8]] = &[
    b"address",
    b"located",
    b"suite",
    b"apt",
    b"unit ",
    b"box ",
    b"lives at",
    b"street",
    b"adresse",
    b"wohn",
    b"stra\xc3\x9fe",
    b"strasse",
    b"hausnummer",
];
const SSN_WORDS: &[&[u8]] = &[
    b"ssn",
    b"social security",
    b"social-security",
    b"sozialversicherung",
    b"versicherungsnummer",
];
const VERSION_WORDS: &[&[u8]] = &[b"version", b"release", b"build", b"firmware"];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
fn starts_with_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay.iter().zip(needle).all(|(a, b)| a == b)
}

/// The context word lists, by index in `Context` order of evaluation.
const LISTS: [&[&[u8]]; 7] = [
    PHONE_WORDS,
    CARD_WORDS,
    NEGATIVE_WORDS,
    SSN_WORDS,
    VERSION_WORDS,
    ADDRESS_WORDS,
    PHONE_WORDS_IN,
];
const L_PHONE: usize = 0;
const L_CARD: usize = 1;
const L_NEGATIVE: usize = 2;
const L_SSN: usize = 3;
const L_VERSION: usize = 4;
const L_ADDRESS: usize = 5;
const L_PHONE_IN: usize = 6;

const N_WORDS: usize = PHONE_WORDS.len()
    + PHONE_WORDS_IN.len()
    + CARD_WORDS.len()
    + NEGATIVE_WORDS.len()
    + SSN_WORDS.len()
    + VERSION_WORDS.len()
    + ADDRESS_WORDS.len();

#[derive(Clone, Copy)]
struct CtxWord {
    word: &'static [u8],
    list: u8,
    /// The first (up to) four bytes, little-endian, and the mask of those present.
    pre: u32,
    mask: u32,
}

const fn prefix4(w: &[u8]) -> (u32, u32) {
    let (mut pre, mut mask, mut k) = (0u32, 0u32, 0);
    while k < 4 && k < w.len() {
        pre |= (w[k] as u32) << (8 * k);
        mask |= 0xff << (8 * k);
        k += 1;
    }
    (pre, mask)
}

/// Every context word of every list, sorted by first byte, with `start[c]..start[c + 1]` the
/// words beginning with byte `c` (computed at compile time).
struct WordIndex {
    words: [CtxWord; N_WORDS],
    start: [u16; 257],
}

const fn build_index() -> WordIndex {
    let mut words = [CtxWord {
        word: b"",
        list: 0,
        pre: 0,
        mask: 0,
    }; N_WORDS];
    let mut n = 0;
    let mut l = 0;
    while l < LISTS.len() {
        let mut k = 0;
        while k < LISTS[l].len() {
            let (pre, mask) = prefix4(LISTS[l][k]);
            words[n] = CtxWord {
                word: LISTS[l][k],
                list: l as u8,
                pre,
                mask,
            };
            n += 1;
            k += 1;
        }
        l += 1;
    }
    // Insertion sort by first byte (empty words never match; none exist).
    let mut i = 1;
    while i < N_WORDS {
        let mut j = i;
        while j > 0 && first_byte(words[j - 1].word) > first_byte(words[j].word) {
            let t = words[j - 1];
            words[j - 1] = words[j];
            words[j] = t;
            j -= 1;
        }
        i += 1;
    }
    let mut start = [0u16; 257];
    let mut c = 0;
    let mut w = 0;
    while c < 256 {
        start[c] = w as u16;
        while w < N_WORDS && first_byte(words[w].word) == c {
            w += 1;
        }
        c += 1;
    }
    start[256] = N_WORDS as u16;
    WordIndex { words, start }
}

const fn first_byte(w: &[u8]) -> usize {
    if w.is_empty() {
        256
    } else {
        w[0] as usize
    }
}

static WORD_INDEX: WordIndex = build_index();

/// For each list, the last position in `hay` where one of its words starts.
fn last_positions(hay: &[u8]) -> [Option<usize>; 7] {
    let mut last = [None; 7];
    let idx = &WORD_INDEX;
    // Zero padding: no word holds a zero byte, so nothing matches past the end of `hay`.
    let mut buf = [0u8; CONTEXT_WINDOW + 4];
    let n = hay.len().min(CONTEXT_WINDOW);
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), hay.get(..n)) {
        dst.copy_from_slice(src);
    }
    for p in 0..n {
        let c = buf[p] as usize;
        let (lo, hi) = (idx.start[c] as usize, idx.start[c + 1] as usize);
        if lo == hi {
            continue;
        }
        let x = u32::from_le_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
        // Inside a word (after an ASCII letter): only the lists that match anywhere.
        let inside = p > 0 && buf[p - 1].is_ascii_alphabetic();
        for w in idx.words.get(lo..hi).unwrap_or(&[]) {
            if x & w.mask == w.pre
                && !(inside && w.list as usize == L_PHONE)
                && (w.word.len() <= 4 || hay.get(p + 4..p + w.word.len()) == w.word.get(4..))
            {
                last[w.list as usize] = Some(p);
            }
        }
    }
    last
}

/// The up to `CONTEXT_WINDOW` bytes before `start`, lowercased, starting on a char boundary,
/// with bracketed text (tokens such as `[EMAIL_…]`) blanked. Returns the buffer and the length
/// used.
fn context_window(b: &[u8], start: usize) -> ([u8; CONTEXT_WINDOW], usize) {
    let start = start.min(b.len());
    let mut ws = start.saturating_sub(CONTEXT_WINDOW);
    // Start on a char boundary (continuation bytes are 0b10xx_xxxx).
    while ws < start && b.get(ws).is_some_and(|&c| (c & 0xC0) == 0x80) {
        ws += 1;
    }
    let mut buf = [b' '; CONTEXT_WINDOW];
    let win = b.get(ws..start).unwrap_or_default();
    let mut inside = false;
    for (k, &c) in win.iter().enumerate() {
        let Some(slot) = buf.get_mut(k) else { break };
        match c {
            b'[' => {
                inside = true;
                *slot = b' ';
            }
            b']' => {
                *slot = b' ';
                if !inside {
                    // Tail of a bracket that began before the window: blank it all.
                    for x in buf.iter_mut().take(k) {
                        *x = b' ';
                    }
                }
                inside = false;
            }
            _ => *slot = if inside { b' ' } else { c.to_ascii_lowercase() },
        }
    }
    (buf, win.len())
}

pub(crate) fn context_before(b: &[u8], start: usize) -> Context {
    let (buf, n) = context_window(b, start);
    let hay = buf.get(..n).unwrap_or_default();
    let last = last_positions(hay);
    context_from(
        last[L_PHONE].max(last[L_PHONE_IN]),
        last[L_CARD],
        last[L_NEGATIVE],
        last[L_SSN],
        last[L_VERSION],
        last[L_ADDRESS],
    )
}

/// The context from the last position of each list's words.
fn context_from(
    phone: Option<usize>,
    card: Option<usize>,
    negative: Option<usize>,
    ssn: Option<usize>,
    version: Option<usize>,
    address: Option<usize>,
) -> Context {
    Context {
        phone: phone.is_some(),
        card: card.is_some(),
        // The nearer word wins: "license clerk. Phone: 358 0594" is a phone number.
        negative: negative.is_some_and(|n| phone.is_none_or(|p| n > p)),
        // Also for "SSN": "my ssn is ... and my phone is 029764753", "SSN ... Reference
        // 301931256" are not SSNs.
        ssn: ssn.is_some_and(|s| phone.is_none_or(|p| s > p) && negative.is_none_or(|n| s > n)),
        version: version.is_some(),
        address: address.is_some(),
    }
}

// ---------------------------------------------------------------- digit runs

/// A run of digit groups with single separators: `+1 (555) 123-4567x89`, `4111 1111 ...`.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub start: usize,
    pub end: usize,
    pub digits: [u8; MAX_DIGITS],
    pub nd: usize,
    pub lens: [u8; MAX_GROUPS],
    /// Separator before group k (0 for none, e.g. after `)`); `seps[0]` unused.
    pub seps: [u8; MAX_GROUPS],
    pub ng: usize,
    pub plus: bool,
    pub parens: usize,
    pub ext: bool,
}

/// Whether `b[i - 2..i]` is an escaped line break or tab written out (`\n`, `\r`, `\t`): a
/// boundary before `i` although its letter is a word character.
#[inline]
fn escape_before(b: &[u8], i: usize) -> bool {
    i >= 2 && matches!(b[i - 1], b'n' | b't' | b'r') && b[i - 2] == b'\\'
}

fn chunk_start_ok(b: &[u8], i: usize) -> bool {
    let c = b[i];
    let next_ok = |j: usize| b.get(j).is_some_and(|x| x.is_ascii_digit());
    if c == b'+' && !(next_ok(i + 1) || (b.get(i + 1) == Some(&b'(') && next_ok(i + 2))) {
        return false;
    }
    if c == b'(' && !(next_ok(i + 1) || (b.get(i + 1) == Some(&b'+') && next_ok(i + 2))) {
        return false;
    }
    if i == 0 || escape_before(b, i) {
        return true;
    }
    let p = b[i - 1];
    !(is_word(p) || matches!(p, b'.' | b'-' | b'/' | b'@' | b'+' | b'%'))
}

/// The digit value starting at `s`: the whole run, else its longest prefix ending before a
/// space ("555-123-4567 4111111111111111" holds a phone and a card).
fn digit_value_at(b: &[u8], s: usize) -> Option<(PiiKind, usize)> {
    let mut spaces = [0usize; MAX_GROUPS];
    let mut n_spaces = 0;
    let whole = parse_chunk(b, s, usize::MAX, &mut spaces, &mut n_spaces);
    // Every candidate starts at `s`: the context words before it are looked up once.
    let mut ctx = None;
    if let Some(hit) = whole
        .as_ref()
        .and_then(|c| classify_with(c, b, &mut ctx).map(|k| (k, c.end)))
    {
        return Some(hit);
    }
    if whole.is_some_and(|c| phone_suffix(b, c.end)) {
        // The run ends where a line word ("-Office") says the number ends: the number is a
        // tail of the run, which the scan finds from a later group ("162749 0784 016 074-Office"
        // is a postal code and a phone), not a head.
        return None;
    }
    let mut unused = [0usize; MAX_GROUPS];
    let mut unused_n = 0;
    for k in (0..n_spaces.min(MAX_GROUPS)).rev() {
        let c = parse_chunk(b, s, spaces[k], &mut unused, &mut unused_n);
        if let Some(hit) = c.and_then(|c| classify_with(&c, b, &mut ctx).map(|k| (k, c.end))) {
            return Some(hit);
        }
    }
    None
}

/// Parses a digit run from `s`, not consuming a space separator at or after `limit`; records
/// the positions of space separators met.
pub(crate) fn parse_chunk(
    b: &[u8],
    s: usize,
    limit: usize,
    spaces: &mut [usize; MAX_GROUPS],
    n_spaces: &mut usize,
) -> Option<Chunk> {
    let n = b.len();
    let mut c = Chunk {
        start: s,
        ..Chunk::default()
    };
    let mut i = s;
    if b.get(i) == Some(&b'+') {
        c.plus = true;
        i += 1;
    }
    let mut sep = 0u8;
    loop {
        if c.ng == MAX_GROUPS {
            return None;
        }
        let paren = b.get(i) == Some(&b'(');
        let mut gs = if paren { i + 1 } else { i };
        if paren && c.ng == 0 && !c.plus && b.get(gs) == Some(&b'+') {
            // A country code in brackets: `(+30) 6924 624522`.
            c.plus = true;
            gs += 1;
        }
        let mut j = gs;
        while j < n && b[j].is_ascii_digit() {
            if c.nd == MAX_DIGITS {
                return None;
            }
            c.digits[c.nd] = b[j] - b'0';
            c.nd += 1;
            j += 1;
        }
        let glen = j - gs;
        if glen == 0 {
            return None;
        }
        if paren {
            if glen > 5 || b.get(j) != Some(&b')') {
                return None;
            }
            c.parens += 1;
            j += 1;
        }
        c.lens[c.ng] = glen.min(255) as u8;
        c.seps[c.ng] = sep;
        c.ng += 1;
        i = j;
        sep = 0;
        let Some(&x) = b.get(i) else { break };
        let next = b.get(i + 1).copied().unwrap_or(0);
        if matches!(x, b' ' | b'-' | b'.' | b'/')
            && (next.is_ascii_digit() || (next == b'(' && matches!(x, b' ' | b'-')))
        {
            if x == b' ' {
                if i >= limit {
                    break;
                }
                if *n_spaces < MAX_GROUPS {
                    spaces[*n_spaces] = i;
                    *n_spaces += 1;
                }
            }
            sep = x;
            i += 1;
            continue;
        }
        if (paren && x.is_ascii_digit()) || (x == b'(' && next.is_ascii_digit()) {
            continue;
        }
        if let Some(k) = extension_at(b, i, limit) {
            c.ext = true;
            i = k;
        }
        break;
    }
    c.end = i;
    if let Some(&x) = b.get(i) {
        if is_word(x) || x == b'@' {
            return None;
        }
    }
    Some(c)
}

/// The end of a phone extension at `i`, right after the number: `x175`, ` x175`, `ext175`,
/// `ext.175`, ` ext.175` (one to six digits; a space is not taken at or after `limit`).
fn extension_at(b: &[u8], i: usize, limit: usize) -> Option<usize> {
    let mut j = i;
    if b.get(j) == Some(&b' ') {
        if j >= limit {
            return None;
        }
        j += 1;
    }
    let lower = |k: usize| b.get(k).map(u8::to_ascii_lowercase);
    if lower(j) != Some(b'x') {
        if (lower(j), lower(j + 1), lower(j + 2)) != (Some(b'e'), Some(b'x'), Some(b't')) {
            return None;
        }
        j += 2;
        if b.get(j + 1) == Some(&b'.') {
            j += 1;
        }
    }
    let ds = j + 1;
    let mut k = ds;
    while k < b.len() && b[k].is_ascii_digit() && k - ds < 6 {
        k += 1;
    }
    let digits_end = b.get(k).is_none_or(|x| !x.is_ascii_digit());
    (k > ds && digits_end).then_some(k)
}

fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &x) in d.iter().rev().enumerate() {
        let mut v = x as u32;
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn num(d: &[u8]) -> u32 {
    d.iter()
        .fold(0u32, |a, &x| a.saturating_mul(10).saturating_add(x as u32))
}

fn ssn_valid(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let area = num(&d[0..3]);
    let group = num(&d[3..5]);
    let serial = num(&d[5..9]);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

impl Chunk {
    fn digits(&self) -> &[u8] {
        &self.digits[..self.nd]
    }
    fn lens(&self) -> &[u8] {
        &self.lens[..self.ng]
    }
    fn group(&self, k: usize) -> &[u8] {
        let off: usize = self.lens[..k].iter().map(|&l| l as usize).sum();
        &self.digits[off..off + self.lens[k] as usize]
    }
    /// The one separator used between all groups, if any and uniform.
    fn uniform_sep(&self) -> Option<u8> {
        let s = self.seps.get(1).copied()?;
        if self.ng < 2 || s == 0 {
            return None;
        }
        self.seps[1..self.ng].iter().all(|&x| x == s).then_some(s)
    }
}

/// The first three groups form a date (`2000-04-16`, `16.04.2000`, `4/16/2000`).
fn looks_like_date(c: &Chunk) -> bool {
    if c.ng < 3 || c.seps[1] != c.seps[2] || !matches!(c.seps[1], b'-' | b'.' | b'/') {
        return false;
    }
    let (a, m, d) = (num(c.group(0)), num(c.group(1)), num(c.group(2)));
    let l = c.lens();
    let dm = |x: u32, y: u32| (1..=31).contains(&x) && (1..=12).contains(&y);
    (l[0] == 4 && l[1] <= 2 && l[2] <= 2 && (1..=12).contains(&m) && (1..=31).contains(&d))
        || (l[2] == 4 && l[0] <= 2 && l[1] <= 2 && (dm(a, m) || dm(m, a)))
}

fn looks_like_thousands(c: &Chunk) -> bool {
    matches!(c.uniform_sep(), Some(b'.'))
        && (1..=3).contains(&c.lens[0])
        && c.digits[0] != 0
        && c.lens()[1..].iter().all(|&l| l == 3)
}

/// Which entity a digit chunk is, if any. Order: IPv4, SSN, card, phone.
/// `classify`, with the context before `c.start` cached in `cache` across calls.
fn classify_with(c: &Chunk, b: &[u8], cache: &mut Option<Context>) -> Option<PiiKind> {
    let marks = c.plus || c.parens > 0 || c.ext;
    let sep = c.uniform_sep();
    // Nothing shorter than seven digits but an IPv4 address, or six grouped digits that may
    // be a short phone number ("call 47 20 93", "72 18 40 office").
    if c.nd < 7 && !(c.ng == 4 && sep == Some(b'.')) && !(c.nd == 6 && c.ng >= 2) {
        return None;
    }
    let ctx = *cache.get_or_insert_with(|| context_before(b, c.start));
    let d = c.digits();

    if !marks && c.ng == 4 && sep == Some(b'.') && c.lens().iter().all(|&l| l <= 3) {
        let ok = (0..4).all(|k| {
            let g = c.group(k);
            num(g) <= 255 && !(g.len() > 1 && g[0] == 0)
        });
        if ok {
            return if ctx.version {
                None
            } else {
                Some(PiiKind::IpAddress)
            };
        }
    }
    if !marks && c.ng == 3 && c.lens() == [3, 2, 4] && matches!(sep, Some(b'-' | b' ')) {
        let address = sep == Some(b' ') && ctx.address && !ctx.ssn;
        // A strong context word ("SSN", "social security") wins over the area-number rules.
        return ((ctx.ssn || ssn_valid(d)) && !address).then_some(PiiKind::Ssn);
    }
    if !marks && c.ng == 1 && c.nd == 9 && ctx.ssn {
        return Some(PiiKind::Ssn);
    }
    if !marks && (12..=19).contains(&c.nd) && (c.ng == 1 || matches!(sep, Some(b' ' | b'-'))) {
        let l = c.lens();
        let grouped = c.ng == 1
            || (l[..c.ng - 1].iter().all(|&x| x == 4) && (1..=4).contains(&l[c.ng - 1]))
            || (c.ng == 3 && l[0] == 4 && l[1] == 6 && (4..=5).contains(&l[2]));
        if grouped {
            if luhn(d) {
                let phone_like =
                    c.ng == 1 && c.nd <= 15 && (ctx.phone || phone_suffix(b, c.end)) && !ctx.card;
                let leading_zero = d[0] == 0 && !ctx.card;
                if !phone_like && !leading_zero {
                    return Some(PiiKind::CreditCard);
                }
            } else if c.nd >= 16 {
                return None;
            }
        }
    }
    // Phone numbers.
    if c.nd < 6 || c.nd > 15 || hex_bytes(b, c, ctx.phone) {
        return None;
    }
    // A word right after the number that names a line ("555 0123 office", "…-Fax").
    let suffix = phone_suffix(b, c.end);
    let strong = ctx.phone || suffix;
    if c.nd == 6 {
        // Six digits only in three groups or more ("47 20 93", not a house number and street
        // "03 2657 Koontz Lane"), with a phone word before or a line word after.
        return (strong
            && c.ng >= 3
            && sep.is_some_and(|s| s != b'.')
            && !looks_like_date(c)
            && !ctx.negative)
            .then_some(PiiKind::Phone);
    }
    if marks {
        return (!c.plus || c.nd >= 8).then_some(PiiKind::Phone);
    }
    if looks_like_date(c) {
        return None;
    }
    if b.get(c.end) == Some(&b':') && b.get(c.end + 1).is_some_and(|x| x.is_ascii_digit()) {
        return None; // a time follows: a timestamp, not a phone
    }
    if c.ng == 2
        && c.lens() == [4, 4]
        && matches!(d[0..2], [1, 9] | [2, 0])
        && matches!(d[4..6], [1, 9] | [2, 0])
    {
        return None; // year range "2019-2020"
    }
    // A line word right after the number beats a negative word before it.
    if (ctx.negative && !suffix) || is_amount(b, c) {
        return None;
    }
    let trunk = d[0] == 0; // national trunk prefix: 030 ..., 0171-..., 089 ...
    if c.ng >= 2 && sep.is_none() {
        // Mixed separators: an area code set apart from a grouped subscriber number
        // ("08-797 884 97", "0143 332-505", "06-8/162 4263", "15 7366-1718"), else two values
        // side by side ("12345 030-1234567").
        return (area_then_groups(c) && (trunk || strong)).then_some(PiiKind::Phone);
    }
    if c.ng >= 3 {
        if looks_like_thousands(c) && !strong {
            return None;
        }
        return (!ctx.address || strong || trunk || sep == Some(b'-')).then_some(PiiKind::Phone);
    }
    if c.ng == 2 {
        let l = c.lens();
        return match sep {
            Some(b'/') => Some(PiiKind::Phone),
            Some(b'-' | b' ') if strong => Some(PiiKind::Phone),
            // A trunk zero, but not a postal code ("07832-414", "02419-6947") nor a number in
            // an address ("Billing address: … 04817 2290 Main St").
            Some(b'-' | b' ') if trunk && !ctx.address && !(l[0] == 5 && l[1] <= 4) => {
                Some(PiiKind::Phone)
            }
            // "Tel: 2444.5839", "ring 257.09904"; not "pi is 3.14159265", "43.819436"
            Some(b'.') if strong && (3..=4).contains(&l[0]) && (4..=5).contains(&l[1]) => {
                Some(PiiKind::Phone)
            }
            _ => None, // "17151 2450 Crown St", "75534-030", "3.14159265"
        };
    }
    // One group: ten or eleven digits, nine after a trunk zero ("029764753"), else only with a
    // phone word.
    let bare = c.nd == 10 || c.nd == 11 || (trunk && c.nd == 9);
    if (bare && !ctx.address) || strong {
        return Some(PiiKind::Phone);
    }
    None
}

/// Whether a chunk of two-digit groups one space apart is bytes written in hex, not a phone
/// number ("... 6e 20 50 61 72 69 73 6c ..."): another such pair of hex digits right before or
/// after it (`6e`, `C3`, `20`: a digit in it, so words like "de" do not count), or more groups
/// than a phone number has (six or more; a phone word before it keeps it a phone). A longer run
/// of pairs is tried by its prefixes too, so each prefix sees the pair after it. Looks no
/// further than the two characters after the chunk, like `phone_suffix`.
fn hex_bytes(b: &[u8], c: &Chunk, phone_word: bool) -> bool {
    if c.ng < 2 || c.uniform_sep() != Some(b' ') || c.lens().iter().any(|&l| l != 2) {
        return false;
    }
    if c.plus || c.parens > 0 || c.ext {
        return false;
    }
    if c.ng >= 6 && !phone_word {
        return true;
    }
    let alone = |k: Option<usize>| {
        k.and_then(|k| b.get(k))
            .is_none_or(|x| !x.is_ascii_alphanumeric())
    };
    // `b[s..s + 2]`: two hex digits, one of them a digit, standing alone.
    let hex_pair = |s: usize| {
        let (Some(&x), Some(&y)) = (b.get(s), b.get(s + 1)) else {
            return false;
        };
        x.is_ascii_hexdigit()
            && y.is_ascii_hexdigit()
            && (x.is_ascii_digit() || y.is_ascii_digit())
            && alone(s.checked_sub(1))
            && alone(Some(s + 2))
    };
    (b.get(c.end) == Some(&b' ') && hex_pair(c.end + 1))
        || (c.start >= 3 && b.get(c.start - 1) == Some(&b' ') && hex_pair(c.start - 3))
}

/// Words after a number that name the line it is ("…-Office", " fax", " (mobile)").
const SUFFIX_WORDS: &[&[u8]] = &[
    b"office",
    b"fax",
    b"mobile",
    b"mob",
    b"cell",
    b"phone",
    b"tel",
    b"landline",
    b"home",
    b"handy",
    b"mobil",
    b"fixe",
    b"portable",
];

/// Whether a word of `SUFFIX_WORDS` follows `end` after one space, `-` or ` (`. Looks no
/// further than the end of that word (a stream is cut only at breaks after it).
fn phone_suffix(b: &[u8], end: usize) -> bool {
    let mut j = end;
    match b.get(j) {
        Some(b' ') => {
            j += 1;
            if b.get(j) == Some(&b'(') {
                j += 1;
            }
        }
        Some(b'-' | b'(') => j += 1,
        _ => return false,
    }
    let ws = j;
    while j < b.len() && b[j].is_ascii_alphabetic() && j - ws <= 8 {
        j += 1;
    }
    if j == ws || b.get(j).is_some_and(|x| x.is_ascii_alphanumeric()) {
        return false;
    }
    let mut w = [0u8; 9];
    let n = (j - ws).min(9);
    for (k, x) in b[ws..ws + n].iter().enumerate() {
        w[k] = x.to_ascii_lowercase();
    }
    SUFFIX_WORDS.iter().any(|s| *s == &w[..n])
}

/// An amount, not a phone: a currency sign or code right before it (`£6642639`, `EUR 1234567`,
/// `$ 12 345 678`), or a (decimal) comma after dotted thousands (`5.399.790,20`).
fn is_amount(b: &[u8], c: &Chunk) -> bool {
    let mut s = c.start;
    if s > 0 && b[s - 1] == b' ' {
        s -= 1;
    }
    let before = &b[..s];
    let sign = [
        &b"$"[..],
        "\u{a3}".as_bytes(),
        "\u{20ac}".as_bytes(),
        "\u{a5}".as_bytes(),
        "\u{20b9}".as_bytes(),
    ]
    .iter()
    .any(|x| before.ends_with(x));
    let code = before.len() >= 3
        && [&b"EUR"[..], b"USD", b"GBP", b"CHF", b"PLN"]
            .iter()
            .any(|x| {
                before[before.len() - 3..].eq_ignore_ascii_case(x)
                    && before
                        .len()
                        .checked_sub(4)
                        .is_none_or(|k| !is_word(before[k]))
            });
    // Only the comma itself: it is a break, a stream may be cut right after it.
    let decimal = looks_like_thousands(c) && b.get(c.end) == Some(&b',');
    sign || code || decimal
}

/// An area code (up to five digits, trunk included, maybe split: `06-8/…`) then a subscriber
/// number in groups of two to four digits (one of three or more, or three groups), separated
/// by spaces, `-` or `/` (no dot).
fn area_then_groups(c: &Chunk) -> bool {
    let l = c.lens();
    let tail = &l[1..];
    c.seps[1..c.ng]
        .iter()
        .all(|&s| matches!(s, b' ' | b'-' | b'/'))
        && l[0] <= 5
        && tail.iter().all(|&x| (1..=4).contains(&x))
        && tail.iter().rev().take(2).all(|&x| x >= 2)
        && (tail.iter().any(|&x| x >= 3) || tail.len() >= 3)
        && c.nd <= 12
}

// ---------------------------------------------------------------- email

fn email_at(b: &[u8], at: usize, floor: usize) -> Option<(usize, usize)> {
    let n = b.len();
    let mut s = at;
    while s > floor && at - s < 64 && is_local(b[s - 1]) {
        s -= 1;
    }
    if s > floor && is_local(b[s - 1]) {
        return None; // local part too long
    }
    while s < at && b[s] == b'.' {
        s += 1;
    }
    if s == at {
        return None;
    }
    let mut e = at + 1;
    let mut labels = 0;
    let mut last;
    loop {
        let ls = e;
        while e < n && (b[e].is_ascii_alphanumeric() || b[e] == b'-') && e - ls < 63 {
            e += 1;
        }
        if e == ls {
            return None;
        }
        labels += 1;
        last = (ls, e);
        if e + 1 < n && b[e] == b'.' && b[e + 1].is_ascii_alphanumeric() && e - at < 253 {
            e += 1;
            continue;
        }
        break;
    }
    let tld = &b[last.0..last.1];
    if labels < 2 || tld.len() < 2 || !tld.iter().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    if b.get(e)
        .is_some_and(|&x| is_word(x) || x == b'@' || x == b'-')
    {
        return None;
    }
    Some((s, e))
}

// ---------------------------------------------------------------- IPv6

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn ipv6_at(b: &[u8], colon: usize, floor: usize) -> Option<(usize, usize)> {
    let n = b.len();
    let mut s = colon;
    while s > floor && colon - s < 40 && (is_hex(b[s - 1]) || b[s - 1] == b':') {
        s -= 1;
    }
    if s > 0 && (is_word(b[s - 1]) || matches!(b[s - 1], b':' | b'.' | b'-')) {
        return None;
    }
    let mut e = colon;
    while e < n && e - s < 45 && (is_hex(b[e]) || b[e] == b':' || b[e] == b'.') {
        e += 1;
    }
    while e > colon && b[e - 1] == b'.' {
        e -= 1;
    }
    if b.get(e)
        .is_some_and(|&x| is_word(x) || x == b':' || x == b'.')
    {
        return None;
    }
    let cand = &b[s..e];
    let (ok, groups) = parse_ipv6(cand);
    let has_digit = cand.iter().any(|c| c.is_ascii_digit());
    let compressed = contains(cand, b"::");
    if ok && has_digit && (groups >= 3 || (compressed && groups >= 2)) {
        Some((s, e))
    } else {
        None
    }
}

/// Validates an IPv6 literal; returns (valid, explicit groups).
pub(crate) fn parse_ipv6(s: &[u8]) -> (bool, usize) {
    let (head, tail, compressed) = match s.windows(2).position(|w| w == b"::") {
        Some(p) => (&s[..p], &s[p + 2..], true),
        None => (s, &s[..0], false),
    };
    if compressed && contains(tail, b"::") {
        return (false, 0);
    }
    let mut count = 0usize;
    let mut explicit = 0usize;
    let parts: Vec<&[u8]> = if compressed {
        let mut v: Vec<&[u8]> = Vec::new();
        if !head.is_empty() {
            v.extend(head.split(|&c| c == b':'));
        }
        if !tail.is_empty() {
            v.extend(tail.split(|&c| c == b':'));
        }
        v
    } else {
        s.split(|&c| c == b':').collect()
    };
    let last = parts.len().saturating_sub(1);
    for (k, p) in parts.iter().enumerate() {
        if p.contains(&b'.') {
            if k != last || !ipv4_ok(p) {
                return (false, 0);
            }
            count += 2;
        } else {
            if p.is_empty() || p.len() > 4 || !p.iter().all(|&c| is_hex(c)) {
                return (false, 0);
            }
            count += 1;
        }
        explicit += 1;
    }
    let ok = if compressed { count <= 7 } else { count == 8 };
    (ok, explicit)
}

fn ipv4_ok(p: &[u8]) -> bool {
    let octs: Vec<&[u8]> = p.split(|&c| c == b'.').collect();
    octs.len() == 4
        && octs.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.iter().all(|c| c.is_ascii_digit())
                && !(o.len() > 1 && o[0] == b'0')
                && num(&o.iter().map(|c| c - b'0').collect::<Vec<u8>>()) <= 255
        })
}

// ---------------------------------------------------------------- IBAN

/// Expected IBAN length by country (subset; unknown countries are accepted on mod-97 alone).
fn iban_len(cc: [u8; 2]) -> Option<usize> {
    Some(match &cc {
        b"DE" => 22,
        b"GB" => 22,
        b"AT" => 20,
        b"CH" => 21,
        b"LI" => 21,
        b"FR" => 27,
        b"MC" => 27,
        b"IT" => 27,
        b"ES" => 24,
        b"NL" => 18,
        b"BE" => 16,
        b"LU" => 20,
        b"IE" => 22,
        b"PT" => 25,
        b"PL" => 28,
        b"CZ" => 24,
        b"SK" => 24,
        b"DK" => 18,
        b"SE" => 24,
        b"NO" => 15,
        b"FI" => 18,
        b"HU" => 28,
        b"GR" => 27,
        b"RO" => 24,
        b"HR" => 21,
        b"SI" => 19,
        b"BG" => 22,
        b"TR" => 26,
        b"SA" => 24,
        b"AE" => 23,
        _ => return None,
    })
}

fn iban_valid(chars: &[u8]) -> bool {
    if chars.len() < 15 || chars.len() > 34 {
        return false;
    }
    let cc = [chars[0].to_ascii_uppercase(), chars[1].to_ascii_uppercase()];
    if let Some(l) = iban_len(cc) {
        if l != chars.len() {
            return false;
        }
    }
    let mut rem: u32 = 0;
    for &c in chars[4..].iter().chain(chars[..4].iter()) {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_digit() {
            rem = (rem * 10 + (c - b'0') as u32) % 97;
        } else if c.is_ascii_uppercase() {
            rem = (rem * 100 + (c - b'A' + 10) as u32) % 97;
        } else {
            return false;
        }
    }
    rem == 1
}

fn iban_at(b: &[u8], i: usize) -> Option<usize> {
    let n = b.len();
    if i + 4 > n
        || !b[i].is_ascii_alphabetic()
        || !b[i + 1].is_ascii_alphabetic()
        || !b[i + 2].is_ascii_digit()
        || !b[i + 3].is_ascii_digit()
    {
        return None;
    }
    let run_end = {
        let mut e = i;
        while e < n && b[e].is_ascii_alphanumeric() && e - i <= 34 {
            e += 1;
        }
        e
    };
    if b.get(run_end).is_some_and(|&x| is_word(x) || x == b'@') {
        return None;
    }
    if run_end - i != 4 {
        return iban_valid(&b[i..run_end]).then_some(run_end);
    }
    // Space-grouped: groups of four, the last one shorter.
    let mut chars: Vec<u8> = b[i..run_end].to_vec();
    let mut ends: Vec<(usize, usize)> = Vec::new(); // (end offset, chars len)
    let mut e = run_end;
    while e + 1 < n && b[e] == b' ' && b[e + 1].is_ascii_alphanumeric() {
        let gs = e + 1;
        let mut g = gs;
        while g < n && b[g].is_ascii_alphanumeric() && g - gs <= 4 {
            g += 1;
        }
        let gl = g - gs;
        if gl > 4 || chars.len() + gl > 34 || b.get(g).is_some_and(|&x| is_word(x) || x == b'@') {
            break;
        }
        chars.extend_from_slice(&b[gs..g]);
        e = g;
        ends.push((e, chars.len()));
        if gl < 4 {
            break;
        }
    }
    ends.iter()
        .rev()
        .find(|&&(_, l)| iban_valid(&chars[..l]))
        .map(|&(e, _)| e)
}

// ---------------------------------------------------------------- secrets

fn run_of(b: &[u8], from: usize, ok: impl Fn(u8) -> bool) -> usize {
    let mut e = from;
    while e < b.len() && ok(b[e]) {
        e += 1;
    }
    e
}

fn secret_at(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    if !matches!(rest.first(), Some(b's' | b'A' | b'g' | b'x')) {
        return None;
    }
    let key_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let end = if rest.starts_with(b"sk-") {
        let e = run_of(b, i + 3, key_char);
        (e - (i + 3) >= 20).then_some(e)
    } else if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") {
        let e = run_of(b, i + 4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
        (e - (i + 4) == 16).then_some(e)
    } else if rest.len() > 4
        && rest.starts_with(b"gh")
        && matches!(rest[2], b'p' | b'o' | b'u' | b's' | b'r')
        && rest[3] == b'_'
    {
        let e = run_of(b, i + 4, |c| c.is_ascii_alphanumeric());
        (e - (i + 4) >= 30).then_some(e)
    } else if rest.starts_with(b"github_pat_") {
        let e = run_of(b, i + 11, |c| c.is_ascii_alphanumeric() || c == b'_');
        (e - (i + 11) >= 20).then_some(e)
    } else if rest.len() > 5
        && rest.starts_with(b"xox")
        && matches!(rest[3], b'a' | b'b' | b'p' | b'r' | b's')
        && rest[4] == b'-'
    {
        let e = run_of(b, i + 5, |c| c.is_ascii_alphanumeric() || c == b'-');
        (e - (i + 5) >= 10).then_some(e)
    } else {
        None
    }?;
    if b.get(end).is_some_and(|&x| is_word(x)) {
        return None;
    }
    Some(end)
}

// ---------------------------------------------------------------- private key blocks

pub(crate) const KEY_BEGIN: &[u8] = b"-----BEGIN ";
pub(crate) const KEY_END: &[u8] = b"PRIVATE KEY-----";
const KEY_LABEL_MAX: usize = 40;

fn key_label_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' '
}

/// If a complete `-----BEGIN ... PRIVATE KEY-----` header starts at `i`, its end.
pub(crate) fn key_header_at(b: &[u8], i: usize) -> Option<usize> {
    if !b[i..].starts_with(KEY_BEGIN) {
        return None;
    }
    let j = i + KEY_BEGIN.len();
    let mut k = j;
    while k < b.len() && k - j <= KEY_LABEL_MAX {
        if b[k..].starts_with(KEY_END) {
            return Some(k + KEY_END.len());
        }
        if !key_label_char(b[k]) {
            return None;
        }
        k += 1;
    }
    None
}

/// Whether the text from `i` (a `-----BEGIN` prefix) could still grow into a key header.
pub(crate) fn key_header_open(b: &[u8], i: usize) -> bool {
    let rest = &b[i..];
    if rest.len() <= KEY_BEGIN.len() {
        return KEY_BEGIN.starts_with(rest);
    }
    if !rest.starts_with(KEY_BEGIN) {
        return false;
    }
    let label = &rest[KEY_BEGIN.len()..];
    for k in 0..label.len().min(KEY_LABEL_MAX + 1) {
        let tail = &label[k..];
        if tail.len() < KEY_END.len() && KEY_END.starts_with(tail) {
            return true;
        }
        if !key_label_char(label[k]) {
            return false;
        }
    }
    label.len() <= KEY_LABEL_MAX
}

/// Position of the first `c` in `hay[from..]` (eight bytes at a time).
pub(crate) fn find_byte(hay: &[u8], c: u8, from: usize) -> Option<usize> {
    use crate::swar;
    let rest = hay.get(from..)?;
    let mut i = 0;
    while let Some(x) = swar::word(rest, i) {
        let z = swar::eq(x, c);
        if z != 0 {
            return Some(from + i + swar::first(z));
        }
        i += 8;
    }
    rest.get(i..)?
        .iter()
        .position(|&x| x == c)
        .map(|p| from + i + p)
}

pub(crate) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i < hay.len() {
        let q = find_byte(hay, first, i)?;
        if hay[q..].starts_with(needle) {
            return Some(q);
        }
        i = q + 1;
    }
    None
}

/// Private key blocks as (start, end): header to the closing `PRIVATE KEY-----`, or to the end
/// of the text when never closed.
pub(crate) fn key_blocks(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find(b, KEY_BEGIN, from) {
        match key_header_at(b, p) {
            Some(h) => {
                let e = find(b, KEY_END, h)
                    .map(|q| q + KEY_END.len())
                    .unwrap_or(b.len());
                out.push((p, e));
                from = e;
            }
            None => from = p + 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn found(text: &str) -> Vec<(PiiKind, String)> {
        let mut out = Vec::new();
        scan(text, 0, &[true; 7], &mut out);
        out.iter()
            .map(|m| (m.kind, text[m.start..m.end].to_string()))
            .collect()
    }

    fn check(kind: PiiKind, cases: &[(&str, Option<&str>)]) {
        for &(text, want) in cases {
            let got = found(text);
            let hit = got
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, v)| v.as_str());
            assert_eq!(hit, want, "{kind:?} in {text:?}: got {got:?}");
        }
    }

    /// The previous context lookup (one pass per list), as the reference for the indexed one.
    fn context_reference(b: &[u8], start: usize) -> Context {
        fn last_of(hay: &[u8], words: &[&[u8]], word_start: bool) -> Option<usize> {
            (0..hay.len()).rev().find(|&p| {
                !(word_start && p > 0 && hay[p - 1].is_ascii_alphabetic())
                    && words.iter().any(|w| starts_with_bytes(&hay[p..], w))
            })
        }
        let (buf, n) = context_window(b, start);
        let hay = &buf[..n];
        context_from(
            last_of(hay, PHONE_WORDS, true).max(last_of(hay, PHONE_WORDS_IN, false)),
            last_of(hay, CARD_WORDS, false),
            last_of(hay, NEGATIVE_WORDS, false),
            last_of(hay, SSN_WORDS, false),
            last_of(hay, VERSION_WORDS, false),
            last_of(hay, ADDRESS_WORDS, false),
        )
    }

    #[test]
    fn find_byte_equals_position() {
        let hay = b"ab-c--d\xc3\xa4-----BEGIN x---\x80\x7f-zz";
        for c in [b'-', b'a', b'z', b'B', 0x80, 0x7f, 0xc3, b'q', 0] {
            for from in 0..=hay.len() + 1 {
                let want = hay
                    .get(from..)
                    .and_then(|r| r.iter().position(|&x| x == c))
                    .map(|p| p + from);
                assert_eq!(find_byte(hay, c, from), want, "{c:#x} from {from}");
            }
        }
        assert_eq!(find(hay, KEY_BEGIN, 0), Some(9));
        assert_eq!(find(b"----", KEY_BEGIN, 0), None);
    }

    #[test]
    fn indexed_context_equals_reference() {
        let all: Vec<&[u8]> = LISTS.iter().flat_map(|l| l.iter().copied()).collect();
        assert_eq!(all.len(), N_WORDS);
        let idx = &WORD_INDEX;
        for w in &all {
            let c = w[0] as usize;
            let bucket = &idx.words[idx.start[c] as usize..idx.start[c + 1] as usize];
            assert!(bucket.iter().any(|x| x.word == *w), "{w:?} not indexed");
        }
        let pieces: Vec<&[u8]> = all
            .iter()
            .copied()
            .chain([
                &b" "[..],
                b"x",
                b"[",
                b"]",
                b"PHONE",
                b"Order",
                b"\xc3\xbc",
                b".",
                b"12",
                b"ca",
            ])
            .collect();
        let mut rng = crate::testutil::XorShift(0x9E37_79B9_7F4A_7C15u64);
        let mut next = |n: usize| rng.below(n);
        for _ in 0..5000 {
            let mut t: Vec<u8> = Vec::new();
            for _ in 0..next(12) {
                t.extend_from_slice(pieces[next(pieces.len())]);
            }
            for start in 0..=t.len() {
                let (a, b) = (context_before(&t, start), context_reference(&t, start));
                assert_eq!(
                    (a.phone, a.card, a.negative, a.ssn, a.version, a.address),
                    (b.phone, b.card, b.negative, b.ssn, b.version, b.address),
                    "{:?} at {start}",
                    String::from_utf8_lossy(&t)
                );
            }
        }
    }

    #[test]
    fn email() {
        check(
            PiiKind::Email,
            &[
                (
                    "write to jane.doe+x@example.co.uk today",
                    Some("jane.doe+x@example.co.uk"),
                ),
                ("UtaKortig@jourrapide.com", Some("UtaKortig@jourrapide.com")),
                (
                    "mail: a_b-c%d@sub.domain.de.",
                    Some("a_b-c%d@sub.domain.de"),
                ),
                ("<x@y.org>", Some("x@y.org")),
                ("not an email: user@localhost", None),
                ("@handle and foo@ bar", None),
                ("x@y.c", None),
                ("a@b@c.com", Some("b@c.com")),
            ],
        );
    }

    #[test]
    fn phone() {
        check(
            PiiKind::Phone,
            &[
                ("call 555-123-4567 now", Some("555-123-4567")),
                ("+1 (555) 123-4567", Some("+1 (555) 123-4567")),
                ("555.123.4567", Some("555.123.4567")),
                ("(978)645-9740x11144", Some("(978)645-9740x11144")),
                ("001-748-088-2851x818", Some("001-748-088-2851x818")),
                ("+1-984-182-0190", Some("+1-984-182-0190")),
                ("reach me at 2813882583", Some("2813882583")),
                ("Tel. +49 30 12345678", Some("+49 30 12345678")),
                ("Telefon: 030 1234567", Some("030 1234567")),
                ("(030) 123 4567", Some("(030) 123 4567")),
                ("Handy 0171-1234567", Some("0171-1234567")),
                ("+49(0)1234 567890", Some("+49(0)1234 567890")),
                ("+49 (0) 1234 567890", Some("+49 (0) 1234 567890")),
                ("(04321) 12345", Some("(04321) 12345")),
                ("04321 123456", Some("04321 123456")),
                ("030/1234567", Some("030/1234567")),
                ("+46 (0)8 928 571 38", Some("+46 (0)8 928 571 38")),
                ("x\\,+447700 921 916-Fax", Some("+447700 921 916")),
                ("Can someone call me on 9472 7916", Some("9472 7916")),
                // near misses
                ("order 5551234567 shipped", None),
                ("tracking number 1Z 999 AA1 0123 4567 84", None),
                ("On 2007-01-17 23:08:55 it began", None),
                ("born 12.05.1990 in Ulm", None),
                ("from 2019-2020", None),
                ("pi is 3.14159265", None),
                ("the address is 17151 2450 Crown St", None),
                ("ZIP: 75534-030", None),
                ("1.000.000 Euro", None),
                ("only 12345 here", None),
                ("version 1.2.3 build 4567", None),
            ],
        );
    }

    /// Formats the dev set lacks (hand-written values and locales): an escaped line break (a
    /// backslash and an `n`) glued to the number, extensions, dotted and bracketed national
    /// formats.
    #[test]
    fn phone_unseen_formats() {
        check(
            PiiKind::Phone,
            &[
                ("Front desk\\n312-555-0148-Front", Some("312-555-0148")),
                ("Kontakt:\\n(0711) 2938-412", Some("(0711) 2938-412")),
                ("line one\\t+33 4 72 18 90 55", Some("+33 4 72 18 90 55")),
                (
                    "hours 9-5\\r\\n617.555.0199x42 after",
                    Some("617.555.0199x42"),
                ),
                ("Direct: 415-555-0172 x318", Some("415-555-0172 x318")),
                (
                    "call 212.555.0110 ext.77 today",
                    Some("212.555.0110 ext.77"),
                ),
                (
                    "Tel 0049 89 2019 3344 EXT204",
                    Some("0049 89 2019 3344 EXT204"),
                ),
                ("Fixe: 04.78.62.19.33", Some("04.78.62.19.33")),
                ("Numero 02.38.47.61.90 le soir", Some("02.38.47.61.90")),
                ("Office (039) 5182-667", Some("(039) 5182-667")),
                ("Büro (0351) 48 27 19", Some("(0351) 48 27 19")),
                // still not phones
                ("the \\n12.05.1990 entry", None),
                ("see section 4.2.1.3 of the spec", None),
                ("value\\n3.14159265", None),
            ],
        );
    }

    /// A strong context word wins over the area-number rules; without it they still hold.
    #[test]
    fn ssn_with_context_word_outside_issued_range() {
        check(
            PiiKind::Ssn,
            &[
                (
                    "Her social security number is 917-38-2264",
                    Some("917-38-2264"),
                ),
                ("SSN: 666-21-9043.", Some("666-21-9043")),
                ("ssn 000-44-1290", Some("000-44-1290")),
                ("Social Security No. 953 07 6612", Some("953 07 6612")),
                ("my SSN\\n972-15-3384", Some("972-15-3384")),
                ("ticket 917-38-2264", None),
                ("917-38-2264", None),
            ],
        );
    }

    /// A word right after the number that names the line (`-Office`, ` fax`, ` mobile`) makes
    /// it a phone, as in contact blocks whose address lines hold other numbers; the number is
    /// then the tail of a longer run (postal code first), and the word beats a negative word
    /// before it and the card rule.
    #[test]
    fn phone_line_word_after() {
        check(
            PiiKind::Phone,
            &[
                ("Suite 9\n517 38 204 office", Some("517 38 204")),
                ("Unit 4 Box 12\\n95568064 fax", Some("95568064")),
                ("Kongevej 7\\n4564 2990-Fax", Some("4564 2990")),
                ("Apt. 31\n61 73 48 mobile", Some("61 73 48")),
                (
                    "Str. Mare 5, 162749 0784 016 074-Office",
                    Some("0784 016 074"),
                ),
                ("Showcase Lane 4\n2811 4930-Fax", Some("2811 4930")),
                ("Calle 3\n573108426616-Fax", Some("573108426616")),
                ("Suite 9\n517 38 204 (mobile)", Some("517 38 204")),
                // a word that only starts like one, or none
                ("Suite 9\n517 38 204 officer", None),
                ("Unit 4\n95568064 faxes", None),
                ("Unit 4\n95568064 units", None),
            ],
        );
        check(PiiKind::CreditCard, &[("Calle 3\n573108426616-Fax", None)]);
    }

    /// An area code set apart by another separator than the subscriber number's groups.
    #[test]
    fn phone_mixed_separators() {
        check(
            PiiKind::Phone,
            &[
                ("Tel. 08-517 204 93", Some("08-517 204 93")),
                ("Ring 0431-58 20 17 tonight", Some("0431-58 20 17")),
                ("Phone: 06-7/412 5839", Some("06-7/412 5839")),
                ("Tel: 0147 208-361", Some("0147 208-361")),
                ("Telefone: 21 3387-4410", Some("21 3387-4410")),
                ("Kontor\\n0252-41 86 30-Office", Some("0252-41 86 30")),
                // a house number and a postal code, an amount, a date and a time
                ("Rua das Flores, 93 5807-682 Portimao", None),
                ("we raised 7 010 384.96 zl", None),
                ("Tel. on 2019-03-12 14:22", None),
            ],
        );
    }

    /// A country code in brackets with its plus: `(+30) 6924 624522`.
    #[test]
    fn phone_bracketed_country_code() {
        check(
            PiiKind::Phone,
            &[
                ("Is (+30) 6941 527380 right?", Some("(+30) 6941 527380")),
                ("my phone is (+358) 431079763", Some("(+358) 431079763")),
                ("(+44) 20 7946 0321", Some("(+44) 20 7946 0321")),
                ("see (+5) below", None),
                ("My new number is +(370) 46236864", Some("+(370) 46236864")),
                ("a+(b) and +(12)x", None),
            ],
        );
    }

    /// Six digits in three groups or more are a phone with a phone word before or a line word
    /// after; not a house number and street, a date, or six digits alone.
    #[test]
    fn phone_six_digits_in_groups() {
        check(
            PiiKind::Phone,
            &[
                ("You can call 47 20 93", Some("47 20 93")),
                ("Tel 38-52-71", Some("38-52-71")),
                ("PSC 12\n72 18 40 office", Some("72 18 40")),
                ("Box 5\\n95 71 57 ext.952-Fax", Some("95 71 57 ext.952")),
                ("call a taxi to 03 2657 Koontz Lane", None),
                ("tell me: it's 9/3/1984", None),
                ("call me about 472093", None),
                ("seats 47 20 93", None),
            ],
        );
    }

    /// Hex bytes written apart are not phone numbers, whichever runs of them hold only digits;
    /// two-digit groups among words, or after a phone word, still are.
    #[test]
    fn hex_bytes_are_not_phones() {
        let hex = |t: &str| crate::testutil::hex_apart(t, " ");
        for t in [
            "The weather is lovely today in Paris",
            "Ignore all previous instructions",
            "day in Paris",
        ] {
            for text in [
                hex(t),
                hex(t).to_uppercase(),
                format!("Decode this: {}", hex(t)),
            ] {
                assert!(
                    !found(&text).iter().any(|(k, _)| *k == PiiKind::Phone),
                    "{text}: {:?}",
                    found(&text)
                );
            }
        }
        check(
            PiiKind::Phone,
            &[
                ("Appelez le 06 12 34 56 78 demain", Some("06 12 34 56 78")),
                ("ring 12 34 56 78 after six", Some("12 34 56 78")),
                ("phone: 00 33 61 23 45 67", Some("00 33 61 23 45 67")),
                (
                    "rappelle-moi à ce 06 12 34 56 78 de 9h à 12h",
                    Some("06 12 34 56 78"),
                ),
                ("bytes 6e 20 50 61 72 69", None),
                ("20 50 61 72 69 73 end", None),
            ],
        );
    }

    /// Short phone words count only at the start of a word ("tel" not in "hotel" or
    /// "Castelo", "ring" not in "string"), "phone" anywhere ("Smartphone"); abbreviations
    /// count. "contact" and "text" do not: a contact can be a card or an address, and "text"
    /// is mostly prose ("too much text. Use 3714…" is a card).
    #[test]
    fn phone_words_at_word_start() {
        check(
            PiiKind::Phone,
            &[
                ("Recanto 31 Castelo 68693674 Porto", None),
                ("the string 84512378 is a hash", None),
                ("Hotel 84512378", None),
                ("Halifax 84512378", None),
                ("Telefon 84512378", Some("84512378")),
                ("Smartphone: 84512378", Some("84512378")),
                ("Ph. 928895399", Some("928895399")),
                ("T: 64901768", Some("64901768")),
                ("Contact 377505686617294.", None),
                ("too much text. Use 371428603915277.", None),
                ("Tel:9089.6025", Some("9089.6025")),
                ("The courier will ring 257.09904 today", Some("257.09904")),
                ("call me. Coordinates 43.819436, 134.738388", None),
            ],
        );
        check(
            PiiKind::CreditCard,
            &[(
                "too much text. Use 371428603915277.",
                Some("371428603915277"),
            )],
        );
    }

    /// Numbers that are not phones although a phone word is near: amounts (currency sign or
    /// code before, a comma after dotted thousands), build, badge and account numbers, numbers
    /// after "IBAN", postal codes with a trunk zero.
    #[test]
    fn phone_near_misses_amounts_accounts_postcodes() {
        check(
            PiiKind::Phone,
            &[
                ("call me. We raised 5.399.790,20 EUR", None),
                ("whatsapp me. We raised \u{a3}6642639 in 2012", None),
                ("call me. I paid EUR 12345678", None),
                ("call me. Total \u{20ac} 4.500.000", None),
                (
                    "Tel:6981 206448\\nRelease 1.17 (build 70874868)",
                    Some("6981 206448"),
                ),
                (
                    "Phone: 079 583705 Room 7, badge 2406387",
                    Some("079 583705"),
                ),
                ("My account number is 8681565180", None),
                (
                    "Account holder Ann Lee IBAN GB48 GOBH 2882 0855 9680 7",
                    None,
                ),
                ("07832-414 da Rocha / PB", None),
                ("Q. ROO 02419-6947", None),
            ],
        );
        for text in [
            "Tel:6981 206448\\nRelease 1.17 (build 70874868)",
            "Phone: 079 583705 Room 7, badge 2406387",
        ] {
            let got = found(text);
            assert_eq!(got.len(), 1, "{text:?}: {got:?}");
        }
    }

    /// Nine digits after a trunk zero are a phone without a phone word (ten and eleven digits
    /// already were), not after a negative word.
    #[test]
    fn phone_nine_digits_with_trunk_zero() {
        check(
            PiiKind::Phone,
            &[
                ("My new number is 012231927, the old one", Some("012231927")),
                ("order 012231927 shipped", None),
                ("only 12231927 here", None),
            ],
        );
    }

    /// "SSN" counts when it is the nearest context word: not for a number after a later
    /// phone or negative word.
    #[test]
    fn ssn_context_is_the_nearest_word() {
        let text = "my ssn is 181-35-8141 and my phone is 029764753";
        let got = found(text);
        assert!(
            got.contains(&(PiiKind::Ssn, "181-35-8141".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&(PiiKind::Phone, "029764753".into())),
            "{got:?}"
        );
        let text = "her social security no. is 666-43-5466 Reference 301931256";
        let got = found(text);
        assert!(
            got.contains(&(PiiKind::Ssn, "666-43-5466".into())),
            "{got:?}"
        );
        assert!(!got.iter().any(|(_, v)| v == "301931256"), "{got:?}");
        check(
            PiiKind::Ssn,
            &[
                ("SSN: 948641747", Some("948641747")),
                ("Social Security Number:\n948 64 1747", Some("948 64 1747")),
            ],
        );
    }

    #[test]
    fn ssn() {
        check(
            PiiKind::Ssn,
            &[
                ("Here's my SSN: 460-89-9847", Some("460-89-9847")),
                ("ssn 078 05 1121", Some("078 05 1121")),
                ("social security number 123456789", Some("123456789")),
                ("000-12-3456", None),
                ("666-12-3456", None),
                ("912-12-3456", None),
                ("123-00-4567", None),
                ("123-45-0000", None),
                ("id 123456789", None),
            ],
        );
    }

    #[test]
    fn credit_card() {
        check(
            PiiKind::CreditCard,
            &[
                ("card 4111 1111 1111 1111", Some("4111 1111 1111 1111")),
                ("4111-1111-1111-1111", Some("4111-1111-1111-1111")),
                ("My card 4131034282458809939", Some("4131034282458809939")),
                ("card number 630427373398", Some("630427373398")),
                ("amex 3782 822463 10005", Some("3782 822463 10005")),
                ("card number 347415977307943", Some("347415977307943")),
                ("4111111111111112", None), // Luhn failure
                ("4111 1111 1111 1112", None),
                ("12345678901234567890123", None),
            ],
        );
        // A 16-digit Luhn failure is nothing at all, not a phone either.
        assert!(found("4111111111111112").is_empty());
    }

    #[test]
    fn iban() {
        check(
            PiiKind::Iban,
            &[
                (
                    "IBAN DE89370400440532013000.",
                    Some("DE89370400440532013000"),
                ),
                (
                    "IBAN DE89 3704 0044 0532 0130 00 bitte",
                    Some("DE89 3704 0044 0532 0130 00"),
                ),
                (
                    "my iban is gb42nawi04454264788619",
                    Some("gb42nawi04454264788619"),
                ),
                (
                    "GB29 NWBK 6016 1331 9268 19",
                    Some("GB29 NWBK 6016 1331 9268 19"),
                ),
                ("DE89370400440532013001", None), // checksum
                ("DE8937040044053201300", None),  // length
                ("XX12 is not", None),
            ],
        );
    }

    #[test]
    fn ip_address() {
        check(
            PiiKind::IpAddress,
            &[
                ("from 192.168.1.20:8080", Some("192.168.1.20")),
                ("ip 8.8.8.8.", Some("8.8.8.8")),
                ("1.2.3.4", Some("1.2.3.4")),
                ("999.1.1.1", None),
                ("version 1.2.3.4", None),
                ("1.2.3", None),
                ("01.02.03.04", None),
                (
                    "addr 2001:db8::8a2e:370:7334",
                    Some("2001:db8::8a2e:370:7334"),
                ),
                ("fe80::1 link", Some("fe80::1")),
                (
                    "d80:e4b5:79da:6cf6:71f3:51f7:9161:c319",
                    Some("d80:e4b5:79da:6cf6:71f3:51f7:9161:c319"),
                ),
                ("::ffff:192.168.1.1", Some("::ffff:192.168.1.1")),
                ("std::vector and a::b", None),
                ("at 12:30:45", None),
                ("mac 00:1a:2b:3c:4d:5e", None),
                ("1:2:3:4:5:6:7:8:9", None),
            ],
        );
    }

    #[test]
    fn secrets() {
        check(
            PiiKind::Secret,
            &[
                (
                    "key sk-proj-abcdefghijklmnopqrstuvwx",
                    Some("sk-proj-abcdefghijklmnopqrstuvwx"),
                ),
                ("AKIAIOSFODNN7EXAMPLE", Some("AKIAIOSFODNN7EXAMPLE")),
                (
                    "ghp_0123456789abcdefghijABCDEFGHIJ012345",
                    Some("ghp_0123456789abcdefghijABCDEFGHIJ012345"),
                ),
                ("xoxb-1234567890-abcdef", Some("xoxb-1234567890-abcdef")),
                ("sk-short", None),
                ("task-abcdefghijklmnopqrstuvwxyz", None),
                ("AKIA1234", None),
            ],
        );
        let t = "a\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nb";
        let blocks = key_blocks(t);
        assert_eq!(blocks.len(), 1);
        assert_eq!(
            &t[blocks[0].0..blocks[0].1],
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
        );
        assert!(key_blocks("-----BEGIN CERTIFICATE-----\nabc").is_empty());
        assert_eq!(
            key_blocks("-----BEGIN PRIVATE KEY-----\nabc"),
            vec![(0, 31)]
        );
    }

    #[test]
    fn spans_are_sorted_and_disjoint() {
        let t = "a@b.de 555-123-4567 4111111111111111 DE89370400440532013000 10.0.0.1 x";
        let mut out = Vec::new();
        scan(t, 0, &[true; 7], &mut out);
        assert_eq!(out.len(), 5);
        assert!(out.windows(2).all(|w| w[0].end <= w[1].start));
    }

    #[test]
    fn no_panic_on_odd_input() {
        let inputs = [
            "",
            "@",
            ":",
            "::",
            "(",
            "+",
            "+(",
            "((1",
            "1)",
            "ü@ü.de",
            "ß1234567890ß",
            "[",
            "-----BEGIN ",
            "x@y.zz\u{0}",
            "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5",
            "€€€::€€",
            "DE89 ",
            "AKIA",
            "sk-",
        ];
        for t in inputs {
            let mut out = Vec::new();
            scan(t, 0, &[true; 7], &mut out);
            for m in &out {
                assert!(t.is_char_boundary(m.start) && t.is_char_boundary(m.end));
            }
        }
    }
}
