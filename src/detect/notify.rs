//! Alert notifications: signed webhooks through a durable outbox, and Alertmanager.
//!
//! **Webhooks** get one notification per opened and per resolved alert. A notification is
//! written to the sink's outbox (`<data_dir>/alerts/outbox/<sink>/`, one synced file per
//! notification) before the alert change is stored, and deleted once the receiver answered 2xx;
//! a worker per sink sends the oldest first and backs off exponentially (1 s doubling to 5 min)
//! while the receiver fails. Delivery is therefore at least once across receiver outages and
//! restarts (also SIGKILL): an evaluation that was cut short is evaluated again after the
//! restart and produces the same notifications under the same idempotency keys (`<alert
//! id>/v<version>`), which overwrite their files instead of adding new ones. A receiver drops
//! duplicates by the `Idempotency-Key` header.
//!
//! Each request carries `X-Ztlens-Timestamp` (Unix seconds at sending) and
//! `X-Ztlens-Signature: sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<body>` with the sink's
//! secret: a receiver recomputes it, compares in constant time, and refuses timestamps older
//! than a few minutes, so a captured request cannot be replayed later.
//!
//! **Alertmanager** (API v2, `POST /api/v2/alerts`) is sent the state instead of the changes:
//! every firing alert each `resend_interval_secs` (Alertmanager resolves an alert it stops
//! hearing about), and each alert resolved in the last 15 minutes with its `endsAt`. The state is
//! the alert store, so a restart loses nothing and nothing needs an outbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{Notify, watch};
use ztlens_analytics::Severity;

use super::alerts::{Alert, AlertState, Change};
use super::runner::Detections;
use crate::metrics::Metrics;

/// `[notifications]`: where alerts are sent.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Base URL of this server as people reach it (`https://ztlens.example.com`), for the
    /// evidence links in notifications; default: `http://<server.listen>`.
    pub external_url: Option<String>,
    /// Most notifications waiting per webhook; past it the oldest are dropped and counted.
    pub max_outbox: usize,
    /// Alertmanager to send alerts to.
    pub alertmanager: Option<AlertmanagerConfig>,
    /// Webhooks that receive every opened and resolved alert.
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            external_url: None,
            max_outbox: 10_000,
            alertmanager: None,
            webhooks: Vec::new(),
        }
    }
}

/// `[notifications.alertmanager]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL (`http://alertmanager:9093`).
    pub url: String,
    /// Seconds between re-sends of the firing alerts (keep it under Alertmanager's
    /// `resolve_timeout`, 5 minutes by default).
    #[serde(default = "default_resend_secs")]
    pub resend_interval_secs: u64,
    /// Seconds a request may take.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// `[[notifications.webhooks]]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name of the sink in metrics and the outbox folder (letters, digits, `-`, `_`).
    pub name: String,
    /// URL the notifications are POSTed to.
    pub url: String,
    /// Name of the environment variable holding the signing secret (kept out of the file; not
    /// under the `ZTLENS_` prefix, which is read as configuration).
    pub secret_env: String,
    /// Lowest severity sent (default: all).
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Seconds a request may take.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_resend_secs() -> u64 {
    60
}

fn default_timeout_secs() -> u64 {
    10
}

impl NotificationsConfig {
    pub fn validate(&self) -> Result<(), String> {
        let url = |u: &str| -> Result<(), String> {
            reqwest::Url::parse(u)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(drop)
                .ok_or_else(|| format!("{u:?} is not an http or https URL"))
        };
        if let Some(am) = &self.alertmanager {
            url(&am.url)?;
            if am.resend_interval_secs == 0 || am.timeout_secs == 0 {
                return Err(
                    "alertmanager resend_interval_secs and timeout_secs must be above 0".into(),
                );
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for hook in &self.webhooks {
            if hook.name.is_empty()
                || !hook
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "webhook name {:?} must be letters, digits, `-` and `_`",
                    hook.name
                ));
            }
            if !names.insert(&hook.name) {
                return Err(format!("two webhooks are named {:?}", hook.name));
            }
            url(&hook.url)?;
            if hook.secret_env.is_empty() || hook.secret_env.starts_with("ZTLENS_") {
                return Err(format!(
                    "webhook {}: secret_env must name a variable outside the ZTLENS_ prefix",
                    hook.name
                ));
            }
            if hook.timeout_secs == 0 {
                return Err(format!(
                    "webhook {}: timeout_secs must be above 0",
                    hook.name
                ));
            }
        }
        if self.max_outbox == 0 {
            return Err("max_outbox must be above 0".into());
        }
        Ok(())
    }
}

