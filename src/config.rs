//! Plugin configuration: one serde schema, validated and compiled once in `on_configure`.
//!
//! Every struct denies unknown fields and has defaults, so `{}` is a valid configuration.
//! A bad configuration yields a [`ConfigError`] that names the offending field.

use serde::Deserialize;
use std::fmt;

/// Why a configuration was refused: the dotted path of the field and what was expected.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid plugin configuration: field `{}`: {}",
            self.field, self.message
        )
    }
}

/// `enforce` (default) acts on decisions; `monitor` computes, logs, counts and reports them
/// but never blocks, rewrites or rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Monitor,
}

use crate::injection::{InjectionConfig, InjectionDetector};
use crate::pii::{PiiConfig, PiiEngine};
use crate::quota::{QuotaConfig, QuotaPolicy};
use crate::reply::LocalReply;

/// The plugin configuration as users write it (JSON in the Envoy filter config).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginConfig {
    pub mode: Mode,
    pub decision_headers: DecisionHeadersConfig,
    pub request: RequestConfig,
    pub response: ResponseConfig,
    pub injection: InjectionConfig,
    pub pii: PiiConfig,
    /// Quota is off when absent.
    pub quota: Option<QuotaConfig>,
    /// Cohorts and gradual model rollout; off when absent.
    pub rollout: Option<crate::rollout::RolloutConfig>,
    /// Fallback answers for upstream failures and degradation levels.
    pub degradation: crate::degrade::DegradationConfig,
    pub output: crate::output::OutputConfig,
    /// The per-VM verdict cache (`crate::cache`).
    pub cache: crate::cache::CacheConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionHeadersConfig {
    /// Add decision headers to the request forwarded upstream (default false).
    pub upstream: bool,
    /// Add decision headers to the response (default: true in monitor mode, false in enforce).
    pub client: Option<bool>,
}

/// What to do with a request body larger than `request.max_body_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OversizePolicy {
    /// 413 with code `request_too_large`.
    #[default]
    Reject,
    /// Forward unscanned, marked `x-guardrail-action: skip` upstream and counted.
    Pass,
}

/// What to do with a compressed (`content-encoding` other than identity) request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressedPolicy {
    /// 415 with code `unsupported_content_encoding`: compressed text cannot be scanned.
    #[default]
    Reject,
    /// Forward unscanned, marked and counted like an oversize pass.
    Pass,
}

/// How the filter holds an inspected request while it reads the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldHeaders {
    /// Learn it per VM from the host: the first inspected requests hold their headers; a body
    /// that arrives while they are held proves the host supports it (`hold`), a request still
    /// waiting for its body after 25 to 50 ms is released and the VM streams from then on.
    #[default]
    Auto,
    /// Hold the request headers until the body is inspected. Needs Envoy's
    /// `allow_on_headers_stop_iteration: true`; without it every inspected request hangs.
    Always,
    /// Let the headers go upstream at once and hold only the body (what Istio's `WasmPlugin`
    /// supports). No upstream decision headers; a blocked request resets the upstream stream.
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestConfig {
    /// Largest body the filter buffers and inspects. Below Envoy's default 1 MiB buffer limit.
    pub max_body_bytes: usize,
    /// Most texts (string values, object keys, long numbers) one request body may hold; a
    /// body with more is refused (413 `too_many_texts`): detection costs per text, and no LLM
    /// request needs this many.
    pub max_texts: usize,
    pub hold_headers: HoldHeaders,
    pub oversize: OversizePolicy,
    pub compressed: CompressedPolicy,
    /// Only these methods are inspected.
    pub methods: Vec<String>,
    /// Only requests whose media type starts with one of these are inspected.
    pub content_types: Vec<String>,
    /// Only paths starting with one of these are inspected (empty: every path).
    pub path_prefixes: Vec<String>,
}

impl Default for RequestConfig {
    fn default() -> Self {
        RequestConfig {
            max_body_bytes: 900 * 1024,
            max_texts: 10_000,
            hold_headers: HoldHeaders::Auto,
            oversize: OversizePolicy::Reject,
            compressed: CompressedPolicy::Reject,
            methods: vec!["POST".into()],
            content_types: vec!["application/json".into(), "text/plain".into()],
            path_prefixes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    /// Largest non-streamed (JSON) response body the filter buffers to restore PII and read
    /// usage; a larger one passes through unmodified and is counted (SSE is never buffered whole).
    pub max_body_bytes: usize,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            max_body_bytes: 900 * 1024,
        }
    }
}

