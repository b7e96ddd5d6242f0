//! PingOne audit activities → `authentication`, `account_change`.
//!
//! Input, in the three shapes PingOne delivers its audit activities:
//! - one activity per record (NDJSON, a single webhook delivery);
//! - a webhook (subscription) batch: a JSON array of activities, split by the framer;
//! - an API page, `GET /v1/environments/{envID}/activities`: `{"_links", "_embedded":
//!   {"activities": [...]}, "count", "size"}`. The framer only opens top-level envelopes, so the
//!   page is one record and this parser reads every activity of it: all rows, or none (one
//!   broken activity refuses the page, whose dead letter names it). An empty page holds no event.
//!
//! An activity: `id`, `recordedAt` (event time; `createdAt` is when it was stored),
//! `correlationId`, `actors{user, client}`, `action{type, description}`, `resources[{type, id,
//! name, environment, population}]`, `result{status, description}`, `tags`, and in webhook
//! deliveries with the exposure options on, `source{ipAddress, userAgent}` (polled activities
//! carry no client address).
//!
//! | `action.type` | table | zt_decision |
//! |---|---|---|
//! | `USER.ACCESS_ALLOWED` | authentication, 1 Logon | allow |
//! | `USER.ACCESS_DENIED` | authentication, 1 Logon | deny_policy (deny_risk, deny_device_posture, locked_out … when the result names it) |
//! | `PASSWORD.CHECK_SUCCEEDED` / `PASSWORD.CHECK_FAILED` | authentication, 1 Logon, factor password | allow / deny_credentials (locked_out, account_disabled when the result says so) |
//! | `USER.LOCKED` | authentication, 99 Account Lock | locked_out |
//! | `OTP.CHECK_SUCCESS` / `OTP.CHECK_FAILED`, `OTP.CHECK_INVALID` | authentication, 99 MFA Verification, OTP (7) | allow / mfa_failed |
//! | `ASSERTION.CHECK_SUCCESS` / `ASSERTION.CHECK_FAILED` | same, FIDO2 (10) | allow / mfa_failed |
//! | `DEVICE_PAYLOAD.CHECK_SUCCESS` / `DEVICE_PAYLOAD.CHECK_INVALID`, `_FAILED` | same, push (5) | allow / mfa_failed |
//! | `DEVICE.FRAUD_REPORTED` | same, push (5) | mfa_denied (the user reported the prompt) |
//! | `AUTHENTICATION.CREATED`, `AUTHENTICATION.UPDATED`, `SESSION.CREATED`, `RADIUS_SESSION.CREATED` | authentication, 1 Logon | by `result.status`: allow, else by the result's description, else other |
//! | `USER.KERBEROS_SUCCEEDED` / `USER.KERBEROS_FAILED` | authentication, 1 Logon, Kerberos | allow / deny_credentials |
//! | `SESSION.DELETED`, `USER.SLO_SUCCESS`, `USER.SLO_FAILURE`, `USER.SLO_REQUESTED` | authentication, 2 Logoff | none |
//! | `PASSWORD.RESET`, `PASSWORD.RECOVERY`, `PASSWORD.SET` | account_change, 4 Password Reset | password_reset |
//! | `DEVICE.DELETED` | account_change, 11 MFA Factor Disable | mfa_reset |
//!
//! Every other action type (sign-on flows, risk evaluations, user lifecycle, configuration
//! changes: some 300 types) is stored in `base_event` with the action type as its event type.
//! `result.status` is compared ignoring case and by prefix (`SUCC…` success, `FAIL…` failure).
//!
//! The user is the first resource of type `USER`, else `actors.user`; a differing
//! `actors.user` (an administrator) is `actor_user_uid`. Without a user (client-credential
//! calls) the client is the user, with `user_type_id` 4. The target application is
//! `actors.client` (else an `APPLICATION` resource). `metadata_uid` is the activity `id`;
//! `metadata_tenant_uid` is the environment of `_links.self.href`, else of the first resource.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::jv::{array_at, at, get, invalid, is_blank, missing, parse_object, rest_of, str_at};
use super::{
    Format, Parser, Sniff, VendorSpec, content_uid, decision_outcome, ip_text, parse_timestamp_ms,
};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{AccountChangeRow, AuthenticationRow, BaseEventRow, Common, TableBuilders};
use crate::site::Site;