/// A webhook ready to send: its settings and secret.
struct Webhook {
    config: WebhookConfig,
    secret: Vec<u8>,
    dir: PathBuf,
}

/// The outboxes of the webhooks, filled by the evaluation loop.
pub struct Outbox {
    hooks: Vec<Webhook>,
    max_outbox: usize,
    external_url: String,
    /// Wakes the delivery workers when something was queued.
    pub queued: Arc<Notify>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("webhook {sink}: the environment variable {var} (secret_env) is not set or empty")]
    MissingSecret { sink: String, var: String },
    #[error("outbox {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One queued notification (the file's content).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Queued {
    key: String,
    created_ms: i64,
    body: serde_json::Value,
}

impl Outbox {
    /// The outboxes of `config`'s webhooks under `data_dir`; reads each secret from its
    /// environment variable.
    pub fn open(
        config: &NotificationsConfig,
        data_dir: &Path,
        external_url: String,
    ) -> Result<Self, NotifyError> {
        let mut hooks = Vec::new();
        for hook in &config.webhooks {
            let secret = std::env::var(&hook.secret_env)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| NotifyError::MissingSecret {
                    sink: hook.name.clone(),
                    var: hook.secret_env.clone(),
                })?;
            let dir = data_dir.join("alerts").join("outbox").join(&hook.name);
            std::fs::create_dir_all(&dir).map_err(|source| NotifyError::Io {
                path: dir.clone(),
                source,
            })?;
            hooks.push(Webhook {
                config: hook.clone(),
                secret: secret.into_bytes(),
                dir,
            });
        }
        Ok(Self {
            hooks,
            max_outbox: config.max_outbox,
            external_url,
            queued: Arc::new(Notify::new()),
        })
    }

    /// Queue the notifications of `changes` (opened, escalated and resolved alerts) in every
    /// webhook's outbox, synced; returns, per webhook that was full, how many old ones it
    /// dropped.
    pub fn enqueue(&self, changes: &[Change]) -> Result<BTreeMap<String, u64>, NotifyError> {
        let mut dropped = BTreeMap::new();
        // Make room once per call, for as many notifications as may be added.
        let notified = changes
            .iter()
            .filter(|c| !matches!(c, Change::Updated(_)))
            .count();
        if notified == 0 {
            return Ok(dropped);
        }
        for hook in &self.hooks {
            let trimmed = trim_outbox(&hook.dir, self.max_outbox.saturating_sub(notified))?;
            if trimmed > 0 {
                dropped.insert(hook.config.name.clone(), trimmed);
            }
        }
        for change in changes {
            // The file is named by a time the change has whatever evaluation produces it (an
            // event time, never the clock), so an evaluation repeated after a crash overwrites
            // it instead of adding a second one.
            let (event, alert, at) = match change {
                Change::Opened(a) => ("opened", a, a.first_seen_ms),
                Change::Escalated(a) => ("escalated", a, a.last_seen_ms),
                Change::Resolved(a) => ("resolved", a, a.last_seen_ms),
                Change::Updated(_) => continue,
            };
            let key = format!("{}/v{}", alert.id, alert.version);
            let mut json = alert.to_json();
            json["link"] = serde_json::Value::String(evidence_link(&self.external_url, alert));
            let body = serde_json::json!({
                "idempotency_key": key,
                "event": event,
                "alert": json,
            });
            for hook in &self.hooks {
                if hook.config.min_severity.is_some_and(|s| alert.severity < s) {
                    continue;
                }
                let queued = Queued {
                    key: key.clone(),
                    created_ms: alert.updated_at_ms,
                    body: body.clone(),
                };
                let name = format!(
                    "{:013}-{:016x}.json",
                    at.max(0),
                    xxhash_rust::xxh3::xxh3_64(key.as_bytes())
                );
                write_synced(
                    &hook.dir.join(name),
                    &serde_json::to_vec(&queued).expect("json"),
                )?;
            }
        }
        if !changes.is_empty() {
            self.queued.notify_waiters();
        }
        Ok(dropped)
    }
}

