//! `ztlens gen`: write a generated dataset to a directory.
//!
//! ```text
//! <out>/okta/system_log.ndjson        Okta System Log, one event per line
//! <out>/okta/api_pages.json          Okta events as the /api/v1/logs endpoint returns them (a JSON array)
//! <out>/vpcflow/flows_v2.log         VPC flow logs, v2 default format (no header)
//! <out>/vpcflow/flows_v5.log.gz      VPC flow logs, custom v5 format with its S3 header line, gzipped
//! <out>/entra/signins.json           Entra ID sign-ins, `{"records": [...]}` envelopes as Event Hubs deliver them
//! <out>/google_workspace/activities.ndjson  Google Workspace login and SAML audit activities (Reports API), one per line
//! <out>/pingone/activities.ndjson    PingOne audit activities, one webhook delivery per line
//! <out>/pingfederate/audit.log       PingFederate security audit log (default pattern of 11.3+)
//! <out>/nginx/access.log             nginx combined format
//! <out>/envoy/access.log             Envoy default access log format
//! <out>/alb/access.log               AWS ALB access logs
//! <out>/zeek/conn.log                Zeek conn.log (TSV with header) from the corp segment's sensor
//! <out>/defender/advanced_hunting.json  Defender Advanced Hunting records in `{"records": [...]}` envelopes
//! <out>/crowdstrike/fdr.ndjson       CrowdStrike Falcon Data Replicator events
//! <out>/cloudtrail/records.json      CloudTrail `{"Records": [...]}` files, back to back
//! <out>/intune/managed_devices.ndjson   Intune Graph managedDevice snapshots
//! <out>/kandji/library_items.ndjson  Kandji library-item status of managed Macs (the compliance verdict)
//! <out>/workspace_one/devices.json   Workspace ONE device search pages (`{"Devices": [...]}`) of people's phones
//! <out>/sentinelone/threats_and_activities.ndjson  SentinelOne threats on production servers and their activities
//! <out>/guardduty/eventbridge.ndjson GuardDuty findings about production instances, as EventBridge delivers them
//! <out>/gcp_vpc/export.ndjson       GCP firewall and VPC flow log entries, one Cloud Logging entry per line
//! <out>/hubble/flows.ndjson         Cilium Hubble flow events of the Kubernetes cluster (exporter lines)
//! <out>/linkerd/access.log           Linkerd proxy access log (JSON layout) of the checkout API
//! <out>/k8s_audit/audit.log          the API server's audit log (one Event per line)
//! <out>/opa/decisions.ndjson         OPA decision logs of the ledger's authorizer
//! <out>/k8s_policy/gatekeeper.ndjson Gatekeeper audit lines (constraint violations)
//! <out>/azure_nsg/PT1H.json          Azure NSG flow logs (version 2), `{"records": [...]}` blobs as Network Watcher writes them
//! <out>/inventory/service_accounts.csv  the service-account inventory (owners, rotation dates)
//! <out>/inventory/policy_exceptions.csv the policy exceptions granted
//! <out>/ztlens.toml                  the [site], [inventory] and [detections] sections describing the company
//! <out>/whatif-candidate.toml       a candidate policy for `ztlens whatif`, and the policy in force today:
//! <out>/whatif-baseline.toml        (their effect is in truth.json's `whatif`)
//! <out>/truth.json                   what every KPI must report for [from, to), and the alerts the attack story must raise
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::writers::vpcflow::V5_HEADER;
use super::writers::zeek::ZEEK_HEADER;
use super::{EVENTS_PER_SCENARIO, Generator, SCENARIO_SPAN_MS};

/// Time between the steps of the attack story in a generated dataset: longer than the rules'
/// 15-minute windows, so no two episodes share one.
const STORY_SPACING_MS: i64 = 20 * 60_000;

/// What `write_dataset` produced.
#[derive(Debug)]
pub struct DatasetSummary {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Records written per format (redeliveries included), by registry name.
    pub records: BTreeMap<&'static str, u64>,
}

/// What a dataset holds besides the benign traffic.
#[derive(Debug, Clone, Copy)]
pub struct DatasetOptions {
    /// When the attack story starts (it is told only as far as the period reaches).
    pub story_from_ms: i64,
    /// Random attacks besides the story (the KPIs' attack mix).
    pub random_attacks: bool,
}

