-- id: noncompliant_devices_open
-- title: Devices still non-compliant
-- unit: devices
-- labels: source, platform
-- metrics: open, past_grace, median_age_hours, max_age_hours
-- totals: open, past_grace
-- lookback: 30d
-- description: Devices whose latest check-in before the end of the range reports them not
--   compliant (the open intervals of view device_compliance_intervals), with the age of that
--   non-compliance (end of range − first check-in of the open interval). Reported once, in the range's last
--   bucket: it is a state at the end of the range, not a count of events. open = such devices;
--   past_grace = those whose latest check-in says the grace period is over (state noncompliant
--   rather than inGracePeriod) or whose grace period ended before the end of the range — the
--   devices a device-trust policy should now be blocking; median_age_hours, max_age_hours =
--   how long they have been open. Check-ins up to 30 days before the range are read.
WITH open_devices AS (
    SELECT
        last_bucket AS time,
        source,
        platform,
        latest_uid AS metadata_uid,
        CAST(CAST(range_to AS BIGINT) - CAST(start_time AS BIGINT) AS DOUBLE) / 3600000.0 AS age_hours,
        latest_state <> 'inGracePeriod' OR latest_grace_until < range_to AS past_grace
    FROM device_compliance_intervals CROSS JOIN kpi_range
    WHERE NOT compliant AND end_time IS NULL
)
SELECT
    time,
    source,
    platform,
    COUNT(DISTINCT uid_key(metadata_uid)) AS open,
    COUNT(DISTINCT CASE WHEN past_grace THEN uid_key(metadata_uid) END) AS past_grace,
    MEDIAN(age_hours) AS median_age_hours,
    MAX(age_hours) AS max_age_hours
FROM open_devices
GROUP BY time, source, platform
ORDER BY time, source, platform

-- evidence
SELECT DISTINCT
    latest_time AS time,
    source,
    platform,
    latest_uid AS metadata_uid,
    device_uid,
    device_hostname,
    device_owner_uid,
    latest_state,
    start_time,
    latest_grace_until AS grace_until,
    CAST(CAST(range_to AS BIGINT) - CAST(start_time AS BIGINT) AS DOUBLE) / 3600000.0 AS age_hours
FROM device_compliance_intervals CROSS JOIN kpi_range
WHERE NOT compliant AND end_time IS NULL
ORDER BY time, metadata_uid
