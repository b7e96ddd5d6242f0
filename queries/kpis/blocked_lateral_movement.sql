-- id: blocked_lateral_movement
-- title: Blocked lateral movement
-- unit: flows
-- labels: segment_src, segment_dst
-- metrics: blocked, blocked_admin_port
-- totals: blocked, blocked_admin_port
-- description: East-west flows (both endpoints inside the configured internal CIDRs) that the
--   network refused (disposition Blocked, e.g. VPC flow REJECT), per source and destination
--   segment. blocked_admin_port counts those aimed at remote-administration ports (site
--   admin_ports: SSH, RDP, WinRM, SMB …). Flows that merely failed (no policy decision) are not
--   blocks and are not counted.
-- partial
SELECT
    bucket AS time,
    zt_segment_src AS segment_src,
    zt_segment_dst AS segment_dst,
    COUNT(DISTINCT uid_key(metadata_uid)) AS blocked,
    COUNT(DISTINCT CASE WHEN zt_port_class = 'admin' THEN uid_key(metadata_uid) END) AS blocked_admin_port
FROM network_activity
WHERE zt_is_lateral AND disposition_id = 2
GROUP BY 1, 2, 3

-- final
SELECT * FROM partials
ORDER BY time, segment_src, segment_dst

-- evidence
SELECT DISTINCT
    time,
    zt_segment_src AS segment_src,
    zt_segment_dst AS segment_dst,
    metadata_product_name AS source,
    metadata_uid,
    src_endpoint_ip,
    src_endpoint_port,
    dst_endpoint_ip,
    dst_endpoint_port,
    connection_info_protocol_name AS protocol,
    zt_port_class,
    traffic_bytes
FROM network_activity
WHERE zt_is_lateral AND disposition_id = 2
ORDER BY time, metadata_uid
