//! The read-only SQL guard: the single entry point for SQL a user writes.
//!
//! Two layers, both fail closed:
//! 1. planning with DDL, DML and statements disallowed (`SQLOptions::verify_plan`), which refuses
//!    `COPY … TO`, `CREATE [EXTERNAL] TABLE/VIEW`, `INSERT`, `DROP`, `SET` — including inside
//!    `EXPLAIN ANALYZE`;
//! 2. an allow-list of logical plan nodes (projection, filter, aggregate, sort, limit, join,
//!    window, union, distinct, unnest, subqueries, values, table scans, plain `EXPLAIN`); any
//!    other node — extensions, recursive CTEs, `EXPLAIN ANALYZE` — is refused, so a DataFusion
//!    upgrade that adds a new writing node cannot slip through.
//!
//! Sessions given to user SQL have no URL tables and no `generate_series` / `range` table
//! functions (they materialize rows outside the memory pool).

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionContext};

use crate::AnalyticsError;

/// Plan `sql` and return it as a DataFrame if it only reads.
pub async fn check_read_only(ctx: &SessionContext, sql: &str) -> Result<DataFrame, AnalyticsError> {
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

fn allow_listed(plan: &LogicalPlan) -> Result<(), AnalyticsError> {
    let mut refused: Option<String> = None;
    plan.apply_with_subqueries(|node| {
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
    match refused {
        Some(node) => Err(AnalyticsError::Rejected(format!(
            "only read-only queries are allowed; the plan contains `{}`",
            node.lines().next().unwrap_or_default()
        ))),
        None => Ok(()),
    }
}
