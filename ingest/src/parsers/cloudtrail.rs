//! AWS CloudTrail → `authentication` and `account_change`.
//!
//! Input: CloudTrail event records, one per record; the `{"Records": [...]}` envelope of S3
//! deliveries is split by the framer, and EventBridge / CloudWatch Logs deliveries of single
//! events are read as they are.
//!
//! Mapped events:
//!
//! | eventName | table | mapping |
//! |---|---|---|
//! | `ConsoleLogin` | authentication | `responseElements.ConsoleLogin` Success → allow, Failure → deny_credentials; `additionalEventData.MFAUsed` = Yes → `is_mfa`; service "AWS Console" |
//! | `AssumeRole`, `AssumeRoleWithSAML`, `AssumeRoleWithWebIdentity` | authentication | success → allow; `errorCode` AccessDenied → deny_policy, other errors → other; service = the role name; SAML → protocol 5, web identity → 4 |
//! | `GetSessionToken` | authentication | an MFA-backed session when `requestParameters.serialNumber` is set |
//! | `CredentialChallenge`, `CredentialVerification` (IAM Identity Center) | authentication | `serviceEventDetails.*` Success/Failure; a non-password `CredentialType` is an MFA step |
//! | `CreateAccessKey` / `UpdateAccessKey` / `DeleteAccessKey` | account_change | credential_create / credential_enable or credential_disable / credential_delete |
//! | `CreateLoginProfile`, `UpdateLoginProfile` / `DeleteLoginProfile` | account_change | password_reset / credential_delete |
//! | `DeactivateMFADevice`, `DeleteVirtualMFADevice` | account_change | mfa_reset |
//!
//! Insights events (`eventType` `AwsCloudTrailInsight`) are findings, not API calls: each goes to
//! `detection_finding`, the `Start` event creating the finding and the `End` event closing it,
//! both under `sharedEventID` (see [`map_insight`]).
//!
//! An IAM Identity Center user (`userIdentity.type` `IdentityCenterUser`) has no ARN: its
//! `onBehalfOf.userId` is the user id, `additionalEventData.UserName` the name (the id when the
//! event has none), `credentialId` the session and `onBehalfOf.identityStoreArn` its issuer.
//!
//! Any other eventName (CloudTrail records every AWS API call) is stored in `base_event`: the
//! caller, its address, the resource acted on and the record. `zt_privileged_target`
//! is set for the console when "AWS Console" is in `site.privileged_apps`, and for a role whose name
//! is listed there or contains "admin".

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::jv::{
    array_at, at, bool_at, f64_at, first_str, i64_at, missing, parse_object, str_at, time_at,
    unmapped,
};
use super::{Format, Parser, Sniff, VendorSpec, decision_outcome};
use crate::record::{Framing, ParseError};
use crate::schema::{
    AccountChangeRow, AuthenticationRow, BaseEventRow, Common, DetectionFindingRow, TableBuilders,
};
use crate::site::Site;

/// AWS CloudTrail events (S3 `Records` files, EventBridge, single events).
pub static SPEC: VendorSpec = VendorSpec {
    name: "cloudtrail",
    aliases: &["aws_cloudtrail"],
    framing: Framing::Json,
    envelope_keys: &["Records"],
    stateful: false,
    sniff: Sniff::Json(looks_like_cloudtrail),
    parser: |site| Box::new(CloudTrailParser::new(site)),
};

/// The cloudtrail format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct CloudTrailParser {
    site: Arc<Site>,
}

impl CloudTrailParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// Whether a JSON record looks like CloudTrail.
pub fn looks_like_cloudtrail(head: &str) -> bool {
    head.contains("\"eventSource\"")
        && head.contains("\"eventName\"")
        && head.contains("\"eventTime\"")
}

const MAPPED: &[&str] = &[
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "eventID",
    "requestID",
    "recipientAccountId",
    "eventType",
    "eventCategory",
    "managementEvent",
    "readOnly",
];

