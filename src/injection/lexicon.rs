//! Word-level phrase rules: a tokenizer over the normalised text, a trie of rule words, and a
//! matcher for short word sequences with bounded gaps.
//!
//! A rule is written as slots separated by spaces, e.g. `ignor* ~3 previous|prior ~2 rule*`:
//! each slot is a set of alternatives (`word`, or `stem*` for a prefix match, or a CJK string
//! matched as a substring of a CJK run), `@set` includes a named set, and `~N` allows up to N
//! other tokens before the next slot (default 0: adjacent). Rules are parsed once in
//! `compile`; scanning walks the trie once per token, so the cost is linear in the text and
//! independent of the number of rules.

use super::normalize::{char_at, is_cjk};
use super::rules::Family;

#[derive(Debug, Clone, Copy)]
pub struct Token {
    /// Range in the normalised bytes.
    pub ns: u32,
    pub ne: u32,
    /// Range in the word buffer (joiners removed, leetspeak mapped).
    pub ws: u32,
    pub we: u32,
    pub cjk: bool,
    /// Leetspeak digits were mapped to letters in this token.
    pub leet: bool,
}

/// Tokenised text plus evasion statistics.
pub struct Tokens {
    pub toks: Vec<Token>,
    pub wbuf: Vec<u8>,
    /// Normalised ranges of words spelled out letter by letter or split by punctuation.
    pub spaced_runs: Vec<(usize, usize)>,
    /// Tokens where leetspeak digits were mapped to letters.
    pub leet_tokens: u32,
    /// Positions of bytes other scanners start from: `<`, `[`, `]`, `#`, `\n`.
    pub specials: Vec<u32>,
}

