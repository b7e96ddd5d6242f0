//! Every detection rule against its fixtures (`queries/detections/fixtures/`, written by
//! `scripts/detection_fixtures.py` in the vendors' formats): cases that must fire and benign
//! look-alikes that must stay silent — a VPN hop, a long-haul flight at 696 km/h, a first visit
//! to a new country through the VPN, a busy Monday, an unmanaged laptop on a plain app. All
//! cases go into one lake through `ztlens ingest`; `ztlens detect` over the case day must raise
//! exactly the alerts the cases list, each once. Without the VPN on the allow-lists the two VPN
//! cases fire, which shows those look-alikes would be caught by the rules they imitate.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/detections/fixtures")
}

fn detect(lake: &Path, cases: &Value, env: &[(&str, &str)]) -> BTreeMap<AlertKey, usize> {
    let mut cmd = ztlens();
    cmd.arg("--config")
        .arg(fixtures().join("ztlens.toml"))
        .arg("--data-dir")
        .arg(lake)
        .args(["detect", "--from", cases["from"].as_str().unwrap()])
        .args(["--to", cases["to"].as_str().unwrap(), "--format", "json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let alerts: Vec<Value> = serde_json::from_str(&run_ok(&mut cmd)).unwrap();
    let mut counts = BTreeMap::new();
    for alert in &alerts {
        *counts.entry(alert_key(alert)).or_default() += 1;
    }
    counts
}

#[test]
fn each_rule_fires_on_its_cases_and_stays_silent_on_the_look_alikes() {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    for (source, file) in [
        ("okta", "okta.ndjson"),
        ("vpcflow", "vpcflow.log"),
        ("nginx", "nginx.log"),
    ] {
        let out = run_ok(
            ztlens()
                .arg("--config")
                .arg(fixtures().join("ztlens.toml"))
                .arg("--data-dir")
                .arg(&lake)
                .args(["ingest", "--source", source])
                .arg(fixtures().join(file)),
        );
        assert!(out.contains("dead letters: 0"), "{file}: {out}");
    }

    // Every rule has a case that fires and one that stays silent.
    let list = cases["cases"].as_array().unwrap();
    let rules: Vec<String> = run_ok(ztlens().args(["detect", "--list"]))
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert_eq!(rules.len(), 10, "{rules:?}");
    for rule in &rules {
        for kind in ["fires", "silent"] {
            assert!(
                list.iter()
                    .any(|c| c["rule"] == rule.as_str() && c["kind"] == kind),
                "{rule} has no case that {kind}"
            );
        }
    }

    let mut expected: BTreeMap<AlertKey, String> = BTreeMap::new();
    for case in list {
        for alert in case["expect"].as_array().unwrap() {
            let previous =
                expected.insert(alert_key(alert), case["case"].as_str().unwrap().to_string());
            assert!(
                previous.is_none(),
                "two cases expect {:?}",
                alert_key(alert)
            );
        }
    }
    let got = detect(&lake, &cases, &[]);
    for (alert, n) in &got {
        assert!(
            expected.contains_key(alert),
            "unexpected alert {alert:?} (a silent case fired)"
        );
        assert_eq!(*n, 1, "{alert:?} fired {n} times");
    }
    for (alert, case) in &expected {
        assert!(
            got.contains_key(alert),
            "case {case}: {alert:?} did not fire"
        );
    }

    // The VPN look-alikes are silent because of the allow-lists, not by accident.
    let without_vpn = detect(
        &lake,
        &cases,
        &[
            ("ZTLENS_DETECTIONS__IMPOSSIBLE_TRAVEL__ALLOW_CIDRS", "[]"),
            (
                "ZTLENS_DETECTIONS__NEW_COUNTRY_FOR_IDENTITY__ALLOW_CIDRS",
                "[]",
            ),
        ],
    );
    let identity = |rule: &str, pairs: &[(&str, &str)]| -> AlertKey {
        (
            rule.to_string(),
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    assert!(
        without_vpn.contains_key(&identity("impossible_travel", &[("identity", "it.vpn")])),
        "{without_vpn:?}"
    );
    assert!(
        without_vpn.contains_key(&identity(
            "new_country_for_identity",
            &[("identity", "nc.vpn"), ("novelty", "country:US")]
        )),
        "{without_vpn:?}"
    );
}
