//! Golden tests: every KPI over a lake built from the Okta, VPC flow and nginx parser fixtures
//! and the stories in `tests/fixtures/` (Intune check-ins with compliance intervals, Falcon
//! detections with their containments and an Okta session revoke, an Okta sign-on to Workday
//! in a session that verified MFA, and the observe-mode fixtures of `k8s_audit` and `opa`:
//! admission policies in audit mode and an OPA in dry-run) around the golden day,
//! ingested twice, so every event is stored twice, with the inventory in
//! `analytics/tests/fixtures/inventory/` (service accounts, policy exceptions), compared with
//! `queries/kpis/golden/<id>.json`.
//!
//! The expected values were checked by hand against the fixture lines (each golden file's `why`
//! says how); regenerate with `ZTLENS_BLESS=1` only after a deliberate change, and review the
//! diff.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use ztlens_analytics::{Engine, Inventory, InventoryConfig, KpiCatalog, QueryConfig, TimeRange};
use ztlens_ingest::lake::{Durability, LakeConfig, LakeWriter};
use ztlens_ingest::parsers::{crowdstrike, intune, k8s_audit, linkerd, nginx, okta, opa, vpcflow};
use ztlens_ingest::{Site, SiteConfig, decode_bytes};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn fixture_site() -> Arc<Site> {
    let text = std::fs::read_to_string(repo().join("ingest/tests/fixtures/site.json")).unwrap();
    let config: SiteConfig = serde_json::from_str(&text).unwrap();
    Arc::new(Site::new(&config).unwrap())
}

/// The service accounts and policy exceptions of the golden day, from their CSV files.
fn fixture_inventory() -> Inventory {
    let dir = repo().join("analytics/tests/fixtures/inventory");
    InventoryConfig {
        service_accounts_file: Some(dir.join("service_accounts.csv")),
        policy_exceptions_file: Some(dir.join("policy_exceptions.csv")),
        ..InventoryConfig::default()
    }
    .load()
    .unwrap()
}

/// A lake holding every fixture twice, in different files (as after a crash and a replay).
fn fixture_lake(dir: &Path) {
    let config = LakeConfig {
        data_dir: dir.to_path_buf(),
        writer_id: Some("golden".into()),
        sync: false,
        ..LakeConfig::default()
    };
    let writer = LakeWriter::open(&config, None).unwrap();
    // Processed at 12:00 the first time and at 13:00 the second (a redelivery).
    for round in 0..2i64 {
        // The formats whose fixtures the golden files were checked against by hand.
        for format in [
            okta::FORMAT,
            vpcflow::FORMAT,
            nginx::FORMAT,
            intune::FORMAT,
            crowdstrike::FORMAT,
            linkerd::FORMAT,
            k8s_audit::FORMAT,
            opa::FORMAT,
        ] {
            let mut files: Vec<PathBuf> = match format.name() {
                "okta" | "vpcflow" | "nginx" => {
                    std::fs::read_dir(repo().join("ingest/tests/fixtures").join(format.name()))
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .filter(|p| !p.to_string_lossy().ends_with(".expected.json"))
                        .collect()
                }
                // Requests that admission policies in audit mode and an OPA in dry-run would
                // have refused (the would-be denials KPI's).
                "k8s_audit" => {
                    vec![repo().join("ingest/tests/fixtures/k8s_audit/audit_mode.ndjson")]
                }
                "opa" => vec![repo().join("ingest/tests/fixtures/opa/dry_run.ndjson")],
                _ => Vec::new(),
            };
            let stories = repo().join("analytics/tests/fixtures");
            let story_files: &[&str] = match format.name() {
                "okta" => &["okta_response.ndjson", "okta_sign_on.ndjson"],
                "intune" => &["intune_compliance.ndjson"],
                "crowdstrike" => &["crowdstrike_response.json"],
                "linkerd" => &["linkerd_mesh.log"],
                _ => &[],
            };
            files.extend(story_files.iter().map(|f| stories.join(f)));
            files.sort();
            for file in files {
                let bytes = std::fs::read(&file).unwrap();
                // Each file its own origin, as `ztlens ingest` names them (dead letters of a
                // re-read file count once by origin).
                let origin = format!("file:{}", file.file_name().unwrap().to_string_lossy());
                let (decoded, _) = decode_bytes(
                    format,
                    fixture_site(),
                    &bytes,
                    &origin,
                    1_772_452_800_000 + round * 3_600_000,
                    1 << 20,
                );
                writer
                    .append_blocking(decoded.batches, decoded.dead_letters, Durability::Buffered)
                    .unwrap();
            }
        }
        writer.flush_blocking().unwrap();
    }
    writer.shutdown_blocking().unwrap();
}

