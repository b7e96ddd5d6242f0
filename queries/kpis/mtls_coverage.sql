-- id: mtls_coverage
-- title: East-west requests with mutual TLS
-- unit: requests
-- labels: source, app
-- metrics: requests, mtls, plaintext, mtls_ratio
-- totals: requests, mtls, plaintext
-- description: The share of east-west requests that are mutually authenticated. East-west = a
--   request a service-mesh proxy received for the workload beside it, from another workload:
--   every request row of a mesh whose access log states on every request whether the client
--   connection was mTLS (Linkerd's inbound access log, where each request is logged once, at
--   the server; sources that only ever say "yes" — an OPA decision naming a principal, a
--   Hubble flow authenticated by SPIRE — would read as 100% and are not counted), except
--   kubelet health probes (user agent kube-probe/…), which come from the node and are
--   plaintext by design. Per source and destination application (site.apps matched by
--   host or path prefix; `other` when none matches — list a service's cluster name, e.g.
--   checkout-api.payments.svc.cluster.local, in an app's hosts to see it apart). mtls = the
--   client presented a mesh identity the proxy verified (zt_client_identity); plaintext = it did
--   not: an unmeshed workload, a meshed one that bypassed its proxy, or a client outside the
--   cluster that reached the pod directly. mtls_ratio = mtls / requests. Requests into
--   workloads without a proxy are not seen at all, and the apache access-log layout names no
--   user agent, so its probes count as plaintext (use the JSON layout).
-- partial
SELECT
    bucket AS time,
    metadata_product_name AS source,
    COALESCE(zt_app_id, 'other') AS app,
    COUNT(DISTINCT uid_key(metadata_uid)) AS requests,
    COUNT(DISTINCT CASE WHEN zt_mtls THEN uid_key(metadata_uid) END) AS mtls,
    COUNT(DISTINCT CASE WHEN NOT zt_mtls THEN uid_key(metadata_uid) END) AS plaintext
FROM http_requests
WHERE zt_mtls IS NOT NULL
    AND metadata_product_name IN ('linkerd')
    AND COALESCE(http_request_user_agent, '') NOT LIKE 'kube-probe/%'
GROUP BY 1, 2, 3

-- final
SELECT
    time,
    source,
    app,
    requests,
    mtls,
    plaintext,
    CAST(mtls AS DOUBLE) / NULLIF(requests, 0) AS mtls_ratio
FROM partials
ORDER BY time, source, app

-- evidence
SELECT DISTINCT
    time,
    metadata_product_name AS source,
    COALESCE(zt_app_id, 'other') AS app,
    metadata_uid,
    CASE WHEN zt_mtls THEN 'mtls' ELSE 'plaintext' END AS client_auth,
    zt_client_identity AS client_identity,
    CASE WHEN zt_client_identity LIKE '%.serviceaccount.identity.%'
        THEN split_part(zt_client_identity, '.', 2) END AS client_namespace,
    src_endpoint_ip,
    http_request_url_hostname AS host,
    http_request_http_method AS method,
    http_request_url_path AS path,
    http_response_code AS status
FROM http_requests
WHERE zt_mtls IS NOT NULL
    AND metadata_product_name IN ('linkerd')
    AND COALESCE(http_request_user_agent, '') NOT LIKE 'kube-probe/%'
ORDER BY time, metadata_uid
