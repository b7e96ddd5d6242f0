//! The Kubernetes cluster: the web front end calls the payments namespace's checkout API
//! through the Linkerd mesh, a legacy batch job outside the mesh calls it in plaintext,
//! Cilium network policies refuse what the namespaces may not reach (as Hubble reports it),
//! developers and controllers use the API server (its audit log), OPA authorizes the ledger's
//! API and Gatekeeper audits constraint violations.
//!
//! The namespaces are segments of the site (`web`, `payments`, `legacy`), so a connection a
//! policy drops between two of them is blocked lateral movement.

use crate::synth::Generator;
use crate::synth::company::ADMIN_PORTS;
use crate::synth::writers::k8s::{self, ApiRequest, HubbleEvent, Pod};

/// The checkout API's in-cluster host name (a `[site.apps]` host of the generated site).
pub const CHECKOUT_HOST: &str = "checkout-api.payments.svc.cluster.local";

const FRONTEND: [Pod; 2] = [
    Pod {
        namespace: "web",
        workload: "frontend",
        name: "frontend-7f9b6c5d4-q8r3s",
        ip: "10.244.1.31",
        meshed: true,
    },
    Pod {
        namespace: "web",
        workload: "frontend",
        name: "frontend-7f9b6c5d4-x2k9w",
        ip: "10.244.1.32",
        meshed: true,
    },
];
const BATCH: Pod = Pod {
    namespace: "legacy",
    workload: "batch",
    name: "batch-5d8c7b6a9-h4n2p",
    ip: "10.244.3.57",
    meshed: false,
};
const CHECKOUT: Pod = Pod {
    namespace: "payments",
    workload: "checkout-api",
    name: "checkout-api-6c8d9f7b5-m7p2t",
    ip: "10.244.2.20",
    meshed: true,
};
const LEDGER: Pod = Pod {
    namespace: "payments",
    workload: "ledger",
    name: "ledger-5b7c8d9f6-r3v8k",
    ip: "10.244.2.23",
    meshed: true,
};

/// The resources that violate Gatekeeper's `ns-must-have-owner`-style constraints, reported by
/// every audit run.
const VIOLATIONS: [(&str, &str, &str, &str); 2] = [
    ("ns-must-have-owner", "Namespace", "", "legacy"),
    ("deploy-must-have-owner", "Deployment", "legacy", "batch"),
];

/// The segments of the cluster's namespaces (the generated site's `[[site.segments]]`).
pub const NAMESPACE_SEGMENTS: [&str; 3] = ["web", "payments", "legacy"];

