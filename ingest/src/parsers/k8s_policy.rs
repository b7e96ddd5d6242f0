//! Kubernetes policy results → `detection_finding` (policy violations) and `base_event`.
//!
//! Input, one object per record:
//! - **Policy reports**: `PolicyReport` / `ClusterPolicyReport` (`wgpolicyk8s.io/v1alpha2`, the
//!   same schema as `reports.x-k8s.io/v1beta2`) and OpenReports `Report` / `ClusterReport`
//!   (`openreports.io/v1alpha1`), as Kyverno (and Trivy, kube-bench … through the same API)
//!   write them; a `kubectl get … -o json` `List` is streamed item by item.
//! - **Gatekeeper audit log lines** (the audit pod's zap JSON, `process` "audit"), and the
//!   webhook's `--log-denies` lines (`process` "admission").
//! - **Gatekeeper constraints** with their audit status (`kubectl get constraints -o json`):
//!   `status.violations[]`.
//!
//! | record | table | mapping |
//! |---|---|---|
//! | report result `fail`, `warn` or `error` | detection_finding | one row per result and resource (`resources[]`, else the report's `scope`); `policy/rule` → analytic; `severity` info 1 … critical 5; `category` → types (a report does not say whether the policy enforces: Kyverno reports an Audit policy's admitted violation and an Enforce policy's background-scan finding alike) |
//! | report result `pass` or `skip` | — | no row: a report states the current state, a pass is the absence of a finding. A report without any finding is one base_event (event type = its kind), so the snapshot is kept |
//! | Gatekeeper `violation_audited` line, constraint `status.violations[]` entry | detection_finding | constraint kind/name → analytic; `constraint_action` / `enforcementAction` deny → severity 3 Medium and `enforced`, warn → 2 Low, dryrun → 1 Informational |
//! | other Gatekeeper lines (`audit_started`, `constraint_audited`, `audit_finished`, admission `violation`) | base_event | event type = `event_type`; `request_username` → actor; the resource (else the constraint) → target |
//! | a constraint without violations | base_event | event type `constraint_status` |
//!
//! Invariants: `finding_info_uid` = `zt_dedup_key` = a hash of the policy, the rule and the
//! resource (`<group>/<Kind>/<namespace>/<name>`, so a recreated object is the same finding),
//! stable across scans; a Gatekeeper violation has the same finding id in the audit log and in
//! the constraint's status. `metadata_uid` hashes the finding, the scan time and the message:
//! a redelivered report counts once, each scan that still finds the violation is a new row.
//! The resource has no column on `detection_finding`: it is in the title and in `unmapped`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::jv::{self, array_at, epoch_seconds_to_ms, get, invalid, missing, parse_object, str_at};
use super::{Format, Parser, Sniff, VendorSpec, content_uid};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{BaseEventRow, Common, DetectionFindingRow, TableBuilders};

/// Kubernetes policy reports (Kyverno …), Gatekeeper audit logs and constraint statuses.
pub static SPEC: VendorSpec = VendorSpec {
    name: "k8s_policy",
    aliases: &["kyverno", "gatekeeper", "policy_report"],
    framing: Framing::Json,
    envelope_keys: &["items"],
    stateful: false,
    sniff: Sniff::Json(looks_like_k8s_policy),
    parser: |_site| Box::new(K8sPolicyParser),
};

/// The k8s_policy format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

/// Stateless, and needs no site tags: findings name Kubernetes objects, not addresses or paths.
pub struct K8sPolicyParser;

/// API groups of the policy report schema.
const REPORT_GROUPS: &[&str] = &["wgpolicyk8s.io/", "openreports.io/", "reports.x-k8s.io/"];

/// Kinds of policy reports.
const REPORT_KINDS: &[&str] = &[
    "PolicyReport",
    "ClusterPolicyReport",
    "Report",
    "ClusterReport",
];

const CONSTRAINT_GROUP: &str = "constraints.gatekeeper.sh/";

