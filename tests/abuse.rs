//! Abuse of a real `ztlens serve`, one case per way it was once broken: each request gets a
//! clear JSON error and the server keeps serving (`/healthz` answers right after).

mod support;

use std::time::{Duration, Instant};

use support::*;

/// The server still answers `/healthz`, quickly.
fn assert_alive(server: &Server, after: &str) {
    let started = Instant::now();
    let health = server.get("/healthz");
    assert_eq!(health.status, 200, "after {after}:\n{}", server.log());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "/healthz took {:?} after {after}",
        started.elapsed()
    );
}

/// Within 5 s of `after` the server is idle: under 0.2 CPU seconds in one second.
fn assert_quiet_within_5_s(server: &Server, after: &str) {
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(5) {
        let before = server.cpu_seconds();
        std::thread::sleep(Duration::from_secs(1));
        if server.cpu_seconds() - before < 0.2 {
            return;
        }
    }
    panic!(
        "the server still burns CPU {:?} after {after}:\n{}",
        since.elapsed(),
        server.log()
    );
}

/// A nested-loop join whose filter rejects every pair of a million by a million rows: the join
/// loops inside one poll until it has output, and it never has any.
fn no_match_join() -> String {
    let values: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    format!(
        "WITH t AS (SELECT unnest(make_array({})) AS x), \
         big AS (SELECT a.x * 1000 + b.x AS k FROM t a, t b) \
         SELECT count(*) FROM big l JOIN big r ON l.k > r.k + 2000000",
        values.join(",")
    )
}

fn assert_json_error(response: &Response, status: u16, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.text());
    let body = response.json();
    assert!(
        body["code"].is_string() && body["message"].is_string(),
        "{what}: not a JSON error: {}",
        response.text()
    );
}

#[test]
fn hostile_urls_and_queries_get_errors_and_the_server_keeps_serving() {
    let (_dir, server) = serve_empty(&[]);
    // A range to i64::MAX with a weekly step once wrapped the bucket count and grew the bucket
    // table until the process aborted; a huge evidence offset wrapped too.
    for path in [
        "/api/v1/kpis/access_decisions?from=0&to=9223372036854775807&step=1w",
        "/api/v1/kpis/access_decisions?from=0&to=9223372036854775807",
        "/api/v1/kpis/access_decisions?from=now-99999999999w&step=1w",
        "/api/v1/kpis/access_decisions/evidence?offset=18446744073709551615",
        "/api/v1/kpis/access_decisions/evidence?offset=18446744073709551616",
        "/api/v1/kpis/access_decisions/evidence?offset=1000000001&limit=1000",
        "/api/v1/maturity?from=0&to=9223372036854775807",
    ] {
        assert_json_error(&server.get(path), 400, path);
        assert_alive(&server, path);
    }
    // A 2 KB query of a 1,000-term chain once overflowed the query thread's stack.
    for (op, term) in [("+", "1"), (" OR ", "1=1"), (" || ", "'x'")] {
        let sql = format!("SELECT {}", vec![term; 1_000].join(op));
        let response = server.post("/api/v1/query", &[], sql.as_bytes());
        assert_json_error(&response, 400, &format!("{op} chain"));
        assert_alive(&server, &format!("a 1,000-term {op} chain"));
    }
    // Values built outside the memory pool.
    for sql in [
        "SELECT length(repeat('x', 1000000000))",
        "SELECT count(*) FROM (SELECT unnest(range(1, 200000000)))",
    ] {
        assert_json_error(&server.post("/api/v1/query", &[], sql.as_bytes()), 400, sql);
        assert_alive(&server, sql);
    }
    // Values grown by concatenation and replacement, outside the memory pool: each CTE
    // doubles (2^31 bytes at the end), or squares.
    let mut doubling = String::from("WITH l0 AS (SELECT 'x' AS s)");
    for i in 1..=31 {
        doubling.push_str(&format!(", l{i} AS (SELECT s || s AS s FROM l{})", i - 1));
    }
    doubling.push_str(" SELECT length(s) FROM l31");
    for sql in [
        doubling.clone(),
        doubling.replace("s || s", "concat(s, s, s)"),
        "WITH a AS (SELECT concat(s, s, s, s) AS s FROM (SELECT 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' AS s)), \
         b AS (SELECT replace(s, 'x', s) AS s FROM a), c AS (SELECT replace(s, 'x', s) AS s FROM b) \
         SELECT length(s) FROM c"
            .to_string(),
    ] {
        let response = server.post("/api/v1/query", &[], sql.as_bytes());
        assert_json_error(&response, 422, &sql);
        assert_eq!(response.json()["code"], "query_too_large", "{sql}");
        assert_alive(&server, &sql);
    }
    // An oversized query body is a JSON 413 like every other error.
    let huge = vec![b'x'; 1 << 20];
    assert_json_error(
        &server.post("/api/v1/query", &[], &huge),
        413,
        "1 MiB query",
    );
    assert_alive(&server, "a 1 MiB query body");
    let ok = server.post("/api/v1/query", &[], b"SELECT 1 AS one");
    assert_eq!(ok.status, 200, "{}", ok.text());
}

