//! The limits file: which descriptors are limited, by how much, per what, over which window.
//!
//! ```json
//! {"domain": "mesh-guardrail",
//!  "limits": [{"name": "free-requests", "match": {"tier": "free", "limit": "requests"},
//!              "per": ["user"], "max_value": 20, "seconds": 86400}]}
//! ```
//!
//! A limit applies to a descriptor when every `match` entry equals the descriptor's entry of
//! that key and every `per` key is present; other entries are ignored. Each distinct value of
//! the `per` keys gets its own counter. This maps 1:1 onto limitador `Limit`s: namespace =
//! domain, conditions `descriptors[0]["key"] == "value"`, variables `descriptors[0]["key"]`.

use limitador::limit::{Expression, Limit, Predicate};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub domain: String,
    pub limits: Vec<LimitConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "match", default)]
    pub matches: BTreeMap<String, String>,
    #[serde(default)]
    pub per: Per,
    pub max_value: u64,
    pub seconds: u64,
}

/// `"per": "user"` or `"per": ["tenant", "user"]` (absent: one counter for all descriptors
/// the limit matches).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Per {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Per {
    fn keys(&self) -> Vec<String> {
        match self {
            Per::None => Vec::new(),
            Per::One(k) => vec![k.clone()],
            Per::Many(ks) => ks.clone(),
        }
    }
}

/// The key of the descriptor entry that selects report mode (`"hits_mode": "report"`): not
/// matched against limits, so a limit cannot name it.
pub const HITS_MODE_KEY: &str = "hits_mode";

/// A CEL string literal. JSON string escapes (`\"`, `\\`, `\n`, `\uXXXX`...) are valid CEL.
fn cel_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn descriptor_entry(key: &str) -> String {
    format!("descriptors[0][{}]", cel_string(key))
}

impl Config {
    pub fn from_json(text: &str) -> Result<Self, String> {
        let config: Config = serde_json::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Self::from_json(&text).map_err(|e| format!("{path}: {e}"))
    }

    fn validate(&self) -> Result<(), String> {
        if self.domain.is_empty() {
            return Err("domain must not be empty".into());
        }
        let mut seen = HashSet::new();
        for (i, l) in self.limits.iter().enumerate() {
            let at = format!("limits[{i}]");
            if l.seconds == 0 {
                return Err(format!("{at}.seconds must be at least 1"));
            }
            // The API reports limits as uint32 (requests_per_unit, limit_remaining).
            if l.max_value > u64::from(u32::MAX) {
                return Err(format!("{at}.max_value must be at most {}", u32::MAX));
            }
            let per = l.per.keys();
            if per.is_empty() && l.matches.is_empty() {
                return Err(format!(
                    "{at} has neither match nor per: it would match every descriptor"
                ));
            }
            let mut keys = HashSet::new();
            for k in l.matches.keys().chain(per.iter()) {
                if k.is_empty() || k == HITS_MODE_KEY {
                    return Err(format!("{at}: descriptor key {k:?} is not allowed"));
                }
                if !keys.insert(k) {
                    return Err(format!("{at}: key {k:?} is named twice (match and per)"));
                }
            }
            let identity = (l.matches.clone(), per, l.seconds);
            if !seen.insert(identity) {
                return Err(format!(
                    "{at} repeats another limit's match, per and seconds (they would share one counter)"
                ));
            }
        }
        Ok(())
    }

    /// The limitador limits of this configuration.
    pub fn limits(&self) -> Result<Vec<Limit>, String> {
        let mut out = Vec::with_capacity(self.limits.len());
        for (i, l) in self.limits.iter().enumerate() {
            let conditions = l
                .matches
                .iter()
                .map(|(k, v)| {
                    Predicate::parse(format!("{} == {}", descriptor_entry(k), cel_string(v)))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("limits[{i}]: {e:?}"))?;
            let variables = l
                .per
                .keys()
                .iter()
                .map(|k| Expression::parse(descriptor_entry(k)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("limits[{i}]: {e:?}"))?;
            let mut limit = Limit::new(
                self.domain.as_str(),
                l.max_value,
                l.seconds,
                conditions,
                variables,
            );
            limit.set_name(l.name.clone().unwrap_or_else(|| format!("limits[{i}]")));
            out.push(limit);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_maps_to_limitador_limits() {
        let c = Config::from_json(
            r#"{"domain":"d","limits":[{"match":{"tier":"free","limit":"requests"},"per":"user","max_value":20,"seconds":86400},
                {"name":"t","match":{"k\"ey":"v\\al"},"per":["tenant","user"],"max_value":5,"seconds":60}]}"#,
        )
        .unwrap();
        let limits = c.limits().unwrap();
        assert_eq!(limits.len(), 2);
        assert_eq!(limits[0].max_value(), 20);
        assert_eq!(limits[0].name(), Some("limits[0]"));
        assert!(limits[0]
            .conditions()
            .contains(r#"descriptors[0]["tier"] == "free""#));
        assert!(limits[1]
            .conditions()
            .contains(r#"descriptors[0]["k\"ey"] == "v\\al""#));
        assert_eq!(limits[1].variables().len(), 2);
    }

    #[test]
    fn refuses_bad_configs() {
        for (bad, why) in [
            (r#"{"domain":"","limits":[]}"#, "domain"),
            (
                r#"{"domain":"d","limits":[{"per":"u","max_value":1,"seconds":0}]}"#,
                "seconds",
            ),
            (
                r#"{"domain":"d","limits":[{"per":"u","max_value":4294967296,"seconds":1}]}"#,
                "max_value",
            ),
            (
                r#"{"domain":"d","limits":[{"max_value":1,"seconds":1}]}"#,
                "neither",
            ),
            (
                r#"{"domain":"d","limits":[{"match":{"u":"x"},"per":"u","max_value":1,"seconds":1}]}"#,
                "twice",
            ),
            (
                r#"{"domain":"d","limits":[{"per":"hits_mode","max_value":1,"seconds":1}]}"#,
                "not allowed",
            ),
            (
                r#"{"domain":"d","limits":[{"per":"u","max_value":1,"seconds":1},{"per":"u","max_value":2,"seconds":1}]}"#,
                "repeats",
            ),
            (r#"{"domain":"d","limits":[],"extra":1}"#, "unknown field"),
        ] {
            let err = Config::from_json(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
