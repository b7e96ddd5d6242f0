//! Okta System Log (`LogEvent`) → `authentication`.
//!
//! Input: one LogEvent JSON object per record (the framer splits NDJSON, the `/api/v1/logs`
//! array and concatenated objects). Top-level keys are matched in Okta's camelCase and in the
//! lower-cased form some exporters write (`eventtype`, `debugcontext` …).
//!
//! Decision mapping (`zt_decision`), the point of this parser:
//!
//! | eventType | outcome | zt_decision |
//! |---|---|---|
//! | `policy.evaluate_sign_on` | ALLOW / CHALLENGE / DENY | allow / challenge_mfa / deny_policy (deny_device_posture when the reason names the device) |
//! | `user.session.start`, `user.authentication.sso`, `…auth_via_*`, `…auth` | SUCCESS | allow |
//! | same | FAILURE + INVALID_CREDENTIALS / VERIFICATION_ERROR | deny_credentials |
//! | same | FAILURE + LOCKED_OUT | locked_out |
//! | same | FAILURE + reason naming policy / device | deny_policy / deny_device_posture |
//! | `user.authentication.auth_via_mfa`, `user.authentication.verify` with a factor | FAILURE | mfa_failed |
//! | `user.mfa.okta_verify.deny_push` | any | mfa_denied |
//! | `user.account.lock` | any | locked_out |
//! | `security.threat.detected`, `security.request.blocked` | DENY / FAILURE | deny_risk |
//! | the same, ThreatInsight in log mode | ALLOW / SUCCESS | other, with `zt_would_be_decision` deny_risk (policy "Okta ThreatInsight") |
//! | `user.session.end` | — | none (logoff) |
//!
//! Account and credential changes go to `account_change` with `zt_change_type`:
//! `user.session.clear` → session_revoke, `user.lifecycle.suspend` / `unsuspend` / `deactivate` /
//! `activate` → suspend / unsuspend / deactivate / activate, `user.account.reset_password` →
//! password_reset, `user.account.update_password` → password_change,
//! `user.mfa.factor.reset_all` / `user.mfa.factor.deactivate` → mfa_reset,
//! `app.oauth2.credentials.lifecycle.create` / `app.oauth2.client.secret.rotate` →
//! credential_rotation (the app is the account), `system.api_token.create` / `revoke` →
//! credential_create / credential_delete.
//!
//! A CHALLENGE is never a failure (status_id 99, disposition 23). Event types outside these
//! lists (an Okta org emits hundreds) are stored in `base_event`: the event type, the actor,
//! the first target, the client address and the record itself, so nothing is lost and they can
//! be replayed once mapped.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::json::{LooseBool, LooseF64, LooseI64, Text, text};
use super::{Format, Parser, Sniff, VendorSpec, json_object, parse_timestamp_ms};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{AccountChangeRow, AuthenticationRow, BaseEventRow, Common, TableBuilders};
use crate::site::Site;

/// An Okta LogEvent: `eventType`, plus the actor or outcome object every event carries.
pub fn looks_like_okta(head: &str) -> bool {
    head.contains("\"eventType\"") && (head.contains("\"actor\"") || head.contains("\"outcome\""))
}

/// Okta System Log (LogEvent JSON: NDJSON, or the array `/api/v1/logs` returns).
pub static SPEC: VendorSpec = VendorSpec {
    name: "okta",
    aliases: &[],
    framing: Framing::Json,
    envelope_keys: &[],
    stateful: false,
    sniff: Sniff::Json(looks_like_okta),
    parser: |site| Box::new(OktaParser::new(site)),
};

/// The okta format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct OktaParser {
    site: Arc<Site>,
}

impl OktaParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

