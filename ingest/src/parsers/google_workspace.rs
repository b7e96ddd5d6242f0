//! Google Workspace login audit → `authentication`, `account_change`.
//!
//! Input, one activity per record, in either of the two shapes Google delivers:
//! - Admin SDK Reports API activities (`activities.list` with `applicationName=login`): the
//!   `{"kind": "admin#reports#activities", "items": [...]}` page is split by the framer (envelope
//!   `items`), NDJSON of activities is read line by line. An activity is `id{time,
//!   uniqueQualifier, applicationName, customerId}`, `actor{callerType, email, profileId}`,
//!   `ipAddress`, `networkInfo{ipAsn[], regionCode, subdivisionCode}` and `events[{type, name,
//!   parameters[{name, value | multiValue | intValue | boolValue …}]}]`.
//! - Cloud Logging entries of Workspace data shared with Google Cloud (`protoPayload` AuditLog,
//!   `serviceName` `login.googleapis.com`; the `{"entries": [...]}` API page is split by the
//!   framer): `authenticationInfo.principalEmail`, `requestMetadata.callerIp`, and the activity
//!   under `metadata` with Cloud Logging's names (`activityId{timeUsec, uniqQualifier}`,
//!   `event[{eventType, eventName, parameter[{name, value | multiStrValue | boolValue …}]}]`).
//!
//! Both shapes are read into one model (time, unique qualifier, actor, address, events), so the
//! mapping is shared. Loose types are accepted: numbers for int64 strings, `events` as one
//! object instead of an array, `login_challenge_method` as `value` instead of `multiValue`.
//!
//! One row per `events[i]`, all of an activity's rows or none. `metadata_uid` is
//! `gws-<uniqueQualifier>-<epoch ms>-<i>`: the qualifier is only unique among events of the same
//! time, so the time is part of the key, in milliseconds so the Reports API (`id.time`, ms) and
//! Cloud Logging (`timeUsec`, floored to ms) give the same event the same id.
//! `metadata_correlation_uid` (`<uniqueQualifier>-<epoch ms>`) groups the events of one activity.
//!
//! | event (`applicationName` login) | table | zt_decision |
//! |---|---|---|
//! | `login_success` | authentication, 1 Logon | allow |
//! | `login_failure` | authentication, 1 Logon | by `login_failure_type`: invalid_password → deny_credentials, account_disabled → account_disabled, access_code_disallowed → deny_policy, invalid_second_factor / missing_second_factor → mfa_failed, else other (status 2) |
//! | `login_challenge` | authentication, 99 Login Challenge, an MFA step | `login_challenge_status` passed → allow, other → mfa_failed, none → challenge_mfa |
//! | `login_verification` | authentication, 99 MFA Verification, an MFA step when `is_second_factor` | same |
//! | `logout` | authentication, 2 Logoff | none |
//! | `suspicious_login`, `suspicious_login_less_secure_app`, `suspicious_programmatic_login` | authentication, 1 Logon | deny_risk (Google blocked the login) |
//! | `account_disabled_*` | account_change, 5 Disable | suspend |
//! | `user_signed_out_due_to_suspicious_session_cookie` | account_change, 99 Other | session_revoke |
//! | `2sv_disable` / `password_edit` | account_change, 11 / 3 | mfa_reset / password_change |
//!
//! Every other event (2SV enrollment, recovery info, passkeys, Advanced Protection, risky
//! sensitive actions, government attack warnings) and every event of another `applicationName`
//! is stored in `base_event` (event type = the name, prefixed `<applicationName>:` outside
//! `login`). Account warnings name the user in `affected_email_address`: that is the user, a
//! differing actor is `actor_user_uid`.
//!
//! MFA: `login_challenge_method` lists the methods of the login; the factors are the methods
//! other than `password`, `none`, `saml`, `captcha` and `other` (`auth_factors`), the deciding
//! one is the last. A `login_success` is not an MFA step (its `login_verification` and
//! `login_challenge` events are); it states `zt_mfa_satisfied`: true with a second factor
//! (push, SMS, OTP, security key, passkey, backup code), false with the password only, null for
//! SAML, Exchange and re-authentication logins (Google does not know how the user proved it).
//! `service_name` is the constant `Google Workspace`, so `site.apps[].idp_apps` and
//! `site.privileged_apps` can name it.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::jv::{
    MAX_EPOCH_SECONDS, array_at, as_i64, as_text, bool_at, first_str, get, invalid, missing,
    parse_object, rest_of, str_at, time_at,
};
use super::{
    Format, Parser, Sniff, VendorSpec, content_uid, decision_outcome, ip_text, parse_timestamp_ms,
};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{AccountChangeRow, AuthenticationRow, BaseEventRow, Common, TableBuilders};
use crate::site::Site;

