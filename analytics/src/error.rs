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
    /// No KPI has this id.
    #[error("unknown KPI {0:?}")]
    UnknownKpi(String),
    /// A KPI definition file is invalid.
    #[error("invalid KPI definition {file}: {reason}")]
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

impl From<datafusion::error::DataFusionError> for AnalyticsError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        match e.find_root() {
            // DataFusion reports the memory pool and the spill limit this way.
            D::ResourcesExhausted(m) => AnalyticsError::QueryTooLarge(m.clone()),
            D::SQL(..) | D::Plan(_) | D::SchemaError(..) | D::NotImplemented(_) => {
                AnalyticsError::InvalidQuery(root_message(&e))
            }
            _ => AnalyticsError::Internal(e.to_string()),
        }
    }
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