impl Parser for OktaParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let event: LogEvent<'_> = serde_json::from_slice(record).map_err(|e| {
            let kind = if e.is_eof() {
                ErrorKind::Truncated
            } else {
                ErrorKind::InvalidJson
            };
            ParseError::new(kind, format!("not an Okta LogEvent: {e}"))
        })?;
        if let Some(change) = event
            .event_type
            .as_ref()
            .and_then(|t| account_change(t.as_str()))
        {
            let mut row = map_account_change(&event, change, raw_ref)?;
            out.account_change.append(&mut row);
            return Ok(1);
        }
        if let Some(event_type) = event
            .event_type
            .as_ref()
            .map(|t| t.as_str())
            .filter(|t| classify(t).is_none())
        {
            let mut row = map_base_event(&event, raw_ref)?;
            out.append_base_event(&mut row, event_type, record);
            return Ok(1);
        }
        let mut row = map_event(&event, &self.site, raw_ref)?;
        out.authentication.append(&mut row);
        Ok(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Wire types.

#[derive(Debug, Default)]
struct LogEvent<'a> {
    uuid: Option<Text<'a>>,
    published: Option<Text<'a>>,
    event_type: Option<Text<'a>>,
    display_message: Option<Text<'a>>,
    severity: Option<Text<'a>>,
    actor: Option<Actor<'a>>,
    client: Option<Client<'a>>,
    device: Option<Device<'a>>,
    outcome: Option<Outcome<'a>>,
    target: Option<Vec<Target<'a>>>,
    transaction: Option<Transaction<'a>>,
    debug_data: Option<DebugData<'a>>,
    authentication_context: Option<AuthenticationContext<'a>>,
    security_context: Option<SecurityContext<'a>>,
    request: Option<Request<'a>>,
    /// Top-level fields the schema does not hold, kept verbatim for `unmapped`.
    extra: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// Parts of known objects kept verbatim for `unmapped`.
    target_raw: Option<&'a RawValue>,
    debug_raw: Option<&'a RawValue>,
    device_raw: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for LogEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = LogEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an Okta LogEvent object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<LogEvent<'de>, M::Error> {
                let mut event = LogEvent::default();
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    match key.as_str() {
                        "uuid" => event.uuid = map.next_value()?,
                        "published" => event.published = map.next_value()?,
                        "eventType" | "eventtype" => event.event_type = map.next_value()?,
                        "displayMessage" | "displaymessage" => {
                            event.display_message = map.next_value()?
                        }
                        "severity" => event.severity = map.next_value()?,
                        "actor" => event.actor = map.next_value()?,
                        "client" => event.client = map.next_value()?,
                        "device" => {
                            let raw: Option<&'de RawValue> = map.next_value()?;
                            if let Some(raw) = raw.filter(|r| r.get() != "null") {
                                event.device = serde_json::from_str(raw.get()).ok();
                                event.device_raw = Some(raw);
                            }
                        }
                        "outcome" => event.outcome = map.next_value()?,
                        "target" => {
                            let raw: Option<&'de RawValue> = map.next_value()?;
                            if let Some(raw) = raw.filter(|r| r.get() != "null") {
                                event.target = Some(
                                    serde_json::from_str(raw.get()).map_err(de::Error::custom)?,
                                );
                                event.target_raw = Some(raw);
                            }
                        }
                        "transaction" => event.transaction = map.next_value()?,
                        "debugContext" | "debugcontext" => {
                            let ctx: Option<DebugContext<'de>> = map.next_value()?;
                            if let Some(ctx) = ctx {
                                event.debug_raw = ctx.debug_data;
                                // Some exporters write `""` or other non-objects here: keep
                                // them verbatim in `unmapped` rather than refusing the event.
                                event.debug_data = ctx
                                    .debug_data
                                    .filter(|raw| raw.get().starts_with('{'))
                                    .and_then(|raw| serde_json::from_str(raw.get()).ok());
                            }
                        }
                        "authenticationContext" | "authenticationcontext" => {
                            event.authentication_context = map.next_value()?
                        }
                        "securityContext" | "securitycontext" => {
                            event.security_context = map.next_value()?
                        }
                        "request" => event.request = map.next_value()?,
                        "version" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            let raw: &'de RawValue = map.next_value()?;
                            event.extra.push((key.into_cow(), raw));
                        }
                    }
                }
                Ok(event)
            }
        }
        deserializer.deserialize_map(EventVisitor)
    }
}

#[derive(Debug, Deserialize)]
struct Actor<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow, rename = "alternateId", alias = "alternateid")]
    alternate_id: Option<Text<'a>>,
    #[serde(borrow, rename = "displayName", alias = "displayname")]
    display_name: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct Client<'a> {
    #[serde(borrow, rename = "userAgent")]
    user_agent: Option<UserAgent<'a>>,
    #[serde(borrow)]
    device: Option<Text<'a>>,
    #[serde(borrow, rename = "ipAddress")]
    ip_address: Option<Text<'a>>,
    #[serde(borrow, rename = "geographicalContext")]
    geo: Option<Geo<'a>>,
}

#[derive(Debug, Deserialize)]
struct UserAgent<'a> {
    #[serde(borrow, rename = "rawUserAgent")]
    raw: Option<Text<'a>>,
    #[serde(borrow)]
    os: Option<Text<'a>>,
    #[serde(borrow)]
    browser: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct Geo<'a> {
    #[serde(borrow)]
    city: Option<Text<'a>>,
    #[serde(borrow)]
    state: Option<Text<'a>>,
    #[serde(borrow)]
    country: Option<Text<'a>>,
    geolocation: Option<GeoPoint>,
}

#[derive(Debug, Deserialize)]
struct GeoPoint {
    lat: Option<LooseF64>,
    lon: Option<LooseF64>,
}

