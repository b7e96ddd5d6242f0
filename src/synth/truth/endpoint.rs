//! Endpoint KPIs: how long devices stay non-compliant, and how fast the SOC contains EDR
//! detections.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Truth, hours, median_p90};

/// A device's stretch of non-compliance: from the first check-in that reported it to the first
/// check-in that reported the device compliant again (`None`: still open).
#[derive(Debug, Clone, PartialEq)]
pub struct ComplianceInterval {
    /// The device-management source that reports the device.
    pub source: &'static str,
    /// The platform as the source names it (`None`: the source's verdict records name none).
    pub platform: Option<&'static str>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// End of the grace period Intune granted (`None`: no grace, e.g. unmanaged devices).
    pub grace_until_ms: Option<i64>,
}

/// A detection: an EDR's on a person's workstation, a cloud or policy finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The source that reports it, as the KPIs name it.
    pub source: &'static str,
    /// OCSF severity name.
    pub severity: &'static str,
    pub detected_ms: i64,
    /// The device it names (empty: none, so no host containment answers it).
    pub device: String,
    /// The account it names (empty: none).
    pub login: String,
}

/// What a containment isolates: a host, or every session of a user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContainmentTarget {
    Device(String),
    User(String),
}

/// A containment action as written to the logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Containment {
    pub time_ms: i64,
    pub target: ContainmentTarget,
}

/// Sorted values per source and OCSF severity name.
type PerSeverity = BTreeMap<(&'static str, &'static str), Vec<f64>>;

/// Sorted values per source and platform, and how many of them count against the grace period.
type PerPlatform = BTreeMap<(&'static str, Option<&'static str>), (Vec<f64>, u64)>;

impl Truth {
    /// The response-speed definition over the generator's own records: a detection is
    /// contained by the first containment at or after it that isolates its host or its user.
    /// Returns each detection with the time of that containment, if any.
    fn responses(&self) -> Vec<(&Detection, Option<i64>)> {
        // Containment times per target, sorted, so each detection finds its answer by binary
        // search (a dataset of 10 M events has tens of thousands of each).
        let mut times: BTreeMap<&ContainmentTarget, Vec<i64>> = BTreeMap::new();
        for c in &self.containments {
            times.entry(&c.target).or_default().push(c.time_ms);
        }
        for t in times.values_mut() {
            t.sort_unstable();
        }
        let first_at_or_after = |target: ContainmentTarget, detected: i64| {
            let t = times.get(&target)?;
            t.get(t.partition_point(|&c| c < detected)).copied()
        };
        self.detections
            .iter()
            .map(|d| {
                let host =
                    first_at_or_after(ContainmentTarget::Device(d.device.clone()), d.detected_ms);
                let user =
                    first_at_or_after(ContainmentTarget::User(d.login.clone()), d.detected_ms);
                (d, host.into_iter().chain(user).min())
            })
            .collect()
    }

    /// `value` of each detection it applies to (given the time of its containment, if any),
    /// per severity, each sorted.
    fn per_severity(&self, value: impl Fn(&Detection, Option<i64>) -> Option<f64>) -> PerSeverity {
        let mut out = PerSeverity::new();
        for (d, answer) in self.responses() {
            if let Some(v) = value(d, answer) {
                out.entry((d.source, d.severity)).or_default().push(v);
            }
        }
        for values in out.values_mut() {
            values.sort_by(f64::total_cmp);
        }
        out
    }

    /// Hours of each non-compliance interval per platform, sorted: the closed ones (start to
    /// end) and those still open at `to_ms` (start to `to_ms`), each with how many closed after,
    /// or are open past, their grace period.
    fn noncompliance_hours(&self, to_ms: i64) -> (PerPlatform, PerPlatform) {
        let mut closed = PerPlatform::new();
        let mut open = PerPlatform::new();
        for interval in &self.compliance {
            match interval.end_ms {
                Some(end) => {
                    let e = closed
                        .entry((interval.source, interval.platform))
                        .or_default();
                    e.0.push(hours(interval.start_ms, end));
                    e.1 += u64::from(interval.grace_until_ms.is_none_or(|g| end > g));
                }
                None => {
                    let e = open
                        .entry((interval.source, interval.platform))
                        .or_default();
                    e.0.push(hours(interval.start_ms, to_ms));
                    e.1 += u64::from(interval.grace_until_ms.is_none_or(|g| g < to_ms));
                }
            }
        }
        for (values, _) in closed.values_mut().chain(open.values_mut()) {
            values.sort_by(f64::total_cmp);
        }
        (closed, open)
    }

    /// Time to remediate: the closed non-compliance intervals per platform.
    pub(super) fn device_remediation_time(&self, to_ms: i64) -> Vec<Value> {
        self.noncompliance_hours(to_ms)
            .0
            .iter()
            .map(|((source, platform), (hours, after_grace))| {
                let (median, p90) = median_p90(hours);
                json!({"source": source, "platform": platform, "remediated": hours.len(),
                    "mean_hours": hours.iter().sum::<f64>() / hours.len() as f64,
                    "median_hours": median, "p90_hours": p90, "closed_after_grace": after_grace})
            })
            .collect()
    }

    /// The intervals still open at `to_ms`, with their ages.
    pub(super) fn noncompliant_devices_open(&self, to_ms: i64) -> Vec<Value> {
        self.noncompliance_hours(to_ms)
            .1
            .iter()
            .map(|((source, platform), (ages, past_grace))| {
                let (median, _) = median_p90(ages);
                json!({"source": source, "platform": platform, "open": ages.len(),
                    "past_grace": past_grace, "median_age_hours": median,
                    "max_age_hours": ages[ages.len() - 1]})
            })
            .collect()
    }

    /// Response speed: minutes to containment of the contained detections, per severity.
    pub(super) fn response_time(&self) -> Vec<Value> {
        let contained =
            self.per_severity(|d, answer| answer.map(|at| (at - d.detected_ms) as f64 / 60_000.0));
        contained
            .iter()
            .map(|((source, severity), minutes)| {
                let (median, p90) = median_p90(minutes);
                json!({"source": source, "severity": severity, "contained": minutes.len(),
                    "mean_minutes": minutes.iter().sum::<f64>() / minutes.len() as f64,
                    "median_minutes": median, "p90_minutes": p90})
            })
            .collect()
    }

    /// The detections not contained by `to_ms`, with their ages, per severity.
    pub(super) fn detections_uncontained(&self, to_ms: i64) -> Vec<Value> {
        let open =
            self.per_severity(|d, answer| answer.is_none().then(|| hours(d.detected_ms, to_ms)));
        open.iter()
            .map(|((source, severity), ages)| {
                let (median, _) = median_p90(ages);
                json!({"source": source, "severity": severity, "open": ages.len(),
                    "median_age_hours": median, "max_age_hours": ages[ages.len() - 1]})
            })
            .collect()
    }
}
