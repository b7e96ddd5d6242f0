//! Query results and their renderings: JSON rows (RFC 3339 times), CSV and a text table.

use datafusion::arrow::json::writer::{JsonArray, WriterBuilder};
use datafusion::arrow::record_batch::RecordBatch;

use crate::AnalyticsError;

/// The result of one query, capped at the configured row limit.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub columns: Vec<String>,
    pub batches: Vec<RecordBatch>,
    /// More rows existed than `max_rows`; only the first `max_rows` are here.
    pub truncated: bool,
}

impl QueryOutput {
    /// Keep at most `max_rows` rows of `batches`; `columns` names the result's columns even
    /// when there are no rows.
    pub fn new(columns: Vec<String>, batches: Vec<RecordBatch>, max_rows: usize) -> Self {
        let mut kept = Vec::new();
        let mut rows = 0;
        let mut truncated = false;
        for batch in batches {
            if rows + batch.num_rows() > max_rows {
                kept.push(batch.slice(0, max_rows - rows));
                truncated = true;
                break;
            }
            rows += batch.num_rows();
            kept.push(batch);
        }
        Self {
            columns,
            batches: kept,
            truncated,
        }
    }

    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// One JSON object per row; nulls kept explicit; timestamps as RFC 3339.
    pub fn json_rows(
        &self,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, AnalyticsError> {
        let mut buf = Vec::new();
        {
            let mut writer = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, JsonArray>(&mut buf);
            for batch in &self.batches {
                writer
                    .write(batch)
                    .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
            }
            writer
                .finish()
                .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
        }
        if buf.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&buf).map_err(|e| AnalyticsError::Internal(e.to_string()))
    }

    pub fn csv(&self) -> Result<String, AnalyticsError> {
        let mut buf = Vec::new();
        {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut buf);
            for batch in &self.batches {
                writer
                    .write(batch)
                    .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
            }
        }
        if self.batches.is_empty() {
            return Ok(self.columns.join(",") + "\n");
        }
        String::from_utf8(buf).map_err(|e| AnalyticsError::Internal(e.to_string()))
    }

    pub fn table(&self) -> Result<String, AnalyticsError> {
        if self.batches.is_empty() {
            return Ok("(no rows)".to_string());
        }
        datafusion::arrow::util::pretty::pretty_format_batches(&self.batches)
            .map(|t| t.to_string())
            .map_err(|e| AnalyticsError::Internal(e.to_string()))
    }
}
