//! Microsoft Entra ID sign-in logs → `authentication`.
//!
//! Input, one sign-in per record:
//! - Azure Monitor diagnostic-setting records (Event Hubs, storage `PT1H.json`): the sign-in
//!   sits under `properties`, with `time`, `category`, `tenantId`, `resultType` and
//!   `callerIpAddress` beside it. The `{"records": [...]}` envelope is split by the framer.
//! - Microsoft Graph `signIn` objects (`/auditLogs/signIns`, `value` envelope): the same fields at
//!   the top level.
//! - Log Analytics exports with Sentinel's PascalCase columns are read too: keys match
//!   case-insensitively.
//!
//! Categories → `zt_signin_category`: `SignInLogs` → interactive, `NonInteractiveUserSignInLogs`
//! → non_interactive, `ServicePrincipalSignInLogs` / `MicrosoftServicePrincipalSignInLogs` →
//! service_principal, `ManagedIdentitySignInLogs` → managed_identity. Service principals and
//! managed identities are the user (`user_type_id` 4).
//!
//! Decision mapping from `status.errorCode` (falling back to `resultType`), the point of this
//! parser; error semantics follow Microsoft's reference of AADSTS codes:
//!
//! | errorCode | zt_decision |
//! |---|---|
//! | 0 | allow |
//! | 50072, 50074, 50076, 50079 | challenge_mfa (status 99: pending user action, not a failure) |
//! | 500121 | mfa_failed, or mfa_denied when the details say the user declined |
//! | 53003, 530032, 530035, 50105 (user not assigned to the app) | deny_policy |
//! | 53000, 53001 | deny_device_posture |
//! | 53002 | deny_app_not_approved |
//! | 50126, 50034, 50056, 7000215, 7000222 | deny_credentials |
//! | 50053 | locked_out |
//! | 50057 | account_disabled |
//! | 53004, 53011, 530034 | deny_risk |
//! | 70043, 70044 | reauth_required (sign-in frequency: not a denial) |
//! | 50140, 50199 | other, status 99 (an interrupt page, not a failure) |
//! | anything else non-zero | other, status 2 |
//!
//! Identity: a `userPrincipalName` that is a GUID (Entra writes the user's object id there for
//! some sign-ins) is an id, not a login: it becomes `user_uid` when `userId` is missing (else it
//! stays in `unmapped`) and never `user_email_addr`.
//!
//! Location: `geoCoordinates` 0, 0 is Entra's "not located": latitude and longitude are null.
//!
//! MFA: `auth_factors` lists the methods in `authenticationDetails` (and `mfaDetail`) other than
//! the password; `is_mfa` is true when a second factor was performed or refused in this sign-in.
//! Records without an `id` (some exporters drop it) get a content hash as `metadata_uid`.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{
    array_at, as_text, at, bool_at, f64_at, first_str, i64_at, missing, parse_object, str_at,
    time_at, unmapped,
};
use super::{Format, Parser, Sniff, VendorSpec, content_uid, decision_outcome};
use crate::record::{Framing, ParseError};
use crate::schema::{AuthenticationRow, TableBuilders};
use crate::site::Site;

/// Microsoft Entra ID sign-in logs (diagnostic records or Graph signIn objects).
pub static SPEC: VendorSpec = VendorSpec {
    name: "entra",
    aliases: &["entra_signin", "azuread", "aad", "entra_id"],
    framing: Framing::Json,
    envelope_keys: &["records", "value"],
    stateful: false,
    sniff: Sniff::Json(looks_like_entra),
    parser: |site| Box::new(EntraParser::new(site)),
};

/// The entra format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct EntraParser {
    site: Arc<Site>,
}

impl EntraParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

impl Parser for EntraParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "an Entra ID sign-in")?;
        let mut row = map_signin(&value, record, &self.site, raw_ref)?;
        out.authentication.append(&mut row);
        Ok(1)
    }
}

