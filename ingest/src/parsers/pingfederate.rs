//! PingFederate security audit log (`audit.log`) → `authentication`, `account_change`.
//!
//! Input: one transaction per line, `|`-separated, in the log4j2 pattern PingFederate ships
//! (`<pf_install>/pingfederate/server/default/conf/log4j2.xml`):
//! `%d| %X{trackingid}| %X{event}| %X{subject}| %X{ip} | %X{app}| %X{connectionid}|
//! %X{protocol}| %X{host}| %X{role}| %X{status}| %X{adapterid}| %X{description}|
//! %X{responsetime}`. Three layouts are read, told apart by value, not by count alone:
//! - 14 fields, the classic default;
//! - 15 fields, with `transactionid` after `trackingid` (the default since PingFederate 11.3);
//! - 31 fields (32 with `transactionid`): the default plus the 17 additional fields in the order
//!   the documented extended pattern lists them (`attrackingid` … `httprequestid`).
//!
//! The layout is found where `event` is a known event name (field 3 or 4), or where `role`
//! (`IdP`, `SP`, `AS`) and `status` (`success`, `failure`, `inprogress`) sit. The free-text
//! `description` may hold `|`: the fields before it are read from the left, the ones after it
//! from the right.
//!
//! The time (`yyyy-MM-dd HH:mm:ss,SSS`, comma decimals) carries no zone: it is read as UTC.
//! Run PingFederate in UTC, or put the offset in the pattern (`%d{yyyy-MM-dd HH:mm:ss,SSSXXX}`,
//! which is read too).
//!
//! | event | status | table | zt_decision |
//! |---|---|---|---|
//! | `AUTHN_ATTEMPT`, password or other adapter | success / failure / inprogress | authentication, 1 Logon | allow / deny_credentials (locked_out, account_disabled when the description says so) / none (a form was shown) |
//! | `AUTHN_ATTEMPT`, MFA adapter | success / failure / inprogress | authentication, 99 MFA Verification, an MFA step | allow / mfa_failed (mfa_denied when the user declined) / challenge_mfa |
//! | `AUTHN_REQUEST`, `AUTHN_SESSION_USED` | success / failure | authentication, 1 Logon | allow / other |
//! | `SSO` | success / failure | authentication, 1 Logon | allow / deny_policy when the description names a policy, else other |
//! | `OAuth` | success / failure | authentication, 1 Logon | allow / deny_credentials for `invalid_client`, `invalid_grant`, else other |
//! | `SLO`, `AUTHN_SESSION_DELETED` | any | authentication, 2 Logoff | none |
//! | `SRI_REVOKED` | any | account_change, 99 Other | session_revoke |
//!
//! Other events (`AUTHN_SESSION_CREATED`, `USER_KEY_AND_SRI_ASSOCIATED`, STS and SCIM
//! transactions …) are stored in `base_event`.
//!
//! MFA adapters are recognized by their instance id (an administrator's name, e.g.
//! `PingIDAdapter`): it contains, ignoring case, one of [`MFA_ADAPTER_WORDS`]. The factor type
//! follows the word: FIDO / WebAuthn → 10, U2F → 9, SecurID → 6, OTP → 7, PingID / push / Duo →
//! 5, else 99.
//!
//! `trackingid` (without `tid:`) identifies the user's PingFederate session: it is
//! `session_uid` and `metadata_correlation_uid`, so an SSO finds the MFA step of its session.
//! Lines carry no event id: `metadata_uid` is a hash of the line.

use std::borrow::Cow;
use std::sync::Arc;

use super::{
    Format, Parser, Sniff, VendorSpec, as_utf8, content_uid, decision_outcome, ip_text, json_object,
};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{AccountChangeRow, AuthenticationRow, BaseEventRow, Common, TableBuilders};
use crate::site::Site;

