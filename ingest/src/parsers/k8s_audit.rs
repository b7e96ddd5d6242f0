//! Kubernetes API server audit events → `http_activity` (one row per request),
//! `account_change` (role bindings written) and `base_event` (a request's earlier stages).
//!
//! Input: `audit.k8s.io/v1` (or `v1beta1`) `Event`s, one JSON object per line as the log backend
//! writes them (`--audit-log-path`), or the webhook backend's `EventList` batches, whose `items`
//! are streamed one by one.
//!
//! | event | table | mapping |
//! |---|---|---|
//! | stage `ResponseComplete` or `Panic` | http_activity | `verb` → method (get/list/watch GET, create POST, update PUT, patch PATCH, delete/deletecollection DELETE; a non-resource URL's lower-case method upper-cased); `requestURI` → path and query; `sourceIPs[0]` → source (all of them in `http_request_x_forwarded_for` when there are several); `user.username` → `user_name`, and a service account (`system:serviceaccount:<ns>:<name>`) → `zt_client_identity`; `responseStatus.code` → `http_response_code`; `stageTimestamp − requestReceivedTimestamp` → latency |
//! | stage `ResponseStarted` with code 401 | http_activity | a failed authentication: the API server logs it at this stage only |
//! | stage `RequestReceived`, other `ResponseStarted` | base_event | event type = the stage: the request's row comes from its final stage, so it counts once |
//! | a successful create or delete of a `rolebindings` / `clusterrolebindings` (an update or patch names the subjects after it, not the change: only its http_activity row) | account_change, besides the http_activity row | one row per subject: `role_grant` (activity 7 Attach Policy) or `role_revoke` (8 Detach Policy); the subject → user, the caller → actor; High severity for ClusterRole `cluster-admin` or `admin` |
//!
//! The decision (`zt_decision`, `zt_authz_result`, `policy_name`): an admission denial (the
//! `admission webhook "<name>" denied the request` text any webhook engine produces, a
//! PodSecurity violation, a ValidatingAdmissionPolicy denial) → `deny_policy` /
//! `admission_denied`, with the Gatekeeper constraints, Kyverno `policy/rule`s, `PodSecurity
//! <level>` or policy name (else the webhook's); the authorizer's `forbid` (annotation
//! `authorization.k8s.io/decision`, or the RBAC `… is forbidden: User "…" cannot …` text) →
//! `deny_policy` / `authz_denied`; a 401 → `deny_credentials`; an authorizer `allow` →
//! `allow` (even when the request then failed: a 404 or a quota refusal is no access
//! decision), with the RBAC binding that allowed it.
//!
//! Privileged targets: the site's path prefixes first, then bounded labels for what the API
//! server guards: `k8s:secrets`, `k8s:pods/exec` (exec, attach, portforward, ephemeral
//! containers), `k8s:proxy`, `k8s:rbac` (writes to roles and bindings), `k8s:admission` (writes
//! to webhook and admission-policy configurations), `k8s:token` (service-account tokens,
//! certificate approval).
//!
//! Invariants: `metadata_uid` is `auditID` (the same for every stage of a request, so the
//! earlier stages go to `base_event` as `<auditID>:<stage>` and the final one is the only row
//! keyed by it; a content hash when an exporter dropped it); account changes are
//! `<auditID>:<n>`. The request and response bodies of Secrets, token reviews and
//! service-account tokens are never copied (they hold credentials).

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::jv::{self, array_at, get, invalid, missing, parse_object, str_at};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, decision_outcome, ip_text};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{AccountChangeRow, BaseEventRow, Common, HttpActivityRow, TableBuilders};
use crate::site::Site;

/// Kubernetes API server audit events (log backend lines, webhook `EventList`s).
pub static SPEC: VendorSpec = VendorSpec {
    name: "k8s_audit",
    aliases: &["kubernetes_audit", "kube_audit"],
    framing: Framing::Json,
    envelope_keys: &["items"],
    stateful: false,
    sniff: Sniff::Json(looks_like_k8s_audit),
    parser: |site| Box::new(K8sAuditParser::new(site)),
};

/// The k8s_audit format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct K8sAuditParser {
    site: Arc<Site>,
}

impl K8sAuditParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// Whether a JSON record is an audit `Event` or `EventList`: the `audit.k8s.io` API version
/// with the list's kind, or with an event's `auditID` and kind. Checked before every other
/// format: an audited request body can hold any other vendor's record.
pub fn looks_like_k8s_audit(head: &str) -> bool {
    head.contains("\"audit.k8s.io/")
        && (head.contains("\"EventList\"")
            || (head.contains("\"auditID\"") && head.contains("\"Event\"")))
}