/// Whether a JSON record looks like an Entra sign-in (diagnostic record or Graph signIn).
pub fn looks_like_entra(head: &str) -> bool {
    head.contains("SignInLogs\"")
        || head.contains("\"Sign-in activity\"")
        || (head.contains("\"userPrincipalName\"")
            && head.contains("\"createdDateTime\"")
            && head.contains("\"appDisplayName\""))
}

/// The decision for an AADSTS error code, and whether the code is an interrupt (status 99).
pub fn decision_for_code(code: i64, details: &str) -> &'static str {
    match code {
        0 => "allow",
        50072 | 50074 | 50076 | 50079 => "challenge_mfa",
        500121 => {
            let d = details.to_ascii_lowercase();
            if d.contains("declined") || d.contains("denied") || d.contains("fraud") {
                "mfa_denied"
            } else {
                "mfa_failed"
            }
        }
        53003 | 530032 | 530035 | 50105 => "deny_policy",
        53000 | 53001 => "deny_device_posture",
        53002 => "deny_app_not_approved",
        50126 | 50034 | 50056 | 7000215 | 7000222 => "deny_credentials",
        50053 => "locked_out",
        50057 => "account_disabled",
        53004 | 53011 | 530034 => "deny_risk",
        70043 | 70044 => "reauth_required",
        _ => "other",
    }
}

fn is_interrupt(code: i64) -> bool {
    matches!(code, 50140 | 50199)
}

/// Entra authentication method name → OCSF `factor_type_id`.
pub fn factor_type_id(method: &str) -> i32 {
    let m = method.to_ascii_lowercase();
    if m.contains("fido") || m.contains("passkey") || m.contains("security key") {
        10
    } else if m.contains("windows hello") || m.contains("biometric") {
        4
    } else if m.contains("certificate") || m.contains("x.509") || m.contains("smart card") {
        6
    } else if m.contains("notification") || m.contains("push") {
        5
    } else if m.contains("code") || m.contains("oath") || m.contains("otp") {
        7
    } else if m.contains("text") || m.contains("sms") {
        1
    } else if m.contains("phone call") || m.contains("voice") {
        3
    } else if m.contains("email") {
        8
    } else if m.contains("password") {
        11
    } else {
        99
    }
}

/// Methods that are not a second factor.
fn is_primary_or_reused(method: &str) -> bool {
    let m = method.to_ascii_lowercase();
    m == "password" || m == "previously satisfied" || m.is_empty()
}

/// Whether the text is a GUID (`8-4-4-4-12` hex digits), the form of Entra object ids.
fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Latitude and longitude of the sign-in, or neither. Entra writes 0, 0 when it could not place
/// the address (a point in the Gulf of Guinea no sign-in comes from), and one coordinate
/// without the other is no position.
fn coordinates(props: &Value) -> (Option<f64>, Option<f64>) {
    let lat = f64_at(props, &["location", "geoCoordinates", "latitude"]);
    let long = f64_at(props, &["location", "geoCoordinates", "longitude"]);
    match (lat, long) {
        (Some(lat), Some(long))
            if (lat != 0.0 || long != 0.0) && lat.abs() <= 90.0 && long.abs() <= 180.0 =>
        {
            (Some(lat), Some(long))
        }
        _ => (None, None),
    }
}

fn category_of(value: &Value, props: &Value) -> Option<&'static str> {
    if let Some(category) = str_at(value, &["category"]) {
        return Some(match category.as_ref() {
            "SignInLogs" => "interactive",
            "NonInteractiveUserSignInLogs" => "non_interactive",
            "ServicePrincipalSignInLogs" | "MicrosoftServicePrincipalSignInLogs" => {
                "service_principal"
            }
            "ManagedIdentitySignInLogs" => "managed_identity",
            _ => return None,
        });
    }
    // Graph signIn (beta) names the event types; v1.0 has isInteractive only.
    for t in array_at(props, &["signInEventTypes"]) {
        match t.as_str() {
            Some("interactiveUser") => return Some("interactive"),
            Some("nonInteractiveUser") => return Some("non_interactive"),
            Some("servicePrincipal") => return Some("service_principal"),
            Some("managedIdentity") => return Some("managed_identity"),
            _ => {}
        }
    }
    match bool_at(props, &["isInteractive"]) {
        Some(true) => Some("interactive"),
        Some(false) => Some("non_interactive"),
        None => None,
    }
}

