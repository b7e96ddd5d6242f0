//! Detections end to end through the CLI: a generated company with only the scripted attack
//! story (no random attacks), ingested like a user would, backtested with `ztlens detect` over
//! the story's day. Every alert the generator's truth expects must fire exactly once with its
//! entity, and nothing else may fire: not the story's benign look-alikes (a VPN hop, a domestic
//! flight at 690 km/h), not a day of normal work. Then the same lake is served, and the live
//! evaluation raises the same alerts, stores them, and raises none again after a SIGKILL and a
//! restart.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use support::*;

type AlertKey = (String, BTreeMap<String, String>);

fn key(alert: &Value) -> AlertKey {
    let entity = alert["entity"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    (alert["rule"].as_str().unwrap().to_string(), entity)
}

fn counts(alerts: &[Value]) -> BTreeMap<AlertKey, usize> {
    let mut counts = BTreeMap::new();
    for alert in alerts {
        *counts.entry(key(alert)).or_default() += 1;
    }
    counts
}

#[test]
fn the_attack_story_raises_exactly_the_expected_alerts() {
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
    let expected: Vec<Value> = truth["alerts"]["expected"].as_array().unwrap().clone();
    let story_from = truth["alerts"]["story_from"].as_str().unwrap().to_string();
    let rules: std::collections::BTreeSet<&str> = expected
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    // Every rule but the volume spike (it needs 14 days of baseline) has an episode.
    assert_eq!(rules.len(), 9, "{rules:?}");

    let lake = dir.path().join("lake");
    ingest_dataset(&dataset, &lake);
    let config = dataset.join("ztlens.toml");
    let output = run_ok(
        ztlens()
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&lake)
            .args([
                "detect",
                "--from",
                &story_from,
                "--to",
                "2026-03-03T00:00:00Z",
            ])
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
        let expected_time = expected.iter().find(|e| key(e) == key(alert)).unwrap()["time"]
            .as_str()
            .unwrap();
        assert!(
            first >= expected_time,
            "{:?} starts at {first}, before the episode at {expected_time}",
            key(alert)
        );
        assert!(!alert["evidence"].as_array().unwrap().is_empty());
        assert!(alert["events"].as_u64().unwrap() >= 1);
    }

    // The same lake served: the live evaluation catches up on the story's day and raises the
    // same alerts; after a SIGKILL and a restart nothing fires twice.
    let serve = |lake: &std::path::Path| {
        let mut cmd = serve_cmd(
            lake,
            &[
                ("ZTLENS_DETECTIONS__MAX_CATCH_UP_SECS", "315360000"),
                ("ZTLENS_METRICS__KPI_REFRESH_SECS", "0"),
            ],
        );
        cmd.arg("--config").arg(&config);
        Server::start(cmd)
    };
    let mut server = serve(&lake);
    let stored = eventually(Duration::from_secs(120), || {
        let listed = server.get("/api/v1/alerts?from=2026-03-02T00:00:00Z&limit=1000");
        let alerts = listed.json().as_array().cloned().unwrap_or_default();
        (counts(&alerts).keys().cloned().collect::<Vec<_>>()
            == want.keys().cloned().collect::<Vec<_>>())
        .then_some(alerts)
    })
    .unwrap_or_else(|| {
        panic!(
            "the live evaluation did not raise the expected alerts: {}\n{}",
            server
                .get("/api/v1/alerts?from=2026-03-02T00:00:00Z&limit=1000")
                .text(),
            server.log()
        )
    });
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
    let catalog = server.get("/api/v1/detections").json();
    assert_eq!(catalog["detections"].as_array().unwrap().len(), 10);
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("ztlens_alerts_fired_total{rule=\"password_spray\",severity=\"high\"} 1"),
        "{metrics}"
    );
    server.kill9();
    let mut restarted = serve(&lake);
    // Let every rule evaluate again after the restart.
    eventually(Duration::from_secs(60), || {
        let text = restarted.get("/metrics").text();
        text.lines()
            .filter(|l| l.starts_with("ztlens_detection_last_success_timestamp_seconds{"))
            .count()
            .eq(&10)
            .then_some(())
    })
    .expect("every rule evaluated after the restart");
    let again = restarted
        .get("/api/v1/alerts?from=2026-03-02T00:00:00Z&limit=1000")
        .json();
    let again = again.as_array().unwrap();
    assert_eq!(
        counts(again),
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
