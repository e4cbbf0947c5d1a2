//! Output validation of a whole JSON answer: every model-written string (as the client will
//! see it, after PII restoration) is checked; a refusal replaces every one of them with the
//! refusal text (the JSON shape stays), or the body becomes an OpenAI error (`block`).

use super::{Fingerprint, LeakAction, Refusal, Report};
use crate::body::json::{self, Splice};
use crate::config::{Mode, Settings};
use crate::reply::LocalReply;

/// The error a `block` action answers (status 403: SDKs raise `PermissionDeniedError` and do
/// not retry, which would ask the model again).
pub fn blocked_reply() -> LocalReply {
    LocalReply::new(
        403,
        "permission_error",
        "output_blocked",
        "The answer was withheld by the guardrail: it repeats the system prompt.",
    )
}

/// The result of checking a JSON answer.
#[derive(Debug, Default, PartialEq)]
pub struct JsonOutput {
    /// The new body when anything changed (enforce mode).
    pub body: Option<Vec<u8>>,
    pub report: Report,
    /// The body is the `block` error: the status should become 403 when it still can.
    pub blocked: bool,
}

/// Request fields a Responses API answer repeats (`instructions`, `tools`...), at the top or
/// under `response` (SSE): the client's own text, not the model's.
pub const ECHOED_KEYS: &[&str] = &[
    "instructions",
    "tools",
    "text",
    "metadata",
    "reasoning",
    "prompt",
    "tool_choice",
    "user",
];

/// Whether a path whose first two segments are `first`, `second` is an echoed request field.
pub fn echoed(first: Option<json::Seg<'_>>, second: Option<json::Seg<'_>>) -> bool {
    let is = |s: &Option<json::Seg<'_>>, k: &str| matches!(s, Some(json::Seg::Key(x)) if x == k);
    let echo = |s: &Option<json::Seg<'_>>| ECHOED_KEYS.iter().any(|k| is(s, k));
    echo(&first) || (is(&first, "response") && echo(&second))
}

/// Whether output validation reads answers under this configuration.
pub fn enabled(settings: &Settings) -> bool {
    settings.output.enabled
}

/// Checks a whole JSON answer. A body that is not JSON is checked as one text (an upstream
/// error page is text too).
pub fn check_json(settings: &Settings, fp: Option<&Fingerprint>, bytes: &[u8]) -> JsonOutput {
    if !settings.output.enabled {
        return JsonOutput::default();
    }
    check_json_doc(settings, fp, bytes, json::scan(bytes).ok().as_ref())
}

/// [`check_json`] given `json::scan(bytes).ok()` (the caller scanned the body once for this
/// and the PII restore).
pub fn check_json_doc(
    settings: &Settings,
    fp: Option<&Fingerprint>,
    bytes: &[u8],
    doc: Option<&json::Document<'_>>,
) -> JsonOutput {
    let v = &settings.output;
    let mut report = Report {
        enforced: settings.output_mode() == Mode::Enforce,
        ..Report::default()
    };
    if !v.enabled {
        return JsonOutput::default();
    }
    let Some(doc) = doc else {
        let text = String::from_utf8_lossy(bytes);
        let c = v.check(fp, &text);
        report.merge(&c.verdict);
        let body = match (report.enforced, report.refused, c.text) {
            (false, _, _) => None,
            (true, Some(_), _) => Some(v.refusal.clone().into_bytes()),
            (true, None, t) => t.map(String::into_bytes),
        };
        return JsonOutput {
            body,
            report,
            blocked: false,
        };
    };
    let mut texts = Vec::new();
    let mut redactions = Vec::new();
    for l in &doc.leaves {
        let Some(s) = doc.str(l) else { continue };
        let path = doc.path(l);
        if !crate::pipeline::is_model_text_path(path)
            || path.key_is(0, "usage")
            || echoed(path.first(), path.get(1))
        {
            continue;
        }
        let text = s.text();
        if text.is_empty() {
            continue;
        }
        let c = v.check(fp, &text);
        report.merge(&c.verdict);
        texts.push((l.start, l.end));
        if let Some(t) = c.text {
            redactions.push(Splice {
                start: l.start,
                end: l.end,
                text: json::encode_str(&t),
            });
        }
    }
    if !report.enforced {
        return JsonOutput {
            body: None,
            report,
            blocked: false,
        };
    }
    if report.refused == Some(Refusal::Leak) && v.leak_action == LeakAction::Block {
        return JsonOutput {
            body: Some(blocked_reply().body()),
            report,
            blocked: true,
        };
    }
    let mut splices = if report.refused.is_some() {
        let refusal = json::encode_str(&v.refusal);
        texts
            .into_iter()
            .map(|(start, end)| Splice {
                start,
                end,
                text: refusal.clone(),
            })
            .collect()
    } else {
        redactions
    };
    let body = (!splices.is_empty()).then(|| json::apply_splices(bytes, &mut splices).0);
    JsonOutput {
        body,
        report,
        blocked: false,
    }
}
