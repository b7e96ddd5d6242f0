-- id: access_volume_spike
-- title: Access volume spike
-- severity: medium
-- mitre: T1530, T1078
-- window: 1h
-- schedule: 5m
-- lookback: 14d
-- entities: kind, name
-- param min_z: 4.0 | standard deviations above the hourly mean of the baseline
-- param min_events: 50 | events in the hour before a spike counts
-- param min_baseline_hours: 24 | hours with activity in the baseline before the entity has a usual level
-- param min_stddev: 1.0 | smallest standard deviation used, so a flat baseline does not make every change a spike
-- allow_users: name
-- allow_apps: name
-- description: The sign-ins and application requests of one identity (kind identity) or to one
--   application (kind app) in a clock hour, compared with that entity's hourly counts over the
--   14 days before that hour (or since the first hour the lake holds, when it is younger),
--   idle hours included: z = (count - mean) / stddev. Fires
--   when z ≥ `min_z` and the hour has at least `min_events` events, for entities active in at
--   least `min_baseline_hours` hours of the baseline. A busy Monday stays under the threshold
--   because Mondays are in the baseline; a new entity has no baseline and never fires.
WITH activity AS (
    SELECT DISTINCT 'identity' AS kind, identity AS name, metadata_uid, time
    FROM identity_events
    WHERE identity IS NOT NULL
    UNION ALL
    SELECT DISTINCT 'app' AS kind, zt_app_id AS name, metadata_uid, time
    FROM http_requests
    WHERE zt_app_id IS NOT NULL
),
hourly AS (
    SELECT
        kind,
        name,
        date_bin(INTERVAL '1 hour', time, TIMESTAMP '1970-01-01T00:00:00') AS hour,
        MIN(time) AS first_seen,
        MAX(time) AS last_seen,
        COUNT(DISTINCT metadata_uid) AS events
    FROM activity
    GROUP BY 1, 2, 3
),
first_hour AS (
    SELECT MIN(hour) AS first_hour FROM hourly
),
rolling AS (
    SELECT
        h.*,
        SUM(events) OVER (PARTITION BY kind, name ORDER BY hour
            RANGE BETWEEN INTERVAL '14 days' PRECEDING AND INTERVAL '1 hour' PRECEDING) AS baseline_sum,
        SUM(events * events) OVER (PARTITION BY kind, name ORDER BY hour
            RANGE BETWEEN INTERVAL '14 days' PRECEDING AND INTERVAL '1 hour' PRECEDING) AS baseline_sum_squares,
        COUNT(*) OVER (PARTITION BY kind, name ORDER BY hour
            RANGE BETWEEN INTERVAL '14 days' PRECEDING AND INTERVAL '1 hour' PRECEDING) AS active_hours
    FROM hourly h
),
scored AS (
    SELECT
        r.*,
        -- Hours the baseline covers: 14 days, or since the lake's first hour.
        LEAST(336.0, GREATEST(1.0, (date_part('epoch', r.hour) - date_part('epoch', f.first_hour)) / 3600.0)) AS covered_hours
    FROM rolling r
    CROSS JOIN first_hour f
    WHERE r.last_seen >= (SELECT range_from FROM kpi_range)
        AND r.active_hours >= ${min_baseline_hours}
),
spikes AS (
    SELECT
        *,
        baseline_sum / covered_hours AS mean,
        (events - baseline_sum / covered_hours) / GREATEST(
            sqrt(GREATEST(baseline_sum_squares / covered_hours - power(baseline_sum / covered_hours, 2), 0)),
            ${min_stddev}
        ) AS z
    FROM scored
)
SELECT
    s.kind,
    s.name,
    s.first_seen,
    s.last_seen,
    s.events,
    array_agg(DISTINCT a.metadata_uid) AS evidence,
    round(s.mean, 2) AS baseline_mean,
    round(s.z, 1) AS z,
    CONCAT(s.kind, ' ', s.name, ': ', s.events, ' events in an hour, usually ', CAST(round(s.mean, 1) AS VARCHAR)) AS summary
FROM spikes s
JOIN activity a
    ON a.kind = s.kind
    AND a.name = s.name
    AND date_bin(INTERVAL '1 hour', a.time, TIMESTAMP '1970-01-01T00:00:00') = s.hour
WHERE s.z >= ${min_z} AND s.events >= ${min_events}
GROUP BY s.kind, s.name, s.hour, s.first_seen, s.last_seen, s.events, s.mean, s.z
