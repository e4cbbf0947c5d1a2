//! Word-level phrase rules: a tokenizer over the normalised text, a trie of rule words, and a
//! matcher for short word sequences with bounded gaps.
//!
//! A rule is written as slots separated by spaces, e.g. `ignor* ~3 previous|prior ~2 rule*`:
//! each slot is a set of alternatives (`word`, or `stem*` for a prefix match, or a CJK string
//! matched as a substring of a CJK run), `@set` includes a named set, and `~N` allows up to N
//! other tokens before the next slot (default 0: adjacent). Rules are parsed once in
//! `compile`; scanning walks the trie once per token, so the cost is linear in the text and
//! independent of the number of rules.
//!
//! Hot path (every byte of every inspected message goes through `tokenize`): a lowercase word
//! is walked down the trie while it is read (its first three letters in one lookup of
//! `Lexicon::head`, then one `Lexicon::trans` row per letter), and the walk's deepest node
//! gives the word's entries as one precomputed range (`NodeInfo::cum_s`). Only words with
//! entries and CJK characters are kept for the matcher; other tokens are merely counted.
//! Words with digits, joiners, `@`/`$` or non-ASCII letters take the general path.

use super::normalize::{char_at, is_cjk};
use super::rules::Family;

/// Records rule-word hits as the tokens go by. Later-slot words are only recorded shortly
/// after their rule's first word was seen: common words ("you", "your", "the") would otherwise
/// flood the hit list.
pub struct HitSink<'a> {
    /// Per rule (masked to [`MAX_RULES`], which `Lexicon::build` checks), one past the last
    /// token a later-slot word may start at to be recorded: the latest slot-0 word's token plus
    /// the rule's reach plus one (0: no slot-0 word yet). Tokens arrive in nondecreasing order
    /// (`cand_hits` walks candidates in token order), so this one comparison is the window
    /// "at most `reach` tokens after the latest slot-0 word".
    until: [u32; MAX_RULES],
    reach: &'a [u32],
    out: &'a mut Vec<WordHit>,
}

impl<'a> HitSink<'a> {
    pub fn new(lex: &'a Lexicon, out: &'a mut Vec<WordHit>) -> HitSink<'a> {
        HitSink {
            until: [0; MAX_RULES],
            reach: &lex.reach,
            out,
        }
    }

    /// The `(rule, slot)` entries of tokens `a..b` (normalised `ns..ne`).
    #[inline]
    fn push(&mut self, list: &[(u16, u8)], a: u32, b: u32, ns: u32, ne: u32) {
        let len = u8::try_from(b.saturating_sub(a)).unwrap_or(u8::MAX);
        for &(r, s) in list {
            let i = usize::from(r) & (MAX_RULES - 1);
            let keep = if s == 0 {
                let rr = self.reach.get(usize::from(r)).copied().unwrap_or(0);
                self.until[i] = a.saturating_add(rr).saturating_add(1);
                true
            } else {
                a < self.until[i]
            };
            if keep {
                self.out.push(WordHit {
                    rule: r,
                    slot: s,
                    len,
                    a,
                    ns,
                    ne,
                });
            }
        }
    }
}

/// A token `phrase_matches` looks at: `(rule, slot)` entries `Lexicon::cum[es..ee]` of a word,
/// or a group of `ee` adjacent CJK characters, tokens `idx..idx + ee` (`es == u32::MAX`; at
/// most [`CJK_GROUP`] characters, so 900 KB of CJK text is not 300,000 records).
#[derive(Debug, Clone, Copy)]
struct Cand {
    idx: u32,
    ns: u32,
    ne: u32,
    es: u32,
    ee: u32,
}

/// Tokenised text plus evasion statistics. Only the tokens later stages look at are kept;
/// the others are merely counted (their indices still count in rule gaps).
pub struct Tokens {
    /// Number of tokens.
    pub count: u32,
    /// The tokens with lexicon entries and every CJK token, in token order, for `word_hits`.
    cand: Vec<Cand>,
    /// Indices of the tokens where leetspeak digits were mapped to letters, ascending.
    pub leet: Vec<u32>,
    /// Normalised ranges of words spelled out letter by letter or split by punctuation.
    pub spaced_runs: Vec<(usize, usize)>,
    /// Positions of bytes other scanners start from: `<`, `[`, `]`, `#`, `%`, `\\`, `\n`.
    pub specials: Vec<u32>,
    /// Normalised ranges of the tokens of three bytes whose word is "dan".
    pub dan: Vec<(u32, u32)>,
    /// Normalised ranges of the non-CJK tokens of 16 bytes or more (encoded payloads).
    pub long: Vec<(u32, u32)>,
    /// Normalised ranges of identifiers whose words are joined by `_`, `-`, `.` or `/`
    /// (`ignore_all_previous_instructions`, `reveal-system-prompt`): the main token stream holds
    /// each as one glued word; [`Lexicon::expand_idents`] reads its words.
    pub ident_runs: Vec<(usize, usize)>,
    /// The length of the text being tokenised, for [`Tokens::push_cand`]'s growth.
    text_len: usize,
}

impl Tokens {
    fn new() -> Tokens {
        Tokens {
            count: 0,
            text_len: 0,
            cand: Vec::new(),
            leet: Vec::new(),
            spaced_runs: Vec::new(),
            specials: Vec::new(),
            dan: Vec::new(),
            long: Vec::new(),
            ident_runs: Vec::new(),
        }
    }

    /// Appends a candidate of the main token stream.
    #[inline]
    fn push_cand(&mut self, c: Cand) {
        if self.cand.len() == self.cand.capacity() {
            self.grow_cand(c.ne as usize);
        }
        self.cand.push(c);
    }

    /// Grows the candidates to what the text's density so far projects for its whole length
    /// (an eighth more), and at least by a quarter. Doubling instead held the old and the new
    /// buffers at once: on 900 KB of "how to make a bomb " (every word a rule word, 242,000
    /// candidates of 20 bytes) the VM grew by 17 MiB, 14 of them the candidates' last
    /// reallocation, to a buffer of 460,000.
    #[cold]
    #[inline(never)]
    fn grow_cand(&mut self, at: usize) {
        let have = self.cand.len() as u64;
        let projected = have.saturating_mul(self.text_len as u64) / (at.max(1) as u64);
        let target = (projected + projected / 8)
            .min(self.text_len as u64 / 2 + 16)
            .max(have + have / 4 + 16);
        self.cand
            .reserve_exact(usize::try_from(target - have).unwrap_or(usize::MAX));
    }

    /// Whether a token of `ts..te` had leetspeak mapped.
    pub fn any_leet(&self, ts: u32, te: u32) -> bool {
        let k = self.leet.partition_point(|&x| x < ts);
        self.leet.get(k).is_some_and(|&x| x < te)
    }
}

/// Token positions between two identifiers' words in [`Lexicon::expand_idents`].
const IDENT_GAP: u32 = 64;

fn is_joiner(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'_' | b'.' | b'*' | b'\'' | b'`' | b'~' | b'^' | b'+' | b'|' | b'/'
    )
}

fn leet(b: u8) -> u8 {
    match b {
        b'0' => b'o',
        b'1' => b'i',
        b'3' => b'e',
        b'4' => b'a',
        b'5' => b's',
        b'7' => b't',
        b'@' => b'a',
        b'$' => b's',
        _ => b,
    }
}

const C_WORD: u8 = 1;
const C_SPECIAL: u8 = 2;
const C_JOINER: u8 = 4;
const C_HIGH: u8 = 8;

/// Byte classes for the tokenizer's fast paths: 0 means a byte that neither starts nor
/// continues a word and is not one of the `specials`.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut v = 0u8;
        if c.is_ascii_alphanumeric() || c == b'@' || c == b'$' {
            v |= C_WORD;
        }
        if matches!(c, b'<' | b'[' | b']' | b'#' | b'%' | b'\\' | b'\n') {
            v |= C_SPECIAL;
        }
        if matches!(
            c,
            b'-' | b'_' | b'.' | b'*' | b'\'' | b'`' | b'~' | b'^' | b'+' | b'|' | b'/'
        ) {
            v |= C_JOINER;
        }
        if c >= 0x80 {
            v |= C_HIGH;
        }
        t[b] = v;
        b += 1;
    }
    t
};

