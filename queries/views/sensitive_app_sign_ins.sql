-- view: sensitive_app_sign_ins
-- description: Every allowed sign-in to a sensitive application (app_sign_ins rows whose
--   site.apps entry has a sensitivity; a redelivered record appears as often as it is
--   stored), with whether MFA protected it (mfa: with, without
--   or unknown, as app_sign_ins defines it). Columns: time, bucket, source, app, metadata_uid,
--   mfa, session_mfa_time (the session's first verified factor in the day before the sign-in), user_name, service_name,
--   session_uid, src_endpoint_ip, country.
SELECT
    time,
    bucket,
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
FROM app_sign_ins
WHERE sensitivity IS NOT NULL
