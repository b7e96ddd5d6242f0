-- view: app_sign_ins
-- description: Every allowed sign-in to a site application (authentication rows tagged with a
--   site.apps entry by its idp_apps names), with what a policy would look at (one row per stored
--   record: a redelivered record appears as often as it is stored, so count distinct
--   metadata_uid — every reader does; no DISTINCT here, which cost a sort of every sign-in): who
--   (identity as in identity_events; is_service_account = the source or
--   site.service_account_patterns mark the account as a service, user_type_id 4), how (mfa,
--   mfa_strength), from where (country, src_endpoint_ip, network) and with what device.
--   mfa = with (the source states MFA: zt_mfa_satisfied; or, where it does not say, a factor
--   was verified in the same session in the day before), without (the source states a single
--   factor, or the session shows no verified factor in the day before the sign-in) or unknown (the source does not
--   say and names no session). mfa_strength, for mfa = with: phishing_resistant (the
--   sign-in's own factor or one verified in the session in the day before is phishing-resistant, as
--   mfa_steps classifies factors), other (the factors known are all weaker) or unknown (MFA
--   is stated but no factor is named); null otherwise. network = the /24 of an IPv4 address
--   (an IPv6 address as it is). Columns: time, bucket, source, app, sensitivity,
--   metadata_uid, identity, user_name, is_service_account, is_interactive, mfa,
--   session_mfa_time, mfa_strength, device_uid, device_is_managed, device_is_compliant,
--   country, src_endpoint_ip, network, session_uid, service_name.
WITH sign_ins AS (
    SELECT
        time,
        bucket,
        metadata_product_name AS source,
        zt_app_id AS app,
        zt_app_sensitivity AS sensitivity,
        metadata_uid,
        identity,
        COALESCE(user_email_addr, user_name) AS user_name,
        COALESCE(user_type_id = 4, false) AS is_service_account,
        is_interactive,
        zt_mfa_satisfied,
        is_mfa,
        auth_factor_type_id,
        device_uid,
        device_is_managed,
        device_is_compliant,
        src_endpoint_location_country AS country,
        src_endpoint_ip,
        session_uid,
        service_name
    FROM identity_events
    WHERE zt_app_id IS NOT NULL AND zt_decision = 'allow'
),
-- The session's verified factors in the day before each sign-in (a sign-in and a factor at the
-- same instant: the factor counts). Bounded by the sign-in's own time, so a sign-in's answer
-- does not depend on where the range (or a chunk of it) starts: the KPIs read one day back.
session_sign_ins AS (
    SELECT DISTINCT source, session_uid, time
    FROM sign_ins
    WHERE session_uid IS NOT NULL
),
session_mfa AS (
    SELECT
        k.source,
        k.session_uid,
        k.time,
        MIN(m.time) AS first_mfa,
        MIN(CASE WHEN m.factor_class = 'phishing_resistant' THEN m.time END) AS first_strong,
        MIN(CASE WHEN m.factor_class NOT IN ('phishing_resistant', 'unknown') THEN m.time END) AS first_weak
    FROM session_sign_ins k
    JOIN mfa_steps m
        ON m.metadata_product_name = k.source AND m.session_uid = k.session_uid
        AND m.time <= k.time AND m.time >= k.time - INTERVAL '1 day'
    WHERE m.mfa_outcome = 'success' AND m.is_mfa
    GROUP BY 1, 2, 3
),
classified AS (
    SELECT
        s.*,
        CASE
            WHEN s.zt_mfa_satisfied THEN 'with'
            WHEN NOT s.zt_mfa_satisfied THEN 'without'
            WHEN m.first_mfa <= s.time THEN 'with'
            WHEN s.session_uid IS NOT NULL THEN 'without'
            ELSE 'unknown'
        END AS mfa,
        m.first_mfa AS session_mfa_time,
        (s.is_mfa AND s.auth_factor_type_id IN (4, 6, 9, 10)) OR m.first_strong <= s.time AS strong_factor,
        (s.is_mfa AND s.auth_factor_type_id IS NOT NULL AND s.auth_factor_type_id <> 0)
            OR m.first_weak <= s.time AS known_factor
    FROM sign_ins s
    LEFT JOIN session_mfa m
        ON m.source = s.source AND m.session_uid = s.session_uid AND m.time = s.time
)
SELECT
    time,
    bucket,
    source,
    app,
    sensitivity,
    metadata_uid,
    identity,
    user_name,
    is_service_account,
    is_interactive,
    mfa,
    session_mfa_time,
    CASE
        WHEN mfa <> 'with' THEN NULL
        WHEN strong_factor THEN 'phishing_resistant'
        WHEN known_factor THEN 'other'
        ELSE 'unknown'
    END AS mfa_strength,
    device_uid,
    device_is_managed,
    device_is_compliant,
    country,
    src_endpoint_ip,
    CASE
        WHEN src_endpoint_ip LIKE '%.%.%.%' THEN regexp_replace(src_endpoint_ip, '\.[0-9]+$', '.0/24')
        ELSE src_endpoint_ip
    END AS network,
    session_uid,
    service_name
FROM classified