/// Okta Identity Engine device context.
#[derive(Debug, Deserialize)]
struct Device<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    os_platform: Option<Text<'a>>,
    managed: Option<LooseBool>,
    registered: Option<LooseBool>,
}

#[derive(Debug, Deserialize)]
struct Outcome<'a> {
    #[serde(borrow)]
    result: Option<Text<'a>>,
    #[serde(borrow)]
    reason: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct Target<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow, rename = "alternateId")]
    alternate_id: Option<Text<'a>>,
    #[serde(borrow, rename = "displayName")]
    display_name: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct Transaction<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct DebugContext<'a> {
    #[serde(borrow, rename = "debugData")]
    debug_data: Option<&'a RawValue>,
}

#[derive(Debug, Default, Deserialize)]
struct DebugData<'a> {
    #[serde(borrow)]
    factor: Option<Text<'a>>,
    #[serde(borrow)]
    risk: Option<Text<'a>>,
    #[serde(borrow)]
    behaviors: Option<Text<'a>>,
    #[serde(borrow, rename = "logOnlySecurityData")]
    log_only_security_data: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct AuthenticationContext<'a> {
    #[serde(borrow, rename = "externalSessionId")]
    external_session_id: Option<Text<'a>>,
    #[serde(borrow, rename = "credentialType")]
    credential_type: Option<Text<'a>>,
    #[serde(borrow, rename = "credentialProvider")]
    credential_provider: Option<Text<'a>>,
    issuer: Option<Issuer<'a>>,
}

#[derive(Debug, Deserialize)]
struct Issuer<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct SecurityContext<'a> {
    #[serde(rename = "asNumber")]
    as_number: Option<LooseI64>,
    #[serde(borrow, rename = "asOrg")]
    as_org: Option<Text<'a>>,
    #[serde(borrow)]
    isp: Option<Text<'a>>,
    #[serde(borrow)]
    domain: Option<Text<'a>>,
    #[serde(rename = "isProxy")]
    is_proxy: Option<LooseBool>,
}

#[derive(Debug, Deserialize)]
struct Request<'a> {
    #[serde(borrow, rename = "ipChain")]
    ip_chain: Option<Vec<IpHop<'a>>>,
}

#[derive(Debug, Deserialize)]
struct IpHop<'a> {
    #[serde(borrow)]
    ip: Option<Text<'a>>,
}

// ---------------------------------------------------------------------------------------------
// Mapping.

/// What kind of authentication event an eventType is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventClass {
    PolicyEvaluation,
    Logon,
    Logoff,
    MfaVerify,
    PushDenied,
    AccountLock,
    ThreatBlocked,
}

fn classify(event_type: &str) -> Option<EventClass> {
    Some(match event_type {
        "policy.evaluate_sign_on" => EventClass::PolicyEvaluation,
        "user.session.start"
        | "user.authentication.sso"
        | "user.authentication.auth"
        | "user.authentication.auth_via_IDP"
        | "user.authentication.auth_via_social"
        | "user.authentication.auth_via_radius"
        | "user.authentication.auth_via_richclient" => EventClass::Logon,
        "user.session.end" => EventClass::Logoff,
        "user.authentication.auth_via_mfa" | "user.authentication.verify" => EventClass::MfaVerify,
        "user.mfa.okta_verify.deny_push" => EventClass::PushDenied,
        "user.account.lock" => EventClass::AccountLock,
        "security.threat.detected" | "security.request.blocked" => EventClass::ThreatBlocked,
        _ => return None,
    })
}

/// An account change: OCSF activity id and name, and the `zt_change_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    activity_id: i32,
    activity_name: &'static str,
    change_type: &'static str,
}

/// eventTypes that change an account or credential (responses to a finding, hygiene).
fn account_change(event_type: &str) -> Option<Change> {
    let (activity_id, activity_name, change_type) = match event_type {
        "user.session.clear" | "user.session.clear_all" => (99, "Other", "session_revoke"),
        "user.lifecycle.suspend" => (5, "Disable", "suspend"),
        "user.lifecycle.unsuspend" => (2, "Enable", "unsuspend"),
        "user.lifecycle.deactivate" => (5, "Disable", "deactivate"),
        "user.lifecycle.activate" | "user.lifecycle.reactivate" => (2, "Enable", "activate"),
        "user.account.reset_password" => (4, "Password Reset", "password_reset"),
        "user.account.update_password" => (3, "Password Change", "password_change"),
        "user.mfa.factor.reset_all" | "user.mfa.factor.deactivate" => {
            (11, "MFA Factor Disable", "mfa_reset")
        }
        "app.oauth2.credentials.lifecycle.create" | "app.oauth2.client.secret.rotate" => {
            (1, "Create", "credential_rotation")
        }
        "app.oauth2.credentials.lifecycle.deactivate"
        | "app.oauth2.credentials.lifecycle.delete" => (5, "Disable", "credential_disable"),
        "system.api_token.create" => (1, "Create", "credential_create"),
        "system.api_token.revoke" => (6, "Delete", "credential_delete"),
        _ => return None,
    };
    Some(Change {
        activity_id,
        activity_name,
        change_type,
    })
}

