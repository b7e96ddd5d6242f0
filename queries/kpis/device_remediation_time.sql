-- id: device_remediation_time
-- title: Time to remediate non-compliant devices
-- unit: hours
-- labels: source, platform
-- metrics: remediated, mean_hours, median_hours, p90_hours, closed_after_grace
-- totals: remediated, closed_after_grace
-- lookback: 30d
-- description: Non-compliance intervals (view device_compliance_intervals: from the first
--   check-in that reports a device not compliant — noncompliant, inGracePeriod, conflict, error
--   — to the first later one that reports it compliant) that closed in the range; an interval
--   counts in the bucket of that closing check-in. remediated = intervals closed;
--   mean_hours, median_hours and p90_hours (nearest rank) = their lengths; closed_after_grace =
--   intervals that closed after the grace period the MDM granted (or had none). Check-ins up to
--   30 days before the range are read so an interval opened earlier is measured in full; one
--   opened before that counts from the first check-in seen (a lower bound). Devices still not
--   compliant at the end of the range are in noncompliant_devices_open.
WITH remediated AS (
    SELECT
        end_bucket AS time,
        source,
        platform,
        end_uid AS metadata_uid,
        CAST(CAST(end_time AS BIGINT) - CAST(start_time AS BIGINT) AS DOUBLE) / 3600000.0 AS hours,
        grace_until IS NULL OR end_time > grace_until AS after_grace
    FROM device_compliance_intervals CROSS JOIN kpi_range
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
    COUNT(DISTINCT uid_key(metadata_uid)) AS remediated,
    AVG(hours) AS mean_hours,
    MEDIAN(hours) AS median_hours,
    MAX(CASE WHEN position = CEIL(0.9 * n) THEN hours END) AS p90_hours,
    COUNT(DISTINCT CASE WHEN after_grace THEN uid_key(metadata_uid) END) AS closed_after_grace
FROM ranked
GROUP BY time, source, platform
ORDER BY time, source, platform

-- evidence
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
FROM device_compliance_intervals CROSS JOIN kpi_range
WHERE NOT compliant AND end_time >= range_from
ORDER BY time, metadata_uid