/// Longest latency taken as one, in milliseconds (a year: an exec session can last hours).
const MAX_LATENCY_MS: i64 = 366 * 24 * 3_600_000;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The audit stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Stage {
    fn parse(text: &str) -> Option<Stage> {
        Some(match text {
            "RequestReceived" => Stage::RequestReceived,
            "ResponseStarted" => Stage::ResponseStarted,
            "ResponseComplete" => Stage::ResponseComplete,
            "Panic" => Stage::Panic,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
}

/// `objectRef`: what the request acted on (absent for non-resource URLs such as `/healthz`).
#[derive(Debug, Default)]
struct ObjectRef<'v> {
    resource: Option<Cow<'v, str>>,
    subresource: Option<Cow<'v, str>>,
    namespace: Option<Cow<'v, str>>,
    name: Option<Cow<'v, str>>,
    api_group: Option<Cow<'v, str>>,
    uid: Option<Cow<'v, str>>,
}

impl<'v> ObjectRef<'v> {
    fn read(event: &'v Value) -> Self {
        let Some(o) = get(event, "objectRef") else {
            return Self::default();
        };
        Self {
            resource: str_at(o, &["resource"]),
            subresource: str_at(o, &["subresource"]),
            namespace: str_at(o, &["namespace"]),
            name: str_at(o, &["name"]),
            api_group: str_at(o, &["apiGroup"]),
            uid: str_at(o, &["uid"]),
        }
    }

    /// `pods/exec`, `secrets`.
    fn resource_path(&self) -> Option<String> {
        let resource = self.resource.as_deref()?;
        Some(match self.subresource.as_deref() {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_string(),
        })
    }

    /// `payments/priv-nginx`, or the name of a cluster-scoped object.
    fn qualified_name(&self) -> Option<String> {
        let name = self.name.as_deref()?;
        Some(match self.namespace.as_deref() {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        })
    }
}

impl Parser for K8sAuditParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let event = parse_object(record, "a Kubernetes audit")?;
        match str_at(&event, &["kind"]).as_deref() {
            None | Some("Event") => {}
            Some("EventList") => {
                return Err(ParseError::new(
                    ErrorKind::InvalidJson,
                    "an EventList whose items are not an array of events",
                ));
            }
            Some(other) => return Err(invalid("kind", other)),
        }
        let stage_text = str_at(&event, &["stage"]).ok_or_else(|| missing("stage"))?;
        let stage = Stage::parse(&stage_text).ok_or_else(|| invalid("stage", &stage_text))?;
        let verb = str_at(&event, &["verb"]).ok_or_else(|| missing("verb"))?;
        let received = time_field(&event, "requestReceivedTimestamp")?;
        let staged = time_field(&event, "stageTimestamp")?;
        // v1beta1 events also carry the older `timestamp`.
        let time = match received.or(staged) {
            Some(t) => t,
            None => time_field(&event, "timestamp")?
                .ok_or_else(|| missing("requestReceivedTimestamp"))?,
        };
        let code = response_code(&event)?;
        let uid = str_at(&event, &["auditID"])
            .map(Cow::into_owned)
            .unwrap_or_else(|| content_uid("k8s", record));
        let object = ObjectRef::read(&event);
        let target = str_at(&event, &["requestURI"]);
        let path = target
            .as_deref()
            .map(|t| super::tokens::split_target(t).0.to_string());
        let event_code = match object.resource_path() {
            Some(resource) => format!("{verb} {resource}"),
            None => format!("{verb} {}", path.as_deref().unwrap_or("-")),
        };
        let user = str_at(&event, &["user", "username"]);
        let sources = array_at(&event, &["sourceIPs"]);
        let src = sources.first().and_then(jv::as_text).and_then(ip_text);

        let common = Common {
            time: Some(time),
            severity_id: Some(1),
            metadata_event_code: Some(Cow::Owned(event_code)),
            metadata_log_name: Some(Cow::Borrowed("kube-apiserver audit")),
            metadata_product_name: Some(Cow::Borrowed("k8s_audit")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Kubernetes")),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            ..Common::default()
        };

        // A failed authentication is logged at ResponseStarted only; every other request ends
        // at ResponseComplete (or Panic), which holds its outcome.
        let is_final = match stage {
            Stage::ResponseComplete | Stage::Panic => true,
            Stage::ResponseStarted => code == Some(401),
            Stage::RequestReceived => false,
        };
        if !is_final {
            let mut row = BaseEventRow {
                common,
                ..BaseEventRow::default()
            };
            row.common.metadata_uid = Some(Cow::Owned(format!("{uid}:{}", stage.as_str())));
            row.common.metadata_correlation_uid = Some(Cow::Owned(uid));
            row.common.status_id = Some(0);
            row.common.status_code = code.map(|c| Cow::Owned(c.to_string()));
            let own = &mut row.own;
            own.actor_user_uid = str_at(&event, &["user", "uid"]);
            own.actor_user_type_id = user.as_deref().map(user_type_id);
            own.actor_user_name = user;
            own.src_endpoint_ip = src;
            own.zt_target_type = object.resource_path().map(Cow::Owned);
            own.zt_target_uid = object.uid.clone();
            own.zt_target_name = object.qualified_name().map(Cow::Owned);
            out.append_base_event(&mut row, stage.as_str(), record);
            return Ok(1);
        }

        let message = str_at(&event, &["responseStatus", "message"]);
        let annotations = get(&event, "annotations");
        let authz = annotations.and_then(|a| str_at(a, &["authorization.k8s.io/decision"]));
        let authz_reason = annotations.and_then(|a| str_at(a, &["authorization.k8s.io/reason"]));
        let admission = message
            .as_deref()
            .filter(|_| code.is_none_or(|c| c >= 400))
            .and_then(admission_denial);
        let rbac_forbidden = message
            .as_deref()
            .is_some_and(|m| m.contains(" is forbidden: User \"") && m.contains("\" cannot "));
        let (decision, authz_result, policy) = if let Some(denial) = &admission {
            (
                Some("deny_policy"),
                Some("admission_denied"),
                Some(denial.policy_name()),
            )
        } else if authz.as_deref() == Some("forbid")
            || (authz.is_none() && code == Some(403) && rbac_forbidden)
        {
            (Some("deny_policy"), Some("authz_denied"), None)
        } else if code == Some(401) {
            (Some("deny_credentials"), None, None)
        } else if authz.as_deref() == Some("allow") {
            (
                Some("allow"),
                None,
                authz_reason.as_deref().and_then(rbac_binding),
            )
        } else {
            (None, None, None)
        };

        // Observe mode: an admission policy in audit mode names the request it would have
        // refused (a request already denied has its denial instead).
        let would_be_policy = annotations
            .filter(|_| admission.is_none())
            .and_then(audit_mode_violation);

        let mut row = HttpActivityRow {
            common,
            ..HttpActivityRow::default()
        };
        if let Some(policy) = would_be_policy {
            row.own.zt_would_be_decision = Some(Cow::Borrowed("deny_policy"));
            row.own.zt_would_be_policy = Some(Cow::Owned(policy));
        }
        let method = http_method(&verb);
        let (activity_id, activity_name) = super::http_method_activity(&method);
        let h = &mut row.own;
        h.http_request_http_method = Some(Cow::Owned(method));
        if let Some(target) = target.as_deref() {
            let (path, query) = super::tokens::split_target(target);
            h.http_request_url_path = Some(Cow::Owned(path.to_string()));
            h.http_request_url_query_string = query.map(|q| Cow::Owned(q.to_string()));
        }
        h.http_request_user_agent = str_at(&event, &["userAgent"]);
        if sources.len() > 1 {
            let all: Vec<Cow<'_, str>> = sources.iter().filter_map(jv::as_text).collect();
            h.http_request_x_forwarded_for = Some(Cow::Owned(all.join(", ")));
        }
        h.src_endpoint_ip = src.clone();
        h.user_name = user.clone();
        if user
            .as_deref()
            .is_some_and(|u| u.starts_with("system:serviceaccount:"))
        {
            h.zt_client_identity = user.clone();
        }
        h.http_response_code = code;
        if matches!(stage, Stage::ResponseComplete | Stage::Panic)
            && let (Some(start), Some(end)) = (received, staged)
        {
            h.http_response_latency = end
                .checked_sub(start)
                .filter(|ms| (0..=MAX_LATENCY_MS).contains(ms));
        }
        h.zt_decision = decision.map(Cow::Borrowed);
        h.zt_authz_result = authz_result.map(Cow::Borrowed);
        h.policy_name = policy.map(Cow::Owned);
        let (action_id, disposition_id) = match (decision, code) {
            (Some(d), _) => {
                let (action, disposition, _) = decision_outcome(d);
                (Some(action), Some(disposition))
            }
            (None, Some(401)) => (Some(2), Some(26)),
            (None, Some(403)) => (Some(2), Some(2)),
            (None, Some(_)) => (Some(1), Some(1)),
            (None, None) => (None, None),
        };
        h.action_id = action_id;
        h.disposition_id = disposition_id;
        super::tag_http(&mut row.own, &self.site);
        if row.own.zt_privileged_target != Some(true)
            && let Some(label) = privileged_label(&object, &verb)
        {
            row.own.zt_privileged_target = Some(true);
            row.own.zt_privileged_prefix = Some(Cow::Borrowed(label));
        }

        let c = &mut row.common;
        c.activity_id = Some(activity_id);
        c.activity_name = Some(Cow::Borrowed(activity_name));
        c.status_id = Some(match (stage, code) {
            (Stage::Panic, _) => 2,
            (_, Some(n)) if n >= 400 => 2,
            (_, Some(_)) => 1,
            (_, None) => 0,
        });
        c.status_code = code.map(|n| Cow::Owned(n.to_string()));
        c.status_detail = message
            .clone()
            .or_else(|| str_at(&event, &["responseStatus", "reason"]));
        c.metadata_uid = Some(Cow::Owned(uid.clone()));
        c.unmapped = http_unmapped(&event, &object, admission.as_ref()).map(Cow::Owned);

        let succeeded = code.is_some_and(|n| (200..300).contains(&n));
        let changes = if stage == Stage::ResponseComplete && succeeded {
            binding_changes(&event, &object, &verb, &row.common, &uid, src.clone())
        } else {
            Vec::new()
        };
        // All rows built: append them together.
        out.http_activity.append(&mut row);
        let n = changes.len();
        for mut change in changes {
            out.account_change.append(&mut change);
        }
        Ok(1 + n)
    }
}

/// A timestamp member: absent → none; present but not a time → the record is refused.
fn time_field(event: &Value, key: &str) -> Result<Option<i64>, ParseError> {
    match str_at(event, &[key]) {
        None => Ok(None),
        Some(text) => super::parse_timestamp_ms(&text)
            .map(Some)
            .ok_or_else(|| invalid(key, &text)),
    }
}

/// `responseStatus.code`: absent or 0 → none; not an HTTP status → the record is refused.
fn response_code(event: &Value) -> Result<Option<i32>, ParseError> {
    let Some(value) = get(event, "responseStatus").and_then(|s| get(s, "code")) else {
        return Ok(None);
    };
    jv::as_i64(value)
        .and_then(|c| i32::try_from(c).ok())
        .filter(|c| (0..=999).contains(c))
        .map(|c| (c > 0).then_some(c))
        .ok_or_else(|| invalid("responseStatus.code", &value.to_string()))
}

/// The HTTP method of an audited verb: Kubernetes verbs for resources, the lower-cased method
/// for non-resource URLs; any other verb upper-cased (activity Other).
fn http_method(verb: &str) -> String {
    let verb = verb.to_ascii_lowercase();
    match verb.as_str() {
        "get" | "list" | "watch" => "GET".to_string(),
        "create" | "post" => "POST".to_string(),
        "update" | "put" => "PUT".to_string(),
        "patch" => "PATCH".to_string(),
        "delete" | "deletecollection" => "DELETE".to_string(),
        other => other.to_ascii_uppercase(),
    }
}

/// OCSF user type of a Kubernetes user name: 4 Service for service accounts, 3 System for the
/// cluster's own components (`system:node:…`, `system:kube-scheduler` …), else 1 User.
fn user_type_id(name: &str) -> i32 {
    if name.starts_with("system:serviceaccount:") {
        4
    } else if name.starts_with("system:") {
        3
    } else {
        1
    }
}

/// An admission denial read from the response message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Denial {
    /// The webhook's name (`validation.gatekeeper.sh`), or the built-in plugin.
    webhook: String,
    /// Gatekeeper constraints, Kyverno `policy/rule`s, `PodSecurity <level>` or the
    /// ValidatingAdmissionPolicy, as the message names them.
    policies: Vec<String>,
}

