-- view: device_compliance_intervals
-- description: Device compliance as intervals (slowly changing dimension), built from the
--   check-ins in device_state that carry a compliance verdict. Per source and device, an
--   interval starts at a check-in whose verdict differs from the one before (or at the first
--   check-in seen) and ends where the next one starts (end_time null: still open at the end of
--   the rows read). Redelivered check-ins count once. Columns: source, device_uid,
--   device_hostname, device_owner_uid, platform, compliant, opening_state, grace_until (of the
--   opening check-in), start_time, end_time, end_bucket and end_uid (the check-in that closed
--   it), and latest_uid, latest_time, latest_state, latest_grace_until: the device's last
--   check-in read (the current state of an open interval).
-- No DISTINCT over the snapshots: a redelivered snapshot repeats the one before it (same
-- time and id, so adjacent in the order), starts no interval and is the latest only as a copy
-- of the latest; the DISTINCT over eleven columns cost more than the windows.
WITH snapshots AS (
    SELECT
        metadata_product_name AS source,
        device_uid,
        device_hostname,
        device_owner_uid,
        metadata_uid,
        time,
        bucket,
        device_is_compliant AS compliant,
        zt_compliance_state AS state,
        device_os_name AS platform,
        zt_grace_until AS grace_until
    FROM device_state
    WHERE device_uid IS NOT NULL AND device_is_compliant IS NOT NULL
),
ordered AS (
    SELECT
        *,
        LAG(compliant) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS previous,
        ROW_NUMBER() OVER (PARTITION BY source, device_uid ORDER BY time DESC, metadata_uid DESC) AS recency
    FROM snapshots
),
intervals AS (
    SELECT
        source,
        device_uid,
        device_hostname,
        device_owner_uid,
        platform,
        compliant,
        state AS opening_state,
        grace_until,
        time AS start_time,
        LEAD(time) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS end_time,
        LEAD(bucket) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS end_bucket,
        LEAD(metadata_uid) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS end_uid
    FROM ordered
    WHERE previous IS NULL OR previous <> compliant
),
latest AS (
    SELECT
        source,
        device_uid,
        metadata_uid AS latest_uid,
        time AS latest_time,
        state AS latest_state,
        grace_until AS latest_grace_until
    FROM ordered
    WHERE recency = 1
)
SELECT i.*, l.latest_uid, l.latest_time, l.latest_state, l.latest_grace_until
FROM intervals i
JOIN latest l ON i.source = l.source AND i.device_uid = l.device_uid
