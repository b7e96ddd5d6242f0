//! The command line: read-only SQL, clear errors, configuration handling, the demo.

mod support;

use std::time::{Duration, Instant};

use support::*;

#[test]
fn query_refuses_writes_and_reads_select() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let target = dir.path().join("copied.csv");
    let refused = [
        format!("COPY (SELECT 1) TO '{}'", target.display()),
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        "INSERT INTO authentication__tail SELECT * FROM authentication__tail".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ];
    for sql in &refused {
        let out = run(ztlens().arg("query").arg("--data-dir").arg(&lake).arg(sql));
        assert!(!out.status.success(), "{sql} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("read-only"),
            "{sql}: unclear error: {stderr}"
        );
    }
    assert!(!target.exists());
    let out = run_ok(ztlens().arg("query").arg("--data-dir").arg(&lake).args([
        "--format",
        "csv",
        "SELECT count(*) AS n FROM network_activity",
    ]));
    assert_eq!(out, "n\n0\n");
}

#[test]
fn bad_configuration_and_inputs_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ztlens.toml");
    std::fs::write(&config, "[lake]\nflush_rowz = 5\n").unwrap();
    let out = run(ztlens()
        .arg("--config")
        .arg(&config)
        .args(["kpi", "--list"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flush_rowz"));

    let out = run(ztlens()
        .args(["kpi", "--list"])
        .env("ZTLENS_QUERY__TIMEOUT_SECS", "soon"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ZTLENS_QUERY__TIMEOUT_SECS"));

    // A bad inventory row stops the program with its file and line (read beside the config).
    std::fs::create_dir_all(dir.path().join("inventory")).unwrap();
    std::fs::write(
        dir.path().join("inventory/exceptions.csv"),
        "id,owner,user,app,control,reason,created,expires\nEX-1,it,ana@corp.example,,mfa,travel,2026-01-01,next week\n",
    )
    .unwrap();
    std::fs::write(
        &config,
        "[inventory]\npolicy_exceptions_file = \"inventory/exceptions.csv\"\n",
    )
    .unwrap();
    let out = run(ztlens().arg("--config").arg(&config).arg("config"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("inventory/exceptions.csv:2") && stderr.contains("next week"),
        "{stderr}"
    );
    std::fs::write(&config, "[lake]\nflush_rowz = 5\n").unwrap();

    let out = run(ztlens()
        .arg("ingest")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--source", "okta", "/no/such/file.log"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file.log"));

    let out = run(ztlens()
        .arg("ingest")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--source", "syslog"])
        .arg(&config));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown source \"syslog\""));

    // The checked-in example configuration works as a config file.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ztlens.example.toml");
    let list = run_ok(ztlens().args(["--config", example, "kpi", "--list"]));
    let builtin = run_ok(ztlens().args(["kpi", "--list"]));
    assert!(list.lines().count() >= 10, "{list}");
    assert_eq!(list, builtin);
}

#[test]
fn ingest_reports_rows_and_dead_letters_and_they_can_be_listed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.log");
    std::fs::write(
        &file,
        "10.0.0.1 - - [02/Mar/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"\nnot an access log line\n\
         10.0.0.2 - - [02/Mar/2026:10:00:01 +0000] \"GET /x HTTP/1.1\" 404 1 \"-\" \"ua\"\n",
    )
    .unwrap();
    let lake = dir.path().join("lake");
    let out = run_ok(
        ztlens()
            .arg("ingest")
            .arg("--data-dir")
            .arg(&lake)
            .args(["--source", "nginx"])
            .arg(&file),
    );
    assert!(
        out.contains("http_activity                   2 rows"),
        "{out}"
    );
    assert!(out.contains("dead letters: 1"), "{out}");
    assert!(out.contains("mixed.log:2"), "{out}");
    let listed = run_ok(ztlens().arg("dead-letters").arg("--data-dir").arg(&lake));
    assert!(listed.contains("not an access log line"), "{listed}");
    // SQL sees them too, and a torn line (a crash mid-write) is skipped, not an error.
    let day = std::fs::read_dir(lake.join("_dead_letter"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(day.join("torn-1.ndjson"), "{\"time\": 17724").unwrap();
    let rows = run_ok(ztlens().arg("query").arg("--data-dir").arg(&lake).args([
        "--format",
        "json",
        "SELECT source, kind, origin FROM dead_letters",
    ]));
    let rows: serde_json::Value = serde_json::from_str(&rows).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["source"], "nginx");
    assert!(
        rows[0]["origin"].as_str().unwrap().ends_with("mixed.log:2"),
        "{rows}"
    );
    // The one-shot writer leaves no WAL directory behind.
    let wal = lake.join("_wal");
    assert_eq!(std::fs::read_dir(&wal).map(|d| d.count()).unwrap_or(0), 0);

    // Every --format is honoured: CSV is CSV with a header, JSON parses.
    let csv = run_ok(
        ztlens()
            .arg("dead-letters")
            .arg("--data-dir")
            .arg(&lake)
            .args(["--format", "csv"]),
    );
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("time,source,kind,origin,reason,raw_len,raw"),
        "{csv}"
    );
    assert!(
        lines.next().unwrap().contains("not an access log line"),
        "{csv}"
    );
    let with_format = |args: &[&str]| run_ok(ztlens().arg("--data-dir").arg(&lake).args(args));
    let maturity = with_format(&["maturity", "--format", "csv"]);
    assert!(
        maturity.starts_with("pillar,level,level_name,evidence,next\n"),
        "{maturity}"
    );
    assert_eq!(maturity.lines().count(), 5, "a row per pillar: {maturity}");
    let catalog = with_format(&["kpi", "--list", "--format", "csv"]);
    assert!(catalog.starts_with("id,title,unit,labels\n"), "{catalog}");
    let catalog: serde_json::Value =
        serde_json::from_str(&with_format(&["kpi", "--list", "--format", "json"])).unwrap();
    assert!(
        catalog
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == "mfa_outcomes_by_country"),
        "{catalog}"
    );
    // A command whose output has no CSV shape says so instead of printing something else.
    let status = run(ztlens().args(["status", "--url", "127.0.0.1:9", "--format", "csv"]));
    assert!(!status.status.success());
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("no CSV form"),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    // `bench --lake` times the KPIs `kpi` evaluates, those of `--queries` included (it used to
    // time the built-ins only, whatever the flag said).
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).unwrap();
    std::fs::write(
        queries.join("bench_probe.sql"),
        "-- id: bench_probe\n-- title: Requests per status\n-- unit: requests\n\
         -- labels: status\n-- description: A KPI only this directory has.\n\
         SELECT bucket AS time, CAST(http_response_code AS VARCHAR) AS status, \
         COUNT(*) AS requests FROM http_activity GROUP BY 1, 2\n",
    )
    .unwrap();
    let bench = with_format(&[
        "bench",
        "--lake",
        lake.to_str().unwrap(),
        "--from",
        "2026-03-02T00:00:00Z",
        "--to",
        "2026-03-03T00:00:00Z",
        "--repeat",
        "1",
        "--queries",
        queries.to_str().unwrap(),
    ]);
    assert!(
        bench.lines().any(|l| l.starts_with("bench_probe ")),
        "{bench}"
    );
}

