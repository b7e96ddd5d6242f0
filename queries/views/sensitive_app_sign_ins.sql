-- view: sensitive_app_sign_ins
-- description: Every allowed sign-in to a sensitive application (authentication rows tagged
--   with a site.apps entry that has a sensitivity, by its idp_apps names), once, with whether
--   MFA protected it. mfa = with (the source states MFA: zt_mfa_satisfied; or, where it does
--   not say, a factor was verified earlier in the same session), without (the source states a
--   single factor, or the session shows no verified factor before the sign-in) or unknown (the
--   source does not say and names no session). Columns: time, bucket, source, app,
--   metadata_uid, mfa, session_mfa_time (the session's first verified factor), user_name,
--   service_name, session_uid, src_endpoint_ip, country.
WITH sensitive AS (
    SELECT DISTINCT
        time,
        bucket,
        metadata_product_name AS source,
        zt_app_id AS app,
        metadata_uid,
        session_uid,
        zt_mfa_satisfied,
        COALESCE(user_email_addr, user_name) AS user_name,
        service_name,
        src_endpoint_ip,
        src_endpoint_location_country AS country
    FROM authentication
    WHERE zt_app_sensitivity IS NOT NULL AND zt_app_id IS NOT NULL AND zt_decision = 'allow'
),
session_mfa AS (
    SELECT metadata_product_name AS source, session_uid, MIN(time) AS first_mfa
    FROM authentication
    WHERE is_mfa AND zt_decision = 'allow' AND session_uid IS NOT NULL
    GROUP BY 1, 2
)
SELECT
    s.time,
    s.bucket,
    s.source,
    s.app,
    s.metadata_uid,
    CASE
        WHEN s.zt_mfa_satisfied THEN 'with'
        WHEN NOT s.zt_mfa_satisfied THEN 'without'
        WHEN m.first_mfa <= s.time THEN 'with'
        WHEN s.session_uid IS NOT NULL THEN 'without'
        ELSE 'unknown'
    END AS mfa,
    m.first_mfa AS session_mfa_time,
    s.user_name,
    s.service_name,
    s.session_uid,
    s.src_endpoint_ip,
    s.country
FROM sensitive s
LEFT JOIN session_mfa m ON m.source = s.source AND m.session_uid = s.session_uid
