//! OpenTelemetry logs (OTLP) as ztlens reads them: the part of `ExportLogsServiceRequest` that
//! carries records (opentelemetry-proto `collector/logs/v1`, `logs/v1`, `common/v1`,
//! `resource/v1`), decoded from protobuf (prost) or from OTLP/JSON, and turned into
//! [`Message`]s for the ingest pipeline.
//!
//! Each log record's body is one vendor record; its source is the string attribute
//! [`SOURCE_ATTRIBUTE`] of the record, else of its resource, else `auto`. Fields ztlens does not
//! read (scope, severity, trace ids, …) are skipped by both decoders, as the OTLP spec requires
//! of unknown fields. Nesting is bounded by prost's recursion limit and serde_json's.
//!
//! Imports nothing of the binary but the ingest crate; `api::otlp` owns the HTTP side.

use serde::Deserialize;
use ztlens_ingest::SourceFormat;
use ztlens_ingest::pipeline::{Message, Refusal};
use ztlens_ingest::record::ErrorKind;

/// The attribute that names a record's source (`okta`, `nginx`, … or `auto`).
pub const SOURCE_ATTRIBUTE: &str = "ztlens.source";

/// Most messages (records, attributes, values — every object) one request may hold. Decoded
/// structures take up to ~60 times the bytes of the smallest encodings (an empty record is two
/// bytes of protobuf), so the decoders are not trusted with the body size alone: the body is
/// counted first, and one over this is refused before anything is built. An OpenTelemetry
/// Collector's default batch (8,192 records) holds far fewer.
pub const MAX_ELEMENTS: usize = 500_000;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeLogs {
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(oneof = "Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<Value>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    #[prost(string, tag = "1")]
    String(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
    #[prost(message, tag = "5")]
    Array(ArrayValue),
    #[prost(message, tag = "6")]
    Kvlist(KeyValueList),
    #[prost(bytes, tag = "7")]
    Bytes(Vec<u8>),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportLogsPartialSuccess>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsPartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_log_records: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// Why a request body is not an OTLP logs request.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error(
        "the request holds more than {MAX_ELEMENTS} records, attributes and values; send smaller batches (the collector's batch processor: send_batch_max_size)"
    )]
    TooManyElements,
    #[error("the body is not an OTLP ExportLogsServiceRequest in protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("the body is not an OTLP ExportLogsServiceRequest in JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    InvalidValue(String),
}

impl ExportLogsServiceRequest {
    pub fn from_protobuf(body: &[u8]) -> Result<Self, OtlpError> {
        let mut budget = MAX_ELEMENTS;
        count_messages(body, Kind::Request, &mut budget, 0)?;
        Ok(<Self as prost::Message>::decode(body)?)
    }

    /// OTLP/JSON: lowerCamelCase keys, 64-bit integers as strings or numbers, bytes in base64;
    /// unknown keys ignored.
    pub fn from_json(body: &[u8]) -> Result<Self, OtlpError> {
        if count_json_objects(body) > MAX_ELEMENTS {
            return Err(OtlpError::TooManyElements);
        }
        let json: JsonRequest = serde_json::from_slice(body)?;
        json.into_request()
    }

    /// Every log record as a message: its body the payload, its source from the attributes,
    /// its origin `{origin}:{n}` (n counting records from 1 across the request). A record whose
    /// source attribute names no source is refused (a dead letter), not the request.
    pub fn into_messages(self, origin: &str) -> Vec<Message> {
        let mut messages = Vec::new();
        for resource_logs in self.resource_logs {
            let resource_source = resource_logs
                .resource
                .as_ref()
                .and_then(|r| source_attribute(&r.attributes));
            for scope in resource_logs.scope_logs {
                for record in scope.log_records {
                    let name = source_attribute(&record.attributes)
                        .or(resource_source)
                        .unwrap_or("auto");
                    let payload = record.body.map(payload_of).unwrap_or_default();
                    let (source, refusal) = match name.parse::<SourceFormat>() {
                        Ok(source) => (source, None),
                        Err(_) => (
                            SourceFormat::Auto,
                            Some(Refusal {
                                kind: ErrorKind::UnknownFormat,
                                reason: format!(
                                    "attribute {SOURCE_ATTRIBUTE} = {name:?} names no source (known: auto, {})",
                                    ztlens_ingest::Format::known_names()
                                ),
                                raw_len: payload.len(),
                            }),
                        ),
                    };
                    messages.push(Message {
                        source,
                        payload,
                        origin: format!("{origin}:{}", messages.len() + 1),
                        refusal,
                    });
                }
            }
        }
        messages
    }
}

