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
--   that the identity has not signed in from in the 30 days before it, when it signed in at
--   least `min_history` times in those 30 days (an identity without a history has no usual
--   place). novelty = `country:XX` or `asn:N`; the alert covers the sign-ins with that novelty
--   within an hour of the first. The history is the lake itself: nothing to keep in memory,
--   nothing lost on a restart, bounded by the lookback; and each sign-in is judged against the
--   30 days before it, whatever range is evaluated, so a backtest and the live evaluation
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
history AS (
    -- Sign-ins of the identity in the 30 days before each one.
    SELECT
        identity,
        metadata_uid,
        COUNT(*) OVER (PARTITION BY identity ORDER BY time
            RANGE BETWEEN INTERVAL '30 days' PRECEDING AND CURRENT ROW) - 1 AS prior
    FROM sign_ins
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
spaced AS (
    SELECT
        *,
        LAG(time) OVER (PARTITION BY identity, novelty ORDER BY time, metadata_uid) AS previous
    FROM tagged
),
novel AS (
    SELECT s.identity, s.novelty, s.time AS first_time
    FROM spaced s
    JOIN history h ON h.identity = s.identity AND h.metadata_uid = s.metadata_uid
    WHERE (s.previous IS NULL OR s.time - s.previous > INTERVAL '30 days')
        AND h.prior >= ${min_history}
        AND s.time >= (SELECT range_from FROM kpi_range)
)
SELECT
    n.identity,
    n.novelty,
    MIN(t.time) AS first_seen,
    MAX(t.time) AS last_seen,
    COUNT(DISTINCT t.metadata_uid) AS events,
    array_agg(DISTINCT t.metadata_uid) AS evidence,
    MAX(t.ip) AS src_ip,
    MAX(t.asn) AS asn,
    MAX(t.country) AS country,
    CONCAT(n.identity, ' signed in from ', n.novelty, ' for the first time in 30 days') AS summary
FROM novel n
JOIN tagged t
    ON t.identity = n.identity
    AND t.novelty = n.novelty
    AND t.time >= n.first_time
    AND t.time < n.first_time + ${window}
GROUP BY n.identity, n.novelty, n.first_time
