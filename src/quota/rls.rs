//! The wire format of Envoy's rate-limit service (`envoy.service.ratelimit.v3`), written by
//! hand: the filter sends one `RateLimitRequest` and reads one `RateLimitResponse` per call
//! (Envoy frames them as gRPC), so a protobuf library would cost module size for two messages.
//!
//! Only the fields the filter uses are written or read; unknown fields of a response are
//! skipped, as protobuf requires. Malformed input is an error, never a panic.
//!
//! ```text
//! RateLimitRequest   { string domain = 1; repeated RateLimitDescriptor descriptors = 2;
//!                      uint32 hits_addend = 3; }
//! RateLimitDescriptor{ repeated Entry entries = 1; UInt64Value hits_addend = 3; }
//!   Entry            { string key = 1; string value = 2; }
//! RateLimitResponse  { Code overall_code = 1; repeated DescriptorStatus statuses = 2; ... }
//!   DescriptorStatus { Code code = 1; RateLimit current_limit = 2; uint32 limit_remaining = 3;
//!                      Duration duration_until_reset = 4; }
//!   RateLimit        { uint32 requests_per_unit = 1; Unit unit = 2; string name = 3; }
//!   Duration         { int64 seconds = 1; int32 nanos = 2; }
//!   Code             { UNKNOWN = 0; OK = 1; OVER_LIMIT = 2; }
//! ```

/// The gRPC service and method the filter calls.
pub const SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
pub const METHOD: &str = "ShouldRateLimit";

/// The descriptor entry that marks a settlement (`hits_mode: report`): the usage has happened,
/// so the service charges it whatever the limit says and never answers OVER_LIMIT for it.
/// This repository's RLS (`rls/`) implements it; with envoyproxy/ratelimit (which always
/// charges) give the `hits_mode: report` leaf the same limit.
pub const HITS_MODE_KEY: &str = "hits_mode";

/// A limit kind: one descriptor per kind the user's tier has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Requests,
    Tokens,
    /// Micro-USD.
    Cost,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Requests => "requests",
            Kind::Tokens => "tokens",
            Kind::Cost => "cost",
        }
    }

    fn index(self) -> usize {
        match self {
            Kind::Requests => 0,
            Kind::Tokens => 1,
            Kind::Cost => 2,
        }
    }
}

/// Which kinds a tier limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kinds {
    pub requests: bool,
    pub tokens: bool,
    pub cost: bool,
}

/// The latest status the service gave for each kind (for the quota headers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statuses([Option<DescriptorStatus>; 3]);

impl Statuses {
    pub fn get(&self, kind: Kind) -> Option<&DescriptorStatus> {
        self.0[kind.index()].as_ref()
    }

    pub fn set(&mut self, kind: Kind, status: DescriptorStatus) {
        self.0[kind.index()] = Some(status);
    }
}

/// The descriptor of one limit kind for one user: `tier`, `limit`, `user` (in this order, for
/// services that match entries as a tree, like envoyproxy/ratelimit), then `hits_mode: report`
/// for a settlement. The domain names the tenant.
pub fn descriptor(user: &str, tier: &str, kind: Kind, hits: u64, report: bool) -> Descriptor {
    let mut entries = vec![
        ("tier".to_string(), tier.to_string()),
        ("limit".to_string(), kind.as_str().to_string()),
        ("user".to_string(), user.to_string()),
    ];
    if report {
        entries.push((HITS_MODE_KEY.to_string(), "report".to_string()));
    }
    Descriptor {
        entries,
        hits_addend: Some(hits),
    }
}

/// One `ShouldRateLimit` call for `items` (kind, hits) of one user. Each descriptor carries
/// its own `hits_addend` (envoyproxy/ratelimit and `rls/` read it); when every item has the
/// same amount the request-level `hits_addend` carries it too, so a service that reads only
/// that one (Limitador) counts the same.
pub fn encode_call(
    domain: &str,
    user: &str,
    tier: &str,
    items: &[(Kind, u64)],
    report: bool,
) -> Vec<u8> {
    let descriptors: Vec<Descriptor> = items
        .iter()
        .map(|&(k, hits)| descriptor(user, tier, k, hits, report))
        .collect();
    let same = items
        .first()
        .map(|f| f.1)
        .filter(|&h| items.iter().all(|i| i.1 == h));
    let request_hits = same.map_or(0, |h| u32::try_from(h).unwrap_or(u32::MAX));
    encode_request(domain, &descriptors, request_hits)
}

