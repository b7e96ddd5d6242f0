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