impl Parser for CloudTrailParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let value = parse_object(record, "a CloudTrail")?;
        // EventBridge wraps the record in `detail`.
        let event = at(&value, &["detail"])
            .filter(|d| d.get("eventName").is_some() || d.get("insightDetails").is_some())
            .unwrap_or(&value);
        if is_insight(event) {
            let mut row = map_insight(event, record, raw_ref)?;
            out.detection_finding.append(&mut row);
            return Ok(1);
        }
        let name = str_at(event, &["eventName"]).ok_or_else(|| missing("eventName"))?;
        let time = time_at(event, &["eventTime"]).ok_or_else(|| missing("eventTime"))?;
        // Every CloudTrail event has an eventID; exporters that drop it get a content hash.
        let uid = str_at(event, &["eventID"])
            .unwrap_or_else(|| Cow::Owned(super::content_uid("cloudtrail", record)));
        let mut common = Common {
            time: Some(time),
            metadata_uid: Some(uid),
            metadata_event_code: Some(name.clone()),
            metadata_correlation_uid: str_at(event, &["requestID"]),
            metadata_product_name: Some(Cow::Borrowed("cloudtrail")),
            metadata_product_vendor_name: Some(Cow::Borrowed("AWS")),
            metadata_log_name: str_at(event, &["eventSource"]),
            cloud_provider: Some(Cow::Borrowed("AWS")),
            cloud_region: str_at(event, &["awsRegion"]),
            cloud_account_uid: first_str(
                event,
                &[&["recipientAccountId"], &["userIdentity", "accountId"]],
            ),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            severity_id: Some(1),
            unmapped: unmapped(event, MAPPED).map(Cow::Owned),
            ..Common::default()
        };
        let error_code = str_at(event, &["errorCode"]);
        let error_message = str_at(event, &["errorMessage"]);
        common.status_code = error_code.clone();
        common.status_detail = error_message.clone();

        match name.as_ref() {
            "ConsoleLogin"
            | "AssumeRole"
            | "AssumeRoleWithSAML"
            | "AssumeRoleWithWebIdentity"
            | "GetSessionToken"
            | "CredentialChallenge"
            | "CredentialVerification" => {
                let mut row = AuthenticationRow {
                    common,
                    ..AuthenticationRow::default()
                };
                map_auth(event, &name, &mut row, &self.site);
                out.authentication.append(&mut row);
            }
            "CreateAccessKey"
            | "UpdateAccessKey"
            | "DeleteAccessKey"
            | "CreateLoginProfile"
            | "UpdateLoginProfile"
            | "DeleteLoginProfile"
            | "DeactivateMFADevice"
            | "DeleteVirtualMFADevice" => {
                let mut row = AccountChangeRow {
                    common,
                    ..AccountChangeRow::default()
                };
                map_change(event, &name, &mut row);
                out.account_change.append(&mut row);
            }
            other => {
                let mut row = BaseEventRow {
                    common,
                    ..BaseEventRow::default()
                };
                map_base_event(event, &mut row);
                out.append_base_event(&mut row, other, record);
            }
        }
        Ok(1)
    }
}

/// An API call no class maps: the caller, its address, and the resource acted on.
fn map_base_event<'v>(event: &'v Value, row: &mut BaseEventRow<'v>) {
    let c = &mut row.common;
    c.status_id = Some(if c.status_code.is_some() { 2 } else { 1 });
    let (type_id, uid, name) = identity(event);
    let own = &mut row.own;
    own.actor_user_type_id = Some(type_id);
    own.actor_user_uid = uid;
    own.actor_user_name = name;
    own.src_endpoint_ip =
        str_at(event, &["sourceIPAddress"]).filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    if let Some(resource) = event
        .get("resources")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
    {
        own.zt_target_type = str_at(resource, &["type"]);
        own.zt_target_uid = str_at(resource, &["ARN"]);
    } else if let Some((key, value)) = target_parameter(event) {
        own.zt_target_type = Some(Cow::Borrowed(key));
        own.zt_target_name = Some(Cow::Borrowed(value));
    }
}