/// Okta factor name → OCSF `factor_type_id`.
pub fn factor_type_id(factor: &str) -> i32 {
    let f = factor.to_ascii_uppercase();
    if f.contains("WEBAUTHN") || f.contains("FIDO") {
        10
    } else if f.contains("SIGNED_NONCE") {
        // Okta FastPass: a device-bound key unlocked on the device, like Windows Hello
        // (Entra's equivalent, also type 4); phishing resistant.
        4
    } else if f.contains("U2F") {
        9
    } else if f.contains("PUSH") {
        5
    } else if f.contains("TOTP") || f.contains("OTP") || f.contains("GOOGLE") || f.contains("TOKEN")
    {
        7
    } else if f.contains("SMS") {
        1
    } else if f.contains("CALL") || f.contains("VOICE") {
        3
    } else if f.contains("EMAIL") {
        8
    } else if f.contains("QUESTION") {
        2
    } else if f.contains("PASSWORD") {
        11
    } else {
        99
    }
}

fn decision_for_failure(reason: &str) -> &'static str {
    let r = reason.to_ascii_uppercase();
    if r.contains("LOCKED_OUT") || r.contains("LOCKED OUT") {
        "locked_out"
    } else if r.contains("INVALID_CREDENTIALS")
        || r.contains("VERIFICATION_ERROR")
        || r.contains("INVALID_PASSWORD")
    {
        "deny_credentials"
    } else if r.contains("DEVICE") {
        "deny_device_posture"
    } else if r.contains("POLICY")
        || r.contains("DENY")
        || r.contains("NOT_ASSIGNED")
        || r.contains("NOT ASSIGNED")
    {
        "deny_policy"
    } else if r.contains("DEACTIVATED") || r.contains("SUSPENDED") {
        "account_disabled"
    } else {
        "other"
    }
}