/// Grant controls as short names: Mfa → mfa, RequireCompliantDevice → compliant_device …
fn control_name(control: &str) -> Cow<'static, str> {
    Cow::Borrowed(match control.to_ascii_lowercase().as_str() {
        "mfa" | "multifactorauthentication" => "mfa",
        "requirecompliantdevice" | "compliantdevice" => "compliant_device",
        "requiredomainjoineddevice" | "domainjoineddevice" => "domain_joined_device",
        "requireapprovedapp" | "approvedapplication" => "approved_app",
        "requirecompliantapp" | "compliantapplication" => "app_protection",
        "passwordchange" | "requirepasswordchange" => "password_change",
        "block" => "block",
        "authenticationstrength" => "authentication_strength",
        other => return Cow::Owned(other.to_string()),
    })
}

/// The decision a conditional-access policy in report-only mode would have made, from its
/// result: `reportOnlyFailure` is a block (by its grant controls: device, app, or the policy;
/// MFA alone is a challenge), `reportOnlyInterrupted` an interactive prompt (MFA, else a
/// sign-in frequency re-authentication, else terms of use or a password change),
/// `reportOnlySuccess` an allow. `None` for enforced policies and report-only policies that
/// did not apply (`reportOnlyNotApplied`).
fn report_only_verdict(result: &str, policy: &Value) -> Option<&'static str> {
    let grants: Vec<Cow<'static, str>> = array_at(policy, &["enforcedGrantControls"])
        .iter()
        .filter_map(|c| c.as_str().map(control_name))
        .collect();
    let has = |name: &str| grants.iter().any(|g| g == name);
    let mfa_only = !grants.is_empty()
        && grants
            .iter()
            .all(|g| g == "mfa" || g == "authentication_strength");
    match result {
        "reportonlysuccess" => Some("allow"),
        "reportonlyfailure" if has("block") => Some("deny_policy"),
        "reportonlyfailure" if has("compliant_device") || has("domain_joined_device") => {
            Some("deny_device_posture")
        }
        "reportonlyfailure" if has("approved_app") || has("app_protection") => {
            Some("deny_app_not_approved")
        }
        "reportonlyfailure" if mfa_only => Some("challenge_mfa"),
        "reportonlyfailure" => Some("deny_policy"),
        "reportonlyinterrupted" if has("mfa") || has("authentication_strength") => {
            Some("challenge_mfa")
        }
        "reportonlyinterrupted" => {
            let sessions: Vec<String> = array_at(policy, &["enforcedSessionControls"])
                .iter()
                .filter_map(|c| c.as_str().map(str::to_ascii_lowercase))
                .collect();
            if sessions.iter().any(|c| c == "signinfrequency") {
                Some("reauth_required")
            } else {
                Some("other")
            }
        }
        _ => None,
    }
}

fn risk_level_id(level: &str) -> Option<i32> {
    match level.to_ascii_lowercase().as_str() {
        "none" => Some(0),
        "low" => Some(1),
        "medium" => Some(2),
        "high" => Some(3),
        _ => None,
    }
}

const MAPPED_TOP: &[&str] = &[
    "time",
    "category",
    "tenantId",
    "resultType",
    "resultDescription",
    "resultSignature",
    "callerIpAddress",
    "correlationId",
    "properties",
    "identity",
    "Level",
    "location",
    "operationName",
    "operationVersion",
    "resourceId",
    "durationMs",
];

const MAPPED_PROPS: &[&str] = &[
    "id",
    "createdDateTime",
    "correlationId",
    "tenantId",
    "userId",
    "userDisplayName",
    "userPrincipalName",
    "userType",
    "servicePrincipalId",
    "servicePrincipalName",
    "ipAddress",
    "location",
    "userAgent",
    "deviceDetail",
    "appDisplayName",
    "appId",
    "resourceDisplayName",
    "status",
    "authenticationDetails",
    "authenticationRequirement",
    "mfaDetail",
    "isInteractive",
    "authenticationProtocol",
    "sessionId",
    "riskLevelDuringSignIn",
    "riskEventTypes",
    "riskEventTypes_v2",
    "conditionalAccessStatus",
    "appliedConditionalAccessPolicies",
    "signInEventTypes",
    "autonomousSystemNumber",
    "resultType",
    "resultDescription",
];

