//! Prompt-injection detection: scores a text in [0, 1] and sanitises offending spans.
//!
//! How a text is scored:
//! 1. `normalize`: one pass folds case, fullwidth/mathematical letters, diacritics and
//!    Cyrillic/Greek lookalikes to ASCII and drops zero-width/bidi characters, keeping an offset
//!    map to the original bytes.
//! 2. `lexicon` + `rules`: a tokenizer (which also undoes leetspeak, "i g n o r e" and
//!    "ig-nore") feeds a word trie; phrase rules with bounded gaps fire per attack family
//!    (override, context switch, prompt extraction, persona jailbreak, policy evasion, ...) in
//!    English, German, Spanish, French and Chinese.
//! 3. `detect`: hand-written scanners for chat-template markers, markdown/HTML image
//!    exfiltration links, hidden comments and base64/hex payloads (decoded and rescanned).
//! 4. `weights`: a logistic model over one saturating feature per family, trained by
//!    `scripts/train_injection.py`, turns the features into a calibrated score. Custom rules
//!    then combine with it as a noisy-OR.
//!
//! Nothing here logs or returns the text itself: hits carry rule ids and byte spans only.

mod detect;
mod lexicon;
mod normalize;
mod rules;
mod weights;

pub use detect::FEATURE_NAMES;

use crate::body::Role;
use crate::config::{ConfigError, Mode};
use detect::{RawHit, Scanner};
use serde::Deserialize;

/// Which message roles are inspected. Defaults: `user` and `tool` (text an attacker can
/// control); `system`, `developer` and `assistant` are trusted. Example:
/// `"roles": {"user": true, "tool": true, "assistant": true}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InjectionRoles {
    pub system: bool,
    pub developer: bool,
    pub user: bool,
    pub assistant: bool,
    pub tool: bool,
}

impl Default for InjectionRoles {
    fn default() -> Self {
        InjectionRoles { system: false, developer: false, user: true, assistant: false, tool: true }
    }
}

/// An operator-supplied rule: a `regex-lite` pattern matched case-insensitively against the
/// normalised text (lowercase, lookalikes folded to ASCII, invisible characters removed,
/// punctuation kept). A match contributes `weight` in [0, 1] as a noisy-OR with the model
/// score: `score = 1 - (1 - model) * (1 - weight)`, so a rule of weight 0.95 alone blocks at
/// the default thresholds and one of 0.5 alone flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    pub id: String,
    pub pattern: String,
    #[serde(default = "default_custom_weight")]
    pub weight: f64,
}

fn default_custom_weight() -> f64 {
    0.9
}

/// `injection` section of the plugin configuration.
///
/// | Field | Type | Default | Meaning |
/// |---|---|---|---|
/// | `enabled` | bool | true | Score texts at all. |
/// | `mode` | `enforce`/`monitor` | top-level mode | Per-feature override. |
/// | `flag_threshold` | float | 0.5 | Score at or above which a text is flagged. |
/// | `sanitize_threshold` | float | 0.7 | Offending spans become `[REMOVED]`, `safety_prefix` is prepended. |
/// | `block_threshold` | float | 0.9 | The request is refused. Must hold flag <= sanitize <= block, all in [0, 1]. |
/// | `safety_prefix` | string | "Please respond to the following user query only: " | Prepended to sanitised texts. |
/// | `roles` | object | `{"user":true,"tool":true}` others false | Roles inspected (see [`InjectionRoles`]). |
/// | `custom_rules` | list | [] | `{"id","pattern","weight"}` extra rules (see [`CustomRule`]). |
/// | `allow_phrases` | list of strings | [] | Phrases whose occurrences neutralise any rule match overlapping them. |
/// | `decode_payloads` | bool | true | Decode base64/hex runs and rescan them. |
///
/// `allow_phrases` semantics: each phrase is normalised like the text and searched
/// case-insensitively; every rule hit (built-in or custom) whose span overlaps an occurrence
/// is dropped before scoring. Hits elsewhere in the text still count, so allowing
/// "developer mode" for a product feature does not excuse "ignore all previous instructions".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InjectionConfig {
    pub enabled: bool,
    /// Overrides the top-level `mode` for this feature.
    pub mode: Option<Mode>,
    pub flag_threshold: f64,
    pub sanitize_threshold: f64,
    pub block_threshold: f64,
    pub safety_prefix: String,
    pub roles: InjectionRoles,
    pub custom_rules: Vec<CustomRule>,
    pub allow_phrases: Vec<String>,
    pub decode_payloads: bool,
}

