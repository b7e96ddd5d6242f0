-- id: telemetry_health
-- title: Telemetry health
-- unit: events
-- labels: source
-- metrics: events, lag_median_s, lag_max_s
-- totals: events
-- description: Events per source and bucket across every table, and how late they arrived:
--   lag = processing time minus event time of the first delivery of each event (a redelivery
--   does not make an event later). A source whose events drop to zero, or whose lag grows, is
--   a blind spot every other KPI inherits. Refused records are counted on /metrics
--   (ztlens_ingest_dead_letters_total, per source and reason) and listed by
--   `ztlens dead-letters`, since they never reach a table.
-- One row per event and table (deliveries collapsed per table, which keeps each hash table to
-- one table's events; an event is stored in one table), then per source.
WITH firsts AS (
    SELECT bucket, metadata_product_name AS source, metadata_uid,
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)) AS lag_ms
    FROM authentication GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM network_activity GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM http_activity GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM device_state GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM account_change GROUP BY 1, 2, 3
    UNION ALL
    SELECT bucket, metadata_product_name, metadata_uid,
           MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT))
    FROM detection_finding GROUP BY 1, 2, 3
)
SELECT
    bucket AS time,
    source,
    COUNT(metadata_uid) AS events,
    CAST(median(lag_ms) AS DOUBLE) / 1000.0 AS lag_median_s,
    CAST(MAX(lag_ms) AS DOUBLE) / 1000.0 AS lag_max_s
FROM firsts
GROUP BY 1, 2
ORDER BY time, source

-- evidence
-- Every delivery of every event, so a reviewer sees first and repeated arrivals.
SELECT DISTINCT * FROM (
    SELECT time, metadata_product_name AS source, metadata_uid, 'authentication' AS table_name, metadata_processed_time FROM authentication
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'network_activity', metadata_processed_time FROM network_activity
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'http_activity', metadata_processed_time FROM http_activity
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'device_state', metadata_processed_time FROM device_state
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'account_change', metadata_processed_time FROM account_change
    UNION ALL SELECT time, metadata_product_name, metadata_uid, 'detection_finding', metadata_processed_time FROM detection_finding
)
ORDER BY time, metadata_uid
