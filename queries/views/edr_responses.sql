-- view: edr_responses
-- description: Every detection (edr_detections: one per finding, alerts only) with the first
--   containment that answers it, if any (edr_answers: a containment at or after it that names
--   the finding, isolates its host or cuts off its user). Columns: source, severity (OCSF name),
--   metadata_uid (of the detection), finding_info_uid, finding_info_title, device_uid,
--   device_hostname, user_name, detected_time; contained_time, contained_bucket,
--   containment_uid, containment_source, containment (the change type), contained_by and
--   minutes — all null while uncontained.
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
    a.contained_time,
    a.contained_bucket,
    a.containment_uid,
    a.containment_source,
    a.containment,
    a.contained_by,
    a.minutes
FROM edr_detections d
LEFT JOIN edr_answers a
    ON a.metadata_uid = d.metadata_uid
    AND a.source = d.source
    AND a.severity = d.severity
    AND a.detected_time = d.detected_time
