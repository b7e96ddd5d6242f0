-- view: edr_answers
-- description: Every detection (edr_detections) a containment answers, with the first
--   containment that does: one that happens at or after the detection and shares a match key
--   with it (edr_detection_keys, edr_containment_keys: names the finding, isolates its host or
--   cuts off its user); the first by time, then metadata_uid. A detection is its metadata_uid,
--   source, severity and detected_time together: two findings whose first records share an id
--   (two products, or a record redelivered with a finding id it lacked) are answered apart.
--   Columns: metadata_uid, source, severity, detected_time (of the detection);
--   containment_uid, contained_time, contained_bucket, containment_source, containment (the
--   change type), contained_by and minutes (from detection to containment).
-- The first containment of each detection is found without forming every (detection,
-- containment) pair (a host contained hundreds of times a day pairs with each of its
-- detections): detections and containments share one timeline per match key, read newest
-- first; at a detection, the running minimum of the containments read so far (time and id
-- packed into one sortable string) is the first containment of that key at or after it. Only
-- the keys some containment has, and only detections no later than that key's last
-- containment, enter the timeline: a window partition per key is costly, and most detection
-- keys (a finding's own uid) are never named by a containment.
WITH latest_containment AS (
    SELECT match_key, MAX(time) AS latest
    FROM edr_containment_keys
    GROUP BY match_key
),
timeline AS (
    SELECT
        d.match_key,
        d.detected_time AS moment,
        d.metadata_uid AS detection_uid,
        d.source,
        d.severity,
        CAST(NULL AS VARCHAR) AS containment
    FROM edr_detection_keys d
    JOIN latest_containment l ON l.match_key = d.match_key
    WHERE d.detected_time <= l.latest
    UNION ALL
    SELECT
        match_key,
        time AS moment,
        NULL AS detection_uid,
        NULL AS source,
        NULL AS severity,
        -- 4e18 + epoch ms has 19 digits for any time within 95 million years of 1970, so
        -- the string order is the time order.
        CAST(CAST(time AS BIGINT) + 4000000000000000000 AS VARCHAR) || metadata_uid AS containment
    FROM edr_containment_keys
),
next_containment AS (
    SELECT
        detection_uid,
        source,
        severity,
        moment,
        MIN(containment) OVER (
            PARTITION BY match_key ORDER BY moment DESC
            -- Peers included: a containment at the detection's instant answers it.
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS containment
    FROM timeline
),
first_answer AS (
    SELECT
        detection_uid,
        source,
        severity,
        moment AS detected_time,
        substr(MIN(containment), 20) AS containment_uid
    FROM next_containment
    WHERE detection_uid IS NOT NULL AND containment IS NOT NULL
    GROUP BY detection_uid, source, severity, moment
)
SELECT
    a.detection_uid AS metadata_uid,
    a.source,
    a.severity,
    a.detected_time,
    c.metadata_uid AS containment_uid,
    c.time AS contained_time,
    c.bucket AS contained_bucket,
    c.containment_source,
    c.zt_change_type AS containment,
    c.actor_user_name AS contained_by,
    CAST(CAST(c.time AS BIGINT) - CAST(a.detected_time AS BIGINT) AS DOUBLE) / 60000.0 AS minutes
FROM first_answer a
JOIN edr_containments c ON c.metadata_uid = a.containment_uid
