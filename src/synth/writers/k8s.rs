//! The Kubernetes cluster's logs: Cilium Hubble flow events, Linkerd's inbound proxy access
//! log, the API server's audit log, OPA decision logs of the ledger's authorizer and
//! Gatekeeper's audit of constraint violations — each as its component writes it.

use serde_json::json;

/// A pod of the cluster.
#[derive(Debug, Clone, Copy)]
pub struct Pod {
    pub namespace: &'static str,
    pub workload: &'static str,
    pub name: &'static str,
    pub ip: &'static str,
    /// The pod runs a Linkerd proxy (its identity is its service account).
    pub meshed: bool,
}

/// The cluster's name, as Hubble prefixes node names with it.
const CLUSTER: &str = "prod-eu";

/// RFC 3339 with nanoseconds, as Go components write times.
pub fn nanos(ms: i64, extra_ns: u64) -> String {
    let base = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!(
        "{}.{:03}{:06}Z",
        base.format("%Y-%m-%dT%H:%M:%S"),
        ms.rem_euclid(1000),
        extra_ns % 1_000_000
    )
}

fn endpoint(pod: &Pod) -> serde_json::Value {
    json!({
        "identity": 20000 + (pod.ip.len() as u64) * 7,
        "cluster_name": CLUSTER,
        "namespace": pod.namespace,
        "labels": [
            format!("k8s:app={}", pod.workload),
            format!("k8s:io.kubernetes.pod.namespace={}", pod.namespace),
        ],
        "pod_name": pod.name,
        "workloads": [{"name": pod.workload, "kind": "Deployment"}],
    })
}

/// How Hubble reports a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubbleEvent {
    /// The policy-verdict event of a new connection the policy allowed.
    VerdictAllowed,
    /// The policy-verdict event of a connection the policy denied.
    VerdictDenied,
    /// The datapath drop that enforced a policy denial.
    PolicyDrop,
}

/// One Hubble exporter line for a TCP connection from `src` to `dst`.
pub fn hubble_flow(
    t: i64,
    uuid: &str,
    (src, src_port): (&Pod, u16),
    (dst, dst_port): (&Pod, u16),
    event: HubbleEvent,
) -> String {
    let time = nanos(t, 100 + uuid.len() as u64);
    let node = format!("{CLUSTER}/worker-{}", 1 + dst.ip.len() % 3);
    let mut flow = json!({
        "time": time,
        "uuid": uuid,
        "verdict": if event == HubbleEvent::VerdictAllowed { "FORWARDED" } else { "DROPPED" },
        "IP": {"source": src.ip, "destination": dst.ip, "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": src_port, "destination_port": dst_port, "flags": {"SYN": true}}},
        "source": endpoint(src),
        "destination": endpoint(dst),
        "Type": "L3_L4",
        "node_name": node,
        "event_type": {"type": if event == HubbleEvent::PolicyDrop { 1 } else { 5 }},
        "traffic_direction": "INGRESS",
        "is_reply": false,
        "Summary": "TCP Flags: SYN",
    });
    match event {
        HubbleEvent::VerdictAllowed => {
            flow["ingress_allowed_by"] =
                json!([{"name": format!("allow-{}", src.workload), "namespace": dst.namespace}]);
        }
        HubbleEvent::VerdictDenied => {
            flow["ingress_denied_by"] =
                json!([{"name": "default-deny-ingress", "namespace": dst.namespace}]);
        }
        HubbleEvent::PolicyDrop => {
            flow["drop_reason"] = json!(133);
            flow["drop_reason_desc"] = json!("POLICY_DENIED");
        }
    }
    json!({"flow": flow, "node_name": node, "time": time}).to_string()
}

/// The linkerd-proxy beside `dst` logging a request it served (the JSON access-log layout).
/// A meshed client presents its identity; an unmeshed one connects in plaintext.
#[allow(clippy::too_many_arguments)]
pub fn linkerd_access(
    t: i64,
    (src, src_port): (&Pod, u16),
    host: &str,
    method: &str,
    path: &str,
    status: u16,
    total_ns: u64,
    response_bytes: u64,
) -> String {
    let identity = if src.meshed {
        format!(
            "{}.{}.serviceaccount.identity.linkerd.cluster.local",
            src.workload, src.namespace
        )
    } else {
        "-".to_string()
    };
    json!({
        "client.addr": format!("{}:{src_port}", src.ip),
        "client.id": identity,
        "host": format!("{host}:8080"),
        "method": method,
        "processing_ns": (total_ns / 40).to_string(),
        "request_bytes": if method == "GET" { String::new() } else { "187".to_string() },
        "response_bytes": response_bytes.to_string(),
        "status": status,
        "timestamp": nanos(t, total_ns),
        "total_ns": total_ns.to_string(),
        "trace_id": "",
        "uri": format!("http://{host}:8080{path}"),
        "user_agent": format!("{}/2.4", src.workload),
        "version": "HTTP/2.0",
    })
    .to_string()
}

