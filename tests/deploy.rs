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
    assert_eq!(
        services,
        ["alertmanager", "grafana", "kafka", "prometheus", "ztlens"]
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
    assert_eq!(published, 5, "{compose}");
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
