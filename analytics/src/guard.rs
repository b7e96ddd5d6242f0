//! The read-only SQL guard: the single entry point for SQL a user writes.
//!
//! Three layers, all fail closed:
//! 0. the text's shape, before anything plans it: at most [`MAX_SQL_BYTES`], and no expression
//!    nested deeper than [`MAX_EXPR_DEPTH`] (a 1,000-term `1+1+…` chain is a tree 1,000 levels
//!    deep, and parts of DataFusion walk it recursively on the query thread's stack);
//! 1. planning with DDL, DML and statements disallowed (`SQLOptions::verify_plan`), which refuses
//!    `COPY … TO`, `CREATE [EXTERNAL] TABLE/VIEW`, `INSERT`, `DROP`, `SET` — including inside
//!    `EXPLAIN ANALYZE`;
//! 2. an allow-list of logical plan nodes (projection, filter, aggregate, sort, limit, join,
//!    window, union, distinct, unnest, subqueries, values, table scans, plain `EXPLAIN`); any
//!    other node — extensions, recursive CTEs, `EXPLAIN ANALYZE` — is refused, so a DataFusion
//!    upgrade that adds a new writing node cannot slip through.
//!
//! Sessions have no URL tables and no `generate_series` / `range` table functions, and the
//! scalar functions of [`REFUSED_FUNCTIONS`] are refused in any plan: they materialize values
//! outside the memory pool.

use std::ops::ControlFlow;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::ast::{Expr, Statement as SqlStatement, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::dialect_from_str;

use crate::AnalyticsError;

/// Longest SQL text accepted (user queries, KPI, view and detection files alike).
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// Deepest expression accepted: operators and function calls nested in each other, a chain of
/// `n` binary operators counting `n` levels. Real queries stay far below it.
pub const MAX_EXPR_DEPTH: usize = 128;

/// Nesting of parentheses and subqueries the parser follows (DataFusion's default).
const PARSER_RECURSION_LIMIT: usize = 50;

/// Plan `sql` and return it as a DataFrame if it only reads.
pub async fn check_read_only(ctx: &SessionContext, sql: &str) -> Result<DataFrame, AnalyticsError> {
    check_shape(ctx, sql)?;
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx.sql_with_options(sql, options).await.map_err(|e| {
        let message = e.find_root().to_string();
        if message.contains("not supported") || message.contains("Unsupported") {
            AnalyticsError::Rejected(format!(
                "only read-only queries are allowed (no DDL, DML, COPY or SET): {}",
                message.lines().next().unwrap_or_default()
            ))
        } else {
            AnalyticsError::from(e)
        }
    })?;
    allow_listed(df.logical_plan())?;
    Ok(df)
}

/// Scalar functions that build values of any size from a few bytes of SQL, outside the memory
/// pool (`repeat('x', 1000000000)` took 3.8 GB with a 256 MB pool; `unnest(range(…))` 5.6 GB).
pub const REFUSED_FUNCTIONS: &[&str] = &[
    "repeat",
    "lpad",
    "rpad",
    "range",
    "generate_series",
    "array_repeat",
    "array_resize",
];

fn allow_listed(plan: &LogicalPlan) -> Result<(), AnalyticsError> {
    let mut refused: Option<String> = None;
    let mut refused_function: Option<String> = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let datafusion::logical_expr::Expr::ScalarFunction(f) = e
                    && REFUSED_FUNCTIONS.contains(&f.name())
                {
                    refused_function = Some(f.name().to_string());
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        if refused_function.is_some() {
            return Ok(TreeNodeRecursion::Stop);
        }
        let allowed = match node {
            LogicalPlan::Projection(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Join(_)
            | LogicalPlan::Repartition(_)
            | LogicalPlan::Union(_)
            | LogicalPlan::TableScan(_)
            | LogicalPlan::EmptyRelation(_)
            | LogicalPlan::Subquery(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Values(_)
            | LogicalPlan::Distinct(_)
            | LogicalPlan::Unnest(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Explain(_) => true,
            LogicalPlan::Statement(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Extension(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::RecursiveQuery(_) => false,
        };
        if allowed {
            Ok(TreeNodeRecursion::Continue)
        } else {
            refused = Some(node.display().to_string());
            Ok(TreeNodeRecursion::Stop)
        }
    })?;
    if let Some(name) = refused_function {
        return Err(AnalyticsError::Rejected(format!(
            "function {name}() is not allowed: it builds values outside the query memory limit"
        )));
    }
    match refused {
        Some(node) => Err(AnalyticsError::Rejected(format!(
            "only read-only queries are allowed; the plan contains `{}`",
            node.lines().next().unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

/// The check a query file (KPI, evidence, view) passes when it is loaded, before any session
/// exists: one read-only query (`SELECT`, `WITH`, `VALUES`) within the size and depth limits.
/// Each run of it still goes through [`check_read_only`].
pub fn check_query_text(sql: &str) -> Result<(), AnalyticsError> {
    check_text(sql, datafusion::config::Dialect::Generic, true)
}

/// Layer 0: size and expression depth, from the parsed text.
fn check_shape(ctx: &SessionContext, sql: &str) -> Result<(), AnalyticsError> {
    let dialect = ctx.state().config().options().sql_parser.dialect;
    check_text(sql, dialect, false)
}

fn check_text(
    sql: &str,
    dialect: datafusion::config::Dialect,
    query_only: bool,
) -> Result<(), AnalyticsError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(AnalyticsError::Rejected(format!(
            "the query is {} bytes long; the limit is {MAX_SQL_BYTES}",
            sql.len()
        )));
    }
    let invalid = |e: datafusion::error::DataFusionError| {
        AnalyticsError::InvalidQuery(e.find_root().to_string())
    };
    let parser_dialect = dialect_from_str(dialect)
        .ok_or_else(|| AnalyticsError::Internal(format!("unknown SQL dialect {dialect}")))?;
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(parser_dialect.as_ref())
        .with_recursion_limit(PARSER_RECURSION_LIMIT)
        .build()
        .map_err(invalid)?
        .parse_statements()
        .map_err(invalid)?;
    if statements.len() != 1 {
        return Err(AnalyticsError::Rejected(format!(
            "one statement at a time, not {}",
            statements.len()
        )));
    }
    let mut statement = statements.pop_front().expect("one statement");
    // EXPLAIN wraps the statement it explains; the other DataFusion extensions are refused
    // by the next layer.
    while let Statement::Explain(explain) = statement {
        statement = *explain.statement;
    }
    let is_query =
        matches!(&statement, Statement::Statement(s) if matches!(**s, SqlStatement::Query(_)));
    if query_only && !is_query {
        return Err(AnalyticsError::Rejected(
            "a query file holds one read-only query (SELECT, WITH or VALUES) and nothing else"
                .into(),
        ));
    }
    if let Statement::Statement(statement) = &statement {
        let mut depth = ExprDepth::default();
        if statement.visit(&mut depth).is_break() {
            return Err(AnalyticsError::Rejected(format!(
                "an expression is nested more than {MAX_EXPR_DEPTH} levels deep; split it up"
            )));
        }
    }
    Ok(())
}

/// Tracks how deep the visitor is inside nested expressions; breaks (so the walk itself stays
/// shallow) at the first expression past [`MAX_EXPR_DEPTH`].
#[derive(Default)]
struct ExprDepth {
    current: usize,
}

impl Visitor for ExprDepth {
    type Break = ();

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.current += 1;
        if self.current > MAX_EXPR_DEPTH {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.current -= 1;
        ControlFlow::Continue(())
    }
}
