//! Detections end to end through the CLI: a generated company with only the scripted attack
//! story (no random attacks), ingested like a user would, backtested with `ztlens detect` over
//! the story's day. Every alert the generator's truth expects must fire exactly once with its
//! entity, and nothing else may fire: not the story's benign look-alikes (a VPN hop, a domestic
//! flight at 690 km/h), not a day of normal work. Then the same lake is served, and the live
//! evaluation raises the same alerts, stores them, and raises none again after a SIGKILL and a
//! restart; a webhook that is down while they fire receives every notification once it is
//! back, across a SIGKILL, signed; and a real Alertmanager receives, groups and resolves an
//! attack pushed over HTTP.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use serde_json::Value;
use support::*;

fn counts(alerts: &[Value]) -> BTreeMap<AlertKey, usize> {
    let mut counts = BTreeMap::new();
    for alert in alerts {
        *counts.entry(alert_key(alert)).or_default() += 1;
    }
    counts
}

/// The story's dataset, generated and ingested once for every test of this file (each test
/// that writes works on its own copy of the lake).
struct StoryLake {
    _dir: tempfile::TempDir,
    dataset: PathBuf,
    lake: PathBuf,
    truth: Value,
}

fn story() -> &'static StoryLake {
    static STORY: OnceLock<StoryLake> = OnceLock::new();
    STORY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let dataset = dir.path().join("gen");
        run_ok(
            ztlens()
                .args([
                    "gen",
                    "--seed",
                    "3",
                    "--events",
                    "40000",
                    "--duration",
                    "2d",
                ])
                .args(["--attacks", "story", "--out"])
                .arg(&dataset),
        );
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(dataset.join("truth.json")).unwrap())
                .unwrap();
        let lake = dir.path().join("lake");
        ingest_dataset(&dataset, &lake);
        StoryLake {
            _dir: dir,
            dataset,
            lake,
            truth,
        }
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `ztlens serve` over `lake` with the story's config, catching up on the whole lake.
fn serve_story(lake: &Path, extra_env: &[(&str, &str)]) -> Server {
    let mut cmd = serve_cmd(
        lake,
        &[
            ("ZTLENS_DETECTIONS__MAX_CATCH_UP_SECS", "315360000"),
            ("ZTLENS_DETECTIONS__CATCH_UP_STEP_SECS", "315360000"),
            ("ZTLENS_METRICS__KPI_REFRESH_SECS", "0"),
        ],
    );
    cmd.arg("--config").arg(story().dataset.join("ztlens.toml"));
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    Server::start(cmd)
}

fn expected_alerts() -> Vec<Value> {
    story().truth["alerts"]["expected"]
        .as_array()
        .unwrap()
        .clone()
}

const STORY_ALERTS: &str = "/api/v1/alerts?from=2026-03-01T00:00:00Z&limit=1000";

