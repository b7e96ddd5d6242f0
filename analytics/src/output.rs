//! Query results and their renderings: JSON rows (RFC 3339 times), CSV and a text table.

use datafusion::arrow::datatypes::SchemaRef;
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
    /// The result's schema, when the engine planned it (known even when there are no rows).
    pub schema: Option<SchemaRef>,
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
            schema: None,
        }
    }

    /// The same output with its schema.
    pub fn with_schema(self, schema: SchemaRef) -> Self {
        Self {
            schema: Some(schema),
            ..self
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
                let batch =
                    printable(batch).map_err(|e| AnalyticsError::Internal(e.to_string()))?;
                writer
                    .write(&batch)
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
                let batch =
                    printable(batch).map_err(|e| AnalyticsError::Internal(e.to_string()))?;
                writer
                    .write(&batch)
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
        let batches = self
            .batches
            .iter()
            .map(printable)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AnalyticsError::Internal(e.to_string()))?;
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .map(|t| t.to_string())
            .map_err(|e| AnalyticsError::Internal(e.to_string()))
    }
}

/// `batch` with the temporal values that cannot be printed as dates (beyond chrono's range of
/// ±262,000 years: a corrupt record or arithmetic on times) made null. Arrow's JSON writer
/// writes such a value as an unescaped error message, which made the whole answer invalid JSON
/// (found by the HTTP fuzz target).
fn printable(batch: &RecordBatch) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    use datafusion::arrow::array::BooleanArray;
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::new().with_display_error(false);
    let mut columns = batch.columns().to_vec();
    let mut changed = false;
    for column in &mut columns {
        if !column.data_type().is_temporal() {
            continue;
        }
        let unprintable: BooleanArray = {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            (0..column.len())
                .map(|i| Some(column.is_valid(i) && formatter.value(i).try_to_string().is_err()))
                .collect()
        };
        if unprintable.true_count() > 0 {
            *column = datafusion::arrow::compute::nullif(column.as_ref(), &unprintable)?;
            changed = true;
        }
    }
    if !changed {
        return Ok(batch.clone());
    }
    RecordBatch::try_new(batch.schema(), columns)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::TimestampMillisecondArray;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    #[test]
    fn times_beyond_any_calendar_become_null_and_the_answer_stays_json() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![Field::new("time", ts, true)]));
        let times = TimestampMillisecondArray::from(vec![
            Some(i64::MAX),
            Some(0),
            None,
            Some(9_000_000_000_000_000),
        ])
        .with_timezone("UTC");
        let batch = RecordBatch::try_new(schema, vec![Arc::new(times)]).unwrap();
        let output = QueryOutput::new(vec!["time".into()], vec![batch], 10);
        let rows: Vec<serde_json::Value> = output
            .json_rows()
            .unwrap()
            .into_iter()
            .map(|row| row["time"].clone())
            .collect();
        assert_eq!(
            rows,
            [
                serde_json::Value::Null,
                serde_json::json!("1970-01-01T00:00:00Z"),
                serde_json::Value::Null,
                serde_json::Value::Null
            ]
        );
    }
}