impl Generator {
    /// A unique id from the generator's randomness, in a UUID's layout.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    pub(in crate::synth) fn cluster_traffic(&mut self) {
        let t = self.clock_ms;
        match self.rng.weighted(&[50, 12, 10, 6, 10, 8, 4]) {
            0 => {
                let client = FRONTEND[self.rng.below(2) as usize];
                self.mesh_request(t, client);
            }
            1 => self.mesh_request(t, BATCH),
            2 => {
                // The web tier may not reach the ledger's database port.
                let client = FRONTEND[self.rng.below(2) as usize];
                self.denied_connection(t, client, LEDGER, 5432);
            }
            3 => {
                // The batch job tries SSH into a payments pod: an admin port, refused.
                self.denied_connection(t, BATCH, CHECKOUT, 22);
            }
            4 => self.api_request(t),
            5 => {
                // The ledger's authorizer answers the checkout API.
                let allowed = !self.rng.chance(0.1);
                let id = self.uuid();
                let path = if allowed {
                    "/v1/entries"
                } else {
                    "/v1/entries/export"
                };
                let line = k8s::opa_decision(t, &id, &CHECKOUT, "GET", path, allowed);
                self.emit("opa", line);
            }
            _ => self.gatekeeper_audit(t),
        }
    }

    /// A request to the checkout API: Hubble's policy verdict allows the connection and the
    /// proxy beside the API logs the request, mutually authenticated when the client is meshed.
    fn mesh_request(&mut self, t: i64, client: Pod) {
        self.port_counter += 1;
        let port = self.ephemeral();
        let uuid = self.uuid();
        let flow = k8s::hubble_flow(
            t,
            &uuid,
            (&client, port),
            (&CHECKOUT, 8080),
            HubbleEvent::VerdictAllowed,
        );
        self.emit_once("hubble", flow);
        let (method, path, status) = match self.rng.weighted(&[6, 3, 1]) {
            0 => ("GET", "/v1/cart", 200),
            1 => ("POST", "/v1/orders", 201),
            _ => ("GET", "/v1/cart/unknown", 404),
        };
        let total_ns = 400_000 + self.rng.below(9_000_000);
        let bytes = self.rng.below(4000);
        let line = k8s::linkerd_access(
            t + 3,
            (&client, port),
            CHECKOUT_HOST,
            method,
            path,
            status,
            total_ns,
            bytes,
        );
        let entry = self
            .truth
            .mtls
            .entry(("linkerd".to_string(), "checkout".to_string()))
            .or_default();
        entry[usize::from(!client.meshed)] += 1;
        self.emit("linkerd", line);
    }

    /// A connection a Cilium policy refuses: its policy-verdict event and the drop that
    /// enforced it (one decision, two records).
    fn denied_connection(&mut self, t: i64, client: Pod, server: Pod, port: u16) {
        self.port_counter += 1;
        let src_port = self.ephemeral();
        let (verdict, drop) = (self.uuid(), self.uuid());
        let verdict_line = k8s::hubble_flow(
            t,
            &verdict,
            (&client, src_port),
            (&server, port),
            HubbleEvent::VerdictDenied,
        );
        let drop_line = k8s::hubble_flow(
            t,
            &drop,
            (&client, src_port),
            (&server, port),
            HubbleEvent::PolicyDrop,
        );
        let (s, d) = (client.namespace, server.namespace);
        let admin = ADMIN_PORTS.contains(&port);
        let entry = self
            .truth
            .lateral
            .entry((s.to_string(), d.to_string()))
            .or_default();
        entry[0] += 1;
        if admin {
            entry[1] += 1;
            self.truth
                .lateral_attempts
                .entry((s.to_string(), d.to_string()))
                .or_default()[0] += 1;
            // Both records are lateral admin-port flows the scan view reads.
            for _ in 0..2 {
                self.truth.admin_flows.push(crate::synth::truth::AdminFlow {
                    src: client.ip.to_string(),
                    segment_src: s.to_string(),
                    dst: server.ip.to_string(),
                    time_ms: t,
                    allowed: false,
                });
            }
        }
        self.emit_once("hubble", verdict_line);
        self.emit_once("hubble", drop_line);
    }

    /// A request to the API server: controllers list pods, developers read config maps, and
    /// now and then a developer tries to read secrets (RBAC forbids it) or to create a pod
    /// Gatekeeper's admission refuses.
    fn api_request(&mut self, t: i64) {
        let developers = ["dev-ana@corp.example", "dev-raj@corp.example"];
        let developer = developers[self.rng.below(2) as usize];
        let request = match self.rng.weighted(&[5, 3, 1, 1]) {
            0 => ApiRequest {
                user: "system:serviceaccount:payments:checkout-api",
                verb: "list",
                resource: "pods",
                namespace: "payments",
                code: 200,
                denied_by_constraint: None,
            },
            1 => ApiRequest {
                user: developer,
                verb: "get",
                resource: "configmaps",
                namespace: "web",
                code: 200,
                denied_by_constraint: None,
            },
            2 => ApiRequest {
                user: developer,
                verb: "list",
                resource: "secrets",
                namespace: "payments",
                code: 403,
                denied_by_constraint: None,
            },
            _ => ApiRequest {
                user: developer,
                verb: "create",
                resource: "pods",
                namespace: "legacy",
                code: 403,
                denied_by_constraint: Some("containers-must-not-run-as-root"),
            },
        };
        if request.resource == "secrets" && request.code == 403 {
            // A refused read of secrets: a high-privilege access failure.
            *self
                .truth
                .high_priv
                .entry(("k8s_audit".into(), "k8s:secrets".into()))
                .or_default() += 1;
        }
        let id = self.uuid();
        let line = k8s::audit_event(t, &id, "10.10.1.44", &request);
        self.emit("k8s_audit", line);
    }

    /// One Gatekeeper audit run: every resource that violates a constraint, again. Violations
    /// are posture findings, not alerts: no response KPI counts them.
    fn gatekeeper_audit(&mut self, t: i64) {
        let audit_id = k8s::nanos(t, 0);
        for (constraint, kind, namespace, name) in VIOLATIONS {
            let line = k8s::gatekeeper_violation(t, &audit_id, constraint, (kind, namespace, name));
            self.emit_once("k8s_policy", line);
        }
    }
}
