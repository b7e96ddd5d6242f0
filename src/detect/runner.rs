//! Evaluating the rules: live in `ztlens serve` (each rule on its schedule, over fresh data) and
//! as a backtest over history (`ztlens detect`).
//!
//! A live evaluation of a rule reads `[start, now + 1 min)`, where `start` is the beginning of
//! the rule's window that holds the end of the last stored evaluation less the lateness — at
//! most `max_catch_up` back; on a first start `max_catch_up` back — so nothing that arrived
//! while the server was down is skipped. The rules' matches do not depend on where the range
//! starts (windows are aligned to the clock; a "new" sign-in is new against the whole history
//! the lookback reads), so one evaluation over a long catch-up finds what evaluations every
//! minute would have found. Windows are aligned to the clock, so re-reading a window gives the same
//! matches and the tracker ignores what it has already reported. An evaluation's alerts are
//! synced to the store before its watermark moves: a crash in between re-evaluates the same
//! range after the restart, which reports nothing twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use ztlens_analytics::{AnalyticsError, Engine};

use super::alerts::{Alert, Change, Tracker};
use super::notify::{NotifyError, Outbox};
use super::silences::Silences;
use super::store::{AlertStore, StoreError};
use super::{DetectionsConfig, Rule};
use crate::metrics::Metrics;

/// Events up to this far ahead of the clock are read (senders whose clocks run fast).
const FUTURE_SKEW_MS: i64 = 60_000;

/// How one rule's evaluations went, for `GET /api/v1/detections` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleStatus {
    /// Wall-clock time of the last evaluation (RFC 3339).
    pub last_run: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<u64>,
    /// Matches the last evaluation returned.
    pub last_matches: Option<usize>,
}

/// Detections of a running server: the rules, the alert store and the rules' status.
pub struct Detections {
    pub config: DetectionsConfig,
    pub rules: Vec<Rule>,
    pub store: Mutex<AlertStore>,
    pub status: Mutex<BTreeMap<String, RuleStatus>>,
    /// The webhooks' outboxes, when webhooks are configured.
    pub outbox: Option<Arc<Outbox>>,
    /// Signalled after an evaluation stored changes (wakes the Alertmanager sink).
    pub changed: Arc<tokio::sync::Notify>,
    pub silences: Mutex<Silences>,
}

impl Detections {
    pub fn new(
        config: DetectionsConfig,
        rules: Vec<Rule>,
        store: AlertStore,
        outbox: Option<Arc<Outbox>>,
        silences: Silences,
    ) -> Self {
        Self {
            config,
            rules,
            store: Mutex::new(store),
            status: Mutex::new(BTreeMap::new()),
            outbox,
            changed: Arc::new(tokio::sync::Notify::new()),
            silences: Mutex::new(silences),
        }
    }

    pub fn silences(&self) -> std::sync::MutexGuard<'_, Silences> {
        self.silences.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, AlertStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_status(&self, rule: &str, update: impl FnOnce(&mut RuleStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        update(status.entry(rule.to_string()).or_default());
    }

    pub fn status_of(&self, rule: &str) -> RuleStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(rule)
            .cloned()
            .unwrap_or_default()
    }
}