#[test]
fn ingest_auto_recognizes_each_file_and_refuses_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = dir.path().join("access.log");
    std::fs::write(
        &nginx,
        "10.0.0.1 - - [02/Mar/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"\n",
    )
    .unwrap();
    let zeek = dir.path().join("conn.log");
    std::fs::write(
        &zeek,
        "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
         1772438400.0\tCa1\t10.0.0.1\t5000\t10.0.0.2\t22\ttcp\tREJ\n",
    )
    .unwrap();
    let entra = dir.path().join("PT1H.json");
    std::fs::write(
        &entra,
        r#"{"records": [{"time": "2026-03-02T10:00:00Z", "category": "SignInLogs", "properties": {"id": "s1", "userPrincipalName": "a@corp.example", "status": {"errorCode": 0}}}]}"#,
    )
    .unwrap();
    let lake = dir.path().join("lake");
    let out = run_ok(
        ztlens()
            .arg("ingest")
            .arg("--data-dir")
            .arg(&lake)
            .args(["--source", "auto"])
            .args([&nginx, &zeek, &entra]),
    );
    for table in ["http_activity", "network_activity", "authentication"] {
        assert!(
            out.contains(&format!("{table:<20} {:>12} rows", 1)),
            "{table}: {out}"
        );
    }
    assert!(out.contains("entra + nginx + zeek"), "{out}");

    // Regression: one unrecognized file aborted the others before anything was read. It is
    // now reported and skipped, the others are stored, and the run fails.
    let unknown = dir.path().join("notes.txt");
    std::fs::write(&unknown, "hello, world\n").unwrap();
    let other = dir.path().join("lake2");
    let out = ztlens()
        .arg("ingest")
        .arg("--data-dir")
        .arg(&other)
        .args(["--source", "auto"])
        .args([&unknown, &nginx])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("notes.txt: not read: no known format matches")
            && stderr.contains("--source NAME")
            && stderr.contains("1 of 2 input(s) were not read whole"),
        "{stderr}"
    );
    let stored = run_ok(ztlens().arg("query").arg("--data-dir").arg(&other).args([
        "--format",
        "csv",
        "SELECT count(*) AS n FROM http_activity",
    ]));
    assert_eq!(stored, "n\n1\n");
}