#[test]
fn the_attack_story_raises_exactly_the_expected_alerts() {
    let StoryLake { dataset, truth, .. } = story();
    let expected = expected_alerts();
    // The whole period: the story's day, and a day of normal work before it.
    let from = truth["from"].as_str().unwrap().to_string();
    assert!(truth["alerts"]["story_from"].as_str().unwrap() > from.as_str());
    let rules: std::collections::BTreeSet<&str> = expected
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    // Every rule but the volume spike (it needs 14 days of baseline) has an episode.
    assert_eq!(rules.len(), 9, "{rules:?}");

    let lake = &story().lake;
    let config = dataset.join("ztlens.toml");
    let output = run_ok(
        ztlens()
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(lake)
            .args(["detect", "--from", &from, "--to", "2026-03-03T00:00:00Z"])
            .args(["--format", "json"]),
    );
    let alerts: Vec<Value> = serde_json::from_str(&output).unwrap();
    let want = counts(&expected);
    let got = counts(&alerts);
    for (alert, n) in &got {
        assert!(want.contains_key(alert), "unexpected alert {alert:?}");
        assert_eq!(*n, 1, "{alert:?} fired {n} times");
    }
    for alert in want.keys() {
        assert!(
            got.contains_key(alert),
            "expected alert {alert:?} did not fire"
        );
    }
    // Each alert carries its evidence and starts at the episode's first event.
    for alert in &alerts {
        let first = alert["first_seen"].as_str().unwrap();
        let expected_time = expected
            .iter()
            .find(|e| alert_key(e) == alert_key(alert))
            .unwrap()["time"]
            .as_str()
            .unwrap();
        assert!(
            first >= expected_time,
            "{:?} starts at {first}, before the episode at {expected_time}",
            alert_key(alert)
        );
        assert!(!alert["evidence"].as_array().unwrap().is_empty());
        assert!(alert["events"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn the_live_evaluation_raises_them_once_across_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    copy_dir(&story().lake, &lake);
    let want = counts(&expected_alerts());
    let mut server = serve_story(&lake, &[]);
    let stored = eventually(Duration::from_secs(120), || {
        let alerts = server
            .get(STORY_ALERTS)
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default();
        (counts(&alerts).keys().collect::<Vec<_>>() == want.keys().collect::<Vec<_>>())
            .then_some(alerts)
    })
    .unwrap_or_else(|| {
        panic!(
            "the live evaluation did not raise the expected alerts: {}\n{}",
            server.get(STORY_ALERTS).text(),
            server.log()
        )
    });
    assert!(counts(&stored).values().all(|n| *n == 1), "{stored:?}");
    let one = &stored[0];
    let detail = server.get(&format!("/api/v1/alerts/{}", one["id"].as_str().unwrap()));
    assert_eq!(detail.status, 200, "{}", detail.text());
    let detail = detail.json();
    assert_eq!(detail["alert"]["id"], one["id"]);
    assert!(
        !detail["evidence"].as_array().unwrap().is_empty(),
        "the evidence rows of {}",
        one["id"]
    );
    assert_eq!(server.get("/api/v1/alerts/nope").status, 404);
    assert_eq!(server.get("/api/v1/alerts?state=maybe").status, 400);
    let catalog = server.get("/api/v1/detections").json();
    assert_eq!(catalog["detections"].as_array().unwrap().len(), 10);
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("ztlens_alerts_fired_total{rule=\"password_spray\",severity=\"high\"} 1"),
        "{metrics}"
    );
    server.kill9();
    let mut restarted = serve_story(&lake, &[]);
    every_rule_evaluated(&mut restarted);
    let again = restarted.get(STORY_ALERTS).json();
    assert_eq!(
        counts(again.as_array().unwrap()),
        counts(&stored),
        "nothing fired twice after SIGKILL"
    );
    let metrics = restarted.get("/metrics").text();
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("ztlens_alerts_fired_total{") && !l.ends_with(" 0")),
        "no alert fired again after the restart:\n{metrics}"
    );
    assert!(restarted.terminate());
}