/// `{a=1, b=POSITIVE}` (Okta's Java map text) or a JSON object → key/value pairs.
fn map_pairs(text: &str) -> Vec<(String, String)> {
    let trimmed = text.trim();
    if trimmed.starts_with('{')
        && let Ok(serde_json::Value::Object(map)) =
            serde_json::from_str::<serde_json::Value>(trimmed)
    {
        return map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect();
    }
    let inner = trimmed.trim_start_matches('{').trim_end_matches('}');
    inner
        .split(", ")
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn risk_level_id(level: &str) -> Option<i32> {
    match level.to_ascii_uppercase().as_str() {
        "NONE" | "INFO" => Some(0),
        "LOW" => Some(1),
        "MEDIUM" => Some(2),
        "HIGH" => Some(3),
        "CRITICAL" => Some(4),
        _ => None,
    }
}

fn severity_id(severity: &str) -> i32 {
    match severity.to_ascii_uppercase().as_str() {
        "DEBUG" | "INFO" => 1,
        "WARN" => 3,
        "ERROR" => 4,
        _ => 0,
    }
}

/// Risk level and POSITIVE behaviours from `debugData` (plain fields or `logOnlySecurityData`).
fn risk_and_behaviors(debug: &DebugData<'_>) -> (Option<String>, Vec<String>) {
    let mut level = None;
    let mut behaviors = Vec::new();
    if let Some(risk) = &debug.risk {
        level = map_pairs(risk.as_str())
            .into_iter()
            .find(|(k, _)| k == "level")
            .map(|(_, v)| v);
    }
    if let Some(b) = &debug.behaviors {
        behaviors.extend(
            map_pairs(b.as_str())
                .into_iter()
                .filter(|(_, v)| v == "POSITIVE")
                .map(|(k, _)| k),
        );
    }
    if let Some(security) = &debug.log_only_security_data
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(security.as_str())
    {
        if level.is_none() {
            level = value
                .pointer("/risk/level")
                .and_then(|v| v.as_str())
                .map(str::to_string);
        }
        if behaviors.is_empty()
            && let Some(map) = value.get("behaviors").and_then(|v| v.as_object())
        {
            behaviors.extend(
                map.iter()
                    .filter(|(_, v)| v.as_str() == Some("POSITIVE"))
                    .map(|(k, _)| k.clone()),
            );
        }
    }
    (level, behaviors)
}

/// An account change: the target user (or app, for credential changes) and the actor.
/// The columns every Okta event fills the same way, whatever its table: time, ids, product,
/// message, severity and origin, and the outcome's result (upper case) and reason.
fn common_columns<'a>(event: &LogEvent<'a>, raw_ref: &'a str) -> Result<Common<'a>, ParseError> {
    let published = event
        .published
        .as_ref()
        .ok_or_else(|| ParseError::new(ErrorKind::MissingField, "published is missing"))?;
    let time = parse_timestamp_ms(published.as_str()).ok_or_else(|| {
        ParseError::new(
            ErrorKind::InvalidField,
            format!("published {:?} is not a timestamp", published.as_str()),
        )
    })?;
    let uuid = text(&event.uuid)
        .ok_or_else(|| ParseError::new(ErrorKind::MissingField, "uuid is missing"))?;
    let outcome = event.outcome.as_ref();
    Ok(Common {
        time: Some(time),
        metadata_uid: Some(uuid),
        metadata_event_code: event.event_type.as_ref().map(|t| t.0.clone()),
        metadata_product_name: Some(Cow::Borrowed("okta")),
        metadata_product_vendor_name: Some(Cow::Borrowed("Okta")),
        metadata_log_name: Some(Cow::Borrowed("System Log")),
        message: text(&event.display_message),
        metadata_correlation_uid: event.transaction.as_ref().and_then(|t| text(&t.id)),
        severity_id: Some(
            event
                .severity
                .as_ref()
                .map_or(0, |s| severity_id(s.as_str())),
        ),
        raw_ref: Some(Cow::Borrowed(raw_ref)),
        status_code: outcome
            .and_then(|o| text(&o.result))
            .map(|r| Cow::Owned(r.to_ascii_uppercase())),
        status_detail: outcome.and_then(|o| text(&o.reason)),
        ..Common::default()
    })
}

/// An event type no class maps: who did it, from where, to what.
fn map_base_event<'a>(
    event: &LogEvent<'a>,
    raw_ref: &'a str,
) -> Result<BaseEventRow<'a>, ParseError> {
    let mut row = BaseEventRow {
        common: common_columns(event, raw_ref)?,
        ..BaseEventRow::default()
    };
    let c = &mut row.common;
    c.status_id = Some(match c.status_code.as_deref() {
        Some("SUCCESS" | "ALLOW") => 1,
        Some("FAILURE" | "DENY") => 2,
        _ => 0,
    });
    let own = &mut row.own;
    if let Some(actor) = &event.actor {
        own.actor_user_uid = text(&actor.id);
        let login = text(&actor.alternate_id).filter(|l| l != "unknown");
        own.actor_user_email_addr = login.clone().filter(|l| l.contains('@'));
        own.actor_user_name = text(&actor.display_name).or(login);
        own.actor_user_type_id = actor.kind.as_ref().map(|k| match k.as_str() {
            "User" => 1,
            "SystemPrincipal" => 3,
            "PublicClientApp" | "AppInstance" => 4,
            _ => 0,
        });
    }
    if let Some(client) = &event.client {
        own.src_endpoint_ip =
            text(&client.ip_address).filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    }
    if let Some(target) = event.target.as_deref().and_then(<[_]>::first) {
        own.zt_target_type = text(&target.kind);
        own.zt_target_uid = text(&target.id);
        own.zt_target_name = text(&target.display_name).or_else(|| text(&target.alternate_id));
    }
    Ok(row)
}

fn map_account_change<'a>(
    event: &LogEvent<'a>,
    change: Change,
    raw_ref: &'a str,
) -> Result<AccountChangeRow<'a>, ParseError> {
    let mut row = AccountChangeRow {
        common: common_columns(event, raw_ref)?,
        ..AccountChangeRow::default()
    };
    let c = &mut row.common;
    c.activity_id = Some(change.activity_id);
    c.activity_name = Some(Cow::Borrowed(change.activity_name));
    c.status_id = Some(match c.status_code.as_deref() {
        Some("SUCCESS" | "ALLOW") => 1,
        Some("FAILURE" | "DENY") => 2,
        _ => 0,
    });
    // Like a sign-in, nothing the vendor said is dropped (the device, debugData, extra keys).
    c.unmapped = unmapped_parts(event);
    let own = &mut row.own;
    own.zt_change_type = Some(Cow::Borrowed(change.change_type));
    if let Some(actor) = &event.actor {
        own.actor_user_uid = text(&actor.id);
        own.actor_user_name = text(&actor.alternate_id).or_else(|| text(&actor.display_name));
    }
    if let Some(client) = &event.client {
        own.src_endpoint_ip = text(&client.ip_address).and_then(super::ip_text);
    }
    let targets = event.target.as_deref().unwrap_or(&[]);
    let kind = |t: &Target<'_>| t.kind.as_ref().map(|k| k.as_str().to_string());
    let user = targets.iter().find(|t| kind(t).as_deref() == Some("User"));
    let app = targets.iter().find(|t| {
        matches!(
            kind(t).as_deref(),
            Some("AppInstance" | "PublicClientApp" | "Token")
        )
    });
    if let Some(user) = user {
        own.user_uid = text(&user.id);
        own.user_email_addr = text(&user.alternate_id);
        own.user_name = text(&user.display_name).or_else(|| text(&user.alternate_id));
        own.user_type_id = Some(1);
    } else if let Some(app) = app {
        own.user_uid = text(&app.id);
        own.user_name = text(&app.display_name).or_else(|| text(&app.alternate_id));
        own.user_type_id = Some(4);
    } else if let Some(actor) = &event.actor {
        // Self-service changes name no target: the actor changed their own account.
        own.user_uid = text(&actor.id);
        own.user_email_addr = text(&actor.alternate_id);
        own.user_name = text(&actor.display_name);
        own.user_type_id = Some(1);
    }
    if let Some(session) = event
        .authentication_context
        .as_ref()
        .and_then(|a| text(&a.external_session_id))
        .filter(|s| s != "unknown")
    {
        own.session_uid = Some(session);
    }
    Ok(row)
}