/// The message types of a request, for counting them on the wire before decoding.
#[derive(Clone, Copy)]
enum Kind {
    Request,
    ResourceLogs,
    Resource,
    ScopeLogs,
    LogRecord,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

impl Kind {
    /// The message-typed fields ztlens decodes (the others are skipped, as prost skips them).
    fn child(self, tag: u64) -> Option<Kind> {
        use Kind::*;
        match (self, tag) {
            (Request, 1) => Some(ResourceLogs),
            (ResourceLogs, 1) => Some(Resource),
            (ResourceLogs, 2) => Some(ScopeLogs),
            (Resource, 1) | (LogRecord, 6) | (KeyValueList, 1) => Some(KeyValue),
            (ScopeLogs, 2) => Some(LogRecord),
            (LogRecord, 5) | (KeyValue, 2) | (ArrayValue, 1) => Some(AnyValue),
            (AnyValue, 5) => Some(ArrayValue),
            (AnyValue, 6) => Some(KeyValueList),
            _ => None,
        }
    }
}

/// Count the messages of a protobuf `body` of `kind` against `budget`, nested at most as deep
/// as prost decodes. Malformed wire data is left for prost to report.
fn count_messages(
    mut body: &[u8],
    kind: Kind,
    budget: &mut usize,
    depth: usize,
) -> Result<(), OtlpError> {
    fn varint(body: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = body.split_first()?;
            *body = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    if depth > 100 {
        return Ok(());
    }
    while !body.is_empty() {
        let Some(key) = varint(&mut body) else {
            return Ok(());
        };
        let skip = match key & 7 {
            0 => {
                if varint(&mut body).is_none() {
                    return Ok(());
                }
                0
            }
            1 => 8,
            5 => 4,
            2 => {
                let Some(len) = varint(&mut body).and_then(|l| usize::try_from(l).ok()) else {
                    return Ok(());
                };
                let Some(field) = body.get(..len) else {
                    return Ok(());
                };
                if let Some(child) = kind.child(key >> 3) {
                    *budget = budget.checked_sub(1).ok_or(OtlpError::TooManyElements)?;
                    count_messages(field, child, budget, depth + 1)?;
                }
                len
            }
            _ => return Ok(()),
        };
        let Some(rest) = body.get(skip..) else {
            return Ok(());
        };
        body = rest;
    }
    Ok(())
}

/// The JSON objects of a body (every OTLP/JSON message is one), strings skipped.
fn count_json_objects(body: &[u8]) -> usize {
    let mut objects = 0;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte == b'{' {
            objects += 1;
        }
    }
    objects
}

fn source_attribute(attributes: &[KeyValue]) -> Option<&str> {
    attributes
        .iter()
        .find(|kv| kv.key == SOURCE_ATTRIBUTE)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// The vendor record a body holds: a string or bytes as they are, a map or list as JSON (the
/// collector's parsers turn a JSON line into a map), a scalar as its text.
fn payload_of(body: AnyValue) -> Vec<u8> {
    match body.value {
        None => Vec::new(),
        Some(Value::String(s)) => s.into_bytes(),
        Some(Value::Bytes(b)) => b,
        Some(other) => match to_json(Some(other)) {
            serde_json::Value::String(s) => s.into_bytes(),
            json => json.to_string().into_bytes(),
        },
    }
}

fn to_json(value: Option<Value>) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        None => J::Null,
        Some(Value::String(s)) => J::String(s),
        Some(Value::Bool(b)) => J::Bool(b),
        Some(Value::Int(i)) => J::from(i),
        Some(Value::Double(d)) => serde_json::Number::from_f64(d).map_or(J::Null, J::Number),
        Some(Value::Bytes(b)) => J::String(String::from_utf8_lossy(&b).into_owned()),
        Some(Value::Array(a)) => J::Array(a.values.into_iter().map(|v| to_json(v.value)).collect()),
        Some(Value::Kvlist(kv)) => J::Object(
            kv.values
                .into_iter()
                .map(|kv| (kv.key, to_json(kv.value.and_then(|v| v.value))))
                .collect(),
        ),
    }
}

// OTLP/JSON: the same messages with the proto3 JSON mapping's names.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequest {
    #[serde(default)]
    resource_logs: Vec<JsonResourceLogs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonResourceLogs {
    resource: Option<JsonResource>,
    #[serde(default)]
    scope_logs: Vec<JsonScopeLogs>,
}