fn map_signin<'v>(
    value: &'v Value,
    record: &[u8],
    site: &Site,
    raw_ref: &'v str,
) -> Result<AuthenticationRow<'v>, ParseError> {
    // Diagnostic records nest the sign-in under `properties`; Graph objects are flat.
    let props = at(value, &["properties"])
        .filter(|p| p.is_object())
        .unwrap_or(value);
    let time = time_at(props, &["createdDateTime"])
        .or_else(|| time_at(value, &["time"]))
        .or_else(|| time_at(value, &["TimeGenerated"]))
        .ok_or_else(|| missing("createdDateTime (or time)"))?;
    let names_someone = ["userPrincipalName", "userId", "servicePrincipalId", "appId"]
        .iter()
        .any(|k| str_at(props, &[k]).is_some());
    if !names_someone {
        return Err(missing(
            "every identity field (userPrincipalName, userId, servicePrincipalId, appId)",
        ));
    }

    let mut row = AuthenticationRow::default();
    let category = category_of(value, props);
    let details = first_str(props, &[&["status", "additionalDetails"]]).unwrap_or_default();
    let failure_reason = first_str(
        props,
        &[&["status", "failureReason"], &["resultDescription"]],
    )
    .or_else(|| str_at(value, &["resultDescription"]));
    let code = i64_at(props, &["status", "errorCode"])
        .or_else(|| i64_at(props, &["resultType"]))
        .or_else(|| i64_at(value, &["resultType"]))
        .or_else(|| {
            match first_str(value, &[&["resultType"], &["properties", "result"]])?
                .to_ascii_lowercase()
                .as_str()
            {
                "success" => Some(0),
                _ => None,
            }
        });
    let decision = code.map_or("other", |code| decision_for_code(code, &details));
    let (action_id, disposition_id, mut status_id) = decision_outcome(decision);
    if decision == "other" {
        status_id = match code {
            Some(c) if is_interrupt(c) => 99,
            Some(_) => 2,
            None => match str_at(value, &["resultType"]).as_deref() {
                Some(r) if r.eq_ignore_ascii_case("failure") => 2,
                _ => 0,
            },
        };
    }

    let c = &mut row.common;
    c.time = Some(time);
    c.activity_id = Some(1);
    c.activity_name = Some(Cow::Borrowed("Logon"));
    c.status_id = Some(status_id);
    c.status_code = code.map(|c| Cow::Owned(c.to_string()));
    c.status_detail = match (&failure_reason, details.is_empty()) {
        (Some(r), false) if r != &details => Some(Cow::Owned(format!("{r} ({details})"))),
        (Some(r), _) => Some(r.clone()),
        (None, false) => Some(details.clone()),
        (None, true) => None,
    };
    c.severity_id = Some(match str_at(value, &["Level"]).as_deref() {
        Some("1") | Some("Critical") => 5,
        Some("2") | Some("Error") => 4,
        Some("3") | Some("Warning") => 3,
        _ => 1,
    });
    c.metadata_uid = Some(
        first_str(props, &[&["id"]]).unwrap_or_else(|| Cow::Owned(content_uid("entra", record))),
    );
    c.metadata_correlation_uid =
        first_str(props, &[&["correlationId"]]).or_else(|| str_at(value, &["correlationId"]));
    c.metadata_event_code =
        str_at(value, &["category"]).or_else(|| category.map(|_| Cow::Borrowed("signIn")));
    c.metadata_log_name = Some(Cow::Borrowed("Sign-in logs"));
    c.metadata_product_name = Some(Cow::Borrowed("entra"));
    c.metadata_product_vendor_name = Some(Cow::Borrowed("Microsoft"));
    c.metadata_tenant_uid =
        str_at(value, &["tenantId"]).or_else(|| first_str(props, &[&["tenantId"]]));
    c.cloud_provider = Some(Cow::Borrowed("Azure"));
    c.raw_ref = Some(Cow::Borrowed(raw_ref));
    c.message = first_str(value, &[&["operationName"]]);

    let own = &mut row.own;
    own.zt_decision = Some(Cow::Borrowed(decision));
    own.action_id = Some(action_id);
    own.disposition_id = Some(disposition_id);
    own.zt_signin_category = category.map(Cow::Borrowed);
    let is_service = matches!(category, Some("service_principal" | "managed_identity"));
    let mut upn_left = None;
    if is_service {
        own.user_uid = first_str(props, &[&["servicePrincipalId"], &["appId"]]);
        own.user_name = first_str(props, &[&["servicePrincipalName"], &["appDisplayName"]]);
        own.user_type_id = Some(4);
    } else {
        // Entra writes an object id (a GUID) as the UPN of some sign-ins: no login. It names the
        // user when `userId` is missing, and is kept in `unmapped` otherwise.
        let (email, upn_id) = match first_str(props, &[&["userPrincipalName"]]) {
            Some(id) if is_guid(&id) => (None, Some(id)),
            upn => (upn, None),
        };
        own.user_uid = first_str(props, &[&["userId"]]);
        match upn_id {
            Some(id) if own.user_uid.is_none() => own.user_uid = Some(id),
            id => upn_left = id,
        }
        own.user_name = first_str(props, &[&["userDisplayName"]]);
        own.user_email_addr = email;
        let login = own.user_email_addr.as_deref().unwrap_or("");
        own.user_type_id = Some(if !login.is_empty() && site.is_service_account(login) {
            4
        } else {
            1
        });
        own.user_domain = login
            .split_once('@')
            .map(|(_, d)| Cow::Owned(d.to_string()));
    }
    own.src_endpoint_ip =
        first_str(props, &[&["ipAddress"]]).or_else(|| str_at(value, &["callerIpAddress"]));
    own.src_endpoint_location_city = first_str(props, &[&["location", "city"]]);
    own.src_endpoint_location_region = first_str(props, &[&["location", "state"]]);
    own.src_endpoint_location_country = first_str(props, &[&["location", "countryOrRegion"]])
        .or_else(|| str_at(value, &["location"]).filter(|l| l.len() == 2))
        .and_then(crate::country::normalize);
    let (lat, long) = coordinates(props);
    own.src_endpoint_location_lat = lat;
    own.src_endpoint_location_long = long;
    own.src_endpoint_as_number = i64_at(props, &["autonomousSystemNumber"]);
    own.http_request_user_agent = first_str(props, &[&["userAgent"]]);
    own.device_uid = first_str(props, &[&["deviceDetail", "deviceId"]]);
    own.device_name = first_str(props, &[&["deviceDetail", "displayName"]]);
    own.device_os_name = first_str(props, &[&["deviceDetail", "operatingSystem"]]);
    own.ua_os = own.device_os_name.clone();
    own.ua_browser = first_str(props, &[&["deviceDetail", "browser"]]);
    own.device_is_compliant = bool_at(props, &["deviceDetail", "isCompliant"]);
    own.device_is_managed = bool_at(props, &["deviceDetail", "isManaged"]);
    let trust = first_str(props, &[&["deviceDetail", "trustType"]]);
    own.device_is_trusted = match trust.as_deref() {
        Some(t) => Some(!t.eq_ignore_ascii_case("none")),
        None if own.device_uid.is_some() => Some(false),
        None => None,
    };
    own.service_name = first_str(props, &[&["appDisplayName"]]);
    own.service_uid = first_str(props, &[&["appId"]]);
    own.dst_endpoint_svc_name = first_str(props, &[&["resourceDisplayName"]]);
    own.session_uid = first_str(props, &[&["sessionId"]]);
    own.auth_protocol = first_str(props, &[&["authenticationProtocol"]])
        .filter(|p| !p.eq_ignore_ascii_case("none"));
    own.auth_protocol_id =
        own.auth_protocol
            .as_deref()
            .map(|p| match p.to_ascii_lowercase().as_str() {
                "saml20" => 5,
                "ropc" | "devicecode" | "authorizationcode" | "implicit" => 6,
                _ => 99,
            });
    own.is_interactive = bool_at(props, &["isInteractive"]).or(match category {
        Some("interactive") => Some(true),
        Some(_) => Some(false),
        None => None,
    });
    own.logon_type_id = own.is_interactive.map(|i| if i { 2 } else { 3 });
    own.is_remote = Some(true);
    let risk = first_str(
        props,
        &[&["riskLevelDuringSignIn"], &["riskLevelAggregated"]],
    );
    own.risk_level_id = risk.as_deref().and_then(risk_level_id);
    own.risk_level = risk.filter(|r| !r.eq_ignore_ascii_case("none"));
    let risk_events = array_at(props, &["riskEventTypes_v2"]);
    let risk_events = if risk_events.is_empty() {
        array_at(props, &["riskEventTypes"])
    } else {
        risk_events
    };
    own.zt_behaviors = risk_events.iter().filter_map(as_text).collect();
    own.zt_ca_status = first_str(props, &[&["conditionalAccessStatus"]]);
    super::tag_auth_app(own, site);

    // Conditional access: the deciding policy (failure first, then the first that applied) and
    // the controls the applied policies required.
    let policies = array_at(props, &["appliedConditionalAccessPolicies"]);
    let result_of = |p: &Value| {
        str_at(p, &["result"])
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let deciding = policies
        .iter()
        .find(|p| result_of(p) == "failure")
        .or_else(|| policies.iter().find(|p| result_of(p) == "success"));
    if let Some(policy) = deciding {
        own.policy_name = str_at(policy, &["displayName"]);
        own.policy_uid = str_at(policy, &["id"]);
    }
    let mut controls: Vec<Cow<'v, str>> = Vec::new();
    for policy in policies
        .iter()
        .filter(|p| matches!(result_of(p).as_str(), "success" | "failure"))
    {
        for control in array_at(policy, &["enforcedGrantControls"]) {
            if let Some(name) = control.as_str().map(control_name)
                && !controls.contains(&name)
            {
                controls.push(name);
            }
        }
    }
    if decision == "challenge_mfa" && !controls.iter().any(|c| c == "mfa") {
        controls.push(Cow::Borrowed("mfa"));
    }
    own.zt_required_controls = controls;

    // Observe mode: the policies in report-only mode, the most restrictive verdict first.
    let mut report_only: Vec<Value> = Vec::new();
    let mut would_be: Option<(u8, &'static str, Option<Cow<'v, str>>)> = None;
    for policy in policies {
        let result = result_of(policy);
        let Some(verdict) = report_only_verdict(&result, policy) else {
            continue;
        };
        report_only.push(serde_json::json!({
            "id": policy.get("id"),
            "displayName": policy.get("displayName"),
            "result": policy.get("result"),
            "enforcedGrantControls": policy.get("enforcedGrantControls"),
            "enforcedSessionControls": policy.get("enforcedSessionControls"),
        }));
        let rank = super::restrictiveness(verdict);
        if would_be.as_ref().is_none_or(|(best, _, _)| rank > *best) {
            let name = str_at(policy, &["displayName"]).or_else(|| str_at(policy, &["id"]));
            would_be = Some((rank, verdict, name));
        }
    }
    if let Some((_, verdict, name)) = would_be {
        own.zt_would_be_decision = Some(Cow::Borrowed(verdict));
        own.zt_would_be_policy = name;
    }

    // MFA: the methods performed besides the password.
    let mut factors: Vec<Cow<'v, str>> = Vec::new();
    let mut second_factor_ran = false;
    for step in array_at(props, &["authenticationDetails"]) {
        if let Some(method) = str_at(step, &["authenticationMethod"])
            && !is_primary_or_reused(&method)
        {
            second_factor_ran = true;
            if !factors.contains(&method) {
                factors.push(method);
            }
        }
    }
    if let Some(method) = first_str(props, &[&["mfaDetail", "authMethod"]])
        && !factors.contains(&method)
    {
        second_factor_ran = true;
        factors.push(method);
    }
    own.is_mfa = Some(second_factor_ran || matches!(decision, "mfa_failed" | "mfa_denied"));
    // Protected by MFA: a factor ran now, or the token already carried the MFA claim
    // ("Previously satisfied"), which Entra states as the sign-in's requirement.
    own.zt_mfa_satisfied = match first_str(props, &[&["authenticationRequirement"]]).as_deref() {
        Some("multiFactorAuthentication") => Some(decision == "allow"),
        Some("singleFactorAuthentication") => Some(false),
        _ if second_factor_ran => Some(decision == "allow"),
        _ => None,
    };
    if let Some(first) = factors.first() {
        own.auth_factor = Some(first.clone());
        own.auth_factor_type_id = Some(factor_type_id(first));
    }
    own.auth_factors = factors;

    // Everything the columns above do not hold.
    let mut rest = serde_json::Map::new();
    if !std::ptr::eq(props, value)
        && let Some(top) = unmapped(value, MAPPED_TOP)
    {
        rest.insert(
            "record".into(),
            serde_json::from_str(&top).unwrap_or_default(),
        );
    }
    let mut inner: serde_json::Map<String, Value> = unmapped(props, MAPPED_PROPS)
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    if let Some(upn) = upn_left {
        inner.insert("userPrincipalName".into(), Value::String(upn.into_owned()));
    }
    // The report-only policies, whole: the columns hold only the most restrictive one.
    if !report_only.is_empty() {
        inner.insert("reportOnlyPolicies".into(), Value::Array(report_only));
    }
    if !inner.is_empty() {
        rest.insert("properties".into(), Value::Object(inner));
    }
    if !rest.is_empty() {
        row.common.unmapped = Some(Cow::Owned(Value::Object(rest).to_string()));
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_follow_the_table() {
        let cases = [
            (0, "", "allow"),
            (50074, "", "challenge_mfa"),
            (50076, "", "challenge_mfa"),
            (50079, "", "challenge_mfa"),
            (
                500121,
                "Authentication failed during strong authentication request.",
                "mfa_failed",
            ),
            (
                500121,
                "MFA denied; user declined the authentication",
                "mfa_denied",
            ),
            (53003, "", "deny_policy"),
            (53000, "", "deny_device_posture"),
            (53001, "", "deny_device_posture"),
            (53002, "", "deny_app_not_approved"),
            (50126, "", "deny_credentials"),
            (50053, "", "locked_out"),
            (50057, "", "account_disabled"),
            (70043, "", "reauth_required"),
            (70044, "", "reauth_required"),
            (50140, "", "other"),
        ];
        for (code, details, want) in cases {
            assert_eq!(decision_for_code(code, details), want, "{code}");
        }
    }

    #[test]
    fn object_ids_are_not_logins() {
        assert!(is_guid("a1111111-0000-4000-8000-000000000001"));
        assert!(!is_guid("alice@corp.example"));
        assert!(!is_guid("a1111111-0000-4000-8000-00000000000g"));
    }

    #[test]
    fn unplaced_sign_ins_have_no_coordinates() {
        let unplaced = serde_json::json!({"location": {"city": "", "geoCoordinates":
            {"altitude": null, "latitude": 0.0, "longitude": 0.0}}});
        assert_eq!(coordinates(&unplaced), (None, None));
        let berlin = serde_json::json!({"location": {"geoCoordinates":
            {"latitude": 52.52, "longitude": 13.405}}});
        assert_eq!(coordinates(&berlin), (Some(52.52), Some(13.405)));
    }

    #[test]
    fn factor_names() {
        assert_eq!(factor_type_id("Mobile app notification"), 5);
        assert_eq!(factor_type_id("FIDO2 security key"), 10);
        assert_eq!(factor_type_id("Text message"), 1);
        assert_eq!(factor_type_id("OATH verification code"), 7);
        assert_eq!(factor_type_id("Windows Hello for Business"), 4);
        assert_eq!(factor_type_id("X.509 Certificate"), 6);
    }
}
