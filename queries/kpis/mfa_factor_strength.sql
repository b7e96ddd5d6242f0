-- id: mfa_factor_strength
-- title: MFA by factor strength
-- unit: events
-- labels: source, factor_class
-- metrics: verified, failed, share
-- totals: verified, failed
-- description: MFA steps per identity provider and factor class. phishing_resistant =
--   WebAuthn/FIDO2 and U2F security keys, device-bound platform keys (Windows Hello, Okta
--   FastPass) and certificates (smart cards); push = app notifications; otp = codes from an app or token; sms_voice = text
--   messages and calls; email; other = any other factor; unknown = the source says MFA was used
--   but not which factor (CloudTrail ConsoleLogin). verified = a factor was verified (the step
--   allowed access); failed = it failed or the user refused it. share = verified steps of the
--   class divided by all verified steps in the bucket across every source: the
--   phishing-resistant share is this column on the phishing_resistant rows. Challenges are not
--   steps (no factor was used yet).
-- partial
SELECT
    bucket AS time,
    metadata_product_name AS source,
    factor_class,
    COUNT(DISTINCT CASE WHEN mfa_outcome = 'success' THEN uid_key(metadata_uid) END) AS verified,
    COUNT(DISTINCT CASE WHEN mfa_outcome = 'failure' THEN uid_key(metadata_uid) END) AS failed
FROM mfa_steps
WHERE mfa_outcome IN ('success', 'failure')
GROUP BY 1, 2, 3

-- final
SELECT
    time,
    source,
    factor_class,
    verified,
    failed,
    CAST(verified AS DOUBLE) / NULLIF(SUM(verified) OVER (PARTITION BY time), 0) AS share
FROM partials
ORDER BY time, source, factor_class

-- evidence
SELECT DISTINCT
    time,
    metadata_product_name AS source,
    factor_class,
    metadata_uid,
    user_name,
    auth_factor,
    zt_decision,
    service_name,
    src_endpoint_ip
FROM mfa_steps
WHERE mfa_outcome IN ('success', 'failure')
ORDER BY time, metadata_uid
