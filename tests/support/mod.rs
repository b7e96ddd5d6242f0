//! Helpers for tests that drive the `ztlens` binary: running commands, starting a server on a
//! free port, and a minimal HTTP/1.1 client (no extra dependencies to build).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ztlens"))
}

/// Environment every `ztlens` child of this test binary gets (set once, before the first
/// child starts: the object-store tests' credentials for the local S3 server).
pub static CHILD_ENV: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// A `ztlens` command with a clean environment for configuration.
pub fn ztlens() -> Command {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("ZTLENS_") {
            cmd.env_remove(key);
        }
    }
    for (key, value) in CHILD_ENV.get().into_iter().flatten() {
        cmd.env(key, value);
    }
    cmd
}

/// Run and require success; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("ztlens runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("ztlens runs")
}

/// `ztlens serve` on a free loopback port over the lake in `lake`, with KPI gauges refreshed
/// every second, and `extra_env` on top.
pub fn serve_cmd(lake: &Path, extra_env: &[(&str, &str)]) -> Command {
    let mut cmd = ztlens();
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(lake)
        .args(["--listen", "127.0.0.1:0"]);
    cmd.env("ZTLENS_METRICS__KPI_REFRESH_SECS", "1");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd
}

/// A server over an empty lake with the `/metrics` refresh and the detection rules off (nothing
/// in the background), and
/// `extra_env` on top; the returned directory holds the lake.
pub fn serve_empty(extra_env: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_cmd(
        &dir.path().join("lake"),
        &[
            ("ZTLENS_METRICS__KPI_REFRESH_SECS", "0"),
            ("ZTLENS_DETECTIONS__ENABLED", "false"),
        ],
    );
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    (dir, Server::start(cmd))
}

/// Generate a dataset into `dir` and return its path.
pub fn generate(dir: &Path, seed: u64, events: u64) -> PathBuf {
    let out = dir.join(format!("gen-{seed}"));
    run_ok(
        ztlens()
            .args([
                "gen",
                "--seed",
                &seed.to_string(),
                "--events",
                &events.to_string(),
                "--out",
            ])
            .arg(&out),
    );
    out
}

/// The log folders of a generated dataset: each is named after the format of its files.
pub fn dataset_sources(dataset: &Path) -> Vec<(String, Vec<std::path::PathBuf>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dataset).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !path.is_dir() || name == "inventory" {
            continue;
        }
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        out.push((name, files));
    }
    out.sort();
    out
}

/// Ingest every file of a generated dataset into `lake` through the CLI, each folder as the
/// format it is named after.
pub fn ingest_dataset(dataset: &Path, lake: &Path) {
    for (source, files) in dataset_sources(dataset) {
        let source = source.as_str();
        let mut cmd = ztlens();
        cmd.arg("ingest")
            .arg("--config")
            .arg(dataset.join("ztlens.toml"))
            .arg("--data-dir")
            .arg(lake)
            .args(["--source", source]);
        cmd.args(&files);
        let out = run_ok(&mut cmd);
        // The generator writes only valid records: any refusal is a parser or generator bug.
        assert!(out.contains("dead letters: 0"), "{source}: {out}");
    }
}

/// `ztlens <command> --config CONFIG --data-dir LAKE --from --to --format json` over the range
/// of a dataset's `truth.json`; add the command's own arguments.
pub fn over_truth_range(
    command: &str,
    config: &Path,
    lake: &Path,
    truth: &serde_json::Value,
) -> Command {
    let mut cmd = ztlens();
    cmd.arg(command)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(lake)
        .args([
            "--from",
            truth["from"].as_str().unwrap(),
            "--to",
            truth["to"].as_str().unwrap(),
            "--format",
            "json",
        ]);
    cmd
}

/// Every KPI over the range of a dataset's `truth.json`, as `ztlens kpi --format json` prints it.
pub fn kpis(config: &Path, lake: &Path, truth: &serde_json::Value) -> serde_json::Value {
    let out = run_ok(&mut over_truth_range("kpi", config, lake, truth));
    serde_json::from_str(&out).unwrap()
}

/// Label columns identify a row; everything numeric is a value.
pub fn row_key(row: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut labels: Vec<String> = row
        .iter()
        .filter(|(k, v)| v.is_string() && *k != "time")
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect();
    labels.sort();
    labels.join(",")
}

/// Every KPI of `actual` (as `ztlens kpi --format json` prints them) equals the generator's
/// truth: exactly for counts, within 1e-9 for rates.
pub fn assert_matches_truth(truth: &serde_json::Value, actual: &serde_json::Value) {
    use serde_json::Value;
    let expected_kpis = truth["kpis"].as_object().unwrap();
    // Every KPI the binary serves must have a ground truth, and the other way round.
    let served: Vec<&String> = actual.as_object().unwrap().keys().collect();
    let covered: Vec<&String> = expected_kpis.keys().collect();
    assert_eq!(covered, served, "the truth covers every KPI");
    for (kpi, expected_rows) in expected_kpis {
        let actual_rows = actual[kpi]
            .as_array()
            .unwrap_or_else(|| panic!("KPI {kpi} missing from the output"));
        let expected_rows = expected_rows.as_array().unwrap();
        assert!(
            !expected_rows.is_empty(),
            "{kpi}: the generated data must exercise it"
        );
        assert_eq!(
            actual_rows.len(),
            expected_rows.len(),
            "{kpi}: row count\nexpected {expected_rows:?}\nactual {actual_rows:?}"
        );
        for expected in expected_rows {
            let expected = expected.as_object().unwrap();
            let key = row_key(expected);
            let actual = actual_rows
                .iter()
                .map(|r| r.as_object().unwrap())
                .find(|r| row_key(r) == key)
                .unwrap_or_else(|| panic!("{kpi}: no row for {key}"));
            for (column, want) in expected {
                let got = &actual[column];
                match (want, got) {
                    (Value::Number(w), Value::Number(g)) if w.is_f64() || g.is_f64() => {
                        let (w, g) = (w.as_f64().unwrap(), g.as_f64().unwrap());
                        assert!(
                            (w - g).abs() <= 1e-9,
                            "{kpi} {key} {column}: expected {w}, got {g}"
                        );
                    }
                    _ => assert_eq!(want, got, "{kpi} {key} {column}"),
                }
            }
        }
    }
}

