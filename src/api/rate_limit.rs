//! Request rate limits per API token: a token bucket for each token (and one for all requests
//! when no tokens are configured, which is loopback-only). The key is the token the request
//! authenticated with, never something the client states about itself (`X-Forwarded-For`,
//! `X-Real-IP`): a forged header cannot move a client to a fresh bucket. The keys are the
//! configured token names, so the table is bounded by the config, not by clients.
//!
//! Written here rather than with a rate-limiting crate: it is thirty lines over a bounded key
//! set, where the crates bring a concurrent map and clock sources this does not need.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests per second and burst of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(Debug)]
pub struct RateLimiter {
    default: Option<Rate>,
    overrides: HashMap<String, Option<Rate>>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    /// The limits of `[server]`: the default, and each token's override.
    pub fn for_server(server: &crate::config::ServerConfig) -> Self {
        // The burst grows with a token's own rate so a fast token is not held to the default
        // burst.
        let rate = |per_second: u32| {
            (per_second > 0).then(|| Rate {
                per_second: f64::from(per_second),
                burst: f64::from(
                    server
                        .rate_limit_burst
                        .max(per_second.saturating_mul(2))
                        .max(1),
                ),
            })
        };
        let default = (server.rate_limit_per_second > 0).then(|| Rate {
            per_second: f64::from(server.rate_limit_per_second),
            burst: f64::from(server.rate_limit_burst.max(1)),
        });
        let overrides = server
            .tokens
            .iter()
            .filter_map(|t| Some((t.name.clone(), rate(t.rate_limit_per_second?))))
            .collect();
        Self::new(default, overrides)
    }

    /// `default` applies to every key without an override; `None` means unlimited.
    pub fn new(default: Option<Rate>, overrides: HashMap<String, Option<Rate>>) -> Self {
        Self {
            default,
            overrides,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request from `key`'s bucket, or say how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Some(rate) = self.overrides.get(key).copied().unwrap_or(self.default) else {
            return Ok(());
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: rate.burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(rate.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / rate.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let rate = Rate {
            per_second: 10.0,
            burst: 3.0,
        };
        let limiter =
            RateLimiter::new(Some(rate), HashMap::from([("collector".to_string(), None)]));
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("grafana", start).is_ok());
        }
        let wait = limiter.check_at("grafana", start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        // Another key has its own bucket; an override without a rate is unlimited.
        assert!(limiter.check_at("prometheus", start).is_ok());
        for _ in 0..1000 {
            assert!(limiter.check_at("collector", start).is_ok());
        }
        // A tenth of a second refills one request, and only one.
        let later = start + Duration::from_millis(100);
        assert!(limiter.check_at("grafana", later).is_ok());
        assert!(limiter.check_at("grafana", later).is_err());
        // Idle time refills up to the burst, not beyond.
        let much_later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check_at("grafana", much_later).is_ok());
        }
        assert!(limiter.check_at("grafana", much_later).is_err());
    }
}