impl Denial {
    fn policy_name(&self) -> String {
        if self.policies.is_empty() {
            self.webhook.clone()
        } else {
            self.policies.join(", ")
        }
    }
}

/// The text after the first occurrence of `marker`.
fn after<'t>(text: &'t str, marker: &str) -> Option<&'t str> {
    text.find(marker)
        .and_then(|i| text.get(i.checked_add(marker.len())?..))
}

/// Read an admission denial from `responseStatus.message`. Accepts the current API server's
/// `<resource> "<name>" is forbidden: ` prefix and the older message without it.
/// The admission policy in audit mode that the request violated, from the audit event's
/// annotations: a ValidatingAdmissionPolicy binding whose actions lack `Deny`
/// (`validation.policy.admission.k8s.io/validation_failure`, a JSON list; the first such
/// entry), else the namespace's PodSecurity audit level
/// (`pod-security.kubernetes.io/audit-violations`: `PodSecurity <level>`, named as an
/// enforced PodSecurity denial is), else a Gatekeeper constraint in `dryrun` or `warn`.
fn audit_mode_violation(annotations: &Value) -> Option<String> {
    let failures = str_at(
        annotations,
        &["validation.policy.admission.k8s.io/validation_failure"],
    )
    .and_then(|text| serde_json::from_str::<Vec<Value>>(&text).ok())
    .unwrap_or_default();
    let audited = failures.iter().find(|f| {
        f.get("validationActions")
            .and_then(Value::as_array)
            .is_some_and(|actions| !actions.iter().any(|a| a.as_str() == Some("Deny")))
    });
    if let Some(policy) = audited.and_then(|f| str_at(f, &["policy"])) {
        return Some(policy.into_owned());
    }
    if let Some(violations) = str_at(
        annotations,
        &["pod-security.kubernetes.io/audit-violations"],
    ) && let Some(level) =
        after(&violations, "would violate PodSecurity \"").and_then(|rest| rest.split('"').next())
    {
        return Some(format!("PodSecurity {level}"));
    }
    gatekeeper_observed(annotations)
}

