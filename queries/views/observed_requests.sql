-- view: observed_requests
-- description: Every request an observe-mode policy evaluated (zt_would_be_decision set) that
--   went through today: authentication rows whose zt_decision is allow (or other, for a check
--   before sign-in such as ThreatInsight's) and http_activity rows allowed or without a
--   decision. Columns: time, bucket, source, metadata_uid, identity, identity_kind
--   (service_account: the source or site.service_account_patterns mark the account as a
--   service, or a Kubernetes service account; unknown: no account is named; else user), app
--   (the site app id, else the app or host the source names, else ''), would_be, policy.
    SELECT DISTINCT
        time,
        bucket,
        metadata_product_name AS source,
        metadata_uid,
        identity,
        CASE
            WHEN identity IS NULL THEN 'unknown'
            WHEN user_type_id = 4 THEN 'service_account'
            ELSE 'user'
        END AS identity_kind,
        COALESCE(zt_app_id, service_name, '') AS app,
        zt_would_be_decision AS would_be,
        zt_would_be_policy AS policy
    FROM identity_events
    WHERE zt_decision IN ('allow', 'other') AND zt_would_be_decision IS NOT NULL
    UNION ALL
    SELECT DISTINCT
        time,
        bucket,
        metadata_product_name AS source,
        metadata_uid,
        lower(COALESCE(user_name, zt_client_identity)) AS identity,
        CASE
            WHEN COALESCE(user_name, zt_client_identity) IS NULL THEN 'unknown'
            WHEN user_name LIKE 'system:serviceaccount:%' OR zt_client_identity IS NOT NULL
                THEN 'service_account'
            ELSE 'user'
        END AS identity_kind,
        COALESCE(zt_app_id, http_request_url_hostname, '') AS app,
        zt_would_be_decision AS would_be,
        zt_would_be_policy AS policy
    FROM http_activity
    WHERE (zt_decision IS NULL OR zt_decision = 'allow') AND zt_would_be_decision IS NOT NULL
