//! Scalar functions ztlens adds to every session: `ip_in_cidr(ip, networks)`,
//! `uid_key(metadata_uid)` and `round_significant(value, digits)`.
//!
//! `ip_in_cidr(ip, networks)`: whether the address `ip` is in one of the comma-separated
//! networks (`'10.0.0.0/8, 2001:db8::/32'`, a bare address is a /32 or /128). Null when `ip` is
//! null or not an address, so a policy can tell "outside the networks" from "we do not know";
//! an invalid network is an error, never a silent false. The networks are parsed once per
//! batch when they are a literal (the what-if compiler writes them so).
//!
//! `uid_key(id)`: a 126-bit number for an event id (xxh3-128 of its bytes, top 126 bits, as
//! `DECIMAL(38, 0)`), null for null. A query that groups millions of events by id groups by
//! this fixed-width key instead of the string: `telemetry_health` held ~800 MiB of id strings,
//! their offsets and its hash table on a 10 M-event day. Two different ids share a key with
//! probability about n²/2¹²⁷ — 10⁻²² for a month of 200 M events; compaction already
//! de-duplicates an hour's rows by the 128-bit hash of their id (ztlens-ingest's
//! `lake::maintenance`).
//!
//! `round_significant(value, digits)`: an integer rounded to `digits` significant digits
//! (1–18; half away from zero), null for null: `round_significant(13049448, 3)` = 13,000,000.
//! A distribution kept as (value, count) rows stays small when its values are rounded so:
//! `telemetry_health` stores each hour's lags so, at most 0.5 % off, ≤ 900 values per decade.
//!
//! Imports: `error` only (and the site's CIDR type from ztlens-ingest).

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use ztlens_ingest::site::Cidr;

/// Most networks one call may name: a policy's allow-list, not a routing table.
pub const MAX_NETWORKS: usize = 1024;

