//! Size limits for the expressions that build values outside the memory pool.
//!
//! DataFusion counts the memory of operators (hash tables, sorts, buffered batches) against the
//! pool, but not the arrays a scalar expression returns. A few expressions can return far more
//! than they read: `'x' || 'x'` doubles, nested twenty times in CTEs it is a megabyte, thirty
//! times a gigabyte; `replace(s, 'a', s)` squares. Those are wrapped here so that one evaluation
//! (one batch) builds at most [`MAX_BUILT_BYTES`]; past it the query fails with
//! [`AnalyticsError::QueryTooLarge`](crate::AnalyticsError) instead of the process running out of
//! memory.
//!
//! - The functions of [`BOUNDED_FUNCTIONS`] replace the built-ins of the same name. Before
//!   calling the built-in they compute an upper bound of what it can build from the sizes of its
//!   arguments (a sum for the concatenations, matches × replacement for `replace` and
//!   `regexp_replace`) and refuse when the bound is over the limit; the output is checked again.
//! - String `||` is planned by [`StringConcatPlanner`] as the usual operator wrapped in
//!   `size_checked(…)`, which checks what it returns. `a || b` builds at most the size of its
//!   inputs, both of which were checked, so it never allocates more than twice the limit.
//! - Functions that can build any size from small arguments (`repeat`, `lpad`, `range`, …) are
//!   refused outright by the guard instead (`guard::REFUSED_FUNCTIONS`).
//!
//! Column names do not change: the wrappers print as the expression they wrap.
//!
//! Imports: `error` only (and DataFusion).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Most bytes one evaluation of a bounded expression may build (a batch's worth of values).
/// Generous for real rows: 64 MiB over an 8,192-row batch is 8 KiB per value.
pub const MAX_BUILT_BYTES: usize = 64 * 1024 * 1024;

/// How a bounded function's output size is bounded from its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// At most the sum of its arguments; the argument at `separator` (if any) is repeated
    /// between the others.
    Sum { separator: Option<usize> },
    /// `replace(string, from, to)`-like: every match of `from` (at least one byte long, or an
    /// empty match between characters) is replaced by `to`. With `regex`, `to` may hold group
    /// references, each at most the string again.
    Replace { regex: bool },
}

/// The built-in functions replaced by a bounded form, and how each grows.
pub const BOUNDED_FUNCTIONS: &[&str] = &[
    "concat",
    "concat_ws",
    "replace",
    "regexp_replace",
    "make_array",
    "array_concat",
    "array_append",
    "array_prepend",
    "array_to_string",
];

fn growth_of(name: &str) -> Growth {
    match name {
        "concat_ws" | "array_to_string" => Growth::Sum {
            separator: Some(if name == "concat_ws" { 0 } else { 1 }),
        },
        "replace" => Growth::Replace { regex: false },
        "regexp_replace" => Growth::Replace { regex: true },
        _ => Growth::Sum { separator: None },
    }
}

/// Replace the built-ins of [`BOUNDED_FUNCTIONS`] in `ctx` by their bounded forms and plan
/// string `||` as `size_checked(a || b)`.
pub fn install(ctx: &SessionContext) -> Result<()> {
    use datafusion::execution::FunctionRegistry;
    for name in BOUNDED_FUNCTIONS {
        let Ok(inner) = ctx.udf(name) else {
            continue; // not built in this build's feature set
        };
        ctx.register_udf(ScalarUDF::new_from_impl(Bounded {
            inner,
            growth: growth_of(name),
        }));
    }
    let mut ctx = ctx.clone();
    ctx.register_expr_planner(Arc::new(StringConcatPlanner))?;
    Ok(())
}

/// A built-in function with a size check before and after it runs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    // `simplify` is deliberately not forwarded: the built-ins' simplifications rebuild the
    // call with the built-in function itself, which would step around the bound.

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bound = self.bound(&args.args, args.number_rows);
        if bound > MAX_BUILT_BYTES as u128 {
            return too_large(self.name(), bound);
        }
        let output = self.inner.invoke_with_args(args)?;
        check_built(self.name(), &output)?;
        Ok(output)
    }
}

