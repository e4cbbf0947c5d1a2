//! Sets of words written as one string and hashed when the module is compiled.
//!
//! The detector's checks around a phrase match ("is the next word one of these?") once read
//! their word lists by splitting the string at every call: a comparison per word of the list
//! for every word checked. On a body made of attack phrases that is tens of thousands of
//! matches, each checking a dozen words against lists of up to a hundred, and it was most of
//! the request's time (natively, 900 KB of "how do I hack into my ex's email": 0.22 s, of which
//! the list reading was 73%). A [`WordSet`] answers with one hash and, usually, one comparison.
//!
//! The table is built by a `const fn`, so a list that does not fit, or holds an empty word, is
//! a compile error rather than a wrong answer at run time.

/// A set of words (`sep`-separated in one string); with `|` as the separator, a word ending in
/// `*` is a stem and matches every word it begins (the syntax of the rules' word sets).
pub struct WordSet<const N: usize> {
    text: &'static [u8],
    /// The separator, read only by the tests' check against the text.
    #[cfg_attr(not(test), allow(dead_code))]
    sep: u8,
    /// Per slot: `start << 9 | stem << 8 | len`, `0` for an empty slot.
    slots: [u32; N],
    /// Bit `l` is set when the set has a stem of `l` bytes (stems are shorter than 63).
    stem_lens: u64,
}

const LEN_MASK: u32 = 0xff;
const STEM_BIT: u32 = 0x100;
const START_SHIFT: u32 = 9;

