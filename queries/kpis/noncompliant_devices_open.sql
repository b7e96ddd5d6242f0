-- id: noncompliant_devices_open
-- title: Devices still non-compliant
-- unit: devices
-- labels: source, platform
-- metrics: open, past_grace, median_age_hours, max_age_hours
-- totals: open, past_grace
-- lookback: 30d
-- description: Devices whose latest check-in before the end of the range reports them not
--   compliant, with the age of that non-compliance (end of range − first check-in of the open
--   interval; see device_remediation_time for intervals). Reported once, in the range's last
--   bucket: it is a state at the end of the range, not a count of events. open = such devices;
--   past_grace = those whose latest check-in says the grace period is over (state noncompliant
--   rather than inGracePeriod) or whose grace period ended before the end of the range — the
--   devices a device-trust policy should now be blocking; median_age_hours, max_age_hours =
--   how long they have been open. Check-ins up to 30 days before the range are read.
WITH snapshots AS (
    SELECT DISTINCT
        metadata_product_name AS source,
        device_uid,
        metadata_uid,
        time,
        device_is_compliant AS compliant,
        zt_compliance_state AS state,
        device_os_name AS platform,
        zt_grace_until AS grace_until
    FROM device_state
    WHERE device_uid IS NOT NULL AND device_is_compliant IS NOT NULL
),
changes AS (
    SELECT
        *,
        LAG(compliant) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS previous,
        ROW_NUMBER() OVER (PARTITION BY source, device_uid ORDER BY time DESC, metadata_uid DESC) AS recency
    FROM snapshots
),
latest AS (
    SELECT source, device_uid, metadata_uid, state, grace_until
    FROM changes
    WHERE recency = 1 AND NOT compliant
),
opened AS (
    SELECT
        source,
        device_uid,
        platform,
        time AS start_time,
        ROW_NUMBER() OVER (PARTITION BY source, device_uid ORDER BY time DESC, metadata_uid DESC) AS recency
    FROM changes
    WHERE NOT compliant AND (previous IS NULL OR previous)
),
open_devices AS (
    SELECT
        o.source,
        o.platform,
        l.metadata_uid,
        CAST(CAST(range_to AS BIGINT) - CAST(o.start_time AS BIGINT) AS DOUBLE) / 3600000.0 AS age_hours,
        l.state <> 'inGracePeriod' OR l.grace_until < range_to AS past_grace,
        last_bucket
    FROM opened o
    JOIN latest l ON o.source = l.source AND o.device_uid = l.device_uid
    CROSS JOIN kpi_range
    WHERE o.recency = 1
)
SELECT
    last_bucket AS time,
    source,
    platform,
    COUNT(DISTINCT metadata_uid) AS open,
    COUNT(DISTINCT CASE WHEN past_grace THEN metadata_uid END) AS past_grace,
    MEDIAN(age_hours) AS median_age_hours,
    MAX(age_hours) AS max_age_hours
FROM open_devices
GROUP BY last_bucket, source, platform
ORDER BY time, source, platform

-- evidence
WITH snapshots AS (
    SELECT DISTINCT
        metadata_product_name AS source,
        device_uid,
        device_hostname,
        device_owner_uid,
        metadata_uid,
        time,
        device_is_compliant AS compliant,
        zt_compliance_state AS state,
        device_os_name AS platform,
        zt_grace_until AS grace_until
    FROM device_state
    WHERE device_uid IS NOT NULL AND device_is_compliant IS NOT NULL
),
changes AS (
    SELECT
        *,
        LAG(compliant) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS previous,
        ROW_NUMBER() OVER (PARTITION BY source, device_uid ORDER BY time DESC, metadata_uid DESC) AS recency
    FROM snapshots
),
latest AS (
    SELECT source, device_uid, device_hostname, device_owner_uid, metadata_uid, time, state, grace_until
    FROM changes
    WHERE recency = 1 AND NOT compliant
),
opened AS (
    SELECT
        source,
        device_uid,
        platform,
        time AS start_time,
        ROW_NUMBER() OVER (PARTITION BY source, device_uid ORDER BY time DESC, metadata_uid DESC) AS recency
    FROM changes
    WHERE NOT compliant AND (previous IS NULL OR previous)
)
SELECT DISTINCT
    l.time,
    o.source,
    o.platform,
    l.metadata_uid,
    o.device_uid,
    l.device_hostname,
    l.device_owner_uid,
    l.state AS latest_state,
    o.start_time,
    l.grace_until,
    CAST(CAST(range_to AS BIGINT) - CAST(o.start_time AS BIGINT) AS DOUBLE) / 3600000.0 AS age_hours
FROM opened o
JOIN latest l ON o.source = l.source AND o.device_uid = l.device_uid
CROSS JOIN kpi_range
WHERE o.recency = 1
ORDER BY time, metadata_uid
