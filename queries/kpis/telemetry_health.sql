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
WITH rows AS (
    SELECT bucket, metadata_product_name AS source, metadata_uid, time, metadata_processed_time FROM authentication
    UNION ALL SELECT bucket, metadata_product_name, metadata_uid, time, metadata_processed_time FROM network_activity
    UNION ALL SELECT bucket, metadata_product_name, metadata_uid, time, metadata_processed_time FROM http_activity
    UNION ALL SELECT bucket, metadata_product_name, metadata_uid, time, metadata_processed_time FROM device_state
    UNION ALL SELECT bucket, metadata_product_name, metadata_uid, time, metadata_processed_time FROM account_change
    UNION ALL SELECT bucket, metadata_product_name, metadata_uid, time, metadata_processed_time FROM detection_finding
),
events AS (
    SELECT
        bucket,
        source,
        metadata_uid,
        MIN(CAST(metadata_processed_time AS BIGINT)) - MIN(CAST(time AS BIGINT)) AS lag_ms
    FROM rows
    GROUP BY 1, 2, 3
)
SELECT
    bucket AS time,
    source,
    COUNT(DISTINCT metadata_uid) AS events,
    CAST(median(lag_ms) AS DOUBLE) / 1000.0 AS lag_median_s,
    CAST(MAX(lag_ms) AS DOUBLE) / 1000.0 AS lag_max_s
FROM events
GROUP BY 1, 2
ORDER BY time, source

-- evidence
WITH rows AS (
    SELECT metadata_product_name AS source, metadata_uid, time, metadata_processed_time, 'authentication' AS table_name FROM authentication
    UNION ALL SELECT metadata_product_name, metadata_uid, time, metadata_processed_time, 'network_activity' FROM network_activity
    UNION ALL SELECT metadata_product_name, metadata_uid, time, metadata_processed_time, 'http_activity' FROM http_activity
    UNION ALL SELECT metadata_product_name, metadata_uid, time, metadata_processed_time, 'device_state' FROM device_state
    UNION ALL SELECT metadata_product_name, metadata_uid, time, metadata_processed_time, 'account_change' FROM account_change
    UNION ALL SELECT metadata_product_name, metadata_uid, time, metadata_processed_time, 'detection_finding' FROM detection_finding
)
SELECT DISTINCT
    time,
    source,
    metadata_uid,
    table_name,
    MIN(metadata_processed_time) OVER (PARTITION BY metadata_uid) AS first_processed
FROM rows
ORDER BY time, metadata_uid
