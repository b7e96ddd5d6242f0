//! End to end through the CLI: a generated company's logs, ingested like a user would, must give
//! KPI values equal to the ground truth the generator computed independently of the SQL —
//! exactly for counts, within 1e-9 for rates — and ingesting the same files again must not
//! change a single value.

mod support;

use serde_json::Value;
use support::*;

/// The access-path map is grouped a chunk of the range at a time and merged: read six hours at
/// a time (four chunks, each reading the day before it too, hence the longer timeout), it is
/// the same map as read in one piece, and its identity-provider paths are the sign-ins the
/// generator wrote.
fn assert_access_paths_do_not_depend_on_the_chunk(
    dataset: &std::path::Path,
    lake: &std::path::Path,
    truth: &Value,
) {
    const PAGE: usize = 1000;
    let config = dataset.join("ztlens.toml");
    let paths = |chunk_hours: &str| -> Vec<Value> {
        let mut rows = Vec::new();
        loop {
            let page: Vec<Value> = serde_json::from_str(&run_ok(
                over_truth_range("access-paths", &config, lake, truth)
                    .env("ZTLENS_QUERY__CHUNK_HOURS", chunk_hours)
                    .env("ZTLENS_QUERY__TIMEOUT_SECS", "600")
                    .args(["--offset", &rows.len().to_string()])
                    .args(["--limit", &PAGE.to_string()]),
            ))
            .unwrap();
            let last = page.len() < PAGE;
            rows.extend(page);
            if last {
                return rows;
            }
        }
    };
    let chunked = paths("6");
    let whole = paths("744");
    assert_eq!(chunked, whole, "six hours at a time and in one piece");
    let mut idp: std::collections::BTreeMap<(String, String, String), u64> = Default::default();
    for row in &chunked {
        let text = |k: &str| row[k].as_str().unwrap().to_string();
        if text("front_end").starts_with("idp:") {
            *idp.entry((text("app"), text("identity"), text("front_end")))
                .or_default() += row["requests"].as_u64().unwrap();
        }
    }
    let want = truth_idp_paths(truth);
    assert!(!want.is_empty());
    assert_eq!(idp, want, "identity-provider paths, six hours at a time");
}

fn assert_whatif_matches_truth(dataset: &std::path::Path, lake: &std::path::Path, truth: &Value) {
    // `ztlens whatif CANDIDATE --from --to --format json` over the dataset's lake, plus `extra`.
    let whatif = |extra: &[&str]| -> String {
        let config = dataset.join("ztlens.toml");
        run_ok(
            over_truth_range("whatif", &config, lake, truth)
                .arg(dataset.join("whatif-candidate.toml"))
                .args(extra),
        )
    };
    let baseline = dataset.join("whatif-baseline.toml");
    let report: Value =
        serde_json::from_str(&whatif(&["--baseline", baseline.to_str().unwrap()])).unwrap();
    let expected = truth["whatif"]["rules"].as_object().unwrap();
    let rules = report["rules"].as_array().unwrap();
    assert_eq!(rules.len(), expected.len(), "{report}");
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        let want = &expected[id];
        for column in [
            "refused",
            "users",
            "service_accounts",
            "workloads",
            "broken_workflows",
        ] {
            assert_eq!(rule[column], want[column], "what-if {id} {column}");
        }
        assert_eq!(rule["unknown"], 0, "what-if {id}: every event is decidable");
        assert!(
            want["refused"].as_u64().unwrap() > 0,
            "{id} refuses something"
        );
        let top = &rule["top_workflows"][0];
        for column in ["identity", "target", "refused", "active_hours"] {
            assert_eq!(
                top[column], want["top_workflow"][column],
                "what-if {id} top workflow {column}"
            );
        }
    }
    assert_eq!(
        report["comparison"]["added"], truth["whatif"]["comparison"]["added"],
        "what the candidate adds"
    );
    assert_eq!(
        report["comparison"]["removed"], truth["whatif"]["comparison"]["removed"],
        "what the candidate removes"
    );
    // The evidence of a rule pages through exactly the requests it refuses.
    let rule = "crm-no-service-sessions";
    let refused = expected[rule]["refused"].as_u64().unwrap() as usize;
    let page = |offset: usize| -> Vec<Value> {
        serde_json::from_str(&whatif(&[
            "--evidence",
            rule,
            "--offset",
            &offset.to_string(),
            "--limit",
            "10",
        ]))
        .unwrap()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut offset = 0;
    loop {
        let rows = page(offset);
        for row in &rows {
            assert_eq!(row["identity"], "svc-reporting", "{row}");
            assert_eq!(row["outcome"], "refused");
            seen.insert(row["metadata_uid"].as_str().unwrap().to_string());
        }
        if rows.len() < 10 {
            break;
        }
        offset += 10;
    }
    assert_eq!(seen.len(), refused, "evidence rows of {rule}");
}

