//! The maturity scorecard: its inputs from the generator's own counts. The levels follow from
//! the documented thresholds (unit-tested at their edges in ztlens-analytics).

use ztlens_analytics::maturity::{MaturityInputs, Scorecard};

use super::Truth;
use super::network::scans;

impl Truth {
    pub(super) fn maturity(&self) -> Scorecard {
        let scan_counts = scans(&self.admin_flows);
        let coverage_counts = self.coverage_counts();
        let posture_of = |p: &str| -> u64 {
            self.allowed_posture
                .iter()
                .filter(|((_, posture), _)| posture == p)
                .map(|(_, n)| n)
                .sum()
        };
        let inputs = MaturityInputs {
            mfa_verified: self.mfa_factors.values().map(|[v, _]| v).sum(),
            mfa_verified_phishing_resistant: self
                .mfa_factors
                .iter()
                .filter(|((_, class), _)| class == "phishing_resistant")
                .map(|(_, [v, _])| v)
                .sum(),
            sensitive_sign_ins_with_mfa: self.sensitive_sign_ins.values().map(|[w, _]| w).sum(),
            sensitive_sign_ins_without_mfa: self
                .sensitive_sign_ins
                .values()
                .map(|[_, wo]| wo)
                .sum(),
            allowed_compliant: posture_of("compliant"),
            allowed_non_compliant: posture_of("non_compliant"),
            allowed_managed: posture_of("managed"),
            allowed_unmanaged: posture_of("unmanaged"),
            lateral_blocked: self.lateral_attempts.values().map(|[b, _, _]| b).sum(),
            lateral_allowed: self.lateral_attempts.values().map(|[_, a, _]| a).sum(),
            lateral_scans: scan_counts.values().map(|[n, _]| n).sum(),
            lateral_scans_contained: scan_counts.values().map(|[_, c]| c).sum(),
            sensitive_requests_behind_idp: coverage_counts.values().map(|[b, _, _]| b).sum(),
            sensitive_requests_unauthenticated: coverage_counts.values().map(|[_, u, _]| u).sum(),
        };
        Scorecard::assess(inputs)
    }
}
