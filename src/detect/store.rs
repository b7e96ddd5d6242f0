//! Alerts on disk: `<data_dir>/alerts/alerts.jsonl` holds every version of every alert, one
//! JSON object per line, appended and synced before the change is reported anywhere;
//! `<data_dir>/alerts/watermarks.json` holds, per rule, the end of the last evaluation whose
//! alerts are stored (replaced atomically). These are ztlens's own findings, kept apart from the
//! EDR findings of the `detection_finding` table so the response KPIs keep measuring the EDR.
//!
//! A crash can leave a partial last line; it is cut off when the store opens (a failed write
//! is cut off at once). The log is rewritten with the latest version of each alert when it has
//! grown to more than twice the lines it needs, or past [`MAX_STORED_ALERTS`] alerts (on open
//! and as it is appended to), so it stays proportional to the alerts kept.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::alerts::{Alert, AlertState};

const LOG: &str = "alerts.jsonl";
const WATERMARKS: &str = "watermarks.json";

/// Most alerts the store keeps; past it the oldest resolved ones are dropped at the next
/// rewrite.
pub const MAX_STORED_ALERTS: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("alert store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct AlertStore {
    dir: PathBuf,
    /// Latest version of each alert by id.
    alerts: HashMap<String, Alert>,
    /// Lines in the log.
    lines: usize,
    log: Option<File>,
    watermarks: BTreeMap<String, i64>,
}

/// Which alerts a listing returns.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Alerts whose events overlap `[from_ms, to_ms)`.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub state: Option<AlertState>,
    pub min_severity: Option<ztlens_analytics::Severity>,
    pub rule: Option<String>,
}

impl AlertFilter {
    /// An alert filter from the words users and Grafana write.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        state: Option<&str>,
        severity: Option<&str>,
        rule: Option<String>,
        now_ms: i64,
    ) -> Result<Self, ztlens_analytics::AnalyticsError> {
        use ztlens_analytics::AnalyticsError::InvalidParameter;
        Ok(Self {
            from_ms: from
                .map(|t| ztlens_analytics::time_range::parse_instant(t, now_ms))
                .transpose()?,
            to_ms: to
                .map(|t| ztlens_analytics::time_range::parse_instant(t, now_ms))
                .transpose()?,
            state: match state {
                None | Some("") => None,
                Some("firing") => Some(AlertState::Firing),
                Some("resolved") => Some(AlertState::Resolved),
                Some(other) => {
                    return Err(InvalidParameter(format!(
                        "state {other:?} is not firing or resolved"
                    )));
                }
            },
            min_severity: match severity {
                None | Some("") => None,
                Some(text) => Some(ztlens_analytics::Severity::parse(text).ok_or_else(|| {
                    InvalidParameter(format!(
                        "severity {text:?} is not informational, low, medium, high or critical"
                    ))
                })?),
            },
            rule: rule.filter(|r| !r.is_empty()),
        })
    }

    fn keeps(&self, a: &Alert) -> bool {
        self.from_ms.is_none_or(|from| a.last_seen_ms >= from)
            && self.to_ms.is_none_or(|to| a.first_seen_ms < to)
            && self.state.is_none_or(|s| a.state == s)
            && self.min_severity.is_none_or(|s| a.severity >= s)
            && self.rule.as_ref().is_none_or(|r| &a.rule == r)
    }
}

