-- id: response_time
-- title: Time from detection to containment
-- unit: minutes
-- labels: source, severity
-- metrics: contained, mean_minutes, median_minutes, p90_minutes
-- totals: contained
-- lookback: 7d
-- description: Detections (detection_finding: EDR alerts) contained in the range, and how long
--   containment took, from view edr_answers: a detection is contained by the first
--   containment at or after it (host_contain, session_revoke, suspend, deactivate; a failed
--   action does not count) that names the finding, isolates its host or cuts off its user. It
--   counts in the bucket of the containment. contained = such detections; mean_minutes,
--   median_minutes, p90_minutes (nearest rank) = minutes from detection to containment.
--   Detections up to 7 days before the range are read, so a slow response is measured in full.
--   source = the product that raised the detection; severity = its OCSF severity name.
WITH responses AS (
    SELECT contained_bucket AS time, source, severity, metadata_uid, minutes
    FROM edr_answers CROSS JOIN kpi_range
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
    COUNT(DISTINCT uid_key(metadata_uid)) AS contained,
    AVG(minutes) AS mean_minutes,
    MEDIAN(minutes) AS median_minutes,
    MAX(CASE WHEN position = CEIL(0.9 * n) THEN minutes END) AS p90_minutes
FROM ranked
GROUP BY time, source, severity
ORDER BY time, source, severity

-- evidence
SELECT DISTINCT
    contained_time AS time,
    source,
    severity,
    metadata_uid,
    finding_info_uid,
    finding_info_title,
    device_hostname,
    user_name,
    detected_time,
    containment_source,
    containment,
    contained_by,
    containment_uid,
    minutes
FROM edr_responses CROSS JOIN kpi_range
WHERE contained_time >= range_from
ORDER BY time, metadata_uid