/// The request parameter naming what an API call acts on: a well-known key first, else the
/// first `…Name`, `…Id`, `…Identifier` or `…Arn` string parameter.
fn target_parameter(event: &Value) -> Option<(&str, &str)> {
    const KNOWN: &[&str] = &[
        "userName",
        "roleName",
        "groupName",
        "policyArn",
        "functionName",
        "instanceId",
        "bucketName",
        "dBInstanceIdentifier",
        "dBClusterIdentifier",
        "trailName",
        "keyId",
        "imageId",
        "groupId",
        "vpcId",
        "name",
    ];
    let parameters = event.get("requestParameters")?.as_object()?;
    let string = |key: &str| parameters.get(key).and_then(Value::as_str);
    KNOWN
        .iter()
        .find_map(|k| string(k).map(|v| (*k, v)))
        .or_else(|| {
            parameters.iter().find_map(|(k, v)| {
                let named = ["Name", "Id", "Identifier", "Arn"]
                    .iter()
                    .any(|suffix| k.ends_with(suffix));
                named.then(|| v.as_str().map(|v| (k.as_str(), v))).flatten()
            })
        })
}

/// What AWS writes instead of a user name it will not log (a sign-in with a mistyped name).
const HIDDEN_NAME: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Where the acting user's name is, best first. An Identity Center user has none of the
/// `userIdentity` ones: its sign-in events name it in `additionalEventData.UserName`.
const NAME_PATHS: &[&[&str]] = &[
    &["userIdentity", "userName"],
    &[
        "userIdentity",
        "sessionContext",
        "sessionIssuer",
        "userName",
    ],
    &["additionalEventData", "UserName"],
];

