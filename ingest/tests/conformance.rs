//! Conformance on real public samples: every file under `../shared/fixtures/<folder>/` is parsed
//! in place (never copied: several are Elastic License 2.0 or CC-BY-SA) with the parser its
//! folder names. Per file, the records, rows per table and dead letters per reason must equal
//! `tests/conformance/expected.json`; a dead letter not listed there fails the test. Spot checks
//! compare key fields with what the source files state.
//!
//! Skipped, with a message, when `../shared/fixtures` does not exist (a plain clone).
//! Regenerate the expectations with `ZTLENS_BLESS=1 cargo test -p ztlens-ingest --test
//! conformance` and review every changed line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Value, json};
use ztlens_ingest::{Format, Site, Table, decode_bytes};

/// Shared folders whose name is no format's name or alias: `intune_jamf` holds Intune samples.
const FOLDER_FORMATS: &[(&str, &str)] = &[("intune_jamf", "intune")];

/// Each shared sample folder with the registered format that reads it (by name or alias);
/// folders of sources ztlens does not parse yet are listed on stderr and skipped.
fn folders(root: &Path) -> Vec<(String, Format)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let folder = path.file_name().unwrap().to_string_lossy().to_string();
        let name = FOLDER_FORMATS
            .iter()
            .find(|(f, _)| *f == folder)
            .map_or(folder.as_str(), |(_, name)| name);
        match Format::from_name(name) {
            Some(format) => out.push((folder, format)),
            None => eprintln!("conformance: no parser reads {folder} yet; skipped"),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn shared_fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    dir.is_dir().then_some(dir)
}

fn is_sample(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    !name.ends_with(".index.tsv") && !name.ends_with(".md")
}

struct Parsed {
    summary: Value,
    batches: Vec<(Table, RecordBatch)>,
}

fn parse_file(path: &Path, format: Format) -> Parsed {
    let bytes = std::fs::read(path).unwrap();
    let (decoded, stats) = decode_bytes(
        format,
        Arc::new(Site::default()),
        &bytes,
        "conformance",
        0,
        1 << 20,
    );
    let mut dead: BTreeMap<String, u64> = BTreeMap::new();
    for d in &decoded.dead_letters {
        *dead
            .entry(format!(
                "{}: {}",
                d.kind,
                d.reason.chars().take(90).collect::<String>()
            ))
            .or_default() += 1;
    }
    let rows: BTreeMap<&str, u64> = stats.rows.iter().map(|(t, n)| (t.name(), *n)).collect();
    Parsed {
        summary: json!({
            "records": stats.records,
            "header_lines": stats.header_lines,
            "rows": rows,
            "dead_letters": dead
        }),
        batches: decoded.batches,
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_ref()
}

/// The batches (of any table) that have column `name`; at least one must.
fn with_column<'a>(batches: &'a [(Table, RecordBatch)], name: &str) -> Vec<&'a RecordBatch> {
    let found: Vec<&RecordBatch> = batches
        .iter()
        .map(|(_, b)| b)
        .filter(|b| b.column_by_name(name).is_some())
        .collect();
    assert!(!found.is_empty(), "no table here has column {name}");
    found
}