async fn run_all(engine: &Engine, step: Option<&str>) -> Value {
    let range = TimeRange::parse(
        Some("2026-03-02T00:00:00Z"),
        Some("2026-03-03T00:00:00Z"),
        step,
        0,
    )
    .unwrap();
    let mut out = serde_json::Map::new();
    for def in engine.catalog().list() {
        let (_, result) = engine.run_kpi(&def.id, range).await.unwrap();
        out.insert(
            def.id.clone(),
            Value::Array(
                result
                    .json_rows()
                    .unwrap()
                    .into_iter()
                    .map(Value::Object)
                    .collect(),
            ),
        );
    }
    Value::Object(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_match_golden_files_and_count_duplicates_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || fixture_lake(&lake_dir))
        .await
        .unwrap();
    let engine = Engine::new(
        dir.path(),
        KpiCatalog::builtin(),
        QueryConfig::default(),
        None,
        &fixture_inventory(),
    )
    .unwrap();
    let whole = run_all(&engine, None).await;
    let hourly = run_all(&engine, Some("1h")).await;
    let bless = std::env::var_os("ZTLENS_BLESS").is_some();
    let mut checked = 0;
    for def in engine.catalog().list() {
        let path = repo()
            .join("queries/kpis/golden")
            .join(format!("{}.json", def.id));
        let mut actual = json!({"whole_day": whole[&def.id], "hourly": hourly[&def.id]});
        if bless {
            if let Ok(old) = std::fs::read_to_string(&path) {
                let old: Value = serde_json::from_str(&old).unwrap();
                if let Some(why) = old.get("why") {
                    actual["why"] = why.clone();
                }
            }
            std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} has no golden file", def.id));
        let expected: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            expected["whole_day"], actual["whole_day"],
            "{} (whole day)",
            def.id
        );
        assert_eq!(expected["hourly"], actual["hourly"], "{} (hourly)", def.id);
        checked += 1;
    }
    assert!(bless || checked == engine.catalog().list().len());
}