/// Whether a JSON record is a policy report (or a list of them), a Gatekeeper constraint with
/// its audit status, or a Gatekeeper audit or admission log line.
pub fn looks_like_k8s_policy(head: &str) -> bool {
    let report = [
        "\"wgpolicyk8s.io/",
        "\"openreports.io/",
        "\"reports.x-k8s.io/",
    ]
    .iter()
    .any(|g| head.contains(g))
        && (head.contains("PolicyReport\"")
            || head.contains("\"Report\"")
            || head.contains("\"ClusterReport\""));
    let constraint_status = head.contains("\"constraints.gatekeeper.sh/")
        && (head.contains("\"violations\"") || head.contains("\"totalViolations\""));
    // zap writes no spaces; a pretty-printer or a shipper may.
    let audit = head.contains("\"process\":\"audit\"") || head.contains("\"process\": \"audit\"");
    let admission =
        head.contains("\"process\":\"admission\"") || head.contains("\"process\": \"admission\"");
    let audit_line = audit && head.contains("\"audit_id\"") && head.contains("\"event_type\"");
    let admission_line = admission && head.contains("\"constraint_name\"");
    report || constraint_status || audit_line || admission_line
}

impl Parser for K8sPolicyParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a policy report or Gatekeeper")?;
        let api = str_at(&value, &["apiVersion"]).unwrap_or_default();
        let kind = str_at(&value, &["kind"]).unwrap_or_default();
        if REPORT_GROUPS.iter().any(|g| api.starts_with(g)) && REPORT_KINDS.contains(&&*kind) {
            return report(&value, &kind, record, raw_ref, out);
        }
        if api.starts_with(CONSTRAINT_GROUP) {
            return constraint(&value, &kind, record, raw_ref, out);
        }
        if get(&value, "process").is_some() && get(&value, "ts").is_some() {
            return gatekeeper_line(&value, record, raw_ref, out);
        }
        Err(ParseError::new(
            ErrorKind::InvalidJson,
            "not a policy report, a Gatekeeper constraint or a Gatekeeper log line",
        ))
    }
}

/// OCSF severity of a report result's `severity`.
fn report_severity(text: Option<&str>) -> i32 {
    match text.map(str::to_ascii_lowercase).as_deref() {
        Some("info" | "informational") => 1,
        Some("low") => 2,
        Some("medium") => 3,
        Some("high") => 4,
        Some("critical") => 5,
        _ => 0,
    }
}

/// OCSF severity of a Gatekeeper enforcement action (Gatekeeper states no severity: what the
/// constraint would do is how much the violation matters).
fn action_severity(action: Option<&str>) -> i32 {
    match action.map(str::to_ascii_lowercase).as_deref() {
        Some("deny") => 3,
        Some("warn") => 2,
        Some("dryrun") => 1,
        _ => 0,
    }
}

/// A report result's `timestamp` ({seconds, nanos}, where YAML tools may have written
/// `1.666094801e+09` or a string), or an RFC 3339 text.
fn result_time(result: &Value) -> Result<Option<i64>, ParseError> {
    let Some(ts) = get(result, "timestamp") else {
        return Ok(None);
    };
    if let Some(text) = ts.as_str() {
        return super::parse_timestamp_ms(text)
            .map(Some)
            .ok_or_else(|| invalid("timestamp", text));
    }
    let seconds = jv::f64_at(ts, &["seconds"]);
    let nanos = jv::f64_at(ts, &["nanos"]).unwrap_or(0.0);
    seconds
        .filter(|_| (0.0..1e9).contains(&nanos))
        .and_then(|s| epoch_seconds_to_ms(s + nanos / 1e9))
        .map(Some)
        .ok_or_else(|| invalid("timestamp", &ts.to_string()))
}

/// The group of an `apiVersion`: `apps/v1` → `apps`, `v1` → `` (core).
fn api_group(api_version: Option<&str>) -> &str {
    match api_version {
        Some(v) => v.rsplit_once('/').map_or("", |(group, _)| group),
        None => "",
    }
}

