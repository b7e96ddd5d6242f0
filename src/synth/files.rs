//! `ztlens gen`: write a generated dataset to a directory.
//!
//! ```text
//! <out>/okta/system_log.ndjson        Okta System Log, one event per line
//! <out>/okta/api_pages.json          Okta events as the /api/v1/logs endpoint returns them (a JSON array)
//! <out>/vpcflow/flows_v2.log         VPC flow logs, v2 default format (no header)
//! <out>/vpcflow/flows_v5.log.gz      VPC flow logs, custom v5 format with its S3 header line, gzipped
//! <out>/entra/signins.json           Entra ID sign-ins, `{"records": [...]}` envelopes as Event Hubs deliver them
//! <out>/nginx/access.log             nginx combined format
//! <out>/envoy/access.log             Envoy default access log format
//! <out>/alb/access.log               AWS ALB access logs
//! <out>/zeek/conn.log                Zeek conn.log (TSV with header) from the corp segment's sensor
//! <out>/defender/advanced_hunting.json  Defender Advanced Hunting records in `{"records": [...]}` envelopes
//! <out>/crowdstrike/fdr.ndjson       CrowdStrike Falcon Data Replicator events
//! <out>/cloudtrail/records.json      CloudTrail `{"Records": [...]}` files, back to back
//! <out>/intune/managed_devices.ndjson   Intune Graph managedDevice snapshots
//! <out>/inventory/service_accounts.csv  the service-account inventory (owners, rotation dates)
//! <out>/inventory/policy_exceptions.csv the policy exceptions granted
//! <out>/ztlens.toml                  the [site], [inventory] and [detections] sections describing the company
//! <out>/truth.json                   what every KPI must report for [from, to), and the alerts the attack story must raise
//! ```

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
    pub okta: u64,
    pub entra: u64,
    pub vpc: u64,
    pub nginx: u64,
    pub envoy: u64,
    pub alb: u64,
    pub zeek: u64,
    pub defender: u64,
    pub crowdstrike: u64,
    pub cloudtrail: u64,
    pub intune: u64,
}

/// What a dataset holds besides the benign traffic.
#[derive(Debug, Clone, Copy)]
pub struct DatasetOptions {
    /// When the attack story starts (it is told only as far as the period reaches).
    pub story_from_ms: i64,
    /// Random attacks besides the story (the KPIs' attack mix).
    pub random_attacks: bool,
}

pub fn write_dataset(
    seed: u64,
    out: &Path,
    events: u64,
    start_ms: i64,
    duration_ms: i64,
    options: DatasetOptions,
) -> std::io::Result<DatasetSummary> {
    for dir in [
        "okta",
        "entra",
        "vpcflow",
        "nginx",
        "envoy",
        "alb",
        "zeek",
        "defender",
        "crowdstrike",
        "cloudtrail",
        "intune",
        "inventory",
    ] {
        std::fs::create_dir_all(out.join(dir))?;
    }
    let create = |p: &str| File::create(out.join(p)).map(|f| BufWriter::with_capacity(1 << 20, f));
    let mut okta_lines = create("okta/system_log.ndjson")?;
    let mut okta_pages = create("okta/api_pages.json")?;
    let mut vpc_v2 = create("vpcflow/flows_v2.log")?;
    let mut vpc_v5 = flate2::write::GzEncoder::new(
        create("vpcflow/flows_v5.log.gz")?,
        flate2::Compression::fast(),
    );
    let mut nginx = create("nginx/access.log")?;
    let mut entra = create("entra/signins.json")?;
    let mut envoy = create("envoy/access.log")?;
    let mut alb = create("alb/access.log")?;
    let mut zeek = create("zeek/conn.log")?;
    let mut defender = create("defender/advanced_hunting.json")?;
    let mut crowdstrike = create("crowdstrike/fdr.ndjson")?;
    let mut cloudtrail = create("cloudtrail/records.json")?;
    let mut intune = create("intune/managed_devices.ndjson")?;
    writeln!(zeek, "{ZEEK_HEADER}")?;
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
        okta: 0,
        entra: 0,
        vpc: 0,
        nginx: 0,
        envoy: 0,
        alb: 0,
        zeek: 0,
        defender: 0,
        crowdstrike: 0,
        cloudtrail: 0,
        intune: 0,
    };
    let mut first_page_entry = true;
    let mut chunk_end = start_ms;
    // Scenarios start early enough for all their events to fall before the end of the range.
    let last_start = end_ms - SCENARIO_SPAN_MS;
    // Generate an hour at a time so memory stays flat whatever the event count.
    while chunk_end < last_start {
        chunk_end = (chunk_end + 3_600_000).min(last_start);
        let emitted = generator.advance(chunk_end, mean_gap);
        for line in emitted.okta {
            summary.okta += 1;
            // Every tenth event goes to the API-page file, the rest to NDJSON.
            if summary.okta.is_multiple_of(10) {
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
            summary.vpc += 1;
            if summary.vpc % 10 < 7 {
                writeln!(vpc_v2, "{}", record.v2_line())?;
            } else {
                writeln!(vpc_v5, "{}", record.v5_line())?;
            }
        }
        for line in emitted.nginx {
            summary.nginx += 1;
            writeln!(nginx, "{line}")?;
        }
        // Event Hubs deliver sign-ins in envelopes of up to a few hundred records.
        for envelope in emitted.entra.chunks(200) {
            summary.entra += envelope.len() as u64;
            writeln!(entra, "{{\"records\": [")?;
            writeln!(entra, "{}", envelope.join(",\n"))?;
            writeln!(entra, "]}}")?;
        }
        for line in emitted.envoy {
            summary.envoy += 1;
            writeln!(envoy, "{line}")?;
        }
        for line in emitted.alb {
            summary.alb += 1;
            writeln!(alb, "{line}")?;
        }
        for line in emitted.zeek {
            summary.zeek += 1;
            writeln!(zeek, "{line}")?;
        }
        for envelope in emitted.defender.chunks(200) {
            summary.defender += envelope.len() as u64;
            writeln!(defender, "{{\"records\": [\n{}\n]}}", envelope.join(",\n"))?;
        }
        for line in emitted.crowdstrike {
            summary.crowdstrike += 1;
            writeln!(crowdstrike, "{line}")?;
        }
        // CloudTrail delivers files of up to a few hundred records each.
        for file in emitted.cloudtrail.chunks(100) {
            summary.cloudtrail += file.len() as u64;
            writeln!(cloudtrail, "{{\"Records\": [\n{}\n]}}", file.join(",\n"))?;
        }
        for line in emitted.intune {
            summary.intune += 1;
            writeln!(intune, "{line}")?;
        }
    }
    okta_pages.write_all(b"\n]\n")?;
    for mut w in [
        okta_lines,
        okta_pages,
        vpc_v2,
        nginx,
        entra,
        envoy,
        alb,
        zeek,
        defender,
        crowdstrike,
        cloudtrail,
        intune,
    ] {
        w.flush()?;
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
