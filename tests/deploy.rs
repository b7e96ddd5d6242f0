//! The deployment files are checked by the tools that will read them: `docker-compose config`
//! (no engine needed), `promtool`, `amtool`, and `ztlens config` for the service's own file.
//! The tools come from Debian packages that `scripts/test` installs; a missing tool fails the
//! test with that hint instead of skipping it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest;

use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run an external tool in the repository; its output, or a failure naming the tool.
fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(repo())
        // The stack has no default Grafana password: compose refuses to start without one.
        .env("GRAFANA_ADMIN_PASSWORD", "test-only")
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} cannot run ({e}); `./scripts/test --deps-only` installs it")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{text}",
        out.status
    );
    text
}

#[test]
fn docker_compose_file_is_valid_and_runs_the_whole_stack() {
    tool(
        "docker-compose",
        &["-f", "docker-compose.yml", "config", "-q"],
    );
    let services = tool(
        "docker-compose",
        &["-f", "docker-compose.yml", "config", "--services"],
    );
    let mut services: Vec<&str> = services.lines().map(str::trim).collect();
    services.sort_unstable();
    // The scale-out profile adds MinIO, two ingest nodes and a query node (compose 1.29 lists
    // every profile's services).
    assert_eq!(
        services,
        [
            "alertmanager",
            "grafana",
            "kafka",
            "minio",
            "prometheus",
            "ztlens",
            "ztlens-ingest-1",
            "ztlens-ingest-2",
            "ztlens-query"
        ]
    );
    tool(
        "docker-compose",
        &[
            "-f",
            "docker-compose.yml",
            "--profile",
            "scale-out",
            "config",
            "-q",
        ],
    );
    // Every file the stack mounts from the repository exists.
    // `config` prints bind mounts as `- /absolute/host/path:/container/path[:ro]`.
    let config = tool("docker-compose", &["-f", "docker-compose.yml", "config"]);
    let mut mounts = 0;
    for line in config.lines() {
        let repo = repo().display().to_string();
        let Some(volume) = line.trim().strip_prefix("- ") else {
            continue;
        };
        if !volume.starts_with(&repo) || !volume.contains(":/") {
            continue;
        }
        let host = volume.split(':').next().unwrap();
        assert!(Path::new(host).exists(), "mounted path {host} is missing");
        mounts += 1;
    }
    assert!(mounts >= 6, "bind mounts found: {mounts}\n{config}");
    assert!(repo().join("Dockerfile").is_file());

    // Without a Grafana password, compose refuses the file and says which variable is missing.
    let unset = Command::new("docker-compose")
        .args(["-f", "docker-compose.yml", "config", "-q"])
        .current_dir(repo())
        .env_remove("GRAFANA_ADMIN_PASSWORD")
        .output()
        .unwrap();
    assert!(!unset.status.success());
    assert!(
        String::from_utf8_lossy(&unset.stderr).contains("GRAFANA_ADMIN_PASSWORD"),
        "{}",
        String::from_utf8_lossy(&unset.stderr)
    );
    // Every service has a healthcheck, every dependency waits for health, and the file has
    // no obsolete `version:` key.
    let compose = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    assert!(!compose.lines().any(|l| l.starts_with("version:")));
    assert_eq!(
        compose.matches("\n    healthcheck:").count(),
        services.len(),
        "a healthcheck per service"
    );
    assert_eq!(
        compose.matches("\n    profiles: [\"scale-out\"]").count(),
        4,
        "the scale-out services start only with --profile scale-out"
    );
    let mut lines = compose.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "depends_on:" {
            let indent = line.len() - line.trim_start().len();
            for dep in lines
                .by_ref()
                .take_while(|l| l.len() - l.trim_start().len() > indent)
            {
                assert!(
                    !dep.trim_start().starts_with("- "),
                    "a dependency without a health condition: {dep}"
                );
            }
        }
    }
    assert_eq!(
        compose.matches("condition: service_healthy").count(),
        8,
        "ztlens on kafka, prometheus on ztlens, grafana on both; the first ingest node on kafka \
         and minio, the others on the first"
    );
}