fn evidence_link(base: &str, alert: &Alert) -> String {
    format!("{}/api/v1/alerts/{}", base.trim_end_matches('/'), alert.id)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> NotifyError + '_ {
    move |source| NotifyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The queued files of an outbox, oldest first.
fn pending(dir: &Path) -> Result<Vec<PathBuf>, NotifyError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// Drop the oldest notifications until at most `keep` remain; returns how many were dropped.
fn trim_outbox(dir: &Path, keep: usize) -> Result<u64, NotifyError> {
    let files = pending(dir)?;
    let excess = files.len().saturating_sub(keep);
    for file in &files[..excess] {
        std::fs::remove_file(file).map_err(io_error(file))?;
    }
    Ok(excess as u64)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), NotifyError> {
    super::write_atomically(path, bytes).map_err(io_error(path))
}

/// `sha256=<hex>` of `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={:x}", mac.finalize().into_bytes())
}

/// The HTTP client of the sinks: rustls with the ring provider and the platform's roots.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    crate::tls::install_default_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("ztlens/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Deliver one webhook's outbox until `stopped`.
pub async fn deliver_webhook(
    outbox: Arc<Outbox>,
    index: usize,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    let hook = &outbox.hooks[index];
    let name = hook.config.name.as_str();
    let client = match http_client(Duration::from_secs(hook.config.timeout_secs)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(sink = name, error = %e, "cannot build the webhook's HTTP client");
            return;
        }
    };
    metrics.detections.touch_sink(name);
    let mut backoff = Duration::from_secs(1);
    loop {
        // Register for wake-ups before looking, so a notification queued meanwhile is not
        // missed.
        let queued = outbox.queued.notified();
        tokio::pin!(queued);
        // Registered now: `notify_waiters` only wakes futures already waiting.
        queued.as_mut().enable();
        let files = pending(&hook.dir).unwrap_or_default();
        metrics
            .detections
            .outbox_depth
            .with_label_values(&[name])
            .set(files.len() as f64);
        let mut failed = false;
        for file in files {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let Ok(item) = serde_json::from_slice::<Queued>(&bytes) else {
                tracing::warn!(sink = name, file = %file.display(), "dropping an unreadable outbox entry");
                let _ = std::fs::remove_file(&file);
                continue;
            };
            let body = serde_json::to_vec(&item.body).expect("json");
            let timestamp = chrono::Utc::now().timestamp();
            let sent = tokio::select! {
                result = client
                    .post(&hook.config.url)
                    .header("content-type", "application/json")
                    .header("idempotency-key", &item.key)
                    .header("x-ztlens-timestamp", timestamp.to_string())
                    .header("x-ztlens-signature", signature(&hook.secret, timestamp, &body))
                    .body(body)
                    .send() => result,
                _ = stopped.changed() => return,
            };
            match sent {
                Ok(response) if response.status().is_success() => {
                    let _ = std::fs::remove_file(&file);
                    metrics
                        .detections
                        .notifications_sent
                        .with_label_values(&[name])
                        .inc();
                    backoff = Duration::from_secs(1);
                }
                Ok(response)
                    if response.status().is_client_error()
                        && !matches!(response.status().as_u16(), 408 | 429) =>
                {
                    // The receiver refuses this notification for good (bad request, auth,
                    // too large): retrying would block every later one behind it.
                    let _ = std::fs::remove_file(&file);
                    metrics
                        .detections
                        .notifications_dropped
                        .with_label_values(&[name])
                        .inc();
                    tracing::error!(sink = name, key = %item.key, status = %response.status(), "the webhook refused a notification; dropped");
                }
                outcome => {
                    let reason = failure_reason(outcome);
                    metrics
                        .detections
                        .notifications_failed
                        .with_label_values(&[name])
                        .inc();
                    tracing::warn!(sink = name, key = %item.key, %reason, retry_in = ?backoff, "webhook delivery failed");
                    failed = true;
                    break;
                }
            }
        }
        let wait = if failed {
            let wait = backoff;
            backoff = (backoff * 2).min(Duration::from_secs(300));
            wait
        } else {
            Duration::from_secs(30)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = queued, if !failed => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
    }
}

/// How long a resolved alert is still sent to Alertmanager (with its `endsAt`).
const RESOLVED_RESEND_MS: i64 = 15 * 60_000;

