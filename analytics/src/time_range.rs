//! Time ranges as users and Grafana write them.
//!
//! Instants: RFC 3339 (`2026-03-02T08:00:00Z`), a date (`2026-03-02`, midnight UTC), epoch
//! milliseconds (Grafana's `${__from}`), `now`, or `now-<n><unit>` with unit s, m, h, d, w.
//! Steps: `<n><unit>` with unit ms, s, m, h, d, w (Grafana's `$__interval`) or plain milliseconds
//! (`$__interval_ms`).

use crate::AnalyticsError;

/// Most buckets a time series may have; more is almost always a mistake and costs memory.
pub const MAX_BUCKETS: i64 = 10_000;

/// Earliest instant a range may start at: the Unix epoch.
pub const MIN_INSTANT_MS: i64 = 0;

/// Latest instant a range may end at: the end of year 9999 (UTC).
pub const MAX_INSTANT_MS: i64 = 253_402_300_800_000;

/// Longest range: 100 years, so any bucket's width fits DataFusion's nanosecond intervals and
/// no arithmetic on a range can overflow.
pub const MAX_SPAN_MS: i64 = 100 * 366 * 86_400_000;

/// A half-open range `[from, to)` in epoch milliseconds, with an optional bucket width.
///
/// Invariants, checked by [`TimeRange::new`] (the only way to build one): both ends within
/// [`MIN_INSTANT_MS`]..=[`MAX_INSTANT_MS`], `from < to`, a span of at most [`MAX_SPAN_MS`], a
/// positive step, and at most [`MAX_BUCKETS`] buckets. Within them, `to - from`, bucket counts
/// and bucket widths in nanoseconds cannot overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    from_ms: i64,
    to_ms: i64,
    step_ms: Option<i64>,
}

impl TimeRange {
    /// Parse `from`, `to` (defaults: `now-24h`, `now`) and `step` relative to `now_ms`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        step: Option<&str>,
        now_ms: i64,
    ) -> Result<Self, AnalyticsError> {
        let from_ms = parse_instant(from.unwrap_or("now-24h"), now_ms)?;
        let to_ms = parse_instant(to.unwrap_or("now"), now_ms)?;
        let step_ms = step
            .filter(|s| !s.is_empty())
            .map(parse_duration_ms)
            .transpose()?;
        Self::new(from_ms, to_ms, step_ms)
    }

    /// `[from_ms, to_ms)` in buckets of `step_ms` (one bucket when `None`).
    pub fn new(from_ms: i64, to_ms: i64, step_ms: Option<i64>) -> Result<Self, AnalyticsError> {
        for (name, ms) in [("from", from_ms), ("to", to_ms)] {
            if !(MIN_INSTANT_MS..=MAX_INSTANT_MS).contains(&ms) {
                return Err(AnalyticsError::InvalidParameter(format!(
                    "`{name}` ({ms} ms) must lie between 1970-01-01 and 9999-12-31"
                )));
            }
        }
        if to_ms <= from_ms {
            return Err(AnalyticsError::InvalidParameter(format!(
                "`to` ({}) must be after `from` ({})",
                format_ms(to_ms),
                format_ms(from_ms)
            )));
        }
        // Both ends are in range, so the span cannot overflow.
        let span = to_ms - from_ms;
        if span > MAX_SPAN_MS {
            return Err(AnalyticsError::InvalidParameter(format!(
                "the range spans {} days; the limit is {} days",
                span / 86_400_000,
                MAX_SPAN_MS / 86_400_000
            )));
        }
        if let Some(step) = step_ms {
            if step <= 0 {
                return Err(AnalyticsError::InvalidParameter(format!(
                    "step {step} ms must be positive"
                )));
            }
            // span <= MAX_SPAN_MS, so this cannot overflow whatever the step.
            let buckets = span / step + i64::from(span % step != 0);
            if buckets > MAX_BUCKETS {
                return Err(AnalyticsError::InvalidParameter(format!(
                    "step {step} ms gives {buckets} buckets over this range; the limit is {MAX_BUCKETS}"
                )));
            }
        }
        Ok(Self {
            from_ms,
            to_ms,
            step_ms,
        })
    }

    /// Start (inclusive), epoch ms.
    pub fn from_ms(&self) -> i64 {
        self.from_ms
    }

    /// End (exclusive), epoch ms.
    pub fn to_ms(&self) -> i64 {
        self.to_ms
    }

    /// Bucket width of a time series; `None` for one bucket over the whole range.
    pub fn step_ms(&self) -> Option<i64> {
        self.step_ms
    }

    /// The same range as one bucket.
    pub fn whole(self) -> Self {
        Self {
            step_ms: None,
            ..self
        }
    }

    /// The range cut at the multiples of `chunk_ms` since the epoch (whole UTC days for a day),
    /// in order; each piece is one bucket. `chunk_ms` must be positive.
    pub fn chunks(self, chunk_ms: i64) -> impl Iterator<Item = TimeRange> {
        let chunk_ms = chunk_ms.max(1);
        let mut from_ms = self.from_ms;
        std::iter::from_fn(move || {
            if from_ms >= self.to_ms {
                return None;
            }
            // Both ends lie within MAX_INSTANT_MS, far from overflow.
            let next = (from_ms.div_euclid(chunk_ms) + 1) * chunk_ms;
            let to_ms = next.min(self.to_ms);
            let piece = TimeRange {
                from_ms,
                to_ms,
                step_ms: None,
            };
            from_ms = to_ms;
            Some(piece)
        })
    }

    /// Bucket width: the step, or the whole range when there is none.
    pub fn bucket_ms(&self) -> i64 {
        self.step_ms.unwrap_or(self.to_ms - self.from_ms)
    }
}