/// What an API request was, and how the API server answered it.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    pub user: &'a str,
    pub verb: &'a str,
    pub resource: &'a str,
    pub namespace: &'a str,
    pub code: u16,
    /// The admission webhook that refused it (Gatekeeper), if one did.
    pub denied_by_constraint: Option<&'a str>,
}

/// The audit event (stage ResponseComplete) of an API request.
pub fn audit_event(t: i64, audit_id: &str, source_ip: &str, req: &ApiRequest<'_>) -> String {
    let uri = format!("/api/v1/namespaces/{}/{}", req.namespace, req.resource);
    let forbidden = req.code == 403 && req.denied_by_constraint.is_none();
    let mut annotations = json!({
        "authorization.k8s.io/decision": if forbidden { "forbid" } else { "allow" },
        "authorization.k8s.io/reason": if forbidden {
            String::new()
        } else {
            format!("RBAC: allowed by RoleBinding \"edit/{}\" of ClusterRole \"edit\" to Group \"developers\"", req.namespace)
        },
    });
    let mut status = json!({"metadata": {}, "code": req.code});
    if let Some(constraint) = req.denied_by_constraint {
        status["status"] = json!("Failure");
        status["reason"] = json!("Forbidden");
        status["message"] = json!(format!(
            "admission webhook \"validation.gatekeeper.sh\" denied the request: [{constraint}] containers must not run as root"
        ));
    } else if forbidden {
        status["status"] = json!("Failure");
        status["reason"] = json!("Forbidden");
        status["message"] = json!(format!(
            "{} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group \"\" in the namespace \"{}\"",
            req.resource, req.user, req.verb, req.resource, req.namespace
        ));
        annotations["authorization.k8s.io/reason"] = json!("");
    }
    let service_account = req.user.starts_with("system:serviceaccount:");
    json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": audit_id,
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": req.verb,
        "user": {
            "username": req.user,
            "groups": if service_account {
                json!(["system:serviceaccounts", "system:authenticated"])
            } else {
                json!(["developers", "system:authenticated"])
            },
        },
        "sourceIPs": [source_ip],
        "userAgent": if service_account { "kube-controller/1.30" } else { "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350" },
        "objectRef": {"resource": req.resource, "namespace": req.namespace, "apiVersion": "v1"},
        "responseStatus": status,
        "requestReceivedTimestamp": nanos(t, 0),
        "stageTimestamp": nanos(t + 12, 0),
        "annotations": annotations,
    })
    .to_string()
}

/// An OPA decision-log event of the ledger's HTTP authorizer (`httpapi/authz/allow`).
pub fn opa_decision(
    t: i64,
    decision_id: &str,
    client: &Pod,
    method: &str,
    path: &str,
    allowed: bool,
) -> String {
    json!({
        "decision_id": decision_id,
        "labels": {"id": "8a1c2b3d-opa-ledger", "version": "0.66.0"},
        "path": "httpapi/authz/allow",
        "input": {
            "method": method,
            "path": path,
            "user": format!("{}.{}", client.workload, client.namespace),
        },
        "result": allowed,
        "timestamp": nanos(t, 7),
        "metrics": {"timer_rego_query_eval_ns": 41230},
    })
    .to_string()
}

/// One line of Gatekeeper's audit: a resource that violates a constraint.
pub fn gatekeeper_violation(
    t: i64,
    audit_id: &str,
    constraint: &str,
    (kind, namespace, name): (&str, &str, &str),
) -> String {
    json!({
        "level": "info",
        "ts": t as f64 / 1000.0,
        "logger": "controller",
        "msg": "you must provide labels: {\"owner\"}",
        "process": "audit",
        "audit_id": audit_id,
        "event_type": "violation_audited",
        "constraint_group": "constraints.gatekeeper.sh",
        "constraint_api_version": "v1beta1",
        "constraint_kind": "K8sRequiredLabels",
        "constraint_name": constraint,
        "constraint_namespace": "",
        "constraint_action": "deny",
        "resource_group": "",
        "resource_api_version": "v1",
        "resource_kind": kind,
        "resource_namespace": namespace,
        "resource_name": name,
    })
    .to_string()
}
