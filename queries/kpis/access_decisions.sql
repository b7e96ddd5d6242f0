-- id: access_decisions
-- title: Access decisions
-- unit: events
-- labels: source, decision
-- metrics: events, share
-- totals: events
-- description: Authentication events per access decision (zt_decision: allow, challenge_mfa,
--   deny_policy, deny_device_posture, deny_app_not_approved, deny_credentials, mfa_failed,
--   mfa_denied, locked_out …) and per identity provider. share = the decision's events divided
--   by all decided authentication events in the bucket, across every source, so the shares of a
--   bucket add up to 1.
-- partial
SELECT
    bucket AS time,
    metadata_product_name AS source,
    zt_decision AS decision,
    COUNT(DISTINCT uid_key(metadata_uid)) AS events
FROM authentication
WHERE zt_decision IS NOT NULL
GROUP BY 1, 2, 3

-- final
SELECT
    time,
    source,
    decision,
    events,
    CAST(events AS DOUBLE) / SUM(events) OVER (PARTITION BY time) AS share
FROM partials
ORDER BY time, source, decision

-- evidence
SELECT DISTINCT
    time,
    metadata_product_name AS source,
    zt_decision AS decision,
    metadata_uid,
    user_name,
    src_endpoint_ip,
    src_endpoint_location_country AS country,
    service_name,
    policy_name,
    status_code,
    status_detail
FROM authentication
WHERE zt_decision IS NOT NULL
ORDER BY time, metadata_uid