/// RFC 3339 text of epoch milliseconds (UTC, `Z`).
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

pub fn parse_instant(text: &str, now_ms: i64) -> Result<i64, AnalyticsError> {
    let t = text.trim();
    let bad = || {
        AnalyticsError::InvalidParameter(format!(
            "time {t:?} is not RFC 3339, a date, epoch milliseconds, `now` or `now-<n>[s|m|h|d|w]`"
        ))
    };
    if t == "now" {
        return Ok(now_ms);
    }
    if let Some(rest) = t.strip_prefix("now-") {
        return Ok(now_ms - parse_duration_ms(rest).map_err(|_| bad())?);
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| bad());
    }
    parse_date_or_rfc3339(t).ok_or_else(bad)
}

/// An absolute instant written as RFC 3339 or a date (midnight UTC), in epoch milliseconds.
pub fn parse_date_or_rfc3339(text: &str) -> Option<i64> {
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp_millis()
        })
}

pub fn parse_duration_ms(text: &str) -> Result<i64, AnalyticsError> {
    let t = text.trim();
    let bad = || {
        AnalyticsError::InvalidParameter(format!(
            "duration {t:?} is not <n>[ms|s|m|h|d|w] or milliseconds"
        ))
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let factor = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return Err(bad()),
    };
    let ms = n.checked_mul(factor).ok_or_else(bad)?;
    if ms <= 0 {
        return Err(bad());
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_772_438_400_000; // 2026-03-02T08:00:00Z

    #[test]
    fn chunks_cut_at_whole_days_and_cover_the_range_once() {
        const DAY: i64 = 86_400_000;
        let range = TimeRange::new(NOW, NOW + 2 * DAY + 1, Some(3_600_000)).unwrap();
        let pieces: Vec<(i64, i64)> = range
            .chunks(DAY)
            .map(|c| {
                assert_eq!(c.step_ms(), None);
                (c.from_ms(), c.to_ms())
            })
            .collect();
        let midnight = NOW - 8 * 3_600_000; // 2026-03-02T00:00:00Z
        assert_eq!(
            pieces,
            vec![
                (NOW, midnight + DAY),
                (midnight + DAY, midnight + 2 * DAY),
                (midnight + 2 * DAY, NOW + 2 * DAY + 1),
            ]
        );
        let inside = TimeRange::new(NOW, NOW + 60_000, None).unwrap();
        assert_eq!(inside.chunks(DAY).collect::<Vec<_>>(), vec![inside]);
    }

    #[test]
    fn instants() {
        assert_eq!(parse_instant("now", NOW).unwrap(), NOW);
        assert_eq!(parse_instant("now-1h", NOW).unwrap(), NOW - 3_600_000);
        assert_eq!(parse_instant("2026-03-02T08:00:00Z", NOW).unwrap(), NOW);
        assert_eq!(
            parse_instant("2026-03-02", NOW).unwrap(),
            NOW - 8 * 3_600_000
        );
        assert_eq!(parse_instant("1772438400000", NOW).unwrap(), NOW);
        assert!(parse_instant("yesterday", NOW).is_err());
    }

    #[test]
    fn ranges_and_steps() {
        let r = TimeRange::parse(Some("now-1d"), None, Some("1h"), NOW).unwrap();
        assert_eq!(
            (r.to_ms() - r.from_ms(), r.step_ms()),
            (86_400_000, Some(3_600_000))
        );
        assert_eq!(r.bucket_ms(), 3_600_000);
        let r = TimeRange::parse(Some("now-1d"), None, None, NOW).unwrap();
        assert_eq!(r.bucket_ms(), 86_400_000);
        assert!(TimeRange::parse(Some("now"), Some("now-1h"), None, NOW).is_err());
        assert!(TimeRange::parse(Some("now-30d"), None, Some("1s"), NOW).is_err());
        assert!(parse_duration_ms("0s").is_err());
        // Regression: a range to i64::MAX with a one-week step wrapped the bucket count
        // negative past the bucket limit, and the bucket table grew until the process aborted.
        for (from, to, step) in [
            ("0", "9223372036854775807", Some("1w")),
            ("0", "9223372036854775807", None),
            ("now-99999999999w", "now", Some("1w")),
            ("0", "253402300800000", Some("1d")),
        ] {
            assert!(
                TimeRange::parse(Some(from), Some(to), step, NOW).is_err(),
                "{from}..{to} by {step:?}"
            );
        }
        let r = TimeRange::new(0, MAX_SPAN_MS, None).unwrap();
        assert_eq!(
            r.bucket_ms().checked_mul(1_000_000),
            Some(MAX_SPAN_MS * 1_000_000)
        );
        assert!(TimeRange::new(0, 10, Some(9_223_372_036_854_775_807)).is_ok());
        assert!(parse_duration_ms("5 parsecs").is_err());
        assert_eq!(parse_duration_ms("250").unwrap(), 250);
    }
}