/// PingFederate security audit log lines.
pub static SPEC: VendorSpec = VendorSpec {
    name: "pingfederate",
    aliases: &["pingfed"],
    framing: Framing::Lines,
    envelope_keys: &[],
    stateful: false,
    sniff: Sniff::Line(looks_like_pingfederate),
    parser: |site| Box::new(PingFederateParser::new(site)),
};

/// The pingfederate format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct PingFederateParser {
    site: Arc<Site>,
}

impl PingFederateParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

/// Event names the audit log documents.
const EVENTS: &[&str] = &[
    "SSO",
    "SLO",
    "OAuth",
    "AUTHN_ATTEMPT",
    "AUTHN_REQUEST",
    "AUTHN_SESSION_CREATED",
    "AUTHN_SESSION_USED",
    "AUTHN_SESSION_DELETED",
    "SRI_REVOKED",
    "USER_KEY_AND_SRI_ASSOCIATED",
];

const ROLES: &[&str] = &["IdP", "SP", "AS"];

const STATUSES: &[&str] = &["success", "failure", "inprogress"];

/// Words in an adapter instance id that mark an MFA adapter (compared in lower case).
pub const MFA_ADAPTER_WORDS: &[&str] = &[
    "pingid", "mfa", "2fa", "otp", "fido", "webauthn", "u2f", "push", "duo", "securid",
];

/// The 17 additional fields of the documented extended pattern, in order.
const EXTENDED: [&str; 17] = [
    "attrackingid",
    "attributes",
    "granttype",
    "initiator",
    "inmessagetype",
    "inresponseto",
    "localuserid",
    "requestid",
    "requeststarttime",
    "responseid",
    "stspluginid",
    "targetsessionid",
    "authenticationsourceid",
    "validatorid",
    "virtualserverid",
    "connectionname",
    "httprequestid",
];

/// Whether a line looks like a PingFederate audit log line: a time, then at least 13 more
/// `|`-separated fields with the tracking id or the event where the layouts put them.
/// `admin.log` (7 fields) and the other logs do not match.
pub fn looks_like_pingfederate(line: &str) -> bool {
    let fields: Vec<&str> = line.split('|').map(str::trim).collect();
    fields.len() >= 14
        && fields.first().is_some_and(|t| parse_time(t).is_some())
        && (fields.get(1).is_some_and(|t| t.starts_with("tid:")) || offset_of(&fields).is_some())
}

/// Where the layout puts `event`: 0 for the 14/31-field layouts, 1 with `transactionid`.
fn offset_of(fields: &[&str]) -> Option<usize> {
    let at = |i: usize| fields.get(i).copied().unwrap_or("");
    [0, 1].into_iter().find(|&o| {
        EVENTS.contains(&at(2 + o))
            || (ROLES.contains(&at(9 + o)) && STATUSES.contains(&at(10 + o)))
    })
}

/// `yyyy-MM-dd HH:mm:ss,SSS` (log4j2's default `%d`; also `T` between date and time, `.` as
/// the decimal separator, no fraction, and a trailing `Z` or `±hh:mm` / `±hhmm` offset) →
/// epoch milliseconds. Without an offset the time is read as UTC.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    // Date and time of day: the first 19 characters, all ASCII when the shape is right.
    let (main, rest) = (text.get(..19)?, text.get(19..)?);
    let date_time = chrono::NaiveDateTime::parse_from_str(main, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(main, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let mut ms = date_time.and_utc().timestamp_millis();
    let mut rest = rest;
    if let Some(fraction) = rest.strip_prefix([',', '.']) {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let (frac, tail) = fraction.split_at(digits);
        // Milliseconds: the first three digits, padded (`,5` is 500 ms).
        let millis = frac
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
        ms = ms.checked_add(millis)?;
        rest = tail;
    }
    let offset_minutes: i64 = match rest.trim() {
        "" | "Z" => 0,
        zone => {
            let (sign, digits) = match zone.as_bytes().first() {
                Some(b'+') => (1, &zone[1..]),
                Some(b'-') => (-1, &zone[1..]),
                _ => return None,
            };
            let digits: String = digits.chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours: i64 = digits.get(..2)?.parse().ok()?;
            let minutes: i64 = digits.get(2..)?.parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 60 + minutes)
        }
    };
    ms.checked_sub(offset_minutes.checked_mul(60_000)?)
}