/// The acting identity: user type id, uid, name.
fn identity<'v>(event: &'v Value) -> (i32, Option<Cow<'v, str>>, Option<Cow<'v, str>>) {
    let kind = str_at(event, &["userIdentity", "type"]);
    let type_id = match kind.as_deref() {
        Some("Root") => 2,
        Some("AWSService") | Some("AWSAccount") => 4,
        Some(_) => 1,
        None => 0,
    };
    // An Identity Center user has no ARN: its id is the identity store's user id (its
    // `principalId`, in events before July 2025, was the account id).
    let on_behalf = str_at(event, &["userIdentity", "onBehalfOf", "userId"]);
    let uid = str_at(event, &["userIdentity", "arn"])
        .or_else(|| on_behalf.clone())
        .or_else(|| str_at(event, &["userIdentity", "principalId"]));
    let name = NAME_PATHS
        .iter()
        .find_map(|path| str_at(event, path).filter(|n| n != HIDDEN_NAME))
        .or(on_behalf);
    (type_id, uid, name)
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn map_auth<'v>(event: &'v Value, name: &str, row: &mut AuthenticationRow<'v>, site: &Site) {
    let (type_id, uid, user) = identity(event);
    let own = &mut row.own;
    own.user_type_id = Some(type_id);
    own.user_uid = uid;
    own.user_name = user;
    own.src_endpoint_ip =
        str_at(event, &["sourceIPAddress"]).filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    own.http_request_user_agent = str_at(event, &["userAgent"]);
    own.is_remote = Some(true);
    // A bearer-token caller (an Identity Center user): the portal session and its directory.
    own.session_uid = str_at(event, &["userIdentity", "credentialId"]);
    own.session_issuer = str_at(event, &["userIdentity", "onBehalfOf", "identityStoreArn"]);
    let error = str_at(event, &["errorCode"]);
    let (decision, activity) = match name {
        "ConsoleLogin" => {
            own.service_name = Some(Cow::Borrowed("AWS Console"));
            own.is_interactive = Some(true);
            // Documented as "Yes" / "No"; exporters that retype fields write `true` / `false`.
            let mfa_used = bool_at(event, &["additionalEventData", "MFAUsed"]);
            own.is_mfa = Some(mfa_used == Some(true));
            if own.is_mfa == Some(true) {
                // CloudTrail says an MFA device was used, not which kind: OCSF 0, Unknown.
                own.auth_factor = Some(Cow::Borrowed("aws_mfa"));
                own.auth_factor_type_id = Some(0);
                own.auth_factors = vec![Cow::Borrowed("aws_mfa")];
            }
            let result = str_at(event, &["responseElements", "ConsoleLogin"]);
            let decision = match (result.as_deref(), error.as_deref()) {
                (Some("Success"), _) => "allow",
                (Some("Failure"), _) | (_, Some(_)) => "deny_credentials",
                _ => "other",
            };
            own.zt_mfa_satisfied = mfa_used.map(|m| m && decision == "allow");
            (decision, 1)
        }
        "CredentialChallenge" | "CredentialVerification" => {
            own.service_name = Some(Cow::Borrowed("IAM Identity Center"));
            own.is_interactive = Some(true);
            let credential = str_at(event, &["additionalEventData", "CredentialType"]);
            let is_factor = credential
                .as_deref()
                .is_some_and(|c| !c.eq_ignore_ascii_case("PASSWORD"));
            own.is_mfa = Some(is_factor);
            if let Some(c) = credential {
                own.auth_factor_type_id = Some(if is_factor {
                    super::okta::factor_type_id(&c)
                } else {
                    11
                });
                own.auth_factors = vec![c.clone()];
                own.auth_factor = Some(c);
            }
            let result = first_str(
                event,
                &[
                    &["serviceEventDetails", "CredentialChallenge"],
                    &["serviceEventDetails", "CredentialVerification"],
                ],
            );
            let decision = match result.as_deref() {
                Some("Success") => "allow",
                Some("Failure") if is_factor => "mfa_failed",
                Some("Failure") => "deny_credentials",
                _ => "other",
            };
            (decision, 99)
        }
        "GetSessionToken" => {
            own.is_interactive = Some(false);
            own.is_mfa = Some(str_at(event, &["requestParameters", "serialNumber"]).is_some());
            own.service_name = Some(Cow::Borrowed("AWS STS"));
            (if error.is_some() { "other" } else { "allow" }, 1)
        }
        _ => {
            // AssumeRole*: the role is the target.
            let role = str_at(event, &["requestParameters", "roleArn"]);
            own.service_uid = role.clone();
            own.service_name = role.map(|r| Cow::Owned(role_name(&r).to_string()));
            own.is_interactive = Some(false);
            own.auth_protocol_id = match name {
                "AssumeRoleWithSAML" => Some(5),
                "AssumeRoleWithWebIdentity" => Some(4),
                _ => None,
            };
            own.session_uid = str_at(event, &["requestParameters", "roleSessionName"]);
            let decision = match error.as_deref() {
                None => "allow",
                Some(e) if e.contains("AccessDenied") => "deny_policy",
                Some(_) => "other",
            };
            (decision, 1)
        }
    };
    super::tag_auth_app(own, site);
    if name.starts_with("AssumeRole")
        && own
            .service_name
            .as_deref()
            .is_some_and(|s| s.to_ascii_lowercase().contains("admin"))
    {
        own.zt_privileged_target = Some(true);
    }
    let (action_id, disposition_id, status_id) = decision_outcome(decision);
    own.zt_decision = Some(Cow::Borrowed(decision));
    own.action_id = Some(action_id);
    own.disposition_id = Some(disposition_id);
    let c = &mut row.common;
    c.activity_id = Some(activity);
    c.activity_name = Some(Cow::Borrowed(if activity == 1 { "Logon" } else { "Other" }));
    c.status_id = Some(if decision == "other" {
        if error.is_some() { 2 } else { 0 }
    } else {
        status_id
    });
    if c.status_code.is_none() {
        c.status_code = first_str(
            event,
            &[
                &["responseElements", "ConsoleLogin"],
                &["serviceEventDetails", "CredentialChallenge"],
                &["serviceEventDetails", "CredentialVerification"],
            ],
        );
    }
}