impl Bounded {
    /// An upper bound of the bytes the function builds over `rows` rows.
    fn bound(&self, args: &[ColumnarValue], rows: usize) -> u128 {
        let any_array = args.iter().any(|a| matches!(a, ColumnarValue::Array(_)));
        let rows = if any_array { rows as u128 } else { 1 };
        let total = |a: &ColumnarValue| -> u128 {
            match a {
                ColumnarValue::Array(array) => value_bytes(array.as_ref()) as u128,
                ColumnarValue::Scalar(s) => scalar_bytes(s) as u128 * rows,
            }
        };
        match self.growth {
            Growth::Sum { separator } => {
                let separators = args.len().saturating_sub(1) as u128;
                args.iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let n = if Some(i) == separator { separators } else { 1 };
                        total(a).saturating_mul(n)
                    })
                    .fold(0u128, u128::saturating_add)
            }
            Growth::Replace { regex } => {
                let (Some(string), Some(pattern), Some(to)) =
                    (args.first(), args.get(1), args.get(2))
                else {
                    return 0;
                };
                let string = total(string);
                let matches = if regex {
                    string.saturating_add(rows)
                } else {
                    let shortest = length_range(pattern).0.max(1) as u128;
                    (string / shortest).saturating_add(rows)
                };
                let to = length_range(to).1 as u128;
                let replaced = matches.saturating_mul(to);
                let references = if regex { string.saturating_mul(to) } else { 0 };
                string.saturating_add(replaced).saturating_add(references)
            }
        }
    }
}

/// `size_checked(expr)`: `expr`, refused when it built more than [`MAX_BUILT_BYTES`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct SizeChecked {
    signature: Signature,
}

impl SizeChecked {
    fn udf() -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(Self {
            signature: Signature::any(1, Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for SizeChecked {
    fn name(&self) -> &str {
        "size_checked"
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [inner] => Ok(inner.schema_name().to_string()),
            _ => exec_err!("size_checked takes one argument"),
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] => Ok(t.clone()),
            _ => exec_err!("size_checked takes one argument"),
        }
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        match args.arg_fields {
            [field] => Ok(Arc::clone(field)),
            _ => exec_err!("size_checked takes one argument"),
        }
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.pop() else {
            return exec_err!("size_checked takes one argument");
        };
        check_built("||", &value)?;
        Ok(value)
    }
}

/// Plans string `a || b` as `size_checked(a || b)`. Registered after DataFusion's planners, so
/// array `||` (planned as `array_concat` and friends, which are bounded) never reaches it.
#[derive(Debug)]
pub struct StringConcatPlanner;

impl ExprPlanner for StringConcatPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        _schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        use datafusion::sql::sqlparser::ast::BinaryOperator;
        if expr.op != BinaryOperator::StringConcat {
            return Ok(PlannerResult::Original(expr));
        }
        let concat = Expr::BinaryExpr(BinaryExpr::new(
            Box::new(expr.left),
            Operator::StringConcat,
            Box::new(expr.right),
        ));
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(SizeChecked::udf(), vec![concat]),
        )))
    }
}

fn check_built(what: &str, output: &ColumnarValue) -> Result<()> {
    let built = match output {
        ColumnarValue::Array(array) => value_bytes(array.as_ref()),
        ColumnarValue::Scalar(s) => scalar_bytes(s),
    };
    if built > MAX_BUILT_BYTES {
        return too_large(what, built as u128);
    }
    Ok(())
}

fn too_large<T>(what: &str, bytes: u128) -> Result<T> {
    // Reported like the memory pool's refusals, so it becomes `QueryTooLarge` (HTTP 422).
    Err(datafusion::error::DataFusionError::ResourcesExhausted(
        format!(
            "{VALUE_TOO_LARGE}: {what} would build {} MiB in one batch (the limit is {} MiB; values are built outside the memory pool)",
            bytes / (1024 * 1024),
            MAX_BUILT_BYTES / (1024 * 1024)
        ),
    ))
}

/// The start of the error message of a refused evaluation.
pub const VALUE_TOO_LARGE: &str = "expression result too large";

/// Bytes of the values of an array as sliced (not the capacity of buffers it shares).
fn value_bytes(array: &dyn Array) -> usize {
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            byte_span(a.value_offsets())
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            byte_span(a.value_offsets())
        }
        DataType::Utf8View => view_bytes(array.as_string_view().views()),
        DataType::Binary => byte_span(array.as_binary::<i32>().value_offsets()),
        DataType::LargeBinary => byte_span(array.as_binary::<i64>().value_offsets()),
        DataType::BinaryView => view_bytes(array.as_binary_view().views()),
        _ => array.get_array_memory_size(),
    }
}

fn byte_span<O: datafusion::arrow::array::OffsetSizeTrait>(offsets: &[O]) -> usize {
    match (offsets.first(), offsets.last()) {
        (Some(first), Some(last)) => last.as_usize().saturating_sub(first.as_usize()),
        _ => 0,
    }
}