/// PingOne audit activities (API pages, webhook batches, single activities).
pub static SPEC: VendorSpec = VendorSpec {
    name: "pingone",
    aliases: &[],
    framing: Framing::Json,
    // The API page nests its array at `_embedded.activities`, which the framer does not open:
    // the parser reads pages whole.
    envelope_keys: &[],
    stateful: false,
    sniff: Sniff::Json(looks_like_pingone),
    parser: |site| Box::new(PingOneParser::new(site)),
};

/// The pingone format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct PingOneParser {
    site: Arc<Site>,
}

impl PingOneParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// Whether a JSON record is a PingOne activity, a batch of them, or an activities page.
pub fn looks_like_pingone(head: &str) -> bool {
    // `actors` (plural) and `result` tell it from Okta's `actor` / `outcome`.
    (head.contains("\"recordedAt\"")
        && head.contains("\"action\"")
        && (head.contains("\"actors\"")
            || head.contains("\"resources\"")
            || head.contains("\"result\"")))
        || (head.contains("\"_embedded\"") && head.contains("\"activities\""))
}

impl Parser for PingOneParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a PingOne activity")?;
        let mut rows = Vec::new();
        if let Some(embedded) = get(&value, "_embedded") {
            // An API page: every activity, or none.
            let items = match get(embedded, "activities") {
                None => &[][..],
                Some(Value::Array(items)) => items.as_slice(),
                Some(other) => {
                    let text = other
                        .as_str()
                        .map_or_else(|| other.to_string(), str::to_string);
                    return Err(invalid("_embedded.activities", &text));
                }
            };
            for (i, item) in items.iter().enumerate() {
                let row = if item.is_object() {
                    map_activity(item, None, &self.site, raw_ref)
                } else {
                    Err(ParseError::new(ErrorKind::InvalidJson, "not a JSON object"))
                };
                rows.push(row.map_err(|e| {
                    ParseError::new(e.kind, format!("_embedded.activities[{i}]: {}", e.detail))
                })?);
            }
        } else {
            rows.push(map_activity(&value, Some(record), &self.site, raw_ref)?);
        }
        let n = rows.len();
        for row in rows {
            match row {
                Out::Auth(mut row) => out.authentication.append(&mut row),
                Out::Change(mut row) => out.account_change.append(&mut row),
                Out::Base(mut row, event_type, raw) => {
                    out.append_base_event(&mut row, &event_type, &raw)
                }
            }
        }
        Ok(n)
    }
}

