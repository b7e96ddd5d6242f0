//! API tokens and origin rules on a real `ztlens serve`: every route × no token, a bad token, a
//! token without the route's scope and one with it; the `Host` allow-list against DNS
//! rebinding; cross-site POSTs; and no open API beyond loopback.

mod support;

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