/// Register the functions on a session.
pub fn install(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(IpInCidr::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(UidKey::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(RoundSignificant::new()));
}

/// Parse a comma-separated list of networks.
pub fn parse_networks(text: &str) -> std::result::Result<Vec<Cidr>, String> {
    let networks: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if networks.is_empty() {
        return Err("no network given".into());
    }
    if networks.len() > MAX_NETWORKS {
        return Err(format!("more than {MAX_NETWORKS} networks"));
    }
    networks
        .into_iter()
        .map(|n| {
            n.parse::<Cidr>()
                .map_err(|_| format!("{n:?} is not a network (10.0.0.0/8, 2001:db8::/32)"))
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IpInCidr {
    signature: Signature,
}

impl IpInCidr {
    fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::String(2),
                    TypeSignature::Exact(vec![DataType::Null, DataType::Utf8]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

fn as_strings(value: &ArrayRef) -> Result<ArrayRef> {
    Ok(cast(value, &DataType::Utf8)?)
}

impl ScalarUDFImpl for IpInCidr {
    fn name(&self) -> &str {
        "ip_in_cidr"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ip, networks] = args.args.as_slice() else {
            return exec_err!("ip_in_cidr takes two arguments: an address and networks");
        };
        let rows = args.number_rows;
        let parse = |text: &str| match parse_networks(text) {
            Ok(n) => Ok(n),
            Err(e) => exec_err!("ip_in_cidr: {e}"),
        };
        // The networks: one list for the batch when they are a literal.
        let literal = match networks {
            ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Utf8)? {
                ScalarValue::Utf8(Some(text)) => Some(Some(parse(&text)?)),
                _ => Some(None),
            },
            ColumnarValue::Array(_) => None,
        };
        let networks = networks.to_array(rows)?;
        let networks = as_strings(&networks)?;
        let networks = networks
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8");
        let ips = as_strings(&ip.to_array(rows)?)?;
        let ips = ips
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8");
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let address = (!ips.is_null(row))
                .then(|| ips.value(row).trim().parse::<IpAddr>().ok())
                .flatten();
            let Some(address) = address else {
                out.push(None);
                continue;
            };
            let verdict = match &literal {
                Some(Some(list)) => Some(list.iter().any(|c| c.contains(address))),
                Some(None) => None,
                None if networks.is_null(row) => None,
                None => Some(
                    parse(networks.value(row))?
                        .iter()
                        .any(|c| c.contains(address)),
                ),
            };
            out.push(verdict);
        }
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(out))))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct UidKey {
    signature: Signature,
}

impl UidKey {
    fn new() -> Self {
        Self {
            signature: Signature::string(1, Volatility::Immutable),
        }
    }
}

/// The key of one id: below 2¹²⁶, so it fits `DECIMAL(38, 0)` (10³⁸ > 2¹²⁶).
fn uid_key(id: &str) -> i128 {
    (xxhash_rust::xxh3::xxh3_128(id.as_bytes()) >> 2) as i128
}

impl ScalarUDFImpl for UidKey {
    fn name(&self) -> &str {
        "uid_key"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(38, 0))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ids] = args.args.as_slice() else {
            return exec_err!("uid_key takes one argument: an event id");
        };
        let ids = ids.to_array(args.number_rows)?;
        let keys: Decimal128Array = match ids.data_type() {
            DataType::Utf8View => ids
                .as_string_view()
                .iter()
                .map(|id| id.map(uid_key))
                .collect(),
            DataType::Utf8 => ids
                .as_string::<i32>()
                .iter()
                .map(|id| id.map(uid_key))
                .collect(),
            DataType::LargeUtf8 => ids
                .as_string::<i64>()
                .iter()
                .map(|id| id.map(uid_key))
                .collect(),
            DataType::Null => Decimal128Array::new_null(ids.len()),
            other => return exec_err!("uid_key takes a string, not {other}"),
        };
        Ok(ColumnarValue::Array(Arc::new(
            keys.with_precision_and_scale(38, 0)?,
        )))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundSignificant {
    signature: Signature,
}

impl RoundSignificant {
    fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }
}

/// `value` rounded to `digits` significant digits, half away from zero. When rounding up
/// would leave the `i64` range (only near ±9.2·10¹⁸), the value is rounded toward zero instead.
fn round_significant(value: i64, digits: u32) -> i64 {
    let magnitude = value.unsigned_abs();
    let width = magnitude.checked_ilog10().map_or(1, |l| l + 1);
    if width <= digits {
        return value;
    }
    let step = 10u64.pow(width - digits);
    let down = magnitude - magnitude % step;
    let rounded = if magnitude % step >= step / 2 {
        down.checked_add(step).unwrap_or(down)
    } else {
        down
    };
    let rounded = i64::try_from(rounded).unwrap_or_else(|_| {
        // Rounded up past i64::MAX: keep the value rounded down, which fits.
        i64::try_from(down).unwrap_or(i64::MAX)
    });
    if value < 0 {
        // |i64::MIN| rounds to a magnitude that fits.
        -rounded
    } else {
        rounded
    }
}

impl ScalarUDFImpl for RoundSignificant {
    fn name(&self) -> &str {
        "round_significant"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [values, digits] = args.args.as_slice() else {
            return exec_err!("round_significant takes two arguments: a value and its digits");
        };
        let digits = match digits {
            ColumnarValue::Scalar(ScalarValue::Int64(Some(d))) if (1..=18).contains(d) => *d as u32,
            _ => return exec_err!("round_significant's digits must be a literal from 1 to 18"),
        };
        let values = values.to_array(args.number_rows)?;
        let rounded: datafusion::arrow::array::Int64Array = values
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .iter()
            .map(|v| v.map(|v| round_significant(v, digits)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(rounded)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn eval(sql: &str) -> Result<Vec<Option<bool>>> {
        let ctx = SessionContext::new();
        install(&ctx);
        let batches = ctx.sql(sql).await?.collect().await?;
        let mut out = Vec::new();
        for b in batches {
            let col = b.column(0).as_any().downcast_ref::<BooleanArray>().unwrap();
            for i in 0..col.len() {
                out.push((!col.is_null(i)).then(|| col.value(i)));
            }
        }
        Ok(out)
    }

    #[tokio::test]
    async fn matches_v4_and_v6_and_tells_unknown_apart() {
        let got = eval(
            "SELECT ip_in_cidr(ip, '10.0.0.0/8, 2001:db8::/32, 192.0.2.7') FROM (VALUES \
             ('10.1.2.3'), ('11.0.0.1'), ('2001:db8::1'), ('192.0.2.7'), ('nonsense'), (NULL)) AS t(ip)",
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            vec![Some(true), Some(false), Some(true), Some(true), None, None]
        );
    }

    #[tokio::test]
    async fn networks_from_a_column_and_bad_networks_fail() {
        let got = eval(
            "SELECT ip_in_cidr(ip, n) FROM (VALUES ('10.1.2.3', '10.1.0.0/16'), ('10.1.2.3', '10.2.0.0/16')) AS t(ip, n)",
        )
        .await
        .unwrap();
        assert_eq!(got, vec![Some(true), Some(false)]);
        let err = eval("SELECT ip_in_cidr('10.0.0.1', '10.0.0.0/33')")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is not a network"), "{err}");
    }

    #[test]
    fn round_significant_keeps_the_leading_digits() {
        for (value, digits, expected) in [
            (13_049_448, 3, 13_000_000),
            (13_050_000, 3, 13_100_000),
            (-13_050_000, 3, -13_100_000),
            (999, 3, 999),
            (9_995, 3, 10_000),
            (0, 3, 0),
            (-7, 1, -7),
            (149, 1, 100),
            (150, 1, 200),
            (i64::MAX, 3, 9_220_000_000_000_000_000),
            (i64::MAX, 5, 9_223_300_000_000_000_000),
            (i64::MIN, 5, -9_223_300_000_000_000_000),
            (i64::MIN, 18, -9_223_372_036_854_775_800),
            (i64::MAX, 18, 9_223_372_036_854_775_800),
        ] {
            assert_eq!(
                round_significant(value, digits),
                expected,
                "{value} to {digits}"
            );
        }
        // Every value within half a step of the last kept digit.
        for value in (-100_000i64..100_000).step_by(37) {
            let rounded = round_significant(value, 3);
            let step = 10i64.pow(
                value
                    .unsigned_abs()
                    .checked_ilog10()
                    .map_or(0, |l| l.saturating_sub(2)),
            );
            assert!((rounded - value).abs() * 2 <= step, "{value} → {rounded}");
        }
    }

    #[tokio::test]
    async fn round_significant_in_sql_refuses_bad_digits() {
        let ctx = SessionContext::new();
        install(&ctx);
        let batches = ctx
            .sql("SELECT round_significant(v, 2) FROM (VALUES (1234), (NULL), (-5678)) AS t(v)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let got: Vec<Option<i64>> = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .iter()
            .collect();
        assert_eq!(got, vec![Some(1200), None, Some(-5700)]);
        for bad in [
            "SELECT round_significant(5, 0)",
            "SELECT round_significant(5, 19)",
            "SELECT round_significant(v, v) FROM (VALUES (3)) AS t(v)",
        ] {
            let err = match ctx.sql(bad).await {
                Ok(df) => df.collect().await.unwrap_err(),
                Err(e) => e,
            };
            assert!(
                err.to_string().contains("literal from 1 to 18"),
                "{bad}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn uid_key_is_the_ids_hash_and_tells_ids_apart() {
        let ctx = SessionContext::new();
        install(&ctx);
        let batches = ctx
            .sql(
                "SELECT uid_key(id), arrow_typeof(uid_key(id)) FROM (VALUES ('evt-1'), ('evt-2'), \
                 ('evt-1'), (NULL), (arrow_cast('evt-2', 'Utf8View'))) AS t(id)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let keys = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
        let key = |id: &str| (xxhash_rust::xxh3::xxh3_128(id.as_bytes()) >> 2) as i128;
        assert_eq!(
            keys.iter().collect::<Vec<_>>(),
            vec![
                Some(key("evt-1")),
                Some(key("evt-2")),
                Some(key("evt-1")),
                None,
                Some(key("evt-2"))
            ]
        );
        assert_ne!(key("evt-1"), key("evt-2"));
        assert!(
            keys.iter()
                .flatten()
                .all(|k| (0..1i128 << 126).contains(&k))
        );
        let types = batches[0]
            .column(1)
            .as_string_view_opt()
            .map(|a| a.value(0).to_string())
            .or_else(|| {
                batches[0]
                    .column(1)
                    .as_string_opt::<i32>()
                    .map(|a| a.value(0).to_string())
            });
        assert_eq!(types.as_deref(), Some("Decimal128(38, 0)"));
    }
}