/// The first Gatekeeper constraint in `dryrun` or `warn` that an admitted request violated,
/// from the `validation.gatekeeper.sh/evaluation` annotation Gatekeeper adds with
/// `--emit-admission-audit-annotations` (JSON: `allowed`, `violations[]` with `constraintName`
/// and `enforcementAction` or, for scoped actions, `enforcementActions`).
fn gatekeeper_observed(annotations: &Value) -> Option<String> {
    let text = str_at(annotations, &["validation.gatekeeper.sh/evaluation"])?;
    let evaluation: Value = serde_json::from_str(&text).ok()?;
    if evaluation.get("allowed").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let observed = |action: &Value| {
        action
            .as_str()
            .is_some_and(|a| a.eq_ignore_ascii_case("dryrun") || a.eq_ignore_ascii_case("warn"))
    };
    array_at(&evaluation, &["violations"])
        .iter()
        .find(|v| {
            v.get("enforcementAction").is_some_and(observed)
                || array_at(v, &["enforcementActions"]).iter().any(observed)
        })
        .and_then(|v| str_at(v, &["constraintName"]))
        .map(Cow::into_owned)
}

fn admission_denial(message: &str) -> Option<Denial> {
    if let Some(rest) = after(message, "admission webhook \"") {
        let (webhook, tail) = rest.split_once('"')?;
        let text = after(tail, "denied the request")?;
        let text = text.strip_prefix(':').unwrap_or(text);
        // Kyverno's YAML dump first: a message inside it may start a line with `[`.
        let policies = if text.contains(KYVERNO_MARKER) {
            kyverno_rules(text)
        } else {
            gatekeeper_constraints(text)
        };
        return Some(Denial {
            webhook: webhook.to_string(),
            policies,
        });
    }
    if let Some(rest) = after(message, "violates PodSecurity \"") {
        let level = rest.split('"').next().unwrap_or_default();
        return Some(Denial {
            webhook: "PodSecurity".to_string(),
            policies: vec![format!("PodSecurity {level}")],
        });
    }
    if let Some(rest) = after(message, "ValidatingAdmissionPolicy '")
        && message.contains("denied request")
    {
        let policy = rest.split('\'').next().unwrap_or_default();
        return Some(Denial {
            webhook: "ValidatingAdmissionPolicy".to_string(),
            policies: vec![policy.to_string()],
        });
    }
    None
}