/// Regression: twelve slow queries sent with a one-second client timeout kept running at 200%
/// CPU for 100 s, 70 s past the query timeout, and their slots were freed at disconnect so more
/// queries were admitted. A disconnect now cancels the query: the CPU goes quiet within
/// seconds, and the slot stays taken until the work has stopped. A nested-loop join that never
/// emits a row once escaped the cancellation; it is one of the two queries.
#[test]
fn a_client_that_disconnects_cancels_its_query() {
    let (_dir, server) = serve_empty(&[
        ("ZTLENS_SERVER__MAINTENANCE_INTERVAL_SECS", "0"),
        ("ZTLENS_QUERY__MAX_CONCURRENT", "2"),
    ]);
    // A billion-row cross join: minutes of CPU, almost no memory.
    let values: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let slow = format!(
        "WITH t AS (SELECT unnest(make_array({})) AS x) \
         SELECT sum(a.x * b.x - c.x) FROM t a, t b, t c",
        values.join(",")
    );
    let no_match = no_match_join();
    let clients: Vec<_> = [slow, no_match]
        .into_iter()
        .map(|slow| {
            let address = server.address.clone();
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(&address).unwrap();
                let head = format!(
                    "POST /api/v1/query HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\n\r\n",
                    slow.len()
                );
                use std::io::Write;
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(slow.as_bytes()).unwrap();
                // Give up after a second, as a client with a short timeout does.
                std::thread::sleep(Duration::from_secs(1));
                drop(stream);
            })
        })
        .collect();
    // While both queries keep the query threads busy, the probes answer promptly: queries run
    // on their own runtime.
    std::thread::sleep(Duration::from_millis(200));
    let slowest_probe = (0..6)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(server.get("/healthz").status, 200);
            let took = started.elapsed();
            std::thread::sleep(Duration::from_millis(100));
            took
        })
        .max()
        .unwrap();
    eprintln!("slowest /healthz under two runaway queries: {slowest_probe:?}");
    assert!(
        slowest_probe < Duration::from_millis(200),
        "/healthz took {slowest_probe:?} while queries ran"
    );
    for client in clients {
        client.join().unwrap();
    }
    assert_quiet_within_5_s(&server, "its clients left");
    // The slots are free again.
    let ok = server.post("/api/v1/query", &[], b"SELECT 1 AS one");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_alive(&server, "two abandoned slow queries");
}

