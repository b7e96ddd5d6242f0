-- id: would_be_denials
-- title: Would-be denials of policies in observe mode
-- unit: requests
-- labels: source, policy, app, identity_kind
-- gauge_labels: source, policy
-- metrics: would_deny, would_challenge, identities, without_other_path
-- totals: would_deny, would_challenge
-- description: Requests allowed today that a policy running in observe mode (Entra
--   conditional access in report-only mode, Okta ThreatInsight in log mode, an OPA in dry-run,
--   a Kubernetes admission policy in audit mode) would have refused or challenged once
--   enforced, per source, policy (zt_would_be_policy), app (the site app id, else the app or
--   host the source names) and identity kind (service_account: the source or
--   site.service_account_patterns mark the account as a service, or a Kubernetes service
--   account; unknown: the request names no account, as ThreatInsight's, which runs before
--   sign-in; else user). would_deny = allowed requests whose would-be decision is a denial;
--   would_challenge = those that would have been challenged (MFA, re-authentication);
--   identities = the identities with a would-be denial; without_other_path = those of them
--   with no request to the same app in the same source over the whole range that the
--   observe-mode policies let through — who the policy would lock out entirely, not just
--   slow down. Requests the enforced policy already refused are not counted: they are
--   denials today (a request went through when its decision is allow, or other for a check
--   before sign-in such as ThreatInsight's).
WITH in_range AS (
    SELECT r.* FROM observed_requests r CROSS JOIN kpi_range WHERE r.time >= range_from
),
paths AS (
    SELECT DISTINCT source, identity, app
    FROM in_range
    WHERE would_be NOT LIKE 'deny%'
)
SELECT
    r.bucket AS time,
    r.source,
    COALESCE(r.policy, '') AS policy,
    r.app,
    r.identity_kind,
    COUNT(DISTINCT CASE WHEN r.would_be LIKE 'deny%' THEN uid_key(r.metadata_uid) END) AS would_deny,
    COUNT(DISTINCT CASE WHEN r.would_be IN ('challenge_mfa', 'reauth_required') THEN uid_key(r.metadata_uid) END) AS would_challenge,
    COUNT(DISTINCT CASE WHEN r.would_be LIKE 'deny%' THEN r.identity END) AS identities,
    COUNT(DISTINCT CASE WHEN r.would_be LIKE 'deny%' AND p.identity IS NULL THEN r.identity END) AS without_other_path
FROM in_range r
LEFT JOIN paths p ON p.source = r.source AND p.identity = r.identity AND p.app = r.app
WHERE r.would_be <> 'allow'
GROUP BY 1, 2, 3, 4, 5
ORDER BY time, source, policy, app, identity_kind

-- evidence
SELECT DISTINCT
    r.time,
    r.source,
    COALESCE(r.policy, '') AS policy,
    r.app,
    r.identity_kind,
    r.metadata_uid,
    r.identity,
    r.would_be
FROM observed_requests r CROSS JOIN kpi_range
WHERE r.time >= range_from AND r.would_be <> 'allow'
ORDER BY time, metadata_uid