fn map_event<'a>(
    event: &LogEvent<'a>,
    site: &Site,
    raw_ref: &'a str,
) -> Result<AuthenticationRow<'a>, ParseError> {
    let event_type = event
        .event_type
        .as_ref()
        .ok_or_else(|| ParseError::new(ErrorKind::MissingField, "eventType is missing"))?;
    let class = classify(event_type.as_str()).ok_or_else(|| {
        ParseError::new(
            ErrorKind::InvalidField,
            format!(
                "Okta eventType {:?} is not mapped to a ztlens table",
                event_type.as_str()
            ),
        )
    })?;
    let mut row = AuthenticationRow {
        common: common_columns(event, raw_ref)?,
        ..AuthenticationRow::default()
    };
    let c = &mut row.common;
    let result = c.status_code.as_deref().unwrap_or("").to_string();
    let result = result.as_str();
    let reason = c.status_detail.clone();
    let reason_text = reason.as_deref().unwrap_or("");

    let (activity_id, activity_name) = match class {
        EventClass::Logon => (1, "Logon"),
        EventClass::Logoff => (2, "Logoff"),
        EventClass::PolicyEvaluation => (99, "Policy Evaluation"),
        EventClass::MfaVerify | EventClass::PushDenied => (99, "MFA Verification"),
        EventClass::AccountLock => (99, "Account Lock"),
        EventClass::ThreatBlocked => (99, "Threat Blocked"),
    };
    c.activity_id = Some(activity_id);
    c.activity_name = Some(Cow::Borrowed(activity_name));

    let debug = event.debug_data.as_ref();
    let factor = debug.and_then(|d| text(&d.factor)).or_else(|| {
        // OIE verify events name the authenticator in credentialType.
        event
            .authentication_context
            .as_ref()
            .and_then(|a| text(&a.credential_type))
            .filter(|t| !t.eq_ignore_ascii_case("PASSWORD"))
    });
    let succeeded = matches!(result, "SUCCESS" | "ALLOW");
    let failed = matches!(result, "FAILURE" | "DENY");

    let decision: Option<&'static str> = match class {
        EventClass::PolicyEvaluation => match result {
            "ALLOW" | "SUCCESS" => Some("allow"),
            "CHALLENGE" => Some("challenge_mfa"),
            "DENY" | "FAILURE" => Some(if reason_text.to_ascii_uppercase().contains("DEVICE") {
                "deny_device_posture"
            } else {
                "deny_policy"
            }),
            _ => Some("other"),
        },
        EventClass::Logon => {
            if succeeded {
                Some("allow")
            } else if failed {
                Some(decision_for_failure(reason_text))
            } else if result == "CHALLENGE" {
                Some("challenge_mfa")
            } else {
                Some("other")
            }
        }
        EventClass::Logoff => None,
        EventClass::MfaVerify => {
            if succeeded {
                Some("allow")
            } else if failed {
                let d = decision_for_failure(reason_text);
                Some(match d {
                    "locked_out" | "account_disabled" => d,
                    _ if factor.is_some() || event_type.as_str().ends_with("auth_via_mfa") => {
                        "mfa_failed"
                    }
                    _ => d,
                })
            } else if result == "CHALLENGE" {
                Some("challenge_mfa")
            } else {
                Some("other")
            }
        }
        EventClass::PushDenied => Some("mfa_denied"),
        EventClass::AccountLock => Some("locked_out"),
        EventClass::ThreatBlocked => Some(if failed { "deny_risk" } else { "other" }),
    };

    c.status_id = Some(match (class, decision) {
        (_, Some("challenge_mfa")) => 99,
        (EventClass::PushDenied | EventClass::AccountLock, _) => 2,
        _ if succeeded => 1,
        _ if failed => 2,
        _ => 0,
    });

    let own = &mut row.own;
    own.zt_decision = decision.map(Cow::Borrowed);
    // ThreatInsight in log mode: a high-threat request it would have blocked went through.
    if class == EventClass::ThreatBlocked && succeeded {
        own.zt_would_be_decision = Some(Cow::Borrowed("deny_risk"));
        own.zt_would_be_policy = Some(Cow::Borrowed("Okta ThreatInsight"));
    }
    let (action_id, disposition_id) = match decision {
        Some("allow") => (1, 1),
        Some("challenge_mfa") => (99, 23),
        Some("mfa_failed" | "mfa_denied" | "deny_credentials") => (2, 26),
        Some("other") | None => (0, 0),
        Some(_) => (2, 2),
    };
    if decision.is_some() {
        own.action_id = Some(action_id);
        own.disposition_id = Some(disposition_id);
    }
    if decision == Some("challenge_mfa") {
        own.zt_required_controls = vec![Cow::Borrowed("mfa")];
    }

    // MFA step: a factor was verified or refused.
    let is_mfa_step = match class {
        EventClass::PushDenied => true,
        EventClass::MfaVerify => factor.is_some() || event_type.as_str().ends_with("auth_via_mfa"),
        _ => false,
    };
    own.is_mfa = Some(is_mfa_step);
    // A verified factor protects the sign-in; other events do not say (an SSO inherits its
    // session's MFA, which the KPIs find through session_uid).
    if is_mfa_step && decision == Some("allow") {
        own.zt_mfa_satisfied = Some(true);
    }
    if let Some(f) = &factor {
        own.auth_factor_type_id = Some(factor_type_id(f));
        own.auth_factors = vec![f.clone()];
        own.auth_factor = Some(f.clone());
    } else if class == EventClass::PushDenied {
        own.auth_factor = Some(Cow::Borrowed("OKTA_VERIFY_PUSH"));
        own.auth_factor_type_id = Some(5);
        own.auth_factors = vec![Cow::Borrowed("OKTA_VERIFY_PUSH")];
    }
    if let Some(ctx) = &event.authentication_context {
        own.session_uid = text(&ctx.external_session_id).filter(|s| s != "unknown");
        own.session_issuer = ctx.issuer.as_ref().and_then(|i| text(&i.id));
        own.auth_factor_provider = text(&ctx.credential_provider);
    }

    // ThreatInsight names the client address as the actor (it runs before the user is
    // known): an address, not an account.
    let account_actor = event
        .actor
        .as_ref()
        .filter(|a| a.kind.as_ref().is_none_or(|k| k.as_str() != "IP address"));
    if let Some(actor) = account_actor {
        // Okta writes the literal "unknown" (and "Unknown") for actors it could not identify.
        let known = |t: &Option<Text<'a>>| text(t).filter(|v| !v.eq_ignore_ascii_case("unknown"));
        own.user_uid = known(&actor.id);
        own.user_email_addr = known(&actor.alternate_id);
        own.user_name = known(&actor.display_name);
        let login = own.user_email_addr.as_deref().unwrap_or("");
        own.user_type_id = Some(match actor.kind.as_ref().map(|k| k.as_str()) {
            _ if !login.is_empty() && site.is_service_account(login) => 4,
            Some("User") => 1,
            Some("SystemPrincipal") => 3,
            Some(_) => 4,
            None => 0,
        });
        own.user_domain = login
            .split_once('@')
            .map(|(_, d)| Cow::Owned(d.to_string()));
    }

    if let Some(client) = &event.client {
        // Okta writes "unknown" or "null" when it has no address.
        own.src_endpoint_ip = text(&client.ip_address).and_then(super::ip_text);
        own.device_type = text(&client.device).filter(|d| d != "Unknown");
        own.device_type_id = own.device_type.as_deref().map(|d| match d {
            "Computer" => 2,
            "Mobile" => 5,
            "Tablet" => 4,
            _ => 99,
        });
        if let Some(ua) = &client.user_agent {
            own.http_request_user_agent = text(&ua.raw);
            own.ua_os = text(&ua.os).filter(|s| s != "Unknown");
            own.ua_browser = text(&ua.browser).filter(|s| s != "UNKNOWN");
        }
        if let Some(geo) = &client.geo {
            own.src_endpoint_location_country =
                text(&geo.country).and_then(crate::country::normalize);
            own.src_endpoint_location_region = text(&geo.state);
            own.src_endpoint_location_city = text(&geo.city);
            if let Some(point) = &geo.geolocation {
                own.src_endpoint_location_lat = point.lat.and_then(|v| v.0);
                own.src_endpoint_location_long = point.lon.and_then(|v| v.0);
            }
        }
    }
    if let Some(device) = &event.device {
        own.device_uid = text(&device.id);
        own.device_name = text(&device.name);
        own.device_os_name = text(&device.os_platform);
        own.device_is_managed = device.managed.and_then(|b| b.0);
        own.device_is_trusted = device.registered.and_then(|b| b.0);
    }
    if let Some(sec) = &event.security_context {
        own.src_endpoint_as_number = sec.as_number.and_then(|n| n.0);
        own.src_endpoint_as_name = text(&sec.as_org);
        own.src_endpoint_isp = text(&sec.isp);
        own.src_endpoint_domain = text(&sec.domain);
        own.src_endpoint_is_proxy = sec.is_proxy.and_then(|b| b.0);
    }
    if let Some(chain) = event.request.as_ref().and_then(|r| r.ip_chain.as_ref()) {
        own.src_endpoint_intermediate_ips = chain
            .iter()
            .filter_map(|hop| text(&hop.ip).and_then(super::ip_text))
            .filter(|ip| own.src_endpoint_ip.as_deref() != Some(ip.as_ref()))
            .collect();
    }
    for target in event.target.iter().flatten() {
        match target.kind.as_ref().map(|k| k.as_str()) {
            Some("AppInstance") if own.service_name.is_none() => {
                own.service_name =
                    text(&target.display_name).or_else(|| text(&target.alternate_id));
                own.service_uid = text(&target.id);
            }
            Some("PolicyRule") => {
                own.policy_name = text(&target.display_name);
                own.policy_uid = text(&target.id);
            }
            _ => {}
        }
    }
    super::tag_auth_app(own, site);
    if let Some(debug) = debug {
        let (level, behaviors) = risk_and_behaviors(debug);
        own.risk_level_id = level.as_deref().and_then(risk_level_id);
        own.risk_level = level.map(Cow::Owned);
        own.zt_behaviors = behaviors.into_iter().map(Cow::Owned).collect();
    }
    // Okta reports people and service accounts alike as actor type `User` signing in through a
    // session; API clients and system principals are the non-interactive ones.
    own.is_interactive = event
        .actor
        .as_ref()
        .map(|a| a.kind.as_ref().is_some_and(|k| k.as_str() == "User"));

    row.common.unmapped = unmapped_parts(event);
    Ok(row)
}