/// Google Workspace login audit (Reports API activities, Cloud Logging entries).
pub static SPEC: VendorSpec = VendorSpec {
    name: "google_workspace",
    aliases: &["gws", "google_login"],
    framing: Framing::Json,
    envelope_keys: &["items", "entries"],
    stateful: false,
    sniff: Sniff::Json(looks_like_google_workspace),
    parser: |site| Box::new(GoogleWorkspaceParser::new(site)),
};

/// The google_workspace format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct GoogleWorkspaceParser {
    site: Arc<Site>,
}

impl GoogleWorkspaceParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// Whether a JSON record is a Reports API activity (or page), or a Cloud Logging entry of the
/// Workspace login audit.
pub fn looks_like_google_workspace(head: &str) -> bool {
    // `admin#reports#activity` and `admin#reports#activities` share this prefix.
    head.contains("admin#reports#activit")
        || (head.contains("\"uniqueQualifier\"")
            && head.contains("\"applicationName\"")
            && head.contains("\"events\""))
        || (head.contains("\"protoPayload\"")
            && (head.contains("login.googleapis.com")
                || head.contains("google.login.LoginService.")))
}

/// The display name ztlens gives the target of every Workspace login (for site app tags).
pub const SERVICE_NAME: &str = "Google Workspace";

/// The `profileId` Google's documentation prints as an example: no account's id.
const PLACEHOLDER_PROFILE_ID: &str = "105250506097979753968";

/// Parameters that have a column; the others go to `unmapped.parameters`.
const MAPPED_PARAMS: &[&str] = &[
    "login_type",
    "login_challenge_method",
    "is_suspicious",
    "login_failure_type",
    "login_challenge_status",
    "is_second_factor",
    "affected_email_address",
];

impl Parser for GoogleWorkspaceParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a Google Workspace activity")?;
        let activity = match get(&value, "protoPayload") {
            Some(payload) => read_cloud_logging(&value, payload)?,
            None => read_reports(&value)?,
        };
        if activity.events.is_empty() {
            return Err(ParseError::new(
                ErrorKind::MissingField,
                "events holds no event",
            ));
        }
        // Every row is built before the first is appended: an activity is stored whole.
        let rows: Vec<Out<'_>> = activity
            .events
            .iter()
            .enumerate()
            .map(|(i, event)| map_event(&activity, event, i, record, &self.site, raw_ref))
            .collect();
        let n = rows.len();
        for row in rows {
            match row {
                Out::Auth(mut row) => out.authentication.append(&mut row),
                Out::Change(mut row) => out.account_change.append(&mut row),
                Out::Base(mut row, event_type, raw) => {
                    out.append_base_event(&mut row, &event_type, raw.as_bytes())
                }
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// The shared model of both shapes.

/// One activity: who, when, from where, and its events.
struct Activity<'v> {
    /// Epoch milliseconds.
    time: i64,
    uniq: Option<Cow<'v, str>>,
    /// `login`, `admin` … (Cloud Logging: the service name without `.googleapis.com`).
    application: String,
    tenant: Option<Cow<'v, str>>,
    actor_email: Option<Cow<'v, str>>,
    actor_uid: Option<Cow<'v, str>>,
    caller_type: Option<Cow<'v, str>>,
    ip: Option<Cow<'v, str>>,
    country: Option<Cow<'v, str>>,
    region: Option<Cow<'v, str>>,
    asn: Option<i64>,
    events: Vec<Event<'v>>,
    /// Activity fields no column holds.
    rest: Map<String, Value>,
}

struct Event<'v> {
    kind: Option<Cow<'v, str>>,
    name: Cow<'v, str>,
    params: &'v [Value],
    /// Event fields no column holds (`resourceIds` …).
    rest: Option<Value>,
}

/// The rows of one event.
enum Out<'v> {
    /// Boxed: a sign-in row is twice the size of the others.
    Auth(Box<AuthenticationRow<'v>>),
    Change(AccountChangeRow<'v>),
    /// With the event type and the event as stored in `raw_data`: the activity's identity and
    /// this one event, not the whole activity (an activity of thousands of events would
    /// otherwise be copied into every row).
    Base(BaseEventRow<'v>, String, String),
}

/// A time ztlens can store (see [`MAX_EPOCH_SECONDS`]).
fn in_range(ms: i64) -> bool {
    (ms as f64).abs() < MAX_EPOCH_SECONDS * 1000.0
}

/// A value as an error message quotes it: strings without their JSON quotes.
fn shown(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

/// The events under `key`: an array, or one object (some exporters split the array).
fn read_events<'v>(value: &'v Value, key: &str) -> Result<Vec<Event<'v>>, ParseError> {
    let items: Vec<&Value> = match get(value, key) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item @ Value::Object(_)) => vec![item],
        Some(other) => return Err(invalid(key, &shown(other))),
        None => Vec::new(),
    };
    items.into_iter().map(read_event).collect()
}