/// Gatekeeper's denial lists one `[<constraint>] <message>` line per denying constraint.
fn gatekeeper_constraints(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix('[')
            && let Some((name, _)) = rest.split_once(']')
            && !name.is_empty()
            && !name.contains(' ')
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

const KYVERNO_MARKER: &str = "was blocked due to the following policies";

/// Kyverno's denial is a YAML dump after "…was blocked due to the following policies": a
/// policy line ending in `:`, then its rules indented two spaces (`  <rule>: '<message>'`;
/// long messages continue on deeper-indented lines).
fn kyverno_rules(text: &str) -> Vec<String> {
    let Some(body) = after(text, KYVERNO_MARKER) else {
        return Vec::new();
    };
    let mut rules: Vec<String> = Vec::new();
    let mut policy: Option<&str> = None;
    for line in body.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            policy = line.trim_end().strip_suffix(':');
        } else if let Some(rule_line) = line.strip_prefix("  ")
            && !rule_line.starts_with(' ')
            && let Some((rule, _)) = rule_line.split_once(':')
            && let Some(policy) = policy
        {
            rules.push(format!("{policy}/{}", rule.trim()));
        }
    }
    rules
}

/// The binding an RBAC allow names: `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y"
/// to Group "z"` → `ClusterRoleBinding x` (`RoleBinding <name>/<namespace>` for a role binding).
fn rbac_binding(reason: &str) -> Option<String> {
    let rest = after(reason, "allowed by ")?;
    let (kind, rest) = rest.split_once(" \"")?;
    let (name, _) = rest.split_once('"')?;
    (!kind.is_empty() && !name.is_empty() && !kind.contains(' ')).then(|| format!("{kind} {name}"))
}