/// Stored per-hour partial results never hide rows that reach a sealed hour later: new events
/// in old hours (a late batch, another node's file) change the hours' fingerprints, and the KPIs
/// split in two equal the one-statement answer again, before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_partials_follow_files_that_arrive_late() {
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || fixture_lake(&lake_dir))
        .await
        .unwrap();
    let engine = |kpi_cache: bool| {
        Engine::new(
            dir.path(),
            KpiCatalog::builtin(),
            QueryConfig {
                kpi_cache,
                ..QueryConfig::default()
            },
            None,
            &fixture_inventory(),
        )
        .unwrap()
    };
    let (cached, uncached) = (engine(true), engine(false));
    let split: Vec<String> = cached
        .catalog()
        .list()
        .iter()
        .filter(|k| k.partial.is_some())
        .map(|k| k.id.clone())
        .collect();
    assert!(split.len() >= 4, "{split:?}");
    let answers_of = |kpis: Vec<String>,
                      engine: &Engine,
                      from: &'static str,
                      to: &'static str,
                      step: Option<&'static str>| {
        let engine = engine.clone();
        let split = kpis;
        async move {
            let range = TimeRange::parse(Some(from), Some(to), step, 0).unwrap();
            let mut out = serde_json::Map::new();
            for id in split {
                let (_, rows) = engine.run_kpi(&id, range).await.unwrap();
                out.insert(
                    id,
                    Value::Array(
                        rows.json_rows()
                            .unwrap()
                            .into_iter()
                            .map(Value::Object)
                            .collect(),
                    ),
                );
            }
            Value::Object(out)
        }
    };
    let answers =
        |engine: &Engine, from, to, step| answers_of(split.clone(), engine, from, to, step);
    let (day, next) = ("2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z");
    let before = answers(&uncached, day, next, None).await;
    assert_eq!(
        answers(&cached, day, next, None).await,
        before,
        "hours computed and stored"
    );
    assert_eq!(
        answers(&cached, day, next, None).await,
        before,
        "hours read back"
    );
    // Ranges that do not start or end on an hour, and steps of several hours or parts of hours:
    // the sealed hours inside one bucket come from storage, the rest is computed, and the sum
    // is the one-statement answer. (Three KPIs: the mechanism is the same for all, and each
    // statement costs ~0.2 s in a debug build.)
    let some: Vec<String> = [
        "access_decisions",
        "lateral_scans",
        "mfa_outcomes_by_country",
    ]
    .map(String::from)
    .to_vec();
    for (from, to, step) in [
        (day, next, Some("90m")),
        ("2026-03-01T22:30:00Z", "2026-03-02T21:15:00Z", None),
        ("2026-03-01T22:30:00Z", "2026-03-02T21:15:00Z", Some("3h")),
        ("2026-03-02T06:20:00Z", "2026-03-02T07:40:00Z", None),
    ] {
        assert_eq!(
            answers_of(some.clone(), &cached, from, to, step).await,
            answers_of(some.clone(), &uncached, from, to, step).await,
            "{from} .. {to} step {step:?}"
        );
    }

    // The Okta fixtures again as new events (other uuids, same times): the sign-in hours get a
    // file each.
    let config = LakeConfig {
        data_dir: dir.path().to_path_buf(),
        writer_id: Some("late".into()),
        sync: false,
        ..LakeConfig::default()
    };
    tokio::task::spawn_blocking(move || {
        let writer = LakeWriter::open(&config, None).unwrap();
        // Okta records parsed as ingest would, appended; the rows they gave.
        let append_okta = |text: &str, origin: &str| {
            let (decoded, _) = decode_bytes(
                okta::FORMAT,
                fixture_site(),
                text.as_bytes(),
                origin,
                1_772_460_000_000,
                1 << 20,
            );
            let rows = decoded.rows();
            writer
                .append_blocking(decoded.batches, decoded.dead_letters, Durability::Buffered)
                .unwrap();
            rows
        };
        let fixtures = repo().join("ingest/tests/fixtures/okta");
        for entry in std::fs::read_dir(fixtures).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(".expected.json") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("\"uuid\":\"", "\"uuid\":\"late-")
                .replace("\"uuid\": \"", "\"uuid\": \"late-");
            append_okta(&text, "file:late");
        }
        // And a sign-on of frank to Workday at 16:10, in the hour before his DELETE on payroll
        // at 17:30: the 17:00 hour of sensitive_app_coverage (a KPI with a lookback) changes
        // though none of its own files did.
        let sign_on =
            std::fs::read_to_string(repo().join("analytics/tests/fixtures/okta_sign_on.ndjson"))
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .replace("a2000000-0000-4000-8000-000000000001", "late-frank-sign-on")
                .replace("2026-03-02T09:45:00.000Z", "2026-03-02T16:10:00.000Z")
                .replace("00u1alice", "00u1frank")
                .replace("alice@corp.example", "frank@corp.example")
                .replace("Alice Archer", "Frank Fischer");
        assert_eq!(
            append_okta(&sign_on, "file:late-frank"),
            1,
            "frank's sign-on parses"
        );
        writer.flush_blocking().unwrap();
        writer.shutdown_blocking().unwrap();
    })
    .await
    .unwrap();
    let after = answers(&uncached, day, next, None).await;
    assert_ne!(after, before, "the late events change some KPI");
    assert_ne!(
        after["sensitive_app_coverage"], before["sensitive_app_coverage"],
        "frank's late sign-on puts his 17:30 request behind the IdP"
    );
    assert_eq!(
        answers(&cached, day, next, None).await,
        after,
        "changed hours recomputed"
    );
    assert_eq!(
        answers(&cached, day, next, Some("1h")).await,
        answers(&uncached, day, next, Some("1h")).await
    );
}

/// A detection (`detection_finding` row) of `source` at `time_ms`.
fn detection(
    source: &'static str,
    uid: &'static str,
    time_ms: i64,
    finding: Option<&'static str>,
    device: &'static str,
) -> ztlens_ingest::schema::DetectionFindingRow<'static> {
    let mut row = ztlens_ingest::schema::DetectionFindingRow::default();
    row.common.time = Some(time_ms);
    row.common.metadata_uid = Some(uid.into());
    row.common.metadata_product_name = Some(source.into());
    row.common.severity_id = Some(4);
    row.own.finding_info_uid = finding.map(Into::into);
    row.own.device_uid = Some(device.into());
    row
}

/// A host containment (`account_change` row of type host_contain that succeeded).
fn host_contain(
    uid: &'static str,
    time_ms: i64,
    device: &'static str,
) -> ztlens_ingest::schema::AccountChangeRow<'static> {
    let mut row = ztlens_ingest::schema::AccountChangeRow::default();
    row.common.time = Some(time_ms);
    row.common.metadata_uid = Some(uid.into());
    row.common.metadata_product_name = Some("crowdstrike".into());
    row.common.status_id = Some(1);
    row.own.zt_change_type = Some("host_contain".into());
    row.own.device_uid = Some(device.into());
    row
}

