//! Request paths compared as the upstream will read them.
//!
//! `request.path_prefixes` decides which requests are inspected, so the comparison must not be
//! fooled by spellings that an upstream server resolves to the same route:
//! `/v1/chat/%63ompletions`, `//v1/chat/completions`, `/v1/./chat/completions` or
//! `/x/../v1/chat/completions`. [`normalize`] resolves them the way RFC 3986 (and Envoy's
//! `normalize_path: true` with `merge_slashes: true`) does:
//!
//! - the query (`?...`) and fragment (`#...`) are cut off;
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded; every other
//!   escape is kept, with upper-case hex digits;
//! - runs of slashes are merged;
//! - dot segments (`.`, `..`) are removed (never above the root).
//!
//! An escape that is not `%` followed by two hex digits is an error. An encoded slash or
//! backslash (`%2F`, `%5C`) is kept but reported: some servers decode it into a path separator
//! and some do not, so the caller refuses it where it would decide inspection.

/// A normalised path and what it hides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath {
    pub path: Vec<u8>,
    /// The path holds `%2F` or `%5C` (any case).
    pub encoded_slash: bool,
}

/// A `%` not followed by two hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedEscape;

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Normalises a request `:path` (see the module documentation).
pub fn normalize(raw: &[u8]) -> Result<NormalizedPath, MalformedEscape> {
    let end = raw
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(raw.len());
    let raw = &raw[..end];
    let mut decoded = Vec::with_capacity(raw.len());
    let mut encoded_slash = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'%' {
            decoded.push(b);
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            raw.get(i + 1).copied().and_then(hex_value),
            raw.get(i + 2).copied().and_then(hex_value),
        ) else {
            return Err(MalformedEscape);
        };
        let v = hi * 16 + lo;
        if unreserved(v) {
            decoded.push(v);
        } else {
            encoded_slash |= v == b'/' || v == b'\\';
            decoded.extend_from_slice(&[
                b'%',
                HEX_UPPER[usize::from(hi)],
                HEX_UPPER[usize::from(lo)],
            ]);
        }
        i += 3;
    }
    Ok(NormalizedPath {
        path: remove_dot_segments(&decoded),
        encoded_slash,
    })
}

/// Merges slashes and removes dot segments. A path that does not start with `/` (`*`, an
/// authority) is returned as it is: it can match no configured prefix.
fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    if path.first() != Some(&b'/') {
        return path.to_vec();
    }
    let mut segments: Vec<&[u8]> = Vec::new();
    let mut trailing_slash = false;
    for seg in path[1..].split(|&b| b == b'/') {
        match seg {
            b"" | b"." => trailing_slash = true,
            b".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for s in &segments {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push(b'/');
    }
    out
}

/// The same normalised path with `%2F` and `%5C` read as `/` (how a server that decodes
/// them before routing sees it).
pub fn with_slashes_decoded(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let esc = path.get(i..i + 3);
        if esc == Some(b"%2F") || esc == Some(b"%5C") {
            out.push(b'/');
            i += 3;
        } else {
            out.push(path[i]);
            i += 1;
        }
    }
    remove_dot_segments(&out)
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn norm(p: &str) -> String {
        String::from_utf8(normalize(p.as_bytes()).unwrap().path).unwrap()
    }

    #[test]
    fn spellings_of_one_route_normalise_alike() {
        for p in [
            "/v1/chat/completions",
            "/v1/chat/%63ompletions",
            "/%76%31/chat/completions",
            "//v1/chat/completions",
            "/v1//chat///completions",
            "/v1/./chat/completions",
            "/v1/x/../chat/completions",
            "/../v1/chat/completions",
            "/v1/chat/%2e/completions",
            "/v1/chat/%2E%2E/chat/completions",
            "/v1/chat/completions?x=/../y",
            "/v1/chat/completions#frag",
        ] {
            assert_eq!(norm(p), "/v1/chat/completions", "{p}");
        }
    }

    #[test]
    fn reserved_escapes_are_kept_upper_case() {
        assert_eq!(norm("/a%20b/%7e%3a"), "/a%20b/~%3A");
        assert_eq!(norm("/a%2fb"), "/a%2Fb");
        assert!(normalize(b"/a%2fb").unwrap().encoded_slash);
        assert!(normalize(b"/a%5Cb").unwrap().encoded_slash);
        assert!(!normalize(b"/a%20b").unwrap().encoded_slash);
        // An escaped percent is not decoded twice.
        assert_eq!(norm("/v1/chat/%2563ompletions"), "/v1/chat/%2563ompletions");
    }

    #[test]
    fn trailing_slashes_and_roots() {
        assert_eq!(norm("/"), "/");
        assert_eq!(norm(""), "");
        assert_eq!(norm("//"), "/");
        assert_eq!(norm("/.."), "/");
        assert_eq!(norm("/v1/"), "/v1/");
        assert_eq!(norm("/v1/."), "/v1/");
        assert_eq!(norm("/v1/chat/.."), "/v1/");
        assert_eq!(norm("*"), "*");
    }

    #[test]
    fn malformed_escapes_are_errors() {
        for p in ["/v1/%", "/v1/%6", "/v1/%zz", "/v1/%6g", "/%%63"] {
            assert_eq!(normalize(p.as_bytes()), Err(MalformedEscape), "{p}");
        }
        // Only the path is decoded: the query may hold anything.
        assert!(normalize(b"/v1/chat?q=%zz").is_ok());
    }

    #[test]
    fn slashes_decoded_variant() {
        let n = normalize(b"/v1%2Fchat%2fcompletions").unwrap();
        assert_eq!(n.path, b"/v1%2Fchat%2Fcompletions");
        assert_eq!(with_slashes_decoded(&n.path), b"/v1/chat/completions");
        let n = normalize(b"/x%5C..%5Cv1/chat").unwrap();
        assert_eq!(with_slashes_decoded(&n.path), b"/v1/chat");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"/.%2fF5cC6g3a?#~\xff";
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let p: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 8 * 8)) as usize + i) % alphabet.len()])
                .collect();
            if let Ok(n) = normalize(&p) {
                // Normalising is idempotent.
                assert_eq!(
                    normalize(&n.path).map(|m| m.path),
                    Ok(n.path.clone()),
                    "{p:?}"
                );
            }
        }
    }
}
