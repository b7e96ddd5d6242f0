-- view: edr_containments
-- description: Every containment: account_change rows of type host_contain, session_revoke,
--   suspend or deactivate that did not fail (status_id 2), each once. Columns: metadata_uid,
--   containment_source (the product that reported it), time, bucket, zt_change_type,
--   actor_user_name (who contained), and what it names: device_uid, zt_related_finding_uid,
--   user_name, user_email_addr.
SELECT DISTINCT
    metadata_uid,
    metadata_product_name AS containment_source,
    time,
    bucket,
    zt_change_type,
    actor_user_name,
    device_uid,
    zt_related_finding_uid,
    user_name,
    user_email_addr
FROM account_change
WHERE zt_change_type IN ('host_contain', 'session_revoke', 'suspend', 'deactivate')
  AND status_id IS DISTINCT FROM 2
