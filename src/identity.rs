//! The caller's identity from a verified JWT: Envoy's `jwt_authn` filter, placed before this
//! one, verifies the token and writes its payload into the request's dynamic metadata
//! (`payload_in_metadata`). A client cannot write dynamic metadata, so, unlike a header, the
//! identity cannot be forged or doubled by the client.
//!
//! The host reads the property `metadata.filter_metadata.<namespace>.<payload_key>`. Envoy
//! (checked on 1.40) hands a `google.protobuf.Struct` there as a CEL map in the proxy-wasm
//! pairs encoding: a little-endian `u32` count, then `count` pairs of `u32` key and value
//! lengths, then each key and value followed by a NUL byte. Values carry no type: a string is
//! its bytes, a number its 8-byte IEEE double, a bool one byte, a list or an object a nested
//! pairs encoding. [`string_claim`] accepts only what must be a string.

use crate::config::ConfigError;
use serde::Deserialize;

/// Where the user and tier come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentitySourceKind {
    /// `quota.user_header` and `quota.tier_header` (exactly one value each, or 400).
    #[default]
    Headers,
    /// Claims of the JWT payload `jwt_authn` put in dynamic metadata.
    Jwt,
}

/// `quota.identity` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    pub source: IdentitySourceKind,
    /// Dynamic metadata namespace (default `envoy.filters.http.jwt_authn`). Source `jwt` only.
    pub metadata_namespace: Option<String>,
    /// `payload_in_metadata` of the `jwt_authn` provider. Required with source `jwt`.
    pub payload_key: Option<String>,
    /// Claim holding the user id (default `sub`). Source `jwt` only.
    pub user_claim: Option<String>,
    /// Claim holding the tier; absent: `quota.default_tier` for every user. Source `jwt` only.
    pub tier_claim: Option<String>,
}

pub const DEFAULT_METADATA_NAMESPACE: &str = "envoy.filters.http.jwt_authn";
const DEFAULT_USER_CLAIM: &str = "sub";
const MAX_NAME: usize = 256;

/// The compiled `jwt` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSource {
    pub metadata_namespace: String,
    pub payload_key: String,
    pub user_claim: String,
    pub tier_claim: Option<String>,
}

/// The compiled `quota.identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    Headers,
    Jwt(JwtSource),
}

fn name(field: &str, value: &str) -> Result<String, ConfigError> {
    // NUL separates the parts of a property path: a name holding one would read another path.
    if value.is_empty() || value.len() > MAX_NAME || value.chars().any(char::is_control) {
        return Err(ConfigError::new(
            format!("quota.identity.{field}"),
            format!("expected 1 to {MAX_NAME} characters without control characters"),
        ));
    }
    Ok(value.to_string())
}

impl IdentityConfig {
    pub fn compile(&self) -> Result<IdentitySource, ConfigError> {
        match self.source {
            IdentitySourceKind::Headers => {
                let set = [
                    ("metadata_namespace", self.metadata_namespace.is_some()),
                    ("payload_key", self.payload_key.is_some()),
                    ("user_claim", self.user_claim.is_some()),
                    ("tier_claim", self.tier_claim.is_some()),
                ];
                if let Some((f, _)) = set.iter().find(|(_, s)| *s) {
                    return Err(ConfigError::new(
                        format!("quota.identity.{f}"),
                        "only with \"source\": \"jwt\"",
                    ));
                }
                Ok(IdentitySource::Headers)
            }
            IdentitySourceKind::Jwt => {
                let Some(payload_key) = &self.payload_key else {
                    return Err(ConfigError::new(
                        "quota.identity.payload_key",
                        "required with \"source\": \"jwt\": the payload_in_metadata name of the jwt_authn provider",
                    ));
                };
                Ok(IdentitySource::Jwt(JwtSource {
                    metadata_namespace: name(
                        "metadata_namespace",
                        self.metadata_namespace
                            .as_deref()
                            .unwrap_or(DEFAULT_METADATA_NAMESPACE),
                    )?,
                    payload_key: name("payload_key", payload_key)?,
                    user_claim: name(
                        "user_claim",
                        self.user_claim.as_deref().unwrap_or(DEFAULT_USER_CLAIM),
                    )?,
                    tier_claim: match &self.tier_claim {
                        Some(t) => Some(name("tier_claim", t)?),
                        None => None,
                    },
                }))
            }
        }
    }
}

impl JwtSource {
    /// The host property holding the payload.
    pub fn property_path(&self) -> [&str; 4] {
        [
            "metadata",
            "filter_metadata",
            &self.metadata_namespace,
            &self.payload_key,
        ]
    }
}

