-- id: service_account_anomaly
-- title: Service account used interactively or from a new network
-- severity: high
-- mitre: T1078.004
-- window: 1h
-- schedule: 5m
-- lookback: 30d
-- entities: account, reason
-- param min_history: 3 | allowed sign-ins of the account in the history before a network counts as new
-- allow_users: account
-- allow_cidrs: src_ip
-- description: A service account (user_type_id 4: the source says so or the login matches
--   site.service_account_patterns) signs in from a network (IPv4 /24, IPv6 address) it has not
--   used in the 30 days before, having signed in at least `min_history` times in those days —
--   a leaked credential used from elsewhere (reason new_network; the alert covers that
--   network's sign-ins within an hour of the first); or logs
--   on to a machine interactively (endpoint logon types 2, 10, 11 or an Entra interactive
--   sign-in) — a person is using the account (reason interactive). Okta reports every SSO
--   session as interactive, so Okta sign-ins count only for the new-network reason (the
--   service_account_activity KPI counts them).
WITH sign_ins AS (
    SELECT DISTINCT
        identity AS account,
        metadata_uid,
        time,
        src_endpoint_ip AS ip,
        CASE
            WHEN src_endpoint_ip LIKE '%.%.%.%' THEN regexp_replace(src_endpoint_ip, '\.[0-9]+$', '.0/24')
            ELSE src_endpoint_ip
        END AS network,
        COALESCE(logon_type_id IN (2, 10, 11) OR zt_signin_category = 'interactive', false) AS interactive
    FROM identity_events
    WHERE user_type_id = 4 AND zt_decision = 'allow' AND identity IS NOT NULL
),
judged AS (
    SELECT
        *,
        COUNT(*) OVER (PARTITION BY account ORDER BY time
            RANGE BETWEEN INTERVAL '30 days' PRECEDING AND CURRENT ROW) - 1 AS prior,
        LAG(time) OVER (PARTITION BY account, network ORDER BY time, metadata_uid) AS previous
    FROM sign_ins
),
novel AS (
    SELECT account, network, time AS first_time
    FROM judged
    WHERE network IS NOT NULL
        AND (previous IS NULL OR time - previous > INTERVAL '30 days')
        AND prior >= ${min_history}
        AND time >= (SELECT range_from FROM kpi_range)
),
findings AS (
    SELECT s.account, 'new_network' AS reason, n.first_time AS since, s.metadata_uid, s.time, s.ip, s.network
    FROM novel n
    JOIN sign_ins s
        ON s.account = n.account
        AND s.network = n.network
        AND s.time >= n.first_time
        AND s.time < n.first_time + ${window}
    UNION ALL
    SELECT account, 'interactive' AS reason,
        date_bin(${window}, time, TIMESTAMP '1970-01-01T00:00:00') AS since,
        metadata_uid, time, ip, network
    FROM sign_ins
    WHERE interactive AND time >= (SELECT range_from FROM kpi_range)
)
SELECT
    account,
    reason,
    MIN(time) AS first_seen,
    MAX(time) AS last_seen,
    COUNT(DISTINCT metadata_uid) AS events,
    array_agg(DISTINCT metadata_uid) AS evidence,
    MAX(ip) AS src_ip,
    MAX(network) AS network,
    CONCAT(account, CASE WHEN reason = 'interactive' THEN ' logged on interactively' ELSE CONCAT(' signed in from new network ', MAX(network)) END) AS summary
FROM findings
GROUP BY account, reason, since
