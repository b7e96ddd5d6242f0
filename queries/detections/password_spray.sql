-- id: password_spray
-- title: Password spray
-- severity: high
-- mitre: T1110.003
-- window: 15m
-- schedule: 1m
-- entities: src_ip
-- param min_identities: 8 | distinct identities one address failed against within one window
-- param max_attempts_per_identity: 3 | most failed attempts per identity on average (more is brute force, not a spray)
-- allow_cidrs: src_ip
-- allow_asns: src_asn
-- description: One source address fails the password of at least `min_identities` distinct
--   identities within one 15-minute window (aligned to the clock), trying each only a few
--   times: someone testing a common password across many accounts. Failures are sign-ins whose
--   decision is deny_credentials, from every identity provider and cloud console.
WITH failures AS (
    SELECT DISTINCT
        metadata_uid,
        time,
        identity,
        src_endpoint_ip,
        src_endpoint_as_number,
        date_bin(${window}, time, TIMESTAMP '1970-01-01T00:00:00') AS spray_window
    FROM identity_events
    WHERE zt_decision = 'deny_credentials' AND src_endpoint_ip IS NOT NULL AND identity IS NOT NULL
)
SELECT
    src_endpoint_ip AS src_ip,
    MAX(src_endpoint_as_number) AS src_asn,
    MIN(time) AS first_seen,
    MAX(time) AS last_seen,
    COUNT(DISTINCT metadata_uid) AS events,
    array_agg(DISTINCT metadata_uid) AS evidence,
    COUNT(DISTINCT identity) AS identities,
    CONCAT(src_endpoint_ip, ' failed the password of ', COUNT(DISTINCT identity), ' identities') AS summary
FROM failures
GROUP BY src_endpoint_ip, spray_window
HAVING COUNT(DISTINCT identity) >= ${min_identities}
    AND COUNT(DISTINCT metadata_uid) <= ${max_attempts_per_identity} * COUNT(DISTINCT identity)
