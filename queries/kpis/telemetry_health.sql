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
-- One row per event and table (deliveries collapsed per table, which keeps each hash table to
-- one table's events; an event is stored in one table), then per source. Events are grouped by
-- uid_key(metadata_uid), a fixed-width 126-bit hash of the id, not by the id string (the
-- strings, their offsets and the hash table took ~800 MiB on a 10 M-event day).
WITH firsts AS (
    SELECT bucket, metadata_product_name AS source, uid_key(metadata_uid) AS event_key,
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)) AS lag_ms
    FROM authentication GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM network_activity GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM http_activity GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM device_state GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM account_change GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM detection_finding GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, uid_key(metadata_uid),
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM base_event GROUP BY 1, 2, 3
),
unmapped AS (
    SELECT bucket AS time, metadata_product_name AS source,
           COUNT(DISTINCT uid_key(metadata_uid)) AS unmapped_events
    FROM base_event
    GROUP BY 1, 2
),
events AS (
    SELECT
        bucket AS time,
        source,
        COUNT(event_key) AS events,
        CAST(median(lag_ms) AS DOUBLE) / 1000.0 AS lag_median_s,
        CAST(MAX(lag_ms) AS DOUBLE) / 1000.0 AS lag_max_s
    FROM firsts
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
    COALESCE(u.unmapped_events, 0) AS unmapped_events
FROM events e
FULL OUTER JOIN refused r ON e.time = r.time AND e.source = r.source
LEFT JOIN unmapped u ON e.time = u.time AND e.source = u.source
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