/// FNV-1a, usable in a `const fn`. The sets are constants of the module, not input, so no
/// one can choose collisions; a collision only costs a probe.
const fn hash(w: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < w.len() {
        h ^= w[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    h
}

const fn same(text: &[u8], start: usize, len: usize, w: &[u8]) -> bool {
    if len != w.len() {
        return false;
    }
    let mut i = 0;
    while i < len {
        if text[start + i] != w[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A word of `text` as a sub-slice (a `const fn` cannot index a slice by a range).
const fn word(text: &[u8], start: usize, len: usize) -> &[u8] {
    let (_, rest) = text.split_at(start);
    let (w, _) = rest.split_at(len);
    w
}

impl<const N: usize> WordSet<N> {
    /// Builds the set of the words of `text` separated by `sep`. Fails to compile when `N` is
    /// not a power of two, when the table would be more than half full, when a word is empty
    /// (two separators in a row) or longer than 255 bytes.
    pub const fn new(text: &'static str, sep: u8) -> Self {
        let bytes = text.as_bytes();
        assert!(
            N.is_power_of_two(),
            "a WordSet's size must be a power of two"
        );
        assert!(bytes.len() < (1 << 23), "a WordSet's text is too long");
        let mut slots = [0u32; N];
        let mut stem_lens = 0u64;
        let mut count = 0;
        let mut start = 0;
        while start <= bytes.len() {
            let mut end = start;
            while end < bytes.len() && bytes[end] != sep {
                end += 1;
            }
            let mut len = end - start;
            assert!(
                len > 0,
                "a WordSet has an empty word (two separators in a row?)"
            );
            let mut stem = false;
            if sep == b'|' && bytes[end - 1] == b'*' {
                stem = true;
                len -= 1;
                assert!(len > 0 && len < 63, "a WordSet stem must be 1 to 62 bytes");
                stem_lens |= 1 << len;
            }
            assert!(len <= 255, "a WordSet word is longer than 255 bytes");
            let w = word(bytes, start, len);
            let mut at = hash(w) as usize & (N - 1);
            loop {
                let slot = slots[at];
                if slot == 0 {
                    slots[at] = ((start as u32) << START_SHIFT)
                        | if stem { STEM_BIT } else { 0 }
                        | len as u32;
                    count += 1;
                    break;
                }
                let (s, l) = ((slot >> START_SHIFT) as usize, (slot & LEN_MASK) as usize);
                if same(bytes, s, l, w) {
                    // The same word twice ("x" and "x*"): a stem if either is.
                    if stem {
                        slots[at] = slot | STEM_BIT;
                    }
                    break;
                }
                at = (at + 1) & (N - 1);
            }
            start = end + 1;
        }
        assert!(
            count * 2 <= N,
            "a WordSet is more than half full: double its size"
        );
        WordSet {
            text: bytes,
            sep,
            slots,
            stem_lens,
        }
    }

    /// The slot holding `w`, if any.
    fn slot_of(&self, w: &[u8]) -> Option<u32> {
        if w.is_empty() || w.len() > 255 {
            return None;
        }
        let mut at = hash(w) as usize & (N - 1);
        // At most half the slots are full, so an empty one ends every probe; the bound is
        // only there so that the loop provably ends.
        for _ in 0..N {
            let slot = *self.slots.get(at)?;
            if slot == 0 {
                return None;
            }
            let (s, l) = ((slot >> START_SHIFT) as usize, (slot & LEN_MASK) as usize);
            if self.text.get(s..s + l) == Some(w) {
                return Some(slot);
            }
            at = (at + 1) & (N - 1);
        }
        None
    }

    /// Whether `w` is one of the words, or begins with one of the stems.
    pub fn has(&self, w: &[u8]) -> bool {
        if self.slot_of(w).is_some() {
            return true;
        }
        let mut lens = self.stem_lens & ((1u64 << w.len().min(63)) - 1);
        while lens != 0 {
            let l = lens.trailing_zeros() as usize;
            lens &= lens - 1;
            if let Some(prefix) = w.get(..l) {
                if self.slot_of(prefix).is_some_and(|s| s & STEM_BIT != 0) {
                    return true;
                }
            }
        }
        false
    }
}

/// The reading the sets replace: split the text at every call.
#[cfg(test)]
fn naive(text: &str, sep: char, w: &[u8]) -> bool {
    text.split(sep)
        .any(|p| match p.strip_suffix('*').filter(|_| sep == '|') {
            Some(stem) => w.starts_with(stem.as_bytes()),
            None => w == p.as_bytes(),
        })
}

#[cfg(test)]
impl<const N: usize> WordSet<N> {
    /// Checks the set against splitting its text for every word of it, every prefix of one,
    /// and each word with a letter added or its last byte changed; the first disagreement.
    pub fn check_against_its_text(&self) -> Result<(), String> {
        let text = std::str::from_utf8(self.text).map_err(|e| e.to_string())?;
        let sep = char::from(self.sep);
        for word in self.text.split(|&c| c == self.sep) {
            let mut probes: Vec<Vec<u8>> = (0..=word.len()).map(|k| word[..k].to_vec()).collect();
            probes.push([word, b"s"].concat());
            probes.push([word, b"x"].concat());
            if let Some((_, head)) = word.split_last() {
                probes.push([head, b"q"].concat());
            }
            for w in probes {
                if self.has(&w) != naive(text, sep, &w) {
                    return Err(format!("{:?} in {text:?}", String::from_utf8_lossy(&w)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPACED: WordSet<16> = WordSet::new("of from in on by for the a", b' ');
    static STEMS: WordSet<16> = WordSet::new("ignor*|forget*|forgot|i*|x|x*|über*", b'|');

    #[test]
    fn a_set_answers_as_splitting_its_text_does() {
        let probes: &[&[u8]] = &[
            b"",
            b"of",
            b"o",
            b"off",
            b"from",
            b"fro",
            b"for",
            b"fo",
            b"the",
            b"then",
            b"a",
            b"an",
            b"ignore",
            b"ignor",
            b"igno",
            b"forgot",
            b"forgotten",
            b"forget",
            b"forge",
            b"i",
            b"it",
            b"x",
            b"xy",
            b"y",
            "überall".as_bytes(),
            "übe".as_bytes(),
        ];
        for w in probes {
            assert_eq!(
                SPACED.has(w),
                naive("of from in on by for the a", ' ', w),
                "{w:?}"
            );
            assert_eq!(
                STEMS.has(w),
                naive("ignor*|forget*|forgot|i*|x|x*|über*", '|', w),
                "{w:?}"
            );
        }
        assert!(SPACED.has(b"by") && !SPACED.has(b"b") && !SPACED.has(b"bye"));
        assert!(STEMS.has(b"ignored") && STEMS.has(b"it") && !STEMS.has(b"forgo"));
    }

    #[test]
    fn a_word_of_256_bytes_or_more_is_not_found_and_does_not_panic() {
        let long = vec![b'i'; 300];
        assert!(!SPACED.has(&long));
        // A stem still begins it.
        assert!(STEMS.has(&long));
    }
}
