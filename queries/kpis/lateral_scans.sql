-- id: lateral_scans
-- title: Lateral scans contained
-- unit: scans
-- labels: segment_src
-- metrics: scans, contained, contained_ratio
-- totals: scans, contained
-- description: A lateral scan is one internal source address reaching at least 5 distinct
--   internal destinations on remote-administration ports within one 10-minute window (windows
--   aligned to the clock, UTC), seen by any sensor (VPC flow, Zeek, EDR). A scan is contained
--   when no policy allowed any of its connections (no disposition Allowed; refusals and
--   failures only). The windows are the view lateral_scan_windows, which the lateral_scan
--   detection reads too. A scan is counted in the bucket its window starts in; over a range, only
--   the flows inside the range are seen. contained_ratio = contained / scans.
-- partial
-- A scan window (10 minutes from the epoch) lies inside one hour, so the scans of different
-- hours are different scans and the partial counts add up across hours.
SELECT
    bucket AS time,
    segment_src,
    COUNT(DISTINCT CONCAT(src_endpoint_ip, '@', CAST(scan_window AS VARCHAR))) AS scans,
    COUNT(DISTINCT CASE WHEN allowed = 0 THEN CONCAT(src_endpoint_ip, '@', CAST(scan_window AS VARCHAR)) END) AS contained
FROM lateral_scan_windows
WHERE targets >= 5
GROUP BY 1, 2

-- final
SELECT
    time,
    segment_src,
    scans,
    contained,
    CAST(contained AS DOUBLE) / scans AS contained_ratio
FROM partials
ORDER BY time, segment_src

-- evidence
WITH flows AS (
    SELECT DISTINCT
        time,
        metadata_uid,
        metadata_product_name AS source,
        src_endpoint_ip,
        COALESCE(zt_segment_src, 'internal') AS segment_src,
        dst_endpoint_ip,
        dst_endpoint_port,
        disposition_id,
        date_bin(INTERVAL '10 minutes', time, TIMESTAMP '1970-01-01T00:00:00') AS scan_window
    FROM network_activity
    WHERE zt_is_lateral AND zt_port_class = 'admin'
),
scans AS (
    SELECT src_endpoint_ip, scan_window
    FROM lateral_scan_windows
    WHERE targets >= 5
)
SELECT DISTINCT
    f.time,
    f.segment_src,
    f.scan_window,
    f.source,
    f.metadata_uid,
    f.src_endpoint_ip,
    f.dst_endpoint_ip,
    f.dst_endpoint_port,
    CASE WHEN f.disposition_id = 2 THEN 'blocked' WHEN f.disposition_id = 1 THEN 'allowed' ELSE 'not decided' END AS outcome
FROM flows f
JOIN scans s ON f.src_endpoint_ip = s.src_endpoint_ip AND f.scan_window = s.scan_window
ORDER BY time, metadata_uid
