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
--   SSO), a factor was verified in the same session (session_uid) in the day before;
--   without_mfa = the source states a single factor, or the session shows no verified factor
--   in the day before the sign-in;
--   unknown = the source does not say and names no session — reported apart, never guessed.
--   without_mfa_share = without_mfa / (with_mfa + without_mfa). Sessions are read from 1 day
--   before the range, so a factor verified before the range still counts. The classification
--   is the view sensitive_app_sign_ins, shared with the evidence.
-- partial
-- Split in two: a sign-in's answer depends on the day before it alone (the view looks for the
-- session's factors in the day before the sign-in's own time), so each hour is computed with
-- the day before it read for context and keeps its own sign-ins; sealed hours are stored.
SELECT
    bucket AS time,
    source,
    app,
    COUNT(DISTINCT uid_key(metadata_uid)) AS sign_ins,
    COUNT(DISTINCT CASE WHEN mfa = 'with' THEN uid_key(metadata_uid) END) AS with_mfa,
    COUNT(DISTINCT CASE WHEN mfa = 'without' THEN uid_key(metadata_uid) END) AS without_mfa,
    COUNT(DISTINCT CASE WHEN mfa = 'unknown' THEN uid_key(metadata_uid) END) AS unknown
FROM sensitive_app_sign_ins CROSS JOIN kpi_range
WHERE time >= range_from
GROUP BY 1, 2, 3

-- final
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
FROM partials
ORDER BY time, source, app

-- evidence
SELECT DISTINCT
    time,
    source,
    app,
    metadata_uid,
    mfa,
    session_mfa_time,
    user_name,
    service_name,
    session_uid,
    src_endpoint_ip,
    country
FROM sensitive_app_sign_ins CROSS JOIN kpi_range
WHERE time >= range_from
ORDER BY time, metadata_uid