/// The row of one activity.
enum Out<'v> {
    /// Boxed: a sign-in row is twice the size of the others.
    Auth(Box<AuthenticationRow<'v>>),
    Change(AccountChangeRow<'v>),
    /// The row, its event type, and the activity's bytes (for `raw_data`).
    Base(BaseEventRow<'v>, String, Cow<'v, [u8]>),
}

// ---------------------------------------------------------------------------------------------
// Classification.

/// How an action decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The action states success.
    Allow,
    /// The action states a refusal: this decision, unless the result's description names a
    /// more precise one (a lock, a disabled account, risk, the device).
    Deny(&'static str),
    /// The action states this decision.
    Fixed(&'static str),
    /// `result.status` decides: success → allow; failure → the description, else this.
    ByResult(&'static str),
    /// A logoff: no decision.
    Logoff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Auth {
    activity_id: i32,
    activity_name: &'static str,
    outcome: Outcome,
    /// The factor the action checks: name and OCSF factor type id.
    factor: Option<(&'static str, i32)>,
    /// The action verifies (or refuses) a second factor.
    mfa: bool,
    /// The protocol the action names: name and OCSF auth protocol id.
    protocol: Option<(&'static str, i32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    activity_id: i32,
    activity_name: &'static str,
    change_type: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    Auth(Auth),
    Change(Change),
    Other,
}

fn classify(action: &str) -> Mapping {
    const LOGON: (i32, &str) = (1, "Logon");
    const MFA: (i32, &str) = (99, "MFA Verification");
    const PASSWORD: Option<(&str, i32)> = Some(("PASSWORD", 11));
    const OTP: Option<(&str, i32)> = Some(("OTP", 7));
    const FIDO2: Option<(&str, i32)> = Some(("FIDO2", 10));
    const PUSH: Option<(&str, i32)> = Some(("PUSH", 5));
    let auth =
        |(activity_id, activity_name): (i32, &'static str), outcome, factor, mfa, protocol| {
            Mapping::Auth(Auth {
                activity_id,
                activity_name,
                outcome,
                factor,
                mfa,
                protocol,
            })
        };
    let change = |activity_id, activity_name, change_type| {
        Mapping::Change(Change {
            activity_id,
            activity_name,
            change_type,
        })
    };
    let kerberos = Some(("KERBEROS", 2));
    match action.to_ascii_uppercase().as_str() {
        "USER.ACCESS_ALLOWED" => auth(LOGON, Outcome::Allow, None, false, None),
        "USER.ACCESS_DENIED" => auth(LOGON, Outcome::Deny("deny_policy"), None, false, None),
        "PASSWORD.CHECK_SUCCEEDED" => auth(LOGON, Outcome::Allow, PASSWORD, false, None),
        "PASSWORD.CHECK_FAILED" => auth(
            LOGON,
            Outcome::Deny("deny_credentials"),
            PASSWORD,
            false,
            None,
        ),
        "USER.LOCKED" => auth(
            (99, "Account Lock"),
            Outcome::Fixed("locked_out"),
            None,
            false,
            None,
        ),
        "OTP.CHECK_SUCCESS" => auth(MFA, Outcome::Allow, OTP, true, None),
        "OTP.CHECK_FAILED" | "OTP.CHECK_INVALID" => {
            auth(MFA, Outcome::Fixed("mfa_failed"), OTP, true, None)
        }
        "ASSERTION.CHECK_SUCCESS" => auth(MFA, Outcome::Allow, FIDO2, true, None),
        "ASSERTION.CHECK_FAILED" => auth(MFA, Outcome::Fixed("mfa_failed"), FIDO2, true, None),
        "DEVICE_PAYLOAD.CHECK_SUCCESS" => auth(MFA, Outcome::Allow, PUSH, true, None),
        "DEVICE_PAYLOAD.CHECK_INVALID" | "DEVICE_PAYLOAD.CHECK_FAILED" => {
            auth(MFA, Outcome::Fixed("mfa_failed"), PUSH, true, None)
        }
        "DEVICE.FRAUD_REPORTED" => auth(MFA, Outcome::Fixed("mfa_denied"), PUSH, true, None),
        "AUTHENTICATION.CREATED" | "AUTHENTICATION.UPDATED" | "SESSION.CREATED" => {
            auth(LOGON, Outcome::ByResult("other"), None, false, None)
        }
        "RADIUS_SESSION.CREATED" => auth(
            LOGON,
            Outcome::ByResult("other"),
            None,
            false,
            Some(("RADIUS", 10)),
        ),
        "USER.KERBEROS_SUCCEEDED" => auth(LOGON, Outcome::Allow, None, false, kerberos),
        "USER.KERBEROS_FAILED" => auth(
            LOGON,
            Outcome::Deny("deny_credentials"),
            None,
            false,
            kerberos,
        ),
        "SESSION.DELETED" | "USER.SLO_SUCCESS" | "USER.SLO_FAILURE" | "USER.SLO_REQUESTED" => {
            auth((2, "Logoff"), Outcome::Logoff, None, false, None)
        }
        "PASSWORD.RESET" | "PASSWORD.RECOVERY" | "PASSWORD.SET" => {
            change(4, "Password Reset", "password_reset")
        }
        "DEVICE.DELETED" => change(11, "MFA Factor Disable", "mfa_reset"),
        _ => Mapping::Other,
    }
}

/// `result.status`, documented SUCCESS / FAILED; integrations also see FAILURE, succeeded …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResultStatus {
    Success,
    Failure,
    Unknown,
}

fn result_of(status: Option<&str>) -> ResultStatus {
    let status = status.unwrap_or("").trim().to_ascii_uppercase();
    if status.starts_with("SUCC") {
        ResultStatus::Success
    } else if status.starts_with("FAIL") {
        ResultStatus::Failure
    } else {
        ResultStatus::Unknown
    }
}

fn status_id(result: ResultStatus) -> i32 {
    match result {
        ResultStatus::Success => 1,
        ResultStatus::Failure => 2,
        ResultStatus::Unknown => 0,
    }
}

/// The decision a refusal's description names, if any (`result.description` is free text).
pub fn decision_from_description(description: &str) -> Option<&'static str> {
    // Quoted names (`Access to application 'Device Portal' denied: …`) are the app's or the
    // user's, not the reason: an app named "Risk Dashboard" must not read as a risk denial.
    let d = without_quoted(description).to_ascii_lowercase();
    Some(if d.contains("locked") {
        "locked_out"
    } else if d.contains("disabled") || d.contains("suspended") {
        "account_disabled"
    } else if d.contains("risk") {
        "deny_risk"
    } else if d.contains("device") {
        "deny_device_posture"
    } else if d.contains("polic")
        || d.contains("not a member")
        || d.contains("not assigned")
        || d.contains("not authorized")
        || d.contains("permission")
    {
        "deny_policy"
    } else if d.contains("credential") || d.contains("password") {
        "deny_credentials"
    } else {
        return None;
    })
}

/// `text` with every '…' or "…" quotation removed: a quote opens only at the start or after a
/// space or bracket, so the apostrophe of "user's device" is text.
fn without_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<char> = None;
    let mut previous = ' ';
    for c in text.chars() {
        match open {
            Some(q) if c == q => open = None,
            Some(_) => {}
            None if (c == '\'' || c == '"') && matches!(previous, ' ' | '(' | '[' | ':') => {
                open = Some(c)
            }
            None => out.push(c),
        }
        previous = c;
    }
    out
}

/// The decision of an action and its result.
fn decide(outcome: Outcome, result: ResultStatus, description: &str) -> Option<&'static str> {
    match outcome {
        Outcome::Allow => Some("allow"),
        Outcome::Deny(default) => Some(decision_from_description(description).unwrap_or(default)),
        Outcome::Fixed(decision) => Some(decision),
        Outcome::ByResult(default) => Some(match result {
            ResultStatus::Success => "allow",
            ResultStatus::Failure => decision_from_description(description).unwrap_or(default),
            ResultStatus::Unknown => "other",
        }),
        Outcome::Logoff => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping.

/// Top-level members with a column (or dropped on purpose: `_links` is the activity's own URL).
const KNOWN_TOP: &[&str] = &[
    "_links",
    "id",
    "recordedAt",
    "createdAt",
    "correlationId",
    "actors",
    "action",
    "resources",
    "result",
    "source",
];

/// What no column holds: unknown top-level members, `createdAt`, the resources, and the rest
/// of `result` and `source`.
fn unmapped_of(activity: &Value) -> Option<Cow<'static, str>> {
    let mut map = match rest_of(activity, KNOWN_TOP) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for key in ["createdAt", "resources"] {
        if let Some(v) = get(activity, key).filter(|v| !is_blank(v)) {
            map.insert(key.into(), v.clone());
        }
    }
    if let Some(left) = get(activity, "result").and_then(|r| rest_of(r, &["status", "description"]))
    {
        map.insert("result".into(), left);
    }
    if let Some(left) =
        get(activity, "source").and_then(|s| rest_of(s, &["ipAddress", "userAgent"]))
    {
        map.insert("source".into(), left);
    }
    (!map.is_empty()).then(|| Cow::Owned(Value::Object(map).to_string()))
}

/// The environment id in `…/environments/<id>/activities/…`.
fn environment_of(href: &str) -> Option<String> {
    let (_, rest) = href.split_once("/environments/")?;
    let id = rest.split(['/', '?']).next()?;
    (!id.is_empty()).then(|| id.to_string())
}

fn is_type(value: &Value, kind: &str) -> bool {
    str_at(value, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case(kind))
}

/// The people and client of an activity.
struct Parties<'v> {
    user_uid: Option<Cow<'v, str>>,
    user_name: Option<Cow<'v, str>>,
    /// `actors.user`, when it is someone other than the user (an administrator).
    actor_uid: Option<Cow<'v, str>>,
    actor_name: Option<Cow<'v, str>>,
    client_uid: Option<Cow<'v, str>>,
    client_name: Option<Cow<'v, str>>,
}

fn parties(activity: &Value) -> Parties<'_> {
    let resources = array_at(activity, &["resources"]);
    let resource = resources.iter().find(|r| is_type(r, "USER"));
    let actor = at(activity, &["actors", "user"]);
    let client = at(activity, &["actors", "client"]);
    let (user_uid, user_name) = match resource.or(actor) {
        Some(user) => (str_at(user, &["id"]), str_at(user, &["name"])),
        None => (None, None),
    };
    let actor_uid = actor.and_then(|a| str_at(a, &["id"]));
    let other_actor = resource.is_some() && actor_uid.is_some() && actor_uid != user_uid;
    Parties {
        user_uid,
        user_name,
        actor_uid: actor_uid.filter(|_| other_actor),
        actor_name: actor
            .and_then(|a| str_at(a, &["name"]))
            .filter(|_| other_actor),
        client_uid: client.and_then(|c| str_at(c, &["id"])),
        client_name: client.and_then(|c| str_at(c, &["name"])),
    }
}

fn email_of<'v>(name: &Option<Cow<'v, str>>) -> Option<Cow<'v, str>> {
    name.clone().filter(|n| n.contains('@'))
}