fn read_event(event: &Value) -> Result<Event<'_>, ParseError> {
    let name =
        first_str(event, &[&["name"], &["eventName"]]).ok_or_else(|| missing("events[].name"))?;
    let params = if get(event, "parameters").is_some() {
        array_at(event, &["parameters"])
    } else {
        array_at(event, &["parameter"])
    };
    Ok(Event {
        kind: first_str(event, &[&["type"], &["eventType"]]),
        name,
        params,
        rest: rest_of(
            event,
            &[
                "type",
                "name",
                "eventType",
                "eventName",
                "parameters",
                "parameter",
            ],
        ),
    })
}

/// A Reports API activity.
fn read_reports(value: &Value) -> Result<Activity<'_>, ParseError> {
    let time_text = str_at(value, &["id", "time"]).ok_or_else(|| missing("id.time"))?;
    let time = parse_timestamp_ms(&time_text)
        .filter(|ms| in_range(*ms))
        .ok_or_else(|| invalid("id.time", &time_text))?;
    let mut rest = Map::new();
    if let Some(Value::Object(top)) = rest_of(
        value,
        &["id", "actor", "ipAddress", "networkInfo", "events"],
    ) {
        rest.extend(top);
    }
    if let Some(id) = get(value, "id")
        && let Some(left) = rest_of(
            id,
            &["time", "uniqueQualifier", "applicationName", "customerId"],
        )
    {
        rest.insert("id".into(), left);
    }
    let actor = get(value, "actor");
    if let Some(left) = actor.and_then(|a| rest_of(a, &["email", "profileId", "callerType"])) {
        rest.insert("actor".into(), left);
    }
    let network = get(value, "networkInfo");
    let asns: Vec<&Value> = match network.and_then(|n| get(n, "ipAsn")) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    // The first ASN has a column; a list of several is kept whole.
    let known_network: &[&str] = if asns.len() > 1 {
        &["regionCode", "subdivisionCode"]
    } else {
        &["regionCode", "subdivisionCode", "ipAsn"]
    };
    if let Some(left) = network.and_then(|n| rest_of(n, known_network)) {
        rest.insert("networkInfo".into(), left);
    }
    Ok(Activity {
        time,
        uniq: str_at(value, &["id", "uniqueQualifier"]),
        application: str_at(value, &["id", "applicationName"])
            .map_or_else(|| "login".to_string(), Cow::into_owned),
        tenant: str_at(value, &["id", "customerId"]),
        actor_email: str_at(value, &["actor", "email"]),
        actor_uid: str_at(value, &["actor", "profileId"]).filter(|p| p != PLACEHOLDER_PROFILE_ID),
        caller_type: str_at(value, &["actor", "callerType"]),
        ip: str_at(value, &["ipAddress"]).and_then(ip_text),
        country: str_at(value, &["networkInfo", "regionCode"]).and_then(crate::country::normalize),
        region: str_at(value, &["networkInfo", "subdivisionCode"]),
        asn: asns.first().and_then(|v| as_i64(v)),
        events: read_events(value, "events")?,
        rest,
    })
}

