-- view: edr_responses
-- description: Every detection (detection_finding) with the first containment that answers it,
--   if any. Containments are account_change rows of type host_contain, session_revoke, suspend
--   or deactivate that did not fail. One answers a detection when it happens at or after it and
--   names the finding (zt_related_finding_uid), isolates its host (same device_uid), or cuts off
--   its user (the detection's account name equals the changed account's name, login or login
--   before the @, ignoring case: EDR agents report Windows account names without a domain).
--   Redelivered rows count once, and so do the records of one finding (same finding_info_uid
--   from one source): the first is the detection. Columns: source, severity (OCSF name), metadata_uid (of the
--   detection), finding_info_uid, finding_info_title, device_uid, device_hostname, user_name,
--   detected_time; contained_time, contained_bucket, containment_uid, containment_source,
--   containment (the change type), contained_by and minutes — all null while uncontained.
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
    -- Findings that are not alerts (CloudTrail Insights: an unusual API rate) ask for no containment.
    WHERE is_alert IS DISTINCT FROM false
),
-- One detection per finding: sources that publish every update of a finding as a new record
-- (GuardDuty re-publishes on each aggregation, SentinelOne activities name their threat)
-- count it once, detected at its first record, at the highest severity any record gave it.
detections AS (
    SELECT
        source,
        first_value(metadata_uid ORDER BY time, metadata_uid) AS metadata_uid,
        MAX(finding_info_uid) AS finding_info_uid,
        first_value(finding_info_title ORDER BY time, metadata_uid) AS finding_info_title,
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
-- What each side can be matched on, as `kind:value` keys, so one equi-join (a hash join, not
-- a cross product) finds every answer.
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
-- The pairs stream into a per-detection aggregate (first containment by time, then id), so
-- memory grows with detections, not with pairs: a host contained many times over a day pairs
-- with each of its detections.
first_answer AS (
    SELECT
        d.metadata_uid AS detection_uid,
        first_value(c.metadata_uid ORDER BY c.time, c.metadata_uid) AS containment_uid
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
    CAST(CAST(a.time AS BIGINT) - CAST(d.detected_time AS BIGINT) AS DOUBLE) / 60000.0 AS minutes
FROM detections d
LEFT JOIN answered a ON a.detection_uid = d.metadata_uid