/// The detection → containment pairing (views `edr_detections` … `edr_answers`) where the
/// packed sort keys and the detection's identity could go wrong: two products whose detections
/// share an event id are answered apart, and a first record before 1970 (read through the
/// lookback) sorts and decodes like the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edr_pairing_keeps_detections_apart_and_reads_times_before_1970() {
    use ztlens_ingest::Table;
    use ztlens_ingest::schema::{AccountChangeBuilder, DetectionFindingBuilder};
    const MINUTE: i64 = 60_000;
    // 2026-03-05T10:00:00Z and 1969-12-31T23:00:00Z.
    let (t, before_1970) = (1_772_704_800_000_i64, -3_600_000_i64);
    let dir = tempfile::tempdir().unwrap();
    let config = LakeConfig {
        data_dir: dir.path().to_path_buf(),
        writer_id: Some("edr".into()),
        sync: false,
        ..LakeConfig::default()
    };
    let mut detections = DetectionFindingBuilder::new(0);
    for mut row in [
        // One event id, two products: only CrowdStrike's host is contained.
        detection("crowdstrike", "d1", t, None, "h1"),
        detection("defender", "d1", t + MINUTE, None, "h2"),
        // A finding whose first record is before 1970 (its id sorts after the later one's).
        detection("crowdstrike", "zz-first", before_1970, Some("F"), "h9"),
        detection("crowdstrike", "aa-later", 90 * MINUTE, Some("F"), "h9"),
    ] {
        detections.append(&mut row);
    }
    let mut changes = AccountChangeBuilder::new(0);
    for mut row in [
        host_contain("c1", t + 5 * MINUTE, "h1"),
        host_contain("c9", 10 * MINUTE, "h9"),
    ] {
        changes.append(&mut row);
    }
    tokio::task::spawn_blocking(move || {
        let writer = LakeWriter::open(&config, None).unwrap();
        writer
            .append_blocking(
                vec![
                    (Table::DetectionFinding, detections.finish()),
                    (Table::AccountChange, changes.finish()),
                ],
                Vec::new(),
                Durability::Buffered,
            )
            .unwrap();
        writer.shutdown_blocking().unwrap();
    })
    .await
    .unwrap();
    let engine = Engine::new(
        dir.path(),
        KpiCatalog::builtin(),
        QueryConfig::default(),
        None,
        &Inventory::default(),
    )
    .unwrap();
    // The rows of a KPI, or of its evidence, over `range`.
    let kpi = async |id: &str, range: TimeRange| -> Vec<Value> {
        let (_, output) = engine.run_kpi(id, range).await.unwrap();
        output
            .json_rows()
            .unwrap()
            .into_iter()
            .map(Value::Object)
            .collect()
    };
    let evidence = async |id: &str, range: TimeRange| -> Vec<Value> {
        let (_, output) = engine.run_evidence(id, range, &[], 0, 10).await.unwrap();
        output
            .json_rows()
            .unwrap()
            .into_iter()
            .map(Value::Object)
            .collect()
    };
    let day = TimeRange::parse(Some("2026-03-05"), Some("2026-03-06"), None, 0).unwrap();
    let contained = kpi("response_time", day).await;
    assert_eq!(contained.len(), 1, "{contained:?}");
    assert_eq!(contained[0]["source"], "crowdstrike");
    assert_eq!(contained[0]["contained"], 1);
    assert_eq!(contained[0]["mean_minutes"], 5.0);
    let open = kpi("detections_uncontained", day).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["source"], "defender");
    assert_eq!(open[0]["open"], 1);
    // The evidence agrees with the numbers: Defender's detection is the open one.
    let open = evidence("detections_uncontained", day).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["source"], "defender");

    // A range starts in 1970 at the earliest; its 7-day lookback reads 1969.
    let turn = TimeRange::parse(
        Some("1970-01-01T00:00:00Z"),
        Some("1970-01-01T12:00:00Z"),
        None,
        0,
    )
    .unwrap();
    let contained = kpi("response_time", turn).await;
    assert_eq!(contained.len(), 1, "{contained:?}");
    assert_eq!(contained[0]["mean_minutes"], 70.0);
    let contained = evidence("response_time", turn).await;
    assert_eq!(contained.len(), 1, "{contained:?}");
    assert_eq!(contained[0]["metadata_uid"], "zz-first");
    assert_eq!(contained[0]["containment_uid"], "c9");
}
