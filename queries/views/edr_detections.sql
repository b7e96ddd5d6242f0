-- view: edr_detections
-- description: Every detection (detection_finding), one row per finding. Findings that are not
--   alerts (is_alert false: CloudTrail Insights, an unusual API rate) ask for no containment and
--   are left out. Sources that publish every update of a finding as a new record (GuardDuty
--   re-publishes on each aggregation, SentinelOne activities name their threat) count it once:
--   the records of one finding (same finding_info_uid from one source; a record without one is
--   a finding of its own) are one detection, detected at its first record (by time, then
--   metadata_uid), with that record's metadata_uid and title, at the highest severity any record
--   gave it (OCSF name). Redelivered rows count once. Columns: source, metadata_uid,
--   finding_info_uid, finding_info_title, detected_time, severity, device_uid, device_hostname,
--   user_name (the largest value any record gave, for the last four).
-- No DISTINCT over the versions: a redelivered row repeats its version, which changes none of
-- the aggregates (MIN, MAX), and a DISTINCT over ten columns cost more than the aggregation.
-- The first record's id and title are string minimums of the record's time (19 digits: 4e18 +
-- epoch ms, so the string order is the time order within 95 million years of 1970) followed by
-- its id — and, for the title, the id in hexadecimal (no space in it, so the first space ends
-- it and a shorter id still sorts first), a space, then `+title` or `-` for none: the same rows
-- as `first_value(… ORDER BY time, metadata_uid)` at half its cost (metadata_uid and time are
-- never null).
WITH versions AS (
    SELECT
        metadata_product_name AS source,
        metadata_uid,
        COALESCE(finding_info_uid, metadata_uid) AS finding_key,
        finding_info_uid,
        finding_info_title,
        CAST(CAST(time AS BIGINT) + 4000000000000000000 AS VARCHAR) AS moment,
        time,
        severity_id,
        device_uid,
        device_hostname,
        user_name
    FROM detection_finding
    WHERE is_alert IS DISTINCT FROM false
),
per_finding AS (
    SELECT
        source,
        MIN(moment || metadata_uid) AS first_record,
        MIN(moment || encode(metadata_uid, 'hex') || ' '
            || COALESCE('+' || finding_info_title, '-')) AS first_title,
        MAX(finding_info_uid) AS finding_info_uid,
        MIN(time) AS detected_time,
        MAX(severity_id) AS severity_id,
        MAX(device_uid) AS device_uid,
        MAX(device_hostname) AS device_hostname,
        MAX(user_name) AS user_name
    FROM versions
    GROUP BY source, finding_key
)
SELECT
    source,
    substr(first_record, 20) AS metadata_uid,
    finding_info_uid,
    CASE WHEN substr(first_title, strpos(first_title, ' ') + 1, 1) = '+'
        THEN substr(first_title, strpos(first_title, ' ') + 2)
    END AS finding_info_title,
    detected_time,
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
    user_name
FROM per_finding
