//! nginx / Apache access logs → `http_activity`.
//!
//! Accepted line shapes (NCSA):
//! - common:   `host ident user [time] "request" status bytes`
//! - combined: common + ` "referer" "user-agent"`
//! - combined with extra quoted fields (nginx `"$http_x_forwarded_for"` is the usual one): the
//!   first extra field is read as X-Forwarded-For, the rest go to `unmapped`
//! - vhost_combined (Apache): `vhost:port` before the host.
//!
//! Quoted fields may escape quotes as `\"` (Apache) or `\x22` (nginx). A request line that is not
//! `METHOD TARGET VERSION` (scanners send TLS handshakes to plain-HTTP ports) still yields a row:
//! the method is empty and the raw request goes to `unmapped`.
//!
//! Site tags: `zt_app_id` / `zt_app_sensitivity` from `[[site.apps]]` (host first, then path
//! prefix), `zt_privileged_target` from `site.privileged_path_prefixes`.
//! Records carry no event id: `metadata_uid` is a hash of the line.

use std::borrow::Cow;
use std::sync::Arc;

use super::{Format, Parser, Sniff, VendorSpec, content_uid, json_object};
use crate::record::{ErrorKind, Framing, ParseError};
use crate::schema::{HttpActivityRow, TableBuilders};
use crate::site::Site;

/// nginx / Apache access logs in combined or common format.
pub static SPEC: VendorSpec = VendorSpec {
    name: "nginx",
    aliases: &["apache", "combined", "common", "nginx_apache"],
    framing: Framing::Lines,
    envelope_keys: &[],
    stateful: false,
    sniff: Sniff::Line(looks_like_access_log),
    parser: |site| Box::new(NginxParser::new(site)),
};

/// The nginx format, as the registry lists it.
pub const FORMAT: Format = Format::new(&SPEC);

pub struct NginxParser {
    site: Arc<Site>,
}

impl NginxParser {
    pub fn new(site: Arc<Site>) -> Self {
        Self { site }
    }
}

impl Parser for NginxParser {
    fn parse(
        &mut self,
        record: &[u8],
        raw_ref: &str,
        out: &mut TableBuilders,
    ) -> Result<usize, ParseError> {
        let line = super::as_utf8(record)?.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Ok(0);
        }
        let mut row = map_line(line, &self.site, raw_ref)?;
        out.http_activity.append(&mut row);
        Ok(1)
    }
}

/// A cursor over one log line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches(' ');
    }

    fn token(&mut self) -> Option<&'a str> {
        self.skip_spaces();
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.find(' ').unwrap_or(self.rest.len());
        let (tok, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(tok)
    }

    /// `[...]`
    fn bracketed(&mut self) -> Option<&'a str> {
        self.skip_spaces();
        let inner = self.rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        self.rest = &inner[end + 1..];
        Some(&inner[..end])
    }

    /// `"..."` with `\"` escapes; returns the raw inner text.
    fn quoted(&mut self) -> Option<&'a str> {
        self.skip_spaces();
        let inner = self.rest.strip_prefix('"')?;
        let bytes = inner.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.rest = &inner[i + 1..];
                    return Some(&inner[..i]);
                }
                _ => i += 1,
            }
        }
        None
    }

    fn at_end(&self) -> bool {
        self.rest.trim().is_empty()
    }
}

/// Undo `\"`, `\\` and `\xHH` escapes when present.
fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) if b.is_ascii() => out.push(b as char),
                    _ => {
                        out.push_str("\\x");
                        out.push_str(&hex);
                    }
                }
            }
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `10/Oct/2000:13:55:36 -0700` → epoch milliseconds (UTC).
pub fn parse_clf_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 26
        || b[2] != b'/'
        || b[6] != b'/'
        || b[11] != b':'
        || b[14] != b':'
        || b[17] != b':'
        || b[20] != b' '
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let s = text.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let day = num(0..2)?;
    let month = MONTHS.iter().position(|m| *m == &text[3..6])? as u32 + 1;
    let year = num(7..11)? as i32;
    let (hour, minute, second) = (num(12..14)?, num(15..17)?, num(18..20)?);
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset_minutes = (num(22..24)? * 60 + num(24..26)?) as i64 * sign;
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    let datetime = date.and_hms_opt(hour, minute, second)?;
    Some(datetime.and_utc().timestamp_millis() - offset_minutes * 60_000)
}

