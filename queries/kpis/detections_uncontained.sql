-- id: detections_uncontained
-- title: Detections not yet contained
-- unit: detections
-- labels: source, severity
-- metrics: open, median_age_hours, max_age_hours
-- totals: open
-- lookback: 7d
-- description: Detections (detection_finding) raised up to 7 days before the range or within
--   it that no containment answered by the end of the range (the pairing rule of
--   response_time, views edr_detection_keys and edr_containment_keys), with their age (end of
--   range − detection time). Reported once, in the range's last bucket: it is the state at
--   the end of the range, the other half of response_time — a response that never happened
--   has no minutes to average, so without this count a slow SOC looks fast. open = such
--   detections; median_age_hours, max_age_hours = how long they have waited. A detection older
--   than the lookback no longer counts.
--   source = the product that raised the detection; severity = its OCSF severity name.
WITH latest_containment AS (
    SELECT match_key, MAX(time) AS latest
    FROM edr_containment_keys
    GROUP BY match_key
),
-- Open: none of the detection's match keys has a containment at or after it (edr_answers'
-- rule without its timeline: the last containment of each key decides).
uncontained AS (
    SELECT k.source, k.severity, k.metadata_uid, k.detected_time
    FROM edr_detection_keys k
    LEFT JOIN latest_containment l ON l.match_key = k.match_key AND l.latest >= k.detected_time
    GROUP BY k.source, k.severity, k.metadata_uid, k.detected_time
    HAVING COUNT(l.latest) = 0
),
open_detections AS (
    SELECT
        last_bucket AS time,
        source,
        severity,
        metadata_uid,
        CAST(CAST(range_to AS BIGINT) - CAST(detected_time AS BIGINT) AS DOUBLE) / 3600000.0 AS age_hours
    FROM uncontained CROSS JOIN kpi_range
)
SELECT
    time,
    source,
    severity,
    COUNT(DISTINCT uid_key(metadata_uid)) AS open,
    MEDIAN(age_hours) AS median_age_hours,
    MAX(age_hours) AS max_age_hours
FROM open_detections
GROUP BY time, source, severity
ORDER BY time, source, severity

-- evidence
SELECT DISTINCT
    detected_time AS time,
    source,
    severity,
    metadata_uid,
    finding_info_uid,
    finding_info_title,
    device_uid,
    device_hostname,
    user_name,
    CAST(CAST(range_to AS BIGINT) - CAST(detected_time AS BIGINT) AS DOUBLE) / 3600000.0 AS age_hours
FROM edr_responses CROSS JOIN kpi_range
WHERE contained_time IS NULL
ORDER BY time, metadata_uid