#[derive(Deserialize)]
struct JsonResource {
    #[serde(default)]
    attributes: Vec<JsonKeyValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonScopeLogs {
    #[serde(default)]
    log_records: Vec<JsonLogRecord>,
}

#[derive(Deserialize)]
struct JsonLogRecord {
    body: Option<JsonAnyValue>,
    #[serde(default)]
    attributes: Vec<JsonKeyValue>,
}

#[derive(Deserialize)]
struct JsonKeyValue {
    key: String,
    value: Option<JsonAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsonAnyValue {
    string_value: Option<String>,
    bool_value: Option<bool>,
    int_value: Option<JsonInt>,
    double_value: Option<f64>,
    array_value: Option<JsonArrayValue>,
    kvlist_value: Option<JsonKeyValueList>,
    bytes_value: Option<String>,
}

#[derive(Deserialize)]
struct JsonArrayValue {
    #[serde(default)]
    values: Vec<JsonAnyValue>,
}

#[derive(Deserialize)]
struct JsonKeyValueList {
    #[serde(default)]
    values: Vec<JsonKeyValue>,
}

/// A 64-bit integer as a decimal string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonInt {
    Number(i64),
    Text(String),
}

impl JsonRequest {
    fn into_request(self) -> Result<ExportLogsServiceRequest, OtlpError> {
        let resource_logs = self
            .resource_logs
            .into_iter()
            .map(|rl| {
                Ok(ResourceLogs {
                    resource: rl
                        .resource
                        .map(|r| {
                            Ok::<_, OtlpError>(Resource {
                                attributes: key_values(r.attributes)?,
                            })
                        })
                        .transpose()?,
                    scope_logs: rl
                        .scope_logs
                        .into_iter()
                        .map(|sl| {
                            Ok(ScopeLogs {
                                log_records: sl
                                    .log_records
                                    .into_iter()
                                    .map(|r| {
                                        Ok(LogRecord {
                                            body: r.body.map(any_value).transpose()?,
                                            attributes: key_values(r.attributes)?,
                                        })
                                    })
                                    .collect::<Result<_, OtlpError>>()?,
                            })
                        })
                        .collect::<Result<_, OtlpError>>()?,
                })
            })
            .collect::<Result<_, OtlpError>>()?;
        Ok(ExportLogsServiceRequest { resource_logs })
    }
}

fn key_values(json: Vec<JsonKeyValue>) -> Result<Vec<KeyValue>, OtlpError> {
    json.into_iter()
        .map(|kv| {
            Ok(KeyValue {
                key: kv.key,
                value: kv.value.map(any_value).transpose()?,
            })
        })
        .collect()
}

fn any_value(json: JsonAnyValue) -> Result<AnyValue, OtlpError> {
    use base64::Engine as _;
    let value = if let Some(s) = json.string_value {
        Some(Value::String(s))
    } else if let Some(b) = json.bool_value {
        Some(Value::Bool(b))
    } else if let Some(i) = json.int_value {
        Some(Value::Int(match i {
            JsonInt::Number(n) => n,
            JsonInt::Text(t) => t.parse().map_err(|_| {
                OtlpError::InvalidValue(format!("intValue {t:?} is not a 64-bit integer"))
            })?,
        }))
    } else if let Some(d) = json.double_value {
        Some(Value::Double(d))
    } else if let Some(a) = json.array_value {
        Some(Value::Array(ArrayValue {
            values: a
                .values
                .into_iter()
                .map(any_value)
                .collect::<Result<_, _>>()?,
        }))
    } else if let Some(kv) = json.kvlist_value {
        Some(Value::Kvlist(KeyValueList {
            values: key_values(kv.values)?,
        }))
    } else if let Some(b) = json.bytes_value {
        Some(Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| OtlpError::InvalidValue(format!("bytesValue is not base64: {e}")))?,
        ))
    } else {
        None
    };
    Ok(AnyValue { value })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn string(s: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(Value::String(s.into())),
        })
    }

    fn attribute(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: string(value),
        }
    }

    /// The same request in protobuf and in OTLP/JSON gives the same messages: sources from
    /// the record, else the resource, else auto; maps as JSON; origins numbered.
    #[test]
    fn protobuf_and_json_give_the_same_messages() {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![attribute(SOURCE_ATTRIBUTE, "okta")],
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![
                        LogRecord {
                            body: string("{\"uuid\":\"1\"}"),
                            attributes: vec![],
                        },
                        LogRecord {
                            body: Some(AnyValue {
                                value: Some(Value::Kvlist(KeyValueList {
                                    values: vec![
                                        attribute("a", "b"),
                                        KeyValue {
                                            key: "n".into(),
                                            value: Some(AnyValue {
                                                value: Some(Value::Int(9_007_199_254_740_993)),
                                            }),
                                        },
                                    ],
                                })),
                            }),
                            attributes: vec![attribute(SOURCE_ATTRIBUTE, "nginx")],
                        },
                    ],
                }],
            }],
        };
        let from_protobuf =
            ExportLogsServiceRequest::from_protobuf(&request.encode_to_vec()).unwrap();
        assert_eq!(from_protobuf, request);
        let json = r#"{"resourceLogs": [{"resource": {"attributes": [{"key": "ztlens.source", "value": {"stringValue": "okta"}}]},
            "scopeLogs": [{"scope": {"name": "x"}, "logRecords": [
              {"timeUnixNano": "1", "severityNumber": 9, "body": {"stringValue": "{\"uuid\":\"1\"}"}},
              {"body": {"kvlistValue": {"values": [{"key": "a", "value": {"stringValue": "b"}}, {"key": "n", "value": {"intValue": "9007199254740993"}}]}},
               "attributes": [{"key": "ztlens.source", "value": {"stringValue": "nginx"}}], "traceId": "5B8EFFF798038103D269B633813FC60C"}]}]}]}"#;
        let from_json = ExportLogsServiceRequest::from_json(json.as_bytes()).unwrap();
        assert_eq!(from_json, request);
        let messages = from_json.into_messages("otlp:r1");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].payload, b"{\"uuid\":\"1\"}");
        assert_eq!(messages[0].origin, "otlp:r1:1");
        assert_eq!(messages[0].source, "okta".parse().unwrap());
        assert_eq!(messages[1].payload, br#"{"a":"b","n":9007199254740993}"#);
        assert_eq!(messages[1].source, "nginx".parse().unwrap());
    }

    /// Regression: a gzip body of 32 M empty records (64 KiB on the wire) was decoded into
    /// gigabytes. Counted first, it is refused before anything is built.
    #[test]
    fn requests_of_too_many_elements_are_refused_before_decoding() {
        let scope: Vec<u8> = [0x12, 0x00].repeat(MAX_ELEMENTS + 1);
        let mut resource_logs = vec![0x12];
        prost::encoding::encode_varint(scope.len() as u64, &mut resource_logs);
        resource_logs.extend_from_slice(&scope);
        let mut request = vec![0x0a];
        prost::encoding::encode_varint(resource_logs.len() as u64, &mut request);
        request.extend_from_slice(&resource_logs);
        assert!(matches!(
            ExportLogsServiceRequest::from_protobuf(&request),
            Err(OtlpError::TooManyElements)
        ));
        let json = format!(
            r#"{{"resourceLogs": [{{"scopeLogs": [{{"logRecords": [{}]}}]}}]}}"#,
            vec!["{}"; MAX_ELEMENTS].join(",")
        );
        assert!(matches!(
            ExportLogsServiceRequest::from_json(json.as_bytes()),
            Err(OtlpError::TooManyElements)
        ));
        // Braces inside strings are text.
        assert_eq!(count_json_objects(br#"{"a": "{{{\"{"}"#), 1);
        // Within the budget, the same shapes decode.
        let small = [0x12, 0x00].repeat(10);
        let mut request = vec![0x0a, (small.len() + 2) as u8, 0x12, small.len() as u8];
        request.extend_from_slice(&small);
        let decoded = ExportLogsServiceRequest::from_protobuf(&request).unwrap();
        assert_eq!(decoded.resource_logs[0].scope_logs[0].log_records.len(), 10);
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        for body in [
            r#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"intValue": "x"}}]}]}]}"#,
            r#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"bytesValue": "***"}}]}]}]}"#,
            r#"{"resourceLogs": "no"}"#,
        ] {
            assert!(
                ExportLogsServiceRequest::from_json(body.as_bytes()).is_err(),
                "{body}"
            );
        }
        let unknown = r#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}, "attributes": [{"key": "ztlens.source", "value": {"stringValue": "nope"}}]}]}]}]}"#;
        let request = ExportLogsServiceRequest::from_json(unknown.as_bytes()).unwrap();
        let messages = request.into_messages("o");
        let refusal = messages[0].refusal.as_ref().expect("refused, not dropped");
        assert!(refusal.reason.contains("\"nope\""), "{}", refusal.reason);
        assert!(ExportLogsServiceRequest::from_protobuf(&[0x0a, 0xff, 0xff]).is_err());
        // Deep nesting stops at the decoders' recursion limits.
        let deep = format!(
            r#"{{"resourceLogs": [{{"scopeLogs": [{{"logRecords": [{{"body": {}{}}}]}}]}}]}}"#,
            r#"{"arrayValue": {"values": ["#.repeat(200) + r#"{"stringValue": "x"}"#,
            "]}}".repeat(200)
        );
        assert!(ExportLogsServiceRequest::from_json(deep.as_bytes()).is_err());
    }
}