/// A bounded label for a request to what the API server guards most.
fn privileged_label(object: &ObjectRef<'_>, verb: &str) -> Option<&'static str> {
    let resource = object.resource.as_deref()?;
    let sub = object.subresource.as_deref();
    let group = object.api_group.as_deref().unwrap_or("");
    let write = matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    );
    match (resource, sub) {
        ("secrets", _) if group.is_empty() => Some("k8s:secrets"),
        ("pods", Some("exec" | "attach" | "portforward" | "ephemeralcontainers")) => {
            Some("k8s:pods/exec")
        }
        ("nodes" | "services" | "pods", Some("proxy")) => Some("k8s:proxy"),
        ("roles" | "clusterroles" | "rolebindings" | "clusterrolebindings", None)
            if write && group == RBAC_GROUP =>
        {
            Some("k8s:rbac")
        }
        (
            "validatingwebhookconfigurations"
            | "mutatingwebhookconfigurations"
            | "validatingadmissionpolicies"
            | "validatingadmissionpolicybindings"
            | "mutatingadmissionpolicies"
            | "mutatingadmissionpolicybindings",
            None,
        ) if write => Some("k8s:admission"),
        ("serviceaccounts", Some("token")) => Some("k8s:token"),
        ("certificatesigningrequests", Some("approval")) if write => Some("k8s:token"),
        _ => None,
    }
}

/// Resources whose request and response bodies hold credentials.
fn carries_credentials(object: &ObjectRef<'_>) -> bool {
    matches!(object.resource.as_deref(), Some("secrets" | "tokenreviews"))
        || object.subresource.as_deref() == Some("token")
}

/// Members the http_activity row holds; `user` and `responseStatus` keep their other members.
const HTTP_MAPPED: &[&str] = &[
    "kind",
    "apiVersion",
    "auditID",
    "verb",
    "requestURI",
    "userAgent",
    "sourceIPs",
    "requestReceivedTimestamp",
    "user",
    "responseStatus",
    "requestObject",
    "responseObject",
];