/// The service's answer to a call for `kinds` (in the order sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Refused; the kind the service says is over (the first one sent when it does not say).
    OverLimit(Kind),
}

/// Reads an answer: the verdict, and the statuses by kind. An answer without statuses (as
/// Limitador gives) is accepted; statuses that do not match the descriptors sent, or an
/// overall code other than OK / OVER_LIMIT, are malformed.
pub fn interpret(bytes: &[u8], kinds: &[Kind]) -> Result<(Verdict, Statuses), DecodeError> {
    let r = decode_response(bytes)?;
    if !r.statuses.is_empty() && r.statuses.len() != kinds.len() {
        return Err(DecodeError("statuses do not match the descriptors sent"));
    }
    let mut statuses = Statuses::default();
    for (k, s) in kinds.iter().zip(r.statuses.iter()) {
        statuses.set(*k, s.clone());
    }
    let verdict = match r.overall {
        Code::Ok => Verdict::Ok,
        Code::OverLimit => {
            let over = kinds
                .iter()
                .zip(r.statuses.iter())
                .find(|(_, s)| s.code == Code::OverLimit)
                .map(|(k, _)| *k)
                .or(kinds.first().copied())
                .unwrap_or(Kind::Requests);
            Verdict::OverLimit(over)
        }
        Code::Unknown => return Err(DecodeError("overall code is neither OK nor OVER_LIMIT")),
    };
    Ok((verdict, statuses))
}

/// One descriptor: ordered key/value entries and, optionally, its own hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub entries: Vec<(String, String)>,
    /// Per-descriptor `hits_addend` (envoyproxy/ratelimit honours it; Limitador reads only the
    /// request-level one).
    pub hits_addend: Option<u64>,
}

/// The service's verdict on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unknown,
    Ok,
    OverLimit,
}

impl Code {
    fn from_wire(v: u64) -> Code {
        match v {
            1 => Code::Ok,
            2 => Code::OverLimit,
            _ => Code::Unknown,
        }
    }
}

/// The limit a descriptor matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentLimit {
    pub requests_per_unit: u32,
    /// Seconds in the limit's unit (0 when the unit is unknown).
    pub unit_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorStatus {
    pub code: Code,
    pub current_limit: Option<CurrentLimit>,
    pub limit_remaining: u32,
    pub duration_until_reset_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub overall: Code,
    /// One per descriptor sent, in the same order.
    pub statuses: Vec<DescriptorStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

/// Encodes a `RateLimitRequest`. `hits_addend` 0 is omitted (the service counts 1).
pub fn encode_request(domain: &str, descriptors: &[Descriptor], hits_addend: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + 48 * descriptors.len());
    put_bytes(&mut out, 1, domain.as_bytes());
    for d in descriptors {
        let mut msg = Vec::with_capacity(48);
        for (k, v) in &d.entries {
            let mut entry = Vec::with_capacity(k.len() + v.len() + 4);
            put_bytes(&mut entry, 1, k.as_bytes());
            put_bytes(&mut entry, 2, v.as_bytes());
            put_bytes(&mut msg, 1, &entry);
        }
        if let Some(h) = d.hits_addend {
            // google.protobuf.UInt64Value { uint64 value = 1; }; an empty wrapper means 0.
            let mut wrapper = Vec::with_capacity(10);
            if h != 0 {
                put_varint_field(&mut wrapper, 1, h);
            }
            put_bytes(&mut msg, 3, &wrapper);
        }
        put_bytes(&mut out, 2, &msg);
    }
    if hits_addend != 0 {
        put_varint_field(&mut out, 3, u64::from(hits_addend));
    }
    out
}

