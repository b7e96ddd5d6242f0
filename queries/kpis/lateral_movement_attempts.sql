-- id: lateral_movement_attempts
-- title: Lateral movement attempts: blocked vs allowed
-- unit: flows
-- labels: segment_src, segment_dst
-- metrics: blocked, allowed, failed, blocked_ratio
-- totals: blocked, allowed, failed
-- description: East-west connection attempts on remote-administration ports (site admin_ports;
--   both endpoints inside site.internal_cidrs), per source and destination segment, as the
--   enforcement points decided them. blocked = refused by a policy (VPC flow REJECT, an NSG
--   deny, a host firewall block: disposition Blocked); allowed = let through by a policy (VPC
--   ACCEPT, an NSG allow; the NSG states it on the flow's begin tuple, its continuation and end
--   tuples carry no decision); failed = failed without any policy decision (Zeek REJ/S0, an EDR ConnectionFailed) — a refusal by the target host, not by Zero Trust
--   controls. blocked_ratio = blocked / (blocked + allowed): the share of policy decisions
--   that refused. Each enforcement point counts its own decision: a connection the network
--   allowed and the host firewall then refused is one allowed and one blocked.
-- partial
SELECT
    bucket AS time,
    COALESCE(zt_segment_src, 'internal') AS segment_src,
    COALESCE(zt_segment_dst, 'internal') AS segment_dst,
    COUNT(DISTINCT CASE WHEN disposition_id = 2 THEN uid_key(metadata_uid) END) AS blocked,
    COUNT(DISTINCT CASE WHEN disposition_id = 1 THEN uid_key(metadata_uid) END) AS allowed,
    COUNT(DISTINCT CASE WHEN disposition_id IS NULL AND status_id = 2 THEN uid_key(metadata_uid) END) AS failed
FROM network_activity
WHERE zt_is_lateral AND zt_port_class = 'admin'
GROUP BY 1, 2, 3

-- final
SELECT
    time,
    segment_src,
    segment_dst,
    blocked,
    allowed,
    failed,
    CAST(blocked AS DOUBLE) / NULLIF(blocked + allowed, 0) AS blocked_ratio
FROM partials
WHERE blocked + allowed + failed > 0
ORDER BY time, segment_src, segment_dst

-- evidence
SELECT DISTINCT
    time,
    COALESCE(zt_segment_src, 'internal') AS segment_src,
    COALESCE(zt_segment_dst, 'internal') AS segment_dst,
    CASE
        WHEN disposition_id = 2 THEN 'blocked'
        WHEN disposition_id = 1 THEN 'allowed'
        WHEN status_id = 2 THEN 'failed'
        ELSE 'observed'
    END AS outcome,
    metadata_product_name AS source,
    metadata_uid,
    src_endpoint_ip,
    dst_endpoint_ip,
    dst_endpoint_port,
    connection_info_protocol_name AS protocol
FROM network_activity
WHERE zt_is_lateral AND zt_port_class = 'admin'
ORDER BY time, metadata_uid
