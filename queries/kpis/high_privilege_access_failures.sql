-- id: high_privilege_access_failures
-- title: Unsuccessful high-privilege access
-- unit: events
-- labels: source, target
-- metrics: failures
-- totals: failures
-- description: Failed or denied attempts to reach privileged targets. From identity providers:
--   authentication events to an app listed in site.privileged_apps whose status is Failure
--   (denied by policy or device posture, bad credentials, failed MFA …; a challenge is not a
--   failure); target = the app. From HTTP access logs: 401 or 403 answers on a path under
--   site.privileged_path_prefixes; target = the matched prefix.
-- partial
SELECT time, source, target, COUNT(DISTINCT uid_key(metadata_uid)) AS failures
FROM (
    SELECT bucket AS time, metadata_product_name AS source, COALESCE(service_name, 'unknown') AS target, metadata_uid
    FROM authentication
    WHERE zt_privileged_target AND status_id = 2
    UNION ALL
    SELECT bucket AS time, metadata_product_name AS source, COALESCE(zt_privileged_prefix, 'unknown') AS target, metadata_uid
    FROM http_activity
    WHERE zt_privileged_target AND http_response_code IN (401, 403)
)
GROUP BY 1, 2, 3

-- final
SELECT * FROM partials
ORDER BY time, source, target

-- evidence
SELECT DISTINCT * FROM (
    SELECT time, metadata_product_name AS source, COALESCE(service_name, 'unknown') AS target,
           metadata_uid, user_name, src_endpoint_ip, zt_decision AS outcome, status_detail
    FROM authentication
    WHERE zt_privileged_target AND status_id = 2
    UNION ALL
    SELECT time, metadata_product_name AS source, COALESCE(zt_privileged_prefix, 'unknown') AS target,
           metadata_uid, user_name, src_endpoint_ip,
           CAST(http_response_code AS VARCHAR) AS outcome, http_request_url_path AS status_detail
    FROM http_activity
    WHERE zt_privileged_target AND http_response_code IN (401, 403)
)
ORDER BY time, metadata_uid