/// Whether the record is a CloudTrail Insights event (an unusual API call or error rate).
fn is_insight(event: &Value) -> bool {
    str_at(event, &["eventType"]).as_deref() == Some("AwsCloudTrailInsight")
}

/// Top-level fields of an Insights event that its row holds.
const INSIGHT_MAPPED: &[&str] = &[
    "eventTime",
    "eventID",
    "eventType",
    "awsRegion",
    "recipientAccountId",
    "sharedEventID",
    "insightDetails",
];

/// Title and OCSF severity of an Insights type. Insights carry no severity: an error-rate burst
/// (denied or failing calls, as in enumeration) ranks above a call-rate burst.
fn insight_kind(kind: &str) -> (&'static str, i32) {
    match kind {
        "ApiCallRateInsight" => ("Unusual API call rate", 2),
        "ApiErrorRateInsight" => ("Unusual API error rate", 3),
        _ => ("Unusual API activity", 1),
    }
}

/// The top contributor of one attribution (`userIdentityArn`, `userAgent`, `errorCode`) to the
/// unusual activity; AWS lists them by activity, highest first, and writes "null" for none.
fn top_attribution<'v>(details: &'v Value, attribute: &str) -> Option<Cow<'v, str>> {
    array_at(details, &["insightContext", "attributions"])
        .iter()
        .find(|a| str_at(a, &["attribute"]).as_deref() == Some(attribute))
        .and_then(|a| array_at(a, &["insight"]).first())
        .and_then(|top| str_at(top, &["value"]))
        .filter(|v| v != "null")
}

/// An Insights event → one `detection_finding` row. `Start` creates the finding (activity 1),
/// `End` closes it (activity 3); both carry `sharedEventID` as `finding_info_uid`, so the pair
/// is one finding. Insights are statistical anomalies, not alerts: `is_alert` is false.
fn map_insight<'v>(
    event: &'v Value,
    record: &[u8],
    raw_ref: &'v str,
) -> Result<DetectionFindingRow<'v>, ParseError> {
    let time = time_at(event, &["eventTime"]).ok_or_else(|| missing("eventTime"))?;
    let details = at(event, &["insightDetails"]).ok_or_else(|| missing("insightDetails"))?;
    let kind = str_at(details, &["insightType"]).ok_or_else(|| missing("insightType"))?;
    let (title, severity) = insight_kind(&kind);
    let source = str_at(details, &["eventSource"]);
    let api = str_at(details, &["eventName"]);
    let state = str_at(details, &["state"]);
    let closing = state
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("End"));
    let rate = |side: &str| f64_at(details, &["insightContext", "statistics", side, "average"]);
    let minutes = i64_at(
        details,
        &["insightContext", "statistics", "insightDuration"],
    );
    // The End event comes when the activity stops; it began `insightDuration` minutes before.
    let first_seen = match minutes {
        Some(m) if closing => time.saturating_sub(m.saturating_mul(60_000)),
        _ => time,
    };
    let uid = str_at(event, &["eventID"])
        .unwrap_or_else(|| Cow::Owned(super::content_uid("cloudtrail", record)));
    let finding = str_at(event, &["sharedEventID"]).unwrap_or_else(|| uid.clone());
    let title = match (&source, &api) {
        (Some(s), Some(a)) => format!("{title}: {s} {a}"),
        _ => title.to_string(),
    };

    let mut rest = serde_json::Map::new();
    // Every part of insightDetails the row does not hold: insightContext, and errorCode or any
    // key AWS adds.
    const DETAILS_READ: &[&str] = &["state", "eventSource", "eventName", "insightType"];
    for (key, value) in details.as_object().into_iter().flatten() {
        if !value.is_null() && !DETAILS_READ.iter().any(|m| m.eq_ignore_ascii_case(key)) {
            rest.insert(key.clone(), value.clone());
        }
    }
    for (key, value) in event.as_object().into_iter().flatten() {
        if !value.is_null() && !INSIGHT_MAPPED.iter().any(|m| m.eq_ignore_ascii_case(key)) {
            rest.insert(key.clone(), value.clone());
        }
    }

    let common = Common {
        time: Some(time),
        activity_id: Some(if closing { 3 } else { 1 }),
        activity_name: Some(Cow::Borrowed(if closing { "Close" } else { "Create" })),
        severity_id: Some(severity),
        status_id: Some(1),
        status_code: state,
        message: Some(Cow::Owned(title.clone())),
        metadata_uid: Some(uid),
        metadata_event_code: api,
        metadata_log_name: source,
        metadata_product_name: Some(Cow::Borrowed("cloudtrail")),
        metadata_product_vendor_name: Some(Cow::Borrowed("AWS")),
        cloud_provider: Some(Cow::Borrowed("AWS")),
        cloud_region: str_at(event, &["awsRegion"]),
        cloud_account_uid: str_at(event, &["recipientAccountId"]),
        raw_ref: Some(Cow::Borrowed(raw_ref)),
        unmapped: (!rest.is_empty()).then(|| Cow::Owned(Value::Object(rest).to_string())),
        ..Common::default()
    };
    let mut row = DetectionFindingRow {
        common,
        ..DetectionFindingRow::default()
    };
    let d = &mut row.own;
    d.finding_info_uid = Some(finding.clone());
    d.zt_dedup_key = Some(finding);
    d.finding_info_title = Some(Cow::Owned(title));
    d.finding_info_desc = match (rate("insight"), rate("baseline")) {
        (Some(now), Some(usual)) => Some(Cow::Owned(format!(
            "{now} per minute against a baseline of {usual} per minute"
        ))),
        _ => None,
    };
    d.finding_info_analytic_name = Some(Cow::Borrowed("CloudTrail Insights"));
    d.finding_info_analytic_type = Some(Cow::Borrowed("statistical"));
    d.finding_info_types = vec![kind.clone()];
    d.finding_info_analytic_uid = Some(kind);
    d.finding_info_created_time = Some(first_seen);
    d.finding_info_first_seen_time = Some(first_seen);
    d.finding_info_last_seen_time = Some(time);
    d.modified_time = closing.then_some(time);
    d.is_alert = Some(false);
    // The identity that made most of the unusual calls.
    if let Some(arn) = top_attribution(details, "userIdentityArn") {
        d.user_name = Some(Cow::Owned(role_name(&arn).to_string()));
        d.user_uid = Some(arn);
    }
    Ok(row)
}

