-- id: mfa_outcomes_by_country
-- title: MFA outcomes by country
-- unit: events
-- labels: country
-- metrics: success, failure, challenge, failure_rate
-- totals: success, failure, challenge
-- description: MFA steps per client country. success = a factor was verified; failure = a factor
--   failed or the user refused the prompt (zt_decision mfa_failed or mfa_denied); challenge = a
--   policy asked for stronger authentication (challenge_mfa). Challenges are reported on their
--   own and never counted as failures. failure_rate = failure / (success + failure), null when
--   there were no MFA steps.
-- partial
SELECT
    bucket AS time,
    COALESCE(src_endpoint_location_country, 'unknown') AS country,
    COUNT(DISTINCT CASE WHEN mfa_outcome = 'success' THEN uid_key(metadata_uid) END) AS success,
    COUNT(DISTINCT CASE WHEN mfa_outcome = 'failure' THEN uid_key(metadata_uid) END) AS failure,
    COUNT(DISTINCT CASE WHEN mfa_outcome = 'challenge' THEN uid_key(metadata_uid) END) AS challenge
FROM mfa_steps
GROUP BY 1, 2

-- final
SELECT
    time,
    country,
    success,
    failure,
    challenge,
    CAST(failure AS DOUBLE) / NULLIF(success + failure, 0) AS failure_rate
FROM partials
ORDER BY time, country

-- evidence
SELECT DISTINCT
    time,
    COALESCE(src_endpoint_location_country, 'unknown') AS country,
    mfa_outcome AS outcome,
    metadata_product_name AS source,
    metadata_uid,
    user_name,
    src_endpoint_ip,
    src_endpoint_location_city AS city,
    auth_factor,
    service_name,
    zt_decision,
    status_detail
FROM mfa_steps
ORDER BY time, metadata_uid