impl AlertStore {
    /// Open (creating) the store under `data_dir`, for writing.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.join("alerts");
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut store = Self::read(data_dir)?;
        let path = dir.join(LOG);
        let needed = store.alerts.len();
        if store.lines > 2 * needed.max(64) || store.alerts.len() > MAX_STORED_ALERTS {
            store.rewrite()?;
        } else if path.exists() {
            // Cut a partial last line (a crash during an append) so the next append starts on
            // a line of its own.
            let text = std::fs::read(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            if whole < text.len() {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|source| StoreError::Io {
                        path: path.clone(),
                        source,
                    })?;
                file.set_len(whole as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(|source| StoreError::Io {
                        path: path.clone(),
                        source,
                    })?;
            }
        }
        store.log = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| StoreError::Io { path, source })?,
        );
        Ok(store)
    }

    /// Read the store without writing (`ztlens alerts` while a server runs); a missing store
    /// is empty.
    pub fn read(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.join("alerts");
        let mut store = AlertStore {
            dir: dir.clone(),
            alerts: HashMap::new(),
            lines: 0,
            log: None,
            watermarks: BTreeMap::new(),
        };
        let path = dir.join(LOG);
        match File::open(&path) {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let line = line.map_err(|source| StoreError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    store.lines += 1;
                    // A partial last line from a crash does not parse; it is skipped.
                    if let Ok(alert) = serde_json::from_str::<Alert>(&line) {
                        store.remember(alert);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        let path = dir.join(WATERMARKS);
        match std::fs::read(&path) {
            Ok(bytes) => store.watermarks = serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        Ok(store)
    }

    fn remember(&mut self, alert: Alert) {
        match self.alerts.get(&alert.id) {
            Some(known) if known.version > alert.version => {}
            _ => {
                self.alerts.insert(alert.id.clone(), alert);
            }
        }
    }

    /// Append new alert versions and sync them to disk.
    pub fn append(&mut self, alerts: &[Alert]) -> Result<(), StoreError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for alert in alerts {
            serde_json::to_writer(&mut buf, alert).expect("an alert serializes");
            buf.push(b'\n');
        }
        let path = self.dir.join(LOG);
        let log = self
            .log
            .as_mut()
            .expect("append needs a store opened for writing");
        let before = log.metadata().map(|m| m.len());
        if let Err(source) = log.write_all(&buf).and_then(|()| log.sync_data()) {
            // Cut what part of the write landed, so the next append starts on a line of its
            // own instead of gluing onto a torn one.
            if let Ok(len) = before {
                let _ = log.set_len(len);
            }
            return Err(StoreError::Io { path, source });
        }
        self.lines += alerts.len();
        for alert in alerts {
            self.remember(alert.clone());
        }
        if self.lines > 2 * self.alerts.len().max(1024) || self.alerts.len() > MAX_STORED_ALERTS {
            self.rewrite()?;
            self.log = Some(
                OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|source| StoreError::Io { path, source })?,
            );
        }
        Ok(())
    }

    /// Rewrite the log with the latest version of each alert kept (the newest
    /// [`MAX_STORED_ALERTS`], firing ones first).
    fn rewrite(&mut self) -> Result<(), StoreError> {
        let mut alerts: Vec<&Alert> = self.alerts.values().collect();
        alerts.sort_by_key(|a| (a.state == AlertState::Resolved, -a.updated_at_ms));
        alerts.truncate(MAX_STORED_ALERTS);
        alerts.sort_by_key(|a| (a.opened_at_ms, a.id.clone()));
        let mut buf = Vec::new();
        for alert in &alerts {
            serde_json::to_writer(&mut buf, alert).expect("an alert serializes");
            buf.push(b'\n');
        }
        let kept: HashMap<String, Alert> = alerts
            .iter()
            .map(|a| (a.id.clone(), (*a).clone()))
            .collect();
        write_atomically(&self.dir.join(LOG), &buf)?;
        self.lines = kept.len();
        self.alerts = kept;
        Ok(())
    }

    pub fn watermark(&self, rule: &str) -> Option<i64> {
        self.watermarks.get(rule).copied()
    }

    /// Record that `rule`'s evaluations up to `until_ms` are stored.
    pub fn set_watermark(&mut self, rule: &str, until_ms: i64) -> Result<(), StoreError> {
        self.watermarks.insert(rule.to_string(), until_ms);
        let bytes = serde_json::to_vec_pretty(&self.watermarks).expect("watermarks serialize");
        write_atomically(&self.dir.join(WATERMARKS), &bytes)
    }

    pub fn all(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    pub fn get(&self, id: &str) -> Option<&Alert> {
        self.alerts.get(id)
    }

    /// Alerts matching `filter`, newest first, at most `limit`.
    pub fn list(&self, filter: &AlertFilter, limit: usize) -> Vec<Alert> {
        let mut out: Vec<&Alert> = self.alerts.values().filter(|a| filter.keeps(a)).collect();
        out.sort_by(|a, b| {
            b.first_seen_ms
                .cmp(&a.first_seen_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        out.into_iter().take(limit).cloned().collect()
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    super::write_atomically(path, bytes).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: &str, version: u64, state: AlertState) -> Alert {
        Alert {
            id: id.into(),
            rule: "r".into(),
            title: "R".into(),
            severity: ztlens_analytics::Severity::High,
            mitre: vec![],
            fingerprint: format!("fp-{id}"),
            entity: Default::default(),
            state,
            first_seen_ms: 1,
            last_seen_ms: 2,
            events: 1,
            evidence: vec![],
            summary: String::new(),
            details: Default::default(),
            opened_at_ms: 3,
            updated_at_ms: 3,
            resolved_at_ms: None,
            version,
            matches: Default::default(),
            folded_events: 0,
        }
    }

    #[test]
    fn versions_survive_a_reopen_a_torn_line_and_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = AlertStore::open(dir.path()).unwrap();
        store
            .append(&[
                alert("a", 1, AlertState::Firing),
                alert("b", 1, AlertState::Firing),
            ])
            .unwrap();
        store
            .append(&[alert("a", 2, AlertState::Resolved)])
            .unwrap();
        store.set_watermark("r", 42).unwrap();
        drop(store);
        // A crash in the middle of an append.
        let log = dir.path().join("alerts").join(LOG);
        let mut file = OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(b"{\"id\":\"c\",\"rul").unwrap();
        drop(file);
        let mut store = AlertStore::open(dir.path()).unwrap();
        assert_eq!(store.get("a").unwrap().state, AlertState::Resolved);
        assert_eq!(store.all().count(), 2);
        assert_eq!(store.watermark("r"), Some(42));
        store.append(&[alert("c", 1, AlertState::Firing)]).unwrap();
        let reread = AlertStore::read(dir.path()).unwrap();
        assert_eq!(
            reread.all().count(),
            3,
            "the append after a torn line is readable"
        );
        let firing = reread.list(
            &AlertFilter {
                state: Some(AlertState::Firing),
                ..AlertFilter::default()
            },
            10,
        );
        assert_eq!(firing.len(), 2);
        // Many versions of one alert: the log is rewritten on open.
        let mut store = AlertStore::open(dir.path()).unwrap();
        for v in 3..300 {
            store
                .append(&[alert("a", v, AlertState::Resolved)])
                .unwrap();
        }
        drop(store);
        let store = AlertStore::open(dir.path()).unwrap();
        assert_eq!(store.lines, 3);
        assert_eq!(store.get("a").unwrap().version, 299);
    }
}