fn is_joiner(b: u8) -> bool {
    matches!(b, b'-' | b'_' | b'.' | b'*' | b'\'' | b'`' | b'~' | b'^' | b'+' | b'|' | b'/')
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
        if matches!(c, b'<' | b'[' | b']' | b'#' | b'\n') {
            v |= C_SPECIAL;
        }
        if matches!(c, b'-' | b'_' | b'.' | b'*' | b'\'' | b'`' | b'~' | b'^' | b'+' | b'|' | b'/') {
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

/// Splits normalised bytes into word tokens (ASCII/alphabetic runs, one token per CJK char).
///
/// The word buffer starts as a copy of `n`, so most tokens' words are their own normalised
/// bytes (leetspeak is mapped in place); only words with joiners removed ("ig-no-re") are
/// appended after the copy.
#[inline(never)]
pub fn tokenize(n: &[u8]) -> Tokens {
    let mut toks: Vec<Token> = Vec::with_capacity(n.len() / 5 + 4);
    let mut wbuf: Vec<u8> = Vec::with_capacity(n.len() + 64);
    wbuf.extend_from_slice(n);
    let mut leet_tokens = 0u32;
    let mut joined_tokens: Vec<usize> = Vec::new();
    let mut specials: Vec<u32> = Vec::new();
    let len = n.len();
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
        if b.is_ascii_alphanumeric() || ((b == b'@' || b == b'$') && at(i + 1).is_ascii_lowercase() && !at(i.wrapping_sub(1)).is_ascii_alphanumeric()) {
            let ns = i;
            let mut has_digit = false;
            let mut joins = 0u32;
            let mut leet_now = false;
            // Fast path: the run of plain letters.
            let run = n.get(i..).map_or(0, |r| r.iter().position(|c| !c.is_ascii_lowercase()).unwrap_or(r.len()));
            let mut has_letter = run > 0;
            i += run;
            while i < len {
                let c = at(i);
                if CLASS[c as usize] & (C_WORD | C_JOINER) == 0 {
                    break;
                }
                if c.is_ascii_lowercase() {
                    has_letter = true;
                    i += 1;
                } else if c.is_ascii_digit() || ((c == b'@' || c == b'$') && at(i + 1).is_ascii_lowercase()) {
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
            let (ws, we) = if joins == 0 {
                (ns, i)
            } else {
                // Kept bytes are letters, digits, `@` and `$`; the skipped ones are joiners.
                let ws = wbuf.len();
                wbuf.extend(n.get(ns..i).unwrap_or(&[]).iter().copied().filter(|&c| !is_joiner(c)));
                (ws, wbuf.len())
            };
            if has_letter && has_digit {
                let mut changed = false;
                if let Some(w) = wbuf.get_mut(ws..we) {
                    for x in w.iter_mut() {
                        let m = leet(*x);
                        changed |= m != *x;
                        *x = m;
                    }
                }
                if changed {
                    leet_tokens += 1;
                    leet_now = true;
                }
            }
            // Only words chopped into fragments of one or two letters ("i-g-n-o-r-e",
            // "ig.no.re") are evasion; "step-by-step" and "40-year-old" are not.
            let letters = (we - ws) as u32;
            if joins >= 2 && letters <= (joins + 1) * 2 {
                joined_tokens.push(toks.len());
            }
            toks.push(Token { ns: ns as u32, ne: i as u32, ws: ws as u32, we: we as u32, cjk: false, leet: leet_now });
        } else if b >= 0x80 {
            let (c, l) = char_at(n, i);
            if is_cjk(c) {
                toks.push(Token { ns: i as u32, ne: (i + l) as u32, ws: i as u32, we: (i + l) as u32, cjk: true, leet: false });
                i += l;
            } else if c.is_alphabetic() {
                let ns = i;
                loop {
                    let (c2, l2) = char_at(n, i);
                    if i >= len || !c2.is_alphanumeric() || is_cjk(c2) {
                        break;
                    }
                    i += l2;
                }
                if i == ns {
                    i += l;
                } else {
                    toks.push(Token { ns: ns as u32, ne: i as u32, ws: ns as u32, we: i as u32, cjk: false, leet: false });
                }
            } else {
                i += l;
            }
        } else {
            if matches!(b, b'<' | b'[' | b']' | b'#' | b'\n') {
                specials.push(i as u32);
            }
            i += 1;
        }
    }
    let mut out = Tokens { toks, wbuf, spaced_runs: Vec::new(), leet_tokens, specials };
    find_spaced_runs(&mut out, &joined_tokens);
    out
}

/// Collects runs of single-character tokens ("i g n o r e") and words split by punctuation
/// ("i-g-n-o-r-e"), so the caller can re-segment them against the lexicon.
fn find_spaced_runs(t: &mut Tokens, joined: &[usize]) {
    let mut runs: Vec<(usize, usize)> = Vec::new(); // token index ranges
    let mut k = 0usize;
    let n = t.toks.len();
    while k < n {
        let single = |tok: &Token| !tok.cjk && tok.we.saturating_sub(tok.ws) == 1;
        if t.toks.get(k).is_some_and(single) {
            let start = k;
            let mut end = k + 1;
            while end < n {
                let (Some(prev), Some(cur)) = (t.toks.get(end - 1), t.toks.get(end)) else { break };
                if single(cur) && cur.ns.saturating_sub(prev.ne) <= 3 {
                    end += 1;
                } else {
                    break;
                }
            }
            if end - start >= 4 {
                runs.push((start, end));
            }
            k = end;
        } else {
            k += 1;
        }
    }
    for &j in joined {
        runs.push((j, j + 1));
    }
    for (s, e) in runs {
        if let (Some(a), Some(b)) = (t.toks.get(s), t.toks.get(e.saturating_sub(1))) {
            t.spaced_runs.push((a.ns as usize, b.ne as usize));
        }
    }
}

/// A word-trie node: dense root, sparse children elsewhere.
#[derive(Default)]
struct Node {
    children: Vec<(u8, u32)>,
    /// Index into `Lexicon::dense` for nodes with many letter children.
    dense: Option<u32>,
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
    /// Bitset over the first three bytes of every word (5 bits each; the whole word when
    /// shorter): most tokens of ordinary prose are rejected here without touching the trie.
    filter: Vec<u64>,
    nodes: Vec<Node>,
    dense: Vec<[u32; 26]>,
    root: Vec<u32>,
    pub rules: Vec<Rule>,
}

/// Hot per-node record: dense letter table (`u32::MAX` when none), children range and the
/// ranges of exact and prefix entries in `Lexicon::entries`.
#[derive(Clone, Copy)]
struct NodeInfo {
    dense: u32,
    cs: u32,
    ce: u32,
    es: u32,
    ee: u32,
    ps: u32,
    pe: u32,
}

/// One rule match: token range (inclusive start, exclusive end).
#[derive(Debug, Clone, Copy)]
pub struct PhraseMatch {
    pub rule: u16,
    pub ts: u32,
    pub te: u32,
}

impl Lexicon {
    /// Builds the trie from `(id, family, pattern)` rules and named sets.
    pub fn build(
        rules: &[(&'static str, Family, &'static str)],
        sets: &[(&'static str, &'static str)],
    ) -> Result<Lexicon, String> {
        let mut lex = Lexicon { info: Vec::new(), flat: Vec::new(), entries: Vec::new(), reach: Vec::new(), filter: vec![0; FILTER_BITS / 64], nodes: vec![Node::default()], dense: Vec::new(), root: vec![0; 256], rules: Vec::new() };
        for (ri, &(id, family, pat)) in rules.iter().enumerate() {
            let rid = u16::try_from(ri).map_err(|_| "too many rules".to_string())?;
            let mut gaps: Vec<u8> = Vec::new();
            let mut pending_gap = 0u8;
            for part in pat.split_whitespace() {
                if let Some(g) = part.strip_prefix('~') {
                    pending_gap = g.parse::<u8>().map_err(|_| format!("rule {id}: bad gap {part}"))?;
                    continue;
                }
                let slot = u8::try_from(gaps.len()).map_err(|_| format!("rule {id}: too many slots"))?;
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
            lex.rules.push(Rule { id, family, gaps, reach });
        }
        // Dense letter tables where a linear child search would be long.
        for k in 0..lex.nodes.len() {
            let Some(node) = lex.nodes.get(k) else { continue };
            if node.children.len() < 4 {
                continue;
            }
            let mut table = [0u32; 26];
            for &(b, c) in &node.children {
                if b.is_ascii_lowercase() {
                    if let Some(x) = table.get_mut((b - b'a') as usize) {
                        *x = c;
                    }
                }
            }
            let id = lex.dense.len() as u32;
            lex.dense.push(table);
            if let Some(node) = lex.nodes.get_mut(k) {
                node.dense = Some(id);
            }
        }
        for node in &lex.nodes {
            let cs = lex.flat.len() as u32;
            lex.flat.extend_from_slice(&node.children);
            let es = lex.entries.len() as u32;
            lex.entries.extend_from_slice(&node.exact);
            let ps = lex.entries.len() as u32;
            lex.entries.extend_from_slice(&node.prefix);
            lex.info.push(NodeInfo {
                dense: node.dense.unwrap_or(u32::MAX),
                cs,
                ce: lex.flat.len() as u32,
                es,
                ee: ps,
                ps,
                pe: lex.entries.len() as u32,
            });
        }
        lex.reach = lex.rules.iter().map(|r| r.reach).collect();
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
                let found = self.nodes.get(node).and_then(|n| n.children.iter().find(|c| c.0 == b)).map(|c| c.1);
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
            let list = if is_prefix || cjk { &mut n.prefix } else { &mut n.exact };
            if !list.contains(&(rule, slot)) {
                list.push((rule, slot));
            }
        }
    }

    #[inline]
    fn step(&self, node: usize, b: u8, first: bool) -> Option<usize> {
        if first {
            let r = *self.root.get(b as usize)?;
            return if r == 0 { None } else { Some(r as usize) };
        }
        let info = self.info.get(node)?;
        if info.dense != u32::MAX && b.is_ascii_lowercase() {
            let x = *self.dense.get(info.dense as usize)?.get((b - b'a') as usize)?;
            return if x == 0 { None } else { Some(x as usize) };
        }
        self.flat.get(info.cs as usize..info.ce as usize)?.iter().find(|c| c.0 == b).map(|c| c.1 as usize)
    }

    fn node_entries(&self, node: usize, prefix: bool) -> &[(u16, u8)] {
        match self.info.get(node) {
            Some(i) if prefix => self.entries.get(i.ps as usize..i.pe as usize).unwrap_or(&[]),
            Some(i) => self.entries.get(i.es as usize..i.ee as usize).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Finds all rule-word hits: `(rule, slot, token_start, token_end_exclusive)`.
    #[inline(never)]
    fn word_hits(&self, t: &Tokens, out: &mut Vec<(u16, u8, u32, u32)>) {
        let toks = &t.toks;
        // Later-slot words are only recorded shortly after their rule's first word was seen:
        // common words ("you", "your", "is") would otherwise flood the hit list.
        let mut last0: Vec<u32> = vec![u32::MAX; self.rules.len()];
        let reach = &self.reach;
        let mut push = |out: &mut Vec<(u16, u8, u32, u32)>, list: &[(u16, u8)], a: u32, b: u32| {
            for &(r, s) in list {
                if s == 0 {
                    if let Some(x) = last0.get_mut(r as usize) {
                        *x = a;
                    }
                    out.push((r, s, a, b));
                } else if let (Some(&l), Some(&rr)) = (last0.get(r as usize), reach.get(r as usize)) {
                    if l != u32::MAX && a >= l && a - l <= rr {
                        out.push((r, s, a, b));
                    }
                }
            }
        };
        for (ti, tok) in toks.iter().enumerate() {
            let ti32 = ti as u32;
            if tok.cjk {
                // Walk across the following adjacent CJK tokens.
                let mut node = 0usize;
                let mut first = true;
                let mut k = ti;
                'outer: while let Some(cur) = toks.get(k) {
                    if !cur.cjk || (k > ti && toks.get(k - 1).is_some_and(|p| p.ne != cur.ns)) {
                        break;
                    }
                    for &b in t.wbuf.get(cur.ws as usize..cur.we as usize).unwrap_or(&[]) {
                        match self.step(node, b, first) {
                            Some(nx) => node = nx,
                            None => break 'outer,
                        }
                        first = false;
                    }
                    push(out, self.node_entries(node, true), ti32, k as u32 + 1);
                    k += 1;
                    if k - ti > 12 {
                        break;
                    }
                }
                continue;
            }
            let word = t.wbuf.get(tok.ws as usize..tok.we as usize).unwrap_or(&[]);
            let h = filter_key(word);
            if word.is_empty() || self.filter.get(h / 64).is_none_or(|x| x & (1 << (h % 64)) == 0) {
                continue;
            }
            let mut node = 0usize;
            let mut ok = true;
            for (k, &b) in word.iter().enumerate() {
                match self.step(node, b, k == 0) {
                    Some(nx) => node = nx,
                    None => {
                        ok = false;
                        break;
                    }
                }
                if let Some(info) = self.info.get(node) {
                    if info.pe != info.ps {
                        push(out, self.entries.get(info.ps as usize..info.pe as usize).unwrap_or(&[]), ti32, ti32 + 1);
                    }
                }
            }
            if ok {
                push(out, self.node_entries(node, false), ti32, ti32 + 1);
            }
        }
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

    /// Re-tokenises spelled-out or punctuation-split words into lexicon words, appended as
    /// extra tokens covering the run (they only add hits, never remove the original ones).
    pub fn expand_spaced(&self, t: &Tokens, n: &[u8]) -> Tokens {
        let mut toks: Vec<Token> = Vec::new();
        let mut wbuf: Vec<u8> = Vec::new();
        for &(ns, ne) in &t.spaced_runs {
            let mut letters: Vec<u8> = Vec::new();
            let mut pos: Vec<u32> = Vec::new();
            for (k, &b) in n.get(ns..ne).unwrap_or(&[]).iter().enumerate() {
                if b.is_ascii_alphanumeric() || b == b'@' || b == b'$' {
                    letters.push(leet(b));
                    pos.push((ns + k) as u32);
                }
            }
            let segs = self.segment(&letters);
            for (a, b) in segs {
                let ws = wbuf.len();
                wbuf.extend_from_slice(letters.get(a..b).unwrap_or(&[]));
                let s = pos.get(a).copied().unwrap_or(ns as u32);
                let e = pos.get(b.saturating_sub(1)).map_or(ne as u32, |x| x + 1);
                toks.push(Token { ns: s, ne: e, ws: ws as u32, we: wbuf.len() as u32, cjk: false, leet: false });
            }
        }
        Tokens { toks, wbuf, spaced_runs: Vec::new(), leet_tokens: 0, specials: Vec::new() }
    }

    /// All rule matches over the tokens.
    pub fn matches(&self, t: &Tokens, scratch: &mut Vec<(u16, u8, u32, u32)>) -> Vec<PhraseMatch> {
        scratch.clear();
        self.word_hits(t, scratch);
        let mut out = Vec::new();
        if scratch.is_empty() {
            return out;
        }
        // Counting sort by (rule, slot); stable, so each bucket stays in token order.
        let nkeys = self.rules.len() * MAX_SLOTS;
        let key = |h: &(u16, u8, u32, u32)| (h.0 as usize) * MAX_SLOTS + (h.1 as usize).min(MAX_SLOTS - 1);
        let mut starts = vec![0u32; nkeys + 1];
        for h in scratch.iter() {
            if let Some(c) = starts.get_mut(key(h) + 1) {
                *c += 1;
            }
        }
        for k in 0..nkeys {
            let prev = starts.get(k).copied().unwrap_or(0);
            if let Some(c) = starts.get_mut(k + 1) {
                *c += prev;
            }
        }
        let mut fill = starts.clone();
        let mut sorted = vec![(0u16, 0u8, 0u32, 0u32); scratch.len()];
        for h in scratch.iter() {
            if let Some(f) = fill.get_mut(key(h)) {
                if let Some(slot) = sorted.get_mut(*f as usize) {
                    *slot = *h;
                }
                *f += 1;
            }
        }
        let bucket = |rule: usize, slot: usize| -> &[(u16, u8, u32, u32)] {
            let k = rule * MAX_SLOTS + slot;
            let (a, b) = (starts.get(k).copied().unwrap_or(0), starts.get(k + 1).copied().unwrap_or(0));
            sorted.get(a as usize..b as usize).unwrap_or(&[])
        };
        for (ri, r) in self.rules.iter().enumerate() {
            let first = bucket(ri, 0);
            if first.is_empty() {
                continue;
            }
            let nslots = r.gaps.len().min(MAX_SLOTS);
            if (1..nslots).any(|s| bucket(ri, s).is_empty()) {
                continue;
            }
            let mut slot_arr: [&[(u16, u8, u32, u32)]; MAX_SLOTS] = [&[]; MAX_SLOTS];
            for (s, x) in slot_arr.iter_mut().enumerate().take(nslots) {
                *x = bucket(ri, s);
            }
            let slots = slot_arr.get(..nslots).unwrap_or(&[]);
            let mut last_end = 0u32;
            for h in first {
                if h.2 < last_end {
                    continue;
                }
                if let Some(end) = chain(slots, &r.gaps, 1, h.3) {
                    out.push(PhraseMatch { rule: ri as u16, ts: h.2, te: end });
                    last_end = end;
                }
            }
        }
        out
    }
}

const MAX_SLOTS: usize = 6;
const FILTER_BITS: usize = 32768;

/// Filter bit of a word: 5 bits of each of its first three bytes (0 past the end).
fn filter_key(word: &[u8]) -> usize {
    let k = |i: usize| word.get(i).map_or(0, |&b| usize::from(b & 31));
    (k(0) << 10) | (k(1) << 5) | k(2)
}

/// Depth-first search for the rest of a slot chain; returns the end token of the first full match.
fn chain(slots: &[&[(u16, u8, u32, u32)]], gaps: &[u8], slot: usize, prev_end: u32) -> Option<u32> {
    let Some(cands) = slots.get(slot) else { return Some(prev_end) };
    let gap = u32::from(*gaps.get(slot)?);
    let from = cands.partition_point(|h| h.2 < prev_end);
    for h in cands.get(from..)?.iter().take_while(|h| h.2 <= prev_end.saturating_add(gap)) {
        if let Some(e) = chain(slots, gaps, slot + 1, h.3) {
            return Some(e);
        }
    }
    None
}