/// Failure of one evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error(transparent)]
    Query(#[from] AnalyticsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// The range a live evaluation of `rule` reads at `now_ms`: `(from, to)`. `to` is
/// `now + 1 min`, or — while catching up after a restart — the end of one catch-up step, so a
/// long outage is evaluated in bounded pieces, each stored before the next.
pub fn live_range(
    rule: &Rule,
    config: &DetectionsConfig,
    watermark: Option<i64>,
    now_ms: i64,
) -> (i64, i64) {
    let lateness = (config.lateness_secs as i64).saturating_mul(1000);
    let catch_up = (config.max_catch_up_secs as i64).saturating_mul(1000);
    // From the last stored evaluation (less the lateness), or on a first start as far back as
    // a catch-up reaches, so alerts on data already in the lake are raised.
    let start = match watermark {
        Some(mark) => mark
            .saturating_sub(lateness)
            .min(now_ms.saturating_sub(lateness)),
        None => now_ms.saturating_sub(catch_up),
    }
    .max(now_ms.saturating_sub(catch_up.max(lateness)));
    let window = rule.def.window_ms.max(1);
    let from = start.div_euclid(window) * window;
    let step = (config.catch_up_step_secs as i64)
        .saturating_mul(1000)
        .max(window)
        .max(lateness.saturating_mul(2));
    let to = now_ms
        .saturating_add(FUTURE_SKEW_MS)
        .min(from.saturating_add(step));
    (from, to)
}

/// Resolve, store and report the firing alerts of rules that are no longer evaluated
/// (disabled, removed, or detections off): nothing else would ever resolve them, and
/// Alertmanager would be told they fire forever.
pub fn resolve_orphans(detections: &Detections) -> Result<usize, EvaluationError> {
    let evaluated: Vec<&str> = if detections.config.enabled {
        detections
            .rules
            .iter()
            .filter(|r| r.enabled)
            .map(|r| r.def.id.as_str())
            .collect()
    } else {
        Vec::new()
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut tracker = Tracker::from_alerts(detections.store().all());
    let changes = tracker.resolve_orphans(&evaluated, now_ms);
    persist(detections, &changes, now_ms, None)?;
    Ok(changes.len())
}

/// Queue the notifications of `changes` (those no silence covers), then store the changes
/// and, when given, the rule's new watermark. Notifications are queued first: a crash in
/// between evaluates the range again after the restart and queues the same notifications under
/// the same keys. Returns the notifications dropped per full outbox.
fn persist(
    detections: &Detections,
    changes: &[Change],
    now_ms: i64,
    watermark: Option<(&str, i64)>,
) -> Result<BTreeMap<String, u64>, EvaluationError> {
    let mut dropped = BTreeMap::new();
    if let Some(outbox) = &detections.outbox {
        let silences = detections.silences();
        let notified: Vec<Change> = changes
            .iter()
            .filter(|c| !silences.silences(c.alert(), now_ms))
            .cloned()
            .collect();
        drop(silences);
        dropped = outbox.enqueue(&notified)?;
    }
    let alerts: Vec<Alert> = changes.iter().map(|c| c.alert().clone()).collect();
    {
        let mut store = detections.store();
        store.append(&alerts)?;
        if let Some((rule, until)) = watermark {
            store.set_watermark(rule, until)?;
        }
    }
    if !changes.is_empty() {
        detections.changed.notify_waiters();
    }
    Ok(dropped)
}

/// How far back resolved alerts are remembered: past it no evaluation can match them again.
fn memory_ms(rules: &[Rule], config: &DetectionsConfig) -> i64 {
    let longest = rules
        .iter()
        .map(|r| r.def.window_ms.saturating_add(r.def.lookback_ms))
        .max()
        .unwrap_or(0);
    longest
        .saturating_add((config.lateness_secs as i64).saturating_mul(1000))
        .saturating_add((config.resolve_after_secs as i64).saturating_mul(1000))
        .saturating_add((config.max_catch_up_secs as i64).saturating_mul(1000))
}

/// Evaluate every enabled rule on its schedule until `stopped`.
pub async fn evaluate_live(
    detections: Arc<Detections>,
    engine: Engine,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    let resolve_after_ms = (detections.config.resolve_after_secs as i64).saturating_mul(1000);
    let mut tracker = Tracker::from_alerts(detections.store().all());
    let mut next_due: HashMap<String, Instant> = HashMap::new();
    for rule in &detections.rules {
        metrics
            .detections
            .touch(&rule.def.id, rule.severity.as_str());
    }
    update_firing(&metrics, &detections.rules, &tracker);
    loop {
        for rule in detections.rules.iter().filter(|r| r.enabled) {
            if next_due
                .get(&rule.def.id)
                .is_some_and(|due| *due > Instant::now())
            {
                continue;
            }
            let started = Instant::now();
            next_due.insert(
                rule.def.id.clone(),
                started + Duration::from_millis(rule.def.schedule_ms.max(1000) as u64),
            );
            let evaluation = tokio::select! {
                result = evaluate_once(&detections, &engine, &mut tracker, rule, resolve_after_ms) => result,
                _ = stopped.changed() => return,
            };
            if let Ok(done) = &evaluation
                && !done.caught_up
            {
                // Catching up: the next step right away.
                next_due.insert(rule.def.id.clone(), Instant::now());
            }
            let elapsed = started.elapsed();
            let now = chrono::Utc::now();
            metrics
                .detections
                .evaluation_seconds
                .with_label_values(&[rule.def.id.as_str()])
                .set(elapsed.as_secs_f64());
            match evaluation {
                Ok(Evaluated {
                    matches,
                    changes,
                    dropped,
                    ..
                }) => {
                    for (sink, n) in dropped {
                        tracing::warn!(sink = %sink, dropped = n, "a webhook outbox is full: the oldest notifications were dropped");
                        metrics
                            .detections
                            .notifications_dropped
                            .with_label_values(&[sink.as_str()])
                            .inc_by(n);
                    }
                    for change in &changes {
                        let alert = change.alert();
                        let labels = [alert.rule.as_str(), alert.severity.as_str()];
                        match change {
                            Change::Opened(_) => {
                                metrics.detections.fired.with_label_values(&labels).inc();
                                tracing::warn!(
                                    rule = %alert.rule,
                                    severity = alert.severity.as_str(),
                                    alert = %alert.id,
                                    "{}",
                                    alert.summary
                                );
                            }
                            Change::Resolved(_) => {
                                metrics.detections.resolved.with_label_values(&labels).inc()
                            }
                            Change::Updated(_) | Change::Escalated(_) => {}
                        }
                    }
                    metrics
                        .detections
                        .last_success
                        .with_label_values(&[rule.def.id.as_str()])
                        .set(now.timestamp_millis() as f64 / 1000.0);
                    detections.set_status(&rule.def.id, |s| {
                        s.last_run = Some(now.to_rfc3339());
                        s.last_success = s.last_run.clone();
                        s.last_error = None;
                        s.last_duration_ms = Some(elapsed.as_millis() as u64);
                        s.last_matches = Some(matches);
                    });
                }
                Err(e) => {
                    // The tracker may hold changes that were not stored: start again from
                    // what is stored, so the next evaluation reports them.
                    tracker = Tracker::from_alerts(detections.store().all());
                    metrics
                        .detections
                        .evaluation_errors
                        .with_label_values(&[rule.def.id.as_str()])
                        .inc();
                    tracing::warn!(rule = %rule.def.id, error = %e, "detection evaluation failed; will retry");
                    detections.set_status(&rule.def.id, |s| {
                        s.last_run = Some(now.to_rfc3339());
                        s.last_error = Some(e.to_string());
                        s.last_duration_ms = Some(elapsed.as_millis() as u64);
                    });
                }
            }
            if *stopped.borrow() {
                return;
            }
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        tracker.forget_resolved_before(
            now_ms.saturating_sub(memory_ms(&detections.rules, &detections.config)),
        );
        update_firing(&metrics, &detections.rules, &tracker);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stopped.changed() => return,
        }
    }
}

fn update_firing(metrics: &Metrics, rules: &[Rule], tracker: &Tracker) {
    let mut firing: BTreeMap<&str, i64> = rules.iter().map(|r| (r.def.id.as_str(), 0)).collect();
    for alert in tracker.firing() {
        *firing.entry(alert.rule.as_str()).or_default() += 1;
    }
    for (rule, n) in firing {
        metrics
            .detections
            .firing
            .with_label_values(&[rule])
            .set(n as f64);
    }
}

/// What one live evaluation did.
struct Evaluated {
    matches: usize,
    changes: Vec<Change>,
    dropped: BTreeMap<String, u64>,
    /// The evaluation reached the present (false while catching up step by step).
    caught_up: bool,
}

/// One live evaluation of `rule`: query, fold the matches in, resolve what is due, queue the
/// notifications and store the changes, then move the watermark.
async fn evaluate_once(
    detections: &Detections,
    engine: &Engine,
    tracker: &mut Tracker,
    rule: &Rule,
    resolve_after_ms: i64,
) -> Result<Evaluated, EvaluationError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let lateness = (detections.config.lateness_secs as i64).saturating_mul(1000);
    let watermark = detections.store().watermark(&rule.def.id);
    let (from, to) = live_range(rule, &detections.config, watermark, now_ms);
    // The event-time clock of this evaluation: the present, or the end of a catch-up step.
    let clock = to.min(now_ms);
    let caught_up = clock == now_ms;
    let mut matches = engine
        .run_detection(&rule.def, &rule.params, &rule.allow, from, to)
        .await?;
    matches.sort_by_key(|m| (m.first_seen_ms, m.last_seen_ms));
    let mut changes = Vec::new();
    for m in &matches {
        changes.extend(tracker.observe(rule, m, resolve_after_ms, now_ms));
    }
    // An event up to `lateness` late still joins its episode: resolve only after that too.
    changes.extend(tracker.resolve_due(
        &rule.def.id,
        resolve_after_ms,
        clock.saturating_sub(lateness),
        !caught_up,
    ));
    let dropped = persist(detections, &changes, now_ms, Some((&rule.def.id, clock)))?;
    Ok(Evaluated {
        matches: matches.len(),
        changes,
        dropped,
        caught_up,
    })
}

/// What `rules` would have raised over `[from_ms, to_ms)`: each rule evaluated once over the
/// whole range (from the start of its window holding `from_ms`, keeping the matches that reach
/// `from_ms`), its matches folded in time order. An alert resolves `resolve_after` after its last
/// event when the next match of its group key starts later than that; alerts whose last event is
/// within `resolve_after` of `to_ms` are still firing. Returns the final version of each alert,
/// oldest first.
pub async fn backtest(
    engine: &Engine,
    rules: &[Rule],
    from_ms: i64,
    to_ms: i64,
    resolve_after_ms: i64,
    mut progress: impl FnMut(&Rule, usize, Duration),
) -> Result<Vec<Alert>, AnalyticsError> {
    let mut alerts: BTreeMap<String, Alert> = BTreeMap::new();
    for rule in rules {
        let started = Instant::now();
        let window = rule.def.window_ms.max(1);
        let aligned_from = from_ms.div_euclid(window) * window;
        let mut matches = engine
            .run_detection(&rule.def, &rule.params, &rule.allow, aligned_from, to_ms)
            .await?;
        matches.retain(|m| m.last_seen_ms >= from_ms);
        progress(rule, matches.len(), started.elapsed());
        matches.sort_by_key(|m| (m.first_seen_ms, m.last_seen_ms));
        let mut tracker = Tracker::default();
        let mut record = |changes: Vec<Change>| {
            for change in changes {
                let alert = change.alert().clone();
                alerts.insert(alert.id.clone(), alert);
            }
        };
        for m in &matches {
            record(tracker.resolve_due(&rule.def.id, resolve_after_ms, m.first_seen_ms, true));
            record(tracker.observe(rule, m, resolve_after_ms, m.last_seen_ms));
        }
        record(tracker.resolve_due(&rule.def.id, resolve_after_ms, to_ms, true));
    }
    let mut out: Vec<Alert> = alerts.into_values().collect();
    out.sort_by(|a, b| (a.first_seen_ms, &a.rule, &a.id).cmp(&(b.first_seen_ms, &b.rule, &b.id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ztlens_analytics::DetectionCatalog;

    #[test]
    fn live_ranges_start_at_a_window_boundary_and_catch_up_after_a_restart() {
        let config = DetectionsConfig::default();
        let rules = config.rules(&DetectionCatalog::builtin()).unwrap();
        let rule = rules.iter().find(|r| r.def.id == "password_spray").unwrap();
        let now = 1_772_400_000_000 + 17 * 60_000 + 5_000;
        let (from, to) = live_range(rule, &config, Some(now - 60_000), now);
        assert_eq!(from % rule.def.window_ms, 0);
        assert_eq!(to, now + FUTURE_SKEW_MS);
        // A first start catches up in steps: the first one ends long before now.
        let (from, to) = live_range(rule, &config, None, now);
        assert_eq!(to - from, config.catch_up_step_secs as i64 * 1000);
        let (from, _) = live_range(rule, &config, Some(now - 60_000), now);
        assert!(from <= now - 300_000 && now - 300_000 - from < rule.def.window_ms);
        // Down for two hours: the evaluation starts where the last one ended.
        let (from, _) = live_range(rule, &config, Some(now - 7_200_000), now);
        assert!(from <= now - 7_200_000 - 300_000);
        // A first start reads the last max_catch_up.
        let (from, _) = live_range(rule, &config, None, now);
        assert!(from <= now - 86_400_000 && from > now - 86_400_000 - rule.def.window_ms);
        // Down for a week: at most max_catch_up back.
        let (from, _) = live_range(rule, &config, Some(now - 7 * 86_400_000), now);
        assert!(from >= now - 86_400_000 - rule.def.window_ms);
    }
}
