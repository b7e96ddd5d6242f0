//! API tokens and origin rules on a real `ztlens serve`: every route × no token, a bad token, a
//! token without the route's scope and one with it; the `Host` allow-list against DNS
//! rebinding; cross-site POSTs; and no open API beyond loopback.

mod support;

use std::time::Duration;

use support::*;

/// `ztlens token` output: (token, sha256).
fn make_token(scope: &str) -> (String, String) {
    let out = run_ok(ztlens().args(["token", "--scope", scope, "--name", scope]));
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("a token line")
        .to_string();
    let hash = out
        .lines()
        .find_map(|l| l.strip_prefix("sha256 = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a sha256 line")
        .to_string();
    (token, hash)
}

const OKTA: &str = r#"{"uuid":"a-1","published":"2026-03-02T08:00:00.000Z","eventType":"user.session.start","actor":{"id":"00u1","type":"User","alternateId":"a@corp.example"},"outcome":{"result":"SUCCESS"}}"#;

#[test]
fn every_route_needs_a_token_with_its_scope() {
    let (read, read_hash) = make_token("read");
    let (ingest, ingest_hash) = make_token("ingest");
    let (admin, admin_hash) = make_token("admin");
    let tokens = format!(
        r#"[{{name = "r", scopes = ["read"], sha256 = "{read_hash}"}}, {{name = "i", scopes = ["ingest"], sha256 = "{ingest_hash}"}}, {{name = "a", scopes = ["admin"], sha256 = "{admin_hash}"}}]"#
    );
    let (_dir, server) = serve_empty(&[("ZTLENS_SERVER__TOKENS", &tokens)]);
    let bearer = |t: &str| format!("Bearer {t}");
    // (method, path, body, the token with the route's scope, one without it)
    let routes: &[(&str, &str, &[u8], &str, &str)] = &[
        ("GET", "/api/v1/kpis", b"", &read, &ingest),
        ("GET", "/api/v1/kpis/access_decisions", b"", &read, &ingest),
        (
            "GET",
            "/api/v1/kpis/access_decisions/evidence",
            b"",
            &read,
            &ingest,
        ),
        ("GET", "/api/v1/maturity", b"", &read, &ingest),
        ("GET", "/api/v1/status", b"", &read, &ingest),
        ("GET", "/metrics", b"", &read, &ingest),
        ("POST", "/api/v1/query", b"SELECT 1", &read, &ingest),
        (
            "POST",
            "/api/v1/ingest/okta",
            OKTA.as_bytes(),
            &ingest,
            &read,
        ),
    ];
    for (method, path, body, right, wrong) in routes {
        let call = |token: Option<&str>| {
            let auth = token.map(bearer);
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| vec![("Authorization", a)])
                .unwrap_or_default();
            request(&server.address, method, path, &headers, body)
        };
        let none = call(None);
        assert_eq!(none.status, 401, "{method} {path} without a token");
        assert_eq!(none.json()["code"], "unauthenticated");
        assert_eq!(none.header("www-authenticate"), Some("Bearer"));
        let bad = call(Some("ztl_0000"));
        assert_eq!(bad.status, 401, "{method} {path} with a bad token");
        assert!(!bad.text().contains("ztl_0000"), "the token is echoed");
        let forbidden = call(Some(wrong));
        assert_eq!(forbidden.status, 403, "{method} {path} out of scope");
        assert_eq!(forbidden.json()["code"], "forbidden");
        for token in [*right, admin.as_str()] {
            let ok = call(Some(token));
            assert_eq!(ok.status, 200, "{method} {path}: {}", ok.text());
        }
    }
    // Probes answer anyone; an unknown path tells nothing without a token.
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.get("/readyz").status, 200);
    assert_eq!(server.get("/api/v1/secrets").status, 401);
    // The token never reaches the log.
    assert!(!server.log().contains(&read) && !server.log().contains(&admin));
    // `ztlens status` carries a token.
    let shown = run_ok(
        ztlens()
            .args(["status", "--url", &server.address])
            .env("ZTLENS_TOKEN", &read),
    );
    assert!(shown.contains("kafka: disabled"), "{shown}");
}

