-- id: service_account_activity
-- title: Service-account sign-ins
-- unit: events
-- labels: source, account
-- gauge_labels: source
-- metrics: allowed, refused, interactive, networks
-- totals: allowed, refused, interactive
-- description: Sign-in events of non-human identities: accounts the source marks as service or
--   application accounts, or whose login matches site.service_account_patterns (user_type_id
--   4). account = the login (lower case). allowed = sign-ins allowed; refused = any other
--   decision; interactive = allowed sign-ins the source reports as interactive (Okta: a session
--   of actor type User; Entra: isInteractive; endpoint logons of type 2, 10, 11) — a service
--   account should authenticate with a token, never a session, so every one is a hygiene
--   finding; networks = distinct /24 networks (IPv6: addresses) its allowed sign-ins came from —
--   a service runs from a few known places, so more than two networks suggests a leaked
--   credential. The account is a login, so the /metrics gauges keep only source: counts summed,
--   networks the largest of any account (the API answers per account).
-- partial_keys: network
-- partial
-- Split in two: an hour's rows per account and network its allowed sign-ins came from (null
-- for the others), so sealed hours are stored; the final query counts the networks.
SELECT
    bucket AS time,
    metadata_product_name AS source,
    lower(COALESCE(user_email_addr, user_name)) AS account,
    CASE
        WHEN zt_decision = 'allow' AND src_endpoint_ip LIKE '%.%.%.%'
            THEN regexp_replace(src_endpoint_ip, '\.[0-9]+$', '')
        WHEN zt_decision = 'allow' THEN src_endpoint_ip
    END AS network,
    COUNT(DISTINCT CASE WHEN zt_decision = 'allow' THEN uid_key(metadata_uid) END) AS allowed,
    COUNT(DISTINCT CASE WHEN zt_decision <> 'allow' THEN uid_key(metadata_uid) END) AS refused,
    COUNT(DISTINCT CASE WHEN zt_decision = 'allow' AND is_interactive THEN uid_key(metadata_uid) END) AS interactive
FROM authentication
WHERE user_type_id = 4 AND zt_decision IS NOT NULL AND COALESCE(user_email_addr, user_name) IS NOT NULL
GROUP BY 1, 2, 3, 4

-- final
SELECT
    time,
    source,
    account,
    SUM(allowed) AS allowed,
    SUM(refused) AS refused,
    SUM(interactive) AS interactive,
    COUNT(DISTINCT network) AS networks
FROM partials
GROUP BY 1, 2, 3
ORDER BY time, source, account

-- evidence
SELECT DISTINCT
    time,
    metadata_product_name AS source,
    lower(COALESCE(user_email_addr, user_name)) AS account,
    metadata_uid,
    zt_decision,
    is_interactive,
    src_endpoint_ip,
    src_endpoint_location_country AS country,
    src_endpoint_as_name AS network_owner,
    service_name,
    http_request_user_agent
FROM authentication
WHERE user_type_id = 4 AND zt_decision IS NOT NULL AND COALESCE(user_email_addr, user_name) IS NOT NULL
ORDER BY time, metadata_uid
