-- id: new_country_for_identity
-- title: Sign-in from a country or network provider new for the identity
-- severity: medium
-- mitre: T1078
-- window: 1h
-- schedule: 5m
-- lookback: 30d
-- entities: identity, novelty
-- param min_history: 5 | successful sign-ins of the identity in the history before anything counts as new
-- allow_users: identity
-- allow_cidrs: src_ip
-- allow_asns: asn
-- description: A successful interactive sign-in from a country, or from an autonomous system,
--   that the identity has not signed in from since the history starts (30 days before the
--   evaluated range), after it had signed in at least `min_history` times (an identity without
--   a history has no usual place). novelty = `country:XX` or `asn:N`; the alert covers the
--   sign-ins with that novelty within an hour of the first. The history is the lake itself:
--   nothing to keep in memory, nothing lost on a restart, bounded by the lookback; and a
--   sign-in is new or not whatever range is evaluated, so a backtest and the live evaluation
--   agree. A first visit through the corporate VPN is not new when the VPN's networks are on
--   allow_cidrs.
WITH sign_ins AS (
    SELECT DISTINCT
        identity,
        metadata_uid,
        time,
        src_endpoint_location_country AS country,
        src_endpoint_as_number AS asn,
        src_endpoint_ip AS ip
    FROM identity_events
    WHERE status_id = 1
        AND zt_decision = 'allow'
        AND is_interactive
        AND identity IS NOT NULL
),
tagged AS (
    SELECT identity, metadata_uid, time, ip, asn, country, CONCAT('country:', country) AS novelty
    FROM sign_ins
    WHERE country IS NOT NULL
    UNION ALL
    SELECT identity, metadata_uid, time, ip, asn, country, CONCAT('asn:', CAST(asn AS VARCHAR)) AS novelty
    FROM sign_ins
    WHERE asn IS NOT NULL
),
firsts AS (
    SELECT identity, novelty, MIN(time) AS first_time
    FROM tagged
    GROUP BY identity, novelty
),
ranked AS (
    SELECT identity, time, ROW_NUMBER() OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS n
    FROM sign_ins
),
known AS (
    SELECT identity, MIN(time) AS known_since
    FROM ranked
    WHERE n = ${min_history}
    GROUP BY identity
)
SELECT
    f.identity,
    f.novelty,
    MIN(t.time) AS first_seen,
    MAX(t.time) AS last_seen,
    COUNT(DISTINCT t.metadata_uid) AS events,
    array_agg(DISTINCT t.metadata_uid) AS evidence,
    MAX(t.ip) AS src_ip,
    MAX(t.asn) AS asn,
    MAX(t.country) AS country,
    CONCAT(f.identity, ' signed in from ', f.novelty, ' for the first time in 30 days') AS summary
FROM firsts f
JOIN known k ON k.identity = f.identity
JOIN tagged t
    ON t.identity = f.identity
    AND t.novelty = f.novelty
    AND t.time >= f.first_time
    AND t.time < f.first_time + ${window}
WHERE f.first_time > k.known_since
    AND f.first_time >= (SELECT range_from FROM kpi_range)
GROUP BY f.identity, f.novelty
