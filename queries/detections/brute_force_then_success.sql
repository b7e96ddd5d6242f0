-- id: brute_force_then_success
-- title: Brute force followed by a successful sign-in
-- severity: high
-- mitre: T1110.001
-- window: 15m
-- schedule: 1m
-- entities: identity
-- param min_failures: 5 | failed passwords of one identity within one window before the success
-- allow_users: identity
-- allow_cidrs: src_ip
-- description: One identity fails its password at least `min_failures` times within one
--   15-minute window (aligned to the clock), then signs in successfully within 15 minutes of the
--   last failure: the password was guessed. A success is an allowed interactive sign-in of the
--   same identity from any source.
WITH failures AS (
    SELECT DISTINCT
        identity,
        metadata_uid,
        time,
        src_endpoint_ip,
        date_bin(${window}, time, TIMESTAMP '1970-01-01T00:00:00') AS failure_window
    FROM identity_events
    WHERE zt_decision = 'deny_credentials' AND identity IS NOT NULL
),
bursts AS (
    SELECT
        identity,
        failure_window,
        MIN(time) AS first_seen,
        MAX(time) AS last_failure,
        COUNT(DISTINCT metadata_uid) AS failures,
        array_agg(DISTINCT metadata_uid) AS failure_ids,
        MAX(src_endpoint_ip) AS src_ip
    FROM failures
    GROUP BY identity, failure_window
    HAVING COUNT(DISTINCT metadata_uid) >= ${min_failures}
),
successes AS (
    SELECT DISTINCT identity, metadata_uid, time, src_endpoint_ip
    FROM identity_events
    WHERE status_id = 1 AND zt_decision = 'allow' AND is_interactive AND identity IS NOT NULL
)
SELECT
    b.identity,
    b.first_seen,
    MIN(s.time) AS last_seen,
    b.failures + 1 AS events,
    array_append(b.failure_ids, first_value(s.metadata_uid ORDER BY s.time, s.metadata_uid)) AS evidence,
    b.src_ip,
    first_value(s.src_endpoint_ip ORDER BY s.time, s.metadata_uid) AS success_ip,
    CONCAT(b.identity, ': ', b.failures, ' failed passwords, then a sign-in') AS summary
FROM bursts b
JOIN successes s
    ON s.identity = b.identity
    AND s.time > b.last_failure
    AND s.time <= b.last_failure + ${window}
GROUP BY b.identity, b.failure_window, b.first_seen, b.failures, b.failure_ids, b.src_ip
