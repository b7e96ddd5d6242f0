-- id: allowed_access_by_device_posture
-- title: Allowed access by device posture
-- unit: events
-- labels: source, device_posture
-- metrics: allowed, share
-- totals: allowed
-- description: Authentication events that were allowed, by the posture of the device they came
--   from as the source reports it: compliant (the source says compliant), non_compliant (managed
--   but not compliant), managed (managed; the source gives no compliance verdict, e.g. Okta),
--   unmanaged (the source says not managed), unknown (the source reports no device state).
--   share = the posture's part of all allowed events in the bucket across sources. Allowed
--   access from non_compliant and unmanaged devices is the leakage a device-trust policy
--   should drive to zero; the compliant share is the access the program can vouch for.
-- partial
SELECT
    bucket AS time,
    metadata_product_name AS source,
    CASE
        WHEN device_is_managed = false THEN 'unmanaged'
        WHEN device_is_compliant = true THEN 'compliant'
        WHEN device_is_compliant = false THEN 'non_compliant'
        WHEN device_is_managed = true THEN 'managed'
        ELSE 'unknown'
    END AS device_posture,
    COUNT(DISTINCT uid_key(metadata_uid)) AS allowed
FROM authentication
WHERE zt_decision = 'allow'
GROUP BY 1, 2, 3

-- final
SELECT
    time,
    source,
    device_posture,
    allowed,
    CAST(allowed AS DOUBLE) / SUM(allowed) OVER (PARTITION BY time) AS share
FROM partials
ORDER BY time, source, device_posture

-- evidence
SELECT DISTINCT
    time,
    metadata_product_name AS source,
    CASE
        WHEN device_is_managed = false THEN 'unmanaged'
        WHEN device_is_compliant = true THEN 'compliant'
        WHEN device_is_compliant = false THEN 'non_compliant'
        WHEN device_is_managed = true THEN 'managed'
        ELSE 'unknown'
    END AS device_posture,
    metadata_uid,
    user_name,
    device_uid,
    device_name,
    device_os_name,
    service_name,
    src_endpoint_ip
FROM authentication
WHERE zt_decision = 'allow'
ORDER BY time, metadata_uid