/// An object's members other than `drop`, without empty objects (`"metadata": {}`).
fn members_except(value: &Value, drop: &[&str]) -> Option<Value> {
    let map = value.as_object()?;
    let rest: Map<String, Value> = map
        .iter()
        .filter(|(k, v)| {
            !v.is_null()
                && !v.as_object().is_some_and(Map::is_empty)
                && !drop.iter().any(|d| d.eq_ignore_ascii_case(k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!rest.is_empty()).then_some(Value::Object(rest))
}

fn http_unmapped(event: &Value, object: &ObjectRef<'_>, denial: Option<&Denial>) -> Option<String> {
    let mut rest = match members_except(event, HTTP_MAPPED) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(user) = get(event, "user").and_then(|u| members_except(u, &["username"])) {
        rest.insert("user".to_string(), user);
    }
    if let Some(status) =
        get(event, "responseStatus").and_then(|s| members_except(s, &["code", "message"]))
    {
        rest.insert("responseStatus".to_string(), status);
    }
    let bodies = ["requestObject", "responseObject"];
    if carries_credentials(object) {
        // Deliberately not kept: the raw record (`raw_ref`) still has them.
        if bodies.iter().any(|b| get(event, b).is_some()) {
            rest.insert("bodies_omitted".to_string(), Value::Bool(true));
        }
    } else {
        for body in bodies {
            if let Some(v) = get(event, body) {
                rest.insert(body.to_string(), v.clone());
            }
        }
    }
    if let Some(denial) = denial {
        rest.insert(
            "admission".to_string(),
            json!({"webhook": denial.webhook, "policies": denial.policies}),
        );
    }
    (!rest.is_empty()).then(|| Value::Object(rest).to_string())
}

/// The binding object an audited write carries, from whichever body holds its `subjects`
/// (a patch's request body is the patch, its response the result).
fn binding_object(event: &Value) -> Option<&Value> {
    ["requestObject", "responseObject"]
        .iter()
        .filter_map(|k| get(event, k))
        .find(|o| get(o, "subjects").is_some() || get(o, "roleRef").is_some())
}

/// `account_change` rows for a successful write to a role binding: one per subject, or one
/// without a user when the event carries no body (Metadata level, a delete).
fn binding_changes<'v>(
    event: &'v Value,
    object: &ObjectRef<'v>,
    verb: &str,
    common: &Common<'v>,
    uid: &str,
    src: Option<Cow<'v, str>>,
) -> Vec<AccountChangeRow<'v>> {
    let binding_kind = match object.resource.as_deref() {
        Some("rolebindings") => "RoleBinding",
        Some("clusterrolebindings") => "ClusterRoleBinding",
        _ => return Vec::new(),
    };
    if object.api_group.as_deref() != Some(RBAC_GROUP) || object.subresource.is_some() {
        return Vec::new();
    }
    let (activity_id, activity_name, change) = match verb {
        // An update or patch names the binding's subjects after the change, not which were
        // added or removed: it stays an http_activity row, not a grant to every subject.
        "create" => (7, "Attach Policy", "role_grant"),
        "delete" => (8, "Detach Policy", "role_revoke"),
        _ => return Vec::new(),
    };
    let body = binding_object(event);
    let name = object
        .name
        .clone()
        .or_else(|| body.and_then(|b| str_at(b, &["metadata", "name"])));
    let namespace = object.namespace.clone();
    let role_ref = body.and_then(|b| get(b, "roleRef"));
    let role_kind = role_ref.and_then(|r| str_at(r, &["kind"]));
    let role_name = role_ref.and_then(|r| str_at(r, &["name"]));
    let role = match (&role_kind, &role_name) {
        (Some(k), Some(n)) => format!("{k} {n}"),
        (None, Some(n)) => n.to_string(),
        _ => "an unstated role".to_string(),
    };
    let privileged = role_kind.as_deref() == Some("ClusterRole")
        && matches!(role_name.as_deref(), Some("cluster-admin" | "admin"));
    let binding = match (&name, &namespace) {
        (Some(n), Some(ns)) => format!("{binding_kind} {ns}/{n}"),
        (Some(n), None) => format!("{binding_kind} {n}"),
        _ => binding_kind.to_string(),
    };
    let subjects: &[Value] = body.map(|b| array_at(b, &["subjects"])).unwrap_or_default();
    let actor_uid = str_at(event, &["user", "uid"]);
    let actor_name = str_at(event, &["user", "username"]);
    let mut rows = Vec::new();
    let mut push = |subject: Option<&'v Value>, index: usize| {
        let mut row = AccountChangeRow {
            common: common.clone(),
            ..AccountChangeRow::default()
        };
        let kind = subject.and_then(|s| str_at(s, &["kind"]));
        let subject_name = subject.and_then(|s| str_at(s, &["name"]));
        let (user_name, type_id) = match (kind.as_deref(), subject_name) {
            (Some("ServiceAccount"), Some(n)) => {
                let ns = subject
                    .and_then(|s| str_at(s, &["namespace"]))
                    .or_else(|| namespace.clone())
                    .unwrap_or_default();
                (
                    Some(Cow::Owned(format!("system:serviceaccount:{ns}:{n}"))),
                    4,
                )
            }
            (Some("User"), n) => (n, 1),
            (Some("Group"), n) => (n, 99),
            (_, n) => (n, 0),
        };
        let subject_text = match (kind.as_deref(), user_name.as_deref()) {
            (Some(k), Some(n)) => format!("{k} {n}"),
            (None, Some(n)) => n.to_string(),
            _ => String::new(),
        };
        let c = &mut row.common;
        c.activity_id = Some(activity_id);
        c.activity_name = Some(Cow::Borrowed(activity_name));
        c.status_id = Some(1);
        c.severity_id = Some(if privileged { 4 } else { 1 });
        c.metadata_uid = Some(Cow::Owned(format!("{uid}:{index}")));
        c.metadata_correlation_uid = Some(Cow::Owned(uid.to_string()));
        c.message = Some(Cow::Owned(match (change, subject_text.is_empty()) {
            ("role_grant", false) => format!("{binding} grants {role} to {subject_text}"),
            ("role_grant", true) => format!("{binding} grants {role}"),
            (_, false) => format!("{binding} deleted: {subject_text} loses {role}"),
            (_, true) => format!("{binding} deleted: its subjects lose {role}"),
        }));
        c.unmapped = Some(Cow::Owned(
            json!({
                "binding": {"kind": binding_kind, "name": name, "namespace": namespace},
                "roleRef": role_ref,
                "subject": subject,
            })
            .to_string(),
        ));
        let own = &mut row.own;
        own.user_email_addr = user_name.clone().filter(|n| n.contains('@'));
        own.user_name = user_name;
        own.user_type_id = subject.map(|_| type_id);
        own.actor_user_uid = actor_uid.clone();
        own.actor_user_name = actor_name.clone();
        own.src_endpoint_ip = src.clone();
        own.zt_change_type = Some(Cow::Borrowed(change));
        rows.push(row);
    };
    if subjects.is_empty() {
        push(None, 0);
    } else {
        for (i, subject) in subjects.iter().enumerate() {
            push(Some(subject), i);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_become_methods() {
        assert_eq!(http_method("list"), "GET");
        assert_eq!(http_method("watch"), "GET");
        assert_eq!(http_method("create"), "POST");
        assert_eq!(http_method("deletecollection"), "DELETE");
        assert_eq!(http_method("patch"), "PATCH");
        assert_eq!(http_method("head"), "HEAD");
        assert_eq!(http_method("escalate"), "ESCALATE");
        assert_eq!(user_type_id("system:serviceaccount:ci:deployer"), 4);
        assert_eq!(user_type_id("system:node:node-a"), 3);
        assert_eq!(user_type_id("alice@corp.example"), 1);
    }

    #[test]
    fn admission_denials_of_each_engine() {
        let gk = "pods \"x\" is forbidden: admission webhook \"validation.gatekeeper.sh\" denied \
                  the request: [psp-privileged] Privileged container is not allowed: a\n\
                  [must-have-owner] you must provide labels\n[psp-privileged] again";
        assert_eq!(
            admission_denial(gk),
            Some(Denial {
                webhook: "validation.gatekeeper.sh".into(),
                policies: vec!["psp-privileged".into(), "must-have-owner".into()],
            })
        );
        let kyverno = "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\n\
                       resource Deployment/web/frontend was blocked due to the following policies \
                       \n\nrequire-labels:\n  autogen-check-team: 'validation error: a\n    \
                       failed at path /x'\n  check-owner: 'b'\ndisallow-latest:\n  tag: 'c'\n";
        assert_eq!(
            admission_denial(kyverno)
                .map(|d| d.policy_name())
                .as_deref(),
            Some(
                "require-labels/autogen-check-team, require-labels/check-owner, disallow-latest/tag"
            )
        );
        let bare = "admission webhook \"deny.example.com\" denied the request without explanation";
        assert_eq!(
            admission_denial(bare).map(|d| d.policy_name()).as_deref(),
            Some("deny.example.com")
        );
        let pss =
            "pods \"p\" is forbidden: violates PodSecurity \"restricted:latest\": runAsNonRoot";
        assert_eq!(
            admission_denial(pss).map(|d| d.policy_name()).as_deref(),
            Some("PodSecurity restricted:latest")
        );
        let vap = "deployments.apps \"d\" is invalid: : ValidatingAdmissionPolicy 'replicas.example' \
                   with binding 'b' denied request: failed expression: x";
        assert_eq!(
            admission_denial(vap).map(|d| d.policy_name()).as_deref(),
            Some("replicas.example")
        );
        // A webhook that failed is not a policy decision; neither is a quota.
        assert_eq!(
            admission_denial("Internal error occurred: failed calling webhook \"w\": timeout"),
            None
        );
        assert_eq!(
            admission_denial("pods \"p\" is forbidden: exceeded quota: q"),
            None
        );
        assert_eq!(admission_denial("admission webhook \"unterminated"), None);
    }

    #[test]
    fn rbac_reasons() {
        assert_eq!(
            rbac_binding(
                "RBAC: allowed by RoleBinding \"devs-edit/payments\" of ClusterRole \"edit\" to \
                 Group \"devs\""
            )
            .as_deref(),
            Some("RoleBinding devs-edit/payments")
        );
        assert_eq!(rbac_binding(""), None);
        assert_eq!(rbac_binding("allowed by \"x"), None);
    }

    #[test]
    fn privileged_labels() {
        let object = |resource: &str, sub: Option<&str>, group: Option<&str>| ObjectRef {
            resource: Some(resource.to_string().into()),
            subresource: sub.map(|s| s.to_string().into()),
            api_group: group.map(|g| g.to_string().into()),
            ..ObjectRef::default()
        };
        assert_eq!(
            privileged_label(&object("secrets", None, None), "list"),
            Some("k8s:secrets")
        );
        assert_eq!(
            privileged_label(&object("pods", Some("exec"), None), "get"),
            Some("k8s:pods/exec")
        );
        assert_eq!(
            privileged_label(
                &object("clusterrolebindings", None, Some(RBAC_GROUP)),
                "create"
            ),
            Some("k8s:rbac")
        );
        assert_eq!(
            privileged_label(
                &object("clusterrolebindings", None, Some(RBAC_GROUP)),
                "list"
            ),
            None
        );
        assert_eq!(
            privileged_label(&object("configmaps", None, None), "get"),
            None
        );
        assert_eq!(
            privileged_label(&object("serviceaccounts", Some("token"), None), "create"),
            Some("k8s:token")
        );
    }

    #[test]
    fn response_codes() {
        let code = |v: Value| response_code(&json!({"responseStatus": {"code": v}}));
        assert_eq!(code(json!(403)).unwrap(), Some(403));
        assert_eq!(code(json!(0)).unwrap(), None);
        assert!(code(json!("abc")).is_err());
        assert!(code(json!(70000)).is_err());
        assert!(code(json!(-1)).is_err());
        assert_eq!(response_code(&json!({})).unwrap(), None);
    }

    #[test]
    fn sniff() {
        assert!(looks_like_k8s_audit(
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a"}"#
        ));
        assert!(looks_like_k8s_audit(
            r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}"#
        ));
        // A core/v1 Event (`kubectl get events`) is not an audit event.
        assert!(!looks_like_k8s_audit(
            r#"{"kind":"Event","apiVersion":"v1","involvedObject":{},"reason":"Killing"}"#
        ));
        // An audit policy file.
        assert!(!looks_like_k8s_audit(
            r#"{"kind":"Policy","apiVersion":"audit.k8s.io/v1"}"#
        ));
    }
}
