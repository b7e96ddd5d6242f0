//! The Grafana dashboards in `dashboards/` are checked against a running server, the way
//! Grafana would use them:
//! - each file is dashboard JSON Grafana accepts (uid, title, schemaVersion, unique panel ids,
//!   a gridPos inside the 24-column grid) and uses only the provisioned datasource uids;
//! - each Infinity panel names a KPI the server serves, sends only time parameters and that
//!   KPI's labels, and every column it selects is in the answer (with Grafana's variables
//!   substituted: epoch-ms range, an interval, "All" = empty);
//! - each Prometheus panel names metric families `/metrics` exposes (the server consumes a
//!   Kafka topic and refuses a record, so those families have series).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::*;

fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p, json)
        })
        .collect()
}

/// The datasource uids the provisioning file defines.
fn provisioned_uids() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dashboards/provisioning/datasources/ztlens.yml");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("uid: "))
        .map(|u| u.trim().to_string())
        .collect()
}

/// Metric family names in a PromQL expression (histogram series map to their family).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(pos) = rest.find("ztlens_") {
        let name: String = rest[pos..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[pos + name.len()..];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name)
            .to_string();
        names.push(family);
    }
    names
}

#[test]
fn dashboards_are_valid_and_every_panel_queries_what_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = generate(dir.path(), 7, 8_000);
    let lake = dir.path().join("lake");
    ingest_dataset(&dataset, &lake);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dataset.join("truth.json")).unwrap())
            .unwrap();

    // A Kafka topic, so the Kafka metric families have series.
    let mock = KafkaMock::start(
        &[("okta", 2)],
        &[("okta", dataset.join("okta/api_pages.json"))],
    );
    // Beside the dataset's own config, whose inventory paths are relative to its directory.
    let config = dataset.join("ztlens-kafka.toml");
    let mut text = std::fs::read_to_string(dataset.join("ztlens.toml")).unwrap();
    text.push_str(&format!(
        "\n[kafka]\nenabled = true\nbootstrap_servers = \"{}\"\ngroup_id = \"dashboards\"\ndrain_timeout_ms = 3000\nstatistics_interval_ms = 200\ntopics = [{{ name = \"okta\", format = \"okta\" }}]\n\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n",
        mock.bootstrap
    ));
    std::fs::write(&config, text).unwrap();
    let server = Server::start({
        let mut cmd = ztlens();
        cmd.arg("--config")
            .arg(&config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("ZTLENS_LAKE__DATA_DIR", &lake)
            .env("ZTLENS_LAKE__RETENTION_DAYS", "0")
            .env("ZTLENS_METRICS__KPI_REFRESH_SECS", "1")
            .env("ZTLENS_METRICS__KPI_WINDOW_SECS", "999999999")
            .env("ZTLENS_SERVER__MAINTENANCE_INTERVAL_SECS", "0")
            // The rules catch up on the whole (months old) dataset, so alerts exist; a webhook
            // nobody listens on, so the notification families have series.
            .env("ZTLENS_DETECTIONS__MAX_CATCH_UP_SECS", "315360000")
            .env("ZTLENS_DETECTIONS__CATCH_UP_STEP_SECS", "315360000")
            .env(
                "ZTLENS_NOTIFICATIONS__WEBHOOKS",
                "[{name = \"soc\", url = \"http://127.0.0.1:9/hook\", secret_env = \"DASHBOARD_TEST_SECRET\"}]",
            )
            .env("DASHBOARD_TEST_SECRET", "x")
            // The SQL dashboard's datasource.
            .env("ZTLENS_PGWIRE__LISTEN", "127.0.0.1:0");
        cmd
    });
    // One refused record, so the dead-letter family has a series.
    let refused = server.post(
        "/api/v1/ingest/okta",
        &[],
        b"{\"not\": \"an okta event\"}\n",
    );
    assert_eq!(refused.status, 200, "{}", refused.text());

    let catalog: BTreeMap<String, Value> = server.get("/api/v1/kpis").json()["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["id"].as_str().unwrap().to_string(), k.clone()))
        .collect();
    let metrics = eventually(Duration::from_secs(60), || {
        let text = server.get("/metrics").text();
        (text.contains("ztlens_kafka_consumer_lag{")
            && text.contains("ztlens_kpi_access_decisions_events{")
            && text.contains("ztlens_notification_outbox_depth{")
            && !server
                .get("/api/v1/alerts")
                .json()
                .as_array()
                .unwrap()
                .is_empty())
        .then_some(text)
    })
    .unwrap_or_else(|| panic!("metrics never complete:\n{}", server.log()));
    let families: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();

    let uids = provisioned_uids();
    assert!(
        uids.contains("ztlens-api") && uids.contains("ztlens-prometheus"),
        "{uids:?}"
    );
    let from_ms = chrono::DateTime::parse_from_rfc3339(truth["from"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let to_ms = chrono::DateTime::parse_from_rfc3339(truth["to"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();

    let all = dashboards();
    let names: BTreeSet<String> = all
        .iter()
        .map(|(p, _)| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "alerts",
        "zero-trust-overview",
        "identity",
        "devices",
        "network",
        "applications",
        "pipeline-health",
        "access-paths",
        "sql",
    ] {
        assert!(names.contains(expected), "dashboard {expected} is missing");
    }
    let mut dashboard_uids = BTreeSet::new();
    let (mut api_queries, mut prom_queries) = (0, 0);
    for (path, dashboard) in &all {
        let file = path.display();
        assert!(
            dashboard["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: title"
        );
        let uid = dashboard["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: uid"));
        assert!(
            uid.len() <= 40 && dashboard_uids.insert(uid.to_string()),
            "{file}: uid {uid}"
        );
        assert!(
            dashboard["schemaVersion"].as_u64().unwrap_or(0) >= 36,
            "{file}: schemaVersion"
        );
        let variables: BTreeSet<String> = dashboard["templating"]["list"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|v| v["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        // Dropdown variables: the values a KPI label takes, exactly the label's values in the
        // KPI's own rows over the range.
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = variable["name"].as_str().unwrap();
            if variable["type"] == "textbox" {
                continue;
            }
            assert_eq!(variable["type"], "query", "{file}: variable {name}");
            assert_eq!(
                variable["datasource"]["uid"], "ztlens-api",
                "{file}: {name}"
            );
            assert_eq!(variable["allValue"], "*", "{file}: {name}: All must send *");
            let query = &variable["query"]["infinityQuery"];
            let url = query["url"].as_str().unwrap();
            let kpi = url
                .strip_prefix("/api/v1/kpis/")
                .and_then(|r| r.strip_suffix(&format!("/labels/{name}/values")))
                .unwrap_or_else(|| panic!("{file}: variable {name} lists {url}"));
            assert_eq!(query["root_selector"], "values", "{file}: {name}");
            let range = format!("from={from_ms}&to={to_ms}");
            let listed = server.get(&format!("{url}?{range}"));
            assert_eq!(listed.status, 200, "{file}: {url}: {}", listed.text());
            let listed: Vec<String> = listed.json()["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["value"].as_str().unwrap().to_string())
                .collect();
            let rows = server.get(&format!("/api/v1/kpis/{kpi}?{range}")).json();
            let expected: BTreeSet<String> = rows["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r[name].as_str().map(str::to_string))
                .collect();
            assert!(!expected.is_empty(), "{file}: {kpi} has no {name} values");
            assert_eq!(
                listed,
                expected.into_iter().collect::<Vec<_>>(),
                "{file}: variable {name}"
            );
        }
        // Annotation queries: the alert list, with the columns Grafana reads.
        for annotation in dashboard["annotations"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            assert_eq!(annotation["datasource"]["uid"], "ztlens-api", "{file}");
            check_alerts_target(
                &server,
                &annotation["target"],
                &format!("{file}/annotations"),
                (from_ms, to_ms),
            );
            api_queries += 1;
        }
        let panels = dashboard["panels"].as_array().unwrap();
        assert!(!panels.is_empty(), "{file}: no panels");
        let mut ids = BTreeSet::new();
        for panel in panels {
            let id = panel["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{file}: panel id"));
            assert!(ids.insert(id), "{file}: panel id {id} twice");
            let title = panel["title"].as_str().unwrap_or_default();
            let grid = &panel["gridPos"];
            let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| {
                grid[k]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{file}/{title}: gridPos.{k}"))
            });
            assert!(
                w > 0 && h > 0 && x + w <= 24,
                "{file}/{title}: gridPos {grid}"
            );
            let _ = y;
            for target in panel["targets"].as_array().unwrap() {
                let ds = target["datasource"]["uid"].as_str().unwrap();
                assert!(
                    uids.contains(ds),
                    "{file}/{title}: datasource {ds} is not provisioned"
                );
                if ds == "ztlens-sql" {
                    check_sql_target(
                        &server,
                        target,
                        &format!("{file}/{title}"),
                        (from_ms, to_ms),
                    );
                    api_queries += 1;
                    continue;
                }
                if ds == "ztlens-prometheus" {
                    let expr = target["expr"].as_str().unwrap();
                    // Windows follow the dashboard (scrape interval, range), never fixed.
                    assert!(
                        expr.split('[').skip(1).all(|w| w.starts_with("$__")),
                        "{file}/{title}: {expr} has a fixed window"
                    );
                    let used = metric_names(expr);
                    assert!(
                        !used.is_empty(),
                        "{file}/{title}: {expr} names no ztlens metric"
                    );
                    for name in used {
                        assert!(
                            families.contains(name.as_str()),
                            "{file}/{title}: {name} is not on /metrics"
                        );
                    }
                    prom_queries += 1;
                    continue;
                }
                // Infinity: the scorecard, or /api/v1/kpis/{id}[/evidence] with time parameters
                // and labels.
                let url = target["url"].as_str().unwrap();
                if url == "/api/v1/alerts" {
                    check_alerts_target(
                        &server,
                        target,
                        &format!("{file}/{title}"),
                        (from_ms, to_ms),
                    );
                    api_queries += 1;
                    continue;
                }
                if url.starts_with("/api/v1/access-paths") {
                    check_access_paths_target(
                        &server,
                        target,
                        &format!("{file}/{title}"),
                        &variables,
                        (from_ms, to_ms),
                    );
                    api_queries += 1;
                    continue;
                }
                if url == "/api/v1/maturity" {
                    let r = server.get(&format!("{url}?from={from_ms}&to={to_ms}"));
                    assert_eq!(r.status, 200, "{file}/{title}: {}", r.text());
                    let body = r.json();
                    let pillars = body[target["root_selector"].as_str().unwrap()]
                        .as_array()
                        .unwrap_or_else(|| panic!("{file}/{title}: no pillars in {body}"));
                    assert_eq!(pillars.len(), 4);
                    for column in target["columns"].as_array().unwrap() {
                        let selector = column["selector"].as_str().unwrap();
                        assert!(
                            pillars[0].get(selector).is_some(),
                            "{file}/{title}: {selector} is not a pillar field"
                        );
                    }
                    api_queries += 1;
                    continue;
                }
                let rest = url
                    .strip_prefix("/api/v1/kpis/")
                    .unwrap_or_else(|| panic!("{file}/{title}: {url} is not a KPI URL"));
                let (kpi, evidence) = match rest.strip_suffix("/evidence") {
                    Some(kpi) => (kpi, true),
                    None => (rest, false),
                };
                let def = catalog
                    .get(kpi)
                    .unwrap_or_else(|| panic!("{file}/{title}: KPI {kpi} is not served"));
                let labels: Vec<&str> = def["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap())
                    .collect();
                let mut query = Vec::new();
                for param in target["url_options"]["params"].as_array().unwrap() {
                    let key = param["key"].as_str().unwrap();
                    let value = param["value"].as_str().unwrap();
                    assert!(
                        matches!(
                            key,
                            "from" | "to" | "interval" | "step" | "limit" | "offset"
                        ) || labels.contains(&key),
                        "{file}/{title}: {key} is no parameter or label of {kpi}"
                    );
                    let value = match value {
                        "${__from}" => from_ms.to_string(),
                        "${__to}" => to_ms.to_string(),
                        "$__interval" => "1h".to_string(),
                        v if v.starts_with('$') => {
                            assert!(
                                variables.contains(&v[1..]),
                                "{file}/{title}: variable {v} is not defined"
                            );
                            // What "All" sends.
                            "*".to_string()
                        }
                        v => v.to_string(),
                    };
                    query.push(format!("{key}={}", percent_encode(&value)));
                }
                let r = server.get(&format!("{url}?{}", query.join("&")));
                assert_eq!(r.status, 200, "{file}/{title}: {url}: {}", r.text());
                let body = r.json();
                let root = target["root_selector"].as_str().unwrap();
                let available: BTreeSet<String> = match root {
                    "rows" | "breakdown" => body["columns"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_str().unwrap().to_string())
                        .collect(),
                    "value" => {
                        assert!(!evidence);
                        body["value"].as_object().unwrap().keys().cloned().collect()
                    }
                    other => panic!("{file}/{title}: root_selector {other}"),
                };
                for column in target["columns"].as_array().unwrap() {
                    let selector = column["selector"].as_str().unwrap();
                    assert!(
                        available.contains(selector),
                        "{file}/{title}: {selector} is not in the answer of {url} ({available:?})"
                    );
                }
                api_queries += 1;
            }
        }
    }
    eprintln!(
        "dashboards: {} files, {api_queries} API queries and {prom_queries} Prometheus queries checked",
        all.len()
    );
    check_alert_rules(&catalog);
    check_overview_page(&server, (from_ms, to_ms));
    drop(mock);
}

/// A panel of the PostgreSQL datasource: its SQL, with Grafana's macros expanded as Grafana
/// expands them, runs through psql against the server's wire protocol and returns rows with the
/// columns a time series needs.
fn check_sql_target(server: &Server, target: &Value, what: &str, (from_ms, to_ms): (i64, i64)) {
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    };
    let sql = target["rawSql"]
        .as_str()
        .unwrap()
        .replace(
            "$__timeFilter(time)",
            &format!("time BETWEEN '{}' AND '{}'", iso(from_ms), iso(to_ms)),
        )
        .replace("${__from:date:iso}", &iso(from_ms))
        .replace("${__to:date:iso}", &iso(to_ms));
    assert!(!sql.contains('$'), "{what}: an unexpanded macro in {sql}");
    let port = server.pgwire_port();
    let out = std::process::Command::new("psql")
        .arg(format!("postgresql://grafana@127.0.0.1:{port}/ztlens"))
        .args(["-X", "-A", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", &sql])
        .env("PGPASSWORD", "open")
        .output()
        .unwrap_or_else(|e| {
            panic!("psql cannot run ({e}); `./scripts/test --deps-only` installs it")
        });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: {sql}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('|').collect();
    let rows = lines.filter(|l| !l.starts_with('(')).count();
    assert!(rows > 0, "{what}: no rows for the dataset's range\n{text}");
    if target["format"] == "time_series" {
        for column in ["time", "metric", "value"] {
            assert!(
                header.contains(&column),
                "{what}: no {column} column in {header:?}"
            );
        }
    }
}

/// The built-in overview page at `/`, loaded in headless Chromium (Debian's `chromium`, which
/// `scripts/test` installs): no script error and no console error, and every number it shows
/// is the one the API returns for the same range.
fn check_overview_page(server: &Server, (from_ms, to_ms): (i64, i64)) {
    let profile = tempfile::tempdir().unwrap();
    let url = format!(
        "http://{}/?from={from_ms}&to={to_ms}&step=1d",
        server.address
    );
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=30000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .output()
        .unwrap_or_else(|e| {
            panic!("chromium cannot run ({e}); `./scripts/test --deps-only` installs it")
        });
    let dom = String::from_utf8_lossy(&out.stdout);
    let console = String::from_utf8_lossy(&out.stderr);
    let console_errors: Vec<&str> = console
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                && (l.contains("Error") || l.contains("Uncaught") || l.contains("Refused"))
        })
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors:\n{}",
        console_errors.join("\n")
    );
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page did not finish loading:\n{dom}\n{console}"
    );
    assert!(
        dom.contains("<pre id=\"errors\" hidden=\"\"></pre>"),
        "page errors:\n{dom}"
    );
    // Each headline card against its KPI.
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(tag[start..start + tag[start..].find('"')?].to_string())
    };
    let range = format!("from={from_ms}&to={to_ms}&step=1d");
    let mut cards = 0;
    for tag in dom
        .split('<')
        .filter(|t| t.starts_with("div class=\"card\""))
    {
        let kpi = attribute(tag, "data-kpi").unwrap();
        let metric = attribute(tag, "data-metric").unwrap();
        let filter = attribute(tag, "data-filter").unwrap();
        let shown: f64 = attribute(tag, "data-value").unwrap().parse().unwrap();
        let body = server
            .get(&format!("/api/v1/kpis/{kpi}?{range}&{filter}"))
            .json();
        assert_eq!(
            Some(shown),
            body["value"][&metric].as_f64(),
            "{kpi} {filter} {metric}"
        );
        cards += 1;
    }
    assert_eq!(cards, 8, "{dom}");
    let maturity = server
        .get(&format!("/api/v1/maturity?from={from_ms}&to={to_ms}"))
        .json();
    for pillar in maturity["pillars"].as_array().unwrap() {
        let row = format!(
            "data-pillar=\"{}\"><td>{}</td><td class=\"level-{}\" data-level=\"{}\"",
            pillar["pillar"].as_str().unwrap(),
            pillar["pillar"].as_str().unwrap(),
            pillar["level"],
            pillar["level"]
        );
        assert!(dom.contains(&row), "{row} not in\n{dom}");
    }
    let alerts = server
        .get(&format!(
            "/api/v1/alerts?from={from_ms}&to={to_ms}&limit=10"
        ))
        .json();
    let listed = dom.matches("data-alert=").count();
    assert_eq!(listed, alerts.as_array().unwrap().len(), "{dom}");
    assert!(listed > 0, "the dataset's attack story raises alerts");
}

/// An Infinity query of the access-path map: its parameters are the endpoint's, the root
/// selector names an array of the answer, and every selected column is in its first element.
fn check_access_paths_target(
    server: &Server,
    target: &Value,
    what: &str,
    variables: &BTreeSet<String>,
    (from_ms, to_ms): (i64, i64),
) {
    let url = target["url"].as_str().unwrap();
    let mut query = Vec::new();
    for param in target["url_options"]["params"].as_array().unwrap() {
        let key = param["key"].as_str().unwrap();
        let value = param["value"].as_str().unwrap();
        assert!(
            matches!(key, "from" | "to" | "app" | "kind" | "limit" | "offset"),
            "{what}: {key} is no parameter of {url}"
        );
        let value = match value {
            "${__from}" => from_ms.to_string(),
            "${__to}" => to_ms.to_string(),
            v if v.starts_with('$') => {
                assert!(
                    variables.contains(&v[1..]),
                    "{what}: variable {v} is not defined"
                );
                String::new()
            }
            v => v.to_string(),
        };
        query.push(format!("{key}={}", percent_encode(&value)));
    }
    let r = server.get(&format!("{url}?{}", query.join("&")));
    assert_eq!(r.status, 200, "{what}: {url}: {}", r.text());
    let body = r.json();
    let root = target["root_selector"].as_str().unwrap();
    let rows = body[root]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no array {root} in {body}"));
    assert!(!rows.is_empty(), "{what}: {url} answered no {root}");
    for column in target["columns"].as_array().unwrap() {
        let selector = column["selector"].as_str().unwrap();
        assert!(
            rows[0].get(selector).is_some(),
            "{what}: {selector} is not in the {root} of {url} ({})",
            rows[0]
        );
    }
}

/// An Infinity query of `/api/v1/alerts`: only the alert filters as parameters, an array at
/// the root, and every selected column in the alerts of the whole dataset.
fn check_alerts_target(server: &Server, target: &Value, what: &str, (from_ms, to_ms): (i64, i64)) {
    assert_eq!(
        target["root_selector"], "",
        "{what}: the alert list is the root"
    );
    let mut query = Vec::new();
    for param in target["url_options"]["params"].as_array().unwrap() {
        let key = param["key"].as_str().unwrap();
        let value = match param["value"].as_str().unwrap() {
            "${__from}" => from_ms.to_string(),
            "${__to}" => to_ms.to_string(),
            v => v.to_string(),
        };
        assert!(
            matches!(key, "from" | "to" | "state" | "severity" | "rule" | "limit"),
            "{what}: {key} is no alert filter"
        );
        query.push(format!("{key}={}", percent_encode(&value)));
    }
    let r = server.get(&format!("/api/v1/alerts?{}", query.join("&")));
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    // The columns are checked against any alert of the dataset (the filtered list may be empty).
    let all = server.get("/api/v1/alerts").json();
    let sample = all[0].as_object().unwrap();
    for column in target["columns"].as_array().unwrap() {
        let selector = column["selector"].as_str().unwrap();
        assert!(
            sample.contains_key(selector),
            "{what}: {selector} is not an alert field"
        );
    }
}

/// The shipped alert rules name KPI gauges that exist: `ztlens_kpi_<id>_<metric>` of a KPI the
/// server serves with that metric, grouped and filtered only by the labels its gauges keep. A typo there
/// would not fail `promtool check rules`; the alert would just never fire.
fn check_alert_rules(catalog: &BTreeMap<String, Value>) {
    // Families of the pipeline itself, not KPI gauges.
    const PIPELINE: [&str; 3] = [
        "ztlens_kpi_evaluation_errors_total",
        "ztlens_kpi_series_dropped_total",
        "ztlens_kpi_last_evaluation_timestamp_seconds",
    ];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/rules");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for expr in text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr:"))
            .map(str::trim)
        {
            let mut labels_of_expr: BTreeSet<String> = BTreeSet::new();
            let mut names_kpi = false;
            for name in metric_names(expr) {
                if !name.starts_with("ztlens_kpi_") || PIPELINE.contains(&name.as_str()) {
                    continue;
                }
                let def = catalog
                    .values()
                    .find(|def| strings(&def["gauges"]).contains(&name))
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: {name} is not a KPI gauge the server exports",
                            path.display()
                        )
                    });
                labels_of_expr.extend(strings(&def["gauge_labels"]));
                names_kpi = true;
            }
            if !names_kpi {
                continue;
            }
            // Labels in `by (...)` and in `{label="..."}` matchers.
            let mut used: Vec<String> = Vec::new();
            for (open, close) in [("by (", ')'), ("{", '}')] {
                let mut rest = expr;
                while let Some(pos) = rest.find(open) {
                    let inner = &rest[pos + open.len()..];
                    let end = inner.find(close).unwrap_or(inner.len());
                    for part in inner[..end].split(',') {
                        let label: String = part
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !label.is_empty() {
                            used.push(label);
                        }
                    }
                    rest = &inner[end..];
                }
            }
            for label in used {
                assert!(
                    labels_of_expr.contains(&label),
                    "{}: `{expr}` uses label {label}, which its KPI does not have",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} KPI alert rules checked");
}