/// The object a finding is about.
struct Resource<'v> {
    group: String,
    kind: Option<Cow<'v, str>>,
    namespace: Option<Cow<'v, str>>,
    name: Option<Cow<'v, str>>,
}

impl Resource<'_> {
    /// `<group>/<Kind>/<namespace>/<name>`: the identity a finding id hashes.
    fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.group,
            self.kind.as_deref().unwrap_or(""),
            self.namespace.as_deref().unwrap_or(""),
            self.name.as_deref().unwrap_or("")
        )
    }

    /// `Deployment web/legacy-cart`, `Namespace payments`.
    fn label(&self) -> Option<String> {
        let name = self.name.as_deref()?;
        let kind = self.kind.as_deref().unwrap_or("object");
        Some(match self.namespace.as_deref() {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        })
    }
}

/// A resource from an ObjectReference (`apiVersion`, `kind`, `namespace`, `name`).
fn object_reference(object: &Value) -> Resource<'_> {
    Resource {
        group: api_group(str_at(object, &["apiVersion"]).as_deref()).to_string(),
        kind: str_at(object, &["kind"]),
        namespace: str_at(object, &["namespace"]),
        name: str_at(object, &["name"]),
    }
}

/// The report without its results and the API server's bookkeeping (`managedFields`).
fn report_context(report: &Value) -> Value {
    summary_of(report, &["source", "scope", "summary"])
}

/// What identifies a report or constraint, copied into each of its findings: small and bounded,
/// so a report of thousands of results does not repeat its whole self in every row (the
/// memory a record costs stays proportional to its size).
fn summary_of(object: &Value, keys: &[&str]) -> Value {
    let mut out = Map::new();
    for key in ["apiVersion", "kind"].iter().chain(keys) {
        if let Some(v) = get(object, key).filter(|v| !v.is_null()) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    if let Some(metadata) = get(object, "metadata") {
        let mut m = Map::new();
        for key in ["name", "namespace", "uid", "creationTimestamp"] {
            if let Some(v) = get(metadata, key).filter(|v| !v.is_null()) {
                m.insert(key.to_string(), v.clone());
            }
        }
        out.insert("metadata".to_string(), Value::Object(m));
    }
    Value::Object(out)
}

/// A finding row with what every source fills the same way.
struct Finding<'v> {
    time: i64,
    source: Cow<'v, str>,
    vendor: Cow<'v, str>,
    log_name: &'static str,
    event_code: Cow<'v, str>,
    analytic_uid: String,
    analytic_name: Option<Cow<'v, str>>,
    category: Option<Cow<'v, str>>,
    resource: Resource<'v>,
    message: Option<Cow<'v, str>>,
    status: Cow<'v, str>,
    severity_id: i32,
    /// The policy refuses violating requests at admission (Gatekeeper `deny`); `None` when the
    /// record cannot say (a policy report is the same for an Enforce and an Audit policy).
    enforced: Option<bool>,
    scan: String,
    created_time: Option<i64>,
    unmapped: Map<String, Value>,
}