/// The compiled configuration every HTTP context shares (by `Rc`).
pub struct Settings {
    pub mode: Mode,
    pub upstream_headers: bool,
    pub client_headers: bool,
    pub request: RequestConfig,
    pub response: ResponseConfig,
    pub injection: InjectionDetector,
    pub pii: PiiEngine,
    pub quota: Option<QuotaPolicy>,
    pub rollout: Option<crate::rollout::RolloutPolicy>,
    pub degradation: crate::degrade::DegradationPolicy,
    pub output: crate::output::OutputValidator,
    /// Detector results per text, for this configuration only (`crate::cache`).
    pub cache: crate::cache::VerdictCache,
    /// Where the last requests' messages ended, per conversation (`crate::memo`).
    pub memo: crate::memo::ConversationMemo,
}

/// Envoy hands the configuration as a JSON string, or as a `google.protobuf.Struct` rendered to
/// JSON. Either way this is JSON; a JSON string whose content is itself a JSON object (a
/// double-encoded value) is also accepted. Empty input means `{}`.
pub fn parse_plugin_config(bytes: &[u8]) -> Result<PluginConfig, ConfigError> {
    let trimmed = std::str::from_utf8(bytes)
        .map_err(|_| ConfigError::new("(root)", "configuration is not valid UTF-8"))?
        .trim();
    if trimmed.is_empty() {
        return Ok(PluginConfig::default());
    }
    let value: serde_json::Value = serde_json::from_str(trimmed)
        .map_err(|e| ConfigError::new("(root)", format!("configuration is not valid JSON: {e}")))?;
    let value = match value {
        serde_json::Value::String(inner) => serde_json::from_str(&inner).map_err(|e| {
            ConfigError::new(
                "(root)",
                format!("configuration string is not valid JSON: {e}"),
            )
        })?,
        v => v,
    };
    if !value.is_object() {
        return Err(ConfigError::new("(root)", "expected a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde_path_to_error's path already ends with an unknown field's name.
        let field = if path == "." {
            unknown_field_name(&inner).unwrap_or_else(|| "(root)".to_string())
        } else {
            path
        };
        ConfigError::new(field, inner)
    })
}

fn unknown_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

impl Settings {
    /// Validates and compiles. `token_key` is resolved by the host ([`resolve_token_key`]:
    /// environment variable, `pii.token_key`, or random per VM).
    pub fn compile(cfg: &PluginConfig, token_key: Vec<u8>) -> Result<Settings, ConfigError> {
        if token_key.len() < MIN_TOKEN_KEY_BYTES {
            // A short HMAC key makes tokens reversible by brute force over the key.
            return Err(ConfigError::new(
                "pii.token_key",
                format!("expected a key of at least {MIN_TOKEN_KEY_BYTES} bytes"),
            ));
        }
        if cfg.request.max_body_bytes == 0 {
            return Err(ConfigError::new(
                "request.max_body_bytes",
                "expected a positive number of bytes",
            ));
        }
        if cfg.request.max_texts == 0 {
            return Err(ConfigError::new(
                "request.max_texts",
                "expected a positive number of texts",
            ));
        }
        if cfg.response.max_body_bytes == 0 {
            return Err(ConfigError::new(
                "response.max_body_bytes",
                "expected a positive number of bytes",
            ));
        }
        if cfg.request.methods.is_empty() {
            return Err(ConfigError::new(
                "request.methods",
                "expected at least one HTTP method",
            ));
        }
        if cfg.request.content_types.is_empty() {
            return Err(ConfigError::new(
                "request.content_types",
                "expected at least one media type",
            ));
        }
        if let Some(p) = cfg
            .request
            .path_prefixes
            .iter()
            .find(|p| !p.starts_with('/'))
        {
            return Err(ConfigError::new(
                "request.path_prefixes",
                format!("expected paths starting with '/', got {p:?}"),
            ));
        }
        // Requests are compared after normalisation: a prefix must be in normal form itself.
        for p in &cfg.request.path_prefixes {
            match crate::path::normalize(p.as_bytes()) {
                Ok(n) if n.path == p.as_bytes() && !n.encoded_slash => {}
                Ok(n) => {
                    return Err(ConfigError::new(
                        "request.path_prefixes",
                        format!(
                            "expected normalised paths (no //, . or .. segments, query or encoded slash, unreserved characters unescaped), got {p:?}; its normal form is {:?}",
                            String::from_utf8_lossy(&n.path)
                        ),
                    ))
                }
                Err(_) => {
                    return Err(ConfigError::new(
                        "request.path_prefixes",
                        format!("malformed percent-encoding in {p:?}"),
                    ))
                }
            }
        }
        cfg.cache.validate()?;
        let request = RequestConfig {
            methods: cfg
                .request
                .methods
                .iter()
                .map(|m| m.to_ascii_uppercase())
                .collect(),
            content_types: cfg
                .request
                .content_types
                .iter()
                .map(|c| c.trim().to_ascii_lowercase())
                .collect(),
            ..cfg.request.clone()
        };
        Ok(Settings {
            mode: cfg.mode,
            upstream_headers: cfg.decision_headers.upstream,
            client_headers: cfg
                .decision_headers
                .client
                .unwrap_or(cfg.mode == Mode::Monitor),
            request,
            response: cfg.response.clone(),
            injection: InjectionDetector::compile(&cfg.injection)?,
            pii: PiiEngine::compile(&cfg.pii, token_key)?,
            quota: match &cfg.quota {
                Some(q) => Some(QuotaPolicy::compile(q)?),
                None => None,
            },
            rollout: match &cfg.rollout {
                Some(r) if !r.experiments.is_empty() => Some(
                    crate::rollout::RolloutPolicy::compile(r, cfg.quota.is_some())?,
                ),
                Some(r) => {
                    // Validated all the same (feedback_path, feedback_slots).
                    crate::rollout::RolloutPolicy::compile(r, cfg.quota.is_some())?;
                    None
                }
                None => None,
            },
            degradation: crate::degrade::DegradationPolicy::compile(&cfg.degradation)?,
            output: crate::output::OutputValidator::compile(&cfg.output)?,
            cache: crate::cache::VerdictCache::new(&cfg.cache),
            memo: crate::memo::ConversationMemo::new(&cfg.cache),
        })
    }

    /// Parses and compiles in one step.
    pub fn from_json(bytes: &[u8], token_key: Vec<u8>) -> Result<Settings, ConfigError> {
        Self::compile(&parse_plugin_config(bytes)?, token_key)
    }

    /// Effective mode of the injection feature.
    pub fn injection_mode(&self) -> Mode {
        self.injection.mode.unwrap_or(self.mode)
    }

    /// Effective mode of output validation.
    pub fn output_mode(&self) -> Mode {
        self.output.mode.unwrap_or(self.mode)
    }

    /// Effective mode of the PII feature.
    pub fn pii_mode(&self) -> Mode {
        self.pii.mode.unwrap_or(self.mode)
    }

    /// What to do with a request, from its method, `:path` and content type (the headers
    /// phase; a request without a body is never inspected and does not come here).
    ///
    /// - a method outside `request.methods`, or a path outside `request.path_prefixes`
    ///   (compared after [`crate::path::normalize`]): [`RequestRoute::Skip`];
    /// - with `request.path_prefixes`: a malformed escape in the path, or a path that falls
    ///   under a prefix only once `%2F`/`%5C` are read as slashes: 400 `invalid_path` (an
    ///   upstream may route it to an inspected path, or not);
    /// - a content type outside `request.content_types`: 415 `unsupported_content_type`.
    ///   Upstreams often parse a body whatever its declared type, so a body the filter would
    ///   not read must not reach them. No content type: inspected (JSON or raw text).
    pub fn route(&self, method: &[u8], path: &[u8], content_type: Option<&[u8]>) -> RequestRoute {
        let method_ok = self
            .request
            .methods
            .iter()
            .any(|m| m.as_bytes().eq_ignore_ascii_case(method));
        if !method_ok {
            return RequestRoute::Skip;
        }
        if !self.request.path_prefixes.is_empty() {
            let under = |p: &[u8]| {
                self.request
                    .path_prefixes
                    .iter()
                    .any(|pre| p.starts_with(pre.as_bytes()))
            };
            let Ok(n) = crate::path::normalize(path) else {
                return RequestRoute::Refuse(LocalReply::new(
                    400,
                    "invalid_request_error",
                    "invalid_path",
                    "The request path has a malformed percent-encoding.",
                ));
            };
            if !under(&n.path) {
                if n.encoded_slash && under(&crate::path::with_slashes_decoded(&n.path)) {
                    return RequestRoute::Refuse(LocalReply::new(
                        400,
                        "invalid_request_error",
                        "invalid_path",
                        "The request path encodes a slash (%2F or %5C); send it unencoded.",
                    ));
                }
                return RequestRoute::Skip;
            }
        }
        let ct_ok = match content_type {
            None => true,
            Some(ct) => {
                let media = ct.split(|&b| b == b';').next().unwrap_or_default();
                let media = media.trim_ascii();
                self.request.content_types.iter().any(|c| {
                    media.len() >= c.len() && media[..c.len()].eq_ignore_ascii_case(c.as_bytes())
                })
            }
        };
        if ct_ok {
            RequestRoute::Inspect
        } else {
            RequestRoute::Refuse(LocalReply::new(
                415,
                "invalid_request_error",
                "unsupported_content_type",
                "The guardrail reads only the content types it is configured for (request.content_types) on this path; send the body as JSON or text.",
            ))
        }
    }
}

/// The headers phase's verdict on a request (see [`Settings::route`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RequestRoute {
    /// Not inspected: forwarded as it is.
    Skip,
    /// Buffer and inspect the body.
    Inspect,
    /// Answer with this local reply.
    Refuse(LocalReply),
}