/// A Cloud Logging entry (`protoPayload` AuditLog of `login.googleapis.com`).
fn read_cloud_logging<'v>(
    entry: &'v Value,
    payload: &'v Value,
) -> Result<Activity<'v>, ParseError> {
    let metadata = get(payload, "metadata");
    let activity_id = metadata.and_then(|m| get(m, "activityId"));
    let time = match activity_id.and_then(|a| get(a, "timeUsec")) {
        Some(v) => {
            // Floored to milliseconds, the precision of the Reports API's `id.time`, so both
            // shapes give one event one `metadata_uid`.
            as_i64(v)
                .map(|us| us.div_euclid(1000))
                .filter(|ms| in_range(*ms))
                .ok_or_else(|| invalid("protoPayload.metadata.activityId.timeUsec", &shown(v)))?
        }
        None => time_at(entry, &["timestamp"])
            .filter(|ms| in_range(*ms))
            .ok_or_else(|| missing("protoPayload.metadata.activityId.timeUsec (or timestamp)"))?,
    };
    let service = str_at(payload, &["serviceName"]);
    let application = service
        .as_deref()
        .map_or("login", |s| s.strip_suffix(".googleapis.com").unwrap_or(s));
    let mut events = match metadata {
        Some(m) => read_events(m, "event")?,
        None => Vec::new(),
    };
    if events.is_empty()
        && let Some(method) = str_at(payload, &["methodName"])
    {
        // No activity payload: the method (`google.login.LoginService.loginSuccess`) names
        // the event.
        let tail = method.rsplit('.').next().unwrap_or(&method);
        events.push(Event {
            kind: None,
            name: Cow::Owned(snake_case(tail)),
            params: &[],
            rest: None,
        });
    }

    let mut rest = Map::new();
    for key in ["insertId", "logName", "receiveTimestamp", "severity"] {
        if let Some(v) = get(entry, key) {
            rest.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = get(payload, "resourceName") {
        rest.insert("resourceName".into(), v.clone());
    }
    if let Some(left) =
        get(payload, "authenticationInfo").and_then(|a| rest_of(a, &["principalEmail"]))
    {
        rest.insert("authenticationInfo".into(), left);
    }
    if let Some(left) = get(payload, "requestMetadata").and_then(|r| rest_of(r, &["callerIp"])) {
        rest.insert("requestMetadata".into(), left);
    }
    if let Some(left) = activity_id.and_then(|a| rest_of(a, &["timeUsec", "uniqQualifier"])) {
        rest.insert("activityId".into(), left);
    }
    if let Some(left) = metadata.and_then(|m| rest_of(m, &["@type", "activityId", "event"])) {
        rest.insert("metadata".into(), left);
    }
    Ok(Activity {
        time,
        uniq: activity_id.and_then(|a| str_at(a, &["uniqQualifier"])),
        application: application.to_string(),
        // `organizations/<id>`: the Cloud organization, not the Workspace customer id.
        tenant: str_at(payload, &["resourceName"])
            .map(|r| Cow::Owned(r.strip_prefix("organizations/").unwrap_or(&r).to_string())),
        actor_email: str_at(payload, &["authenticationInfo", "principalEmail"]),
        actor_uid: None,
        caller_type: None,
        ip: str_at(payload, &["requestMetadata", "callerIp"]).and_then(ip_text),
        country: None,
        region: None,
        asn: None,
        events,
        rest,
    })
}

/// `loginSuccess` → `login_success`, `2svEnroll` → `2sv_enroll`.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Parameters.

fn param<'v>(params: &'v [Value], name: &str) -> Option<&'v Value> {
    params
        .iter()
        .find(|p| str_at(p, &["name"]).is_some_and(|n| n == name))
}

fn param_text<'v>(params: &'v [Value], name: &str) -> Option<Cow<'v, str>> {
    first_str(param(params, name)?, &[&["value"], &["intValue"]])
}

fn param_bool(params: &[Value], name: &str) -> Option<bool> {
    let p = param(params, name)?;
    bool_at(p, &["boolValue"]).or_else(|| bool_at(p, &["value"]))
}

/// A repeated string parameter (`multiValue`, Cloud Logging `multiStrValue`, or one `value`),
/// de-duplicated in order (Cloud Logging repeats methods).
fn param_list<'v>(params: &'v [Value], name: &str) -> Vec<Cow<'v, str>> {
    let Some(p) = param(params, name) else {
        return Vec::new();
    };
    let mut items = array_at(p, &["multiValue"]);
    if items.is_empty() {
        items = array_at(p, &["multiStrValue"]);
    }
    let mut out: Vec<Cow<'v, str>> = Vec::new();
    for text in items.iter().filter_map(as_text) {
        if !out.contains(&text) {
            out.push(text);
        }
    }
    if out.is_empty()
        && let Some(text) = str_at(p, &["value"])
    {
        out.push(text);
    }
    out
}

/// The value of a parameter, whichever member holds it.
fn param_value(p: &Value) -> Value {
    [
        "value",
        "multiValue",
        "multiStrValue",
        "intValue",
        "boolValue",
        "multiIntValue",
        "messageValue",
        "multiMessageValue",
    ]
    .iter()
    .find_map(|k| get(p, k).cloned())
    .unwrap_or_else(|| p.clone())
}

// ---------------------------------------------------------------------------------------------
// Mapping.

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Success,
    Failure,
    Challenge,
    Verification,
    Logout,
    Suspicious,
    Change(Change),
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    activity_id: i32,
    activity_name: &'static str,
    change_type: &'static str,
}

