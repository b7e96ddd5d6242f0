-- id: telemetry_health
-- title: Telemetry health
-- unit: events
-- labels: source
-- metrics: events, lag_median_s, lag_max_s, dead_letters, dead_letter_rate, unmapped_events
-- totals: events, dead_letters, unmapped_events
-- description: Events per source and bucket across every table, how late they arrived, and
--   how many records of the source were refused: lag = processing time minus event time of
--   the first delivery of each event (a redelivery does not make an event later);
--   dead_letters = distinct refused records (by origin: a file line, a Kafka offset, a pushed
--   request's record) bucketed by when ztlens first refused them — a refused record has no
--   event time; dead_letter_rate = dead_letters / (events + dead_letters); unmapped_events =
--   the source's events that no class maps, stored in base_event (they count as events: the
--   source is seen; the evidence names their event types). A source whose
--   events drop to zero, whose lag grows, or whose records are refused is a blind spot every
--   other KPI inherits. `ztlens dead-letters` lists the refused records with their reasons.
--   lag_median_s is the median of the lags rounded to three significant digits (at most
--   0.5 % off, never outside the exact smallest and largest lag; lags under a second are
--   exact); lag_max_s is the exact largest lag.
-- partial_keys: lag_ms
-- partial_max: lag_max_ms
-- partial_min: lag_min_ms
-- partial
-- Split in two: an hour's rows are its events' lags, rounded to three significant digits and
-- counted (a few hundred values per source at most), so sealed hours are stored and merged;
-- the final query takes the median of the merged distribution. One row per event and table
-- first (deliveries collapsed per table, which keeps each hash table to one table's events; an
-- event is stored in one table, and every delivery of it has the same time, so one hour).
-- Events are grouped by uid_key(metadata_uid), a fixed-width 126-bit hash of the id, not by the
-- id string (the strings, their offsets and the hash table took ~800 MiB on a 10 M-event day).
WITH firsts AS (
    SELECT bucket, metadata_product_name AS source, uid_key(metadata_uid) AS event_key,
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)) AS lag_ms,
           0 AS unmapped
    FROM authentication GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)), 0
    FROM network_activity GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)), 0
    FROM http_activity GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)), 0
    FROM device_state GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)), 0
    FROM account_change GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)), 0
    FROM detection_finding GROUP BY 1, 2, 3
    UNION ALL
    -- base_event holds the events no class maps: counted as events and as unmapped.
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)), 1
    FROM base_event GROUP BY 1, 2, 3
)
SELECT
    bucket AS time,
    source,
    round_significant(lag_ms, 3) AS lag_ms,
    COUNT(event_key) AS events,
    SUM(unmapped) AS unmapped_events,
    MAX(lag_ms) AS lag_max_ms,
    MIN(lag_ms) AS lag_min_ms
FROM firsts
GROUP BY 1, 2, 3

-- final
-- The median of each bucket's and source's distribution: of the n lags in order, the first
-- whose running count reaches half of n (2 * upto >= n) and the first past it (2 * upto > n)
-- — the same lag when n is odd, the two middle ones when it is even — averaged. No integer
-- division, so the statement means the same in other engines' dialects.
WITH ranked AS (
    SELECT
        time, source, lag_ms, events, unmapped_events, lag_max_ms, lag_min_ms,
        SUM(events) OVER (PARTITION BY time, source ORDER BY lag_ms
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS events_upto,
        SUM(events) OVER (PARTITION BY time, source) AS events_total
    FROM partials
),
events AS (
    SELECT
        time,
        source,
        SUM(events) AS events,
        -- The rounded median, held between the exact extremes.
        greatest(least(
            (CAST(MIN(CASE WHEN 2 * events_upto >= events_total THEN lag_ms END) AS DOUBLE)
                + CAST(MIN(CASE WHEN 2 * events_upto > events_total THEN lag_ms END) AS DOUBLE))
                / 2.0,
            CAST(MAX(lag_max_ms) AS DOUBLE)), CAST(MIN(lag_min_ms) AS DOUBLE)) / 1000.0 AS lag_median_s,
        CAST(MAX(lag_max_ms) AS DOUBLE) / 1000.0 AS lag_max_s,
        SUM(unmapped_events) AS unmapped_events
    FROM ranked
    GROUP BY 1, 2
),
refused AS (
    SELECT time, source, COUNT(origin) AS dead_letters
    FROM (
        SELECT MIN(bucket) AS time, source, origin
        FROM dead_letters
        GROUP BY source, origin
    )
    GROUP BY 1, 2
)
SELECT
    COALESCE(e.time, r.time) AS time,
    COALESCE(e.source, r.source) AS source,
    COALESCE(e.events, 0) AS events,
    e.lag_median_s,
    e.lag_max_s,
    COALESCE(r.dead_letters, 0) AS dead_letters,
    CAST(COALESCE(r.dead_letters, 0) AS DOUBLE)
        / (COALESCE(e.events, 0) + COALESCE(r.dead_letters, 0)) AS dead_letter_rate,
    COALESCE(e.unmapped_events, 0) AS unmapped_events
FROM events e
FULL OUTER JOIN refused r ON e.time = r.time AND e.source = r.source
ORDER BY time, source

-- evidence
-- Every delivery of every event, so a reviewer sees first and repeated arrivals, and every
-- refusal of a record (its origin in place of an event id).
SELECT DISTINCT * FROM (
    SELECT time, metadata_product_name AS source, metadata_uid, 'authentication' AS table_name, metadata_processed_time FROM authentication
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'network_activity', metadata_processed_time FROM network_activity
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'http_activity', metadata_processed_time FROM http_activity
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'device_state', metadata_processed_time FROM device_state
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'account_change', metadata_processed_time FROM account_change
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'detection_finding', metadata_processed_time FROM detection_finding
    UNION ALL SELECT time, metadata_product_name, metadata_uid, concat('base_event: ', metadata_event_code), metadata_processed_time FROM base_event
    UNION ALL SELECT time, source, origin, concat('dead_letter: ', kind), time AS refused_time FROM dead_letters
)
ORDER BY time, metadata_uid
