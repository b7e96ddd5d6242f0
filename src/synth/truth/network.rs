//! Network KPIs: blocked lateral movement, admin-port lateral attempts and lateral scans.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use super::Truth;

/// One sensor's record of a lateral flow to an admin port.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminFlow {
    pub src: String,
    pub segment_src: String,
    pub dst: String,
    /// The record's event time, as its parser will read it.
    pub time_ms: i64,
    /// A policy let it through (VPC ACCEPT).
    pub allowed: bool,
}

/// The lateral-scan definition, computed from the generator's own records: per source address
/// and clock-aligned 10-minute window, at least 5 distinct destinations; contained when no
/// record of the window was allowed. segment → [scans, contained]
pub(super) fn scans(flows: &[AdminFlow]) -> BTreeMap<String, [u64; 2]> {
    let mut windows: BTreeMap<(&str, &str, i64), (HashSet<&str>, bool)> = BTreeMap::new();
    for f in flows {
        let entry = windows
            .entry((&f.src, &f.segment_src, f.time_ms.div_euclid(600_000)))
            .or_default();
        entry.0.insert(&f.dst);
        entry.1 |= f.allowed;
    }
    let mut out: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    for ((_, segment, _), (targets, allowed)) in windows {
        if targets.len() >= 5 {
            let e = out.entry(segment.to_string()).or_default();
            e[0] += 1;
            if !allowed {
                e[1] += 1;
            }
        }
    }
    out
}

impl Truth {
    pub(super) fn blocked_lateral_movement(&self) -> Vec<Value> {
        self.lateral
            .iter()
            .map(|((src, dst), [b, a])| json!({"segment_src": src, "segment_dst": dst, "blocked": b, "blocked_admin_port": a}))
            .collect()
    }

    pub(super) fn lateral_movement_attempts(&self) -> Vec<Value> {
        self.lateral_attempts
            .iter()
            .map(|((src, dst), [b, a, f])| {
                let ratio = if b + a == 0 { Value::Null } else { json!(*b as f64 / (b + a) as f64) };
                json!({"segment_src": src, "segment_dst": dst, "blocked": b, "allowed": a, "failed": f, "blocked_ratio": ratio})
            })
            .collect()
    }

    pub(super) fn lateral_scans(&self) -> Vec<Value> {
        scans(&self.admin_flows)
            .iter()
            .map(|(segment, [n, c])| {
                json!({"segment_src": segment, "scans": n, "contained": c, "contained_ratio": *c as f64 / *n as f64})
            })
            .collect()
    }
}
