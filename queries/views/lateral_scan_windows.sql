-- view: lateral_scan_windows
-- description: Remote-administration flows between internal addresses, per source address and
--   10-minute window (aligned to the clock, UTC), seen by any sensor (VPC flow, Zeek, EDR), each
--   flow counted once. The `lateral_scans` KPI and the `lateral_scan` detection both read it,
--   so a scan means the same thing in both. Columns: src_endpoint_ip, segment_src (the source's
--   segment, or internal), scan_window, bucket (the first bucket of the window's flows),
--   first_seen, last_seen, targets (distinct destination addresses), flows, allowed (flows a
--   policy allowed: disposition Allowed), flow_uids (their metadata_uid).
WITH flows AS (
    SELECT DISTINCT
        metadata_uid,
        time,
        src_endpoint_ip,
        COALESCE(zt_segment_src, 'internal') AS segment_src,
        dst_endpoint_ip,
        disposition_id,
        bucket,
        date_bin(INTERVAL '10 minutes', time, TIMESTAMP '1970-01-01T00:00:00') AS scan_window
    FROM network_activity
    WHERE zt_is_lateral AND zt_port_class = 'admin'
)
SELECT
    src_endpoint_ip,
    segment_src,
    scan_window,
    MIN(bucket) AS bucket,
    MIN(time) AS first_seen,
    MAX(time) AS last_seen,
    COUNT(DISTINCT dst_endpoint_ip) AS targets,
    COUNT(DISTINCT uid_key(metadata_uid)) AS flows,
    COUNT(DISTINCT CASE WHEN disposition_id = 1 THEN uid_key(metadata_uid) END) AS allowed,
    array_agg(DISTINCT metadata_uid) AS flow_uids
FROM flows
GROUP BY 1, 2, 3