/// One line, split into its named fields.
struct Line<'a> {
    time: i64,
    tracking: &'a str,
    transaction: Option<&'a str>,
    event: &'a str,
    subject: &'a str,
    ip: &'a str,
    app: &'a str,
    connection: &'a str,
    protocol: &'a str,
    host: &'a str,
    role: &'a str,
    status: &'a str,
    adapter: &'a str,
    description: &'a str,
    response_time: &'a str,
    /// The additional fields of the extended layout, by name (empty when absent).
    extended: Vec<(&'static str, &'a str)>,
}

impl<'a> Line<'a> {
    fn extra(&self, name: &str) -> &'a str {
        self.extended
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| *v)
    }
}

fn split_line(line: &str) -> Result<Line<'_>, ParseError> {
    // Raw pieces (spaces kept), so a description holding `|` is joined back as written.
    let raw: Vec<&str> = line.split('|').collect();
    let fields: Vec<&str> = raw.iter().map(|f| f.trim()).collect();
    let n = fields.len();
    let time_text = fields.first().copied().unwrap_or("");
    let time = parse_time(time_text).ok_or_else(|| {
        let shown: String = time_text.chars().take(40).collect();
        ParseError::new(
            ErrorKind::InvalidField,
            format!("time {shown:?} is not yyyy-MM-dd HH:mm:ss,SSS"),
        )
    })?;
    let o = offset_of(&fields).ok_or_else(|| {
        ParseError::new(
            ErrorKind::InvalidField,
            "no PingFederate event in field 3 or 4, nor role and status in fields 10-11 or 11-12",
        )
    })?;
    let base = 14 + o;
    if n < base {
        return Err(ParseError::new(
            ErrorKind::FieldCount,
            format!("{n} fields: the audit log has at least {base}"),
        ));
    }
    // Fields after `description`: `responsetime`, and the 17 additional ones when there are
    // enough fields for them.
    let after = if n >= base + EXTENDED.len() {
        1 + EXTENDED.len()
    } else {
        1
    };
    // `description` spans pieces desc_start..desc_end: one piece, more when it holds `|`.
    // n >= base makes desc_end > desc_start.
    let desc_start = 12 + o;
    let desc_end = n.saturating_sub(after);
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let extended = if after > 1 {
        EXTENDED
            .iter()
            .enumerate()
            .map(|(k, name)| (*name, field(desc_end + 1 + k)))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Line {
        time,
        tracking: field(1),
        transaction: (o == 1).then_some(field(2)),
        event: field(2 + o),
        subject: field(3 + o),
        ip: field(4 + o),
        app: field(5 + o),
        connection: field(6 + o),
        protocol: field(7 + o),
        host: field(8 + o),
        role: field(9 + o),
        status: field(10 + o),
        adapter: field(11 + o),
        description: line_range(line, &raw, desc_start, desc_end).trim(),
        response_time: field(desc_end),
        extended,
    })
}

/// The text of the line from raw piece `start` to piece `end` (exclusive), separators
/// included: a description that holds `|` is one field.
fn line_range<'a>(line: &'a str, raw: &[&str], start: usize, end: usize) -> &'a str {
    // Byte offset of piece i: the lengths of the pieces before it plus one `|` each.
    let offset = |i: usize| -> usize { raw.iter().take(i).map(|p| p.len() + 1).sum() };
    let from = offset(start).min(line.len());
    let to = offset(end).saturating_sub(1).clamp(from, line.len());
    line.get(from..to).unwrap_or("")
}

/// Whether the adapter instance id names an MFA adapter.
pub fn is_mfa_adapter(adapter: &str) -> bool {
    let a = adapter.to_ascii_lowercase();
    MFA_ADAPTER_WORDS.iter().any(|w| a.contains(w))
}