fn every_rule_evaluated(server: &mut Server) {
    eventually(Duration::from_secs(90), || {
        let text = server.get("/metrics").text();
        (text
            .lines()
            .filter(|l| l.starts_with("ztlens_detection_last_success_timestamp_seconds{"))
            .count()
            == 10)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("every rule evaluates\n{}", server.log()));
}

/// A request the test receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A tiny HTTP receiver on `port` that answers 200 to everything and records it.
fn receiver(port: u16) -> Arc<Mutex<Vec<Received>>> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut headers = BTreeMap::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0);
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    log.lock().unwrap().push(Received { headers, body });
                }
                let mut stream = reader.into_inner();
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            });
        }
    });
    seen
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_webhook_that_was_down_receives_every_notification_after_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    copy_dir(&story().lake, &lake);
    let port = free_port();
    let secret = "test-webhook-secret";
    let hooks = format!(
        "[{{name = \"soc\", url = \"http://127.0.0.1:{port}/hook\", secret_env = \"SOC_WEBHOOK_SECRET\"}}]"
    );
    let env = [
        ("ZTLENS_NOTIFICATIONS__WEBHOOKS", hooks.as_str()),
        ("SOC_WEBHOOK_SECRET", secret),
    ];
    // The receiver is down: the alerts fire, their notifications wait in the outbox.
    let mut server = serve_story(&lake, &env);
    let stored = eventually(Duration::from_secs(120), || {
        let alerts = server
            .get(STORY_ALERTS)
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default();
        let failed = server.get("/metrics").text().lines().any(|l| {
            l.starts_with("ztlens_notifications_failed_total{sink=\"soc\"}") && !l.ends_with(" 0")
        });
        (alerts.len() == expected_alerts().len() && failed).then_some(alerts)
    })
    .unwrap_or_else(|| panic!("alerts fire while the webhook is down\n{}", server.log()));
    server.kill9();
    let seen = receiver(port);
    let mut restarted = serve_story(&lake, &env);
    // Every stored alert was opened and (its events being months old) resolved: two
    // notifications each.
    let wanted: BTreeSet<(String, String)> = stored
        .iter()
        .flat_map(|a| {
            let id = a["id"].as_str().unwrap().to_string();
            [
                (id.clone(), "opened".to_string()),
                (id, "resolved".to_string()),
            ]
        })
        .collect();
    let received = eventually(Duration::from_secs(60), || {
        let got = seen.lock().unwrap().clone();
        let events: BTreeSet<(String, String)> = got
            .iter()
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                (
                    body["alert"]["id"].as_str().unwrap().to_string(),
                    body["event"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (events == wanted).then_some(got)
    })
    .unwrap_or_else(|| {
        let got: BTreeSet<(String, String)> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                (
                    body["alert"]["id"].as_str().unwrap().to_string(),
                    body["event"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        panic!(
            "the webhook did not receive every notification: missing {:?}, unexpected {:?}\n{}",
            wanted.difference(&got).collect::<Vec<_>>(),
            got.difference(&wanted).collect::<Vec<_>>(),
            restarted.log()
        )
    });
    // Duplicates only under the same key; every request signed over its timestamp and body.
    let mut by_key: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in &received {
        let key = r.headers["idempotency-key"].clone();
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["idempotency_key"], key.as_str());
        if let Some(earlier) = by_key.get(&key) {
            assert_eq!(
                earlier, &r.body,
                "a duplicate carries the same notification"
            );
        }
        by_key.insert(key, r.body.clone());
        let timestamp = &r.headers["x-ztlens-timestamp"];
        let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
        assert!((0..300).contains(&age), "a fresh timestamp: {age} s");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&r.body);
        let expected = format!("sha256={:x}", mac.finalize().into_bytes());
        assert_eq!(r.headers["x-ztlens-signature"], expected);
    }
    assert_eq!(by_key.len(), wanted.len());
    let depth = eventually(Duration::from_secs(30), || {
        restarted
            .get("/metrics")
            .text()
            .contains("ztlens_notification_outbox_depth{sink=\"soc\"} 0")
            .then_some(())
    });
    assert!(depth.is_some(), "the outbox empties");
    assert!(restarted.terminate());
}

/// Okta sign-in failures of `users` from one address, now: a password spray.
fn okta_spray(ip: &str, users: usize) -> String {
    let now = chrono::Utc::now();
    (0..users)
        .map(|i| {
            let published = (now - chrono::Duration::seconds((users - i) as i64))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            serde_json::json!({
                "uuid": format!("spray-{ip}-{i}-{}", now.timestamp_millis()),
                "published": published,
                "eventType": "user.session.start",
                "severity": "WARN",
                "displayMessage": "User login to Okta",
                "actor": {"id": format!("00u{i:04}"), "type": "User", "alternateId": format!("user{i}@corp.example"), "displayName": format!("User {i}")},
                "client": {"ipAddress": ip, "geographicalContext": {"country": "Nigeria", "city": "Lagos", "geolocation": {"lat": 6.45, "lon": 3.39}}},
                "securityContext": {"asNumber": 37148, "asOrg": "globacom", "isProxy": false},
                "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"},
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A real Alertmanager on loopback: an attack pushed over HTTP arrives as an alert with its
/// labels, grouped by rule, and is resolved in Alertmanager when it resolves in ztlens.
#[test]
fn alertmanager_receives_groups_and_resolves_a_live_alert() {
    let dir = tempfile::tempdir().unwrap();
    let am_port = free_port();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route:\n  receiver: none\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let mut am = std::process::Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager is installed (scripts/test installs it)");
    let am_url = format!("127.0.0.1:{am_port}");
    let am_get = |path: &str| try_request(&am_url, "GET", path, &[], b"").ok();
    eventually(Duration::from_secs(30), || {
        am_get("/-/ready").filter(|r| r.status == 200).map(drop)
    })
    .expect("Alertmanager starts");

    let am_env = format!("{{url = \"http://127.0.0.1:{am_port}\", resend_interval_secs = 1}}");
    let (_lake, server) = serve_empty(&[
        ("ZTLENS_DETECTIONS__ENABLED", "true"),
        ("ZTLENS_DETECTIONS__RESOLVE_AFTER_SECS", "15"),
        ("ZTLENS_DETECTIONS__LATENESS_SECS", "1"),
        // An empty lake: nothing to catch up on, the first evaluation is of the present.
        ("ZTLENS_DETECTIONS__MAX_CATCH_UP_SECS", "60"),
        // Only the rule under test, so its evaluations are not queued behind nine others on a
        // busy machine (the alert must be seen firing before it resolves).
        ("ZTLENS_DETECTIONS__IMPOSSIBLE_TRAVEL__ENABLED", "false"),
        ("ZTLENS_DETECTIONS__MFA_PUSH_BOMBING__ENABLED", "false"),
        (
            "ZTLENS_DETECTIONS__BRUTE_FORCE_THEN_SUCCESS__ENABLED",
            "false",
        ),
        ("ZTLENS_DETECTIONS__LATERAL_SCAN__ENABLED", "false"),
        (
            "ZTLENS_DETECTIONS__SENSITIVE_APP_UNMANAGED_DEVICE__ENABLED",
            "false",
        ),
        ("ZTLENS_DETECTIONS__PRIVILEGED_OFF_HOURS__ENABLED", "false"),
        (
            "ZTLENS_DETECTIONS__NEW_COUNTRY_FOR_IDENTITY__ENABLED",
            "false",
        ),
        (
            "ZTLENS_DETECTIONS__SERVICE_ACCOUNT_ANOMALY__ENABLED",
            "false",
        ),
        ("ZTLENS_DETECTIONS__ACCESS_VOLUME_SPIKE__ENABLED", "false"),
        ("ZTLENS_DETECTIONS__PASSWORD_SPRAY__SCHEDULE_SECS", "1"),
        ("ZTLENS_NOTIFICATIONS__ALERTMANAGER", am_env.as_str()),
        ("ZTLENS_LAKE__FLUSH_INTERVAL_SECS", "1"),
    ]);
    // A silence for a second spraying address: its alert is stored and listed, never sent.
    let silence = server.post(
        "/api/v1/silences",
        &[],
        br#"{"rule": "password_spray", "entity": {"src_ip": "102.89.250.10"}, "ends_at": "1h", "comment": "a red-team exercise"}"#,
    );
    assert_eq!(silence.status, 201, "{}", silence.text());
    let bad = server.post(
        "/api/v1/silences",
        &[],
        br#"{"rule": "password_spray", "ends_at": "90d", "comment": "forever"}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    for ip in ["102.89.250.9", "102.89.250.10"] {
        let pushed = server.post("/api/v1/ingest/okta", &[], okta_spray(ip, 10).as_bytes());
        assert_eq!(pushed.status, 200, "{}", pushed.text());
    }
    let active = eventually(Duration::from_secs(60), || {
        let alerts: Value = am_get("/api/v2/alerts")?.json();
        alerts
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "password_spray")
            .cloned()
    })
    .unwrap_or_else(|| panic!("the alert reaches Alertmanager\n{}", server.log()));
    assert_eq!(active["labels"]["src_ip"], "102.89.250.9");
    let sent: Value = am_get("/api/v2/alerts").unwrap().json();
    assert!(
        !sent
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["src_ip"] == "102.89.250.10"),
        "a silenced alert reached Alertmanager: {sent}"
    );
    assert_eq!(active["labels"]["severity"], "high");
    assert_eq!(active["status"]["state"], "active");
    assert!(
        active["annotations"]["evidence"]
            .as_str()
            .unwrap()
            .contains("/api/v1/alerts/")
    );
    let ours = server.get("/api/v1/alerts?rule=password_spray").json();
    let silenced: Vec<&Value> = ours
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["silenced"] == true)
        .collect();
    assert_eq!(silenced.len(), 1, "{ours}");
    assert_eq!(silenced[0]["entity"]["src_ip"], "102.89.250.10");
    let groups: Value = am_get("/api/v2/alerts/groups").unwrap().json();
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["labels"]["alertname"] == "password_spray"
                && g["alerts"].as_array().is_some_and(|a| a.len() == 1)),
        "{groups}"
    );
    // Sixteen seconds after its last event (resolve_after plus the lateness) the alert
    // resolves, and Alertmanager learns it.
    let resolved = eventually(Duration::from_secs(60), || {
        let alerts: Value = am_get("/api/v2/alerts")?.json();
        (!alerts
            .as_array()?
            .iter()
            .any(|a| a["labels"]["alertname"] == "password_spray"))
        .then_some(())
    });
    let _ = am.kill();
    let _ = am.wait();
    assert!(
        resolved.is_some(),
        "the alert resolves in Alertmanager\n{}",
        server.log()
    );
    // The silenced alert resolves too (its last event may be a few milliseconds later).
    let all_resolved = eventually(Duration::from_secs(30), || {
        let ours = server.get("/api/v1/alerts?rule=password_spray").json();
        ours.as_array()?
            .iter()
            .all(|a| a["state"] == "resolved")
            .then_some(())
    });
    assert!(
        all_resolved.is_some(),
        "{}",
        server.get("/api/v1/alerts?rule=password_spray").text()
    );
    let silences = server.get("/api/v1/silences").json();
    let id = silences["silences"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(silences["silences"][0]["active"], true);
    let expired = request(
        &server.address,
        "DELETE",
        &format!("/api/v1/silences/{id}"),
        &[],
        b"",
    );
    assert_eq!(expired.status, 200, "{}", expired.text());
    assert_eq!(
        server.get("/api/v1/silences").json()["silences"][0]["active"],
        false
    );
}