/// Shortest accepted PII token key.
pub const MIN_TOKEN_KEY_BYTES: usize = 16;
/// The Wasm VM environment variable holding the PII token key.
pub const TOKEN_KEY_ENV: &str = "GUARDRAIL_TOKEN_KEY";

/// Where the PII token key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKeySource {
    /// The VM environment variable [`TOKEN_KEY_ENV`] (e.g. from a Kubernetes Secret).
    Environment,
    /// `pii.token_key` in the plugin configuration: Envoy shows it in `/config_dump`.
    PluginConfig,
    /// Neither is set: the host draws a random key per VM.
    None,
}

/// The token key chosen from the VM environment variable (wins; empty counts as unset) and
/// `pii.token_key`. A key under [`MIN_TOKEN_KEY_BYTES`] bytes is refused wherever it is set,
/// naming the variable or the field. The key itself is never part of an error.
pub fn resolve_token_key(
    env: Option<&[u8]>,
    config: Option<&str>,
) -> Result<(Vec<u8>, TokenKeySource), ConfigError> {
    let short = |field: &str, what: &str, len: usize| {
        ConfigError::new(
            field,
            format!(
                "{what} must be at least {MIN_TOKEN_KEY_BYTES} bytes (got {len}); use a random secret of 32 bytes or more"
            ),
        )
    };
    if let Some(k) = config {
        if k.len() < MIN_TOKEN_KEY_BYTES {
            return Err(short("pii.token_key", "the PII token key", k.len()));
        }
    }
    match env.filter(|k| !k.is_empty()) {
        Some(k) if k.len() < MIN_TOKEN_KEY_BYTES => Err(short(
            TOKEN_KEY_ENV,
            "the PII token key (VM environment variable)",
            k.len(),
        )),
        Some(k) => Ok((k.to_vec(), TokenKeySource::Environment)),
        None => match config {
            Some(k) => Ok((k.as_bytes().to_vec(), TokenKeySource::PluginConfig)),
            None => Ok((Vec::new(), TokenKeySource::None)),
        },
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn err(json: &str) -> ConfigError {
        match Settings::from_json(json.as_bytes(), vec![1; 32]) {
            Ok(_) => panic!("accepted {json}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_object_and_empty_input_are_defaults() {
        for input in ["{}", "", "  ", "\"{}\""] {
            let s = Settings::from_json(input.as_bytes(), vec![1; 32]).unwrap();
            assert_eq!(s.mode, Mode::Enforce);
            assert!(!s.upstream_headers);
            assert!(!s.client_headers);
            assert!(s.request.max_body_bytes < 1024 * 1024);
            assert!(s.quota.is_none());
        }
    }

    #[test]
    fn monitor_mode_reports_to_client_by_default() {
        let s = Settings::from_json(br#"{"mode":"monitor"}"#, vec![1; 32]).unwrap();
        assert!(s.client_headers);
        let s = Settings::from_json(
            br#"{"mode":"monitor","decision_headers":{"client":false,"upstream":true}}"#,
            vec![1; 32],
        )
        .unwrap();
        assert!(!s.client_headers);
        assert!(s.upstream_headers);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (r#"{"bogus":1}"#, "bogus"),
            (r#"{"mode":3}"#, "mode"),
            (r#"{"mode":"loud"}"#, "mode"),
            (
                r#"{"decision_headers":{"upstrem":true}}"#,
                "decision_headers.upstrem",
            ),
            (
                r#"{"request":{"max_body_bytes":"big"}}"#,
                "request.max_body_bytes",
            ),
            (
                r#"{"request":{"max_body_bytes":0}}"#,
                "request.max_body_bytes",
            ),
            (r#"{"request":{"max_texts":0}}"#, "request.max_texts"),
            (r#"{"pii":{"max_values":0}}"#, "pii.max_values"),
            (
                r#"{"request":{"path_prefixes":["v1"]}}"#,
                "request.path_prefixes",
            ),
            (r#"{"request":{"oversize":"drop"}}"#, "request.oversize"),
            ("[1]", "(root)"),
            ("{", "(root)"),
        ];
        for (json, field) in cases {
            let e = err(json);
            assert_eq!(e.field, field, "{json}: {e}");
            assert!(e.to_string().contains(field));
        }
    }

    fn code(r: RequestRoute) -> Option<&'static str> {
        match r {
            RequestRoute::Refuse(r) => Some(r.code),
            _ => None,
        }
    }

    #[test]
    fn routes_by_method_path_and_content_type() {
        let s =
            Settings::from_json(br#"{"request":{"path_prefixes":["/v1/"]}}"#, vec![1; 32]).unwrap();
        let json = Some(&b"application/json; charset=utf-8"[..]);
        assert_eq!(
            s.route(b"POST", b"/v1/chat/completions", json),
            RequestRoute::Inspect
        );
        assert_eq!(
            s.route(b"post", b"/v1/x", Some(b"Application/JSON")),
            RequestRoute::Inspect
        );
        assert_eq!(s.route(b"POST", b"/v1/x", None), RequestRoute::Inspect);
        assert_eq!(s.route(b"GET", b"/v1/models", None), RequestRoute::Skip);
        assert_eq!(
            s.route(b"POST", b"/healthz", Some(b"application/json")),
            RequestRoute::Skip
        );
        // Off the inspected paths any content type passes.
        assert_eq!(
            s.route(b"POST", b"/upload", Some(b"image/png")),
            RequestRoute::Skip
        );
    }

    #[test]
    fn unread_content_types_on_inspected_paths_are_refused() {
        // Issue 12 row 7: JSON declared as another type used to pass unscanned.
        let s = Settings::from_json(b"{}", vec![1; 32]).unwrap();
        for ct in [
            &b"application/octet-stream"[..],
            b"image/png",
            b"multipart/form-data; boundary=x",
            b"\xff\xfe",
            b"",
        ] {
            let r = s.route(b"POST", b"/v1/chat/completions", Some(ct));
            assert_eq!(code(r.clone()), Some("unsupported_content_type"), "{ct:?}");
            if let RequestRoute::Refuse(r) = r {
                assert_eq!(r.status, 415);
            }
        }
        assert_eq!(
            s.route(b"POST", b"/v1/chat/completions", Some(b"text/plain")),
            RequestRoute::Inspect
        );
        // Configured types are read.
        let s = Settings::from_json(
            br#"{"request":{"content_types":["application/json","application/octet-stream"]}}"#,
            vec![1; 32],
        )
        .unwrap();
        assert_eq!(
            s.route(b"POST", b"/x", Some(b"application/octet-stream")),
            RequestRoute::Inspect
        );
    }

    #[test]
    fn paths_are_compared_normalised() {
        // Issue 12 row 7: these spellings used to skip inspection (and quota).
        let s = Settings::from_json(
            br#"{"request":{"path_prefixes":["/v1/chat/completions"]}}"#,
            vec![1; 32],
        )
        .unwrap();
        let json = Some(&b"application/json"[..]);
        for p in [
            &b"/v1/chat/completions"[..],
            b"/v1/chat/%63ompletions",
            b"//v1/chat/completions",
            b"/v1//chat/completions",
            b"/v1/./chat/completions",
            b"/x/../v1/chat/completions",
            b"/v1/chat/completions?stream=true",
        ] {
            assert_eq!(s.route(b"POST", p, json), RequestRoute::Inspect, "{p:?}");
        }
        for p in [
            &b"/v1/chat%2Fcompletions"[..],
            b"/v1%2fchat%2Fcompletions",
            b"/v1/chat%5Ccompletions",
        ] {
            assert_eq!(
                code(s.route(b"POST", p, json)),
                Some("invalid_path"),
                "{p:?}"
            );
        }
        assert_eq!(
            code(s.route(b"POST", b"/v1/chat/%zzcompletions", json)),
            Some("invalid_path")
        );
        // An encoded slash that cannot lead to an inspected path is no business of ours.
        assert_eq!(s.route(b"POST", b"/files/a%2Fb", json), RequestRoute::Skip);
        assert_eq!(
            s.route(b"POST", b"/v1/embeddings", json),
            RequestRoute::Skip
        );
        // Without prefixes every path is inspected, however spelled.
        let all = Settings::from_json(b"{}", vec![1; 32]).unwrap();
        assert_eq!(
            all.route(b"POST", b"/v1/chat%2Fcompletions", json),
            RequestRoute::Inspect
        );
    }

    #[test]
    fn prefixes_must_be_normalised() {
        for p in [
            "/v1//chat",
            "/v1/./chat",
            "/v1/%63hat",
            "/v1%2Fchat",
            "/v1/%zz",
            "/v1?x",
        ] {
            let e = err(&format!(r#"{{"request":{{"path_prefixes":["{p}"]}}}}"#));
            assert_eq!(e.field, "request.path_prefixes", "{p}");
        }
        assert!(Settings::from_json(
            br#"{"request":{"path_prefixes":["/v1/","/v1/chat/completions","/a%20b"]}}"#,
            vec![1; 32]
        )
        .is_ok());
    }

    #[test]
    fn token_keys_under_16_bytes_are_refused() {
        // Issue 12 row 12: a 1-byte key used to be accepted.
        let long = "0123456789abcdef";
        assert_eq!(
            resolve_token_key(None, Some("k")).unwrap_err().field,
            "pii.token_key"
        );
        assert_eq!(
            resolve_token_key(None, Some(&long[..15]))
                .unwrap_err()
                .field,
            "pii.token_key"
        );
        let e = resolve_token_key(Some(b"key-a"), None).unwrap_err();
        assert_eq!(e.field, "GUARDRAIL_TOKEN_KEY");
        assert!(!e.to_string().contains("key-a"), "{e}");
        // A short configured key is refused even when the environment wins.
        assert_eq!(
            resolve_token_key(Some(long.as_bytes()), Some("short"))
                .unwrap_err()
                .field,
            "pii.token_key"
        );
        assert_eq!(
            resolve_token_key(Some(long.as_bytes()), None).unwrap(),
            (long.as_bytes().to_vec(), TokenKeySource::Environment)
        );
        assert_eq!(
            resolve_token_key(Some(b""), Some(long)).unwrap(),
            (long.as_bytes().to_vec(), TokenKeySource::PluginConfig)
        );
        assert_eq!(
            resolve_token_key(None, None).unwrap(),
            (Vec::new(), TokenKeySource::None)
        );
        // Settings refuse a short key however it was resolved.
        assert_eq!(
            Settings::from_json(b"{}", vec![1; 15])
                .err()
                .map(|e| e.field),
            Some("pii.token_key".to_string())
        );
        assert!(Settings::from_json(b"{}", vec![1; 16]).is_ok());
    }
}
