//! Abuse of a real `ztlens serve`, one case per way it was once broken: each request gets a
//! clear JSON error and the server keeps serving (`/healthz` answers right after).

mod support;

use std::time::{Duration, Instant};

use support::*;

fn server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = ztlens();
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("lake"))
        .args(["--listen", "127.0.0.1:0"])
        .env("ZTLENS_METRICS__KPI_REFRESH_SECS", "0");
    let server = Server::start(cmd);
    (dir, server)
}

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
    let (_dir, server) = server();
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
