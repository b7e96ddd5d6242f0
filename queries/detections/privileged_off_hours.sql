-- id: privileged_off_hours
-- title: Privileged access outside business hours
-- severity: medium
-- mitre: T1078
-- window: 1h
-- schedule: 1m
-- entities: identity, app
-- param time_zone: "UTC" | IANA time zone of the business hours (Europe/Berlin)
-- param start_hour: 7 | first hour of the working day, local time (0-23)
-- param end_hour: 19 | hour the working day ends, local time (1-24)
-- param work_days: "12345" | working days as digits, 0 Sunday to 6 Saturday
-- allow_users: identity
-- allow_apps: app
-- allow_cidrs: src_ip
-- description: An allowed sign-in of a person to a privileged application (site privileged_apps)
--   outside business hours in the configured time zone: on a day
--   not in work_days, or before start_hour or from end_hour. Service accounts (those in the
--   service-account inventory) are expected around the clock and never match. One alert per
--   identity and application and hour.
WITH access AS (
    SELECT DISTINCT
        metadata_uid,
        time,
        identity,
        COALESCE(service_name, zt_app_id) AS app,
        src_endpoint_ip,
        to_local_time(time AT TIME ZONE ${time_zone}) AS local_time
    FROM identity_events
    WHERE zt_decision = 'allow'
        AND status_id = 1
        AND identity IS NOT NULL
        AND zt_privileged_target
        AND (user_type_id IS NULL OR user_type_id NOT IN (3, 4))
        AND COALESCE(service_name, zt_app_id) IS NOT NULL
        AND identity NOT IN (
            SELECT lower(split_part(split_part(account, '@', 1), '\', -1)) FROM service_account_inventory
        )
)
SELECT
    identity,
    app,
    MIN(time) AS first_seen,
    MAX(time) AS last_seen,
    COUNT(DISTINCT metadata_uid) AS events,
    array_agg(DISTINCT metadata_uid) AS evidence,
    MAX(src_endpoint_ip) AS src_ip,
    MIN(local_time) AS first_local_time,
    CONCAT(identity, ' used ', app, ' at ', CAST(MIN(local_time) AS VARCHAR), ' ', ${time_zone}) AS summary
FROM access
WHERE strpos(${work_days}, CAST(date_part('dow', local_time) AS VARCHAR)) = 0
    OR date_part('hour', local_time) < ${start_hour}
    OR date_part('hour', local_time) >= ${end_hour}
GROUP BY identity, app, date_bin(${window}, time, TIMESTAMP '1970-01-01T00:00:00')