impl<'v> Finding<'v> {
    fn into_row(mut self, raw_ref: &'v str) -> DetectionFindingRow<'v> {
        // A policy violation is a posture finding about a resource, not an alert an analyst
        // contains: `is_alert` is false (the response KPIs would keep it open forever). Whether
        // the policy enforces (Gatekeeper deny), where the record says, is kept for queries.
        if let Some(enforced) = self.enforced {
            self.unmapped
                .insert("enforced".to_string(), Value::Bool(enforced));
        }
        let finding_uid = content_uid(
            "k8s_policy",
            format!(
                "{}\n{}\n{}",
                self.source,
                self.analytic_uid,
                self.resource.key()
            )
            .as_bytes(),
        );
        let uid = content_uid(
            "k8s_policy",
            format!(
                "{}\n{finding_uid}\n{}",
                self.scan,
                self.message.as_deref().unwrap_or("")
            )
            .as_bytes(),
        );
        let title = match self.resource.label() {
            Some(label) => format!("{}: {label}", self.analytic_uid),
            None => self.analytic_uid.clone(),
        };
        let mut row = DetectionFindingRow {
            common: Common {
                time: Some(self.time),
                activity_id: Some(1),
                activity_name: Some(Cow::Borrowed("Create")),
                severity_id: Some(self.severity_id),
                status_id: Some(1),
                status_code: Some(self.status),
                message: self.message.clone(),
                metadata_uid: Some(Cow::Owned(uid)),
                metadata_event_code: Some(self.event_code),
                metadata_log_name: Some(Cow::Borrowed(self.log_name)),
                metadata_product_name: Some(Cow::Borrowed("k8s_policy")),
                metadata_product_vendor_name: Some(self.vendor),
                raw_ref: Some(Cow::Borrowed(raw_ref)),
                unmapped: (!self.unmapped.is_empty())
                    .then(|| Cow::Owned(Value::Object(self.unmapped).to_string())),
                ..Common::default()
            },
            ..DetectionFindingRow::default()
        };
        let d = &mut row.own;
        d.finding_info_uid = Some(Cow::Owned(finding_uid.clone()));
        d.zt_dedup_key = Some(Cow::Owned(finding_uid));
        d.finding_info_title = Some(Cow::Owned(title));
        d.finding_info_desc = self.message;
        d.finding_info_analytic_uid = Some(Cow::Owned(self.analytic_uid));
        d.finding_info_analytic_name = self.analytic_name;
        d.finding_info_analytic_type = Some(Cow::Borrowed("rule"));
        d.finding_info_types = self.category.into_iter().collect();
        d.finding_info_created_time = self.created_time.or(Some(self.time));
        d.finding_info_last_seen_time = Some(self.time);
        d.is_alert = Some(false);
        row
    }
}

/// A vendor name for a report result's `source` (other tools by the name they write).
fn vendor_of<'v>(source: &Cow<'v, str>) -> Cow<'v, str> {
    match source.to_ascii_lowercase().as_str() {
        "kyverno" => Cow::Borrowed("Kyverno"),
        "gatekeeper" => Cow::Borrowed("Gatekeeper"),
        "trivy" => Cow::Borrowed("Aqua Security"),
        _ => source.clone(),
    }
}

/// Members of a report result the row holds.
const RESULT_MAPPED: &[&str] = &[
    "policy",
    "rule",
    "message",
    "result",
    "severity",
    "category",
    "timestamp",
    "resources",
];

