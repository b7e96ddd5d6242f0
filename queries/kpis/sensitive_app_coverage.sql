-- id: sensitive_app_coverage
-- title: Sensitive apps behind the identity provider
-- unit: requests
-- labels: app, source
-- metrics: requests, behind_idp, unauthenticated, unknown, behind_idp_share
-- totals: requests, behind_idp, unauthenticated, unknown
-- lookback: 12h
-- description: Requests to sensitive applications (site.apps with a sensitivity) per app and
--   front end, by whether they came through the identity provider (view
--   sensitive_app_requests). behind_idp = the front end says the IdP gate ran (AWS ALB: the
--   `authenticate` action; Envoy: ext_authz decided the request), or the request names a user
--   who signed on to the same app through the IdP (an allowed sign-in tagged with the app's
--   idp_apps) in the 12 hours before it; unauthenticated = the ALB says the gate did not run,
--   or the named user had no such sign-on — the app let them in some other way; unknown = no
--   gate signal and no user (an anonymous nginx or Envoy line), reported apart rather than
--   guessed. A sensitive app with unauthenticated requests is "dark" — reachable around
--   central identity — and its evidence lists them. behind_idp_share = behind_idp /
--   (behind_idp + unauthenticated). Sign-ons are read from 12 hours before the range.
-- partial
-- Split in two: a request's path depends on the 12 hours before it alone (the view bounds the
-- sign-on it looks for by the request's own time), so each hour is computed with the 12 hours
-- before it read for context and keeps its own requests; sealed hours are stored.
SELECT
    bucket AS time,
    app,
    source,
    COUNT(DISTINCT uid_key(metadata_uid)) AS requests,
    COUNT(DISTINCT CASE WHEN path = 'behind_idp' THEN uid_key(metadata_uid) END) AS behind_idp,
    COUNT(DISTINCT CASE WHEN path = 'unauthenticated' THEN uid_key(metadata_uid) END) AS unauthenticated,
    COUNT(DISTINCT CASE WHEN path = 'unknown' THEN uid_key(metadata_uid) END) AS unknown
FROM sensitive_app_requests CROSS JOIN kpi_range
WHERE time >= range_from
GROUP BY 1, 2, 3

-- final
SELECT
    time,
    app,
    source,
    requests,
    behind_idp,
    unauthenticated,
    unknown,
    CASE WHEN behind_idp + unauthenticated > 0
        THEN CAST(behind_idp AS DOUBLE) / (behind_idp + unauthenticated) END AS behind_idp_share
FROM partials
ORDER BY time, app, source

-- evidence
SELECT DISTINCT
    time,
    app,
    source,
    metadata_uid,
    path AS idp_path,
    gate,
    user_name,
    latest_sign_on,
    src_endpoint_ip,
    method,
    url_path AS path,
    status
FROM sensitive_app_requests CROSS JOIN kpi_range
WHERE time >= range_from
ORDER BY time, metadata_uid
