-- id: mfa_push_bombing
-- title: MFA fatigue (push bombing)
-- severity: high
-- mitre: T1621
-- window: 15m
-- schedule: 1m
-- entities: identity
-- param min_denials: 4 | push denials or timeouts of one identity within one window
-- allow_users: identity
-- allow_cidrs: src_ip
-- description: One identity refuses or lets time out at least `min_denials` push prompts within
--   one 15-minute window (aligned to the clock): someone holding the password is sending
--   prompts until the user gives in. Severity is raised to critical when a push (or a factor
--   the source does not name) is approved within a window after the first refusal: the user
--   gave in. A refused prompt is an MFA step
--   whose decision is mfa_denied or mfa_failed with a push factor (or a refusal of an unknown
--   factor, as Entra reports them).
WITH denials AS (
    SELECT DISTINCT
        identity,
        metadata_uid,
        time,
        src_endpoint_ip,
        date_bin(${window}, time, TIMESTAMP '1970-01-01T00:00:00') AS denial_window
    FROM mfa_steps
    WHERE mfa_outcome = 'failure'
        AND identity IS NOT NULL
        AND (factor_class = 'push' OR (factor_class = 'unknown' AND zt_decision = 'mfa_denied'))
),
bursts AS (
    SELECT
        identity,
        denial_window,
        MIN(time) AS first_seen,
        MAX(time) AS last_seen,
        COUNT(DISTINCT metadata_uid) AS events,
        array_agg(DISTINCT metadata_uid) AS evidence,
        MAX(src_endpoint_ip) AS src_ip
    FROM denials
    GROUP BY identity, denial_window
    HAVING COUNT(DISTINCT metadata_uid) >= ${min_denials}
),
approvals AS (
    SELECT identity, time, metadata_uid
    FROM mfa_steps
    WHERE mfa_outcome = 'success' AND factor_class IN ('push', 'unknown') AND identity IS NOT NULL
)
SELECT
    b.identity,
    b.first_seen,
    GREATEST(b.last_seen, COALESCE(MIN(a.time), b.last_seen)) AS last_seen,
    b.events,
    CASE WHEN MIN(a.time) IS NULL THEN b.evidence
        ELSE array_append(b.evidence, first_value(a.metadata_uid ORDER BY a.time, a.metadata_uid)) END AS evidence,
    b.src_ip,
    MIN(a.time) IS NOT NULL AS approved,
    CASE WHEN MIN(a.time) IS NOT NULL THEN 'critical' END AS severity,
    CONCAT(b.identity, ': ', b.events, ' push prompts refused',
        CASE WHEN MIN(a.time) IS NOT NULL THEN ', then one approved' ELSE '' END) AS summary
FROM bursts b
LEFT JOIN approvals a
    ON a.identity = b.identity
    AND a.time > b.first_seen
    AND a.time <= b.last_seen + ${window}
GROUP BY b.identity, b.denial_window, b.first_seen, b.last_seen, b.events, b.evidence, b.src_ip