impl Default for InjectionConfig {
    fn default() -> Self {
        InjectionConfig {
            enabled: true,
            mode: None,
            flag_threshold: 0.5,
            sanitize_threshold: 0.7,
            block_threshold: 0.9,
            safety_prefix: "Please respond to the following user query only: ".to_string(),
            roles: InjectionRoles::default(),
            custom_rules: Vec::new(),
            allow_phrases: Vec::new(),
            decode_payloads: true,
        }
    }
}

/// One rule that contributed to a score.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit {
    /// Rule family id (`override`, `extraction`, `role_marker`, ...) or `custom:<id>`.
    pub id: String,
    /// Byte span in the scanned (original) text, on char boundaries, for sanitising; `None`
    /// for whole-text signals (e.g. obfuscation) and context words that are not removed.
    pub span: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct InjectionVerdict {
    /// Risk in [0, 1].
    pub score: f64,
    pub hits: Vec<RuleHit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectionAction {
    Allow,
    Flag,
    Sanitize,
    Block,
}

impl InjectionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            InjectionAction::Allow => "allow",
            InjectionAction::Flag => "flag",
            InjectionAction::Sanitize => "sanitize",
            InjectionAction::Block => "block",
        }
    }
}

struct CompiledCustom {
    id: String,
    re: regex_lite::Regex,
    weight: f64,
}

pub struct InjectionDetector {
    pub enabled: bool,
    pub mode: Option<Mode>,
    pub flag_threshold: f64,
    pub sanitize_threshold: f64,
    pub block_threshold: f64,
    pub safety_prefix: String,
    pub roles: InjectionRoles,
    scanner: Scanner,
    custom: Vec<CompiledCustom>,
    /// Allow phrases in normalised form.
    allow: Vec<Vec<u8>>,
}

fn check_unit(field: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(format!("injection.{field}"), "a number between 0 and 1"))
    }
}

impl InjectionDetector {
    pub fn compile(cfg: &InjectionConfig) -> Result<Self, ConfigError> {
        check_unit("flag_threshold", cfg.flag_threshold)?;
        check_unit("sanitize_threshold", cfg.sanitize_threshold)?;
        check_unit("block_threshold", cfg.block_threshold)?;
        if cfg.flag_threshold > cfg.sanitize_threshold {
            return Err(ConfigError::new("injection.sanitize_threshold", "a value >= flag_threshold"));
        }
        if cfg.sanitize_threshold > cfg.block_threshold {
            return Err(ConfigError::new("injection.block_threshold", "a value >= sanitize_threshold"));
        }
        let mut custom = Vec::with_capacity(cfg.custom_rules.len());
        for (k, r) in cfg.custom_rules.iter().enumerate() {
            if r.id.trim().is_empty() {
                return Err(ConfigError::new(format!("injection.custom_rules[{k}].id"), "a non-empty rule id"));
            }
            check_unit(&format!("custom_rules[{k}].weight"), r.weight)?;
            let re = regex_lite::RegexBuilder::new(&r.pattern).case_insensitive(true).build().map_err(|_| {
                ConfigError::new(format!("injection.custom_rules[{k}].pattern"), "a valid regex-lite pattern")
            })?;
            custom.push(CompiledCustom { id: format!("custom:{}", r.id), re, weight: r.weight });
        }
        let mut allow = Vec::with_capacity(cfg.allow_phrases.len());
        for (k, p) in cfg.allow_phrases.iter().enumerate() {
            let n = normalize::normalize(p.trim()).bytes;
            if n.iter().all(|b| b.is_ascii_whitespace()) {
                return Err(ConfigError::new(format!("injection.allow_phrases[{k}]"), "a non-empty phrase"));
            }
            allow.push(n);
        }
        let scanner = Scanner::new(cfg.decode_payloads)
            .map_err(|_| ConfigError::new("injection", "built-in rules failed to compile"))?;
        Ok(InjectionDetector {
            enabled: cfg.enabled,
            mode: cfg.mode,
            flag_threshold: cfg.flag_threshold,
            sanitize_threshold: cfg.sanitize_threshold,
            block_threshold: cfg.block_threshold,
            safety_prefix: cfg.safety_prefix.clone(),
            roles: cfg.roles.clone(),
            scanner,
            custom,
            allow,
        })
    }

    /// Whether texts of this role are inspected.
    pub fn inspects(&self, role: Role) -> bool {
        match role {
            Role::System => self.roles.system,
            Role::Developer => self.roles.developer,
            Role::User => self.roles.user,
            Role::Assistant => self.roles.assistant,
            Role::Tool => self.roles.tool,
        }
    }

