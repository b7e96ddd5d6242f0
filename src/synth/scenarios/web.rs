//! Web scenarios: people's requests to the internal portal and an attacker probing its admin
//! paths. The portal sits behind three front ends (nginx, an Envoy mesh and an AWS ALB), each
//! showing a different share of who was let in.

use crate::synth::Generator;
use crate::synth::company::{ATTACK_ORIGINS, PRIVILEGED_PATHS};
use crate::synth::writers::{Hit, account_name, alb, body_bytes, envoy, nginx, user_agent};

/// The sensitive site application a request path belongs to, by the generator's own path table
/// of the `[site.apps]` it writes (a prefix is a whole path segment: /administrator is not
/// /admin).
fn sensitive_web_app(path: &str) -> Option<&'static str> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    };
    if under("/payroll") {
        Some("payroll")
    } else if under("/admin") || under("/api/admin") {
        Some("admin")
    } else {
        None
    }
}

impl Generator {
    /// One request to the portal, through one of its front ends.
    fn access(&mut self, t: i64, hit: Hit<'_>) {
        match self.rng.weighted(&[60, 20, 20]) {
            1 => return self.envoy(t, hit),
            2 => return self.alb(t, hit),
            _ => {}
        }
        let mut bytes = body_bytes(&mut self.rng, hit.status);
        let mut line;
        loop {
            line = nginx::line(t, &hit, bytes);
            if self.nginx_seen.is_new(t.div_euclid(1000), &line) {
                break;
            }
            bytes += 1;
        }
        self.privileged_failure("nginx", hit.path, hit.status);
        if let Some(app) = sensitive_web_app(hit.path) {
            match hit.user {
                // nginx logs the second: the request's time as the parser reads it.
                Some(user) => self.truth.named_requests.push((
                    user.to_lowercase(),
                    app,
                    "nginx",
                    t.div_euclid(1000) * 1000,
                )),
                None => {
                    self.truth
                        .coverage
                        .entry((app.into(), "nginx".into()))
                        .or_default()[2] += 1
                }
            }
        }
        self.emit("nginx", line);
    }

    /// Count a web request on a privileged prefix answered 401/403, for `source`.
    fn privileged_failure(&mut self, source: &str, path: &str, status: u16) {
        let privileged = PRIVILEGED_PATHS.iter().find(|p| {
            path == **p || path.starts_with(&format!("{p}/")) || path.starts_with(&format!("{p}?"))
        });
        if let Some(prefix) = privileged
            && (status == 401 || status == 403)
        {
            *self
                .truth
                .high_priv
                .entry((source.into(), prefix.to_string()))
                .or_default() += 1;
        }
    }

    /// The request through the Envoy mesh.
    fn envoy(&mut self, t: i64, hit: Hit<'_>) {
        let line = envoy::line(&mut self.rng, t, &hit);
        self.privileged_failure("envoy", hit.path, hit.status);
        if let Some(app) = sensitive_web_app(hit.path) {
            // UAEX: the external authorizer decided (and refused); otherwise the default
            // format names no user and no gate: unknown.
            let index = if envoy::authorizer_refused(hit.status) {
                0
            } else {
                2
            };
            self.truth
                .coverage
                .entry((app.into(), "envoy".into()))
                .or_default()[index] += 1;
        }
        self.emit("envoy", line);
    }

    /// The request through the ALB; signed-in requests ran its `authenticate` action.
    fn alb(&mut self, t: i64, hit: Hit<'_>) {
        let line = alb::line(&mut self.rng, t, &hit);
        self.privileged_failure("alb", hit.path, hit.status);
        if let Some(app) = sensitive_web_app(hit.path) {
            // The authenticate action ran, or the ALB says it did not.
            self.truth
                .coverage
                .entry((app.into(), "alb".into()))
                .or_default()[usize::from(hit.user.is_none())] += 1;
        }
        self.emit("alb", line);
    }

    pub(in crate::synth) fn web_request(&mut self) {
        let t = self.clock_ms;
        let people = self.company.people.clone();
        let person = self.rng.pick(&people).clone();
        let user = account_name(&person);
        let ua = user_agent(&person);
        let ip = person.internal_ip.clone();
        let (signed_in, method, path, status) = match self.rng.weighted(&[40, 25, 10, 8, 8, 5, 4]) {
            0 => (
                true,
                "GET",
                format!("/wiki/page-{}", self.rng.below(500)),
                200,
            ),
            1 => (
                true,
                "GET",
                format!("/payroll/run?month=2026-{:02}", 1 + self.rng.below(12)),
                200,
            ),
            2 => (true, "GET", "/wiki/missing".to_string(), 404),
            3 => (
                true,
                "GET",
                "/admin/users".to_string(),
                if person.admin { 200 } else { 403 },
            ),
            4 => (false, "GET", "/payroll/export".to_string(), 401),
            5 => (true, "GET", "/static/app.js".to_string(), 304),
            _ => (
                true,
                "POST",
                "/api/admin/tokens".to_string(),
                if person.admin { 201 } else { 403 },
            ),
        };
        let user = signed_in.then_some(user);
        self.access(
            t,
            Hit {
                ip: &ip,
                user,
                method,
                path: &path,
                status,
                ua: &ua,
            },
        );
    }

    pub(in crate::synth) fn admin_probe(&mut self) {
        let origin = ATTACK_ORIGINS[2].clone();
        let ip = self.address_in(&origin);
        let mut t = self.clock_ms;
        for path in [
            "/admin",
            "/admin/login",
            "/api/admin/keys",
            "/api/admin/users",
            "/administrator",
            "/wp-admin",
        ] {
            let (method, status) = match path {
                "/administrator" | "/wp-admin" => ("GET", 404),
                "/admin/login" => ("POST", 401),
                _ => ("GET", 403),
            };
            self.access(
                t,
                Hit {
                    ip: &ip,
                    user: None,
                    method,
                    path,
                    status,
                    ua: "python-requests/2.31.0",
                },
            );
            t += 1000 + self.rng.below(2000) as i64;
        }
    }
}