/// The OCSF factor type of an MFA adapter.
pub fn adapter_factor_type(adapter: &str) -> i32 {
    let a = adapter.to_ascii_lowercase();
    if a.contains("fido") || a.contains("webauthn") {
        10
    } else if a.contains("u2f") {
        9
    } else if a.contains("securid") {
        6
    } else if a.contains("otp") {
        7
    } else if a.contains("pingid") || a.contains("push") || a.contains("duo") {
        5
    } else {
        99
    }
}

/// The decision a failure's description names, if any.
fn decision_from_description(description: &str) -> Option<&'static str> {
    let d = description.to_ascii_lowercase();
    if d.contains("locked") {
        Some("locked_out")
    } else if d.contains("disabled") {
        Some("account_disabled")
    } else {
        None
    }
}

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Attempt,
    Request,
    SessionUsed,
    Sso,
    OAuth,
    Logoff,
    Revoked,
    Other,
}

fn classify(event: &str) -> Kind {
    match event {
        "AUTHN_ATTEMPT" => Kind::Attempt,
        "AUTHN_REQUEST" => Kind::Request,
        "AUTHN_SESSION_USED" => Kind::SessionUsed,
        "SSO" => Kind::Sso,
        "OAuth" => Kind::OAuth,
        "SLO" | "AUTHN_SESSION_DELETED" => Kind::Logoff,
        "SRI_REVOKED" => Kind::Revoked,
        _ => Kind::Other,
    }
}

/// The decision of a sign-in line; `None` when the line decides nothing (a form shown, a
/// logoff).
fn decide(kind: Kind, status: &str, mfa: bool, description: &str) -> Option<&'static str> {
    let d = description.to_ascii_lowercase();
    match (kind, status) {
        (Kind::Logoff | Kind::Revoked | Kind::Other, _) => None,
        (_, "success") => Some("allow"),
        (Kind::Attempt, "inprogress") if mfa => Some("challenge_mfa"),
        (_, "inprogress") => None,
        (Kind::Attempt, "failure") if mfa => Some(
            if ["denied", "declined", "rejected"]
                .iter()
                .any(|w| d.contains(w))
            {
                "mfa_denied"
            } else {
                "mfa_failed"
            },
        ),
        (Kind::Attempt, "failure") => {
            Some(decision_from_description(description).unwrap_or("deny_credentials"))
        }
        (Kind::Sso, "failure") if d.contains("polic") || d.contains("authoriz") => {
            Some("deny_policy")
        }
        (Kind::OAuth, "failure") if d.contains("invalid_client") || d.contains("invalid_grant") => {
            Some("deny_credentials")
        }
        (_, "failure") => Some(decision_from_description(description).unwrap_or("other")),
        _ => Some("other"),
    }
}

fn status_id(status: &str) -> i32 {
    match status {
        "success" => 1,
        "failure" => 2,
        "inprogress" => 99,
        _ => 0,
    }
}

/// Fields without a column, as a JSON object.
fn unmapped_of(line: &Line<'_>, adapter_mapped: bool) -> Option<Cow<'static, str>> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let mut keep = |name: &'static str, value: &str| {
        if !value.is_empty() {
            pairs.push((name, serde_json::to_string(value).unwrap_or_default()));
        }
    };
    keep("transactionid", line.transaction.unwrap_or(""));
    keep("host", line.host);
    keep("role", line.role);
    keep("responsetime", line.response_time);
    if !adapter_mapped {
        keep("adapterid", line.adapter);
    }
    for (name, value) in &line.extended {
        if !matches!(*name, "localuserid" | "connectionname") {
            keep(name, value);
        }
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    json_object(&pairs).map(Cow::Owned)
}

