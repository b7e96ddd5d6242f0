-- id: policy_exceptions
-- title: Policy exception load
-- unit: exceptions
-- labels: owner
-- metrics: open, in_use, expired_in_use, uses_after_expiry
-- totals: open, in_use, expired_in_use, uses_after_expiry
-- description: Policy exceptions from the inventory (policy_exception_inventory), per owner and
--   bucket, so a step gives the trend. An exception is in effect from `created` (inclusive) to
--   `expires` (exclusive). A use is an allowed sign-in (zt_decision allow) of the exception's
--   user to its app (service_name, case-insensitive; an exception without an app covers every
--   sign-in of the user) at or after `created`. open = exceptions in effect at the end of the
--   bucket; in_use = exceptions used while in effect in the bucket (an open exception nobody
--   uses can be withdrawn); expired_in_use = exceptions used after they expired in the bucket —
--   access the exception no longer covers; uses_after_expiry = those sign-ins. Buckets list
--   the owners with at least one exception created before the bucket's end.
WITH exceptions AS (
    SELECT exception_id, owner, user_key, lower(app) AS app_key, created_time, expires_time
    FROM policy_exception_inventory
),
uses AS (
    SELECT DISTINCT
        e.exception_id,
        a.bucket,
        a.metadata_uid,
        a.time >= e.expires_time AS after_expiry
    FROM authentication a
    JOIN exceptions e ON lower(COALESCE(a.user_email_addr, a.user_name)) = e.user_key
    WHERE a.zt_decision = 'allow'
        AND a.time >= e.created_time
        AND (e.app_key IS NULL OR lower(a.service_name) = e.app_key)
)
SELECT
    b.bucket AS time,
    e.owner,
    COUNT(DISTINCT CASE WHEN e.expires_time >= b.bucket_end THEN e.exception_id END) AS open,
    COUNT(DISTINCT CASE WHEN NOT u.after_expiry THEN e.exception_id END) AS in_use,
    COUNT(DISTINCT CASE WHEN u.after_expiry THEN e.exception_id END) AS expired_in_use,
    COUNT(DISTINCT CASE WHEN u.after_expiry THEN uid_key(u.metadata_uid) END) AS uses_after_expiry
FROM kpi_buckets b
JOIN exceptions e ON e.created_time < b.bucket_end
LEFT JOIN uses u ON u.exception_id = e.exception_id AND u.bucket = b.bucket
GROUP BY 1, 2
ORDER BY time, owner

-- evidence
WITH exceptions AS (
    SELECT *, lower(app) AS app_key FROM policy_exception_inventory
)
SELECT DISTINCT
    a.time,
    e.owner,
    a.metadata_uid,
    e.exception_id,
    e.user_name,
    e.app,
    e.control,
    e.expires_time,
    a.time >= e.expires_time AS after_expiry,
    a.metadata_product_name AS source,
    a.service_name,
    a.src_endpoint_ip,
    a.src_endpoint_location_country AS country
FROM authentication a
JOIN exceptions e ON lower(COALESCE(a.user_email_addr, a.user_name)) = e.user_key
WHERE a.zt_decision = 'allow'
    AND a.time >= e.created_time
    AND (e.app_key IS NULL OR lower(a.service_name) = e.app_key)
ORDER BY time, metadata_uid
