//! Errors of the analytics layer. Each variant has a stable code; the HTTP layer maps codes to
//! statuses in one place and shows `public_message`, never internal detail.

/// A failure of a query or KPI evaluation.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The statement is not allowed (DDL, DML, COPY, SET, file access, table functions …).
    #[error("query rejected: {0}")]
    Rejected(String),
    /// The SQL does not parse or plan (unknown column, syntax error).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A request parameter is invalid (time range, step, label filter).
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// A what-if policy file is invalid (syntax, unknown keys, apps or segments, conflicts).
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// No KPI has this id.
    #[error("unknown KPI {0:?}")]
    UnknownKpi(String),
    /// A query file (KPI, view or detection rule) is invalid.
    #[error("invalid query file {file}: {reason}")]
    InvalidDefinition { file: String, reason: String },
    /// The query ran longer than the configured timeout.
    #[error("query timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Too many queries run at once; retry shortly.
    #[error("query resources exhausted: {0}")]
    ResourcesExhausted(String),
    /// The query needs more memory or spill space than the limits allow; retrying will not help.
    #[error("query too large: {0}")]
    QueryTooLarge(String),
    /// Anything else (I/O, engine bugs). The detail goes to logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AnalyticsError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AnalyticsError::Rejected(_) => "query_rejected",
            AnalyticsError::InvalidQuery(_) => "invalid_query",
            AnalyticsError::InvalidParameter(_) => "invalid_parameter",
            AnalyticsError::InvalidPolicy(_) => "invalid_policy",
            AnalyticsError::UnknownKpi(_) => "unknown_kpi",
            AnalyticsError::InvalidDefinition { .. } => "invalid_definition",
            AnalyticsError::Timeout(_) => "query_timeout",
            AnalyticsError::ResourcesExhausted(_) => "resources_exhausted",
            AnalyticsError::QueryTooLarge(_) => "query_too_large",
            AnalyticsError::Internal(_) => "internal",
        }
    }

    /// Message safe to show to a client.
    pub fn public_message(&self) -> String {
        match self {
            AnalyticsError::Internal(_) => "internal error; see the server log".to_string(),
            other => other.to_string(),
        }
    }
}

/// How DataFusion's spill writer words an exceeded spill limit.
const SPILL_LIMIT_MESSAGE: &str = "spilling process has exceeded the allowable limit";

impl From<datafusion::error::DataFusionError> for AnalyticsError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::arrow::error::ArrowError;
        use datafusion::error::DataFusionError as D;
        match e.find_root() {
            // DataFusion reports the memory pool and the spill limit this way ...
            D::ResourcesExhausted(m) => AnalyticsError::QueryTooLarge(m.clone()),
            // ... or, when a spill file outgrows `[query] spill_limit_bytes`, as an I/O error
            // of the spill writer: the statement is too large, the disk is fine.
            root if root.to_string().contains(SPILL_LIMIT_MESSAGE) => {
                AnalyticsError::QueryTooLarge(root_message(&e))
            }
            D::SQL(..) | D::Plan(_) | D::SchemaError(..) | D::NotImplemented(_) => {
                AnalyticsError::InvalidQuery(root_message(&e))
            }
            // Evaluating the statement over the data failed: a zero `date_bin` stride, a
            // division by zero, a string that does not cast. The statement's fault, not the
            // server's (found by the HTTP fuzz target).
            D::Execution(_) => AnalyticsError::InvalidQuery(root_message(&e)),
            // DataFusion's own assertions, tripped by a statement it should have refused while
            // planning (`list || list LIKE NULL`): still the statement that cannot run.
            D::Internal(_) => {
                tracing::warn!(error = %e, "DataFusion failed an internal check running a statement");
                AnalyticsError::InvalidQuery(root_message(&e))
            }
            D::ArrowError(arrow, _) if !matches!(**arrow, ArrowError::IoError(..)) => {
                AnalyticsError::InvalidQuery(root_message(&e))
            }
            // A function's own error (a regular expression that does not parse), unless it is
            // reading the lake that failed.
            D::External(inner) if !is_storage_error(inner.as_ref()) => {
                AnalyticsError::InvalidQuery(root_message(&e))
            }
            _ => AnalyticsError::Internal(e.to_string()),
        }
    }
}

impl AnalyticsError {
    /// An error of analysing, optimizing or planning a statement: the statement's fault
    /// (DataFusion reports some type errors as internal errors of its analyzer) unless the
    /// lake could not be read or memory ran out.
    pub fn from_planning(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        match e.find_root() {
            D::IoError(_) | D::ObjectStore(_) | D::ParquetError(_) => {
                AnalyticsError::Internal(e.to_string())
            }
            D::External(inner) if is_storage_error(inner.as_ref()) => {
                AnalyticsError::Internal(e.to_string())
            }
            D::ResourcesExhausted(m) => AnalyticsError::QueryTooLarge(m.clone()),
            _ => AnalyticsError::InvalidQuery(root_message(&e)),
        }
    }
}

/// Whether an error wrapped by DataFusion comes from reading storage (the lake, dead letters).
fn is_storage_error(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    e.is::<ztlens_ingest::lake::LakeError>() || e.is::<std::io::Error>()
}

fn root_message(e: &datafusion::error::DataFusionError) -> String {
    // DataFusion prefixes errors with context and appends backtraces when enabled; keep the root.
    e.find_root()
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::error::ArrowError;
    use datafusion::error::DataFusionError;

    #[test]
    fn an_exceeded_spill_limit_is_a_query_too_large_not_a_server_fault() {
        // As DataFusion 55's spill writer reports it (seen on a month-long what-if).
        let message = "The used disk space during the spilling process has exceeded the allowable limit of 1024.0 MB. Please try increasing the config: `datafusion.runtime.max_temp_directory_size`.";
        let error = DataFusionError::ArrowError(
            Box::new(ArrowError::IoError(
                message.to_string(),
                std::io::Error::other(message),
            )),
            None,
        );
        let mapped = AnalyticsError::from(error);
        assert!(
            matches!(mapped, AnalyticsError::QueryTooLarge(_)),
            "{mapped:?}"
        );
        // A real storage failure stays a server fault.
        let storage = DataFusionError::ArrowError(
            Box::new(ArrowError::IoError(
                "No such file or directory".into(),
                std::io::Error::other("No such file or directory"),
            )),
            None,
        );
        assert!(matches!(
            AnalyticsError::from(storage),
            AnalyticsError::Internal(_)
        ));
    }
}