#[test]
fn foreign_hosts_and_cross_site_posts_are_refused() {
    let (_dir, server) = serve_empty(&[]);
    let port = server.address.rsplit_once(':').unwrap().1.to_string();
    // DNS rebinding: a page on attacker.example whose name now resolves to 127.0.0.1.
    let rebound = format!("attacker.example:{port}");
    let r = request(
        &server.address,
        "GET",
        "/api/v1/kpis",
        &[("Host", &rebound)],
        b"",
    );
    assert_eq!(r.status, 421, "{}", r.text());
    for host in [format!("localhost:{port}"), server.address.clone()] {
        let r = request(
            &server.address,
            "GET",
            "/api/v1/kpis",
            &[("Host", &host)],
            b"",
        );
        assert_eq!(r.status, 200, "{host}");
    }
    // A web page posting text/plain triggers no CORS preflight; its Origin gives it away.
    for headers in [
        vec![("Origin", "https://attacker.example")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ] {
        for path in ["/api/v1/query", "/api/v1/ingest/okta"] {
            let r = server.post(path, &headers, OKTA.as_bytes());
            assert_eq!(r.status, 403, "{path} {headers:?}: {}", r.text());
            assert_eq!(r.json()["code"], "cross_origin");
        }
    }
    let own = format!("http://{}", server.address);
    let r = server.post("/api/v1/query", &[("Origin", &own)], b"SELECT 1");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn an_open_api_does_not_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(ztlens()
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("lake"))
        .args(["--listen", "0.0.0.0:0"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without API tokens"), "{stderr}");
}

/// Each token has its own request budget (`server.rate_limit_per_second`, burst
/// `server.rate_limit_burst`): past it the answer is 429 with `Retry-After`. The bucket is the
/// token's, so a client that forges `X-Forwarded-For` on every request gets no fresh budget,
/// another token is unaffected, a token's own `rate_limit_per_second = 0` lifts the limit, and
/// the health probes answer regardless.
#[test]
fn each_token_is_rate_limited_and_forged_forwarding_headers_do_not_reset_it() {
    let (grafana, grafana_hash) = make_token("read");
    let (other, other_hash) = make_token("read");
    let (collector, collector_hash) = make_token("ingest");
    let tokens = format!(
        r#"[{{name = "grafana", scopes = ["read"], sha256 = "{grafana_hash}"}}, {{name = "other", scopes = ["read"], sha256 = "{other_hash}"}}, {{name = "collector", scopes = ["ingest"], sha256 = "{collector_hash}", rate_limit_per_second = 0}}]"#
    );
    let (_dir, server) = serve_empty(&[
        ("ZTLENS_SERVER__TOKENS", &tokens),
        // A burst of 5, then one a second: the requests below take well under a second.
        ("ZTLENS_SERVER__RATE_LIMIT_PER_SECOND", "1"),
        ("ZTLENS_SERVER__RATE_LIMIT_BURST", "5"),
    ]);
    let call = |token: &str, forwarded: usize| {
        let auth = format!("Bearer {token}");
        let ip = format!("203.0.113.{forwarded}");
        request(
            &server.address,
            "GET",
            "/api/v1/kpis",
            &[
                ("Authorization", auth.as_str()),
                ("X-Forwarded-For", ip.as_str()),
                ("X-Real-IP", ip.as_str()),
            ],
            b"",
        )
    };
    let statuses: Vec<u16> = (0..12).map(|i| call(&grafana, i).status).collect();
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    // Five from the burst, at most one or two refilled while the requests ran.
    assert!((5..=7).contains(&allowed), "{statuses:?}");
    let refused = call(&grafana, 99);
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.json()["code"], "rate_limited");
    assert!(refused.header("retry-after").is_some());
    assert_eq!(
        call(&other, 1).status,
        200,
        "another token has its own budget"
    );
    for _ in 0..20 {
        let r = request(
            &server.address,
            "POST",
            "/api/v1/ingest/okta",
            &[("Authorization", &format!("Bearer {collector}"))],
            OKTA.as_bytes(),
        );
        assert_eq!(r.status, 200, "an unlimited token: {}", r.text());
    }
    assert_eq!(server.get("/healthz").status, 200);
    let metrics = request(
        &server.address,
        "GET",
        "/metrics",
        &[("Authorization", &format!("Bearer {other}"))],
        b"",
    )
    .text();
    assert!(
        metrics.contains("ztlens_http_requests_rate_limited_total{token=\"grafana\"}"),
        "{metrics}"
    );
}

/// One HTTPS request with rustls, trusting `roots`; returns the response head and the
/// certificate the server presented.
fn https_get(address: &str, roots: &[&str], path: &str) -> Result<(String, Vec<u8>), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::io::{Read, Write};
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        let cert = CertificateDer::from_pem_file(fixture(root)).unwrap();
        store.add(cert).unwrap();
    }
    #[allow(deprecated)] // the server's provider too; see src/tls.rs
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    let connection = rustls::ClientConnection::new(
        std::sync::Arc::new(config),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let tcp = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    // A server may close without close_notify after the response; what was read counts.
    let _ = tls.read_to_end(&mut response);
    let presented = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .ok_or("no certificate")?;
    Ok((String::from_utf8_lossy(&response).into_owned(), presented))
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn der(name: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(fixture(name))
        .unwrap()
        .to_vec()
}

/// `[server.tls]`: the API speaks HTTPS only, and a renewed certificate is served without a
/// restart; a renewal caught half-written keeps the previous certificate.
#[test]
fn https_with_a_certificate_reloaded_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(fixture("first-cert.pem"), &cert).unwrap();
    std::fs::copy(fixture("first-key.pem"), &key).unwrap();
    let tls = format!(
        "{{cert_file = {:?}, key_file = {:?}, reload_interval_secs = 1}}",
        cert.display().to_string(),
        key.display().to_string()
    );
    let (_lake, server) = serve_empty(&[("ZTLENS_SERVER__TLS", &tls)]);
    assert!(
        server.log().contains("listening on https://"),
        "{}",
        server.log()
    );
    let (head, presented) =
        https_get(&server.address, &["first-cert.pem"], "/healthz").expect("HTTPS works");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(presented, der("first-cert.pem"));
    // Plain HTTP gets no answer.
    let plain = try_request(&server.address, "GET", "/healthz", &[], b"");
    assert!(
        plain.as_ref().map_or(true, |r| r.status != 200),
        "plain HTTP was served"
    );
    // A certificate the client does not trust fails the handshake.
    assert!(https_get(&server.address, &["second-cert.pem"], "/healthz").is_err());

    // Renewal: the key, then the certificate.
    std::fs::copy(fixture("second-key.pem"), &key).unwrap();
    std::fs::copy(fixture("second-cert.pem"), &cert).unwrap();
    let both = ["first-cert.pem", "second-cert.pem"];
    let renewed = eventually(std::time::Duration::from_secs(15), || {
        https_get(&server.address, &both, "/healthz")
            .ok()
            .filter(|(_, presented)| *presented == der("second-cert.pem"))
    });
    assert!(
        renewed.is_some(),
        "the renewed certificate was not served:\n{}",
        server.log()
    );

    // A broken renewal keeps the certificate being served.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\ntruncated").unwrap();
    let warned = eventually(std::time::Duration::from_secs(15), || {
        server.log().contains("reload failed").then_some(())
    });
    assert!(warned.is_some(), "{}", server.log());
    let (head, presented) = https_get(&server.address, &both, "/healthz").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(presented, der("second-cert.pem"));
}

/// A certificate that does not load stops `serve` at start-up with a clear error.
#[test]
fn a_broken_tls_certificate_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let tls = format!(
        "{{cert_file = {:?}, key_file = {:?}}}",
        fixture("first-cert.pem").display().to_string(),
        fixture("second-key.pem").display().to_string()
    );
    let out = run(&mut serve_cmd(
        &dir.path().join("lake"),
        &[("ZTLENS_SERVER__TLS", &tls)],
    ));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS certificate") && stderr.contains("key"),
        "{stderr}"
    );
}

