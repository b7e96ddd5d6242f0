//! A real Prometheus scrapes `ztlens serve`: every KPI value the generator's `truth.json` states
//! must come back from Prometheus's query API as the gauge `ztlens_kpi_<id>_<metric>` with the
//! KPI's labels — the path a Grafana panel on the Prometheus datasource takes.
//!
//! The dataset covers an hour that ended two hours ago, so the default metrics window (the last
//! 24 hours, one bucket) holds all of it and each gauge equals the truth's total.

mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;

struct Prometheus {
    child: Child,
    address: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(dir: &std::path::Path, target: &str) -> Prometheus {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ztlens\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={address}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("prometheus cannot run ({e}); `./scripts/test --deps-only` installs it")
        });
    Prometheus { child, address }
}

/// Instant query; the samples as (labels, value).
fn query(prometheus: &Prometheus, promql: &str) -> Option<Vec<(Value, f64)>> {
    let response = try_request(
        &prometheus.address,
        "GET",
        &format!("/api/v1/query?query={}", percent_encode(promql)),
        &[],
        &[],
    )
    .ok()?;
    if response.status != 200 {
        return None;
    }
    let body = response.json();
    let samples = body["data"]["result"].as_array()?;
    Some(
        samples
            .iter()
            .map(|s| {
                let value: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
                (s["metric"].clone(), value)
            })
            .collect(),
    )
}

#[test]
fn prometheus_scrapes_kpi_gauges_equal_to_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp();
    let start = chrono::DateTime::from_timestamp(now - now.rem_euclid(3600) - 3 * 3600, 0)
        .unwrap()
        .to_rfc3339();
    let dataset = dir.path().join("gen");
    run_ok(
        ztlens()
            .args(["gen", "--seed", "5", "--events", "20000", "--start", &start])
            .args(["--duration", "1h", "--out"])
            .arg(&dataset),
    );
    let lake = dir.path().join("lake");
    ingest_dataset(&dataset, &lake);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dataset.join("truth.json")).unwrap())
            .unwrap();

    let server = Server::start({
        let mut cmd = ztlens();
        cmd.arg("--config")
            .arg(dataset.join("ztlens.toml"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("ZTLENS_LAKE__DATA_DIR", &lake)
            .env("ZTLENS_LAKE__RETENTION_DAYS", "0")
            .env("ZTLENS_METRICS__KPI_REFRESH_SECS", "1")
            .env("ZTLENS_SERVER__MAINTENANCE_INTERVAL_SECS", "0");
        cmd
    });
    let prometheus = start_prometheus(dir.path(), &server.address);

    // Wait for a scrape that carries the KPI gauges.
    let up = eventually(Duration::from_secs(90), || {
        query(&prometheus, "ztlens_kpi_last_evaluation_timestamp_seconds").filter(|s| !s.is_empty())
    });
    assert!(
        up.is_some(),
        "Prometheus never scraped KPI gauges:\n{}",
        server.log()
    );

    let catalog = server.get("/api/v1/kpis").json();
    let truth_to_ms = chrono::DateTime::parse_from_rfc3339(truth["to"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let mut compared = 0;
    for (id, rows) in truth["kpis"].as_object().unwrap() {
        let def = catalog["kpis"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id.as_str())
            .unwrap_or_else(|| panic!("truth names KPI {id}, which the server does not serve"));
        let strings = |key: &str| -> Vec<&str> {
            def[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect()
        };
        // The gauges keep `gauge_labels`; truth rows that differ only in the others (an
        // account) fold into one series: totals summed, other metrics their maximum.
        let labels = strings("gauge_labels");
        let totals = strings("totals");
        let metrics = strings("metrics");
        let gauges = strings("gauges");
        assert!(!metrics.is_empty(), "{id}: no metrics declared");
        assert_eq!(metrics.len(), gauges.len(), "{id}: a gauge per metric");
        for (metric, name) in metrics.into_iter().zip(gauges) {
            // Durations are exported in seconds (Prometheus base units): the truth's hours,
            // minutes and days are scaled here, and the name says seconds.
            let scale = if metric.ends_with("_hours") {
                3600.0
            } else if metric.ends_with("_minutes") {
                60.0
            } else if metric.ends_with("_days") || metric.starts_with("days_since_") {
                86_400.0
            } else {
                1.0
            };
            let is_duration = scale != 1.0 || metric.ends_with("_s");
            assert_eq!(
                name.ends_with("_seconds"),
                is_duration,
                "{name}: a duration is named in seconds, nothing else is"
            );
            assert!(
                !["_hours", "_minutes", "_days", "_s"]
                    .iter()
                    .any(|u| name.ends_with(u)),
                "{name}"
            );
            let samples = eventually(Duration::from_secs(30), || {
                query(&prometheus, name).filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| panic!("{name}: no series in Prometheus"));
            for (m, _) in &samples {
                for label in m.as_object().unwrap().keys() {
                    assert!(
                        ["__name__", "instance", "job"].contains(&label.as_str())
                            || labels.contains(&label.as_str()),
                        "{name}: label {label} is not a gauge label of {id}"
                    );
                }
            }
            let mut expected: Vec<(Vec<&str>, f64, &Value)> = Vec::new();
            for row in rows.as_array().unwrap() {
                let Some(value) = row[metric].as_f64().map(|v| v * scale) else {
                    continue;
                };
                let key: Vec<&str> = labels
                    .iter()
                    .map(|l| row[*l].as_str().unwrap_or(""))
                    .collect();
                match expected.iter_mut().find(|(k, _, _)| *k == key) {
                    Some(e) if totals.contains(&metric) => e.1 += value,
                    Some(e) => e.1 = e.1.max(value),
                    None => expected.push((key, value, row)),
                }
            }
            for (key, want, row) in expected {
                let got = samples
                    .iter()
                    .find(|(m, _)| {
                        labels
                            .iter()
                            .zip(&key)
                            .all(|(l, v)| m[*l].as_str().unwrap_or("") == *v)
                    })
                    .map(|(_, v)| *v)
                    .unwrap_or_else(|| panic!("{name}: no series for {row}"));
                // An age is measured at the end of the evaluated window, which is "now" for the
                // gauges and the end of the generated data for the truth: the gauge can only be
                // older, by at most the time since then (in the metric's unit).
                let age_unit_ms = (metric.ends_with("age_hours")
                    || metric.ends_with("age_days")
                    || metric.starts_with("days_since"))
                .then_some(1000.0);
                if let Some(unit_ms) = age_unit_ms {
                    let since_end =
                        (chrono::Utc::now().timestamp_millis() - truth_to_ms) as f64 / unit_ms;
                    assert!(
                        got >= want - 1e-9 && got <= want + since_end + 1e-9,
                        "{name} for {row}: Prometheus has {got}, truth says {want} at the end of the data ({since_end} units ago)"
                    );
                } else {
                    assert!(
                        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                        "{name} for {row}: Prometheus has {got}, truth says {want}"
                    );
                }
                compared += 1;
            }
        }
    }
    eprintln!("prometheus test: {compared} KPI series equal to the truth");
    assert!(compared >= 20, "only {compared} series compared");

    // Prometheus's own linter finds nothing in the exposition: base units in names, `_total`
    // counters, help on every family.
    let exposition = server.get("/metrics").text();
    assert!(
        exposition.contains(&format!(
            "ztlens_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "no build info"
    );
    for family in ["process_resident_memory_bytes", "process_cpu_seconds_total"] {
        assert!(exposition.contains(&format!("\n{family} ")), "no {family}");
    }
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) is installed by scripts/test");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), exposition.as_bytes()).unwrap();
    let lint = promtool.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}