fn classify(application: &str, name: &str) -> Kind {
    if application != "login" {
        return Kind::Other;
    }
    let change = |activity_id, activity_name, change_type| {
        Kind::Change(Change {
            activity_id,
            activity_name,
            change_type,
        })
    };
    match name {
        "login_success" => Kind::Success,
        "login_failure" => Kind::Failure,
        "login_challenge" => Kind::Challenge,
        "login_verification" => Kind::Verification,
        "logout" => Kind::Logout,
        "suspicious_login"
        | "suspicious_login_less_secure_app"
        | "suspicious_programmatic_login" => Kind::Suspicious,
        "account_disabled_generic"
        | "account_disabled_spamming"
        | "account_disabled_spamming_through_relay"
        | "account_disabled_hijacked"
        | "account_disabled_password_leak" => change(5, "Disable", "suspend"),
        "user_signed_out_due_to_suspicious_session_cookie" => change(99, "Other", "session_revoke"),
        "2sv_disable" => change(11, "MFA Factor Disable", "mfa_reset"),
        "password_edit" => change(3, "Password Change", "password_change"),
        _ => Kind::Other,
    }
}

/// `login_challenge_method` → OCSF factor type id.
pub fn factor_type_id(method: &str) -> i32 {
    let m = method.to_ascii_lowercase();
    match m.as_str() {
        "google_prompt" | "internal_two_factor" => 5,
        "idv_preregistered_phone" | "idv_any_phone" => 1,
        "google_authenticator" | "offline_otp" => 7,
        "security_key_otp" => 6,
        "security_key" | "passkey" => 10,
        "password" => 11,
        _ if m.starts_with("knowledge_") => 2,
        _ => 99,
    }
}

/// A method that is a factor at all (the password and placeholders are not).
fn is_factor(method: &str) -> bool {
    !matches!(
        method.to_ascii_lowercase().as_str(),
        "password" | "none" | "saml" | "captcha" | "other"
    )
}

/// A method that is a second factor: what makes a login multi-factor.
fn is_second_factor(method: &str) -> bool {
    matches!(factor_type_id(method), 1 | 5 | 6 | 7 | 10)
        || method.eq_ignore_ascii_case("backup_code")
}

/// The outcome of a challenge or verification step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Passed,
    Failed,
    Unknown,
}

/// `login_challenge_status`: "Challenge Passed." (documented), `passed` (newer data), empty →
/// unknown, anything else (`Challenge Failed.`, `incorrect_answer_entered` …) → failed.
fn step_result(status: Option<&str>) -> Step {
    let Some(status) = status else {
        return Step::Unknown;
    };
    let lower = status.trim().trim_end_matches('.').to_ascii_lowercase();
    let word = lower.strip_prefix("challenge ").unwrap_or(&lower).trim();
    match word {
        "" => Step::Unknown,
        "passed" | "pass" | "success" => Step::Passed,
        _ => Step::Failed,
    }
}

/// The decision for a `login_failure_type` (with or without the `login_failure_` prefix).
pub fn failure_decision(failure_type: Option<&str>) -> &'static str {
    let lower = failure_type.unwrap_or("").trim().to_ascii_lowercase();
    match lower.strip_prefix("login_failure_").unwrap_or(&lower) {
        "invalid_password" => "deny_credentials",
        "account_disabled" => "account_disabled",
        // "The user does not have permission to log in to the service."
        "access_code_disallowed" => "deny_policy",
        "invalid_second_factor" | "missing_second_factor" => "mfa_failed",
        _ => "other",
    }
}

/// Who an event is about.
struct Subject<'v> {
    email: Option<Cow<'v, str>>,
    uid: Option<Cow<'v, str>>,
    /// The actor, when someone else acted (an admin, Google itself).
    actor: Option<Cow<'v, str>>,
    is_actor: bool,
}

/// The affected user of an account warning, else the actor.
fn subject<'v>(a: &Activity<'v>, e: &Event<'v>) -> Subject<'v> {
    match param_text(e.params, "affected_email_address") {
        Some(user)
            if a.actor_email
                .as_deref()
                .is_none_or(|actor| !actor.eq_ignore_ascii_case(&user)) =>
        {
            Subject {
                email: Some(user),
                uid: None,
                actor: a.actor_uid.clone().or_else(|| a.actor_email.clone()),
                is_actor: false,
            }
        }
        user => Subject {
            email: user.or_else(|| a.actor_email.clone()),
            uid: a.actor_uid.clone(),
            actor: None,
            is_actor: true,
        },
    }
}

/// OCSF user type: API keys and Google service accounts are services (4), as are logins
/// matching the site's service-account patterns.
fn user_type(a: &Activity<'_>, email: Option<&str>, is_actor: bool, site: &Site) -> Option<i32> {
    let login = email.unwrap_or("");
    let key = is_actor
        && a.caller_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("KEY"));
    if key
        || login.to_ascii_lowercase().ends_with(".gserviceaccount.com")
        || (!login.is_empty() && site.is_service_account(login))
    {
        Some(4)
    } else if !login.is_empty() {
        Some(1)
    } else {
        None
    }
}