/// Whether a line looks like a combined/common access log line: a client address (optionally
/// after a vhost), ident, user, then `[time]` and a quoted request.
pub fn looks_like_access_log(line: &str) -> bool {
    let Some(open) = line.find(" [") else {
        return false;
    };
    let Some(close) = line[open..].find("] \"") else {
        return false;
    };
    let prefix: Vec<&str> = line[..open].split(' ').filter(|t| !t.is_empty()).collect();
    matches!(prefix.len(), 3 | 4) && parse_clf_time(&line[open + 2..open + close]).is_some()
}

fn bad(detail: &str) -> ParseError {
    ParseError::new(ErrorKind::InvalidField, detail.to_string())
}

fn map_line<'a>(
    line: &'a str,
    site: &Site,
    raw_ref: &'a str,
) -> Result<HttpActivityRow<'a>, ParseError> {
    let mut cur = Cursor { rest: line };
    let first = cur.token().ok_or_else(|| bad("empty line"))?;
    // vhost_combined puts `vhost:port` before the client address; detect it by the bracket
    // arriving one token late.
    let lookahead: Vec<&str> = line.split(' ').filter(|t| !t.is_empty()).take(5).collect();
    let (vhost, host) = if lookahead.len() == 5
        && lookahead[4].starts_with('[')
        && !lookahead[3].starts_with('[')
    {
        (
            Some(first),
            cur.token().ok_or_else(|| bad("missing client address"))?,
        )
    } else {
        (None, first)
    };
    let _ident = cur
        .token()
        .ok_or_else(|| ParseError::new(ErrorKind::FieldCount, "missing ident field"))?;
    let user = cur
        .token()
        .ok_or_else(|| ParseError::new(ErrorKind::FieldCount, "missing user field"))?;
    let time_text = cur
        .bracketed()
        .ok_or_else(|| ParseError::new(ErrorKind::FieldCount, "missing [time] field"))?;
    let time = parse_clf_time(time_text).ok_or_else(|| {
        bad(&format!(
            "time {time_text:?} is not dd/Mon/yyyy:HH:MM:SS ±zzzz"
        ))
    })?;
    let request = cur
        .quoted()
        .ok_or_else(|| ParseError::new(ErrorKind::FieldCount, "missing quoted request field"))?;
    let status_text = cur
        .token()
        .ok_or_else(|| ParseError::new(ErrorKind::FieldCount, "missing status field"))?;
    let status: i32 = status_text
        .parse()
        .ok()
        .filter(|s| (100..=999).contains(s))
        .ok_or_else(|| bad(&format!("status {status_text:?} is not an HTTP status")))?;
    let bytes_text = cur
        .token()
        .ok_or_else(|| ParseError::new(ErrorKind::FieldCount, "missing bytes field"))?;
    let bytes: Option<i64> = if bytes_text == "-" {
        None
    } else {
        Some(
            bytes_text
                .parse()
                .map_err(|_| bad(&format!("bytes {bytes_text:?} is not a number")))?,
        )
    };
    let referrer = if cur.at_end() {
        None
    } else {
        Some(cur.quoted().ok_or_else(|| bad("referer is not quoted"))?)
    };
    let user_agent = if cur.at_end() {
        None
    } else {
        Some(
            cur.quoted()
                .ok_or_else(|| bad("user agent is not quoted"))?,
        )
    };
    let mut extra: Vec<&str> = Vec::new();
    while !cur.at_end() {
        extra.push(
            cur.quoted()
                .ok_or_else(|| bad("trailing field is not quoted"))?,
        );
    }

    let mut row = HttpActivityRow::default();
    let h = &mut row.own;
    h.src_endpoint_ip = super::non_empty(host);
    h.user_name = super::non_empty(user);
    h.http_response_code = Some(status);
    h.http_response_length = bytes;
    h.http_request_referrer = referrer.and_then(super::non_empty).map(|r| unescape_cow(r));
    h.http_request_user_agent = user_agent
        .and_then(super::non_empty)
        .map(|u| unescape_cow(u));
    h.http_request_x_forwarded_for = extra.first().and_then(|x| super::non_empty(x));
    if let Some(vhost) = vhost {
        let (name, port) = vhost.rsplit_once(':').unwrap_or((vhost, ""));
        h.http_request_url_hostname = super::non_empty(name);
        h.dst_endpoint_port = port.parse().ok().and_then(super::port_number);
    }

    let mut unmapped: Vec<(&str, String)> = Vec::new();
    let request_text = unescape(request);
    let mut parts = request_text.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let well_formed = matches!((method, target, version, parts.next()),
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) && v.starts_with("HTTP/") && !t.is_empty());
    let (activity_id, activity_name) = if well_formed {
        let (m, t, v) = (
            method.unwrap_or(""),
            target.unwrap_or(""),
            version.unwrap_or(""),
        );
        let (path, query) = match t.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (t, None),
        };
        h.http_request_http_method = Some(Cow::Owned(m.to_string()));
        h.http_request_url_path = Some(Cow::Owned(path.to_string()));
        h.http_request_url_query_string = query
            .filter(|q| !q.is_empty())
            .map(|q| Cow::Owned(q.to_string()));
        h.http_request_version = Some(Cow::Owned(v.to_string()));
        super::http_method_activity(m)
    } else {
        if !request.is_empty() && request != "-" {
            unmapped.push(("request", request.to_string()));
        }
        (99, "Other")
    };
    for (i, value) in extra.iter().enumerate().skip(1) {
        unmapped.push((
            EXTRA_NAMES.get(i).copied().unwrap_or("extra"),
            value.to_string(),
        ));
    }

    // Site tags.
    super::tag_http(h, site);
    let (action_id, disposition_id) = match status {
        401 => (2, 26),
        403 => (2, 2),
        _ => (1, 1),
    };
    h.action_id = Some(action_id);
    h.disposition_id = Some(disposition_id);

    let c = &mut row.common;
    c.time = Some(time);
    c.activity_id = Some(activity_id);
    c.activity_name = Some(Cow::Borrowed(activity_name));
    c.status_id = Some(if status >= 400 { 2 } else { 1 });
    c.status_code = Some(Cow::Owned(status.to_string()));
    c.severity_id = Some(1);
    c.metadata_uid = Some(Cow::Owned(content_uid("http", line.as_bytes())));
    c.metadata_product_name = Some(Cow::Borrowed("nginx"));
    c.metadata_log_name = Some(Cow::Borrowed(if user_agent.is_some() {
        "combined"
    } else {
        "common"
    }));
    c.raw_ref = Some(Cow::Borrowed(raw_ref));
    if !unmapped.is_empty() {
        let pairs: Vec<(&str, String)> = unmapped
            .iter()
            .map(|(k, v)| (*k, serde_json::to_string(v).unwrap_or_default()))
            .collect();
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        c.unmapped = json_object(&borrowed).map(Cow::Owned);
    }
    Ok(row)
}

/// Names for extra quoted fields after the user agent (position 0 is X-Forwarded-For).
const EXTRA_NAMES: [&str; 4] = ["x_forwarded_for", "extra_1", "extra_2", "extra_3"];

fn unescape_cow(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(b) => unescape(b),
        Cow::Owned(o) => Cow::Owned(unescape(&o).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_time() {
        assert_eq!(
            parse_clf_time("10/Oct/2000:13:55:36 -0700"),
            Some(971_211_336_000)
        );
        assert_eq!(
            parse_clf_time("22/Jan/2019:03:56:14 +0330"),
            Some(1_548_116_774_000)
        );
        assert_eq!(parse_clf_time("32/Oct/2000:13:55:36 -0700"), None);
        assert_eq!(parse_clf_time("10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(parse_clf_time("garbage"), None);
    }

    #[test]
    fn unescapes_both_styles() {
        assert_eq!(unescape(r#"a\"b"#), "a\"b");
        assert_eq!(unescape(r"a\x22b"), "a\"b");
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape(r"\x16\x03"), "\u{16}\u{3}");
    }
}
