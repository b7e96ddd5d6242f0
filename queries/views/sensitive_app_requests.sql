-- view: sensitive_app_requests
-- description: Every request to a sensitive application (http_requests rows tagged with a
--   site.apps entry that has a sensitivity), one row per stored record (a redelivered record
--   appears as often as it is stored: count distinct metadata_uid), with the path it took. gate = what says so:
--   alb_authenticate / alb_no_authenticate (the ALB's authenticate action ran or not),
--   envoy_ext_authz (Envoy's external authorizer decided the request), sign_on (a named user
--   signed on to the same app through the identity provider — an allowed sign-in tagged with
--   the app, same login or login before the @ — at most 12 hours before), no_sign_on (a named
--   user without one), anonymous (no gate signal and no user). path = behind_idp
--   (alb_authenticate, envoy_ext_authz, sign_on), unauthenticated (alb_no_authenticate,
--   no_sign_on) or unknown (anonymous). Columns: time, bucket, app, source, metadata_uid, gate,
--   path, user_name, latest_sign_on, src_endpoint_ip, method, url_path, status.
WITH requests AS (
    -- One row per stored record (readers count distinct metadata_uid): a DISTINCT here would
    -- carry every column, the URL path included, through every later step.
    SELECT
        time,
        bucket,
        zt_app_id AS app,
        metadata_product_name AS source,
        metadata_uid,
        zt_idp_authenticated,
        zt_authz_result LIKE 'ext_authz%' AS ext_authz,
        user_name,
        split_part(lower(user_name), '@', 1) AS user_key,
        -- A named user's request without a gate signal: whether a sign-on covers it decides.
        zt_idp_authenticated IS NULL
            AND NOT COALESCE(zt_authz_result LIKE 'ext_authz%', false)
            AND COALESCE(split_part(lower(user_name), '@', 1) <> '', false) AS needs_sign_on,
        src_endpoint_ip,
        http_request_http_method AS method,
        http_request_url_path AS url_path,
        http_response_code AS status
    FROM http_requests
    WHERE zt_app_sensitivity IS NOT NULL AND zt_app_id IS NOT NULL
),
sign_ons AS (
    SELECT DISTINCT
        time,
        zt_app_id AS app,
        split_part(lower(COALESCE(user_email_addr, user_name)), '@', 1) AS user_key
    FROM authentication
    WHERE zt_decision = 'allow' AND zt_app_id IS NOT NULL
        AND COALESCE(user_email_addr, user_name) IS NOT NULL
),
-- The latest sign-on at or before each request that needs one: sign-ons and those requests of
-- the same user and app in one time order, a running maximum of sign-on times (a sign-on sorts
-- before a request at the same instant). One sort that can spill, of those requests only; no
-- join and no pairs (a join back to the requests held every request of the range in memory
-- and failed over a month of traffic).
timeline AS (
    SELECT time, bucket, app, source, metadata_uid, user_name, user_key, src_endpoint_ip,
        method, url_path, status, CAST(NULL AS TIMESTAMP) AS sign_on_time, 1 AS kind
    FROM requests
    WHERE needs_sign_on
    UNION ALL
    SELECT time, NULL, app, NULL, NULL, NULL, user_key, NULL, NULL, NULL, NULL,
        time AS sign_on_time, 0 AS kind
    FROM sign_ons
),
with_latest AS (
    SELECT
        *,
        MAX(sign_on_time) OVER (
            PARTITION BY app, user_key ORDER BY time, kind
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS latest
    FROM timeline
),
gated AS (
    SELECT time, bucket, app, source, metadata_uid, user_name, src_endpoint_ip, method,
        url_path, status, CAST(NULL AS TIMESTAMP) AS latest_sign_on,
        CASE
            WHEN zt_idp_authenticated THEN 'alb_authenticate'
            WHEN NOT zt_idp_authenticated THEN 'alb_no_authenticate'
            WHEN ext_authz THEN 'envoy_ext_authz'
            ELSE 'anonymous'
        END AS gate
    FROM requests
    WHERE NOT needs_sign_on
    UNION ALL
    SELECT time, bucket, app, source, metadata_uid, user_name, src_endpoint_ip, method,
        url_path, status, latest AS latest_sign_on,
        CASE WHEN latest >= time - INTERVAL '12 hours' THEN 'sign_on' ELSE 'no_sign_on' END AS gate
    FROM with_latest
    WHERE kind = 1
)
SELECT
    time,
    bucket,
    app,
    source,
    metadata_uid,
    gate,
    CASE
        WHEN gate IN ('alb_authenticate', 'envoy_ext_authz', 'sign_on') THEN 'behind_idp'
        WHEN gate = 'anonymous' THEN 'unknown'
        ELSE 'unauthenticated'
    END AS path,
    user_name,
    latest_sign_on,
    src_endpoint_ip,
    method,
    url_path,
    status
FROM gated