    /// Hits after allow phrases, plus custom-rule hits (feature index `usize::MAX`).
    fn hits(&self, text: &str) -> (detect::Analysis, Vec<(String, f64, usize, usize)>) {
        let mut a = self.scanner.analyse(text);
        let mut custom_hits = Vec::new();
        if !self.custom.is_empty() {
            if let Ok(ns) = std::str::from_utf8(&a.norm.bytes) {
                for c in &self.custom {
                    if let Some(m) = c.re.find(ns) {
                        custom_hits.push((c.id.clone(), c.weight, m.start(), m.end()));
                    }
                }
            }
        }
        if !self.allow.is_empty() {
            let mut ranges: Vec<(usize, usize)> = Vec::new();
            for p in &self.allow {
                let mut from = 0;
                while let Some(k) = detect::find(&a.norm.bytes, p, from) {
                    ranges.push((k, k + p.len()));
                    from = k + 1;
                }
            }
            let overlaps = |s: usize, e: usize| ranges.iter().any(|&(a, b)| s < b && a < e.max(s + 1));
            a.hits.retain(|h| !(h.ne > h.ns && overlaps(h.ns, h.ne)));
            custom_hits.retain(|h| !overlaps(h.2, h.3));
        }
        (a, custom_hits)
    }

    /// The model's feature vector for a text (built-in rules only, after allow phrases); used
    /// by the training script through `examples/injection_features.rs`.
    pub fn feature_vector(&self, text: &str) -> Vec<f64> {
        let (a, _) = self.hits(text);
        detect::feature_vector(&a.hits, text.len()).to_vec()
    }

    pub fn scan(&self, text: &str) -> InjectionVerdict {
        if !self.enabled || text.is_empty() {
            return InjectionVerdict::default();
        }
        let (a, custom_hits) = self.hits(text);
        let f = detect::feature_vector(&a.hits, text.len());
        let mut z = weights::BIAS;
        for (x, w) in f.iter().zip(weights::WEIGHTS.iter()) {
            z += x * w;
        }
        let mut score = 1.0 / (1.0 + (-z).exp());
        for c in &custom_hits {
            score = 1.0 - (1.0 - score) * (1.0 - c.1);
        }
        if !score.is_finite() {
            score = 1.0;
        }
        let score = score.clamp(0.0, 1.0);
        let mut hits: Vec<RuleHit> = Vec::new();
        let mut push = |id: &str, span: Option<(usize, usize)>| {
            if !hits.iter().any(|h| h.id == id && h.span == span) {
                hits.push(RuleHit { id: id.to_string(), span });
            }
        };
        for h in &a.hits {
            push(h.id, self.orig_span(&a, text, h));
        }
        for c in &custom_hits {
            let (s, e) = a.norm.orig_span(c.2, c.3, text);
            push(&c.0, Some((s, e)));
        }
        InjectionVerdict { score, hits }
    }

    fn orig_span(&self, a: &detect::Analysis, text: &str, h: &RawHit) -> Option<(usize, usize)> {
        if h.ne <= h.ns || !detect::is_removable_feature(h.feature) {
            return None;
        }
        let (s, e) = if h.sentence { detect::sentence_span(&a.norm.bytes, h.ns, h.ne) } else { (h.ns, h.ne) };
        let (s, e) = a.norm.orig_span(s, e, text);
        (e > s).then_some((s, e))
    }

    pub fn action_for(&self, score: f64) -> InjectionAction {
        if score >= self.block_threshold {
            InjectionAction::Block
        } else if score >= self.sanitize_threshold {
            InjectionAction::Sanitize
        } else if score >= self.flag_threshold {
            InjectionAction::Flag
        } else {
            InjectionAction::Allow
        }
    }

    /// The text with offending spans replaced by `[REMOVED]` and the safety prefix in front.
    /// Spans that are out of range or not on char boundaries are ignored.
    pub fn sanitize(&self, text: &str, verdict: &InjectionVerdict) -> String {
        let mut spans: Vec<(usize, usize)> = verdict
            .hits
            .iter()
            .filter_map(|h| h.span)
            .filter(|&(s, e)| s < e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e))
            .collect();
        spans.sort_unstable();
        let mut out = String::with_capacity(self.safety_prefix.len() + text.len());
        out.push_str(&self.safety_prefix);
        let mut pos = 0usize;
        for (s, e) in spans {
            if e <= pos {
                continue;
            }
            let s = s.max(pos);
            out.push_str(text.get(pos..s).unwrap_or(""));
            if !out.ends_with("[REMOVED]") {
                out.push_str("[REMOVED]");
            }
            pos = e;
        }
        out.push_str(text.get(pos..).unwrap_or(""));
        out
    }
}