/// Column of a byte in `Lexicon::trans`: 1 to 26 for `a` to `z`, 0 for every other byte.
static LETTER: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = b'a';
    while b <= b'z' {
        t[b as usize] = b - b'a' + 1;
        b += 1;
    }
    t
};

/// Streaming detection of runs of single-character tokens ("i g n o r e"): a run grows
/// while each next token is single and starts at most 3 bytes after the previous one ends;
/// runs of 4 tokens or more are kept (as normalised ranges).
struct RunTracker {
    /// Token index where the current run starts (`u32::MAX`: no run).
    start: u32,
    start_ns: u32,
    prev_ne: u32,
    runs: Vec<(usize, usize)>,
}

impl RunTracker {
    fn new() -> RunTracker {
        RunTracker {
            start: u32::MAX,
            start_ns: 0,
            prev_ne: 0,
            runs: Vec::new(),
        }
    }

    /// Token `k` of `ns..ne`, single-character or not.
    #[inline(always)]
    fn add(&mut self, k: u32, ns: u32, ne: u32, single: bool) {
        if single {
            if self.start != u32::MAX && ns.saturating_sub(self.prev_ne) <= 3 {
                self.prev_ne = ne;
                return;
            }
            self.close(k);
            self.start = k;
            self.start_ns = ns;
            self.prev_ne = ne;
        } else if self.start != u32::MAX {
            self.close(k);
        }
    }

    /// Ends the current run before token `end`.
    #[inline]
    fn close(&mut self, end: u32) {
        if self.start != u32::MAX && end - self.start >= 4 {
            self.runs
                .push((self.start_ns as usize, self.prev_ne as usize));
        }
        self.start = u32::MAX;
    }
}

/// A word-trie node while building: sparse children, entries.
#[derive(Default)]
struct Node {
    children: Vec<(u8, u32)>,
    exact: Vec<(u16, u8)>,
    prefix: Vec<(u16, u8)>,
}

pub struct Rule {
    pub id: &'static str,
    pub family: Family,
    /// Max gap (tokens) before each slot; slot 0's is unused.
    pub gaps: Vec<u8>,
    /// Longest token distance from a slot-0 start to any later slot's start.
    pub reach: u32,
}

pub struct Lexicon {
    /// Compact per-node data for the hot walk, one record per node.
    info: Vec<NodeInfo>,
    /// Flattened children: node k's children are `flat[info[k].cs..info[k].ce]`.
    flat: Vec<(u8, u32)>,
    /// Flattened `(rule, slot)` word entries of all nodes (exact and prefix ranges).
    entries: Vec<(u16, u8)>,
    /// `Rule::reach` per rule, for the hot loop.
    reach: Vec<u32>,
    /// Cumulative entry lists (see `NodeInfo::cum_s`).
    cum: Vec<(u16, u8)>,
    /// `(cum_s, cum_p, cum_x)` of every node, for the tokenizer.
    /// The fourth value is 1 for a node on the path of a [`TYPO_TARGETS`] word (not the root):
    /// a word without entries whose walk ends there may be a misspelling of it.
    cum_of: Vec<(u32, u32, u32, u32)>,
    /// Lowercase-letter transitions: node k's child on letter `c` is `trans[k][LETTER[c]]`
    /// (0: none; column 0, where every other byte goes, is always 0). Row 0 is the root.
    /// Other bytes go through `root` and `flat`.
    trans: Box<[[u16; 32]; TRANS_ROWS]>,
    /// The walk over a word's first three letters at once: index `(l0 * 27 + l1) * 27 + l2`
    /// of their `LETTER` columns (0 past the word's letters), value the node reached (low 14
    /// bits) and how many of those letters the walk consumed (high 2 bits).
    head: Vec<u16>,
    /// Bitset over the first three bytes of every word (5 bits each; the whole word when
    /// shorter): most tokens of ordinary prose are rejected here without touching the trie.
    filter: Vec<u64>,
    nodes: Vec<Node>,
    root: Vec<u32>,
    pub rules: Vec<Rule>,
    /// The most tokens a match can span from its first word (a CJK word spans up to 13 tokens,
    /// plus each gap): the overlap of `phrase_matches`' windows.
    span: u32,
    /// The words of [`TYPO_TARGETS`] with their entries (a range of `cum`), read for a word
    /// that has none of its own and is one edit away from one of them ([`Lexicon::typo_range`]).
    typos: Vec<(&'static [u8], u32, u32)>,
    /// Per first and last letter (their `LETTER` columns, `first * 27 + last`), the lengths (bits) a word
    /// needs to be one edit away from a target: an edit keeps the first letter, and the last
    /// unless it swaps the last two. Nearly every word is turned away by this one test.
    typo_ends: Vec<u32>,
}

/// The words of an override or extraction that an attacker misspells to slip past the rules
/// ("ingore all previus instrucitons", "reveel your sytem promt"), and which a model reads
/// through: a word with no lexicon entry of its own, one edit (a letter changed, left out,
/// added, or two swapped) away from one of these, reads as it. Not an edit of the last letter
/// (other than a swap of the last two): that is how "ignores", "systems" and "guideline" are
/// written, and they keep their own entries or none.
const TYPO_TARGETS: &[&str] = &[
    "ignore",
    "disregard",
    "forget",
    "previous",
    "instructions",
    "instruction",
    "system",
    "prompt",
    "reveal",
    "override",
    "bypass",
    "jailbreak",
    "restrictions",
    "guidelines",
];

/// Real words one edit away from a target, other than at the last letter: they stay
/// themselves.
const TYPO_REAL_WORDS: &[&str] = &["forgot", "revel", "overrode", "pervious"];

/// Whether `a` is one edit away from `t` (a letter changed, left out or added, or two
/// neighbours swapped), the edit not at `t`'s last letter unless it swaps the last two.
fn one_edit(a: &[u8], t: &[u8]) -> bool {
    // Byte loops, not slice comparisons: the words are short and a call to `memcmp` per
    // candidate cost more than the comparison.
    let same_from = |x: usize, y: usize| {
        let (p, q) = (a.get(x..).unwrap_or(&[]), t.get(y..).unwrap_or(&[]));
        p.len() == q.len() && p.iter().zip(q).all(|(c, d)| c == d)
    };
    let i = a.iter().zip(t).take_while(|(x, y)| x == y).count();
    if a.len() == t.len() {
        if i + 1 >= a.len() {
            // Equal, or only the last letter differs.
            return false;
        }
        // A letter changed, or two neighbours swapped.
        same_from(i + 1, i + 1)
            || (a.get(i) == t.get(i + 1) && a.get(i + 1) == t.get(i) && same_from(i + 2, i + 2))
    } else if a.len() + 1 == t.len() {
        // A letter left out (not the last).
        i + 1 < t.len() && same_from(i, i + 1)
    } else if a.len() == t.len() + 1 {
        // A letter added (not after the last).
        i + 1 < a.len() && same_from(i + 1, i)
    } else {
        false
    }
}

/// Candidate tokens per window of [`Lexicon::phrase_matches`]: word hits are collected for one
/// window at a time, so their memory is bounded whatever the length of the text (a 900 KB
/// text of rule words held about 10 MiB of them at once).
const WINDOW_CANDS: usize = 4096;

/// A sign inside an Indic word that is not alphabetic (the virama of Devanagari to Sinhala):
/// it joins consonants, so it must not split a word ("निर्देश" is one word, not "निर" "देश").
fn is_indic_sign(c: char) -> bool {
    matches!(c, '\u{0900}'..='\u{0DFF}') && !matches!(c, '\u{0964}' | '\u{0965}')
}

/// Most CJK characters in one [`Cand`].
const CJK_GROUP: u32 = 64;

/// Per-node record: children range, the ranges of exact and prefix entries in
/// `Lexicon::entries`, and the cumulative lists.
#[derive(Clone, Copy)]
struct NodeInfo {
    cs: u32,
    ce: u32,
    es: u32,
    ee: u32,
    ps: u32,
    pe: u32,
    /// `cum[cum_s..cum_p]`: the prefix entries of every node on the path from the root to
    /// this one, in walk order; `cum[cum_s..cum_x]` adds this node's exact entries. A word's entries
    /// are one of these two ranges of the deepest node its walk reaches.
    cum_s: u32,
    cum_p: u32,
    cum_x: u32,
}

/// One rule match: token range (inclusive start, exclusive end) and normalised byte range
/// (start of the first word to end of the last).
#[derive(Debug, Clone, Copy)]
pub struct PhraseMatch {
    pub rule: u16,
    pub ts: u32,
    pub te: u32,
    pub ns: u32,
    pub ne: u32,
}

/// One rule word found in the text: `(rule, slot)`, token range `a..a + len` and normalised
/// range `ns..ne`. Sixteen bytes: a word is one token, a CJK word at most 13.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordHit {
    rule: u16,
    slot: u8,
    len: u8,
    a: u32,
    ns: u32,
    ne: u32,
}

