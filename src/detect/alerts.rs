//! The alert lifecycle: rule matches in, opened, updated and resolved alerts out.
//!
//! An alert is one episode of one rule for one group key (the rule's entity values). Its
//! fingerprint is a hash of the rule id and the group key, so the same entity always maps to
//! the same fingerprint; its id is the fingerprint and the start of the episode, so it never
//! changes. A match joins the firing alert of its fingerprint when it starts no later than
//! `resolve_after` after the alert's last event; otherwise it opens a new episode — unless its
//! events are no newer than the last episode's, in which case it was already alerted (a range
//! evaluated again, a late duplicate) and is ignored. Matches are keyed by their first event, so
//! the same match seen twice replaces itself and counts once.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use ztlens_analytics::{RuleMatch, Severity};

use super::Rule;

/// Most evidence ids an alert keeps (the first ones; the count keeps growing).
pub const MAX_ALERT_EVIDENCE: usize = 100;

/// Most distinct matches an alert remembers individually; older ones are folded into a total.
const MAX_MATCH_KEYS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One episode of a rule for one group key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub mitre: Vec<String>,
    pub fingerprint: String,
    /// The rule's entity columns and their values.
    pub entity: BTreeMap<String, String>,
    pub state: AlertState,
    /// Time of the first and last event behind the alert (epoch ms).
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Events behind the alert.
    pub events: u64,
    /// `metadata_uid`s of the first [`MAX_ALERT_EVIDENCE`] events.
    pub evidence: Vec<String>,
    pub summary: String,
    /// The latest match's other columns.
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Wall-clock times of the alert's lifecycle (epoch ms).
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    /// Incremented at every change; with the id it names one notification.
    pub version: u64,
    /// Events per match, keyed by the start of the rule window the match's first event falls
    /// in, so a match seen again replaces its count instead of adding to it.
    #[serde(default)]
    pub matches: BTreeMap<i64, u64>,
    /// Events of matches folded out of `matches`.
    #[serde(default)]
    pub folded_events: u64,
}

impl Alert {
    /// The alert as the API and `ztlens alerts --format json` show it: RFC 3339 times, and
    /// `time`/`time_end` in epoch milliseconds with `text` and `tags` so a Grafana annotation
    /// query can read it as it is.
    pub fn to_json(&self) -> serde_json::Value {
        let rfc3339 = ztlens_analytics::time_range::format_ms;
        serde_json::json!({
            "id": self.id,
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "mitre": self.mitre,
            "state": self.state,
            "entity": self.entity,
            "first_seen": rfc3339(self.first_seen_ms),
            "last_seen": rfc3339(self.last_seen_ms),
            "events": self.events,
            "evidence": self.evidence,
            "summary": self.summary,
            "details": self.details,
            "opened_at": rfc3339(self.opened_at_ms),
            "updated_at": rfc3339(self.updated_at_ms),
            "resolved_at": self.resolved_at_ms.map(rfc3339),
            "version": self.version,
            "fingerprint": self.fingerprint,
            "time": self.first_seen_ms,
            "time_end": self.last_seen_ms,
            "text": self.summary,
            "tags": [
                self.rule.clone(),
                self.severity.as_str().to_string(),
                self.state.as_str().to_string(),
            ],
        })
    }
}

/// What one observation changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new episode, or a resolved one whose condition holds again.
    Opened(Alert),
    /// More events or evidence.
    Updated(Alert),
    /// The severity rose (a push approved after the refusals, a scan not contained).
    Escalated(Alert),
    Resolved(Alert),
}

impl Change {
    pub fn alert(&self) -> &Alert {
        match self {
            Change::Opened(a) | Change::Updated(a) | Change::Escalated(a) | Change::Resolved(a) => {
                a
            }
        }
    }
}

