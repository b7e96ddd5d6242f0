//! Silences: time-bound rules that keep matching alerts from the notification sinks.
//!
//! A silence names a rule (or any rule) and entity values; an alert matches when its rule and
//! every named entity value are equal. Matching alerts are still evaluated, stored and listed
//! (flagged `silenced`), but neither queued for webhooks nor sent to Alertmanager while the
//! silence lasts. A silence must end: at most [`MAX_SILENCE_MS`] after it starts. They are kept
//! in `<data_dir>/alerts/silences.json`, rewritten atomically on every change; expired ones are
//! dropped a day after they end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::alerts::Alert;

/// Longest silence: 30 days.
pub const MAX_SILENCE_MS: i64 = 30 * 86_400_000;
/// Most silences kept.
pub const MAX_SILENCES: usize = 1000;
const FILE: &str = "silences.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    /// The rule it silences (`None`: every rule).
    pub rule: Option<String>,
    /// Entity values an alert must have (all of them).
    pub entity: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub comment: String,
    /// The API token that created it.
    pub created_by: String,
    pub created_at_ms: i64,
}

impl Silence {
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }

    pub fn matches(&self, alert: &Alert) -> bool {
        self.rule.as_ref().is_none_or(|r| r == &alert.rule)
            && self
                .entity
                .iter()
                .all(|(k, v)| alert.entity.get(k) == Some(v))
    }

    pub fn to_json(&self, now_ms: i64) -> serde_json::Value {
        let rfc3339 = ztlens_analytics::time_range::format_ms;
        serde_json::json!({
            "id": self.id,
            "rule": self.rule,
            "entity": self.entity,
            "starts_at": rfc3339(self.starts_at_ms),
            "ends_at": rfc3339(self.ends_at_ms),
            "active": self.is_active(now_ms),
            "comment": self.comment,
            "created_by": self.created_by,
            "created_at": rfc3339(self.created_at_ms),
        })
    }
}

/// What a client asks for (`POST /api/v1/silences`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    pub rule: Option<String>,
    #[serde(default)]
    pub entity: BTreeMap<String, String>,
    /// Start (RFC 3339, `now`, `now-1h` …); default now.
    pub starts_at: Option<String>,
    /// End (RFC 3339, or a duration from the start such as `2h`).
    pub ends_at: String,
    pub comment: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    #[error("{0}")]
    Invalid(String),
    #[error("silences {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct Silences {
    path: PathBuf,
    silences: Vec<Silence>,
}

impl Silences {
    /// The silences under `data_dir` (none when the file does not exist yet).
    pub fn open(data_dir: &Path) -> Result<Self, SilenceError> {
        let path = data_dir.join("alerts").join(FILE);
        let silences = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SilenceError::Io {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(SilenceError::Io { path, source }),
        };
        Ok(Self { path, silences })
    }

    pub fn list(&self) -> &[Silence] {
        &self.silences
    }

    /// Whether an active silence covers `alert`.
    pub fn silences(&self, alert: &Alert, now_ms: i64) -> bool {
        self.silences
            .iter()
            .any(|s| s.is_active(now_ms) && s.matches(alert))
    }