/// The payload is not in the pairs encoding, or names a claim twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedPayload;

/// Key and value bytes, in the host's order.
pub type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Parses the proxy-wasm pairs encoding strictly: every length in bounds, every terminator
/// NUL, nothing left over, no key twice.
pub fn parse_pairs(bytes: &[u8]) -> Result<Pairs<'_>, MalformedPayload> {
    let u32_at = |i: usize| -> Result<usize, MalformedPayload> {
        let b = bytes
            .get(i..i.checked_add(4).ok_or(MalformedPayload)?)
            .ok_or(MalformedPayload)?;
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        usize::try_from(n).map_err(|_| MalformedPayload)
    };
    let n = u32_at(0)?;
    // Each pair needs 8 bytes of lengths and 2 terminators: bound `n` before allocating.
    let header = n
        .checked_mul(8)
        .and_then(|h| h.checked_add(4))
        .ok_or(MalformedPayload)?;
    if header > bytes.len() || n.saturating_mul(10) > bytes.len() {
        return Err(MalformedPayload);
    }
    let mut out: Pairs<'_> = Vec::with_capacity(n);
    let mut pos = header;
    let field = |len: usize, pos: &mut usize| -> Result<&[u8], MalformedPayload> {
        let end = pos.checked_add(len).ok_or(MalformedPayload)?;
        let v = bytes.get(*pos..end).ok_or(MalformedPayload)?;
        if bytes.get(end) != Some(&0) {
            return Err(MalformedPayload);
        }
        *pos = end + 1;
        Ok(v)
    };
    for i in 0..n {
        let kl = u32_at(4 + i * 8)?;
        let vl = u32_at(8 + i * 8)?;
        let k = field(kl, &mut pos)?;
        let v = field(vl, &mut pos)?;
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(MalformedPayload);
        }
        out.push((k, v));
    }
    if pos != bytes.len() {
        return Err(MalformedPayload);
    }
    Ok(out)
}

/// The value of a claim that must be a string: UTF-8 without control characters. Numbers,
/// booleans, lists and objects arrive as binary encodings (NUL bytes, lengths) and are
/// refused (`None`); so is an empty value.
pub fn string_claim(value: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(value).ok()?;
    if s.is_empty() || s.chars().any(char::is_control) {
        return None;
    }
    Some(s)
}

/// The user and tier claims found in a payload (each `None` when absent or not a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims<'a> {
    pub user: Option<&'a str>,
    /// `Some(None)`: the tier claim is present but not a string.
    pub tier: Option<Option<&'a str>>,
}

impl JwtSource {
    /// Reads the configured claims from the payload bytes the host returned.
    pub fn claims<'a>(&self, payload: &'a [u8]) -> Result<Claims<'a>, MalformedPayload> {
        let pairs = parse_pairs(payload)?;
        let get = |claim: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == claim.as_bytes())
                .map(|(_, v)| *v)
        };
        Ok(Claims {
            user: get(&self.user_claim).and_then(string_claim),
            tier: self.tier_claim.as_deref().and_then(get).map(string_claim),
        })
    }
}