/// A browser app on a listed origin gets CORS: its preflight is answered before any token
/// check, its answers (errors too) carry `Access-Control-Allow-Origin`, and it may POST;
/// another origin gets no CORS headers and no POST.
#[test]
fn listed_origins_get_cors_and_others_do_not() {
    let app = "https://grafana.example.com";
    let (_dir, server) =
        serve_empty(&[("ZTLENS_SERVER__ALLOWED_ORIGINS", &format!("[\"{app}/\"]"))]);
    let preflight = |origin: &str| {
        request(
            &server.address,
            "OPTIONS",
            "/api/v1/query",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
            b"",
        )
    };
    let r = preflight(app);
    assert!(r.status < 300, "{} {}", r.status, r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    let methods = r
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = r
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    let r = preflight("https://attacker.example");
    assert_eq!(r.header("access-control-allow-origin"), None);

    let cross_site = [("Origin", app), ("Sec-Fetch-Site", "cross-site")];
    let r = server.post("/api/v1/query", &cross_site, b"SELECT 1 AS one");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    let r = server.post("/api/v1/query", &cross_site, b"DROP TABLE authentication");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    let r = server.post(
        "/api/v1/query",
        &[
            ("Origin", "https://attacker.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        b"SELECT 1",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), None);

    // What is not an origin is refused at start.
    let out = ztlens()
        .arg("config")
        .env(
            "ZTLENS_SERVER__ALLOWED_ORIGINS",
            "[\"grafana.example.com/path\"]",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not an origin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run `psql` (Debian's postgresql-client) with a password; (succeeded, stdout, stderr).
fn psql(port: &str, password: &str, sql: &str) -> (bool, String, String) {
    let out = std::process::Command::new("psql")
        .arg(format!("postgresql://grafana@127.0.0.1:{port}/ztlens"))
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "|",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap_or_else(|e| {
            panic!("psql cannot run ({e}); `./scripts/test --deps-only` installs it")
        });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lake over the PostgreSQL wire protocol, as psql and psycopg (PyPI) see it: the password
/// is an API token with the read scope, Grafana's catalog queries list the tables and columns,
/// a KPI is callable as SQL and equals the API's answer, and every write statement is refused.
#[test]
fn postgresql_clients_use_tokens_read_the_lake_and_cannot_write() {
    let (read, read_hash) = make_token("read");
    let (ingest, ingest_hash) = make_token("ingest");
    let tokens = format!(
        r#"[{{name = "r", scopes = ["read"], sha256 = "{read_hash}"}}, {{name = "i", scopes = ["ingest"], sha256 = "{ingest_hash}"}}]"#
    );
    let (_dir, server) = serve_empty(&[
        ("ZTLENS_SERVER__TOKENS", &tokens),
        ("ZTLENS_PGWIRE__LISTEN", "127.0.0.1:0"),
    ]);
    let events: String = (0..30)
        .map(|i| {
            OKTA.replace("\"a-1\"", &format!("\"pg-{i}\""))
                .replace("SUCCESS", if i % 3 == 0 { "FAILURE" } else { "SUCCESS" })
                + "\n"
        })
        .collect();
    let r = server.post(
        "/api/v1/ingest/okta",
        &[("Authorization", &format!("Bearer {ingest}"))],
        events.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let port = server.pgwire_port();

    // Regression: a client could make the server buffer a 1 GiB message before logging in.
    // A message past the limit now closes the connection at its header.
    {
        use std::io::{Read, Write};
        let mut raw = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut startup = Vec::new();
        startup.extend_from_slice(&196_608u32.to_be_bytes());
        startup.extend_from_slice(b"user\0app\0database\0ztlens\0\0");
        let mut packet = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
        packet.extend(startup);
        raw.write_all(&packet).unwrap();
        let mut asked = [0u8; 9];
        raw.read_exact(&mut asked).unwrap();
        assert_eq!(asked[0], b'R', "the server asks for the password");
        raw.write_all(&[b'Q', 0x3f, 0xff, 0xff, 0xfd]).unwrap();
        let sent = (0..64).try_for_each(|_| raw.write_all(&[b'x'; 1 << 20]));
        let mut rest = Vec::new();
        // Closed: the writes fail, or the read ends (not times out).
        let closed = sent.is_err() || raw.read_to_end(&mut rest).is_ok();
        assert!(
            closed,
            "the connection stays open after a 1 GiB message header"
        );
    }
    // Tokens: a wrong one, and one without the read scope, cannot connect.
    for password in ["not-a-token", ingest.as_str()] {
        let (ok, _, err) = psql(&port, password, "SELECT 1");
        assert!(
            !ok && err
                .to_lowercase()
                .contains("password authentication failed"),
            "{password}: {err}"
        );
    }
    let (ok, out, err) = psql(&port, &read, "SELECT count(*) FROM authentication");
    assert!(ok, "{err}");
    assert_eq!(out, "30");

    // Grafana's editor: the version probe, the table list and a table's columns.
    let (ok, out, err) = psql(
        &port,
        &read,
        "SELECT current_setting('server_version_num')::int/100 as version",
    );
    assert!(ok && out == "1600", "{out} {err}");
    let (ok, out, err) = psql(
        &port,
        &read,
        r#"SELECT CASE WHEN quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s) THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table" FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN ('information_schema','pg_catalog') ORDER BY 1"#,
    );
    assert!(ok, "{err}");
    let tables: Vec<&str> = out.lines().collect();
    assert!(
        tables.contains(&"authentication") && tables.contains(&"network_activity"),
        "{tables:?}"
    );
    let (ok, out, err) = psql(
        &port,
        &read,
        r#"SELECT quote_ident(column_name) AS "column", data_type AS "type" FROM information_schema.columns WHERE quote_ident(table_name) = 'authentication'"#,
    );
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l == "time|timestamp with time zone")
            && out.lines().any(|l| l == "zt_decision|text"),
        "{out}"
    );

    // A KPI as SQL equals the API's KPI.
    let (ok, out, err) = psql(
        &port,
        &read,
        "SELECT * FROM ztlens_kpi('access_decisions', '2026-03-01', '2026-03-04')",
    );
    assert!(ok, "{err}");
    let api = server
        .get_with(
            "/api/v1/kpis/access_decisions?from=2026-03-01&to=2026-03-04",
            &[("Authorization", &format!("Bearer {read}"))],
        )
        .json();
    let columns: Vec<&str> = api["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let events_at = columns.iter().position(|c| *c == "events").unwrap();
    let sql_events: f64 = out
        .lines()
        .map(|l| l.split('|').nth(events_at).unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(Some(sql_events), api["value"]["events"].as_f64(), "{out}");
    assert_eq!(sql_events, 30.0);

    // Nothing writes.
    for statement in [
        "INSERT INTO authentication (status_code) VALUES ('x')",
        "UPDATE authentication SET status_code = 'x'",
        "DELETE FROM authentication",
        "CREATE TABLE x (a int)",
        "DROP TABLE authentication",
        "COPY authentication TO '/tmp/out.csv'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
    ] {
        let (ok, _, err) = psql(&port, &read, statement);
        assert!(!ok && err.contains("ERROR"), "{statement}: {err}");
    }

    // psycopg (PyPI), as a Python program would use it: a transaction around reads, an
    // error for a write, and the connection still usable after rolling back.
    let script = format!(
        r#"
import json, psycopg
with psycopg.connect(host="127.0.0.1", port={port}, user="app", password="{read}", dbname="ztlens") as conn:
    out = {{}}
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM authentication")
        out["n"] = cur.fetchone()[0]
        cur.execute("SELECT table_name FROM information_schema.tables")
        out["tables"] = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT * FROM ztlens_kpi('access_decisions', '2026-03-01', '2026-03-04')")
        names = [d.name for d in cur.description]
        out["kpi_events"] = sum(r[names.index("events")] for r in cur.fetchall())
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM authentication")
        out["write"] = "allowed"
    except psycopg.Error as e:
        out["write"] = "refused: " + str(e).splitlines()[0]
        conn.rollback()
    with conn.cursor() as cur:
        cur.execute("SELECT max(time) FROM authentication")
        out["max_time"] = cur.fetchone()[0].isoformat()
    print(json.dumps(out))
"#
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "psycopg ({}; `./scripts/test` installs it):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["n"], 30, "{result}");
    assert!(
        result["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "authentication"),
        "{result}"
    );
    assert_eq!(result["kpi_events"].as_f64(), Some(30.0), "{result}");
    assert!(
        result["write"].as_str().unwrap().starts_with("refused"),
        "{result}"
    );
    assert_eq!(result["max_time"], "2026-03-02T08:00:00+00:00", "{result}");
}

/// With `[server.tls]` the PostgreSQL listener offers TLS with the same certificate: psql
/// negotiates it (`sslmode=require`) and reads through it.
#[test]
fn postgresql_clients_can_use_tls() {
    let tls = format!(
        "{{cert_file = {:?}, key_file = {:?}}}",
        fixture("first-cert.pem").display().to_string(),
        fixture("first-key.pem").display().to_string()
    );
    let (_dir, server) = serve_empty(&[
        ("ZTLENS_SERVER__TLS", &tls),
        ("ZTLENS_PGWIRE__LISTEN", "127.0.0.1:0"),
    ]);
    let port = server.pgwire_port();
    let out = std::process::Command::new("psql")
        .arg(format!(
            "postgresql://app@127.0.0.1:{port}/ztlens?sslmode=require"
        ))
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "\\conninfo",
            "-c",
            "SELECT count(*) FROM authentication",
        ])
        .env("PGPASSWORD", "open")
        .output()
        .expect("psql runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("SSL connection"), "{text}");
    assert!(text.lines().any(|l| l.trim() == "0"), "{text}");
    // With TLS configured, a token never crosses the network in the clear.
    let out = std::process::Command::new("psql")
        .arg(format!(
            "postgresql://app@127.0.0.1:{port}/ztlens?sslmode=disable"
        ))
        .args(["-X", "-c", "SELECT 1"])
        .env("PGPASSWORD", "open")
        .output()
        .expect("psql runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("requires TLS"),
        "{err}"
    );
}