/// Decodes a `RateLimitResponse`.
pub fn decode_response(bytes: &[u8]) -> Result<Response, DecodeError> {
    let mut overall = Code::Unknown;
    let mut statuses = Vec::new();
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Varint(v)) => overall = Code::from_wire(v),
            (2, Value::Bytes(b)) => statuses.push(decode_status(b)?),
            (1 | 2, _) => {
                return Err(DecodeError(
                    "RateLimitResponse field of the wrong wire type",
                ))
            }
            _ => {}
        }
    }
    Ok(Response { overall, statuses })
}

fn decode_status(bytes: &[u8]) -> Result<DescriptorStatus, DecodeError> {
    let mut s = DescriptorStatus {
        code: Code::Unknown,
        current_limit: None,
        limit_remaining: 0,
        duration_until_reset_secs: None,
    };
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Varint(v)) => s.code = Code::from_wire(v),
            (2, Value::Bytes(b)) => s.current_limit = Some(decode_limit(b)?),
            (3, Value::Varint(v)) => s.limit_remaining = u32::try_from(v).unwrap_or(u32::MAX),
            (4, Value::Bytes(b)) => s.duration_until_reset_secs = Some(decode_duration_secs(b)?),
            (1..=4, _) => return Err(DecodeError("DescriptorStatus field of the wrong wire type")),
            _ => {}
        }
    }
    Ok(s)
}

fn decode_limit(bytes: &[u8]) -> Result<CurrentLimit, DecodeError> {
    let mut l = CurrentLimit {
        requests_per_unit: 0,
        unit_secs: 0,
    };
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Varint(v)) => l.requests_per_unit = u32::try_from(v).unwrap_or(u32::MAX),
            (2, Value::Varint(v)) => {
                l.unit_secs = match v {
                    1 => 1,
                    2 => 60,
                    3 => 3600,
                    4 => 86_400,
                    5 => 30 * 86_400,
                    6 => 365 * 86_400,
                    7 => 7 * 86_400,
                    _ => 0,
                }
            }
            (1 | 2, _) => return Err(DecodeError("RateLimit field of the wrong wire type")),
            _ => {}
        }
    }
    Ok(l)
}