fn report(
    value: &Value,
    kind: &str,
    record: &[u8],
    raw_ref: &str,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let created = jv::time_at(value, &["metadata", "creationTimestamp"]);
    let scope = get(value, "scope");
    let report_source = str_at(value, &["source"]);
    let context = report_context(value);
    let mut rows: Vec<DetectionFindingRow<'_>> = Vec::new();
    let mut passed = 0usize;
    let mut latest: Option<i64> = None;
    for (i, result) in array_at(value, &["results"]).iter().enumerate() {
        let outcome = str_at(result, &["result"])
            .ok_or_else(|| missing(&format!("results[{i}].result")))?
            .to_ascii_lowercase();
        let time = result_time(result)?;
        latest = latest.max(time);
        match outcome.as_str() {
            "fail" | "warn" | "error" => {}
            "pass" | "skip" => {
                passed += 1;
                continue;
            }
            _ => return Err(invalid(&format!("results[{i}].result"), &outcome)),
        }
        let time = time.or(created).ok_or_else(|| {
            missing(&format!(
                "results[{i}].timestamp (or metadata.creationTimestamp)"
            ))
        })?;
        let policy =
            str_at(result, &["policy"]).ok_or_else(|| missing(&format!("results[{i}].policy")))?;
        let rule = str_at(result, &["rule"]);
        let analytic_uid = match &rule {
            Some(rule) => format!("{policy}/{rule}"),
            None => policy.to_string(),
        };
        let source = str_at(result, &["source"])
            .or_else(|| report_source.clone())
            .unwrap_or(Cow::Borrowed("policy report"));
        let rest = jv::unmapped(result, RESULT_MAPPED)
            .and_then(|text| serde_json::from_str::<Value>(&text).ok());
        // One finding per resource a result names (pre-1.10 namespace-wide reports list them
        // per result), else the report's scope (one report per resource since Kyverno 1.12).
        let resources: Vec<Option<&Value>> = match array_at(result, &["resources"]) {
            [] => vec![scope],
            many => many.iter().map(Some).collect(),
        };
        for resource in resources {
            let mut unmapped = Map::new();
            unmapped.insert("report".to_string(), context.clone());
            if let Some(r) = resource {
                unmapped.insert("resource".to_string(), r.clone());
            }
            if let Some(rest) = &rest {
                unmapped.insert("result".to_string(), rest.clone());
            }
            let finding = Finding {
                time,
                vendor: vendor_of(&source),
                source: source.clone(),
                log_name: "policy report",
                event_code: Cow::Owned(kind.to_string()),
                analytic_uid: analytic_uid.clone(),
                analytic_name: Some(policy.clone()),
                category: str_at(result, &["category"]),
                resource: resource.map_or(
                    Resource {
                        group: String::new(),
                        kind: None,
                        namespace: str_at(value, &["metadata", "namespace"]),
                        name: None,
                    },
                    object_reference,
                ),
                message: str_at(result, &["message"]),
                status: Cow::Owned(outcome.clone()),
                severity_id: report_severity(str_at(result, &["severity"]).as_deref()),
                // A report holds each resource's current state, for Enforce and Audit policies
                // alike: whether this one enforces, it does not say.
                enforced: None,
                scan: time.to_string(),
                created_time: None,
                unmapped,
            };
            rows.push(finding.into_row(raw_ref));
        }
    }
    if rows.is_empty() {
        // Nothing failed: keep the snapshot (which resource passed which policies) as an event.
        let time = latest
            .or(created)
            .ok_or_else(|| missing("metadata.creationTimestamp"))?;
        let mut row = BaseEventRow {
            common: Common {
                time: Some(time),
                severity_id: Some(1),
                status_id: Some(1),
                message: Some(Cow::Owned(format!("{passed} results passed or skipped"))),
                metadata_uid: Some(Cow::Owned(content_uid("k8s_policy", record))),
                metadata_log_name: Some(Cow::Borrowed("policy report")),
                metadata_product_name: Some(Cow::Borrowed("k8s_policy")),
                metadata_product_vendor_name: Some(
                    report_source
                        .as_ref()
                        .map_or(Cow::Borrowed("policy report"), vendor_of),
                ),
                raw_ref: Some(Cow::Borrowed(raw_ref)),
                ..Common::default()
            },
            ..BaseEventRow::default()
        };
        if let Some(scope) = scope {
            let r = object_reference(scope);
            row.own.zt_target_type = r.kind.clone();
            row.own.zt_target_uid = str_at(scope, &["uid"]);
            row.own.zt_target_name = match (&r.namespace, &r.name) {
                (Some(ns), Some(n)) => Some(Cow::Owned(format!("{ns}/{n}"))),
                (None, Some(n)) => Some(n.clone()),
                _ => None,
            };
        }
        out.append_base_event(&mut row, kind, record);
        return Ok(1);
    }
    let n = rows.len();
    for mut row in rows {
        out.detection_finding.append(&mut row);
    }
    Ok(n)
}

/// Members of a Gatekeeper log line the finding holds.
const LINE_MAPPED: &[&str] = &[
    "ts",
    "msg",
    "event_type",
    "constraint_kind",
    "constraint_name",
    "constraint_action",
    "resource_group",
    "resource_kind",
    "resource_namespace",
    "resource_name",
];