impl WordHit {
    /// One past the hit's last token.
    #[inline]
    fn b(&self) -> u32 {
        self.a + u32::from(self.len)
    }
}

impl Lexicon {
    /// Builds the trie from `(id, family, pattern)` rules and named sets.
    pub fn build(
        rules: &[(&'static str, Family, &'static str)],
        sets: &[(&'static str, &'static str)],
    ) -> Result<Lexicon, String> {
        let mut lex = Lexicon {
            info: Vec::new(),
            flat: Vec::new(),
            entries: Vec::new(),
            reach: Vec::new(),
            cum: Vec::new(),
            cum_of: Vec::new(),
            trans: empty_trans()?,
            head: Vec::new(),
            filter: vec![0; FILTER_BITS / 64],
            nodes: vec![Node::default()],
            root: vec![0; 256],
            rules: Vec::new(),
            span: 0,
            typos: Vec::new(),
            typo_ends: vec![0; 27 * 27],
        };
        for (ri, &(id, family, pat)) in rules.iter().enumerate() {
            let rid = u16::try_from(ri).map_err(|_| "too many rules".to_string())?;
            let mut gaps: Vec<u8> = Vec::new();
            let mut pending_gap = 0u8;
            for part in pat.split_whitespace() {
                if let Some(g) = part.strip_prefix('~') {
                    pending_gap = g
                        .parse::<u8>()
                        .map_err(|_| format!("rule {id}: bad gap {part}"))?;
                    continue;
                }
                let slot =
                    u8::try_from(gaps.len()).map_err(|_| format!("rule {id}: too many slots"))?;
                gaps.push(pending_gap);
                pending_gap = 0;
                for alt in part.split('|') {
                    if let Some(name) = alt.strip_prefix('@') {
                        let set = sets
                            .iter()
                            .find(|(n, _)| *n == name)
                            .ok_or_else(|| format!("rule {id}: unknown set {name}"))?;
                        for w in set.1.split('|') {
                            lex.insert(w.trim(), rid, slot);
                        }
                    } else {
                        lex.insert(alt, rid, slot);
                    }
                }
            }
            if gaps.is_empty() || gaps.len() > MAX_SLOTS {
                return Err(format!("rule {id}: 1 to {MAX_SLOTS} slots"));
            }
            let reach = gaps.iter().map(|&g| u32::from(g) + 4).sum();
            let span: u32 = gaps.iter().map(|&g| u32::from(g) + 14).sum::<u32>() + 14;
            lex.span = lex.span.max(span);
            lex.rules.push(Rule {
                id,
                family,
                gaps,
                reach,
            });
        }
        if lex.rules.len() > MAX_RULES {
            return Err(format!("more than {MAX_RULES} rules"));
        }
        // Letter transitions as one table of 16-bit node ids.
        if lex.nodes.len() > TRANS_ROWS {
            return Err("lexicon too large".to_string());
        }
        if let Some(row) = lex.trans.get_mut(0) {
            for (b, &r) in lex.root.iter().enumerate() {
                if r != 0 && (b as u8).is_ascii_lowercase() {
                    row[usize::from(LETTER[b] & 31)] = r as u16;
                }
            }
        }
        for (row, node) in lex.trans.iter_mut().zip(&lex.nodes) {
            for &(b, c) in &node.children {
                if b.is_ascii_lowercase() {
                    row[usize::from(LETTER[usize::from(b)] & 31)] = c as u16;
                }
            }
        }
        // Parents precede their children (ids grow as words are inserted), so one forward pass
        // can extend each parent's cumulative prefix list.
        let mut parent: Vec<u32> = vec![u32::MAX; lex.nodes.len()];
        for &r in &lex.root {
            if r != 0 {
                if let Some(p) = parent.get_mut(r as usize) {
                    *p = 0;
                }
            }
        }
        for (k, node) in lex.nodes.iter().enumerate() {
            for &(_, c) in &node.children {
                if let Some(p) = parent.get_mut(c as usize) {
                    *p = k as u32;
                }
            }
        }
        let mut cum_range: Vec<(u32, u32)> = Vec::with_capacity(lex.nodes.len());
        for (k, node) in lex.nodes.iter().enumerate() {
            let (ps, pe) = parent
                .get(k)
                .and_then(|&p| cum_range.get(p as usize).copied())
                .unwrap_or((0, 0));
            let cum_s = lex.cum.len() as u32;
            for j in ps..pe {
                if let Some(&e) = lex.cum.get(j as usize) {
                    lex.cum.push(e);
                }
            }
            lex.cum.extend_from_slice(&node.prefix);
            let cum_p = lex.cum.len() as u32;
            lex.cum.extend_from_slice(&node.exact);
            let cum_x = lex.cum.len() as u32;
            cum_range.push((cum_s, cum_p));
            lex.info.push(NodeInfo {
                cs: 0,
                ce: 0,
                es: 0,
                ee: 0,
                ps: 0,
                pe: 0,
                cum_s,
                cum_p,
                cum_x,
            });
        }
        for (k, node) in lex.nodes.iter().enumerate() {
            let cs = lex.flat.len() as u32;
            lex.flat.extend_from_slice(&node.children);
            let es = lex.entries.len() as u32;
            lex.entries.extend_from_slice(&node.exact);
            let ps = lex.entries.len() as u32;
            lex.entries.extend_from_slice(&node.prefix);
            let pe = lex.entries.len() as u32;
            if let Some(info) = lex.info.get_mut(k) {
                info.cs = cs;
                info.ce = lex.flat.len() as u32;
                info.es = es;
                info.ee = ps;
                info.ps = ps;
                info.pe = pe;
            }
        }
        lex.head = vec![0u16; 27 * 27 * 27];
        for l0 in 1..27usize {
            for l1 in 0..27usize {
                for l2 in 0..27usize {
                    let mut node = 0usize;
                    let mut k = 0u16;
                    for l in [l0, l1, l2] {
                        if l == 0 {
                            break;
                        }
                        let x = lex.trans[node & (TRANS_ROWS - 1)][l & 31];
                        if x == 0 {
                            break;
                        }
                        node = usize::from(x);
                        k += 1;
                    }
                    if let Some(h) = lex.head.get_mut((l0 * 27 + l1) * 27 + l2) {
                        *h = (node as u16) | (k << 14);
                    }
                }
            }
        }
        lex.cum_of = lex
            .info
            .iter()
            .map(|i| (i.cum_s, i.cum_p, i.cum_x, 0))
            .collect();
        lex.reach = lex.rules.iter().map(|r| r.reach).collect();
        for t in TYPO_TARGETS {
            let w = t.as_bytes();
            let (es, ee) = lex.word_range(w);
            let second_last = w.len().checked_sub(2).and_then(|k| w.get(k));
            let (Some(&f), Some(&l), Some(&l2)) = (w.first(), w.last(), second_last) else {
                continue;
            };
            if ee <= es {
                continue;
            }
            for last in [l, l2] {
                let k = usize::from(LETTER[usize::from(f)]) * 27
                    + usize::from(LETTER[usize::from(last)]);
                if let Some(slot) = lex.typo_ends.get_mut(k) {
                    *slot |= 0b111 << (w.len() - 1).min(29);
                }
            }
            lex.typos.push((w, es, ee));
            // Mark the target's path: a misspelling keeps its first letter, so its walk ends
            // on this path (at the letter before the edit).
            let mut node = 0usize;
            for &c in w {
                let Some(nx) = lex.step_letter(node, c) else {
                    break;
                };
                node = nx;
                if let Some(e) = lex.cum_of.get_mut(node) {
                    e.3 = 1;
                }
            }
        }
        Ok(lex)
    }