fn view_bytes(views: &[u128]) -> usize {
    views
        .iter()
        .map(|v| (*v as u32) as usize)
        .fold(0usize, usize::saturating_add)
}

fn scalar_bytes(scalar: &ScalarValue) -> usize {
    match scalar {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
            s.as_ref().map_or(0, String::len)
        }
        other => other.size(),
    }
}

/// The shortest and longest string of a value in bytes (an array's non-null values, or a
/// scalar), without collecting them: this runs once per batch.
fn length_range(value: &ColumnarValue) -> (usize, usize) {
    let fold = |lengths: &mut dyn Iterator<Item = usize>| {
        lengths.fold((usize::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)))
    };
    let (lo, hi) = match value {
        ColumnarValue::Scalar(s) => {
            let n = scalar_bytes(s);
            (n, n)
        }
        ColumnarValue::Array(array) => match array.data_type() {
            DataType::Utf8 => fold(&mut array.as_string::<i32>().iter().flatten().map(str::len)),
            DataType::LargeUtf8 => {
                fold(&mut array.as_string::<i64>().iter().flatten().map(str::len))
            }
            DataType::Utf8View => fold(&mut array.as_string_view().iter().flatten().map(str::len)),
            _ => {
                let n = value_bytes(array.as_ref());
                (n, n)
            }
        },
    };
    (if lo == usize::MAX { 0 } else { lo }, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<String>> {
        let batches = ctx.sql(sql).await?.collect().await?;
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
        Ok(text.lines().map(str::to_string).collect())
    }

    fn session() -> SessionContext {
        let ctx = SessionContext::new();
        install(&ctx).unwrap();
        ctx
    }

    #[tokio::test]
    async fn bounded_functions_answer_like_the_built_ins() {
        let plain = SessionContext::new();
        let bounded = session();
        for sql in [
            "SELECT 'a' || 'b', 'a' || NULL, 1 || 'x'",
            "SELECT concat('a', NULL, 'b'), concat_ws('-', 'a', 'b', 'c')",
            "SELECT replace('banana', 'an', 'AN'), regexp_replace('a1b2', '[0-9]', 'X', 'g')",
            "SELECT make_array(1, 2) || make_array(3), array_to_string(make_array(1, 2), ',')",
            "SELECT s || s AS doubled FROM (VALUES ('x'), ('yz'), (NULL)) AS t(s)",
        ] {
            assert_eq!(
                run(&plain, sql).await.unwrap(),
                run(&bounded, sql).await.unwrap(),
                "{sql}"
            );
        }
    }

    #[tokio::test]
    async fn values_that_grow_past_the_limit_are_refused() {
        let ctx = session();
        // Each CTE doubles the value: 2^27 bytes (128 MiB) at the end.
        let mut sql = String::from("WITH l0 AS (SELECT 'x' AS s)");
        for i in 1..=27 {
            sql.push_str(&format!(", l{i} AS (SELECT s || s AS s FROM l{})", i - 1));
        }
        sql.push_str(" SELECT length(s) FROM l27");
        for sql in [
            sql.clone(),
            sql.replace("s || s", "concat(s, s)"),
            sql.replace("s || s", "concat_ws(s, s, s)"),
        ] {
            let err = run(&ctx, &sql).await.unwrap_err().to_string();
            assert!(err.contains(VALUE_TOO_LARGE), "{sql}: {err}");
        }
        // Squaring: 512 bytes with every byte replaced by the string itself is 256 KiB, then 64 GiB.
        let sql = "WITH a AS (SELECT concat(s, s, s, s, s, s, s, s) AS s FROM (SELECT 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' AS s)), \
                   b AS (SELECT replace(s, 'x', s) AS s FROM a), \
                   c AS (SELECT replace(s, 'x', s) AS s FROM b) SELECT length(s) FROM c";
        let err = run(&ctx, sql).await.unwrap_err().to_string();
        assert!(err.contains(VALUE_TOO_LARGE), "{err}");
        let sql = "SELECT length(regexp_replace(s, '', s, 'g')) FROM (SELECT concat_ws('', s, s, s, s) AS s FROM (SELECT concat(s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s) AS s FROM (SELECT 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' AS s)))";
        let err = run(&ctx, sql).await.unwrap_err().to_string();
        assert!(err.contains(VALUE_TOO_LARGE), "{err}");
    }
}
