-- id: mfa_outcomes_by_city
-- title: MFA outcomes by city
-- unit: events
-- labels: country, city
-- metrics: success, failure, challenge, failure_rate
-- totals: success, failure, challenge
-- description: MFA steps per client country and city, as the identity provider geolocates the
--   client (unknown when it does not; CloudTrail gives no location). The outcomes are those of
--   mfa_outcomes_by_country: success = a factor was verified; failure = a factor failed or the
--   user refused the prompt (mfa_failed, mfa_denied); challenge = a policy asked for stronger
--   authentication (challenge_mfa), never counted as a failure. failure_rate = failure /
--   (success + failure), null when there were no MFA steps. City is a bounded label in practice
--   (offices and the places users travel to); the Prometheus export caps series per KPI.
-- partial
SELECT
    bucket AS time,
    COALESCE(src_endpoint_location_country, 'unknown') AS country,
    COALESCE(src_endpoint_location_city, 'unknown') AS city,
    COUNT(DISTINCT CASE WHEN mfa_outcome = 'success' THEN uid_key(metadata_uid) END) AS success,
    COUNT(DISTINCT CASE WHEN mfa_outcome = 'failure' THEN uid_key(metadata_uid) END) AS failure,
    COUNT(DISTINCT CASE WHEN mfa_outcome = 'challenge' THEN uid_key(metadata_uid) END) AS challenge
FROM mfa_steps
GROUP BY 1, 2, 3

-- final
SELECT
    time,
    country,
    city,
    success,
    failure,
    challenge,
    CAST(failure AS DOUBLE) / NULLIF(success + failure, 0) AS failure_rate
FROM partials
ORDER BY time, country, city

-- evidence
SELECT DISTINCT
    time,
    COALESCE(src_endpoint_location_country, 'unknown') AS country,
    COALESCE(src_endpoint_location_city, 'unknown') AS city,
    mfa_outcome AS outcome,
    metadata_product_name AS source,
    metadata_uid,
    user_name,
    src_endpoint_ip,
    auth_factor,
    service_name,
    zt_decision,
    status_detail
FROM mfa_steps
ORDER BY time, metadata_uid