fn decode_duration_secs(bytes: &[u8]) -> Result<u64, DecodeError> {
    let mut secs = 0u64;
    let mut nanos = 0u64;
    for field in Fields::new(bytes) {
        match field? {
            // int64 seconds: a negative duration (as a 10-byte varint) means "now".
            (1, Value::Varint(v)) => secs = if v > i64::MAX as u64 { 0 } else { v },
            (2, Value::Varint(v)) => nanos = if v > i64::MAX as u64 { 0 } else { v },
            (1 | 2, _) => return Err(DecodeError("Duration field of the wrong wire type")),
            _ => {}
        }
    }
    // Round up: "retry after" must not come before the reset.
    Ok(secs.saturating_add(u64::from(nanos > 0)))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field) << 3);
    put_varint(out, v);
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one message, in order.
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fields {
            bytes,
            pos: 0,
            failed: false,
        }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = *self
                .bytes
                .get(self.pos)
                .ok_or(DecodeError("truncated varint"))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(DecodeError("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(n).map_err(|_| DecodeError("length out of range"))?;
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError("length out of range"))?;
        let b = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError("truncated field"))?;
        self.pos = end;
        Ok(b)
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), DecodeError> {
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 {
            return Err(DecodeError("field number 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed
            }
            2 => {
                let n = self.varint()?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed
            }
            _ => return Err(DecodeError("unsupported wire type")),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let r = self.field();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Encodes a `RateLimitResponse` (tests): overall code and, per descriptor, (code, limit per
/// day, remaining, seconds until reset).
#[cfg(test)]
pub fn encode_response(overall: u64, statuses: &[(u64, u32, u32, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint_field(&mut out, 1, overall);
    for &(code, limit, remaining, reset) in statuses {
        let mut st = Vec::new();
        put_varint_field(&mut st, 1, code);
        let mut l = Vec::new();
        put_varint_field(&mut l, 1, u64::from(limit));
        put_varint_field(&mut l, 2, 4); // DAY
        put_bytes(&mut st, 2, &l);
        put_varint_field(&mut st, 3, u64::from(remaining));
        let mut d = Vec::new();
        put_varint_field(&mut d, 1, reset);
        put_bytes(&mut st, 4, &d);
        put_bytes(&mut out, 2, &st);
    }
    out
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn d(entries: &[(&str, &str)], hits: Option<u64>) -> Descriptor {
        Descriptor {
            entries: entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            hits_addend: hits,
        }
    }

    #[test]
    fn request_bytes_follow_the_proto() {
        // Checked by hand against the field numbers above (protoc --encode gives the same).
        let bytes = encode_request("mg", &[d(&[("user", "u1")], Some(300))], 2);
        let want: Vec<u8> = [
            &[0x0a, 2][..],
            b"mg",
            &[0x12, 17, 0x0a, 10, 0x0a, 4],
            b"user",
            &[0x12, 2],
            b"u1",
            &[0x1a, 3, 0x08, 0xac, 0x02],
            &[0x18, 2],
        ]
        .concat();
        assert_eq!(bytes, want);
        // Zero hits: the request-level field is omitted, a per-descriptor wrapper is empty.
        let zero = encode_request("mg", &[d(&[("k", "v")], Some(0))], 0);
        assert!(zero.ends_with(&[0x1a, 0]));
    }

    fn status(code: u8, per_unit: u8, unit: u8, remaining: u8, secs: u8, nanos: u8) -> Vec<u8> {
        [
            vec![
                0x08, code, 0x12, 4, 0x08, per_unit, 0x10, unit, 0x18, remaining,
            ],
            vec![0x22, 4, 0x08, secs, 0x10, nanos],
        ]
        .concat()
    }

    #[test]
    fn response_statuses_are_read_in_order_and_unknown_fields_skipped() {
        let s1 = status(1, 20, 4, 19, 100, 0);
        let s2 = status(2, 5, 2, 0, 59, 1);
        let mut bytes = vec![0x08, 2];
        for s in [&s1, &s2] {
            bytes.push(0x12);
            bytes.push(s.len() as u8);
            bytes.extend_from_slice(s);
        }
        // response_headers_to_add (3), a fixed64 (field 9) and a fixed32 (field 10): skipped.
        bytes.extend_from_slice(&[0x1a, 2, 0x0a, 0]);
        bytes.extend_from_slice(&[0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x55, 1, 2, 3, 4]);
        let r = decode_response(&bytes).unwrap();
        assert_eq!(r.overall, Code::OverLimit);
        assert_eq!(r.statuses.len(), 2);
        assert_eq!(r.statuses[0].code, Code::Ok);
        assert_eq!(
            r.statuses[0].current_limit,
            Some(CurrentLimit {
                requests_per_unit: 20,
                unit_secs: 86_400
            })
        );
        assert_eq!(r.statuses[0].limit_remaining, 19);
        assert_eq!(r.statuses[0].duration_until_reset_secs, Some(100));
        assert_eq!(r.statuses[1].code, Code::OverLimit);
        assert_eq!(r.statuses[1].current_limit.unwrap().unit_secs, 60);
        // 59 s and some nanoseconds round up.
        assert_eq!(r.statuses[1].duration_until_reset_secs, Some(60));
        assert_eq!(
            decode_response(&[]).unwrap(),
            Response {
                overall: Code::Unknown,
                statuses: vec![]
            }
        );
    }

    #[test]
    fn malformed_responses_are_errors_not_panics() {
        for bad in [
            &[0x08][..],      // truncated varint
            &[0x12, 5, 0x08], // truncated message
            &[
                0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // huge length
            &[0x0b],          // wire type 3 (groups)
            &[0x00, 0x01],    // field number 0
            &[0x12, 1, 0x0b], // bad nested field
            &[0x0a, 0],       // overall_code as bytes
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ], // varint > 64 bits
        ] {
            assert!(decode_response(bad).is_err(), "{bad:?}");
        }
        // Any bytes at all: an answer or an error.
        let mut state = 0x2545_f491_u32;
        for _ in 0..2000 {
            let n = (state % 40) as usize;
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let _ = decode_response(&bytes);
        }
    }

    /// Settlement schemes compared on a model of the service (the semantics of `rls/` and of
    /// envoyproxy/ratelimit for one descriptor: a call is admitted when `remaining >= hits`,
    /// `hits 0` checks `remaining > 0`, a report is always charged). `n` requests of one user
    /// are all in flight at once (each admission call answered before any report), the worst
    /// case for admission; `remaining` tokens are left of the day's limit.
    ///
    /// Returns (admitted, counted by the service, tokens actually used).
    fn simulate(
        reserve: bool,
        n: usize,
        remaining: u64,
        estimate: u64,
        actual: &[u64],
    ) -> (usize, u64, u64) {
        let mut counted = 0u64;
        let mut admitted = Vec::new();
        for &a in actual.iter().take(n) {
            let left = remaining.saturating_sub(counted);
            if reserve {
                if left >= estimate {
                    counted += estimate;
                    admitted.push(a);
                }
            } else if left > 0 {
                admitted.push(a);
            }
        }
        let used: u64 = admitted.iter().sum();
        for &a in &admitted {
            counted += if reserve {
                a.saturating_sub(estimate)
            } else {
                a
            };
        }
        (admitted.len(), counted, used)
    }

    #[test]
    fn reserve_then_report_vs_check_then_report() {
        // 60 requests in flight; prompt 500 tokens; completions drawn from 100..=1000
        // (xorshift, fixed seed).
        let mut state = 0x9e37_79b9_u32;
        let actual: Vec<u64> = (0..60)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                500 + 100 + u64::from(state % 901)
            })
            .collect();
        let max_actual = actual.iter().copied().max().unwrap_or(0);
        // (case, remaining, estimate): with max_tokens 1000 (estimate 1500, never below the
        // usage) and without (estimate 500 + default_completion_tokens 256 = 756).
        let cases = [
            ("max_tokens=1000, 2000 left", 2_000u64, 1_500u64),
            ("max_tokens=1000, 10000 left", 10_000, 1_500),
            ("no max_tokens, 2000 left", 2_000, 756),
            ("no max_tokens, 10000 left", 10_000, 756),
        ];
        println!("case | scheme | admitted | counted | used | past the limit | charged beyond use");
        for (case, remaining, est) in cases {
            let (ra, rc, ru) = simulate(true, 60, remaining, est, &actual);
            let (ca, cc, cu) = simulate(false, 60, remaining, est, &actual);
            println!(
                "{case} | reserve-then-report | {ra} | {rc} | {ru} | {} | {}",
                rc.saturating_sub(remaining),
                rc - ru
            );
            println!(
                "{case} | check-then-report | {ca} | {cc} | {cu} | {} | {}",
                cc.saturating_sub(remaining),
                cc - cu
            );
            // Reserve-then-report admits only what the reservations fit...
            assert_eq!(ra as u64, remaining / est);
            // ...and passes the limit only by usage beyond the estimates of admitted requests
            // (never when the estimate bounds the usage, i.e. with max_tokens).
            let beyond: u64 = actual[..ra].iter().map(|&a| a.saturating_sub(est)).sum();
            assert!(rc <= remaining + beyond);
            if est >= max_actual {
                assert!(rc <= remaining, "{case}");
            }
            // The user is charged max(estimate, usage) per request: beyond use by at most
            // the over-estimates.
            let over: u64 = actual[..ra].iter().map(|&a| est.saturating_sub(a)).sum();
            assert_eq!(rc - ru, over);
            // Check-then-report admits every request in flight and passes the limit by
            // their whole usage.
            assert_eq!(ca, 60);
            assert_eq!(cc, cu);
            assert!(cc > 6 * remaining, "{case}: {cc}");
        }
    }
}
