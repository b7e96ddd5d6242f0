-- id: sensitive_app_sign_ins_without_mfa
-- title: Sign-ins to sensitive apps without MFA
-- unit: sign-ins
-- labels: source, app
-- metrics: sign_ins, with_mfa, without_mfa, unknown, without_mfa_share
-- totals: sign_ins, with_mfa, without_mfa, unknown
-- lookback: 1d
-- description: Allowed sign-ins to sensitive applications (site.apps with a sensitivity, matched
--   by their idp_apps names), per source and app id, by whether MFA protected them. with_mfa =
--   the source states MFA (zt_mfa_satisfied: a factor verified in the sign-in, Entra's
--   multiFactorAuthentication requirement, CloudTrail MFAUsed) or, where it does not say (Okta
--   SSO), a factor was verified earlier in the same session (session_uid); without_mfa = the
--   source states a single factor, or the session shows no verified factor before the sign-in;
--   unknown = the source does not say and names no session — reported apart, never guessed.
--   without_mfa_share = without_mfa / (with_mfa + without_mfa). Sessions are read from 1 day
--   before the range, so a session that verified MFA before the range still counts.
WITH sensitive AS (
    SELECT DISTINCT
        metadata_product_name AS source,
        zt_app_id AS app,
        metadata_uid,
        time,
        bucket,
        session_uid,
        zt_mfa_satisfied
    FROM authentication
    WHERE zt_app_sensitivity IS NOT NULL AND zt_app_id IS NOT NULL AND zt_decision = 'allow'
),
session_mfa AS (
    SELECT metadata_product_name AS source, session_uid, MIN(time) AS first_mfa
    FROM authentication
    WHERE is_mfa AND zt_decision = 'allow' AND session_uid IS NOT NULL
    GROUP BY 1, 2
),
classified AS (
    SELECT
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
        END AS mfa
    FROM sensitive s
    LEFT JOIN session_mfa m ON m.source = s.source AND m.session_uid = s.session_uid
    CROSS JOIN kpi_range r
    WHERE s.time >= r.range_from
)
SELECT
    time,
    source,
    app,
    sign_ins,
    with_mfa,
    without_mfa,
    unknown,
    CASE WHEN with_mfa + without_mfa > 0
        THEN CAST(without_mfa AS DOUBLE) / (with_mfa + without_mfa) END AS without_mfa_share
FROM (
    SELECT
        bucket AS time,
        source,
        app,
        COUNT(DISTINCT metadata_uid) AS sign_ins,
        COUNT(DISTINCT CASE WHEN mfa = 'with' THEN metadata_uid END) AS with_mfa,
        COUNT(DISTINCT CASE WHEN mfa = 'without' THEN metadata_uid END) AS without_mfa,
        COUNT(DISTINCT CASE WHEN mfa = 'unknown' THEN metadata_uid END) AS unknown
    FROM classified
    GROUP BY 1, 2, 3
)
ORDER BY time, source, app

-- evidence
WITH session_mfa AS (
    SELECT metadata_product_name AS source, session_uid, MIN(time) AS first_mfa
    FROM authentication
    WHERE is_mfa AND zt_decision = 'allow' AND session_uid IS NOT NULL
    GROUP BY 1, 2
)
SELECT DISTINCT
    a.time,
    a.metadata_product_name AS source,
    a.zt_app_id AS app,
    a.metadata_uid,
    CASE
        WHEN a.zt_mfa_satisfied THEN 'with'
        WHEN NOT a.zt_mfa_satisfied THEN 'without'
        WHEN m.first_mfa <= a.time THEN 'with'
        WHEN a.session_uid IS NOT NULL THEN 'without'
        ELSE 'unknown'
    END AS mfa,
    m.first_mfa AS session_mfa_time,
    COALESCE(a.user_email_addr, a.user_name) AS user_name,
    a.service_name,
    a.session_uid,
    a.src_endpoint_ip,
    a.src_endpoint_location_country AS country
FROM authentication a
LEFT JOIN session_mfa m ON m.source = a.metadata_product_name AND m.session_uid = a.session_uid
CROSS JOIN kpi_range r
WHERE a.zt_app_sensitivity IS NOT NULL AND a.zt_app_id IS NOT NULL AND a.zt_decision = 'allow'
    AND a.time >= r.range_from
ORDER BY time, metadata_uid