#[cfg(test)]
/// Encodes pairs as Envoy does (tests and tools).
pub fn encode_pairs(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// What Envoy 1.40 returned for `metadata.filter_metadata.envoy.filters.http.jwt_authn.
    /// jwt_payload` with the payload `{"iss": "https://issuer.test", "sub": "alice",
    /// "num": 42, "arr": ["a", "b"], "obj": {"k": "v"}, "exp": ...}` (logged from the module).
    const ENVOY_1_40: &str = "0600000003000000050000000300000013000000030000001000000003000000080000000300000008000000030000001a00000073756200616c696365006973730068747470733a2f2f6973737565722e74657374006f626a000100000001000000010000006b007600006e756d00000000000000454000657870000000c0100dc2da410061727200020000000100000000000000010000000000000061000062000000";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn jwt(tier_claim: Option<&str>) -> JwtSource {
        let cfg: IdentityConfig = serde_json::from_value(serde_json::json!({
            "source": "jwt", "payload_key": "jwt_payload", "tier_claim": tier_claim
        }))
        .unwrap();
        match cfg.compile().unwrap() {
            IdentitySource::Jwt(j) => j,
            IdentitySource::Headers => panic!("headers"),
        }
    }

    #[test]
    fn reads_claims_from_what_envoy_returns() {
        let payload = unhex(ENVOY_1_40);
        let pairs = parse_pairs(&payload).unwrap();
        let keys: Vec<&[u8]> = pairs.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [&b"sub"[..], b"iss", b"obj", b"num", b"exp", b"arr"].to_vec()
        );
        let j = jwt(Some("iss"));
        assert_eq!(
            j.property_path(),
            [
                "metadata",
                "filter_metadata",
                "envoy.filters.http.jwt_authn",
                "jwt_payload"
            ]
        );
        let c = j.claims(&payload).unwrap();
        assert_eq!(c.user, Some("alice"));
        assert_eq!(c.tier, Some(Some("https://issuer.test")));
        // Numbers, lists and objects are not strings.
        for claim in ["num", "arr", "obj", "exp"] {
            let c = jwt(Some(claim)).claims(&payload).unwrap();
            assert_eq!(c.tier, Some(None), "{claim}");
        }
        assert_eq!(jwt(Some("nope")).claims(&payload).unwrap().tier, None);
        assert_eq!(jwt(None).claims(&payload).unwrap().tier, None);
    }

    #[test]
    fn string_claims() {
        assert_eq!(string_claim(b"alice"), Some("alice"));
        assert_eq!(string_claim("zoë".as_bytes()), Some("zoë"));
        assert_eq!(string_claim(b""), None);
        assert_eq!(string_claim(&42f64.to_le_bytes()), None);
        assert_eq!(string_claim(&[1]), None);
        assert_eq!(string_claim(b"\xff\xfe"), None);
        assert_eq!(string_claim(b"a\nb"), None);
    }

    #[test]
    fn round_trip_and_strictness() {
        let enc = encode_pairs(&[(b"sub", b"bob"), (b"tier", b"premium")]);
        assert_eq!(
            parse_pairs(&enc).unwrap(),
            vec![(&b"sub"[..], &b"bob"[..]), (&b"tier"[..], &b"premium"[..])]
        );
        assert_eq!(parse_pairs(&encode_pairs(&[])).unwrap(), vec![]);
        // A key twice is ambiguous.
        let dup = encode_pairs(&[(b"sub", b"bob"), (b"sub", b"eve")]);
        assert_eq!(parse_pairs(&dup), Err(MalformedPayload));
        // Trailing bytes, a missing terminator, a truncation.
        let mut extra = enc.clone();
        extra.push(0);
        assert_eq!(parse_pairs(&extra), Err(MalformedPayload));
        let mut bad_nul = enc.clone();
        let last = bad_nul.len() - 1;
        bad_nul[last] = b'x';
        assert_eq!(parse_pairs(&bad_nul), Err(MalformedPayload));
        for cut in 0..enc.len() {
            assert_eq!(parse_pairs(&enc[..cut]), Err(MalformedPayload), "{cut}");
        }
        // A huge count or length does not allocate or overflow.
        assert_eq!(parse_pairs(&[0xff; 12]), Err(MalformedPayload));
        let mut huge = encode_pairs(&[(b"a", b"b")]);
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_pairs(&huge), Err(MalformedPayload));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let base = unhex(ENVOY_1_40);
        let j = jwt(Some("tier"));
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = base.clone();
            let i = (seed as usize) % b.len();
            b[i] = (seed >> 32) as u8;
            let cut = ((seed >> 40) as usize) % (b.len() + 1);
            let _ = j.claims(&b[..cut]);
        }
    }

    #[test]
    fn config_is_validated() {
        let err = |v: serde_json::Value| {
            serde_json::from_value::<IdentityConfig>(v)
                .unwrap()
                .compile()
                .unwrap_err()
                .field
        };
        assert_eq!(
            err(serde_json::json!({"source": "jwt"})),
            "quota.identity.payload_key"
        );
        assert_eq!(
            err(serde_json::json!({"payload_key": "p"})),
            "quota.identity.payload_key"
        );
        assert_eq!(
            err(serde_json::json!({"source": "jwt", "payload_key": "p", "user_claim": ""})),
            "quota.identity.user_claim"
        );
        assert_eq!(
            err(serde_json::json!({"source": "jwt", "payload_key": "a\u{0}b"})),
            "quota.identity.payload_key"
        );
        assert_eq!(
            IdentityConfig::default().compile().unwrap(),
            IdentitySource::Headers
        );
        let j = jwt(None);
        assert_eq!(j.metadata_namespace, DEFAULT_METADATA_NAMESPACE);
        assert_eq!(j.user_claim, "sub");
        assert!(
            serde_json::from_value::<IdentityConfig>(serde_json::json!({"source": "cookie"}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<IdentityConfig>(serde_json::json!({"sourc": "jwt"})).is_err()
        );
    }
}