fn strings(batches: &[(Table, RecordBatch)], name: &str) -> Vec<Option<String>> {
    with_column(batches, name)
        .into_iter()
        .flat_map(|b| {
            let col = column(b, name).as_string::<i32>();
            (0..col.len())
                .map(|i| col.is_valid(i).then(|| col.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn ints(batches: &[(Table, RecordBatch)], name: &str) -> Vec<Option<i32>> {
    with_column(batches, name)
        .into_iter()
        .flat_map(|b| {
            let col = column(b, name).as_primitive::<Int32Type>();
            (0..col.len())
                .map(|i| col.is_valid(i).then(|| col.value(i)))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn shared_samples_parse_as_expected() {
    let Some(root) = shared_fixtures() else {
        eprintln!("conformance: ../shared/fixtures not found; skipped");
        return;
    };
    let expected_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/expected.json");
    let bless = std::env::var_os("ZTLENS_BLESS").is_some();
    let expected: Value = if bless {
        json!({})
    } else {
        serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap()
    };
    let mut actual = serde_json::Map::new();
    let mut failures = Vec::new();
    let mut parsed: BTreeMap<String, Parsed> = BTreeMap::new();
    for (folder, format) in folders(&root) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(&folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| is_sample(p))
            .collect();
        files.sort();
        let (mut records, mut rows, mut dead) = (0u64, 0u64, 0u64);
        for file in files {
            let key = format!("{folder}/{}", file.file_name().unwrap().to_string_lossy());
            let result = parse_file(&file, format);
            records += result.summary["records"].as_u64().unwrap();
            rows += result.summary["rows"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>();
            dead += result.summary["dead_letters"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>();
            if !bless && expected.get(&key) != Some(&result.summary) {
                failures.push(format!(
                    "{key}:\n  expected {}\n  actual   {}",
                    expected.get(&key).unwrap_or(&Value::Null),
                    result.summary
                ));
            }
            actual.insert(key.clone(), result.summary.clone());
            parsed.insert(key, result);
        }
        eprintln!(
            "conformance {folder} as {format}: {records} records, {rows} rows, {dead} dead letters"
        );
    }
    if bless {
        std::fs::write(
            &expected_path,
            serde_json::to_string_pretty(&Value::Object(actual)).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    for key in expected.as_object().unwrap().keys() {
        if !parsed.contains_key(key) {
            failures.push(format!("{key}: expected but not found"));
        }
    }
    assert!(
        failures.is_empty(),
        "conformance differences:\n{}",
        failures.join("\n")
    );

    // Spot checks against what the samples say.
    let okta = &parsed["okta/elastic_integrations__test-okta-system-yes-flattened-events.middle-selection.log"].batches;
    assert_eq!(
        strings(okta, "user_email_addr")[0].as_deref(),
        Some("test@test.com")
    );
    assert_eq!(
        strings(okta, "metadata_event_code")[0].as_deref(),
        Some("user.session.start")
    );
    assert_eq!(
        strings(okta, "risk_level")[0].as_deref(),
        Some("HIGH"),
        "risk from logOnlySecurityData"
    );
    assert_eq!(
        strings(okta, "src_endpoint_location_city")[0].as_deref(),
        Some("Ashburn")
    );
    let factors = strings(okta, "auth_factor");
    assert!(
        factors.contains(&Some("OKTA_VERIFY_PUSH".into()))
            && factors.contains(&Some("FIDO_WEBAUTHN".into())),
        "{factors:?}"
    );

    let lower = &parsed["okta/panther__okta_rules.lowercase-keys.ndjson"].batches;
    let decisions = strings(lower, "zt_decision");
    let challenges = decisions
        .iter()
        .filter(|d| d.as_deref() == Some("challenge_mfa"))
        .count();
    assert_eq!(
        challenges, 5,
        "the 5 policy.evaluate_sign_on CHALLENGE events: {decisions:?}"
    );
    assert!(decisions.contains(&Some("locked_out".into())));

    let ocsf = &parsed["okta/ocsf_examples__okta_v1.3.0__authentication.raw.json"].batches;
    assert_eq!(
        strings(ocsf, "user_email_addr")[0].as_deref(),
        Some("john.doe@example.com")
    );
    assert_eq!(strings(ocsf, "zt_decision")[0].as_deref(), Some("allow"));
    assert_eq!(
        strings(ocsf, "device_uid")[0].as_deref(),
        Some("guofdhyjex1feOgbN1d9")
    );

    let vpc = &parsed["aws_vpcflow/awsdocs__flow-logs-records-examples__v2-default.log"].batches;
    assert_eq!(
        strings(vpc, "src_endpoint_ip")[1].as_deref(),
        Some("172.31.9.69")
    );
    assert_eq!(ints(vpc, "dst_endpoint_port")[1], Some(3389));
    assert_eq!(
        ints(vpc, "disposition_id")[1],
        Some(2),
        "REJECT RDP is blocked"
    );
    assert_eq!(
        ints(vpc, "disposition_id")[0],
        Some(1),
        "ACCEPT SSH is allowed"
    );
    assert_eq!(strings(vpc, "status_code")[2].as_deref(), Some("NODATA"));

    let nat = &parsed["aws_vpcflow/awsdocs__flow-logs-records-examples__custom-v5-service-traffic-path.log"].batches;
    assert_eq!(
        strings(nat, "src_endpoint_svc_name")[0].as_deref(),
        Some("S3")
    );
    assert_eq!(
        ints(nat, "connection_info_boundary_id")[1],
        Some(11),
        "traffic-path 8 + 3"
    );

    let apache = &parsed["nginx_apache/elastic_examples__apache_logs.log"].batches;
    assert_eq!(
        strings(apache, "src_endpoint_ip")[0].as_deref(),
        Some("83.149.9.216")
    );
    let codes = ints(apache, "http_response_code");
    assert_eq!(
        codes.iter().filter(|c| **c == Some(404)).count(),
        8,
        "the file has 8 lines with 404"
    );
    let shop = &parsed["nginx_apache/lnav__logfile_shop_access_log.log"].batches;
    assert_eq!(
        strings(shop, "http_request_x_forwarded_for")[0],
        None,
        "a trailing \"-\" is an empty X-Forwarded-For"
    );

    let entra = &parsed["entra_signin/elastic_integrations__test-signinlogs-raw.log"].batches;
    assert_eq!(
        strings(entra, "zt_signin_category"),
        [
            "interactive",
            "non_interactive",
            "service_principal",
            "service_principal",
            "managed_identity"
        ]
        .map(|c| Some(c.to_string())),
        "one record per sign-in category"
    );
    assert_eq!(
        strings(entra, "status_code")[0].as_deref(),
        Some("50140"),
        "KMSI interrupt"
    );
    assert_eq!(
        ints(entra, "status_id")[0],
        Some(99),
        "an interrupt is not a failure"
    );
    assert_eq!(
        strings(entra, "user_email_addr")[0].as_deref(),
        Some("test@elastic.co")
    );
    assert_eq!(
        strings(entra, "src_endpoint_location_city")[0].as_deref(),
        Some("Champs-Sur-Marne")
    );
    let panther = &parsed["entra_signin/panther__azure_signin_rules.ndjson"].batches;
    let decisions = strings(panther, "zt_decision");
    let count = |d: &str| decisions.iter().filter(|x| x.as_deref() == Some(d)).count();
    assert_eq!(count("locked_out"), 2, "two 50053 records: {decisions:?}");
    assert!(
        count("deny_credentials") >= 2 + 6,
        "50126 ×2 and 7000215 ×6: {decisions:?}"
    );

    let tsv = &parsed["zeek_conn/zeek__zeek-cut-logs__conn.log"].batches;
    let comma = &parsed["zeek_conn/zeek__zeek-cut-logs__conncomma.log"].batches;
    let by_uid = |batches: &[(Table, RecordBatch)]| {
        let columns = [
            "src_endpoint_ip",
            "dst_endpoint_ip",
            "app_name",
            "status_code",
        ];
        let values: Vec<Vec<Option<String>>> =
            columns.iter().map(|c| strings(batches, c)).collect();
        let mut rows: Vec<Vec<Option<String>>> = (0..values[0].len())
            .map(|i| values.iter().map(|v| v[i].clone()).collect())
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(
        by_uid(tsv),
        by_uid(comma),
        "the comma-separated file holds the same connections (uids differ between the two runs)"
    );
    let bro = &parsed["zeek_conn/lnav__logfile_bro_conn.log"].batches;
    assert_eq!(
        strings(bro, "src_endpoint_ip")[0].as_deref(),
        Some("192.168.2.76")
    );
    assert_eq!(ints(bro, "dst_endpoint_port")[0], Some(80));
    assert_eq!(
        strings(bro, "metadata_uid")[0].as_deref(),
        Some("Cg9xqq3JAcZusspA86")
    );
    let json_conn =
        &parsed["zeek_conn/ocsf_examples__raw_sample_log_dataset__conn.json.log"].batches;
    let states = strings(json_conn, "status_code");
    let failed = ints(json_conn, "activity_id")
        .iter()
        .filter(|a| **a == Some(4))
        .count();
    assert_eq!(
        failed, 17,
        "17 S0 connections are failed attempts: {states:?}"
    );
    assert!(
        ints(json_conn, "disposition_id")
            .iter()
            .all(Option::is_none),
        "Zeek sees no policy: nothing is blocked"
    );

    let alb = &parsed["alb/awsdocs__load-balancer-access-logs__examples.log"].batches;
    let authenticated: Vec<Option<bool>> = alb
        .iter()
        .flat_map(|(_, b)| {
            let col = column(b, "zt_idp_authenticated").as_boolean();
            (0..col.len())
                .map(|i| col.is_valid(i).then(|| col.value(i)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        authenticated[..2],
        [Some(false), Some(true)],
        "the https example ran \"authenticate,forward\""
    );
    assert_eq!(
        strings(alb, "src_endpoint_ip")[0].as_deref(),
        Some("192.168.131.39")
    );
    assert_eq!(
        strings(alb, "http_request_url_hostname")[0].as_deref(),
        Some("www.example.com")
    );
    assert!(
        ints(alb, "http_response_code").contains(&Some(502)),
        "the Lambda LambdaInvalidResponse example"
    );
    let envoy = &parsed["envoy/elastic_integrations__envoyproxy__test-log.log"].batches;
    let details = strings(envoy, "status_detail");
    assert!(details.contains(&Some("NR".into())), "{details:?}");
    assert!(details.contains(&Some("UF,URX".into())), "{details:?}");
    let istio = &parsed["envoy/elastic_integrations__istio__test-access-json-logs.log"].batches;
    assert_eq!(
        strings(istio, "src_endpoint_ip")[1].as_deref(),
        Some("2a02:cf40::4e36")
    );
    assert_eq!(ints(istio, "http_response_code")[2], Some(400));

    let console = &parsed["cloudtrail/elastic_integrations__test-console-login-json.log"].batches;
    assert_eq!(
        strings(console, "zt_decision"),
        ["allow", "deny_credentials", "deny_credentials"].map(|d| Some(d.to_string())),
        "1 Success and 2 Failure ConsoleLogin records"
    );
    assert_eq!(strings(console, "user_name")[0].as_deref(), Some("JohnDoe"));
    assert_eq!(
        strings(console, "src_endpoint_ip")[0].as_deref(),
        Some("89.160.20.156")
    );
    let identity_center =
        &parsed["cloudtrail/ocsf_examples__v1.5.0__authentication.raw.json"].batches;
    assert_eq!(
        strings(identity_center, "zt_decision")[0].as_deref(),
        Some("allow"),
        "CredentialChallenge Success"
    );
    let detection = &parsed
        ["crowdstrike/elastic_integrations__falcon__test-falcon-detection-summary.object2.json"]
        .batches;
    assert!(strings(detection, "finding_info_title")[0].is_some());
    assert_eq!(
        ints(detection, "severity_id")[0],
        Some(2),
        "Severity Low = 2"
    );
    let fdr = &parsed["crowdstrike/elastic_integrations__fdr__test-fdr.first23lines.log"].batches;
    let http_flow = ints(fdr, "dst_endpoint_port")
        .iter()
        .position(|p| *p == Some(80))
        .expect("the NetworkConnectIP4 to port 80");
    assert_eq!(
        strings(fdr, "dst_endpoint_ip")[http_flow].as_deref(),
        Some("67.43.156.14")
    );

    let machines = &parsed["defender/elastic_integrations__mde__test-machine.log"].batches;
    assert_eq!(
        strings(machines, "device_hostname")[0].as_deref(),
        Some("c-lab-08")
    );
    let health = strings(machines, "agent_health");
    assert!(
        health.contains(&Some("Active".into())) && health.contains(&Some("Inactive".into())),
        "{health:?}"
    );
    let intune =
        &parsed["intune_jamf/elastic_integrations__intune__test-managed-device.log"].batches;
    assert_eq!(
        strings(intune, "zt_compliance_state")[0].as_deref(),
        Some("compliant")
    );
    assert_eq!(
        strings(intune, "device_hostname")[0].as_deref(),
        Some("CLW555TEST")
    );
    assert_eq!(
        strings(intune, "device_owner_uid")[0].as_deref(),
        Some("abc.123@example.com")
    );
    let not_compliant = &parsed["intune_jamf/panther__intune_rules.ndjson"].batches;
    assert_eq!(
        strings(not_compliant, "zt_compliance_state"),
        [Some("noncompliant".to_string())],
        "the OperationalLogs Compliance alert"
    );

    // Events of a known source that no class maps are rows, never dead letters: every refusal
    // above is a broken record (the expectations list them with their reasons).
    let base = |key: &str| -> Vec<&RecordBatch> {
        parsed[key]
            .batches
            .iter()
            .filter(|(t, _)| *t == Table::BaseEvent)
            .map(|(_, b)| b)
            .collect()
    };
    let fdr = "crowdstrike/elastic_integrations__fdr__test-fdr.first23lines.log";
    let fdr_base: Vec<(Table, RecordBatch)> = base(fdr)
        .into_iter()
        .map(|b| (Table::BaseEvent, b.clone()))
        .collect();
    let codes = strings(&fdr_base, "metadata_event_code");
    let dns = codes
        .iter()
        .position(|c| c.as_deref() == Some("DnsRequest"))
        .expect("the FDR DnsRequest event is a base_event row");
    assert_eq!(
        strings(&fdr_base, "zt_target_name")[dns].as_deref(),
        Some("jss.dom1.com")
    );
    assert_eq!(
        strings(&fdr_base, "zt_target_type")[dns].as_deref(),
        Some("domain")
    );
    // Azure NSG v2: tuple 5 of the PT1H blob is the continuing (`C`) HTTPS flow with its
    // counters; the B tuples before it have none. VNet: the end (`E`) tuple, protocol 6.
    let nsg = &parsed["azure_nsg/elastic_integrations__nsg_sample_logs__testdata.log"].batches;
    assert_eq!(
        strings(nsg, "status_detail")[0].as_deref(),
        Some("DefaultRule_DenyAllInBound")
    );
    assert_eq!(ints(nsg, "disposition_id")[0], Some(2), "D is blocked");
    assert_eq!(ints(nsg, "disposition_id")[3], Some(1), "A is allowed");
    assert_eq!(
        strings(nsg, "dst_endpoint_ip")[5].as_deref(),
        Some("13.67.143.115")
    );
    assert_eq!(strings(nsg, "status_code")[5].as_deref(), Some("C"));
    let bytes = |name: &str| -> Vec<Option<i64>> {
        nsg.iter()
            .flat_map(|(_, b)| {
                column(b, name)
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert_eq!(bytes("traffic_bytes_out")[5], Some(16978));
    assert_eq!(bytes("traffic_bytes_in")[5], Some(14008));
    assert_eq!(
        bytes("traffic_bytes_out")[0],
        None,
        "B tuples have no counters"
    );
    let vnet = &parsed["azure_nsg/elastic_integrations__test-vnet.log"].batches;
    assert_eq!(strings(vnet, "status_code")[1].as_deref(), Some("E"));
    assert_eq!(ints(vnet, "activity_id")[1], Some(2), "E closes the flow");
    assert_eq!(ints(vnet, "connection_info_protocol_num")[1], Some(6));
    assert_eq!(
        strings(vnet, "cloud_account_uid")[0].as_deref(),
        Some("00000000-0000-0000-0000-000000000000")
    );

    // SentinelOne: alerts name the agent by `id`, threats by `agentComputerName`; activities
    // about an alert are keyed on the alert.
    let s1_alert =
        &parsed["sentinelone/elastic_integrations__alert__test-pipeline-alert.lines2-3.log"]
            .batches;
    assert_eq!(
        strings(s1_alert, "device_uid")[0].as_deref(),
        Some("1834780238610855645"),
        "alerts name the agent `id`"
    );
    assert_eq!(
        ints(s1_alert, "severity_id")[0],
        Some(5),
        "ruleInfo.severity Critical"
    );
    let s1_threat =
        &parsed["sentinelone/elastic_integrations__threat__test-pipeline-threat.line1.log"].batches;
    assert_eq!(
        strings(s1_threat, "device_hostname")[0].as_deref(),
        Some("test-LINUX")
    );
    assert_eq!(
        strings(s1_threat, "status_detail")[0].as_deref(),
        Some("not_mitigated")
    );
    let s1_panther = &parsed["sentinelone/panther__sentinelone_rules.ndjson"].batches;
    let findings = strings(s1_panther, "finding_info_uid");
    assert!(
        findings.contains(&Some("1570395776954206544".to_string())),
        "3608 keyed on data.alertid: {findings:?}"
    );
    assert_eq!(
        findings.len(),
        9,
        "9 detections; the two type-90 scans are base events"
    );

    for (key, result) in &parsed {
        for (table, batch) in &result.batches {
            if *table != Table::BaseEvent {
                continue;
            }
            for name in ["metadata_event_code", "raw_data", "raw_ref"] {
                assert_eq!(
                    column(batch, name).null_count(),
                    0,
                    "{key}: a base_event row without {name}"
                );
            }
        }
    }
}
