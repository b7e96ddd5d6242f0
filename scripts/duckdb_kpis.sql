-- DuckDB translations of ztlens KPIs, for scripts/duckdb_yardstick.py.
--
-- Each section starts with `-- view: NAME` (a derived view, created once) or `-- kpi: ID` (the
-- KPI statement, timed and compared with `ztlens kpi ID --format json`). The script reads the
-- sections in order; comment lines are kept as they are.
--
-- What the script provides, as ztlens's engine does (analytics/src/engine.rs, register_tables):
-- - a view per lake table (authentication, network_activity, http_activity, device_state,
--   detection_finding, account_change, base_event) over LAKE/<table>/date=*/hour=*/*.parquet
--   with the rows whose `time` is in [from - lookback, to) (the date partitions pruned the same
--   way), plus `bucket` = date_bin(step, time, from) computed in epoch milliseconds (floor
--   division, so rows of the lookback get the buckets before `from`, as date_bin gives them);
--   re-created for each KPI with the `-- lookback:` of its queries/kpis/<id>.sql header;
-- - kpi_range(range_from, range_to, last_bucket);
-- - dead_letters(time, source, origin, kind, reason, raw_len, bucket): the dead-letter store's
--   NDJSON (LAKE/_dead_letter/date=*/*.ndjson) refused in [from - lookback, to);
-- - service_account_inventory(account, account_key, owner, credential_rotated_time,
--   max_credential_age_days), read from the dataset's ztlens.toml [inventory] and its CSV.
--
-- Differences from the DataFusion SQL that every translation shares:
-- - `CAST(ts AS BIGINT)` (DataFusion: the epoch milliseconds of a millisecond timestamp) is
--   `epoch_ms(ts)`: DuckDB cannot cast a timestamp to an integer;
-- - `first_value(x ORDER BY …)` as an aggregate is DuckDB's `first(x ORDER BY …)`;
-- - decimal literals such as `0.9` are DECIMAL in DuckDB and DOUBLE in DataFusion: where the
--   literal meets an integer (p90's rank) it is cast to DOUBLE, so the arithmetic is the same.
-- Everything else, including COUNT(DISTINCT metadata_uid) (redelivered rows share their
-- metadata_uid), is the same text as queries/kpis/<id>.sql and queries/views/<name>.sql.

-- view: identity_events
-- As queries/views/identity_events.sql.
CREATE OR REPLACE VIEW identity_events AS
SELECT
    *,
    lower(split_part(split_part(COALESCE(NULLIF(user_email_addr, ''), user_name), '@', 1), '\', -1)) AS identity
FROM authentication;

-- view: mfa_steps
-- As queries/views/mfa_steps.sql.
CREATE OR REPLACE VIEW mfa_steps AS
SELECT
    *,
    CASE
        WHEN zt_decision = 'challenge_mfa' THEN 'challenge'
        WHEN zt_decision = 'allow' THEN 'success'
        WHEN zt_decision IN ('mfa_failed', 'mfa_denied') THEN 'failure'
        ELSE 'other'
    END AS mfa_outcome,
    CASE
        WHEN auth_factor_type_id IN (4, 6, 9, 10) THEN 'phishing_resistant'
        WHEN auth_factor_type_id = 5 THEN 'push'
        WHEN auth_factor_type_id = 7 THEN 'otp'
        WHEN auth_factor_type_id IN (1, 3) THEN 'sms_voice'
        WHEN auth_factor_type_id = 8 THEN 'email'
        WHEN auth_factor_type_id IS NULL OR auth_factor_type_id = 0 THEN 'unknown'
        ELSE 'other'
    END AS factor_class
FROM identity_events
WHERE is_mfa OR zt_decision = 'challenge_mfa';

-- view: edr_responses
-- As queries/views/edr_responses.sql, with `first(… ORDER BY …)` for DataFusion's ordered
-- `first_value` aggregate and `epoch_ms` for the casts of timestamps to BIGINT.
CREATE OR REPLACE VIEW edr_responses AS
WITH versions AS (
    SELECT DISTINCT
        metadata_product_name AS source,
        metadata_uid,
        COALESCE(finding_info_uid, metadata_uid) AS finding_key,
        finding_info_uid,
        finding_info_title,
        time,
        severity_id,
        device_uid,
        device_hostname,
        user_name
    FROM detection_finding
    WHERE is_alert IS DISTINCT FROM false
),
detections AS (
    SELECT
        source,
        first(metadata_uid ORDER BY time, metadata_uid) AS metadata_uid,
        MAX(finding_info_uid) AS finding_info_uid,
        first(finding_info_title ORDER BY time, metadata_uid) AS finding_info_title,
        MIN(time) AS detected_time,
        CASE MAX(severity_id)
            WHEN 1 THEN 'informational'
            WHEN 2 THEN 'low'
            WHEN 3 THEN 'medium'
            WHEN 4 THEN 'high'
            WHEN 5 THEN 'critical'
            WHEN 6 THEN 'fatal'
            ELSE 'unknown'
        END AS severity,
        MAX(device_uid) AS device_uid,
        MAX(device_hostname) AS device_hostname,
        MAX(user_name) AS user_name
    FROM versions
    GROUP BY source, finding_key
),
containments AS (
    SELECT DISTINCT
        metadata_uid,
        metadata_product_name AS containment_source,
        time,
        bucket,
        zt_change_type,
        actor_user_name,
        device_uid,
        zt_related_finding_uid,
        user_name,
        user_email_addr
    FROM account_change
    WHERE zt_change_type IN ('host_contain', 'session_revoke', 'suspend', 'deactivate')
      AND status_id IS DISTINCT FROM 2
),
detection_keys AS (
    SELECT metadata_uid, detected_time, 'finding:' || finding_info_uid AS match_key FROM detections
    UNION ALL
    SELECT metadata_uid, detected_time, 'device:' || device_uid FROM detections
    UNION ALL
    SELECT metadata_uid, detected_time, 'account:' || lower(user_name) FROM detections
),
containment_keys AS (
    SELECT metadata_uid, 'finding:' || zt_related_finding_uid AS match_key FROM containments
    UNION ALL
    SELECT metadata_uid, 'device:' || device_uid FROM containments
    UNION ALL
    SELECT metadata_uid, 'account:' || lower(user_name) FROM containments
    UNION ALL
    SELECT metadata_uid, 'account:' || lower(user_email_addr) FROM containments
    UNION ALL
    SELECT metadata_uid, 'account:' || lower(split_part(user_email_addr, '@', 1)) FROM containments
),
first_answer AS (
    SELECT
        d.metadata_uid AS detection_uid,
        first(c.metadata_uid ORDER BY c.time, c.metadata_uid) AS containment_uid
    FROM detection_keys d
    JOIN containment_keys k ON k.match_key = d.match_key
    JOIN containments c ON c.metadata_uid = k.metadata_uid
    WHERE c.time >= d.detected_time
    GROUP BY d.metadata_uid
),
answered AS (
    SELECT
        a.detection_uid,
        c.metadata_uid AS containment_uid,
        c.time,
        c.bucket,
        c.containment_source,
        c.zt_change_type,
        c.actor_user_name
    FROM first_answer a
    JOIN containments c ON c.metadata_uid = a.containment_uid
)
SELECT
    d.source,
    d.severity,
    d.metadata_uid,
    d.finding_info_uid,
    d.finding_info_title,
    d.device_uid,
    d.device_hostname,
    d.user_name,
    d.detected_time,
    a.time AS contained_time,
    a.bucket AS contained_bucket,
    a.containment_uid,
    a.containment_source,
    a.zt_change_type AS containment,
    a.actor_user_name AS contained_by,
    CAST(epoch_ms(a.time) - epoch_ms(d.detected_time) AS DOUBLE) / 60000.0 AS minutes
FROM detections d
LEFT JOIN answered a ON a.detection_uid = d.metadata_uid;

-- kpi: mfa_outcomes_by_country
-- Same text as queries/kpis/mfa_outcomes_by_country.sql (over the mfa_steps view above).
SELECT
    time,
    country,
    success,
    failure,
    challenge,
    CAST(failure AS DOUBLE) / NULLIF(success + failure, 0) AS failure_rate
FROM (
    SELECT
        bucket AS time,
        COALESCE(src_endpoint_location_country, 'unknown') AS country,
        COUNT(DISTINCT CASE WHEN mfa_outcome = 'success' THEN metadata_uid END) AS success,
        COUNT(DISTINCT CASE WHEN mfa_outcome = 'failure' THEN metadata_uid END) AS failure,
        COUNT(DISTINCT CASE WHEN mfa_outcome = 'challenge' THEN metadata_uid END) AS challenge
    FROM mfa_steps
    GROUP BY 1, 2
)
ORDER BY time, country;

-- kpi: blocked_lateral_movement
-- Same text as queries/kpis/blocked_lateral_movement.sql.
SELECT
    bucket AS time,
    zt_segment_src AS segment_src,
    zt_segment_dst AS segment_dst,
    COUNT(DISTINCT metadata_uid) AS blocked,
    COUNT(DISTINCT CASE WHEN zt_port_class = 'admin' THEN metadata_uid END) AS blocked_admin_port
FROM network_activity
WHERE zt_is_lateral AND disposition_id = 2
GROUP BY 1, 2, 3
ORDER BY time, segment_src, segment_dst;

-- kpi: high_privilege_access_failures
-- Same text as queries/kpis/high_privilege_access_failures.sql.
SELECT time, source, target, COUNT(DISTINCT metadata_uid) AS failures
FROM (
    SELECT bucket AS time, metadata_product_name AS source, COALESCE(service_name, 'unknown') AS target, metadata_uid
    FROM authentication
    WHERE zt_privileged_target AND status_id = 2
    UNION ALL
    SELECT bucket AS time, metadata_product_name AS source, COALESCE(zt_privileged_prefix, 'unknown') AS target, metadata_uid
    FROM http_activity
    WHERE zt_privileged_target AND http_response_code IN (401, 403)
)
GROUP BY 1, 2, 3
ORDER BY time, source, target;

-- kpi: access_decisions
-- Same text as queries/kpis/access_decisions.sql (DuckDB's SUM of BIGINT is a HUGEINT; the
-- division by it is still DOUBLE).
SELECT
    time,
    source,
    decision,
    events,
    CAST(events AS DOUBLE) / SUM(events) OVER (PARTITION BY time) AS share
FROM (
    SELECT
        bucket AS time,
        metadata_product_name AS source,
        zt_decision AS decision,
        COUNT(DISTINCT metadata_uid) AS events
    FROM authentication
    WHERE zt_decision IS NOT NULL
    GROUP BY 1, 2, 3
)
ORDER BY time, source, decision;

-- kpi: telemetry_health
-- As queries/kpis/telemetry_health.sql, with two differences:
-- - `MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))` is written with
--   epoch_ms;
-- - DataFusion's median of a BIGINT column is a BIGINT: of an even count, the two middle values
--   added and divided by 2 in integer arithmetic (truncated). DuckDB's median of a BIGINT is
--   the DOUBLE mean of the two, so it is truncated here to give the same value.
WITH firsts AS (
    SELECT bucket, metadata_product_name AS source, metadata_uid,
           MIN(epoch_ms(metadata_processed_time)) - MIN(epoch_ms(time)) AS lag_ms
    FROM authentication GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(epoch_ms(metadata_processed_time)) - MIN(epoch_ms(time))
    FROM network_activity GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(epoch_ms(metadata_processed_time)) - MIN(epoch_ms(time))
    FROM http_activity GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(epoch_ms(metadata_processed_time)) - MIN(epoch_ms(time))
    FROM device_state GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(epoch_ms(metadata_processed_time)) - MIN(epoch_ms(time))
    FROM account_change GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(epoch_ms(metadata_processed_time)) - MIN(epoch_ms(time))
    FROM detection_finding GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(epoch_ms(metadata_processed_time)) - MIN(epoch_ms(time))
    FROM base_event GROUP BY 1, 2, 3
),
unmapped AS (
    SELECT bucket AS time, metadata_product_name AS source,
           COUNT(DISTINCT metadata_uid) AS unmapped_events
    FROM base_event
    GROUP BY 1, 2
),
events AS (
    SELECT
        bucket AS time,
        source,
        COUNT(metadata_uid) AS events,
        CAST(trunc(median(lag_ms)) AS DOUBLE) / 1000.0 AS lag_median_s,
        CAST(MAX(lag_ms) AS DOUBLE) / 1000.0 AS lag_max_s
    FROM firsts
    GROUP BY 1, 2
),
refused AS (
    SELECT time, source, COUNT(origin) AS dead_letters
    FROM (
        SELECT MIN(bucket) AS time, source, origin
        FROM dead_letters
        GROUP BY source, origin
    )
    GROUP BY 1, 2
)
SELECT
    COALESCE(e.time, r.time) AS time,
    COALESCE(e.source, r.source) AS source,
    COALESCE(e.events, 0) AS events,
    e.lag_median_s,
    e.lag_max_s,
    COALESCE(r.dead_letters, 0) AS dead_letters,
    CAST(COALESCE(r.dead_letters, 0) AS DOUBLE)
        / (COALESCE(e.events, 0) + COALESCE(r.dead_letters, 0)) AS dead_letter_rate,
    COALESCE(u.unmapped_events, 0) AS unmapped_events
FROM events e
FULL OUTER JOIN refused r ON e.time = r.time AND e.source = r.source
LEFT JOIN unmapped u ON e.time = u.time AND e.source = u.source
ORDER BY time, source;

-- kpi: response_time
-- As queries/kpis/response_time.sql (over the edr_responses view above), with the p90 rank's
-- literal cast to DOUBLE (`CEIL(0.9 * n)` is DOUBLE arithmetic in DataFusion).
WITH responses AS (
    SELECT contained_bucket AS time, source, severity, metadata_uid, minutes
    FROM edr_responses CROSS JOIN kpi_range
    WHERE contained_time >= range_from
),
ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY time, source, severity ORDER BY minutes, metadata_uid) AS position,
        COUNT(metadata_uid) OVER (PARTITION BY time, source, severity) AS n
    FROM responses
)
SELECT
    time,
    source,
    severity,
    COUNT(DISTINCT metadata_uid) AS contained,
    AVG(minutes) AS mean_minutes,
    MEDIAN(minutes) AS median_minutes,
    MAX(CASE WHEN position = CEIL(CAST(0.9 AS DOUBLE) * n) THEN minutes END) AS p90_minutes
FROM ranked
GROUP BY time, source, severity
ORDER BY time, source, severity;

-- kpi: service_account_hygiene
-- As queries/kpis/service_account_hygiene.sql, with epoch_ms for the casts of timestamps to
-- BIGINT. (DuckDB's greatest() skips NULLs as DataFusion's does.)
WITH accounts AS (
    SELECT account_key, account, owner, credential_rotated_time, max_credential_age_days
    FROM service_account_inventory
),
sign_ins AS (
    SELECT DISTINCT
        lower(COALESCE(user_email_addr, user_name)) AS account_key,
        metadata_uid,
        time
    FROM authentication
    WHERE zt_decision = 'allow'
        AND COALESCE(user_email_addr, user_name) IS NOT NULL
        AND (user_type_id = 4
            OR lower(COALESCE(user_email_addr, user_name)) IN (SELECT account_key FROM accounts))
),
activity AS (
    SELECT
        s.account_key,
        COUNT(DISTINCT CASE WHEN s.time >= r.range_from THEN s.metadata_uid END) AS sign_ins,
        MAX(s.time) AS last_sign_in
    FROM sign_ins s CROSS JOIN kpi_range r
    GROUP BY s.account_key
),
account_keys AS (
    SELECT account_key FROM accounts
    UNION
    SELECT account_key FROM activity
),
rotations AS (
    SELECT k.account_key, MAX(c.time) AS rotated
    FROM account_keys k
    JOIN account_change c
        ON lower(COALESCE(c.user_email_addr, c.user_name)) = k.account_key
        OR lower(c.user_name) = split_part(k.account_key, '@', 1)
    WHERE c.zt_change_type IN ('credential_rotation', 'password_change', 'password_reset')
        AND c.status_id = 1
    GROUP BY k.account_key
),
state AS (
    SELECT
        r.last_bucket AS time,
        COALESCE(a.account, k.account_key) AS account,
        COALESCE(a.owner, 'unowned') AS owner,
        COALESCE(act.sign_ins, 0) AS sign_ins,
        act.last_sign_in,
        greatest(a.credential_rotated_time, rot.rotated) AS rotated,
        a.max_credential_age_days,
        a.account_key IS NOT NULL AS inventoried,
        r.range_to
    FROM account_keys k
    LEFT JOIN accounts a ON a.account_key = k.account_key
    LEFT JOIN activity act ON act.account_key = k.account_key
    LEFT JOIN rotations rot ON rot.account_key = k.account_key
    CROSS JOIN kpi_range r
)
SELECT
    time,
    account,
    owner,
    sign_ins,
    CAST(epoch_ms(range_to) - epoch_ms(last_sign_in) AS DOUBLE) / 86400000.0 AS days_since_sign_in,
    CASE WHEN last_sign_in IS NULL OR last_sign_in < range_to - INTERVAL '30 days' THEN 1 ELSE 0 END AS dormant,
    CAST(epoch_ms(range_to) - epoch_ms(rotated) AS DOUBLE) / 86400000.0 AS credential_age_days,
    CASE
        WHEN NOT inventoried OR rotated IS NULL THEN 1
        WHEN epoch_ms(range_to) - epoch_ms(rotated) > CAST(max_credential_age_days AS BIGINT) * 86400000 THEN 1
        ELSE 0
    END AS rotation_overdue,
    CASE WHEN inventoried THEN 1 ELSE 0 END AS inventoried
FROM state
ORDER BY time, account;
