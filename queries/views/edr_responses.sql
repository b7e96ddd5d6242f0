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
-- No DISTINCT over the versions: a redelivered row repeats its version, which changes none of
-- the aggregates below (MIN, MAX, first_value), and the DISTINCT over ten columns cost more than
-- the aggregation itself.
WITH versions AS (
    SELECT
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
-- What each side can be matched on, as `kind:value` keys, one row per key (a detection or
-- containment is read once here: DataFusion computes a CTE again at every reference).
detection_keys AS (
    SELECT
        d.metadata_uid,
        d.detected_time,
        CASE k.kind
            WHEN 'finding' THEN 'finding:' || d.finding_info_uid
            WHEN 'device' THEN 'device:' || d.device_uid
            ELSE 'account:' || lower(d.user_name)
        END AS match_key
    FROM detections d
    CROSS JOIN (VALUES ('finding'), ('device'), ('account')) AS k(kind)
),
containment_keys AS (
    SELECT
        c.metadata_uid,
        c.time,
        CASE k.kind
            WHEN 'finding' THEN 'finding:' || c.zt_related_finding_uid
            WHEN 'device' THEN 'device:' || c.device_uid
            WHEN 'name' THEN 'account:' || lower(c.user_name)
            WHEN 'email' THEN 'account:' || lower(c.user_email_addr)
            ELSE 'account:' || lower(split_part(c.user_email_addr, '@', 1))
        END AS match_key
    FROM containments c
    CROSS JOIN (VALUES ('finding'), ('device'), ('name'), ('email'), ('login')) AS k(kind)
),
-- The first containment of each detection, by time then id, without forming every
-- (detection, containment) pair (a host contained hundreds of times a day pairs with each of its
-- detections): detections and containments share one timeline per match key, read newest
-- first; at a detection, the running minimum of the containments read so far (time and id
-- packed into one sortable string) is the first containment of that key at or after it.
timeline AS (
    SELECT match_key, detected_time AS moment, metadata_uid AS detection_uid,
        CAST(NULL AS VARCHAR) AS containment
    FROM detection_keys
    WHERE match_key IS NOT NULL
    UNION ALL
    SELECT match_key, time AS moment, NULL AS detection_uid,
        -- 1e14 + epoch ms has 15 digits for any time from year -1100 to 30000, so the
        -- string order is the time order.
        CAST(CAST(time AS BIGINT) + 100000000000000 AS VARCHAR) || metadata_uid AS containment
    FROM containment_keys
    WHERE match_key IS NOT NULL
),
next_containment AS (
    SELECT
        detection_uid,
        MIN(containment) OVER (
            PARTITION BY match_key ORDER BY moment DESC
            -- Peers included: a containment at the detection's instant answers it.
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS containment
    FROM timeline
),
first_answer AS (
    SELECT detection_uid, substr(MIN(containment), 16) AS containment_uid
    FROM next_containment
    WHERE detection_uid IS NOT NULL AND containment IS NOT NULL
    GROUP BY detection_uid
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