/// The Alertmanager form of an alert (API v2 `postableAlert`).
pub fn alertmanager_alert(alert: &Alert, external_url: &str) -> serde_json::Value {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), alert.rule.clone());
    labels.insert("severity".to_string(), alert.severity.as_str().to_string());
    labels.insert("source".to_string(), "ztlens".to_string());
    for (key, value) in &alert.entity {
        // Entity values come from the data: bounded in length, and never overriding ours.
        let value: String = value.chars().take(256).collect();
        labels.entry(key.clone()).or_insert(value);
    }
    let link = evidence_link(external_url, alert);
    let mut out = serde_json::json!({
        "labels": labels,
        "annotations": {
            "summary": alert.summary,
            "title": alert.title,
            "mitre": alert.mitre.join(", "),
            "evidence": link,
            "events": alert.events.to_string(),
            "alert_id": alert.id,
        },
        "startsAt": ztlens_analytics::time_range::format_ms(alert.first_seen_ms),
        "generatorURL": link,
    });
    if let Some(resolved) = alert.resolved_at_ms {
        out["endsAt"] = ztlens_analytics::time_range::format_ms(resolved).into();
    }
    out
}

/// Send the alert state to Alertmanager every `resend_interval_secs` (and right after an
/// evaluation changed something) until `stopped`.
pub async fn deliver_alertmanager(
    config: AlertmanagerConfig,
    detections: Arc<Detections>,
    external_url: String,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    const SINK: &str = "alertmanager";
    let client = match http_client(Duration::from_secs(config.timeout_secs)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the Alertmanager HTTP client");
            return;
        }
    };
    metrics.detections.touch_sink(SINK);
    let url = format!("{}/api/v2/alerts", config.url.trim_end_matches('/'));
    let period = Duration::from_secs(config.resend_interval_secs);
    loop {
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let now = chrono::Utc::now().timestamp_millis();
        let alerts: Vec<serde_json::Value> = {
            let silences = detections.silences();
            let store = detections.store();
            // A resolved episode and the firing one after it have the same labels: send only
            // the firing one, or Alertmanager may take the older state.
            let firing: std::collections::HashSet<&str> = store
                .all()
                .filter(|a| a.state == AlertState::Firing)
                .map(|a| a.fingerprint.as_str())
                .collect();
            store
                .all()
                .filter(|a| !silences.silences(a, now))
                .filter(|a| {
                    a.state == AlertState::Firing || !firing.contains(a.fingerprint.as_str())
                })
                .filter(|a| {
                    a.state == AlertState::Firing
                        || a.resolved_at_ms
                            .is_some_and(|r| now.saturating_sub(r) <= RESOLVED_RESEND_MS)
                })
                .map(|a| alertmanager_alert(a, &external_url))
                .collect()
        };
        if !alerts.is_empty() {
            let sent = tokio::select! {
                result = client.post(&url).json_body(&alerts).send() => result,
                _ = stopped.changed() => return,
            };
            match sent {
                Ok(response) if response.status().is_success() => {
                    metrics
                        .detections
                        .notifications_sent
                        .with_label_values(&[SINK])
                        .inc();
                }
                outcome => {
                    let reason = failure_reason(outcome);
                    metrics
                        .detections
                        .notifications_failed
                        .with_label_values(&[SINK])
                        .inc();
                    tracing::warn!(%reason, "sending alerts to Alertmanager failed; will retry");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = woken => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
    }
}

/// Why a delivery failed, for the log.
fn failure_reason(outcome: Result<reqwest::Response, reqwest::Error>) -> String {
    match outcome {
        Ok(response) => format!("answered {}", response.status()),
        Err(e) => e.to_string(),
    }
}

/// `RequestBuilder::json` without reqwest's `json` feature (serde_json is ours already).
trait JsonBody {
    fn json_body<T: Serialize>(self, value: &T) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body<T: Serialize>(self, value: &T) -> Self {
        self.header("content-type", "application/json")
            .body(serde_json::to_vec(value).expect("json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex = format!("{:x}", mac.finalize().into_bytes());
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let a = signature(b"secret", 1_700_000_000, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature(b"secret", 1_700_000_001, b"{}"));
        assert_ne!(a, signature(b"secret", 1_700_000_000, b"{ }"));
        assert_ne!(a, signature(b"other", 1_700_000_000, b"{}"));
    }

    #[test]
    fn the_outbox_keeps_one_file_per_notification_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: tests in this binary do not read this variable concurrently.
        unsafe { std::env::set_var("NOTIFY_TEST_WEBHOOK_SECRET", "s3cret") };
        let config = NotificationsConfig {
            max_outbox: 3,
            webhooks: vec![WebhookConfig {
                name: "soc".into(),
                url: "http://127.0.0.1:9/hook".into(),
                secret_env: "NOTIFY_TEST_WEBHOOK_SECRET".into(),
                min_severity: None,
                timeout_secs: 1,
            }],
            ..NotificationsConfig::default()
        };
        config.validate().unwrap();
        let outbox = Outbox::open(&config, dir.path(), "http://localhost:8080".into()).unwrap();
        let alert = |id: &str, version: u64, updated: i64| Alert {
            id: id.into(),
            rule: "r".into(),
            title: "R".into(),
            severity: Severity::High,
            mitre: vec![],
            fingerprint: "f".into(),
            entity: Default::default(),
            state: AlertState::Firing,
            first_seen_ms: 1,
            last_seen_ms: 2,
            events: 1,
            evidence: vec![],
            summary: "s".into(),
            details: Default::default(),
            opened_at_ms: updated,
            updated_at_ms: updated,
            resolved_at_ms: None,
            version,
            matches: Default::default(),
            folded_events: 0,
        };
        let opened = Change::Opened(alert("a", 1, 10));
        assert!(
            outbox
                .enqueue(std::slice::from_ref(&opened))
                .unwrap()
                .is_empty()
        );
        // The same change again (a re-evaluation after a crash): the same file.
        assert!(
            outbox
                .enqueue(std::slice::from_ref(&opened))
                .unwrap()
                .is_empty()
        );
        let files = pending(&dir.path().join("alerts/outbox/soc")).unwrap();
        assert_eq!(files.len(), 1);
        let queued: Queued = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!(queued.key, "a/v1");
        assert_eq!(queued.body["event"], "opened");
        assert_eq!(
            queued.body["alert"]["link"],
            "http://localhost:8080/api/v1/alerts/a"
        );
        // Updates are not notified; past the cap the oldest go.
        outbox
            .enqueue(&[Change::Updated(alert("a", 2, 11))])
            .unwrap();
        let dropped = outbox
            .enqueue(&[
                Change::Opened(alert("b", 1, 12)),
                Change::Opened(alert("c", 1, 13)),
            ])
            .unwrap();
        assert!(dropped.is_empty());
        let dropped = outbox
            .enqueue(&[Change::Opened(alert("d", 1, 14))])
            .unwrap();
        assert_eq!(dropped["soc"], 1);
        let files = pending(&dir.path().join("alerts/outbox/soc")).unwrap();
        assert_eq!(files.len(), 3);
        for bad in [
            WebhookConfig {
                name: "a b".into(),
                ..config.webhooks[0].clone()
            },
            WebhookConfig {
                url: "ftp://x".into(),
                ..config.webhooks[0].clone()
            },
        ] {
            let config = NotificationsConfig {
                webhooks: vec![bad],
                ..NotificationsConfig::default()
            };
            assert!(config.validate().is_err());
        }
    }

    #[test]
    fn alertmanager_labels_keep_ours_over_entity_values() {
        let mut entity = BTreeMap::new();
        entity.insert("alertname".to_string(), "spoofed".to_string());
        entity.insert("identity".to_string(), "x".repeat(1000));
        let alert = Alert {
            id: "id".into(),
            rule: "mfa_push_bombing".into(),
            title: "T".into(),
            severity: Severity::Critical,
            mitre: vec!["T1621".into()],
            fingerprint: "f".into(),
            entity,
            state: AlertState::Resolved,
            first_seen_ms: 0,
            last_seen_ms: 1,
            events: 5,
            evidence: vec![],
            summary: "s".into(),
            details: Default::default(),
            opened_at_ms: 0,
            updated_at_ms: 0,
            resolved_at_ms: Some(60_000),
            version: 2,
            matches: Default::default(),
            folded_events: 0,
        };
        let am = alertmanager_alert(&alert, "http://z");
        assert_eq!(am["labels"]["alertname"], "mfa_push_bombing");
        assert_eq!(am["labels"]["severity"], "critical");
        assert_eq!(am["labels"]["identity"].as_str().unwrap().len(), 256);
        assert_eq!(am["endsAt"], "1970-01-01T00:01:00Z");
        assert_eq!(am["generatorURL"], "http://z/api/v1/alerts/id");
    }
}
