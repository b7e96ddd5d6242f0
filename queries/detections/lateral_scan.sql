-- id: lateral_scan
-- title: Lateral scan of remote-administration ports
-- severity: high
-- mitre: T1046, T1021
-- window: 10m
-- schedule: 1m
-- entities: src_ip
-- param min_targets: 5 | distinct internal destinations on admin ports within one window
-- allow_cidrs: src_ip
-- description: One internal source address reaches at least `min_targets` distinct internal
--   destinations on remote-administration ports (site admin_ports) within one 10-minute window
--   (aligned to the clock), seen by any sensor: a host looking for its next hop. The windows are
--   the view lateral_scan_windows that the lateral_scans KPI counts, so with the default
--   threshold every scan the KPI counts is an alert. Severity is raised to critical when a
--   policy allowed any of the connections (the scan was not contained). Vulnerability scanners
--   and jump hosts belong on allow_cidrs.
SELECT
    src_endpoint_ip AS src_ip,
    segment_src,
    first_seen,
    last_seen,
    flows AS events,
    flow_uids AS evidence,
    targets,
    allowed,
    CASE WHEN allowed > 0 THEN 'critical' END AS severity,
    CONCAT(src_endpoint_ip, ' (', segment_src, ') reached ', targets, ' hosts on admin ports',
        CASE WHEN allowed > 0 THEN CONCAT(', ', allowed, ' connections allowed') ELSE ', all refused' END) AS summary
FROM lateral_scan_windows
WHERE targets >= ${min_targets}
