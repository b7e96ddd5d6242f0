-- id: sensitive_app_coverage
-- title: Sensitive apps behind the identity provider
-- unit: requests
-- labels: app, source
-- metrics: requests, idp_authenticated, unauthenticated, authenticated_share
-- totals: requests, idp_authenticated, unauthenticated
-- description: Requests to sensitive applications (site.apps with a sensitivity) as seen by front
--   ends that report whether the identity provider authenticated the request (AWS ALB: the
--   `authenticate` action ran). Front ends that cannot tell (nginx, Envoy without an authz
--   result) are not counted rather than guessed. idp_authenticated = requests the IdP
--   authenticated; unauthenticated = requests that reached the app without it; a sensitive
--   app with unauthenticated requests is "dark" — reachable around central identity — and its
--   evidence lists those requests. authenticated_share = idp_authenticated / requests.
SELECT
    time,
    app,
    source,
    requests,
    idp_authenticated,
    requests - idp_authenticated AS unauthenticated,
    CAST(idp_authenticated AS DOUBLE) / requests AS authenticated_share
FROM (
    SELECT
        bucket AS time,
        zt_app_id AS app,
        metadata_product_name AS source,
        COUNT(DISTINCT metadata_uid) AS requests,
        COUNT(DISTINCT CASE WHEN zt_idp_authenticated THEN metadata_uid END) AS idp_authenticated
    FROM http_activity
    WHERE zt_app_sensitivity IS NOT NULL AND zt_idp_authenticated IS NOT NULL
    GROUP BY 1, 2, 3
)
ORDER BY time, app, source

-- evidence
SELECT DISTINCT
    time,
    zt_app_id AS app,
    metadata_product_name AS source,
    metadata_uid,
    zt_idp_authenticated AS idp_authenticated,
    user_name,
    src_endpoint_ip,
    http_request_http_method AS method,
    http_request_url_path AS path,
    http_response_code AS status
FROM http_activity
WHERE zt_app_sensitivity IS NOT NULL AND zt_idp_authenticated IS NOT NULL
ORDER BY time, metadata_uid
