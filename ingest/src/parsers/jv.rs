//! Reading vendor JSON through [`serde_json::Value`], for the parsers whose volume does not
//! justify a hand-written borrowed deserializer (Okta has one).
//!
//! Vendor exports drift in type and key case: numbers arrive as strings, booleans as `"True"`,
//! and some pipelines lower-case every key (`calleripaddress`). Every accessor here tolerates
//! that: keys match exactly first, then ASCII-case-insensitively; numbers and booleans are read
//! from strings too. Strings are borrowed from the parsed value, so rows can point into it.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::parse_timestamp_ms;
use crate::record::{ErrorKind, ParseError};

/// Parse one record as a JSON object; `what` names the format in the error.
pub(crate) fn parse_object(record: &[u8], what: &str) -> Result<Value, ParseError> {
    let value: Value = serde_json::from_slice(record).map_err(|e| {
        let kind = if e.is_eof() {
            ErrorKind::Truncated
        } else if e.is_data() || e.is_syntax() {
            ErrorKind::InvalidJson
        } else {
            ErrorKind::InvalidUtf8
        };
        ParseError::new(kind, format!("not {what} JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(ParseError::new(
            ErrorKind::InvalidJson,
            format!("not {what} JSON: expected an object"),
        ));
    }
    Ok(value)
}

/// Member `key` of an object: exact match, else the first ASCII-case-insensitive match.
pub(crate) fn get<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let map = value.as_object()?;
    map.get(key)
        .or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// Follow a path of keys.
pub(crate) fn at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| get(v, key))
}

/// Non-empty text at `path`: strings as they are, numbers and booleans as their JSON text.
pub(crate) fn str_at<'v>(value: &'v Value, path: &[&str]) -> Option<Cow<'v, str>> {
    as_text(at(value, path)?)
}

/// Non-empty text of a value (strings borrowed; numbers and booleans as text).
pub(crate) fn as_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// The first non-empty text among several paths.
pub(crate) fn first_str<'v>(value: &'v Value, paths: &[&[&str]]) -> Option<Cow<'v, str>> {
    paths.iter().find_map(|p| str_at(value, p))
}

/// An integer at `path`, from a number or a numeric string.
pub(crate) fn i64_at(value: &Value, path: &[&str]) -> Option<i64> {
    as_i64(at(value, path)?)
}

pub(crate) fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A float at `path`, from a number or a numeric string.
pub(crate) fn f64_at(value: &Value, path: &[&str]) -> Option<f64> {
    match at(value, path)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// A boolean at `path`: `true`/`false`, `"True"`/`"false"`, `"yes"`/`"no"`, `1`/`0`.
pub(crate) fn bool_at(value: &Value, path: &[&str]) -> Option<bool> {
    match at(value, path)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|v| v != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "t" => Some(true),
            "false" | "no" | "0" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A timestamp at `path`: RFC 3339 (any fraction length, with or without zone) or the
/// `YYYY-MM-DD HH:MM:SS` variant, as epoch milliseconds.
pub(crate) fn time_at(value: &Value, path: &[&str]) -> Option<i64> {
    parse_timestamp_ms(str_at(value, path)?.as_ref())
}

/// The array at `path` (empty when absent or not an array).
pub(crate) fn array_at<'v>(value: &'v Value, path: &[&str]) -> &'v [Value] {
    at(value, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Largest epoch offset accepted for an event time, in seconds: about ±7,900 years, well inside
/// what chrono and Arrow can print as a date. A time beyond it is a corrupt record, not a time.
pub(crate) const MAX_EPOCH_SECONDS: f64 = 2.5e11;

/// Epoch seconds (possibly fractional) → milliseconds, refusing values beyond
/// [`MAX_EPOCH_SECONDS`].
pub(crate) fn epoch_seconds_to_ms(seconds: f64) -> Option<i64> {
    (seconds.is_finite() && seconds.abs() < MAX_EPOCH_SECONDS)
        .then(|| (seconds * 1000.0).round() as i64)
}

/// A JSON object with the members of `object` whose keys are not in `known` (compared
/// case-insensitively), or `None` when nothing is left. Keeps what the schema does not hold.
pub(crate) fn unmapped(object: &Value, known: &[&str]) -> Option<String> {
    let map = object.as_object()?;
    let rest: Map<String, Value> = map
        .iter()
        .filter(|(k, v)| !v.is_null() && !known.iter().any(|n| n.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!rest.is_empty()).then(|| Value::Object(rest).to_string())
}

/// Whether a JSON key or header name names a credential or a request body: its value is never
/// stored (`Authorization: Bearer …`, `cookie`, `x-api-key`, `password`, `client_secret`, a
/// token, a posted body that may hold any of them).
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let key = key.trim_start_matches(':');
    const EXACT: &[&str] = &[
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "body",
        "raw_body",
        "parsed_body",
        "nd_builtin_cache",
    ];
    const PARTS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "api-key",
        "api_key",
        "apikey",
        "private_key",
        "private-key",
        "credential",
    ];
    EXACT.contains(&key) || PARTS.iter().any(|p| key.contains(p))
}

/// Remove every member whose key [`is_secret_key`], and every `{"key": …, "value": …}` or
/// `{"name": …, "value": …}` header entry whose name is one, at any depth (bounded by the
/// parser's own nesting limit, as the value was parsed from a record).
pub(crate) fn scrub_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !is_secret_key(k));
            for v in map.values_mut() {
                scrub_secrets(v);
            }
        }
        Value::Array(items) => {
            items.retain(|item| {
                let name = item
                    .get("key")
                    .or_else(|| item.get("name"))
                    .and_then(Value::as_str);
                !(item.get("value").is_some() && name.is_some_and(is_secret_key))
            });
            for v in items.iter_mut() {
                scrub_secrets(v);
            }
        }
        _ => {}
    }
}