impl Parser for PingFederateParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let text = as_utf8(record)?.trim_end_matches(['\r', '\n']);
        if text.trim().is_empty() {
            return Ok(0);
        }
        let line = split_line(text)?;
        let tracking = line
            .tracking
            .strip_prefix("tid:")
            .unwrap_or(line.tracking)
            .trim();
        let common = Common {
            time: Some(line.time),
            severity_id: Some(1),
            status_id: Some(status_id(line.status)),
            status_code: text_of(line.status),
            status_detail: text_of(line.description),
            metadata_uid: Some(Cow::Owned(content_uid("pingfederate", text.as_bytes()))),
            metadata_correlation_uid: text_of(tracking),
            metadata_event_code: text_of(line.event),
            metadata_log_name: Some(Cow::Borrowed("audit.log")),
            metadata_product_name: Some(Cow::Borrowed("pingfederate")),
            metadata_product_vendor_name: Some(Cow::Borrowed("Ping Identity")),
            raw_ref: Some(Cow::Borrowed(raw_ref)),
            ..Common::default()
        };
        let subject = text_of(line.subject);
        let email = subject.clone().filter(|s| s.contains('@'));
        let ip = text_of(line.ip).and_then(ip_text);
        // The app the transaction is for: the SP application, else the connection's name, else
        // its id (the OAuth client id).
        let service = text_of(line.app)
            .or_else(|| text_of(line.extra("connectionname")))
            .or_else(|| text_of(line.connection));
        let kind = classify(line.event);
        match kind {
            Kind::Other => {
                let mut row = BaseEventRow {
                    common,
                    ..BaseEventRow::default()
                };
                let own = &mut row.own;
                own.actor_user_email_addr = email;
                own.actor_user_name = subject;
                own.actor_user_uid = text_of(line.extra("localuserid"));
                own.actor_user_type_id = own.actor_user_name.as_ref().map(|_| 1);
                own.src_endpoint_ip = ip;
                if !line.connection.is_empty() || !line.app.is_empty() {
                    own.zt_target_type = Some(Cow::Borrowed("connection"));
                    own.zt_target_uid = text_of(line.connection);
                    own.zt_target_name = service;
                }
                let event_type = if line.event.is_empty() {
                    "unknown"
                } else {
                    line.event
                };
                out.append_base_event(&mut row, event_type, record);
            }
            Kind::Revoked => {
                let mut row = AccountChangeRow {
                    common,
                    ..AccountChangeRow::default()
                };
                row.common.activity_id = Some(99);
                row.common.activity_name = Some(Cow::Borrowed("Other"));
                row.common.unmapped = unmapped_of(&line, false);
                let own = &mut row.own;
                own.zt_change_type = Some(Cow::Borrowed("session_revoke"));
                own.user_email_addr = email;
                own.user_type_id = subject.as_ref().map(|_| 1);
                own.user_name = subject;
                own.user_uid = text_of(line.extra("localuserid"));
                own.session_uid = text_of(tracking);
                own.src_endpoint_ip = ip;
                out.account_change.append(&mut row);
            }
            _ => {
                let mut row = AuthenticationRow {
                    common,
                    ..AuthenticationRow::default()
                };
                let mfa = kind == Kind::Attempt && is_mfa_adapter(line.adapter);
                let decision = decide(kind, line.status, mfa, line.description);
                let c = &mut row.common;
                let (activity_id, activity_name) = match kind {
                    Kind::Attempt if mfa => (99, "MFA Verification"),
                    Kind::Logoff => (2, "Logoff"),
                    _ => (1, "Logon"),
                };
                c.activity_id = Some(activity_id);
                c.activity_name = Some(Cow::Borrowed(activity_name));
                c.unmapped = unmapped_of(&line, mfa);
                let own = &mut row.own;
                if let Some(d) = decision {
                    let (action_id, disposition_id, status) = decision_outcome(d);
                    // A failure PingFederate does not explain is still a failure; a status
                    // it does not document is unknown.
                    c.status_id = Some(if d == "other" {
                        status_id(line.status)
                    } else {
                        status
                    });
                    own.action_id = Some(action_id);
                    own.disposition_id = Some(disposition_id);
                    own.zt_decision = Some(Cow::Borrowed(d));
                    if d == "challenge_mfa" {
                        own.zt_required_controls = vec![Cow::Borrowed("mfa")];
                    }
                }
                let client_credentials = line.extra("granttype") == "client_credentials";
                own.user_uid = text_of(line.extra("localuserid"));
                own.user_domain = email
                    .as_deref()
                    .and_then(|e| e.split_once('@'))
                    .map(|(_, d)| Cow::Owned(d.to_string()));
                own.user_email_addr = email;
                if subject.is_some() {
                    let login = subject.as_deref().unwrap_or("");
                    own.user_type_id = Some(
                        if client_credentials || self.site.is_service_account(login) {
                            4
                        } else {
                            1
                        },
                    );
                    own.user_name = subject;
                } else if client_credentials {
                    // The client is the one signing in.
                    own.user_uid = own.user_uid.take().or_else(|| text_of(line.connection));
                    own.user_name =
                        text_of(line.extra("connectionname")).or_else(|| text_of(line.connection));
                    own.user_type_id = Some(4);
                }
                own.src_endpoint_ip = ip;
                own.service_name = service;
                own.service_uid = text_of(line.connection);
                own.session_uid = text_of(tracking);
                own.auth_protocol = text_of(line.protocol);
                own.auth_protocol_id =
                    own.auth_protocol
                        .as_deref()
                        .map(|p| match p.to_ascii_uppercase().as_str() {
                            "SAML20" | "SAML11" | "SAML" => 5,
                            "OIDC" => 4,
                            "OAUTH20" | "OAUTH" => 6,
                            _ => 99,
                        });
                own.is_remote = Some(true);
                own.is_interactive = match kind {
                    _ if client_credentials => Some(false),
                    Kind::Attempt | Kind::Request | Kind::SessionUsed | Kind::Sso => Some(true),
                    _ => None,
                };
                own.is_mfa = Some(mfa && matches!(line.status, "success" | "failure"));
                if mfa {
                    let factor = Cow::Borrowed(line.adapter);
                    own.auth_factor_type_id = Some(adapter_factor_type(line.adapter));
                    own.auth_factor_provider = line
                        .adapter
                        .to_ascii_lowercase()
                        .contains("pingid")
                        .then_some(Cow::Borrowed("PINGID"));
                    own.auth_factors = vec![factor.clone()];
                    own.auth_factor = Some(factor);
                    if decision == Some("allow") {
                        own.zt_mfa_satisfied = Some(true);
                    }
                }
                super::tag_auth_app(own, &self.site);
                out.authentication.append(&mut row);
            }
        }
        Ok(1)
    }
}