fn domain_of<'v>(email: Option<&str>) -> Option<Cow<'v, str>> {
    email
        .and_then(|e| e.split_once('@'))
        .map(|(_, d)| Cow::Owned(d.to_string()))
}

/// Account and attack warnings are warnings: Medium; login events are Informational.
fn severity_id(e: &Event<'_>) -> i32 {
    match e.kind.as_deref() {
        Some("account_warning" | "attack_warning") => 3,
        _ => 1,
    }
}

/// What no column holds: the activity's other fields, the event's, and unmapped parameters.
fn unmapped_of(a: &Activity<'_>, e: &Event<'_>) -> Option<Cow<'static, str>> {
    let mut map = a.rest.clone();
    if let Some(rest) = &e.rest {
        map.insert("event".into(), rest.clone());
    }
    let mut params = Map::new();
    for p in e.params {
        if let Some(name) = str_at(p, &["name"])
            && !MAPPED_PARAMS.contains(&&*name)
        {
            params.insert(name.into_owned(), param_value(p));
        }
    }
    if !params.is_empty() {
        map.insert("parameters".into(), Value::Object(params));
    }
    (!map.is_empty()).then(|| Cow::Owned(Value::Object(map).to_string()))
}

fn common_columns<'v>(
    a: &Activity<'v>,
    e: &Event<'v>,
    index: usize,
    record: &[u8],
    raw_ref: &'v str,
) -> Common<'v> {
    let uid = match &a.uniq {
        Some(uniq) => format!("gws-{uniq}-{}-{index}", a.time),
        // Never seen: the qualifier is in every activity. Then the record is the identity.
        None => format!("{}-{index}", content_uid("gws", record)),
    };
    Common {
        time: Some(a.time),
        severity_id: Some(severity_id(e)),
        metadata_uid: Some(Cow::Owned(uid)),
        metadata_correlation_uid: a
            .uniq
            .as_ref()
            .map(|u| Cow::Owned(format!("{u}-{}", a.time))),
        metadata_event_code: Some(e.name.clone()),
        metadata_log_name: Some(Cow::Owned(a.application.clone())),
        metadata_product_name: Some(Cow::Borrowed("google_workspace")),
        metadata_product_vendor_name: Some(Cow::Borrowed("Google")),
        metadata_tenant_uid: a.tenant.clone(),
        raw_ref: Some(Cow::Borrowed(raw_ref)),
        unmapped: unmapped_of(a, e),
        ..Common::default()
    }
}

fn map_event<'v>(
    a: &Activity<'v>,
    e: &Event<'v>,
    index: usize,
    record: &[u8],
    site: &Site,
    raw_ref: &'v str,
) -> Out<'v> {
    let common = common_columns(a, e, index, record, raw_ref);
    match classify(&a.application, &e.name) {
        Kind::Change(change) => Out::Change(map_change(a, e, common, change, site)),
        Kind::Other => {
            let event_type = if a.application == "login" {
                e.name.to_string()
            } else {
                format!("{}:{}", a.application, e.name)
            };
            let raw = serde_json::json!({
                "time": a.time,
                "uniqueQualifier": a.uniq,
                "applicationName": a.application,
                "actor": a.actor_email,
                "ipAddress": a.ip,
                "event": {"type": e.kind, "name": e.name, "parameters": e.params},
            })
            .to_string();
            Out::Base(map_base(a, e, common, site), event_type, raw)
        }
        kind => Out::Auth(Box::new(map_auth(a, e, common, kind, site))),
    }
}

