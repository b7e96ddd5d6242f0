//! Scalar functions ztlens adds to every session: `ip_in_cidr(ip, networks)`.
//!
//! `ip_in_cidr(ip, networks)`: whether the address `ip` is in one of the comma-separated
//! networks (`'10.0.0.0/8, 2001:db8::/32'`, a bare address is a /32 or /128). Null when `ip` is
//! null or not an address, so a policy can tell "outside the networks" from "we do not know";
//! an invalid network is an error, never a silent false. The networks are parsed once per
//! batch when they are a literal (the what-if compiler writes them so).
//!
//! Imports: `error` only (and the site's CIDR type from ztlens-ingest).

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
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
}