/// Regression: 1,100 half-open connections exhausted the file descriptors and `/healthz`
/// stopped answering. A client now has `header_read_timeout_secs` to send its headers, and at
/// most `max_connections` are open: the rest are closed at accept, descriptors stay free, and
/// the probes answer again as soon as the slow clients are cut off.
#[test]
fn slow_and_half_open_connections_cannot_exhaust_the_server() {
    use std::io::{Read, Write};
    let (_dir, server) = serve_empty(&[
        ("ZTLENS_SERVER__HEADER_READ_TIMEOUT_SECS", "2"),
        ("ZTLENS_SERVER__MAX_CONNECTIONS", "32"),
    ]);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .unwrap()
            .count()
    };
    let baseline = fds();
    // 300 clients that start a request and never finish its headers.
    let mut stalled: Vec<std::net::TcpStream> = (0..300)
        .filter_map(|_| std::net::TcpStream::connect(&server.address).ok())
        .collect();
    for stream in &mut stalled {
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: loc");
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = fds();
    assert!(
        held <= baseline + 32 + 8,
        "the server holds {held} descriptors (baseline {baseline}, cap 32)"
    );
    // The clients beyond the cap were closed at once; the others are still waiting.
    let mut buf = [0u8; 1024];
    let mut open: Vec<&mut std::net::TcpStream> = Vec::new();
    for stream in &mut stalled {
        stream.set_nonblocking(true).unwrap();
        // Still open: nothing to read yet. Closed by the server: end of stream (or a reset).
        if matches!(stream.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            open.push(stream);
        }
    }
    assert!(
        !open.is_empty() && open.len() <= 32,
        "{} connections open at a cap of 32",
        open.len()
    );
    // Those are cut off after the header timeout (2 s): the client sees the connection close.
    let waiting = open.pop().unwrap();
    waiting.set_nonblocking(false).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let closed = waiting.read(&mut buf).is_ok();
    assert!(
        closed && started.elapsed() < Duration::from_secs(4),
        "a half-open connection stayed open {:?}",
        started.elapsed()
    );
    // The probes answer again once the slow clients are gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    let healthy = loop {
        match try_request(&server.address, "GET", "/healthz", &[], b"") {
            Ok(r) if r.status == 200 => break true,
            _ if Instant::now() > deadline => break false,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(healthy, "/healthz did not recover:\n{}", server.log());
    let metrics = server.get("/metrics").text();
    let refused: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ztlens_http_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(refused > 0.0, "no connection was refused at the cap");
    drop(stalled);
}

/// Peak resident memory of the server so far, in MiB.
fn peak_rss_mib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        / 1024
}