/// The members of `object` whose keys are not in `known` (case-insensitively), leaving out the
/// null, empty-object and empty-array members exporters write by the dozen; `None` when nothing
/// is left.
pub(crate) fn rest_of(object: &Value, known: &[&str]) -> Option<Value> {
    let map: Map<String, Value> = object
        .as_object()?
        .iter()
        .filter(|(k, v)| !known.iter().any(|n| n.eq_ignore_ascii_case(k)) && !is_blank(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!map.is_empty()).then_some(Value::Object(map))
}

/// Null, an empty object or an empty array: says nothing.
pub(crate) fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// A missing-field error.
pub(crate) fn missing(what: &str) -> ParseError {
    ParseError::new(ErrorKind::MissingField, format!("{what} is missing"))
}

/// An invalid-field error quoting the value.
pub(crate) fn invalid(field: &str, value: &str) -> ParseError {
    let shown: String = value.chars().take(80).collect();
    ParseError::new(
        ErrorKind::InvalidField,
        format!("{field} {shown:?} is not valid"),
    )
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn credentials_are_scrubbed_at_any_depth() {
        let mut v: Value = serde_json::from_str(
            r#"{"a": {"Authorization": "Bearer x", "x-api-key": "k", "host": "h",
                "parsed_body": {"password": "p"}, "client_secret": "s"},
               "headers": [{"key": "Cookie", "value": "c"}, {"key": "accept", "value": "*/*"}],
               "token_count": 3, "user": "alice"}"#,
        )
        .unwrap();
        scrub_secrets(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": {"host": "h"},
                "headers": [{"key": "accept", "value": "*/*"}], "user": "alice"})
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_match_case_insensitively_and_types_are_loose() {
        let v = json!({"properties": {"ipAddress": "10.0.0.1", "errorcode": "50126",
            "isCompliant": "True", "lat": "48.5", "empty": "", "nil": null}});
        assert_eq!(
            str_at(&v, &["Properties", "IPADDRESS"]).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(i64_at(&v, &["properties", "errorCode"]), Some(50126));
        assert_eq!(bool_at(&v, &["properties", "isCompliant"]), Some(true));
        assert_eq!(f64_at(&v, &["properties", "lat"]), Some(48.5));
        assert_eq!(str_at(&v, &["properties", "empty"]), None);
        assert_eq!(at(&v, &["properties", "nil"]), None);
    }

    #[test]
    fn unmapped_keeps_the_rest() {
        let v = json!({"a": 1, "B": 2, "c": null});
        assert_eq!(unmapped(&v, &["b"]).as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(unmapped(&v, &["a", "b"]), None);
    }

    #[test]
    fn epoch_bounds() {
        assert_eq!(epoch_seconds_to_ms(1.5), Some(1500));
        assert_eq!(epoch_seconds_to_ms(f64::NAN), None);
        assert_eq!(epoch_seconds_to_ms(1e300), None);
    }
}
