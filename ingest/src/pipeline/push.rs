//! The push source: a request body sent to ztlens (`POST /api/v1/ingest/{source}`), already
//! limited in size by the transport. Gzip bodies (declared, or recognized by their magic bytes)
//! are decompressed with a limit, `auto` recognizes the format from the content, and the rows
//! are appended with WAL durability: [`Pipeline::ingest_push`] returns `Ok` only when they
//! survive a crash.

use std::io::Read;

use super::{BodyReceipt, Pipeline};
use crate::decode::Decoder;
use crate::lake::LakeError;
use crate::parsers::{Format, SourceFormat};

/// Why a pushed body was not ingested.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The body claims or looks like gzip but does not decompress.
    #[error("the body is not valid gzip: {0}")]
    InvalidGzip(std::io::Error),
    /// The decompressed body is larger than the limit.
    #[error("the decompressed request body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// `auto` was asked for and no known format matches the body.
    #[error("the body matches no known format (known: {})", Format::known_names())]
    UnknownFormat,
    /// More records of the body were refused than a request may hold; nothing was stored.
    #[error(
        "more than {limit} records of the body cannot be parsed as {read_as}; nothing was stored (is it the right source?)"
    )]
    TooManyRefused { limit: usize, read_as: String },
    /// The body has broken records and today's dead-letter budget is spent; nothing was stored.
    #[error(
        "{broken} records of the body cannot be parsed as {read_as} and today's dead-letter budget (lake.max_dead_letter_bytes_per_day) is spent; nothing was stored"
    )]
    DeadLetterBudgetSpent { broken: usize, read_as: String },
    /// `max_concurrent_pushes` bodies are being decoded; retry shortly.
    #[error("too many request bodies are being ingested; retry shortly")]
    Busy,
    /// The rows could not be made durable.
    #[error(transparent)]
    Lake(#[from] LakeError),
}

impl Pipeline {
    /// Ingest one pushed body read as `source`. `gzip_declared` is what the transport says
    /// (`Content-Encoding: gzip`); a body that starts with the gzip magic bytes is decompressed
    /// either way, to at most `max_decompressed_bytes`. `origin` names the request in every
    /// row's `raw_ref` and every dead letter.
    pub async fn ingest_push<B>(
        &self,
        source: SourceFormat,
        body: B,
        gzip_declared: bool,
        max_decompressed_bytes: usize,
        origin: String,
    ) -> Result<BodyReceipt, PushError>
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        let _slot = self
            .push_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| PushError::Busy)?;
        let gzip = gzip_declared || body.as_ref().starts_with(&[0x1f, 0x8b]);
        let data = if gzip {
            tokio::task::spawn_blocking(move || {
                gunzip_limited(body.as_ref(), max_decompressed_bytes)
            })
            .await
            .map_err(|e| LakeError::Failed(format!("decompression task failed: {e}")))??
        } else {
            body.as_ref().to_vec()
        };
        let format = match source {
            SourceFormat::Named(format) => format,
            SourceFormat::Auto => Format::detect(&data).ok_or(PushError::UnknownFormat)?,
        };
        let limit = self.config.max_dead_letters_per_request;
        let site = self.site.clone();
        let max_record_bytes = self.config.max_record_bytes;
        let processed = chrono::Utc::now().timestamp_millis();
        let (decoded, stats, overflowed) = tokio::task::spawn_blocking(move || {
            let mut decoder = Decoder::new(format, site, origin, processed, max_record_bytes)
                .with_dead_letter_limit(limit);
            decoder.push(&data);
            decoder.finish();
            let overflowed = decoder.dead_letters_overflowed();
            (decoder.take(), decoder.stats().clone(), overflowed)
        })
        .await
        .map_err(|e| LakeError::Failed(format!("decode task failed: {e}")))?;
        if overflowed {
            // All or nothing: storing the first `limit` dead letters and dropping the rest
            // would lose records silently.
            if let Some(m) = &self.metrics {
                m.requests_refused.inc();
            }
            return Err(PushError::TooManyRefused {
                limit,
                read_as: format.to_string(),
            });
        }
        let broken = decoded.dead_letters.len();
        if broken > 0 && self.writer.dead_letter_budget_spent() {
            // All or nothing again: past the budget the store would keep only the start of
            // each record, and a pushing client can send the body again later.
            if let Some(m) = &self.metrics {
                m.requests_refused_dead_letter_budget.inc();
            }
            return Err(PushError::DeadLetterBudgetSpent {
                broken,
                read_as: format.to_string(),
            });
        }
        Ok(self.store_decoded(format, decoded, stats).await?)
    }
}

/// Decompress at most `limit` bytes; one byte more means the body is too large (a gzip bomb
/// never gets further than `limit + 1` bytes of memory).
pub fn gunzip_limited(compressed: &[u8], limit: usize) -> Result<Vec<u8>, PushError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(PushError::InvalidGzip)?;
    if out.len() > limit {
        return Err(PushError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn decompression_stops_one_byte_past_the_limit() {
        let bomb = gzip(&vec![b'a'; 1 << 20]);
        assert!(matches!(
            gunzip_limited(&bomb, 1000),
            Err(PushError::TooLarge { limit: 1000 })
        ));
        assert_eq!(gunzip_limited(&gzip(b"abc"), 3).unwrap(), b"abc");
        assert!(matches!(
            gunzip_limited(b"\x1f\x8bnot gzip", 100),
            Err(PushError::InvalidGzip(_))
        ));
    }
}