/// The fingerprint of a rule and group key: stable across runs and versions.
pub fn fingerprint(rule: &str, entity: &BTreeMap<String, String>) -> String {
    let mut text = String::from(rule);
    for (k, v) in entity {
        text.push('\u{1f}');
        text.push_str(k);
        text.push('=');
        text.push_str(v);
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// The latest alert of every fingerprint, and the rules that evolve them.
#[derive(Debug, Default)]
pub struct Tracker {
    latest: HashMap<String, Alert>,
}

impl Tracker {
    /// A tracker that continues from stored alerts (the latest version of each).
    pub fn from_alerts<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> Self {
        let mut latest: HashMap<String, Alert> = HashMap::new();
        for alert in alerts {
            match latest.get(&alert.fingerprint) {
                Some(known) if known.first_seen_ms >= alert.first_seen_ms => {}
                _ => {
                    latest.insert(alert.fingerprint.clone(), alert.clone());
                }
            }
        }
        Self { latest }
    }

    /// Fold one match of `rule` in; returns what changed (a resolved previous episode and the
    /// new one when a new episode opens).
    pub fn observe(
        &mut self,
        rule: &Rule,
        m: &RuleMatch,
        resolve_after_ms: i64,
        now_ms: i64,
    ) -> Vec<Change> {
        let fp = fingerprint(&rule.def.id, &m.entity);
        let severity = m.severity.unwrap_or(rule.severity).max(rule.severity);
        let window_ms = rule.def.window_ms.max(1);
        let mut changes = Vec::new();
        let mut new_id_from = m.first_seen_ms;
        if let Some(alert) = self.latest.get_mut(&fp) {
            let joins = m.first_seen_ms <= alert.last_seen_ms.saturating_add(resolve_after_ms);
            if m.last_seen_ms <= alert.last_seen_ms && alert.state == AlertState::Resolved {
                // Already alerted: these events belong to an episode that was reported.
                return changes;
            }
            if joins {
                let raised = severity > alert.severity;
                let changed = merge(alert, m, severity, window_ms);
                if alert.state == AlertState::Resolved {
                    // The condition holds again within resolve_after of the episode's last
                    // event (a late event, or a window longer than resolve_after): the same
                    // episode fires again, under its own id.
                    alert.state = AlertState::Firing;
                    alert.resolved_at_ms = None;
                    alert.updated_at_ms = now_ms;
                    alert.version += 1;
                    changes.push(Change::Opened(alert.clone()));
                } else if changed {
                    alert.updated_at_ms = now_ms;
                    alert.version += 1;
                    changes.push(if raised {
                        Change::Escalated(alert.clone())
                    } else {
                        Change::Updated(alert.clone())
                    });
                }
                return changes;
            }
            if alert.state == AlertState::Firing {
                resolve(alert, now_ms);
                changes.push(Change::Resolved(alert.clone()));
            }
            // A new episode never takes the id of the one before it.
            new_id_from = new_id_from.max(alert.last_seen_ms.saturating_add(1));
        }
        let mut alert = Alert {
            id: format!("{fp}-{new_id_from}"),
            rule: rule.def.id.clone(),
            title: rule.def.title.clone(),
            severity,
            mitre: rule.def.mitre.clone(),
            fingerprint: fp.clone(),
            entity: m.entity.clone(),
            state: AlertState::Firing,
            first_seen_ms: m.first_seen_ms,
            last_seen_ms: m.last_seen_ms,
            events: 0,
            evidence: Vec::new(),
            summary: String::new(),
            details: serde_json::Map::new(),
            opened_at_ms: now_ms,
            updated_at_ms: now_ms,
            resolved_at_ms: None,
            version: 1,
            matches: BTreeMap::new(),
            folded_events: 0,
        };
        merge(&mut alert, m, severity, window_ms);
        changes.push(Change::Opened(alert.clone()));
        self.latest.insert(fp, alert);
        changes
    }

    /// Resolve `rule`'s firing alerts whose last event is more than `resolve_after_ms` before
    /// `now_ms` (live: the clock less the lateness, so a late event still joins its episode).
    /// `resolved_at` is `now_ms`, or for a backtest (`at_quiet_point`) the moment the condition
    /// had not held for `resolve_after_ms`.
    pub fn resolve_due(
        &mut self,
        rule: &str,
        resolve_after_ms: i64,
        now_ms: i64,
        at_quiet_point: bool,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        for alert in self.latest.values_mut() {
            if alert.rule == rule
                && alert.state == AlertState::Firing
                && now_ms.saturating_sub(alert.last_seen_ms) > resolve_after_ms
            {
                let at = if at_quiet_point {
                    alert.last_seen_ms.saturating_add(resolve_after_ms)
                } else {
                    now_ms
                };
                resolve(alert, at);
                changes.push(Change::Resolved(alert.clone()));
            }
        }
        changes.sort_by(|a, b| a.alert().id.cmp(&b.alert().id));
        changes
    }

    /// Resolve every firing alert of a rule not in `evaluated` (disabled or removed): nothing
    /// would ever resolve it otherwise.
    pub fn resolve_orphans(&mut self, evaluated: &[&str], now_ms: i64) -> Vec<Change> {
        let mut changes = Vec::new();
        for alert in self.latest.values_mut() {
            if alert.state == AlertState::Firing && !evaluated.contains(&alert.rule.as_str()) {
                resolve(alert, now_ms);
                changes.push(Change::Resolved(alert.clone()));
            }
        }
        changes.sort_by(|a, b| a.alert().id.cmp(&b.alert().id));
        changes
    }

    /// Forget resolved alerts whose events ended before `before_ms`: no evaluation reads that
    /// far back any more, so nothing can match them again (keeps memory bounded).
    pub fn forget_resolved_before(&mut self, before_ms: i64) {
        self.latest
            .retain(|_, a| a.state == AlertState::Firing || a.last_seen_ms >= before_ms);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.latest
            .values()
            .filter(|a| a.state == AlertState::Firing)
    }
}

fn resolve(alert: &mut Alert, now_ms: i64) {
    alert.state = AlertState::Resolved;
    alert.resolved_at_ms = Some(now_ms);
    alert.updated_at_ms = now_ms;
    alert.version += 1;
}

/// Fold a match into an alert; returns whether anything changed. A match is keyed by the rule
/// window its first event falls in, so the same window read again — with a late event earlier
/// in it, or from a range that starts elsewhere — replaces its count instead of adding to it.
fn merge(alert: &mut Alert, m: &RuleMatch, severity: Severity, window_ms: i64) -> bool {
    let before = (
        alert.first_seen_ms,
        alert.last_seen_ms,
        alert.events,
        alert.evidence.len(),
        alert.severity,
    );
    alert.first_seen_ms = alert.first_seen_ms.min(m.first_seen_ms);
    alert.last_seen_ms = alert.last_seen_ms.max(m.last_seen_ms);
    alert.severity = alert.severity.max(severity);
    let key = m
        .first_seen_ms
        .div_euclid(window_ms)
        .saturating_mul(window_ms);
    let count = alert.matches.entry(key).or_insert(0);
    *count = (*count).max(m.events);
    while alert.matches.len() > MAX_MATCH_KEYS {
        if let Some((_, events)) = alert.matches.pop_first() {
            alert.folded_events = alert.folded_events.saturating_add(events);
        }
    }
    alert.events = alert
        .matches
        .values()
        .fold(alert.folded_events, |sum, n| sum.saturating_add(*n));
    for id in &m.evidence {
        if alert.evidence.len() >= MAX_ALERT_EVIDENCE {
            break;
        }
        if !alert.evidence.contains(id) {
            alert.evidence.push(id.clone());
        }
    }
    let changed = before
        != (
            alert.first_seen_ms,
            alert.last_seen_ms,
            alert.events,
            alert.evidence.len(),
            alert.severity,
        );
    if changed || alert.summary.is_empty() {
        alert.summary = m
            .summary
            .clone()
            .unwrap_or_else(|| format!("{} ({})", alert.title, entity_text(&alert.entity)));
        alert.details = m.details.clone();
    }
    changed
}

/// `k=v, k=v` of an entity.
pub fn entity_text(entity: &BTreeMap<String, String>) -> String {
    entity
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ztlens_analytics::DetectionCatalog;

    fn rule() -> Rule {
        let catalog = DetectionCatalog::builtin();
        super::super::DetectionsConfig::default()
            .rules(&catalog)
            .unwrap()
            .into_iter()
            .find(|r| r.def.id == "mfa_push_bombing")
            .unwrap()
    }

    fn m(user: &str, first: i64, last: i64, events: u64, ids: &[&str]) -> RuleMatch {
        RuleMatch {
            entity: [("identity".to_string(), user.to_string())].into(),
            first_seen_ms: first,
            last_seen_ms: last,
            events,
            evidence: ids.iter().map(|s| s.to_string()).collect(),
            severity: None,
            summary: None,
            details: Default::default(),
        }
    }

    const MIN: i64 = 60_000;

    #[test]
    fn a_match_seen_again_changes_nothing_and_an_episode_grows_then_resolves() {
        let rule = rule();
        let mut t = Tracker::default();
        let first = t.observe(
            &rule,
            &m("alice", 0, 5 * MIN, 4, &["a", "b"]),
            30 * MIN,
            MIN,
        );
        assert!(matches!(&first[..], [Change::Opened(a)] if a.events == 4 && a.version == 1));
        // The same window evaluated again: nothing new.
        assert!(
            t.observe(
                &rule,
                &m("alice", 0, 5 * MIN, 4, &["a", "b"]),
                30 * MIN,
                2 * MIN
            )
            .is_empty()
        );
        // The window grew: the same match key, more events.
        let grew = t.observe(
            &rule,
            &m("alice", 0, 9 * MIN, 6, &["a", "b", "c"]),
            30 * MIN,
            3 * MIN,
        );
        assert!(
            matches!(&grew[..], [Change::Updated(a)] if a.events == 6 && a.evidence.len() == 3)
        );
        // The next window of the same burst joins the episode and adds up.
        let next = t.observe(
            &rule,
            &m("alice", 15 * MIN, 16 * MIN, 4, &["d"]),
            30 * MIN,
            17 * MIN,
        );
        assert!(matches!(&next[..], [Change::Updated(a)] if a.events == 10));
        // Another identity is another alert.
        assert_eq!(
            t.observe(&rule, &m("bob", 0, 15 * MIN, 4, &[]), 30 * MIN, 17 * MIN)
                .len(),
            1
        );
        // Not due yet, then due.
        assert!(
            t.resolve_due(&rule.def.id, 30 * MIN, 40 * MIN, false)
                .is_empty()
        );
        let resolved = t.resolve_due(&rule.def.id, 30 * MIN, 47 * MIN, false);
        assert_eq!(resolved.len(), 2);
        assert!(
            resolved
                .iter()
                .all(|c| c.alert().state == AlertState::Resolved)
        );
        // A late re-evaluation of the old burst does not fire again.
        assert!(
            t.observe(
                &rule,
                &m("alice", 15 * MIN, 16 * MIN, 4, &["d"]),
                30 * MIN,
                50 * MIN
            )
            .is_empty()
        );
        // New activity opens a new episode with a new id.
        let again = t.observe(
            &rule,
            &m("alice", 60 * MIN, 61 * MIN, 5, &["e"]),
            30 * MIN,
            62 * MIN,
        );
        let [Change::Opened(second)] = &again[..] else {
            panic!("{again:?}")
        };
        assert_ne!(second.id, first[0].alert().id);
        assert_eq!(second.fingerprint, first[0].alert().fingerprint);
    }

    #[test]
    fn a_gap_longer_than_resolve_after_starts_a_new_episode_and_severity_only_rises() {
        let rule = rule();
        let mut t = Tracker::default();
        t.observe(&rule, &m("alice", 0, MIN, 4, &[]), 30 * MIN, MIN);
        let mut raised = m("alice", 2 * MIN, 3 * MIN, 1, &[]);
        raised.severity = Some(Severity::Critical);
        let up = t.observe(&rule, &raised, 30 * MIN, 3 * MIN);
        assert_eq!(up[0].alert().severity, Severity::Critical);
        let mut lowered = m("alice", 4 * MIN, 5 * MIN, 1, &[]);
        lowered.severity = Some(Severity::Low);
        let kept = t.observe(&rule, &lowered, 30 * MIN, 5 * MIN);
        assert_eq!(kept[0].alert().severity, Severity::Critical);
        // Backtest: the next match is far later while the first is still firing.
        let later = t.observe(
            &rule,
            &m("alice", 100 * MIN, 101 * MIN, 4, &[]),
            30 * MIN,
            101 * MIN,
        );
        assert!(
            matches!(&later[..], [Change::Resolved(_), Change::Opened(_)]),
            "{later:?}"
        );
        // Restored from its alerts, a tracker knows what was alerted.
        let stored: Vec<Alert> = later.iter().map(|c| c.alert().clone()).collect();
        let mut restored = Tracker::from_alerts(&stored);
        assert!(
            restored
                .observe(
                    &rule,
                    &m("alice", 100 * MIN, 101 * MIN, 4, &[]),
                    30 * MIN,
                    102 * MIN
                )
                .is_empty()
        );
        assert_eq!(restored.len(), 1);
        restored.forget_resolved_before(200 * MIN);
        assert_eq!(restored.len(), 1, "a firing alert is never forgotten");
    }
}