fn map_activity<'v>(
    activity: &'v Value,
    record: Option<&'v [u8]>,
    site: &Site,
    raw_ref: &'v str,
) -> Result<Out<'v>, ParseError> {
    let time = match str_at(activity, &["recordedAt"]) {
        Some(text) => parse_timestamp_ms(&text).ok_or_else(|| invalid("recordedAt", &text))?,
        None => {
            let text = str_at(activity, &["createdAt"]).ok_or_else(|| missing("recordedAt"))?;
            parse_timestamp_ms(&text).ok_or_else(|| invalid("createdAt", &text))?
        }
    };
    let action = str_at(activity, &["action", "type"]).ok_or_else(|| missing("action.type"))?;
    // The activity's bytes, for a content id and `raw_data`: the record, or (in a page) the
    // activity written back as JSON.
    let raw = || -> Cow<'v, [u8]> {
        match record {
            Some(bytes) => Cow::Borrowed(bytes),
            None => Cow::Owned(serde_json::to_vec(activity).unwrap_or_default()),
        }
    };
    let result_status = str_at(activity, &["result", "status"]);
    let result = result_of(result_status.as_deref());
    let description = str_at(activity, &["result", "description"]);
    let tenant = str_at(activity, &["_links", "self", "href"])
        .and_then(|h| environment_of(&h))
        .map(Cow::Owned)
        .or_else(|| {
            array_at(activity, &["resources"])
                .first()
                .and_then(|r| str_at(r, &["environment", "id"]))
        })
        .or_else(|| str_at(activity, &["actors", "user", "environment", "id"]))
        .or_else(|| str_at(activity, &["actors", "client", "environment", "id"]));
    let common = Common {
        time: Some(time),
        severity_id: Some(1),
        status_code: result_status,
        status_detail: description.clone(),
        message: str_at(activity, &["action", "description"]),
        metadata_uid: Some(
            str_at(activity, &["id"]).unwrap_or_else(|| Cow::Owned(content_uid("pingone", &raw()))),
        ),
        metadata_correlation_uid: str_at(activity, &["correlationId"]),
        metadata_event_code: Some(action.clone()),
        metadata_log_name: Some(Cow::Borrowed("Audit Activities")),
        metadata_product_name: Some(Cow::Borrowed("pingone")),
        metadata_product_vendor_name: Some(Cow::Borrowed("Ping Identity")),
        metadata_tenant_uid: tenant,
        raw_ref: Some(Cow::Borrowed(raw_ref)),
        ..Common::default()
    };
    let who = parties(activity);
    let ip = str_at(activity, &["source", "ipAddress"]).and_then(ip_text);
    Ok(match classify(&action) {
        Mapping::Auth(auth) => {
            let description = description.as_deref().unwrap_or("");
            Out::Auth(Box::new(map_auth(
                activity,
                common,
                auth,
                result,
                description,
                who,
                ip,
                site,
            )))
        }
        Mapping::Change(change) => {
            Out::Change(map_change(activity, common, change, result, who, ip))
        }
        Mapping::Other => {
            let mut row = BaseEventRow {
                common,
                ..BaseEventRow::default()
            };
            row.common.status_id = Some(status_id(result));
            let own = &mut row.own;
            if let Some(actor) = at(activity, &["actors", "user"]) {
                // A person acted: an administrator, or the user on their own account.
                let name = str_at(actor, &["name"]);
                own.actor_user_uid = str_at(actor, &["id"]);
                own.actor_user_email_addr = email_of(&name);
                own.actor_user_name = name;
                own.actor_user_type_id = Some(1);
            } else if who.client_uid.is_some() || who.client_name.is_some() {
                own.actor_user_uid = who.client_uid;
                own.actor_user_name = who.client_name;
                own.actor_user_type_id = Some(4);
            }
            own.src_endpoint_ip = ip;
            if let Some(target) = array_at(activity, &["resources"]).first() {
                own.zt_target_type = str_at(target, &["type"]);
                own.zt_target_uid = str_at(target, &["id"]);
                own.zt_target_name = str_at(target, &["name"]);
            }
            Out::Base(row, action.into_owned(), raw())
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn map_auth<'v>(
    activity: &'v Value,
    common: Common<'v>,
    auth: Auth,
    result: ResultStatus,
    description: &str,
    who: Parties<'v>,
    ip: Option<Cow<'v, str>>,
    site: &Site,
) -> AuthenticationRow<'v> {
    let mut row = AuthenticationRow {
        common,
        ..AuthenticationRow::default()
    };
    let decision = decide(auth.outcome, result, description);
    let c = &mut row.common;
    c.activity_id = Some(auth.activity_id);
    c.activity_name = Some(Cow::Borrowed(auth.activity_name));
    let own = &mut row.own;
    match decision {
        Some(d) => {
            let (action_id, disposition_id, status) = decision_outcome(d);
            c.status_id = Some(match (d, result) {
                // A failure PingOne does not explain is still a failure.
                ("other", ResultStatus::Failure) => 2,
                ("other", _) => 0,
                _ => status,
            });
            own.action_id = Some(action_id);
            own.disposition_id = Some(disposition_id);
            own.zt_decision = Some(Cow::Borrowed(d));
        }
        None => c.status_id = Some(status_id(result)),
    }

    let has_user = who.user_uid.is_some() || who.user_name.is_some();
    if has_user {
        let login = who.user_name.as_deref().unwrap_or("");
        own.user_type_id = Some(if !login.is_empty() && site.is_service_account(login) {
            4
        } else {
            1
        });
        own.user_email_addr = email_of(&who.user_name);
        own.user_domain = own
            .user_email_addr
            .as_deref()
            .and_then(|e| e.split_once('@'))
            .map(|(_, d)| Cow::Owned(d.to_string()));
        own.user_uid = who.user_uid;
        own.user_name = who.user_name;
        own.actor_user_uid = who.actor_uid;
    } else if who.client_uid.is_some() || who.client_name.is_some() {
        // A client-credential call: the application is the one signing in.
        own.user_uid = who.client_uid.clone();
        own.user_name = who.client_name.clone();
        own.user_type_id = Some(4);
    }
    // People sign in through a flow; a client alone is a service.
    own.is_interactive = Some(has_user);
    own.is_remote = Some(true);
    own.src_endpoint_ip = ip;
    own.http_request_user_agent = str_at(activity, &["source", "userAgent"]);

    let application = array_at(activity, &["resources"])
        .iter()
        .find(|r| is_type(r, "APPLICATION"));
    own.service_name = who
        .client_name
        .or_else(|| application.and_then(|a| str_at(a, &["name"])));
    own.service_uid = who
        .client_uid
        .or_else(|| application.and_then(|a| str_at(a, &["id"])));
    own.session_uid = array_at(activity, &["resources"])
        .iter()
        .find(|r| is_type(r, "SESSION"))
        .and_then(|s| str_at(s, &["id"]));
    super::tag_auth_app(own, site);

    if let Some((factor, type_id)) = auth.factor {
        own.auth_factor = Some(Cow::Borrowed(factor));
        own.auth_factor_type_id = Some(type_id);
        own.auth_factor_provider = Some(Cow::Borrowed("PINGONE"));
        own.auth_factors = vec![Cow::Borrowed(factor)];
    }
    if let Some((protocol, id)) = auth.protocol {
        own.auth_protocol = Some(Cow::Borrowed(protocol));
        own.auth_protocol_id = Some(id);
    }
    own.is_mfa = Some(auth.mfa);
    // A verified factor protects the sign-in, as Okta's verify events do; sign-ins themselves
    // do not say (the flow's factor events do).
    if auth.mfa && decision == Some("allow") {
        own.zt_mfa_satisfied = Some(true);
    }
    row.common.unmapped = unmapped_of(activity);
    row
}

fn map_change<'v>(
    activity: &'v Value,
    common: Common<'v>,
    change: Change,
    result: ResultStatus,
    who: Parties<'v>,
    ip: Option<Cow<'v, str>>,
) -> AccountChangeRow<'v> {
    let mut row = AccountChangeRow {
        common,
        ..AccountChangeRow::default()
    };
    let c = &mut row.common;
    c.activity_id = Some(change.activity_id);
    c.activity_name = Some(Cow::Borrowed(change.activity_name));
    c.status_id = Some(status_id(result));
    c.unmapped = unmapped_of(activity);
    let own = &mut row.own;
    own.zt_change_type = Some(Cow::Borrowed(change.change_type));
    own.user_email_addr = email_of(&who.user_name);
    own.user_type_id = (who.user_uid.is_some() || who.user_name.is_some()).then_some(1);
    own.user_uid = who.user_uid;
    own.user_name = who.user_name;
    if who.actor_uid.is_some() {
        own.actor_user_uid = who.actor_uid;
        own.actor_user_name = who.actor_name;
    } else if at(activity, &["actors", "user"]).is_none() {
        // No person acted: the client did (an administration API call, a self-service app).
        own.actor_user_uid = who.client_uid;
        own.actor_user_name = who.client_name;
    }
    own.src_endpoint_ip = ip;
    row
}

