-- id: sensitive_app_unmanaged_device
-- title: Sensitive application reached from an unmanaged or non-compliant device
-- severity: medium
-- mitre: T1078
-- window: 1h
-- schedule: 1m
-- entities: identity, app
-- allow_users: identity
-- allow_apps: app
-- allow_cidrs: src_ip
-- description: A sign-in to an application the site marks as highly sensitive (site.apps with
--   sensitivity high) was allowed although the source reported the device as unmanaged or not
--   compliant: a gap in the device-posture policy, or a policy exception being used. One alert
--   per identity and application; further sign-ins extend it. Devices whose posture the source
--   does not report never match (the allowed_access_by_device_posture KPI counts them).
SELECT
    identity,
    zt_app_id AS app,
    MIN(time) AS first_seen,
    MAX(time) AS last_seen,
    COUNT(DISTINCT metadata_uid) AS events,
    array_agg(DISTINCT metadata_uid) AS evidence,
    MAX(src_endpoint_ip) AS src_ip,
    MAX(device_name) AS device_name,
    bool_or(device_is_managed = false) AS unmanaged,
    bool_or(device_is_compliant = false) AS noncompliant,
    CONCAT(identity, ' reached ', zt_app_id, ' from ',
        CASE WHEN bool_or(device_is_managed = false) THEN 'an unmanaged' ELSE 'a non-compliant' END,
        ' device') AS summary
FROM identity_events
WHERE zt_decision = 'allow'
    AND zt_app_sensitivity = 'high'
    AND zt_app_id IS NOT NULL
    AND identity IS NOT NULL
    AND (device_is_managed = false OR device_is_compliant = false)
GROUP BY identity, zt_app_id, date_bin(${window}, time, TIMESTAMP '1970-01-01T00:00:00')