/// What the sign-in and account-change columns do not hold: the targets, `debugData`, the
/// device and unknown top-level fields, verbatim.
fn unmapped_parts(event: &LogEvent<'_>) -> Option<Cow<'static, str>> {
    let mut unmapped: Vec<(&str, &str)> = Vec::new();
    if let Some(raw) = event.target_raw {
        unmapped.push(("target", raw.get()));
    }
    if let Some(raw) = event.debug_raw.filter(|r| r.get() != "null") {
        unmapped.push(("debugData", raw.get()));
    }
    if let Some(raw) = event.device_raw {
        unmapped.push(("device", raw.get()));
    }
    for (key, raw) in &event.extra {
        if raw.get() != "null" {
            unmapped.push((key.as_ref(), raw.get()));
        }
    }
    json_object(&unmapped).map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_types() {
        assert_eq!(factor_type_id("OKTA_VERIFY_PUSH"), 5);
        assert_eq!(factor_type_id("FIDO_WEBAUTHN"), 10);
        assert_eq!(factor_type_id("GOOGLE_AUTHENTICATOR"), 7);
        assert_eq!(factor_type_id("SMS_FACTOR"), 1);
        // Okta FastPass: a device-bound platform key, like Windows Hello.
        assert_eq!(factor_type_id("SIGNED_NONCE"), 4);
        assert_eq!(factor_type_id("CUSTOM_HOTP_THING"), 7);
        assert_eq!(factor_type_id("SOMETHING_NEW"), 99);
    }

    #[test]
    fn java_map_text_and_json_are_both_read() {
        let pairs = map_pairs("{New Geo-Location=NEGATIVE, New Device=POSITIVE}");
        assert_eq!(pairs[1], ("New Device".to_string(), "POSITIVE".to_string()));
        let pairs = map_pairs(r#"{"level":"HIGH"}"#);
        assert_eq!(pairs[0], ("level".to_string(), "HIGH".to_string()));
    }

    #[test]
    fn failure_reasons() {
        assert_eq!(
            decision_for_failure("INVALID_CREDENTIALS"),
            "deny_credentials"
        );
        assert_eq!(decision_for_failure("LOCKED_OUT"), "locked_out");
        assert_eq!(
            decision_for_failure("Device is not managed"),
            "deny_device_posture"
        );
        assert_eq!(
            decision_for_failure("Sign-on policy evaluation resulted in DENY"),
            "deny_policy"
        );
        assert_eq!(decision_for_failure("something else"), "other");
    }
}