fn map_change<'v>(event: &'v Value, name: &str, row: &mut AccountChangeRow<'v>) {
    let (type_id, actor_uid, actor_name) = identity(event);
    let own = &mut row.own;
    own.actor_user_uid = actor_uid;
    own.actor_user_name = actor_name.clone();
    own.src_endpoint_ip =
        str_at(event, &["sourceIPAddress"]).filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    // Without `userName` the call acts on the caller's own user.
    let target = str_at(event, &["requestParameters", "userName"]);
    own.user_name = target.or(actor_name);
    own.user_type_id = Some(type_id);
    let status = str_at(event, &["requestParameters", "status"]);
    let (activity_id, activity_name, change) = match name {
        "CreateAccessKey" => (1, "Create", "credential_create"),
        "UpdateAccessKey" if status.as_deref() == Some("Inactive") => {
            (5, "Disable", "credential_disable")
        }
        "UpdateAccessKey" => (2, "Enable", "credential_enable"),
        "DeleteAccessKey" | "DeleteLoginProfile" => (6, "Delete", "credential_delete"),
        "CreateLoginProfile" | "UpdateLoginProfile" => (4, "Password Reset", "password_reset"),
        _ => (11, "MFA Factor Disable", "mfa_reset"),
    };
    own.zt_change_type = Some(Cow::Borrowed(change));
    let error = str_at(event, &["errorCode"]);
    let c = &mut row.common;
    c.activity_id = Some(activity_id);
    c.activity_name = Some(Cow::Borrowed(activity_name));
    c.status_id = Some(if error.is_some() { 2 } else { 1 });
}