    /// Add a silence; returns it.
    pub fn add(
        &mut self,
        new: NewSilence,
        rules: &[&str],
        created_by: &str,
        now_ms: i64,
    ) -> Result<Silence, SilenceError> {
        use ztlens_analytics::time_range::{parse_duration_ms, parse_instant};
        let invalid = |m: String| SilenceError::Invalid(m);
        if let Some(rule) = &new.rule
            && !rules.contains(&rule.as_str())
        {
            return Err(invalid(format!("no detection rule {rule:?}")));
        }
        if new.rule.is_none() && new.entity.is_empty() {
            return Err(invalid(
                "a silence names a rule, entity values, or both".into(),
            ));
        }
        if new.comment.trim().is_empty() || new.comment.len() > 1000 {
            return Err(invalid(
                "comment must say why, in at most 1000 bytes".into(),
            ));
        }
        if new.entity.len() > 16
            || new
                .entity
                .iter()
                .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > 1024)
        {
            return Err(invalid(
                "entity: at most 16 values, names up to 64 bytes, values up to 1024".into(),
            ));
        }
        let starts_at_ms = match &new.starts_at {
            Some(text) => parse_instant(text, now_ms).map_err(|e| invalid(e.to_string()))?,
            None => now_ms,
        };
        let ends_at_ms = match parse_duration_ms(&new.ends_at) {
            Ok(duration) => starts_at_ms.saturating_add(duration),
            Err(_) => parse_instant(&new.ends_at, now_ms).map_err(|e| invalid(e.to_string()))?,
        };
        if ends_at_ms <= starts_at_ms.max(now_ms) {
            return Err(invalid(
                "ends_at must be after the start and in the future".into(),
            ));
        }
        if ends_at_ms.saturating_sub(starts_at_ms) > MAX_SILENCE_MS {
            return Err(invalid("a silence lasts at most 30 days".into()));
        }
        // Expired for a day: forgotten.
        self.silences
            .retain(|s| s.ends_at_ms.saturating_add(86_400_000) > now_ms);
        if self.silences.len() >= MAX_SILENCES {
            return Err(invalid(format!(
                "{MAX_SILENCES} silences exist; expire some first"
            )));
        }
        let silence = Silence {
            id: format!(
                "{:016x}",
                xxhash_rust::xxh3::xxh3_64(
                    format!(
                        "{now_ms}{created_by}{:?}{:?}{}",
                        new.rule, new.entity, new.comment
                    )
                    .as_bytes(),
                )
            ),
            rule: new.rule,
            entity: new.entity,
            starts_at_ms,
            ends_at_ms,
            comment: new.comment,
            created_by: created_by.to_string(),
            created_at_ms: now_ms,
        };
        self.silences.push(silence.clone());
        self.save()?;
        Ok(silence)
    }

    /// End a silence now; returns whether it existed.
    pub fn expire(&mut self, id: &str, now_ms: i64) -> Result<bool, SilenceError> {
        let Some(silence) = self.silences.iter_mut().find(|s| s.id == id) else {
            return Ok(false);
        };
        silence.ends_at_ms = silence.ends_at_ms.min(now_ms);
        self.save()?;
        Ok(true)
    }

    fn save(&self) -> Result<(), SilenceError> {
        let bytes = serde_json::to_vec_pretty(&self.silences).expect("silences serialize");
        super::write_atomically(&self.path, &bytes).map_err(|source| SilenceError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::alerts::AlertState;

    fn alert(rule: &str, identity: &str) -> Alert {
        Alert {
            id: "a".into(),
            rule: rule.into(),
            title: "T".into(),
            severity: ztlens_analytics::Severity::High,
            mitre: vec![],
            fingerprint: "f".into(),
            entity: [("identity".to_string(), identity.to_string())].into(),
            state: AlertState::Firing,
            first_seen_ms: 0,
            last_seen_ms: 0,
            events: 1,
            evidence: vec![],
            summary: String::new(),
            details: Default::default(),
            opened_at_ms: 0,
            updated_at_ms: 0,
            resolved_at_ms: None,
            version: 1,
            matches: Default::default(),
            folded_events: 0,
        }
    }

    #[test]
    fn silences_match_their_rule_and_entity_while_they_last_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut silences = Silences::open(dir.path()).unwrap();
        let rules = ["mfa_push_bombing", "password_spray"];
        let now = 1_000_000_000;
        let new = |rule: Option<&str>, ends_at: &str| NewSilence {
            rule: rule.map(str::to_string),
            entity: [("identity".to_string(), "alice".to_string())].into(),
            starts_at: None,
            ends_at: ends_at.into(),
            comment: "help desk is testing her phone".into(),
        };
        let s = silences
            .add(new(Some("mfa_push_bombing"), "2h"), &rules, "ops", now)
            .unwrap();
        assert!(silences.silences(&alert("mfa_push_bombing", "alice"), now + 1));
        assert!(!silences.silences(&alert("mfa_push_bombing", "bob"), now + 1));
        assert!(!silences.silences(&alert("password_spray", "alice"), now + 1));
        assert!(!silences.silences(&alert("mfa_push_bombing", "alice"), now + 7_200_000));
        let reopened = Silences::open(dir.path()).unwrap();
        assert_eq!(reopened.list(), silences.list());
        assert!(silences.expire(&s.id, now + 10).unwrap());
        assert!(!silences.silences(&alert("mfa_push_bombing", "alice"), now + 11));
        assert!(!silences.expire("nope", now).unwrap());
        for (bad, why) in [
            (new(Some("no_rule"), "1h"), "rule"),
            (new(None, "31d"), "30 days"),
            (new(None, "1970-01-01T00:00:00Z"), "future"),
            (
                NewSilence {
                    comment: " ".into(),
                    ..new(None, "1h")
                },
                "comment",
            ),
            (
                NewSilence {
                    entity: BTreeMap::new(),
                    ..new(None, "1h")
                },
                "names a rule",
            ),
        ] {
            let error = silences
                .add(bad, &rules, "ops", now)
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{error}");
        }
    }
}
