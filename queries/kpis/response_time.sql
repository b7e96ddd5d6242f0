-- id: response_time
-- title: Time from detection to containment
-- unit: minutes
-- labels: source, severity
-- metrics: contained, mean_minutes, median_minutes, p90_minutes
-- totals: contained
-- lookback: 7d
-- description: Detections (detection_finding: EDR alerts) that were contained in the range, and
--   how long containment took. A detection is contained by the first containment action at or
--   after it (account_change: host_contain, session_revoke, suspend, deactivate; a failed
--   action does not count) that names the finding, isolates the detection's host (same
--   device_uid) or cuts off its user (the detection's account name equals the account's name,
--   login or login before the @ — EDR agents report Windows account names without a domain).
--   It counts in the bucket of the containment. contained = such detections; mean_minutes,
--   median_minutes, p90_minutes (nearest rank) = minutes from detection to containment.
--   Detections up to 7 days before the range are read, so a slow response is measured in full.
--   source = the product that raised the detection; severity = its OCSF severity name.
WITH detections AS (
    SELECT DISTINCT
        metadata_product_name AS source,
        metadata_uid,
        finding_info_uid,
        time AS detected_time,
        CASE severity_id
            WHEN 1 THEN 'informational'
            WHEN 2 THEN 'low'
            WHEN 3 THEN 'medium'
            WHEN 4 THEN 'high'
            WHEN 5 THEN 'critical'
            WHEN 6 THEN 'fatal'
            ELSE 'unknown'
        END AS severity,
        device_uid,
        lower(user_name) AS account
    FROM detection_finding
),
containments AS (
    SELECT DISTINCT
        metadata_uid,
        time,
        bucket,
        device_uid,
        zt_related_finding_uid,
        lower(user_name) AS account,
        lower(user_email_addr) AS login,
        lower(split_part(user_email_addr, '@', 1)) AS login_name
    FROM account_change
    WHERE zt_change_type IN ('host_contain', 'session_revoke', 'suspend', 'deactivate')
      AND status_id IS DISTINCT FROM 2
),
-- One equi-join per way a containment can answer a detection (hash joins, not a cross product).
answers AS (
    SELECT d.metadata_uid, c.time, c.bucket, c.metadata_uid AS containment_uid
    FROM detections d JOIN containments c ON c.zt_related_finding_uid = d.finding_info_uid
    WHERE c.time >= d.detected_time
    UNION ALL
    SELECT d.metadata_uid, c.time, c.bucket, c.metadata_uid
    FROM detections d JOIN containments c ON c.device_uid = d.device_uid
    WHERE c.time >= d.detected_time
    UNION ALL
    SELECT d.metadata_uid, c.time, c.bucket, c.metadata_uid
    FROM detections d JOIN containments c ON c.account = d.account
    WHERE c.time >= d.detected_time
    UNION ALL
    SELECT d.metadata_uid, c.time, c.bucket, c.metadata_uid
    FROM detections d JOIN containments c ON c.login = d.account
    WHERE c.time >= d.detected_time
    UNION ALL
    SELECT d.metadata_uid, c.time, c.bucket, c.metadata_uid
    FROM detections d JOIN containments c ON c.login_name = d.account
    WHERE c.time >= d.detected_time
),
first_answer AS (
    SELECT metadata_uid, time, bucket, containment_uid
    FROM (
        SELECT
            *,
            ROW_NUMBER() OVER (PARTITION BY metadata_uid ORDER BY time, containment_uid) AS nth
        FROM answers
    )
    WHERE nth = 1
),
responses AS (
    SELECT
        a.bucket AS time,
        d.source,
        d.severity,
        d.metadata_uid,
        CAST(CAST(a.time AS BIGINT) - CAST(d.detected_time AS BIGINT) AS DOUBLE) / 60000.0 AS minutes
    FROM detections d
    JOIN first_answer a ON a.metadata_uid = d.metadata_uid
    CROSS JOIN kpi_range
    WHERE a.time >= range_from
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
    MAX(CASE WHEN position = CEIL(0.9 * n) THEN minutes END) AS p90_minutes
FROM ranked
GROUP BY time, source, severity
ORDER BY time, source, severity

-- evidence
WITH detections AS (
    SELECT DISTINCT
        metadata_product_name AS source,
        metadata_uid,
        finding_info_uid,
        finding_info_title,
        time AS detected_time,
        CASE severity_id
            WHEN 1 THEN 'informational'
            WHEN 2 THEN 'low'
            WHEN 3 THEN 'medium'
            WHEN 4 THEN 'high'
            WHEN 5 THEN 'critical'
            WHEN 6 THEN 'fatal'
            ELSE 'unknown'
        END AS severity,
        device_uid,
        device_hostname,
        user_name,
        lower(user_name) AS account
    FROM detection_finding
),
containments AS (
    SELECT DISTINCT
        metadata_uid,
        metadata_product_name AS containment_source,
        time,
        zt_change_type,
        device_uid,
        zt_related_finding_uid,
        actor_user_name,
        lower(user_name) AS account,
        lower(user_email_addr) AS login,
        lower(split_part(user_email_addr, '@', 1)) AS login_name
    FROM account_change
    WHERE zt_change_type IN ('host_contain', 'session_revoke', 'suspend', 'deactivate')
      AND status_id IS DISTINCT FROM 2
),
answers AS (
    SELECT d.metadata_uid, c.time, c.metadata_uid AS containment_uid, c.containment_source, c.zt_change_type, c.actor_user_name
    FROM detections d JOIN containments c ON c.zt_related_finding_uid = d.finding_info_uid
    WHERE c.time >= d.detected_time
    UNION ALL
    SELECT d.metadata_uid, c.time, c.metadata_uid, c.containment_source, c.zt_change_type, c.actor_user_name
    FROM detections d JOIN containments c ON c.device_uid = d.device_uid
    WHERE c.time >= d.detected_time
    UNION ALL
    SELECT d.metadata_uid, c.time, c.metadata_uid, c.containment_source, c.zt_change_type, c.actor_user_name
    FROM detections d JOIN containments c ON c.account = d.account
    WHERE c.time >= d.detected_time
    UNION ALL
    SELECT d.metadata_uid, c.time, c.metadata_uid, c.containment_source, c.zt_change_type, c.actor_user_name
    FROM detections d JOIN containments c ON c.login = d.account
    WHERE c.time >= d.detected_time
    UNION ALL
    SELECT d.metadata_uid, c.time, c.metadata_uid, c.containment_source, c.zt_change_type, c.actor_user_name
    FROM detections d JOIN containments c ON c.login_name = d.account
    WHERE c.time >= d.detected_time
),
first_answer AS (
    SELECT *
    FROM (
        SELECT
            *,
            ROW_NUMBER() OVER (PARTITION BY metadata_uid ORDER BY time, containment_uid) AS nth
        FROM answers
    )
    WHERE nth = 1
)
SELECT DISTINCT
    a.time,
    d.source,
    d.severity,
    d.metadata_uid,
    d.finding_info_uid,
    d.finding_info_title,
    d.device_hostname,
    d.user_name,
    d.detected_time,
    a.containment_source,
    a.zt_change_type AS containment,
    a.actor_user_name AS contained_by,
    a.containment_uid,
    CAST(CAST(a.time AS BIGINT) - CAST(d.detected_time AS BIGINT) AS DOUBLE) / 60000.0 AS minutes
FROM detections d
JOIN first_answer a ON a.metadata_uid = d.metadata_uid
CROSS JOIN kpi_range
WHERE a.time >= range_from
ORDER BY time, metadata_uid