/// Non-empty field text.
fn text_of(value: &str) -> Option<Cow<'_, str>> {
    (!value.is_empty()).then_some(Cow::Borrowed(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_comma_decimals_and_no_zone_are_utc() {
        assert_eq!(
            parse_time("2026-03-02 09:15:02,118"),
            Some(1_772_442_902_118)
        );
        assert_eq!(
            parse_time("2026-03-02T09:15:02.118"),
            Some(1_772_442_902_118)
        );
        assert_eq!(parse_time("2026-03-02 09:15:02"), Some(1_772_442_902_000));
        assert_eq!(parse_time("2026-03-02 09:15:02,5"), Some(1_772_442_902_500));
        assert_eq!(
            parse_time("2026-03-02 10:15:02,118+01:00"),
            Some(1_772_442_902_118)
        );
        assert_eq!(
            parse_time("2026-03-02 09:15:02,118Z"),
            Some(1_772_442_902_118)
        );
        assert_eq!(parse_time("2026-03-02 09:15:02,"), None);
        assert_eq!(parse_time("2026-13-02 09:15:02,118"), None);
        assert_eq!(parse_time("2026-03-02 09:15:02,118 junk"), None);
        assert_eq!(parse_time("2026-03-02"), None);
        assert_eq!(parse_time("2026-03-02 09:15:0é,118"), None);
    }

    #[test]
    fn layouts_are_found_by_value() {
        let classic = "2026-03-02 09:15:02,118| tid:a| AUTHN_ATTEMPT| alice| 198.51.100.23 | | \
                       c| | h| IdP| inprogress| HTMLFormPCV| | 15 ";
        let line = split_line(classic).unwrap();
        assert_eq!(
            (line.event, line.status, line.response_time),
            ("AUTHN_ATTEMPT", "inprogress", "15")
        );
        assert_eq!(line.transaction, None);
        let with_txid = "2026-03-02 09:15:02,118| tid:a| tx-1| SSO| alice| 198.51.100.23 | \
                         App| c| SAML20| h| IdP| success| F| | 27 ";
        let line = split_line(with_txid).unwrap();
        assert_eq!(
            (line.event, line.protocol, line.transaction),
            ("SSO", "SAML20", Some("tx-1"))
        );
        // An unknown event is placed by its role and status.
        let unknown = "2026-03-02 09:15:02,118| tid:a| STS_NEW| bob| 192.0.2.1 | | c| WSTrust| \
                       h| IdP| success| | | 3 ";
        assert_eq!(split_line(unknown).unwrap().event, "STS_NEW");
    }

    #[test]
    fn a_description_with_pipes_is_one_field() {
        let text = "2026-03-02 09:15:02,118| tid:a| AUTHN_ATTEMPT| alice| 198.51.100.23 | | c| | \
                    h| IdP| failure| HTMLFormPCV| bad | worse| 212 ";
        let line = split_line(text).unwrap();
        assert_eq!(line.description, "bad | worse");
        assert_eq!(line.response_time, "212");
    }

    #[test]
    fn short_lines_are_refused() {
        let text = "2026-03-02 09:15:02,118| tid:a| AUTHN_ATTEMPT| alice| 198.51.100.23 | | c| | \
                    h| IdP| failure";
        assert_eq!(
            split_line(text).err().map(|e| e.kind),
            Some(ErrorKind::FieldCount)
        );
    }

    #[test]
    fn mfa_adapters() {
        assert!(is_mfa_adapter("PingIDAdapter"));
        assert!(is_mfa_adapter("DuoMfa"));
        assert!(!is_mfa_adapter("HTMLFormPCV"));
        assert_eq!(adapter_factor_type("PingIDAdapter"), 5);
        assert_eq!(adapter_factor_type("FidoAdapter"), 10);
        assert_eq!(adapter_factor_type("TotpAdapter"), 7);
        assert_eq!(adapter_factor_type("CorpMFA"), 99);
    }

    #[test]
    fn decisions() {
        assert_eq!(
            decide(
                Kind::Attempt,
                "failure",
                true,
                "Authentication was denied by the user"
            ),
            Some("mfa_denied")
        );
        assert_eq!(
            decide(Kind::Attempt, "failure", true, "timeout"),
            Some("mfa_failed")
        );
        assert_eq!(
            decide(Kind::Attempt, "inprogress", true, ""),
            Some("challenge_mfa")
        );
        assert_eq!(decide(Kind::Attempt, "inprogress", false, ""), None);
        assert_eq!(
            decide(Kind::Attempt, "failure", false, ""),
            Some("deny_credentials")
        );
        assert_eq!(
            decide(Kind::Attempt, "failure", false, "Account locked"),
            Some("locked_out")
        );
        assert_eq!(
            decide(Kind::OAuth, "failure", false, "invalid_grant"),
            Some("deny_credentials")
        );
        assert_eq!(
            decide(
                Kind::Sso,
                "failure",
                false,
                "Denied by authorization policy"
            ),
            Some("deny_policy")
        );
        assert_eq!(decide(Kind::Sso, "failure", false, ""), Some("other"));
        assert_eq!(decide(Kind::Logoff, "success", false, ""), None);
    }
}