#[test]
fn kpis_equal_the_generator_truth_and_duplicates_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = generate(dir.path(), 11, 30_000);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dataset.join("truth.json")).unwrap())
            .unwrap();
    let duplicates: u64 = truth["duplicates"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(duplicates > 0, "the dataset contains redelivered records");

    let lake = dir.path().join("lake");
    ingest_dataset(&dataset, &lake);
    // First with no stored partial results: KPIs split in two compute their sealed hours
    // (the whole generated day) hour by hour and store them.
    assert_eq!(kpi_cache_entries(&lake), 0);
    let first = kpis(&dataset.join("ztlens.toml"), &lake, &truth);
    assert_matches_truth(&truth, &first);
    let stored_hours = kpi_cache_entries(&lake);
    assert!(
        stored_hours >= 4 * 24,
        "the four seed KPIs store every hour of the day: {stored_hours} entries"
    );
    // Then every sealed hour from the stored results, and with the cache off: one statement
    // over the lake per KPI, as before the cache existed. All three equal the truth.
    let warm = kpis(&dataset.join("ztlens.toml"), &lake, &truth);
    assert_eq!(first, warm, "KPIs from stored partial results");
    assert_eq!(kpi_cache_entries(&lake), stored_hours, "nothing recomputed");
    let uncached = kpis_without_cache(&dataset.join("ztlens.toml"), &lake, &truth);
    assert_eq!(first, uncached, "KPIs with [query] kpi_cache = false");
    assert_matches_truth(&truth, &uncached);

    // `ztlens kpi ID --where LABEL=VALUE` keeps the truth's rows with that label value.
    let countries: Vec<&str> = truth["kpis"]["mfa_outcomes_by_country"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["country"].as_str())
        .take(2)
        .collect();
    assert_eq!(countries.len(), 2);
    let filtered: Value = serde_json::from_str(&run_ok(
        over_truth_range("kpi", &dataset.join("ztlens.toml"), &lake, &truth)
            .arg("mfa_outcomes_by_country")
            .args(["--where", &format!("country={}", countries[0])])
            .args(["--where", &format!("country={}", countries[1])]),
    ))
    .unwrap();
    let want: Vec<&Value> = first["mfa_outcomes_by_country"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| countries.contains(&r["country"].as_str().unwrap_or("")))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        filtered.as_array().unwrap().iter().collect::<Vec<_>>(),
        want,
        "--where country=… keeps those countries' rows"
    );

    // The maturity scorecard: its inputs are sums of KPI values, checked against the
    // generator's own counts; the levels follow from them.
    let scorecard: Value = serde_json::from_str(&run_ok(&mut over_truth_range(
        "maturity",
        &dataset.join("ztlens.toml"),
        &lake,
        &truth,
    )))
    .unwrap();
    assert_eq!(
        scorecard["inputs"], truth["maturity"]["inputs"],
        "scorecard inputs"
    );
    assert_eq!(
        scorecard["pillars"], truth["maturity"]["pillars"],
        "scorecard levels"
    );
    let levels: Vec<u64> = scorecard["pillars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["level"].as_u64().unwrap())
        .collect();
    assert_eq!(levels.len(), 4);
    eprintln!("maturity levels of the generated company: {levels:?}");

    // Every generated event of every source is stored, and counted once.
    let per_source = run_ok(ztlens().arg("query").arg("--data-dir").arg(&lake).args([
        "--format",
        "json",
        "SELECT source, CAST(SUM(n) AS BIGINT) AS n FROM ( \
           SELECT metadata_product_name AS source, count(DISTINCT metadata_uid) AS n FROM authentication GROUP BY 1 \
           UNION ALL SELECT metadata_product_name, count(DISTINCT metadata_uid) FROM network_activity GROUP BY 1 \
           UNION ALL SELECT metadata_product_name, count(DISTINCT metadata_uid) FROM http_activity GROUP BY 1 \
           UNION ALL SELECT metadata_product_name, count(DISTINCT metadata_uid) FROM device_state GROUP BY 1 \
           UNION ALL SELECT metadata_product_name, count(DISTINCT metadata_uid) FROM account_change GROUP BY 1 \
           UNION ALL SELECT metadata_product_name, count(DISTINCT metadata_uid) FROM detection_finding GROUP BY 1 \
           UNION ALL SELECT metadata_product_name, count(DISTINCT metadata_uid) FROM base_event GROUP BY 1 \
         ) GROUP BY source ORDER BY source",
    ]));
    let stored: Vec<Value> = serde_json::from_str(&per_source).unwrap();
    let stored: serde_json::Map<String, Value> = stored
        .iter()
        .map(|r| (r["source"].as_str().unwrap().to_string(), r["n"].clone()))
        .collect();
    assert_eq!(
        Value::Object(stored),
        truth["events"],
        "distinct stored events per source"
    );

    // The same files again: every event is now stored at least twice.
    ingest_dataset(&dataset, &lake);
    // New files in every sealed hour change the hours' fingerprints: the hours are recomputed
    // over both copies (counted once). (analytics/tests/kpi_golden.rs checks that new events
    // arriving in a sealed hour are counted.)
    let second = kpis(&dataset.join("ztlens.toml"), &lake, &truth);
    assert_eq!(
        first, second,
        "a second ingest of the same files changed a KPI"
    );
    assert_matches_truth(&truth, &second);
    // The policy what-if over the same lake (redelivered records included) equals the effect
    // the generator meant, rule by rule, and against the baseline.
    assert_whatif_matches_truth(&dataset, &lake, &truth);
    assert_access_paths_do_not_depend_on_the_chunk(&dataset, &lake, &truth);
    let stored = run_ok(ztlens().arg("query").arg("--data-dir").arg(&lake).args([
        "--format",
        "json",
        "SELECT count(*) AS n, count(DISTINCT metadata_uid) AS d FROM authentication",
    ]));
    let counts: Value = serde_json::from_str(&stored).unwrap();
    assert!(
        counts[0]["n"].as_u64().unwrap() >= 2 * counts[0]["d"].as_u64().unwrap(),
        "{counts}"
    );

    // Compaction removes the physical duplicates without changing a value. (Retention is off:
    // the generated dates are older than the default 30 days.)
    run_ok(
        ztlens()
            .arg("maintain")
            .arg("--config")
            .arg(dataset.join("ztlens.toml"))
            .arg("--data-dir")
            .arg(&lake)
            .env("ZTLENS_LAKE__RETENTION_DAYS", "0")
            .env("ZTLENS_LAKE__COMPACT_MIN_FILES", "2"),
    );
    let third = kpis(&dataset.join("ztlens.toml"), &lake, &truth);
    assert_eq!(first, third, "compaction changed a KPI");
    let stored = run_ok(ztlens().arg("query").arg("--data-dir").arg(&lake).args([
        "--format",
        "json",
        "SELECT count(*) AS n, count(DISTINCT metadata_uid) AS d FROM authentication",
    ]));
    let counts: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(
        counts[0]["n"], counts[0]["d"],
        "compaction left duplicates: {counts}"
    );
}