    fn insert(&mut self, word: &str, rule: u16, slot: u8) {
        let (w, is_prefix) = match word.strip_suffix('*') {
            Some(s) => (s, true),
            None => (word, false),
        };
        if w.is_empty() {
            return;
        }
        let key = w.as_bytes().get(..w.len().min(3)).unwrap_or(&[]);
        let h = filter_key(key);
        if let Some(x) = self.filter.get_mut(h / 64) {
            *x |= 1 << (h % 64);
        }
        if is_prefix && w.len() < 3 {
            // A short stem matches tokens with any third byte: disable the filter.
            self.filter.iter_mut().for_each(|x| *x = u64::MAX);
        }
        // CJK words match as substrings of CJK runs: treat them as prefixes at every char.
        let cjk = w.chars().next().is_some_and(is_cjk);
        let mut node = 0usize;
        for (k, &b) in w.as_bytes().iter().enumerate() {
            let next = if k == 0 {
                let r = self.root.get(b as usize).copied().unwrap_or(0);
                if r != 0 {
                    r as usize
                } else {
                    let id = self.nodes.len();
                    self.nodes.push(Node::default());
                    if let Some(slot) = self.root.get_mut(b as usize) {
                        *slot = id as u32;
                    }
                    id
                }
            } else {
                let found = self
                    .nodes
                    .get(node)
                    .and_then(|n| n.children.iter().find(|c| c.0 == b))
                    .map(|c| c.1);
                match found {
                    Some(x) => x as usize,
                    None => {
                        let id = self.nodes.len();
                        self.nodes.push(Node::default());
                        if let Some(n) = self.nodes.get_mut(node) {
                            n.children.push((b, id as u32));
                        }
                        id
                    }
                }
            };
            node = next;
        }
        if let Some(n) = self.nodes.get_mut(node) {
            let list = if is_prefix || cjk {
                &mut n.prefix
            } else {
                &mut n.exact
            };
            if !list.contains(&(rule, slot)) {
                list.push((rule, slot));
            }
        }
    }