fn map_auth<'v>(
    a: &Activity<'v>,
    e: &Event<'v>,
    common: Common<'v>,
    kind: Kind,
    site: &Site,
) -> AuthenticationRow<'v> {
    let mut row = AuthenticationRow {
        common,
        ..AuthenticationRow::default()
    };
    let params = e.params;
    let login_type = param_text(params, "login_type");
    let login_type = login_type.as_deref();
    let methods = param_list(params, "login_challenge_method");
    let factors: Vec<Cow<'v, str>> = methods.iter().filter(|m| is_factor(m)).cloned().collect();
    let second_factor = factors.iter().any(|m| is_second_factor(m));
    let challenge_status = param_text(params, "login_challenge_status");
    let failure_type = param_text(params, "login_failure_type");
    let step = step_result(challenge_status.as_deref());
    // A verification that Google says is not a second factor (a re-entered password) is a
    // sign-in step, not an MFA step.
    let mfa_kind = match kind {
        Kind::Challenge => true,
        Kind::Verification => param_bool(params, "is_second_factor").unwrap_or(true),
        _ => false,
    };

    let (activity_id, activity_name) = match kind {
        Kind::Challenge => (99, "Login Challenge"),
        Kind::Verification => (99, "MFA Verification"),
        Kind::Logout => (2, "Logoff"),
        _ => (1, "Logon"),
    };
    let decision: Option<&'static str> = match kind {
        Kind::Success => Some("allow"),
        Kind::Failure => Some(failure_decision(failure_type.as_deref())),
        Kind::Challenge | Kind::Verification => Some(match step {
            Step::Passed => "allow",
            Step::Failed if mfa_kind => "mfa_failed",
            Step::Failed => "deny_credentials",
            Step::Unknown => "challenge_mfa",
        }),
        Kind::Suspicious => Some("deny_risk"),
        Kind::Logout | Kind::Change(_) | Kind::Other => None,
    };
    // An MFA step: a factor was verified or refused (a pending challenge is not a step yet).
    let is_mfa = match kind {
        Kind::Challenge | Kind::Verification => mfa_kind && step != Step::Unknown,
        Kind::Failure => decision == Some("mfa_failed"),
        _ => false,
    };

    let c = &mut row.common;
    c.activity_id = Some(activity_id);
    c.activity_name = Some(Cow::Borrowed(activity_name));
    c.status_code = match kind {
        Kind::Failure => failure_type.clone(),
        Kind::Challenge | Kind::Verification => challenge_status.clone(),
        _ => None,
    };
    if kind == Kind::Suspicious {
        c.status_detail = Some(e.name.clone());
    }
    let own = &mut row.own;
    match decision {
        Some(d) => {
            let (action_id, disposition_id, status_id) = decision_outcome(d);
            // A failure Google does not explain is still a failure.
            c.status_id = Some(if d == "other" { 2 } else { status_id });
            own.action_id = Some(action_id);
            own.disposition_id = Some(disposition_id);
            own.zt_decision = Some(Cow::Borrowed(d));
            if d == "challenge_mfa" {
                own.zt_required_controls = vec![Cow::Borrowed("mfa")];
            }
        }
        None => c.status_id = Some(1),
    }

    let who = subject(a, e);
    own.user_type_id = user_type(a, who.email.as_deref(), who.is_actor, site);
    own.user_domain = domain_of(who.email.as_deref());
    // Google names a Workspace account by its address only.
    own.user_name = who.email.clone();
    own.user_email_addr = who.email;
    own.user_uid = who.uid;
    own.actor_user_uid = who.actor;
    own.src_endpoint_ip = a.ip.clone();
    own.src_endpoint_location_country = a.country.clone();
    own.src_endpoint_location_region = a.region.clone();
    own.src_endpoint_as_number = a.asn;
    own.is_remote = Some(true);
    own.is_interactive = match login_type {
        Some("google_password" | "saml" | "reauth") => Some(true),
        Some("exchange") => Some(false),
        _ => None,
    };
    own.auth_protocol = login_type
        .filter(|t| !t.eq_ignore_ascii_case("unknown"))
        .map(|t| Cow::Owned(t.to_string()));
    own.auth_protocol_id = own.auth_protocol.as_deref().map(|t| match t {
        "saml" => 5,
        _ => 99,
    });
    own.service_name = Some(Cow::Borrowed(SERVICE_NAME));
    super::tag_auth_app(own, site);

    // Factors: every one listed; the deciding one is the last (the password comes first).
    if let Some(last) = factors.last() {
        own.auth_factor = Some(last.clone());
        own.auth_factor_type_id = Some(factor_type_id(last));
        own.auth_factor_provider = Some(Cow::Borrowed("GOOGLE"));
    } else if methods.iter().any(|m| m.eq_ignore_ascii_case("password")) {
        own.auth_factor = Some(Cow::Borrowed("password"));
        own.auth_factor_type_id = Some(11);
        own.auth_factor_provider = Some(Cow::Borrowed("GOOGLE"));
    }
    own.auth_factors = factors;
    own.is_mfa = Some(is_mfa);
    own.zt_mfa_satisfied = match kind {
        // A verified step protects the login, as Okta's verify events do.
        Kind::Challenge | Kind::Verification if is_mfa && decision == Some("allow") => Some(true),
        // Google relays SAML logins and does not see how Exchange and re-authentication
        // proved the user: it does not say.
        Kind::Success => match login_type {
            Some("saml" | "exchange" | "reauth" | "unknown") => None,
            _ if methods.is_empty() => None,
            _ => Some(second_factor),
        },
        _ => None,
    };

    // Risk: Google flags a suspicious login without a level; a blocked one is High.
    let mut behaviors: Vec<Cow<'v, str>> = Vec::new();
    if param_bool(params, "is_suspicious") == Some(true) {
        behaviors.push(Cow::Borrowed("is_suspicious"));
        own.risk_level_id = Some(2);
    }
    if kind == Kind::Suspicious {
        behaviors.push(e.name.clone());
        own.risk_level_id = Some(3);
    }
    if !behaviors.is_empty() {
        own.risk_level = Some(Cow::Borrowed("suspicious"));
    }
    own.zt_behaviors = behaviors;
    row
}