/// A Gatekeeper zap line's time: `ts` in epoch seconds (the default encoder) or ISO 8601.
fn line_time(line: &Value) -> Result<i64, ParseError> {
    let ts = get(line, "ts").ok_or_else(|| missing("ts"))?;
    let time = match ts {
        Value::String(text) => super::parse_timestamp_ms(text).or_else(|| {
            text.trim()
                .parse::<f64>()
                .ok()
                .and_then(epoch_seconds_to_ms)
        }),
        other => jv::f64_at(other, &[]).and_then(epoch_seconds_to_ms),
    };
    time.ok_or_else(|| invalid("ts", &ts.to_string()))
}

fn gatekeeper_line(
    line: &Value,
    record: &[u8],
    raw_ref: &str,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let time = line_time(line)?;
    let event_type = str_at(line, &["event_type"]);
    let constraint_kind = str_at(line, &["constraint_kind"]);
    let constraint_name = str_at(line, &["constraint_name"]);
    let resource = Resource {
        group: str_at(line, &["resource_group"])
            .map(Cow::into_owned)
            .unwrap_or_default(),
        kind: str_at(line, &["resource_kind"]),
        namespace: str_at(line, &["resource_namespace"]),
        name: str_at(line, &["resource_name"]),
    };
    let action = str_at(line, &["constraint_action"]);
    if event_type.as_deref() == Some("violation_audited") {
        let kind = constraint_kind.ok_or_else(|| missing("constraint_kind"))?;
        let name = constraint_name.ok_or_else(|| missing("constraint_name"))?;
        let audit_id = str_at(line, &["audit_id"]);
        let unmapped = match jv::unmapped(line, LINE_MAPPED)
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let finding = Finding {
            time,
            source: Cow::Borrowed("gatekeeper"),
            vendor: Cow::Borrowed("Gatekeeper"),
            log_name: "gatekeeper audit",
            event_code: Cow::Borrowed("violation_audited"),
            analytic_uid: format!("{kind}/{name}"),
            analytic_name: Some(name),
            category: Some(kind),
            resource,
            message: str_at(line, &["msg"]),
            severity_id: action_severity(action.as_deref()),
            enforced: Some(
                action
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case("deny")),
            ),
            status: action.unwrap_or(Cow::Borrowed("unknown")),
            created_time: audit_id.as_deref().and_then(super::parse_timestamp_ms),
            scan: audit_id.map_or_else(|| time.to_string(), Cow::into_owned),
            unmapped,
        };
        let mut row = finding.into_row(raw_ref);
        out.detection_finding.append(&mut row);
        return Ok(1);
    }
    // Audit progress, constraint summaries and admission denials: events, not findings (the
    // denied request itself is in the API server's audit log).
    let event_type = event_type.unwrap_or(Cow::Borrowed("log"));
    let mut row = BaseEventRow {
        common: Common {
            time: Some(time),
            severity_id: Some(1),
            status_code: action,
            message: str_at(line, &["msg"]),
            metadata_uid: Some(Cow::Owned(content_uid("k8s_policy", record))),
            metadata_log_name: Some(Cow::Owned(format!(
                "gatekeeper {}",
                str_at(line, &["process"]).unwrap_or(Cow::Borrowed("log"))
            ))),
            metadata_product_name: Some(Cow::Borrowed("k8s_policy")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Gatekeeper")),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            ..Common::default()
        },
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    own.actor_user_name = str_at(line, &["request_username"]);
    own.actor_user_email_addr = own.actor_user_name.clone().filter(|u| u.contains('@'));
    if let Some(name) = resource.name.as_deref() {
        own.zt_target_type = resource.kind.clone();
        own.zt_target_name = Some(Cow::Owned(match resource.namespace.as_deref() {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        }));
    } else if let (Some(kind), Some(name)) = (constraint_kind, constraint_name) {
        own.zt_target_type = Some(kind);
        own.zt_target_name = Some(name);
    }
    out.append_base_event(&mut row, &event_type, record);
    Ok(1)
}

/// Members of a constraint status violation the finding holds.
const VIOLATION_MAPPED: &[&str] = &[
    "enforcementAction",
    "group",
    "kind",
    "namespace",
    "name",
    "message",
];

fn constraint(
    value: &Value,
    kind: &str,
    record: &[u8],
    raw_ref: &str,
    out: &mut TableBuilders,
) -> Result<usize, ParseError> {
    let name = str_at(value, &["metadata", "name"]).ok_or_else(|| missing("metadata.name"))?;
    if kind.is_empty() {
        return Err(missing("kind"));
    }
    let audit_text = str_at(value, &["status", "auditTimestamp"]);
    let audited = match &audit_text {
        Some(t) => {
            Some(super::parse_timestamp_ms(t).ok_or_else(|| invalid("status.auditTimestamp", t))?)
        }
        None => None,
    };
    let spec_action = str_at(value, &["spec", "enforcementAction"]);
    let mut context = summary_of(value, &[]);
    if let (Some(map), Some(action)) = (context.as_object_mut(), &spec_action) {
        map.insert(
            "spec".to_string(),
            serde_json::json!({"enforcementAction": action.as_ref()}),
        );
    }
    let violations = array_at(value, &["status", "violations"]);
    let mut rows = Vec::new();
    for violation in violations {
        let time = audited.ok_or_else(|| missing("status.auditTimestamp"))?;
        // Gatekeeper omits the action of a violation that has the constraint's default (deny).
        let action = str_at(violation, &["enforcementAction"])
            .or_else(|| spec_action.clone())
            .unwrap_or(Cow::Borrowed("deny"));
        let mut unmapped = Map::new();
        unmapped.insert("constraint".to_string(), context.clone());
        if let Some(rest) = jv::unmapped(violation, VIOLATION_MAPPED)
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            unmapped.insert("violation".to_string(), rest);
        }
        let finding = Finding {
            time,
            source: Cow::Borrowed("gatekeeper"),
            vendor: Cow::Borrowed("Gatekeeper"),
            log_name: "gatekeeper constraint status",
            event_code: Cow::Borrowed("violation_audited"),
            analytic_uid: format!("{kind}/{name}"),
            analytic_name: Some(name.clone()),
            category: Some(Cow::Owned(kind.to_string())),
            resource: Resource {
                group: str_at(violation, &["group"])
                    .map(Cow::into_owned)
                    .unwrap_or_default(),
                kind: str_at(violation, &["kind"]),
                namespace: str_at(violation, &["namespace"]),
                name: str_at(violation, &["name"]),
            },
            message: str_at(violation, &["message"]),
            severity_id: action_severity(Some(action.as_ref())),
            enforced: Some(action.eq_ignore_ascii_case("deny")),
            status: action,
            created_time: audited,
            // The audit run's start, as the audit log's `audit_id` states it: the same
            // violation read from both sources has the same `metadata_uid`.
            scan: audit_text.as_deref().unwrap_or_default().to_string(),
            unmapped,
        };
        rows.push(finding.into_row(raw_ref));
    }
    if rows.is_empty() {
        let time = audited
            .or_else(|| jv::time_at(value, &["metadata", "creationTimestamp"]))
            .ok_or_else(|| missing("status.auditTimestamp"))?;
        let mut row = BaseEventRow {
            common: Common {
                time: Some(time),
                severity_id: Some(1),
                status_id: Some(1),
                status_code: spec_action,
                metadata_uid: Some(Cow::Owned(content_uid("k8s_policy", record))),
                metadata_log_name: Some(Cow::Borrowed("gatekeeper constraint status")),
                metadata_product_name: Some(Cow::Borrowed("k8s_policy")),
                metadata_product_vendor_name: Some(Cow::Borrowed("Gatekeeper")),
                raw_ref: Some(Cow::Borrowed(raw_ref)),
                ..Common::default()
            },
            ..BaseEventRow::default()
        };
        row.own.zt_target_type = Some(Cow::Owned(kind.to_string()));
        row.own.zt_target_name = Some(name);
        out.append_base_event(&mut row, "constraint_status", record);
        return Ok(1);
    }
    let n = rows.len();
    for mut row in rows {
        out.detection_finding.append(&mut row);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn severities_and_their_edges() {
        assert_eq!(report_severity(Some("info")), 1);
        assert_eq!(report_severity(Some("LOW")), 2);
        assert_eq!(report_severity(Some("medium")), 3);
        assert_eq!(report_severity(Some("high")), 4);
        assert_eq!(report_severity(Some("critical")), 5);
        assert_eq!(report_severity(Some("severe")), 0);
        assert_eq!(report_severity(None), 0);
        assert_eq!(action_severity(Some("deny")), 3);
        assert_eq!(action_severity(Some("warn")), 2);
        assert_eq!(action_severity(Some("dryrun")), 1);
        assert_eq!(action_severity(Some("scoped")), 0);
    }

    #[test]
    fn result_times() {
        let t = |v: Value| result_time(&json!({"timestamp": v}));
        assert_eq!(
            t(json!({"seconds": 1772441700, "nanos": 0})).unwrap(),
            Some(1_772_441_700_000)
        );
        assert_eq!(
            t(json!({"seconds": 1.7724417e9})).unwrap(),
            Some(1_772_441_700_000)
        );
        assert_eq!(
            t(json!({"seconds": "1772441700", "nanos": 500_000_000})).unwrap(),
            Some(1_772_441_700_500)
        );
        assert_eq!(
            t(json!("2026-03-02T08:55:00Z")).unwrap(),
            Some(1_772_441_700_000)
        );
        assert!(t(json!({"seconds": 1e300})).is_err());
        assert!(t(json!({"seconds": 1, "nanos": 2e9})).is_err());
        assert!(t(json!({})).is_err());
        assert_eq!(result_time(&json!({})).unwrap(), None);
    }

    #[test]
    fn groups_and_resources() {
        assert_eq!(api_group(Some("apps/v1")), "apps");
        assert_eq!(api_group(Some("v1")), "");
        assert_eq!(api_group(None), "");
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "namespace": "web", "name": "legacy-cart"});
        let r = object_reference(&object);
        assert_eq!(r.key(), "apps/Deployment/web/legacy-cart");
        assert_eq!(r.label().as_deref(), Some("Deployment web/legacy-cart"));
    }

    #[test]
    fn gatekeeper_times() {
        assert_eq!(
            line_time(&json!({"ts": 1772441722.3075402})).unwrap(),
            1_772_441_722_308
        );
        assert_eq!(
            line_time(&json!({"ts": "2026-03-02T08:55:22.307Z"})).unwrap(),
            1_772_441_722_307
        );
        assert!(line_time(&json!({"ts": "soon"})).is_err());
        assert!(line_time(&json!({})).is_err());
    }

    #[test]
    fn sniff() {
        assert!(looks_like_k8s_policy(
            r#"{"apiVersion":"wgpolicyk8s.io/v1alpha2","kind":"PolicyReport","results":[]}"#
        ));
        assert!(looks_like_k8s_policy(
            r#"{"apiVersion":"openreports.io/v1alpha1","kind":"Report","results":[]}"#
        ));
        assert!(looks_like_k8s_policy(
            r#"{"level":"info","ts":1.5,"process":"audit","audit_id":"x","event_type":"audit_started"}"#
        ));
        // A Kyverno policy is not a report.
        assert!(!looks_like_k8s_policy(
            r#"{"apiVersion":"kyverno.io/v1","kind":"ClusterPolicy","spec":{}}"#
        ));
    }
}