/// Regression: a 15.6 KB gzip body of 8 million one-byte lines was answered 200 after writing
/// 1.25 GB of fsynced dead letters (RSS 2.9 GB). A body with more broken records than
/// `ingest.max_dead_letters_per_request` is now refused whole — nothing stored, nothing lost
/// silently — and memory stays bounded while it is read.
#[test]
fn a_body_of_broken_lines_is_refused_whole() {
    use std::io::Write;
    let (_dir, server) = serve_empty(&[("ZTLENS_INGEST__MAX_DEAD_LETTERS_PER_REQUEST", "5")]);
    let good =
        r#"198.51.100.7 - alice [02/Mar/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8""#;
    let body = |broken: usize| format!("{}{good}\n", "x\n".repeat(broken));
    // At the limit: stored, with its dead letters.
    let r = server.post("/api/v1/ingest/nginx", &[], body(5).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["accepted"].as_u64(), r.json()["rejected"].as_u64()),
        (Some(1), Some(5))
    );
    // One more: refused whole, the good line too.
    let r = server.post("/api/v1/ingest/nginx", &[], body(6).as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["code"], "too_many_refused");
    // 8 million broken lines, 16 MB once decompressed.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all("x\n".repeat(8_000_000).as_bytes()).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 100_000, "{} bytes", bomb.len());
    let r = server.post(
        "/api/v1/ingest/nginx",
        &[("Content-Encoding", "gzip")],
        &bomb,
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let stored = server.post(
        "/api/v1/query",
        &[],
        b"SELECT count(*) AS n FROM dead_letters",
    );
    assert_eq!(stored.json()["rows"][0]["n"], 5, "{}", stored.text());
    let rows = server.post(
        "/api/v1/query",
        &[],
        b"SELECT count(*) AS n FROM http_activity",
    );
    assert_eq!(rows.json()["rows"][0]["n"], 1, "{}", rows.text());
    let peak = peak_rss_mib(&server);
    eprintln!("server peak RSS after 8 million broken lines: {peak} MiB");
    assert!(peak < 600, "the server peaked at {peak} MiB");
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("ztlens_ingest_requests_refused_total 2"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("refused"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_alive(&server, "a body of 8 million broken lines");
}

/// Regression: dead letters had no total bound (at the 64 MiB body limit a request could write
/// ~5 GB), and any SQL naming `dead_letters` loaded the whole store into memory (12 s, +3.4 GB).
/// Past `lake.max_dead_letter_bytes_per_day` a pushed body with broken records is refused whole
/// (429, nothing stored) while clean bodies still land, and the table streams: counting two
/// million stored dead letters stays within the memory pool plus a fixed margin.
#[test]
fn dead_letters_have_a_daily_budget_and_stream_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // Two million dead letters written the way the store writes them, today.
    let today = chrono::Utc::now();
    let day_dir = lake
        .join("_dead_letter")
        .join(format!("date={}", today.format("%Y-%m-%d")));
    std::fs::create_dir_all(&day_dir).unwrap();
    let letter = serde_json::json!({
        "time": today.timestamp_millis(), "source": "nginx", "origin": "file:seeded:1",
        "kind": "invalid_field", "reason": "not an access-log line", "raw": "x".repeat(20),
        "raw_len": 20,
    })
    .to_string();
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(day_dir.join("seeded-1.ndjson")).unwrap());
    for _ in 0..2_000_000 {
        use std::io::Write;
        writeln!(file, "{letter}").unwrap();
    }
    drop(file);
    let mut cmd = serve_cmd(
        &lake,
        &[
            ("ZTLENS_METRICS__KPI_REFRESH_SECS", "0"),
            ("ZTLENS_QUERY__MEMORY_LIMIT_BYTES", "67108864"),
            // Less than the seeded ~330 MB: today's budget is already spent.
            ("ZTLENS_LAKE__MAX_DEAD_LETTER_BYTES_PER_DAY", "100000000"),
        ],
    );
    cmd.env("ZTLENS_LOG", "warn");
    let server = Server::start(cmd);
    let rss_before = peak_rss_mib(&server);
    let count = server.post(
        "/api/v1/query",
        &[],
        b"SELECT count(*) AS n, sum(raw_len) AS bytes FROM dead_letters",
    );
    assert_eq!(count.status, 200, "{}", count.text());
    assert_eq!(count.json()["rows"][0]["n"], 2_000_000, "{}", count.text());
    let peak = peak_rss_mib(&server);
    eprintln!("reading 2 million dead letters: peak RSS {rss_before} -> {peak} MiB");
    // Loaded whole, the summaries alone took ~400 MiB.
    assert!(peak < rss_before + 150, "peak RSS {peak} MiB");

    // The seeded day already exceeds the budget: a body with a broken line is refused whole
    // until tomorrow; clean bodies still land.
    let good =
        r#"198.51.100.7 - alice [02/Mar/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8""#;
    let broken = format!("not a log line\n{good}\n");
    let refused = server.post("/api/v1/ingest/nginx", &[], broken.as_bytes());
    assert_json_error(&refused, 429, "a broken body past the budget");
    assert_eq!(refused.json()["code"], "dead_letter_budget_spent");
    assert!(refused.header("retry-after").is_some());
    let clean = server.post("/api/v1/ingest/nginx", &[], format!("{good}\n").as_bytes());
    assert_eq!(clean.status, 200, "{}", clean.text());
    let rows = server.post(
        "/api/v1/query",
        &[],
        b"SELECT count(*) AS n FROM http_activity",
    );
    assert_eq!(rows.json()["rows"][0]["n"], 1, "{}", rows.text());
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains("ztlens_ingest_requests_refused_dead_letter_budget_total 1"));
    let stored = server.post(
        "/api/v1/query",
        &[],
        b"SELECT count(*) AS n FROM dead_letters WHERE origin LIKE 'http:%'",
    );
    assert_eq!(stored.json()["rows"][0]["n"], 0, "{}", stored.text());
    assert_alive(&server, "reading two million dead letters");
}

/// A query that reaches `query.timeout_secs` while its client waits is answered 503
/// `query_timeout` and stops: the CPU is quiet within 5 s and its slot is free again. The
/// nested-loop join that never matches once ran on for minutes past its timeout.
#[test]
fn a_query_past_its_timeout_stops() {
    let (_dir, server) = serve_empty(&[
        ("ZTLENS_SERVER__MAINTENANCE_INTERVAL_SECS", "0"),
        ("ZTLENS_QUERY__TIMEOUT_SECS", "2"),
        ("ZTLENS_QUERY__MAX_CONCURRENT", "1"),
    ]);
    let no_match = no_match_join();
    let started = Instant::now();
    let r = server.post("/api/v1/query", &[], no_match.as_bytes());
    assert_json_error(&r, 503, "a query past its timeout");
    assert_eq!(r.json()["code"], "query_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_quiet_within_5_s(&server, "the timeout");
    // The one slot is free.
    let ok = server.post("/api/v1/query", &[], b"SELECT 1 AS one");
    assert_eq!(ok.status, 200, "{}", ok.text());
}
