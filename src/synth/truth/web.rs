//! Web KPIs: how much of the traffic to sensitive apps passed the identity provider.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Truth;

/// How long a sign-on through the IdP vouches for a user's later requests to the same app.
const SIGN_ON_WINDOW_MS: i64 = 12 * 3_600_000;

impl Truth {
    /// Coverage counts with the named requests classified: behind the IdP when the user signed
    /// on to the app through the IdP at most 12 hours before (at or before the logged time).
    pub(super) fn coverage_counts(&self) -> BTreeMap<(String, String), [u64; 3]> {
        let mut counts = self.coverage.clone();
        let mut sign_ons = self.sign_ons.clone();
        for times in sign_ons.values_mut() {
            times.sort_unstable();
        }
        for (user, app, source, t) in &self.named_requests {
            let signed_on = sign_ons.get(&(user.clone(), *app)).is_some_and(|times| {
                // The latest sign-on at or before the request.
                let at_or_before = times.partition_point(|s| s <= t);
                at_or_before > 0 && times[at_or_before - 1] >= t - SIGN_ON_WINDOW_MS
            });
            let row = counts
                .entry((app.to_string(), source.to_string()))
                .or_default();
            row[usize::from(!signed_on)] += 1;
        }
        counts
    }

    pub(super) fn sensitive_app_coverage(&self) -> Vec<Value> {
        self.coverage_counts()
            .iter()
            .map(|((app, source), [behind, unauth, unknown])| {
                let share = if behind + unauth == 0 {
                    Value::Null
                } else {
                    json!(*behind as f64 / (behind + unauth) as f64)
                };
                json!({"app": app, "source": source, "requests": behind + unauth + unknown,
                    "behind_idp": behind, "unauthenticated": unauth, "unknown": unknown,
                    "behind_idp_share": share})
            })
            .collect()
    }

    /// East-west requests into the mesh, per source and app: how many were mutually
    /// authenticated.
    pub(super) fn mtls_coverage(&self) -> Vec<Value> {
        self.mtls
            .iter()
            .map(|((source, app), [mtls, plaintext])| {
                let requests = mtls + plaintext;
                json!({"source": source, "app": app, "requests": requests, "mtls": mtls,
                    "plaintext": plaintext, "mtls_ratio": *mtls as f64 / requests as f64})
            })
            .collect()
    }
}