/// `ztlens ingest -` reads standard input (plain or gzip, named or recognized), a directory
/// means every file under it, `--quiet` prints only the summary, and nothing is read twice.
#[test]
fn ingest_reads_standard_input_and_directories() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let line = |i: usize| {
        format!(
            "10.0.0.1 - - [02/Mar/2026:10:00:00 +0000] \"GET /p{i} HTTP/1.1\" 200 1 \"-\" \"ua\"\n"
        )
    };
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("2026/03")).unwrap();
    std::fs::write(logs.join("a.log"), (0..3).map(line).collect::<String>()).unwrap();
    std::fs::write(
        logs.join("2026/03/b.log"),
        (3..7).map(line).collect::<String>(),
    )
    .unwrap();
    // Hidden files (an editor's swap file, a .gitkeep) are not logs.
    std::fs::write(logs.join(".hidden.log"), line(99)).unwrap();
    let stdin_body: String = (100..105).map(line).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(stdin_body.as_bytes()).unwrap();
    let stdin_gzip = gz.finish().unwrap();

    let lake = dir.path().join("lake");
    let ingest = |source: &str, args: &[&std::ffi::OsStr], stdin: &[u8]| {
        let mut child = ztlens()
            .arg("ingest")
            .arg("--data-dir")
            .arg(&lake)
            .args(["--source", source])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = ingest(
        "nginx",
        &[logs.as_os_str(), std::ffi::OsStr::new("-")],
        stdin_body.as_bytes(),
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("ingested 3 input(s) as nginx"), "{stdout}");
    assert!(
        stdout.contains(&format!("{:<20} {:>12} rows", "http_activity", 12)),
        "{stdout}"
    );
    assert!(
        stderr.contains("a.log: done, 3 records")
            && stderr.contains("b.log: done, 4 records")
            && stderr.contains("-: done, 5 records")
            && !stderr.contains(".hidden"),
        "{stderr}"
    );
    // Gzip on standard input, recognized under `auto`, quietly.
    let (ok, stdout, stderr) = ingest(
        "auto",
        &[std::ffi::OsStr::new("-"), std::ffi::OsStr::new("--quiet")],
        &stdin_gzip,
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("ingested 1 input(s) as nginx"), "{stdout}");
    assert!(stderr.is_empty(), "--quiet printed: {stderr}");
    let refs = run_ok(ztlens().arg("query").arg("--data-dir").arg(&lake).args([
        "--format",
        "csv",
        "SELECT raw_ref FROM http_activity WHERE raw_ref LIKE 'stdin%' ORDER BY raw_ref",
    ]));
    assert_eq!(
        refs.lines().skip(1).collect::<Vec<_>>(),
        [
            "stdin:1", "stdin:1", "stdin:2", "stdin:2", "stdin:3", "stdin:3", "stdin:4", "stdin:4",
            "stdin:5", "stdin:5"
        ],
        "{refs}"
    );
    // What cannot be read is named before anything is stored.
    let (ok, _, stderr) = ingest(
        "nginx",
        &[
            dir.path().join("nowhere").as_os_str(),
            std::ffi::OsStr::new("-"),
            std::ffi::OsStr::new("-"),
        ],
        b"",
    );
    assert!(!ok && stderr.contains("only once"), "{stderr}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, _, stderr) = ingest("nginx", &[empty.as_os_str()], b"");
    assert!(
        !ok && stderr.contains("no files in this directory"),
        "{stderr}"
    );
    let (ok, _, stderr) = ingest("auto", &[std::ffi::OsStr::new("-")], b"hello, world\n");
    assert!(
        !ok && stderr.contains("standard input: no known format matches"),
        "{stderr}"
    );
    // An empty file (a source with nothing in the period) is read whole under `auto` too: no
    // records, no failure.
    let blank = dir.path().join("blank.json");
    std::fs::write(&blank, b"\n").unwrap();
    let (ok, stdout, stderr) = ingest(
        "auto",
        &[blank.as_os_str(), logs.join("a.log").as_os_str()],
        b"",
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stderr.contains("blank.json: empty, no records"), "{stderr}");
    assert!(
        stdout.contains("ingested 1 input(s) as nginx")
            && stdout.contains("empty input(s), no records: 1"),
        "{stdout}"
    );
    // Standard input the same way.
    let (ok, stdout, stderr) = ingest("auto", &[std::ffi::OsStr::new("-")], b"");
    assert!(
        ok && stdout.contains("empty input(s), no records: 1"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn completions_are_printed_for_each_shell_without_a_configuration() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef ztlens"),
        ("fish", "complete -c ztlens"),
    ] {
        let out = run_ok(
            ztlens()
                .args(["completions", shell])
                .env("ZTLENS_CONFIG", "/nonexistent/ztlens.toml"),
        );
        assert!(
            out.contains(marker) && out.contains("ingest"),
            "{shell}: {out}"
        );
    }
}

/// Regression: a truncated `.gz` discarded every record before the cut, and a later corrupt
/// file undid the files already reported done. Each file's outcome is now what its line says:
/// the records before a cut are stored, the other files too, and the run reports the cut.
#[test]
fn a_truncated_file_keeps_what_was_read_and_the_others_are_stored() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let line = |i: usize| {
        format!(
            "10.0.0.1 - - [02/Mar/2026:10:00:00 +0000] \"GET /p{i} HTTP/1.1\" 200 1 \"-\" \"ua\"\n"
        )
    };
    let good = dir.path().join("good.log");
    std::fs::write(&good, (0..10).map(line).collect::<String>()).unwrap();
    // 1,000 lines gzipped, then cut to two thirds of the compressed stream.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for i in 0..1000 {
        gz.write_all(line(i).as_bytes()).unwrap();
    }
    let whole = gz.finish().unwrap();
    let truncated = dir.path().join("cut.log.gz");
    std::fs::write(&truncated, &whole[..whole.len() * 2 / 3]).unwrap();
    let lake = dir.path().join("lake");
    let out = ztlens()
        .arg("ingest")
        .arg("--data-dir")
        .arg(&lake)
        .args(["--source", "nginx"])
        .args([&good, &truncated, &good])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cut.log.gz: cut short") && stderr.contains("1 of 3 input(s)"),
        "{stderr}"
    );
    let stored: u64 = run_ok(ztlens().arg("query").arg("--data-dir").arg(&lake).args([
        "--format",
        "csv",
        "SELECT count(DISTINCT metadata_uid) AS n FROM http_activity",
    ]))
    .lines()
    .nth(1)
    .unwrap()
    .parse()
    .unwrap();
    // The good file (twice, one set of ids) and the part of the cut file before the cut.
    assert!(
        stored > 10 + 100 && stored < 10 + 1000,
        "stored {stored} distinct requests:\n{stderr}"
    );
    // No half-written Parquet file is left behind.
    let leftovers: Vec<_> = walk(&lake)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn demo_serves_every_kpi_and_metrics_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut cmd = ztlens();
    cmd.current_dir(dir.path())
        .args(["demo", "--listen", "127.0.0.1:0"]);
    let mut server = Server::start(cmd);
    let kpis = eventually(Duration::from_secs(60), || {
        let list = server.get("/api/v1/kpis").json();
        let ids: Vec<String> = list["kpis"]
            .as_array()?
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_string())
            .collect();
        let all_have_rows = ids.iter().all(|id| {
            let r = server.get(&format!("/api/v1/kpis/{id}"));
            r.status == 200
                && r.json()["rows"]
                    .as_array()
                    .is_some_and(|rows| !rows.is_empty())
        });
        (ids.len() >= 10 && all_have_rows).then_some(ids)
    });
    assert!(
        kpis.is_some(),
        "the demo did not serve every KPI with rows within 60 s:\n{}",
        server.log()
    );
    let metrics = eventually(
        Duration::from_secs(60)
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(15)),
        || {
            let text = server.get("/metrics").text();
            (text.contains(
                "ztlens_ingest_rows_total{source=\"vpcflow\",table=\"network_activity\"}",
            ) && text.contains("ztlens_kpi_access_decisions_events{"))
            .then_some(text)
        },
    );
    assert!(
        metrics.is_some(),
        "no ingest counters or KPI gauges on /metrics:\n{}",
        server.get("/metrics").text()
    );
    assert!(
        server.terminate(),
        "Ctrl-C/SIGTERM must stop the demo cleanly:\n{}",
        server.log()
    );
    assert!(dir.path().join("ztlens-demo-data/.ztlens-demo").exists());
}

#[test]
fn json_logs_are_one_object_per_line_with_a_request_log_that_names_routes_not_paths() {
    let (_dir, server) = serve_empty(&[("ZTLENS_LOG_FORMAT", "json")]);
    let r = server.get("/api/v1/kpis/mfa_outcomes_by_country?country=Secretland&from=now-1h");
    assert_eq!(r.status, 200, "{}", r.text());
    let request = eventually(Duration::from_secs(10), || {
        server
            .log()
            .lines()
            .filter_map(|l| l.strip_prefix("stderr: "))
            // Log lines are JSON objects; anything else on stderr is a program message.
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
            })
            .find(|line| line["fields"]["route"] == "/api/v1/kpis/{id}")
    })
    .unwrap_or_else(|| panic!("no request log line:\n{}", server.log()));
    assert_eq!(request["target"], "ztlens::access");
    assert_eq!(request["fields"]["status"], 200);
    assert_eq!(request["fields"]["method"], "GET");
    assert!(
        !server.log().contains("Secretland"),
        "a query string reached the log:\n{}",
        server.log()
    );
}