    /// Splits normalised bytes into word tokens (ASCII/alphabetic runs, one token per CJK
    /// char) and, in the same pass, walks each plain word down the trie, so the matcher only
    /// visits words that carry lexicon entries.
    #[inline(never)]
    pub fn tokenize(&self, n: &[u8]) -> Tokens {
        let len = n.len();
        let mut t = Tokens::new();
        t.text_len = len;
        t.cand.reserve(len / 8 + 4);
        // Words with joiners removed ("ig-no-re") or leetspeak mapped ("1gn0r3").
        let mut wbuf: Vec<u8> = Vec::new();
        let mut joined: Vec<(usize, usize)> = Vec::new();
        let mut runs = RunTracker::new();
        let mut count = 0u32;
        let mut i = 0usize;
        let at = |k: usize| -> u8 { n.get(k).copied().unwrap_or(0) };
        while i < len {
            let b = at(i);
            let cls = CLASS[b as usize];
            if cls == 0 {
                // Spaces and plain punctuation: nothing starts here.
                i += 1;
                continue;
            }
            if LETTER[b as usize] != 0 {
                // A lowercase word: walk its letters down the trie as they are read. Column
                // 0 of every row is 0, so any non-letter ends the walk too.
                let ns = i;
                let rest = n.get(i..).unwrap_or(&[]);
                // The first three letters in one lookup, then letter by letter.
                let l0 = usize::from(LETTER[usize::from(b)]);
                let l1 = usize::from(LETTER[usize::from(at(i + 1))]);
                let l2 = if l1 != 0 {
                    usize::from(LETTER[usize::from(at(i + 2))])
                } else {
                    0
                };
                let e = self
                    .head
                    .get((l0 * 27 + l1) * 27 + l2)
                    .copied()
                    .unwrap_or(0);
                let mut node = usize::from(e & 0x3fff);
                let mut k = usize::from(e >> 14);
                if k == 3 {
                    for &c in rest.get(3..).unwrap_or(&[]) {
                        let x = self.trans[node & (TRANS_ROWS - 1)]
                            [usize::from(LETTER[usize::from(c)] & 31)];
                        if x == 0 {
                            break;
                        }
                        node = usize::from(x);
                        k += 1;
                    }
                }
                let mut j = k;
                while rest.get(j).is_some_and(|&c| LETTER[usize::from(c)] != 0) {
                    j += 1;
                }
                i += j;
                let next = CLASS[usize::from(at(i))];
                // A joiner ends the word unless an alphanumeric follows it ("end." but not
                // "ig.nore"); digits, `@` and `$` need the general path.
                if next & (C_WORD | C_JOINER) == 0
                    || (next & C_WORD == 0 && !at(i + 1).is_ascii_alphanumeric())
                {
                    // The common case: the word ends here. The walk failed on a letter when
                    // it stopped short of the end.
                    let (mut es, mut ee, typo_path) = match self.cum_of.get(node) {
                        Some(&(s, p, x, t)) => (s, if j == k { x } else { p }, t),
                        None => (0, 0, 0),
                    };
                    if ee == es && typo_path != 0 {
                        // No entries, and the walk ended on a target's path: a misspelling?
                        (es, ee) = self.typo_range(rest.get(..j).unwrap_or(&[]));
                    }
                    if ee > es {
                        t.push_cand(Cand {
                            idx: count,
                            ns: ns as u32,
                            ne: i as u32,
                            es,
                            ee,
                        });
                    }
                    if j == 1 || runs.start != u32::MAX {
                        runs.add(count, ns as u32, i as u32, j == 1);
                    }
                    if j == 3 && rest.get(..3) == Some(b"dan") {
                        t.dan.push((ns as u32, i as u32));
                    }
                    if j >= 16 {
                        t.long.push((ns as u32, i as u32));
                    }
                    count += 1;
                    continue;
                }
                // Digits, joiners, `@`, `$` follow: the general word path, from the start.
                i = ns;
            }
            if b.is_ascii_alphanumeric()
                || ((b == b'@' || b == b'$')
                    && at(i + 1).is_ascii_lowercase()
                    && !at(i.wrapping_sub(1)).is_ascii_alphanumeric())
            {
                let ns = i;
                let run = n.get(i..).map_or(0, |r| {
                    r.iter()
                        .position(|c| !c.is_ascii_lowercase())
                        .unwrap_or(r.len())
                });
                let mut has_letter = run > 0;
                i += run;
                let mut has_digit = false;
                let mut joins = 0u32;
                let mut leet_now = false;
                while i < len {
                    let c = at(i);
                    if CLASS[c as usize] & (C_WORD | C_JOINER) == 0 {
                        break;
                    }
                    if c.is_ascii_lowercase() {
                        has_letter = true;
                        i += 1;
                    } else if c.is_ascii_digit()
                        || ((c == b'@' || c == b'$') && at(i + 1).is_ascii_lowercase())
                    {
                        has_digit = true;
                        i += 1;
                    } else if is_joiner(c)
                        && i > ns
                        && at(i - 1).is_ascii_alphanumeric()
                        && at(i + 1).is_ascii_alphanumeric()
                    {
                        joins += 1;
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i == ns {
                    // Not reachable on normalised text (no ASCII capitals); keeps progress.
                    i += 1;
                    continue;
                }
                let raw = n.get(ns..i).unwrap_or(&[]);
                // The word: the bytes themselves ("2024", "gpt"), or with joiners removed and
                // leetspeak mapped ("ig-no-re", "1gn0r3").
                let word: &[u8] = if joins == 0 && !(has_letter && has_digit) {
                    raw
                } else {
                    wbuf.clear();
                    if joins > 0 {
                        // Kept bytes are letters, digits, `@` and `$`; the skipped ones are joiners.
                        wbuf.extend(raw.iter().copied().filter(|&c| !is_joiner(c)));
                    } else {
                        wbuf.extend_from_slice(raw);
                    }
                    if has_letter && has_digit {
                        for x in wbuf.iter_mut() {
                            let m = leet(*x);
                            leet_now |= m != *x;
                            *x = m;
                        }
                        if leet_now {
                            t.leet.push(count);
                        }
                    }
                    &wbuf
                };
                let (mut es, mut ee) = self.word_range(word);
                if ee == es {
                    (es, ee) = self.typo_range(word);
                }
                // Only words chopped into fragments of one or two letters ("i-g-n-o-r-e",
                // "ig.no.re") are evasion; "step-by-step" and "40-year-old" are not.
                let letters = word.len() as u32;
                if joins >= 2 && letters <= (joins + 1) * 2 {
                    joined.push((ns, i));
                } else if joins >= 1
                    && !has_digit
                    && raw.split(|&c| is_joiner(c)).all(|w| w.len() >= 2)
                {
                    // Words of two letters or more joined into an identifier.
                    t.ident_runs.push((ns, i));
                }
                self.push_token(&mut t, &mut runs, &mut count, (ns, i), word, (es, ee));
            } else if b >= 0x80 {
                let (c, l) = char_at(n, i);
                if is_cjk(c) {
                    match t.cand.last_mut() {
                        Some(g)
                            if g.es == u32::MAX
                                && g.ne as usize == i
                                && g.idx + g.ee == count
                                && g.ee < CJK_GROUP =>
                        {
                            g.ne = (i + l) as u32;
                            g.ee += 1;
                        }
                        _ => t.push_cand(Cand {
                            idx: count,
                            ns: i as u32,
                            ne: (i + l) as u32,
                            es: u32::MAX,
                            ee: 1,
                        }),
                    }
                    runs.add(count, i as u32, (i + l) as u32, false);
                    count += 1;
                    i += l;
                } else if c.is_alphabetic() {
                    let ns = i;
                    loop {
                        let (c2, l2) = char_at(n, i);
                        if i >= len || !(c2.is_alphanumeric() || is_indic_sign(c2)) || is_cjk(c2) {
                            break;
                        }
                        i += l2;
                    }
                    if i == ns {
                        i += l;
                    } else {
                        let word = n.get(ns..i).unwrap_or(&[]);
                        let r = self.word_range(word);
                        self.push_token(&mut t, &mut runs, &mut count, (ns, i), word, r);
                    }
                } else {
                    i += l;
                }
            } else {
                if cls & C_SPECIAL != 0 {
                    t.specials.push(i as u32);
                }
                i += 1;
            }
        }
        runs.close(count);
        t.count = count;
        // Runs of single letters first, then words split by punctuation.
        t.spaced_runs = runs.runs;
        t.spaced_runs.extend(joined);
        t
    }

    /// Appends a non-CJK token outside the lowercase fast path, with its bookkeeping.
    #[allow(clippy::too_many_arguments)]
    fn push_token(
        &self,
        t: &mut Tokens,
        runs: &mut RunTracker,
        count: &mut u32,
        span: (usize, usize),
        word: &[u8],
        entries: (u32, u32),
    ) {
        let (ns, ne) = (span.0 as u32, span.1 as u32);
        let k = *count;
        if entries.1 > entries.0 {
            t.push_cand(Cand {
                idx: k,
                ns,
                ne,
                es: entries.0,
                ee: entries.1,
            });
        }
        if ne - ns == 3 && word == b"dan" {
            t.dan.push((ns, ne));
        }
        if ne - ns >= 16 {
            t.long.push((ns, ne));
        }
        runs.add(k, ns, ne, word.len() == 1);
        *count += 1;
    }

    /// Records the rule-word hits of the tokens into `sink`, in token order.
    #[inline(never)]
    fn cand_hits(&self, cands: &[Cand], n: &[u8], sink: &mut HitSink) {
        for c in cands {
            if c.es == u32::MAX {
                let mut pos = c.ns as usize;
                for q in 0..c.ee {
                    self.cjk_hits(n, pos, c.idx + q, sink);
                    pos += char_at(n, pos).1.max(1);
                }
            } else {
                sink.push(
                    self.cum.get(c.es as usize..c.ee as usize).unwrap_or(&[]),
                    c.idx,
                    c.idx + 1,
                    c.ns,
                    c.ne,
                );
            }
        }
    }

    /// Every rule match of a tokenised text, as [`Lexicon::matches`] over all its word hits
    /// would find them, computed window by window: each window owns the matches that start in
    /// its (about) [`WINDOW_CANDS`] candidate tokens and reads on as far as a match can span. Each
    /// rule's greedy left-to-right choice carries over from window to window, so the matches
    /// are the same; only their order differs (window, then rule, then position).
    pub fn phrase_matches(&self, t: &Tokens, n: &[u8], out: &mut impl FnMut(&PhraseMatch)) {
        let cands = t.cand.as_slice();
        // About one and a half hits per candidate in prose (its slot-0 words and the later
        // words that follow one): sized once instead of grown by doubling.
        let mut scratch: Vec<WordHit> =
            Vec::with_capacity(cands.len().min(WINDOW_CANDS + 256) * 3 / 2);
        let mut last_end = vec![0u32; self.rules.len()];
        let mut start = 0usize;
        while start < cands.len() {
            // About WINDOW_CANDS tokens (a CJK group counts its characters).
            let mut own_end = start;
            let mut weight = 0usize;
            while weight < WINDOW_CANDS {
                let Some(c) = cands.get(own_end) else { break };
                weight += if c.es == u32::MAX { c.ee as usize } else { 1 };
                own_end += 1;
            }
            let own_end_tok = cands.get(own_end).map_or(u32::MAX, |c| c.idx);
            let limit = own_end_tok.saturating_add(self.span);
            let rest = cands.get(own_end..).unwrap_or(&[]);
            let ext_end = own_end + rest.partition_point(|c| c.idx < limit);
            scratch.clear();
            self.cand_hits(
                cands.get(start..ext_end).unwrap_or(&[]),
                n,
                &mut HitSink::new(self, &mut scratch),
            );
            self.matches_into(&scratch, own_end_tok, &mut last_end, out);
            start = own_end;
        }
    }

    /// The hits of CJK token `k` (at byte `i`): CJK words match as substrings of a CJK run,
    /// so the walk goes on across the following adjacent CJK characters (one token each),
    /// at most 13 of them.
    fn cjk_hits(&self, n: &[u8], i: usize, k: u32, sink: &mut HitSink) {
        let mut node = 0usize;
        let mut first = true;
        let mut pos = i;
        let mut q = 0u32;
        'outer: while pos < n.len() {
            let (c, l) = char_at(n, pos);
            if !is_cjk(c) {
                break;
            }
            for &b in n.get(pos..pos + l).unwrap_or(&[]) {
                match self.step(node, b, first) {
                    Some(nx) => node = nx,
                    None => break 'outer,
                }
                first = false;
            }
            pos += l;
            q += 1;
            sink.push(
                self.node_entries(node, true),
                k,
                k + q,
                i as u32,
                pos as u32,
            );
            if q > 12 {
                break;
            }
        }
    }

    /// Trie step on a lowercase ASCII letter (node 0 is the root).
    #[inline]
    fn step_letter(&self, node: usize, c: u8) -> Option<usize> {
        match self
            .trans
            .get(node)
            .map(|row| row[usize::from(LETTER[usize::from(c)] & 31)])
        {
            Some(x) if x != 0 => Some(usize::from(x)),
            _ => None,
        }
    }

    /// The entries of the [`TYPO_TARGETS`] word that `word` (which has none of its own) is a
    /// misspelling of, as a range of `cum`; `(0, 0)` when it is none. Out of the tokenizer's
    /// hot loop: few words get here.
    #[inline(never)]
    fn typo_range(&self, word: &[u8]) -> (u32, u32) {
        let (Some(&b0), Some(&bl)) = (word.first(), word.last()) else {
            return (0, 0);
        };
        let lens = self
            .typo_ends
            .get(usize::from(LETTER[usize::from(b0)]) * 27 + usize::from(LETTER[usize::from(bl)]))
            .copied()
            .unwrap_or(0);
        if word.len() >= 32 || lens & (1 << word.len()) == 0 {
            return (0, 0);
        }
        self.typos
            .iter()
            .find(|(t, _, _)| {
                t.first() == Some(&b0) && t.len().abs_diff(word.len()) <= 1 && one_edit(word, t)
            })
            .filter(|_| !TYPO_REAL_WORDS.iter().any(|r| r.as_bytes() == word))
            .map_or((0, 0), |&(_, es, ee)| (es, ee))
    }

    /// `word_entries` as a range of `cum`.
    fn word_range(&self, word: &[u8]) -> (u32, u32) {
        match self.word_node(word) {
            Some((inf, ok)) => (inf.cum_s, if ok { inf.cum_x } else { inf.cum_p }),
            None => (0, 0),
        }
    }

    #[inline]
    fn step(&self, node: usize, b: u8, first: bool) -> Option<usize> {
        if first {
            let r = *self.root.get(b as usize)?;
            return if r == 0 { None } else { Some(r as usize) };
        }
        if b.is_ascii_lowercase() {
            return self.step_letter(node, b);
        }
        let info = self.info.get(node)?;
        self.flat
            .get(info.cs as usize..info.ce as usize)?
            .iter()
            .find(|c| c.0 == b)
            .map(|c| c.1 as usize)
    }

    fn node_entries(&self, node: usize, prefix: bool) -> &[(u16, u8)] {
        match self.info.get(node) {
            Some(i) if prefix => self
                .entries
                .get(i.ps as usize..i.pe as usize)
                .unwrap_or(&[]),
            Some(i) => self
                .entries
                .get(i.es as usize..i.ee as usize)
                .unwrap_or(&[]),
            None => &[],
        }
    }

    /// The deepest trie node a (non-CJK) word's byte-by-byte walk reaches, and whether the
    /// whole word was consumed; `None` when no node has entries it could use. Its entries,
    /// in the order the walk meets them, are the prefix entries of every node on the path,
    /// then the exact entries of the last node when the whole word was consumed.
    #[inline]
    fn word_node(&self, word: &[u8]) -> Option<(&NodeInfo, bool)> {
        // The filter only drops words without entries: any entry needs the word to start
        // with a lexicon word's first three bytes (or to be a shorter lexicon word).
        let h = filter_key(word);
        if self
            .filter
            .get(h / 64)
            .is_none_or(|x| x & (1 << (h % 64)) == 0)
        {
            return None;
        }
        let (&b0, rest) = word.split_first()?;
        let mut node = match self.root.get(b0 as usize) {
            Some(&r) if r != 0 => r as usize,
            _ => return None,
        };
        let mut ok = true;
        for &b in rest {
            match self.step(node, b, false) {
                Some(nx) => node = nx,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        Some((self.info.get(node)?, ok))
    }

    /// Greedy segmentation of a letters-only word ("ignoreallprevious") into lexicon words.
    fn segment(&self, word: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut p = 0usize;
        while p < word.len() {
            let mut node = 0usize;
            let mut best = 0usize;
            for (k, &b) in word.iter().enumerate().skip(p) {
                match self.step(node, b, k == p) {
                    Some(nx) => node = nx,
                    None => break,
                }
                if self.info.get(node).is_some_and(|i| i.pe != i.es) {
                    best = k + 1;
                }
            }
            if best > p {
                out.push((p, best));
                p = best;
            } else {
                p += 1;
            }
        }
        out
    }

    /// Re-tokenises spelled-out or punctuation-split words into lexicon words, as extra
    /// tokens covering the run (they only add hits, never remove the original ones), for
    /// [`Lexicon::phrase_matches`].
    pub fn expand_spaced(&self, t: &Tokens, n: &[u8]) -> Tokens {
        let mut out = Tokens::new();
        let mut letters: Vec<u8> = Vec::new();
        let mut pos: Vec<u32> = Vec::new();
        for &(ns, ne) in &t.spaced_runs {
            letters.clear();
            pos.clear();
            for (k, &b) in n.get(ns..ne).unwrap_or(&[]).iter().enumerate() {
                if b.is_ascii_alphanumeric() || b == b'@' || b == b'$' {
                    letters.push(leet(b));
                    pos.push((ns + k) as u32);
                }
            }
            let segs = self.segment(&letters);
            for (a, b) in segs {
                let (es, ee) = self.word_range(letters.get(a..b).unwrap_or(&[]));
                let s = pos.get(a).copied().unwrap_or(ns as u32);
                let e = pos.get(b.saturating_sub(1)).map_or(ne as u32, |x| x + 1);
                if ee > es {
                    out.cand.push(Cand {
                        idx: out.count,
                        ns: s,
                        ne: e,
                        es,
                        ee,
                    });
                }
                out.count += 1;
            }
        }
        out
    }

    /// The words of the identifiers of `t.ident_runs` (split at their joiners) and of the
    /// camel-case words `camel` (each a list of word ranges), as extra tokens for
    /// [`Lexicon::phrase_matches`]: they only add hits. Two identifiers are kept further apart
    /// than any rule's gap, so a phrase never spans two of them.
    pub fn expand_idents(&self, t: &Tokens, n: &[u8], camel: &[Vec<(usize, usize)>]) -> Tokens {
        let mut out = Tokens::new();
        let push = |out: &mut Tokens, s: usize, e: usize| {
            let (es, ee) = self.word_range(n.get(s..e).unwrap_or(&[]));
            if ee > es {
                out.cand.push(Cand {
                    idx: out.count,
                    ns: s as u32,
                    ne: e as u32,
                    es,
                    ee,
                });
            }
            out.count += 1;
        };
        for &(ns, ne) in &t.ident_runs {
            let raw = n.get(ns..ne).unwrap_or(&[]);
            let mut s = ns;
            for w in raw.split(|&c| is_joiner(c)) {
                push(&mut out, s, s + w.len());
                s += w.len() + 1;
            }
            out.count += IDENT_GAP;
        }
        for words in camel {
            for &(s, e) in words {
                push(&mut out, s, e);
            }
            out.count += IDENT_GAP;
        }
        out
    }

    /// All rule matches over the word hits a `HitSink` recorded.
    #[cfg(test)]
    pub fn matches(&self, scratch: &[WordHit]) -> Vec<PhraseMatch> {
        let mut out = Vec::new();
        let mut last_end = vec![0u32; self.rules.len()];
        self.matches_into(scratch, u32::MAX, &mut last_end, &mut |m| out.push(*m));
        out
    }

    /// The matches whose first word starts before token `own_end`, each rule's choice going on
    /// from `last_end` (the end of its previous match).
    fn matches_into(
        &self,
        scratch: &[WordHit],
        own_end: u32,
        last_end: &mut [u32],
        out: &mut impl FnMut(&PhraseMatch),
    ) {
        if scratch.is_empty() {
            return;
        }
        // Only rules with a word in every slot can match: the slots each rule's hits fill,
        // then a counting sort of those rules' hits by (rule, slot), stable so each slot's hits
        // stay in token order. Its table has a row per covered rule only (benign text covers
        // few), not one per rule of the lexicon.
        let mask = MAX_RULES - 1;
        // Per rule: the slots its hits fill (bits 0 to 5), then for a covered rule `COVERED` and
        // its row in the table below. `touched`: the rules with a hit, each once.
        const COVERED: u16 = 0x8000;
        let mut mark = [0u16; MAX_RULES];
        // Sized once: grown by doubling it was reallocated eight times per window, and a
        // reallocation that cannot grow in place copies (4% of a benign 4 KB scan's instructions
        // once the heap's layout changed).
        let mut touched: Vec<usize> = Vec::with_capacity(scratch.len().min(MAX_RULES));
        for h in scratch {
            let r = usize::from(h.rule) & mask;
            if mark[r] == 0 {
                touched.push(r);
            }
            mark[r] |= 1u16 << usize::from(h.slot).min(MAX_SLOTS - 1);
        }
        // The covered rules in ascending order, through a bit set (no sort).
        let mut bits = [0u64; MAX_RULES / 64];
        for &r in &touched {
            // Covered: a hit in each of the rule's slots.
            let full = self
                .rules
                .get(r)
                .map(|rule| (1u16 << rule.gaps.len().min(MAX_SLOTS)) - 1);
            if Some(mark[r]) == full {
                bits[(r >> 6) & (MAX_RULES / 64 - 1)] |= 1u64 << (r & 63);
            }
        }
        // `touched`'s allocation, reused.
        let mut covered = touched;
        covered.clear();
        for (w, &word) in bits.iter().enumerate() {
            let mut x = word;
            while x != 0 {
                covered.push(w * 64 + x.trailing_zeros() as usize);
                x &= x - 1;
            }
        }
        if covered.is_empty() {
            return;
        }
        for (d, &r) in covered.iter().enumerate() {
            mark[r] = COVERED | d as u16;
        }
        let key = |h: &WordHit| -> Option<usize> {
            let m = mark[usize::from(h.rule) & mask];
            (m & COVERED != 0).then(|| {
                usize::from(m & !COVERED) * MAX_SLOTS + usize::from(h.slot).min(MAX_SLOTS - 1)
            })
        };
        // The covered rules' hits with their bucket, in token order.
        let sel: Vec<(usize, WordHit)> = scratch
            .iter()
            .filter_map(|h| key(h).map(|k| (k, *h)))
            .collect();
        // After the prefix sums `ends[k + 1]` is where bucket k ends; scattering backwards moves
        // it to where bucket k starts, so bucket k is `ends[k + 1]..ends[k + 2]`.
        let mut ends = vec![0u32; covered.len() * MAX_SLOTS + 2];
        for &(k, _) in &sel {
            if let Some(c) = ends.get_mut(k + 1) {
                *c += 1;
            }
        }
        let mut acc = 0u32;
        for c in ends.iter_mut() {
            acc += *c;
            *c = acc;
        }
        let mut sorted = vec![WordHit::default(); acc as usize];
        for &(k, h) in sel.iter().rev() {
            if let Some(f) = ends.get_mut(k + 1) {
                *f = f.saturating_sub(1);
                if let Some(slot) = sorted.get_mut(*f as usize) {
                    *slot = h;
                }
            }
        }
        for (d, &ri) in covered.iter().enumerate() {
            let (Some(r), Some(last_end)) = (self.rules.get(ri), last_end.get_mut(ri)) else {
                continue;
            };
            let nslots = r.gaps.len().min(MAX_SLOTS);
            let mut slot_arr: [&[WordHit]; MAX_SLOTS] = [&[]; MAX_SLOTS];
            for (s, x) in slot_arr.iter_mut().enumerate().take(nslots) {
                let k = d * MAX_SLOTS + s;
                let (a, b) = (
                    ends.get(k + 1).copied().unwrap_or(0),
                    ends.get(k + 2).copied().unwrap_or(0),
                );
                *x = sorted.get(a as usize..b as usize).unwrap_or(&[]);
            }
            let slots = slot_arr.get(..nslots).unwrap_or(&[]);
            for h in slot_arr[0] {
                if h.a >= own_end {
                    break;
                }
                if h.a < *last_end {
                    continue;
                }
                if let Some((end, ne)) = chain(slots, &r.gaps, 1, h.b(), h.ne) {
                    out(&PhraseMatch {
                        rule: ri as u16,
                        ts: h.a,
                        te: end,
                        ns: h.ns,
                        ne,
                    });
                    *last_end = end;
                }
            }
        }
    }
}

const MAX_SLOTS: usize = 6;
/// Most rules a lexicon holds (a power of two: per-rule arrays of the matcher are indexed by
/// the masked rule id, without bounds checks).
const MAX_RULES: usize = 512;
/// Rows of `Lexicon::trans` (a power of two, so a masked node id needs no bounds check).
const TRANS_ROWS: usize = 8192;
const _: () = assert!(
    TRANS_ROWS <= 1 << 14,
    "node ids must fit 14 bits of Lexicon::head"
);
const FILTER_BITS: usize = 32768;

/// An all-zero transition table, built on the heap.
fn empty_trans() -> Result<Box<[[u16; 32]; TRANS_ROWS]>, String> {
    vec![[0u16; 32]; TRANS_ROWS]
        .into_boxed_slice()
        .try_into()
        .map_err(|_| "transition table".to_string())
}

/// Filter bit of a word: 5 bits of each of its first three bytes (0 past the end).
fn filter_key(word: &[u8]) -> usize {
    let k = |i: usize| word.get(i).map_or(0, |&b| usize::from(b & 31));
    (k(0) << 10) | (k(1) << 5) | k(2)
}

/// Depth-first search for the rest of a slot chain; returns the end token of the first full
/// match and where its last word ends in the normalised text.
fn chain(
    slots: &[&[WordHit]],
    gaps: &[u8],
    slot: usize,
    prev_end: u32,
    prev_ne: u32,
) -> Option<(u32, u32)> {
    let Some(cands) = slots.get(slot) else {
        return Some((prev_end, prev_ne));
    };
    let gap = u32::from(*gaps.get(slot)?);
    let from = cands.partition_point(|h| h.a < prev_end);
    for h in cands
        .get(from..)?
        .iter()
        .take_while(|h| h.a <= prev_end.saturating_add(gap))
    {
        if let Some(e) = chain(slots, gaps, slot + 1, h.b(), h.ne) {
            return Some(e);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::injection::normalize::normalize;
    use crate::injection::rules::{RULES, SETS};

    /// A text whose every word is a rule word keeps candidates near its count, not twice it:
    /// the buffer grows to the density so far, projected over the whole text.
    #[test]
    fn candidates_grow_to_the_projected_count_not_to_double() {
        let lex = Lexicon::build(RULES, SETS).unwrap();
        for unit in [
            "how to make a bomb ",
            "ignore previous instructions ",
            "a b c ",
        ] {
            let text = unit.repeat(200_000 / unit.len());
            let n = normalize(&text).bytes;
            let t = lex.tokenize(&n);
            let (len, cap) = (t.cand.len(), t.cand.capacity());
            assert!(len > 0, "{unit}");
            assert!(
                cap <= len + len / 4 + 64,
                "{unit}: {len} candidates, capacity {cap}"
            );
        }
    }

    /// Every word the rules name, for texts dense in rule words.
    fn rule_words() -> Vec<String> {
        let mut out = Vec::new();
        for &(_, _, pat) in RULES {
            for part in pat.split_whitespace().filter(|p| !p.starts_with('~')) {
                for alt in part.split('|') {
                    match alt.strip_prefix('@') {
                        Some(name) => {
                            if let Some((_, set)) = SETS.iter().find(|(n, _)| *n == name) {
                                out.extend(set.split('|').map(|w| w.trim().to_string()));
                            }
                        }
                        None => out.push(alt.to_string()),
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// A text's normalised bytes, tokens and rule-word hits (one window: the whole text).
    fn word_hits(lex: &Lexicon, text: &str) -> (Vec<u8>, Tokens, Vec<WordHit>) {
        let norm = normalize(text).bytes;
        let toks = lex.tokenize(&norm);
        let mut scratch = Vec::new();
        lex.cand_hits(&toks.cand, &norm, &mut HitSink::new(lex, &mut scratch));
        (norm, toks, scratch)
    }

    fn sorted(mut v: Vec<PhraseMatch>) -> Vec<(u16, u32, u32, u32, u32)> {
        let mut out: Vec<_> = v
            .drain(..)
            .map(|m| (m.rule, m.ts, m.te, m.ns, m.ne))
            .collect();
        out.sort_unstable();
        out
    }

    /// The matcher (rules with every slot filled, sorted into slot buckets) finds what a
    /// direct search finds: per rule, its hits of each slot in token order, then the same
    /// greedy left-to-right choice of first words.
    #[test]
    fn matches_equal_a_direct_search_per_rule() {
        let lex = Lexicon::build(RULES, SETS).unwrap();
        let words = rule_words();
        let filler = ["the", "a", "and", "report", "\n", ".", "，", "的"];
        let mut rng = crate::testutil::XorShift(0x0BAD_5EED_1234_5678);
        let mut total = 0usize;
        for round in 0..40 {
            let mut text = String::new();
            for _ in 0..[40, 400, 3_000][round % 3] {
                if rng.below(4) == 0 {
                    text.push_str(filler[rng.below(filler.len())]);
                } else {
                    text.push_str(&words[rng.below(words.len())]);
                }
                text.push(if rng.below(7) == 0 { ',' } else { ' ' });
            }
            let (_, _, scratch) = word_hits(&lex, &text);
            let mut direct = Vec::new();
            for (ri, r) in lex.rules.iter().enumerate() {
                let by_slot: Vec<Vec<WordHit>> = (0..r.gaps.len())
                    .map(|s| {
                        scratch
                            .iter()
                            .filter(|h| usize::from(h.rule) == ri && usize::from(h.slot) == s)
                            .copied()
                            .collect()
                    })
                    .collect();
                if by_slot.iter().any(|b| b.is_empty()) {
                    continue;
                }
                let slots: Vec<&[WordHit]> = by_slot.iter().map(|b| b.as_slice()).collect();
                let mut last_end = 0u32;
                for h in &by_slot[0] {
                    if h.a < last_end {
                        continue;
                    }
                    if let Some((end, ne)) = chain(&slots, &r.gaps, 1, h.b(), h.ne) {
                        direct.push(PhraseMatch {
                            rule: ri as u16,
                            ts: h.a,
                            te: end,
                            ns: h.ns,
                            ne,
                        });
                        last_end = end;
                    }
                }
            }
            let found = lex.matches(&scratch);
            let key = |m: &PhraseMatch| (m.rule, m.ts, m.te, m.ns, m.ne);
            // Same matches in the same order (rule, then position): the order hits are
            // reported in is part of the result.
            assert_eq!(
                found.iter().map(key).collect::<Vec<_>>(),
                direct.iter().map(key).collect::<Vec<_>>(),
                "round {round}"
            );
            total += found.len();
        }
        assert!(
            total > 1_000,
            "the texts should be dense in matches ({total})"
        );
    }

    /// The windowed matcher finds exactly the matches of one pass over all word hits, on texts
    /// of many windows whose rule words fall across every window boundary.
    #[test]
    fn windowed_matches_equal_whole_text_matches() {
        let lex = Lexicon::build(RULES, SETS).unwrap();
        let words = rule_words();
        let filler = [
            "the", "a", "and", "report", "data", "weather", "，", "的", "\n", ".",
        ];
        let mut rng = crate::testutil::XorShift(0x5DEE_CE66_D1CE_4E5B);
        let mut total = 0usize;
        for round in 0..12 {
            let n_words = [300, 5_000, 20_000][round % 3];
            let mut text = String::new();
            for _ in 0..n_words {
                if rng.below(3) == 0 {
                    text.push_str(filler[rng.below(filler.len())]);
                } else {
                    text.push_str(&words[rng.below(words.len())]);
                }
                // Some words run together: CJK words then form long runs of characters.
                match rng.below(9) {
                    0 => text.push(','),
                    1 | 2 => {}
                    _ => text.push(' '),
                }
            }
            let (norm, toks, scratch) = word_hits(&lex, &text);
            let whole = sorted(lex.matches(&scratch));
            let mut windowed = Vec::new();
            lex.phrase_matches(&toks, &norm, &mut |m| windowed.push(*m));
            let windowed = sorted(windowed);
            assert_eq!(whole.len(), windowed.len(), "round {round}");
            assert!(whole == windowed, "round {round}: the matches differ");
            total += whole.len();
        }
        assert!(
            total > 3_000,
            "the texts should be dense in matches ({total})"
        );
    }

    /// One edit away: a letter changed, left out, added or two neighbours swapped, not at the
    /// last letter (how "ignores" and "systems" are written) unless it swaps the last two.
    #[test]
    fn one_edit_reads_misspellings_not_inflections() {
        for (word, target) in [
            ("ingore", "ignore"),
            ("ignroe", "ignore"),
            ("previus", "previous"),
            ("instrucitons", "instructions"),
            ("instuctions", "instructions"),
            ("sytem", "system"),
            ("sistem", "system"),
            ("promt", "prompt"),
            ("promtp", "prompt"),
            ("reveel", "reveal"),
            ("disreagrd", "disregard"),
            ("byppass", "bypass"),
        ] {
            assert!(one_edit(word.as_bytes(), target.as_bytes()), "{word}");
        }
        for (word, target) in [
            ("ignore", "ignore"),
            ("ignores", "ignore"),
            ("ignor", "ignore"),
            ("ignora", "ignore"),
            ("systems", "system"),
            ("guideline", "guidelines"),
            ("ignite", "ignore"),
            ("prompts", "prompt"),
            ("gnoreix", "ignore"),
        ] {
            assert!(!one_edit(word.as_bytes(), target.as_bytes()), "{word}");
        }
    }

    /// A misspelt rule word with no entries of its own takes its target's; real words one
    /// edit away keep theirs (none).
    #[test]
    fn misspelt_rule_words_take_their_targets_entries() {
        let lex = Lexicon::build(RULES, SETS).unwrap();
        for (typo, word) in [
            ("ingore", "ignore"),
            ("instrucitons", "instructions"),
            ("sytem", "system"),
            ("promt", "prompt"),
        ] {
            let t = lex.tokenize(typo.as_bytes());
            let w = lex.tokenize(word.as_bytes());
            let entries = |t: &Tokens| -> Vec<(u16, u8)> {
                t.cand
                    .iter()
                    .flat_map(|c| lex.cum[c.es as usize..c.ee as usize].to_vec())
                    .collect()
            };
            assert!(!entries(&w).is_empty(), "{word}");
            assert_eq!(entries(&t), entries(&w), "{typo}");
        }
        for real in ["forgot", "revel", "overrode", "pervious"] {
            assert_eq!(lex.typo_range(real.as_bytes()), (0, 0), "{real}");
            let t = lex.tokenize(real.as_bytes());
            assert!(
                t.cand
                    .iter()
                    .all(|c| !lex.typos.iter().any(|x| (x.1, x.2) == (c.es, c.ee))),
                "{real}"
            );
        }
    }
}