fn map_change<'v>(
    a: &Activity<'v>,
    e: &Event<'v>,
    common: Common<'v>,
    change: Change,
    site: &Site,
) -> AccountChangeRow<'v> {
    let mut row = AccountChangeRow {
        common,
        ..AccountChangeRow::default()
    };
    let c = &mut row.common;
    c.activity_id = Some(change.activity_id);
    c.activity_name = Some(Cow::Borrowed(change.activity_name));
    c.status_id = Some(1);
    c.status_detail = Some(e.name.clone());
    let who = subject(a, e);
    let own = &mut row.own;
    own.zt_change_type = Some(Cow::Borrowed(change.change_type));
    own.user_type_id = user_type(a, who.email.as_deref(), who.is_actor, site);
    own.user_name = who.email.clone();
    own.user_email_addr = who.email;
    own.user_uid = who.uid;
    if !who.is_actor {
        own.actor_user_uid = who.actor;
        own.actor_user_name = a.actor_email.clone();
    }
    own.src_endpoint_ip = a.ip.clone();
    row
}

fn map_base<'v>(
    a: &Activity<'v>,
    e: &Event<'v>,
    common: Common<'v>,
    site: &Site,
) -> BaseEventRow<'v> {
    let mut row = BaseEventRow {
        common,
        ..BaseEventRow::default()
    };
    let own = &mut row.own;
    own.actor_user_uid = a.actor_uid.clone();
    own.actor_user_email_addr = a.actor_email.clone().filter(|m| m.contains('@'));
    own.actor_user_name = a.actor_email.clone();
    own.actor_user_type_id = user_type(a, a.actor_email.as_deref(), true, site);
    own.src_endpoint_ip = a.ip.clone();
    if let Some(user) = param_text(e.params, "affected_email_address") {
        own.zt_target_type = Some(Cow::Borrowed("User"));
        own.zt_target_name = Some(user);
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_types_and_second_factors() {
        assert_eq!(factor_type_id("google_prompt"), 5);
        assert_eq!(factor_type_id("idv_preregistered_phone"), 1);
        assert_eq!(factor_type_id("google_authenticator"), 7);
        assert_eq!(factor_type_id("security_key_otp"), 6);
        assert_eq!(factor_type_id("security_key"), 10);
        assert_eq!(factor_type_id("passkey"), 10);
        assert_eq!(factor_type_id("knowledge_employee_id"), 2);
        assert_eq!(factor_type_id("login_location"), 99);
        assert!(is_second_factor("backup_code"));
        assert!(!is_second_factor("knowledge_preregistered_email"));
        assert!(!is_second_factor("password"));
        assert!(!is_factor("password") && !is_factor("none") && is_factor("login_location"));
    }

    #[test]
    fn challenge_status_spellings() {
        assert_eq!(step_result(Some("Challenge Passed.")), Step::Passed);
        assert_eq!(step_result(Some("passed")), Step::Passed);
        assert_eq!(step_result(Some("Challenge Failed.")), Step::Failed);
        assert_eq!(step_result(Some("incorrect_answer_entered")), Step::Failed);
        assert_eq!(step_result(Some("")), Step::Unknown);
        assert_eq!(step_result(None), Step::Unknown);
    }

    #[test]
    fn failure_types() {
        let cases = [
            ("login_failure_invalid_password", "deny_credentials"),
            ("login_failure_account_disabled", "account_disabled"),
            ("login_failure_access_code_disallowed", "deny_policy"),
            ("login_failure_invalid_second_factor", "mfa_failed"),
            ("login_failure_missing_second_factor", "mfa_failed"),
            ("login_failure_unknown", "other"),
            ("invalid_password", "deny_credentials"),
        ];
        for (failure, want) in cases {
            assert_eq!(failure_decision(Some(failure)), want, "{failure}");
        }
        assert_eq!(failure_decision(None), "other");
    }

    #[test]
    fn method_names_become_event_names() {
        assert_eq!(snake_case("loginSuccess"), "login_success");
        assert_eq!(snake_case("2svEnroll"), "2sv_enroll");
        assert_eq!(
            snake_case("accountDisabledPasswordLeak"),
            "account_disabled_password_leak"
        );
    }

    #[test]
    fn times_beyond_the_storable_range_are_refused() {
        assert!(in_range(1_772_439_245_221));
        assert!(!in_range(i64::MAX));
        assert!(!in_range(i64::MIN));
    }
}
