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
-- partial_keys: identity
-- partial
-- Split in two: an hour's rows per identity, with what its requests would have met and how
-- many of them the observe-mode policies let through; the final query finds each identity's
-- other paths over the whole range from those rows.
SELECT
    bucket AS time,
    source,
    COALESCE(policy, '') AS policy,
    app,
    identity_kind,
    identity,
    COUNT(DISTINCT CASE WHEN would_be <> 'allow' THEN uid_key(metadata_uid) END) AS observed,
    COUNT(DISTINCT CASE WHEN would_be LIKE 'deny%' THEN uid_key(metadata_uid) END) AS would_deny,
    COUNT(DISTINCT CASE WHEN would_be IN ('challenge_mfa', 'reauth_required') THEN uid_key(metadata_uid) END) AS would_challenge,
    COUNT(DISTINCT CASE WHEN would_be NOT LIKE 'deny%' THEN uid_key(metadata_uid) END) AS let_through
FROM observed_requests
GROUP BY 1, 2, 3, 4, 5, 6

-- final
WITH paths AS (
    SELECT DISTINCT source, identity, app
    FROM partials
    WHERE let_through > 0
)
SELECT
    r.time,
    r.source,
    r.policy,
    r.app,
    r.identity_kind,
    SUM(r.would_deny) AS would_deny,
    SUM(r.would_challenge) AS would_challenge,
    COUNT(DISTINCT CASE WHEN r.would_deny > 0 THEN r.identity END) AS identities,
    COUNT(DISTINCT CASE WHEN r.would_deny > 0 AND p.identity IS NULL THEN r.identity END) AS without_other_path
FROM partials r
LEFT JOIN paths p ON p.source = r.source AND p.identity = r.identity AND p.app = r.app
-- Groups of requests that met something other than `allow`.
WHERE r.observed > 0
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