/// Requests per (app, identity, front end) of the generator's identity-provider access paths.
pub fn truth_idp_paths(
    truth: &serde_json::Value,
) -> std::collections::BTreeMap<(String, String, String), u64> {
    truth["access_paths"]["idp_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t = |k: &str| p[k].as_str().unwrap().to_string();
            (
                (t("app"), t("identity"), t("front_end")),
                p["requests"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// KPI output without the arrival-lag columns of `telemetry_health`: two lakes built from the
/// same files at different times agree on every value except when the rows were processed.
pub fn without_arrival_lag(mut kpis: serde_json::Value) -> serde_json::Value {
    if let Some(rows) = kpis
        .get_mut("telemetry_health")
        .and_then(|r| r.as_array_mut())
    {
        for row in rows {
            if let Some(row) = row.as_object_mut() {
                row.retain(|k, _| !k.starts_with("lag_"));
            }
        }
    }
    kpis
}

/// A `ztlens serve` (or `demo`) child process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub address: String,
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Start `cmd` (which must print `http://HOST:PORT` or `https://HOST:PORT` on stdout) and
    /// wait for the address.
    pub fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let out = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let start = (line.find("https://").map(|p| p + 8))
                    .or_else(|| line.find("http://").map(|p| p + 7));
                let address: Option<String> = start.map(|start| {
                    line[start..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '/')
                        .collect()
                });
                // Logged before the address is handed over, so the caller sees the line.
                out.lock().unwrap().push(line);
                if let Some(address) = address {
                    let _ = tx.send(address);
                }
            }
        });
        let err_out = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                err_out.lock().unwrap().push(format!("stderr: {line}"));
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not report its address:\n{}",
                    output.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            address,
            output,
        }
    }

    pub fn get(&self, path: &str) -> Response {
        request(&self.address, "GET", path, &[], &[])
    }

    /// The port of the server's PostgreSQL listener, from the line it prints.
    pub fn pgwire_port(&self) -> String {
        eventually(Duration::from_secs(10), || {
            self.log().lines().find_map(|l| {
                l.strip_prefix("postgresql listening on postgresql://127.0.0.1:")
                    .map(|rest| rest.split('/').next().unwrap().to_string())
            })
        })
        .unwrap_or_else(|| panic!("no PostgreSQL listener:\n{}", self.log()))
    }

    /// The rows of a read-only query through `POST /api/v1/query` (which must succeed).
    pub fn query_rows(&self, sql: &str) -> serde_json::Value {
        let r = self.post(
            "/api/v1/query",
            &[],
            serde_json::json!({ "sql": sql }).to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["rows"].clone()
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(&self.address, "GET", path, headers, &[])
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        request(&self.address, "POST", path, headers, body)
    }

    /// SIGKILL, no cleanup — a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited with success.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds the server process has used so far (user + system, from /proc).
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the parenthesized command name; utime and stime are the 14th and 15th.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }

    pub fn log(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`).
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request(address, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub fn try_request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    // `Host` is the server's address unless the caller sends its own.
    let host = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map_or(address, |(_, v)| *v);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // A server may answer (413) before reading everything; a failed write is not the result.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "no HTTP response: {:?}",
                String::from_utf8_lossy(&raw)
            ))
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// Percent-encode `text` for a URL query string (unreserved characters kept).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Poll `check` until it returns Some or the timeout passes.
pub fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `ztlens kafka-mock` in its own process: librdkafka's mock cluster with `topics`
/// (`name`, partitions), filled with `produce` (`topic`, file). Killed when dropped.
pub struct KafkaMock {
    pub child: Child,
    pub bootstrap: String,
    /// Messages produced, over all files.
    pub produced: u64,
}

impl KafkaMock {
    pub fn start(topics: &[(&str, u32)], produce: &[(&str, PathBuf)]) -> KafkaMock {
        let mut cmd = Command::new(binary());
        cmd.arg("kafka-mock");
        for (topic, partitions) in topics {
            cmd.args(["--topic", &format!("{topic}:{partitions}")]);
        }
        for (topic, file) in produce {
            cmd.arg("--produce")
                .arg(format!("{topic}={}", file.display()));
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut bootstrap = String::new();
        let mut produced = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(b) = line.strip_prefix("bootstrap: ") {
                bootstrap = b.to_string();
            } else if let Some(rest) = line.strip_prefix("produced ") {
                produced += rest.split(' ').next().unwrap().parse::<u64>().unwrap();
            } else if line == "ready" {
                break;
            }
        }
        assert!(
            !bootstrap.is_empty(),
            "kafka-mock printed no bootstrap address"
        );
        KafkaMock {
            child,
            bootstrap,
            produced,
        }
    }
}

impl Drop for KafkaMock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An alert as its rule and entity values (`GET /api/v1/alerts`, `ztlens detect --format json`).
pub type AlertKey = (String, std::collections::BTreeMap<String, String>);

pub fn alert_key(alert: &serde_json::Value) -> AlertKey {
    let entity = alert["entity"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    (alert["rule"].as_str().unwrap().to_string(), entity)
}