/// How the records of a text format are laid out in its file.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// One record per line.
    Lines,
    /// JSON records wrapped in an envelope object, `per_envelope` at most in each, as the
    /// vendor's delivery writes them (`{"records": [...]}` from Event Hubs, CloudTrail's
    /// `{"Records": [...]}` files).
    Envelope {
        key: &'static str,
        per_envelope: usize,
    },
}

/// Every text format the generator writes (Okta and VPC flow logs, written in two shapes
/// each, are handled apart): format, file under the dataset folder, layout.
const OUTPUTS: &[(&str, &str, Layout)] = &[
    (
        "entra",
        "entra/signins.json",
        Layout::Envelope {
            key: "records",
            per_envelope: 200,
        },
    ),
    (
        "google_workspace",
        "google_workspace/activities.ndjson",
        Layout::Lines,
    ),
    ("pingone", "pingone/activities.ndjson", Layout::Lines),
    ("pingfederate", "pingfederate/audit.log", Layout::Lines),
    ("nginx", "nginx/access.log", Layout::Lines),
    ("envoy", "envoy/access.log", Layout::Lines),
    ("alb", "alb/access.log", Layout::Lines),
    ("zeek", "zeek/conn.log", Layout::Lines),
    (
        "defender",
        "defender/advanced_hunting.json",
        Layout::Envelope {
            key: "records",
            per_envelope: 200,
        },
    ),
    ("crowdstrike", "crowdstrike/fdr.ndjson", Layout::Lines),
    (
        "cloudtrail",
        "cloudtrail/records.json",
        Layout::Envelope {
            key: "Records",
            per_envelope: 100,
        },
    ),
    ("intune", "intune/managed_devices.ndjson", Layout::Lines),
    ("kandji", "kandji/library_items.ndjson", Layout::Lines),
    (
        "workspace_one",
        "workspace_one/devices.json",
        Layout::Envelope {
            key: "Devices",
            per_envelope: 500,
        },
    ),
    (
        "sentinelone",
        "sentinelone/threats_and_activities.ndjson",
        Layout::Lines,
    ),
    ("guardduty", "guardduty/eventbridge.ndjson", Layout::Lines),
    ("gcp_vpc", "gcp_vpc/export.ndjson", Layout::Lines),
    ("hubble", "hubble/flows.ndjson", Layout::Lines),
    ("linkerd", "linkerd/access.log", Layout::Lines),
    ("k8s_audit", "k8s_audit/audit.log", Layout::Lines),
    ("opa", "opa/decisions.ndjson", Layout::Lines),
    ("k8s_policy", "k8s_policy/gatekeeper.ndjson", Layout::Lines),
    (
        "azure_nsg",
        "azure_nsg/PT1H.json",
        Layout::Envelope {
            key: "records",
            per_envelope: 60,
        },
    ),
];

type Output = BufWriter<File>;