#[test]
fn prometheus_and_alertmanager_configs_are_valid() {
    tool(
        "promtool",
        &["check", "config", "deploy/prometheus/prometheus.yml"],
    );
    let rules: Vec<String> = std::fs::read_dir(repo().join("deploy/prometheus/rules"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert!(!rules.is_empty());
    let mut args = vec!["check", "rules"];
    args.extend(rules.iter().map(String::as_str));
    let checked = tool("promtool", &args);
    assert!(checked.contains("SUCCESS"), "{checked}");
    tool(
        "amtool",
        &["check-config", "deploy/alertmanager/alertmanager.yml"],
    );

    // The pipeline's own alerts link a runbook section that exists (a heading's anchor as
    // Markdown renderers make it: lower case, spaces to dashes, other punctuation dropped).
    let operations = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    let anchors: Vec<String> = operations
        .lines()
        .filter_map(|l| l.strip_prefix("#### "))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let rules = std::fs::read_to_string(repo().join("deploy/prometheus/rules/ztlens.yml")).unwrap();
    let runbooks: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook_url: "))
        .map(|u| u.trim_matches('"'))
        .collect();
    for alert in [
        "ZtlensKafkaLagGrowing",
        "ZtlensLakeFlushErrors",
        "ZtlensBackPressureHeld",
        "ZtlensSourceSilent",
        "ZtlensKpiEvaluationStale",
    ] {
        assert!(rules.contains(&format!("alert: {alert}\n")), "{alert}");
    }
    assert_eq!(runbooks.len(), 5, "{runbooks:?}");
    for url in runbooks {
        let anchor = url
            .strip_prefix("docs/operations.md#")
            .unwrap_or_else(|| panic!("{url}: not a section of docs/operations.md"));
        assert!(
            anchors.iter().any(|a| a == anchor),
            "{url}: no such heading in docs/operations.md ({anchors:?})"
        );
    }
}

#[test]
fn service_config_of_the_stack_is_accepted() {
    let shown = run_ok(
        ztlens()
            .arg("--config")
            .arg(repo().join("deploy/ztlens.toml"))
            .arg("config"),
    );
    assert!(
        shown.contains("bootstrap_servers = \"kafka:29092\""),
        "{shown}"
    );
    assert!(shown.contains("listen = \"0.0.0.0:8080\""), "{shown}");
    // Listening beyond loopback needs tokens; Prometheus scrapes with one of them.
    let token =
        std::fs::read_to_string(repo().join("deploy/prometheus/ztlens-read.token")).unwrap();
    let hash: String = sha2::Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let config = std::fs::read_to_string(repo().join("deploy/ztlens.toml")).unwrap();
    let entry = config
        .split("[[server.tokens]]")
        .find(|e| e.contains(&hash))
        .expect("Prometheus's token is configured");
    assert!(entry.contains("\"read\""), "{entry}");

    // The scale-out profile's nodes: ingest nodes and the query node, as compose sets them.
    let scale_out = repo().join("deploy/ztlens-scale-out.toml");
    let ingest_node = run_ok(
        ztlens()
            .arg("--config")
            .arg(&scale_out)
            .arg("config")
            .env("ZTLENS_LAKE__WRITER_ID", "ingest_1"),
    );
    assert!(
        ingest_node.contains("url = \"s3://ztlens-lake/lake\""),
        "{ingest_node}"
    );
    let query_node = run_ok(
        ztlens()
            .arg("--config")
            .arg(&scale_out)
            .arg("config")
            .env("ZTLENS_LAKE__WRITER_ID", "query_1")
            .env("ZTLENS_SERVER__INGEST", "false")
            .env("ZTLENS_KAFKA__ENABLED", "false")
            .env("ZTLENS_DETECTIONS__ENABLED", "true"),
    );
    assert!(query_node.contains("ingest = false"), "{query_node}");
}

#[test]
fn the_stack_publishes_its_ports_on_localhost_only() {
    let compose = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let mut lines = compose.lines();
    let mut published = 0;
    while let Some(line) = lines.next() {
        if line.trim() == "ports:" {
            for port in lines
                .by_ref()
                .take_while(|l| l.trim_start().starts_with("- "))
            {
                assert!(
                    port.contains("\"127.0.0.1:"),
                    "published beyond localhost: {port}"
                );
                published += 1;
            }
        }
    }
    assert_eq!(published, 8, "{compose}");
}

#[test]
fn config_command_rejects_unknown_keys_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[lake]\ndata_dri = \"x\"\n").unwrap();
    let out = run(ztlens().arg("--config").arg(&bad).arg("config"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("data_dri"), "{stderr}");

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[kafka.properties]\n\"sasl.password\" = \"hunter2\"\n\"client.id\" = \"ztlens-1\"\n",
    )
    .unwrap();
    let shown = run_ok(ztlens().arg("--config").arg(&good).arg("config"));
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("<redacted>") && shown.contains("ztlens-1"),
        "{shown}"
    );
}