#[cfg(test)]
mod quoted_tests {
    use super::*;

    #[test]
    fn quoted_app_names_are_not_reasons() {
        assert_eq!(
            decision_from_description(
                "Access to application 'Risk Dashboard' denied: user is not a member of an allowed group"
            ),
            Some("deny_policy")
        );
        assert_eq!(
            decision_from_description("Access denied: the user's device is not compliant"),
            Some("deny_device_posture")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_read_loosely() {
        assert_eq!(result_of(Some("SUCCESS")), ResultStatus::Success);
        assert_eq!(result_of(Some("succeeded")), ResultStatus::Success);
        assert_eq!(result_of(Some("FAILED")), ResultStatus::Failure);
        assert_eq!(result_of(Some("FAILURE")), ResultStatus::Failure);
        assert_eq!(result_of(Some("")), ResultStatus::Unknown);
        assert_eq!(result_of(None), ResultStatus::Unknown);
    }

    #[test]
    fn actions_decide() {
        let desc = "Access to application 'Payroll' denied: user is not a member of a group \
                    required by the application access policy";
        let Mapping::Auth(denied) = classify("USER.ACCESS_DENIED") else {
            panic!("USER.ACCESS_DENIED is a sign-in");
        };
        assert_eq!(
            decide(denied.outcome, ResultStatus::Failure, desc),
            Some("deny_policy")
        );
        assert_eq!(
            decide(denied.outcome, ResultStatus::Failure, "Denied: high risk"),
            Some("deny_risk")
        );
        let Mapping::Auth(password) = classify("PASSWORD.CHECK_FAILED") else {
            panic!("PASSWORD.CHECK_FAILED is a sign-in");
        };
        assert_eq!(
            decide(
                password.outcome,
                ResultStatus::Failure,
                "Invalid credentials"
            ),
            Some("deny_credentials")
        );
        assert_eq!(
            decide(password.outcome, ResultStatus::Failure, "Account is locked"),
            Some("locked_out")
        );
        let Mapping::Auth(session) = classify("SESSION.CREATED") else {
            panic!("SESSION.CREATED is a sign-in");
        };
        assert_eq!(
            decide(session.outcome, ResultStatus::Success, ""),
            Some("allow")
        );
        assert_eq!(
            decide(session.outcome, ResultStatus::Failure, "?"),
            Some("other")
        );
        let Mapping::Auth(fraud) = classify("DEVICE.FRAUD_REPORTED") else {
            panic!("DEVICE.FRAUD_REPORTED is an MFA step");
        };
        assert!(fraud.mfa);
        assert_eq!(
            decide(fraud.outcome, ResultStatus::Success, ""),
            Some("mfa_denied")
        );
        assert_eq!(classify("APPLICATION.UPDATED"), Mapping::Other);
        assert!(matches!(classify("password.reset"), Mapping::Change(_)));
    }

    #[test]
    fn environment_from_the_self_link() {
        assert_eq!(
            environment_of("https://api.pingone.eu/v1/environments/e-1/activities/a-1").as_deref(),
            Some("e-1")
        );
        assert_eq!(
            environment_of("https://api.pingone.eu/v1/environments/e-2?x=1").as_deref(),
            Some("e-2")
        );
        assert_eq!(environment_of("https://example.com/other"), None);
    }
}
