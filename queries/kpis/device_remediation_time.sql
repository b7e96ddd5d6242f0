-- id: device_remediation_time
-- title: Time to remediate non-compliant devices
-- unit: hours
-- labels: source, platform
-- metrics: remediated, mean_hours, median_hours, p90_hours, closed_after_grace
-- totals: remediated, closed_after_grace
-- lookback: 30d
-- description: Non-compliance intervals that closed in the range, from device check-ins
--   (device_state rows with a compliance verdict). Per device and source, an interval opens at
--   the first check-in that reports the device not compliant (noncompliant, inGracePeriod,
--   conflict, error) and closes at the first later check-in that reports it compliant; the
--   interval counts in the bucket of that closing check-in. remediated = intervals closed;
--   mean_hours, median_hours and p90_hours (nearest rank) = their lengths; closed_after_grace =
--   intervals that closed after the grace period the MDM granted (or had none). Check-ins up to
--   30 days before the range are read so an interval opened earlier is measured in full; one
--   opened before that counts from the first check-in seen (a lower bound). Devices still not
--   compliant at the end of the range are in noncompliant_devices_open.
WITH snapshots AS (
    SELECT DISTINCT
        metadata_product_name AS source,
        device_uid,
        metadata_uid,
        time,
        bucket,
        device_is_compliant AS compliant,
        device_os_name AS platform,
        zt_grace_until AS grace_until
    FROM device_state
    WHERE device_uid IS NOT NULL AND device_is_compliant IS NOT NULL
),
changes AS (
    SELECT
        *,
        LAG(compliant) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS previous
    FROM snapshots
),
intervals AS (
    SELECT
        source,
        device_uid,
        platform,
        compliant,
        grace_until,
        time AS start_time,
        LEAD(time) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS end_time,
        LEAD(bucket) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS end_bucket,
        LEAD(metadata_uid) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS end_uid
    FROM changes
    WHERE previous IS NULL OR previous <> compliant
),
remediated AS (
    SELECT
        end_bucket AS time,
        source,
        platform,
        device_uid,
        end_uid AS metadata_uid,
        start_time,
        end_time,
        CAST(CAST(end_time AS BIGINT) - CAST(start_time AS BIGINT) AS DOUBLE) / 3600000.0 AS hours,
        grace_until IS NULL OR end_time > grace_until AS after_grace
    FROM intervals CROSS JOIN kpi_range
    WHERE NOT compliant AND end_time >= range_from
),
ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY time, source, platform ORDER BY hours, metadata_uid) AS position,
        COUNT(metadata_uid) OVER (PARTITION BY time, source, platform) AS n
    FROM remediated
)
SELECT
    time,
    source,
    platform,
    COUNT(DISTINCT metadata_uid) AS remediated,
    AVG(hours) AS mean_hours,
    MEDIAN(hours) AS median_hours,
    MAX(CASE WHEN position = CEIL(0.9 * n) THEN hours END) AS p90_hours,
    COUNT(DISTINCT CASE WHEN after_grace THEN metadata_uid END) AS closed_after_grace
FROM ranked
GROUP BY time, source, platform
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
        bucket,
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
        LAG(compliant) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS previous
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
        LEAD(metadata_uid) OVER (PARTITION BY source, device_uid ORDER BY time, metadata_uid) AS end_uid
    FROM changes
    WHERE previous IS NULL OR previous <> compliant
)
SELECT DISTINCT
    end_time AS time,
    source,
    platform,
    end_uid AS metadata_uid,
    device_uid,
    device_hostname,
    device_owner_uid,
    opening_state,
    start_time,
    grace_until,
    CAST(CAST(end_time AS BIGINT) - CAST(start_time AS BIGINT) AS DOUBLE) / 3600000.0 AS hours
FROM intervals CROSS JOIN kpi_range
WHERE NOT compliant AND end_time >= range_from
ORDER BY time, metadata_uid