/// The OpenTelemetry Collector example: no collector installs from the package registries, so
/// this checks what ztlens depends on (Debian's python3-yaml reads the file, as docker-compose
/// does): components of the contrib distribution, pipelines that reference only what is
/// defined, the exporter pointed at a ztlens base URL in an encoding `/v1/logs` reads, a
/// bearer token from the environment rather than in the file, and `ztlens.source` values that
/// name sources. `otelcol-contrib validate` is the complete check (docs/operations.md).
#[test]
fn the_opentelemetry_collector_example_ships_to_ztlens() {
    let json = tool(
        "/usr/bin/python3",
        &[
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            "deploy/otelcol/otelcol-ztlens.yaml",
        ],
    );
    let config: serde_json::Value = serde_json::from_str(&json).unwrap();
    let kind = |id: &str| id.split('/').next().unwrap().to_string();
    let known = [
        ("receivers", &["filelog", "file_log", "syslog", "otlp"][..]),
        (
            "processors",
            &["memory_limiter", "batch", "resource", "attributes"][..],
        ),
        ("exporters", &["otlphttp", "otlp_http"][..]),
        ("extensions", &["file_storage"][..]),
    ];
    let mut defined = std::collections::BTreeMap::new();
    for (section, kinds) in known {
        let ids: Vec<String> = config[section]
            .as_object()
            .unwrap_or_else(|| panic!("no {section}"))
            .keys()
            .cloned()
            .collect();
        for id in &ids {
            assert!(
                kinds.contains(&kind(id).as_str()),
                "{section}: unknown component {id}"
            );
        }
        defined.insert(section, ids);
    }
    let mut used: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for (name, pipeline) in config["service"]["pipelines"].as_object().unwrap() {
        assert!(
            name.starts_with("logs"),
            "pipeline {name} is not a logs pipeline"
        );
        for section in ["receivers", "processors", "exporters"] {
            for id in pipeline[section].as_array().unwrap() {
                let id = id.as_str().unwrap();
                assert!(
                    defined[section].iter().any(|d| d == id),
                    "pipeline {name} uses undefined {section} {id}"
                );
                used.insert(id.to_string());
            }
        }
    }
    for section in ["receivers", "exporters"] {
        for id in &defined[section] {
            assert!(used.contains(id), "{id} is defined but no pipeline uses it");
        }
    }
    for id in config["service"]["extensions"].as_array().unwrap() {
        assert!(
            defined["extensions"]
                .iter()
                .any(|d| d == id.as_str().unwrap())
        );
    }
    for (id, exporter) in config["exporters"].as_object().unwrap() {
        let endpoint = exporter["endpoint"].as_str().unwrap();
        assert!(
            endpoint.starts_with("https://")
                && !endpoint.trim_end_matches('/').ends_with("/v1/logs"),
            "{id}: endpoint {endpoint} is the base URL (the exporter adds /v1/logs)"
        );
        assert!(matches!(
            exporter["encoding"].as_str(),
            Some("proto" | "json")
        ));
        assert!(matches!(
            exporter["compression"].as_str(),
            Some("gzip" | "none")
        ));
        let auth = exporter["headers"]["Authorization"].as_str().unwrap();
        assert!(
            auth.starts_with("Bearer ${env:") && auth.ends_with('}'),
            "{id}: the token must come from the environment, not the file"
        );
    }
    for (id, receiver) in config["receivers"].as_object().unwrap() {
        let source = receiver["resource"]["ztlens.source"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} sets no ztlens.source"));
        assert!(
            source == "auto" || ztlens_ingest::Format::from_name(source).is_some(),
            "{id}: ztlens.source {source} names no source"
        );
    }
}