pub fn write_dataset(
    seed: u64,
    out: &Path,
    events: u64,
    start_ms: i64,
    duration_ms: i64,
    options: DatasetOptions,
) -> std::io::Result<DatasetSummary> {
    let create = |p: &str| -> std::io::Result<Output> {
        let path = out.join(p);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        File::create(path).map(|f| BufWriter::with_capacity(1 << 20, f))
    };
    std::fs::create_dir_all(out.join("inventory"))?;
    let mut okta_lines = create("okta/system_log.ndjson")?;
    let mut okta_pages = create("okta/api_pages.json")?;
    let mut vpc_v2 = create("vpcflow/flows_v2.log")?;
    let mut vpc_v5 = flate2::write::GzEncoder::new(
        create("vpcflow/flows_v5.log.gz")?,
        flate2::Compression::fast(),
    );
    let mut files: Vec<(&'static str, Output, Layout)> = Vec::new();
    for &(format, path, layout) in OUTPUTS {
        files.push((format, create(path)?, layout));
    }
    if let Some((_, zeek, _)) = files.iter_mut().find(|(f, _, _)| *f == "zeek") {
        writeln!(zeek, "{ZEEK_HEADER}")?;
    }
    writeln!(vpc_v5, "{V5_HEADER}")?;
    okta_pages.write_all(b"[\n")?;

    let mut generator =
        Generator::new(seed, start_ms).with_story(options.story_from_ms, STORY_SPACING_MS);
    if !options.random_attacks {
        generator = generator.without_random_attacks();
    }
    let end_ms = start_ms + duration_ms;
    let mean_gap = duration_ms as f64 / (events.max(1) as f64 / EVENTS_PER_SCENARIO);
    let mut summary = DatasetSummary {
        from_ms: start_ms,
        to_ms: end_ms,
        records: BTreeMap::new(),
    };
    let mut okta_written = 0u64;
    let mut vpc_written = 0u64;
    let mut first_page_entry = true;
    let mut chunk_end = start_ms;
    // Scenarios start early enough for all their events to fall before the end of the range.
    let last_start = end_ms - SCENARIO_SPAN_MS;
    // Generate an hour at a time so memory stays flat whatever the event count.
    while chunk_end < last_start {
        chunk_end = (chunk_end + 3_600_000).min(last_start);
        let mut emitted = generator.advance(chunk_end, mean_gap);
        for line in emitted.take("okta") {
            okta_written += 1;
            // Every tenth event goes to the API-page file, the rest to NDJSON.
            if okta_written.is_multiple_of(10) {
                if !first_page_entry {
                    okta_pages.write_all(b",\n")?;
                }
                first_page_entry = false;
                okta_pages.write_all(b"  ")?;
                okta_pages.write_all(line.as_bytes())?;
            } else {
                writeln!(okta_lines, "{line}")?;
            }
        }
        for record in emitted.vpc {
            vpc_written += 1;
            if vpc_written % 10 < 7 {
                writeln!(vpc_v2, "{}", record.v2_line())?;
            } else {
                writeln!(vpc_v5, "{}", record.v5_line())?;
            }
        }
        for (format, file, layout) in &mut files {
            let records = emitted.records.remove(*format).unwrap_or_default();
            *summary.records.entry(format).or_default() += records.len() as u64;
            match *layout {
                Layout::Lines => {
                    for line in records {
                        writeln!(file, "{line}")?;
                    }
                }
                Layout::Envelope { key, per_envelope } => {
                    for envelope in records.chunks(per_envelope) {
                        writeln!(file, "{{\"{key}\": [\n{}\n]}}", envelope.join(",\n"))?;
                    }
                }
            }
        }
        debug_assert!(
            emitted.records.is_empty(),
            "a format without an output file: {:?}",
            emitted.records.keys()
        );
    }
    summary.records.insert("okta", okta_written);
    summary.records.insert("vpcflow", vpc_written);
    okta_pages.write_all(b"\n]\n")?;
    okta_lines.flush()?;
    okta_pages.flush()?;
    vpc_v2.flush()?;
    for (_, mut file, _) in files {
        file.flush()?;
    }
    vpc_v5.finish()?.flush()?;

    let site = generator.company().site_config();
    let inventory = &generator.truth().inventory;
    std::fs::write(
        out.join("inventory/service_accounts.csv"),
        inventory.service_accounts_csv(),
    )?;
    std::fs::write(
        out.join("inventory/policy_exceptions.csv"),
        inventory.exceptions_csv(),
    )?;
    let inventory = ztlens_analytics::InventoryConfig {
        service_accounts_file: Some("inventory/service_accounts.csv".into()),
        policy_exceptions_file: Some("inventory/policy_exceptions.csv".into()),
        ..ztlens_analytics::InventoryConfig::default()
    };
    let mut toml_text = String::from(
        "# The synthetic company's site knowledge and inventories, written by `ztlens gen`.\n",
    );
    toml_text.push_str(
        &toml::to_string(&SiteOnly {
            site,
            inventory,
            detections: super::scenarios::story::detections_config(),
        })
        .map_err(std::io::Error::other)?,
    );
    std::fs::write(out.join("ztlens.toml"), toml_text)?;
    std::fs::write(
        out.join("whatif-candidate.toml"),
        super::truth::whatif::CANDIDATE,
    )?;
    std::fs::write(
        out.join("whatif-baseline.toml"),
        super::truth::whatif::BASELINE,
    )?;
    let truth = generator.truth().to_json(start_ms, end_ms);
    std::fs::write(
        out.join("truth.json"),
        serde_json::to_string_pretty(&truth)? + "\n",
    )?;
    Ok(summary)
}

#[derive(serde::Serialize)]
struct SiteOnly {
    site: ztlens_ingest::SiteConfig,
    inventory: ztlens_analytics::InventoryConfig,
    detections: crate::detect::DetectionsConfig,
}