/// Every KPI over the truth's range with `[query] kpi_cache = false`.
fn kpis_without_cache(config: &std::path::Path, lake: &std::path::Path, truth: &Value) -> Value {
    let out = run_ok(
        over_truth_range("kpi", config, lake, truth).env("ZTLENS_QUERY__KPI_CACHE", "false"),
    );
    serde_json::from_str(&out).unwrap()
}

/// Stored per-hour KPI results in the lake's `_kpi_cache`.
fn kpi_cache_entries(lake: &std::path::Path) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let path = e.path();
                        if path.is_dir() {
                            walk(&path)
                        } else {
                            usize::from(path.extension().is_some_and(|x| x == "arrow"))
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&lake.join("_kpi_cache"))
}

#[test]
fn same_seed_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let da = generate(a.path(), 5, 3_000);
    let db = generate(b.path(), 5, 3_000);
    let files: Vec<std::path::PathBuf> = dataset_sources(&da)
        .into_iter()
        .flat_map(|(_, files)| files)
        .map(|f| f.strip_prefix(&da).unwrap().to_path_buf())
        .chain(["truth.json".into(), "ztlens.toml".into()])
        .collect();
    assert!(files.len() > 10, "{files:?}");
    for file in files {
        assert_eq!(
            std::fs::read(da.join(&file)).unwrap(),
            std::fs::read(db.join(&file)).unwrap(),
            "{} differs",
            file.display()
        );
    }

    let dc = generate(a.path(), 6, 3_000);
    assert_ne!(
        std::fs::read(da.join("truth.json")).unwrap(),
        std::fs::read(dc.join("truth.json")).unwrap()
    );
}

#[test]
fn step_series_add_up_to_the_whole_range() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = generate(dir.path(), 3, 5_000);
    let lake = dir.path().join("lake");
    ingest_dataset(&dataset, &lake);
    let hourly = run_ok(
        ztlens()
            .arg("kpi")
            .arg("blocked_lateral_movement")
            .arg("--data-dir")
            .arg(&lake)
            .args([
                "--from",
                "2026-03-01T00:00:00Z",
                "--to",
                "2026-03-02T00:00:00Z",
                "--step",
                "1h",
                "--format",
                "json",
            ]),
    );
    let rows: Vec<Value> = serde_json::from_str(&hourly).unwrap();
    let hours: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["time"].as_str().unwrap()).collect();
    assert!(
        hours.len() > 12,
        "expected many hourly buckets, got {hours:?}"
    );
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dataset.join("truth.json")).unwrap())
            .unwrap();
    let total: u64 = rows.iter().map(|r| r["blocked"].as_u64().unwrap()).sum();
    let expected: u64 = truth["kpis"]["blocked_lateral_movement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["blocked"].as_u64().unwrap())
        .sum();
    assert_eq!(total, expected);
}
