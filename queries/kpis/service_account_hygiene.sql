-- id: service_account_hygiene
-- title: Service-account hygiene
-- unit: accounts
-- labels: account, owner
-- gauge_labels: owner
-- metrics: sign_ins, days_since_sign_in, dormant, credential_age_days, rotation_overdue, inventoried
-- totals: sign_ins, dormant, rotation_overdue, inventoried
-- lookback: 30d
-- description: Every service account the inventory lists or the logs show (allowed sign-ins of
--   user_type_id 4, or of an inventoried login), with its owner (`unowned` when the inventory
--   does not list it), as a state at the end of the range (reported in its last bucket).
--   sign_ins = allowed sign-ins in the range; days_since_sign_in = end of range − latest
--   allowed sign-in read (null: none in the range or the 30 days before it); dormant = 1 when
--   no allowed sign-in falls in the 30 days before the end of the range — an unused credential
--   to remove; credential_age_days = end of range − the latest rotation, from the inventory's
--   credential_rotated or a logged credential_rotation, password_change or password_reset of the
--   account (a new key beside the old one, credential_create, is not a rotation);
--   rotation_overdue = 1 when that age exceeds the account's max_credential_age_days, when no
--   rotation is known, or when the account is not inventoried (nobody vouches for it);
--   inventoried = 1 when the inventory lists it. The /metrics gauges keep only owner (an
--   account is a login): counts summed, ages the oldest of the owner's accounts.
WITH accounts AS (
    SELECT account_key, account, owner, credential_rotated_time, max_credential_age_days
    FROM service_account_inventory
),
-- No DISTINCT: a redelivered sign-in changes neither the distinct count nor the latest time.
sign_ins AS (
    SELECT
        lower(COALESCE(user_email_addr, user_name)) AS account_key,
        metadata_uid,
        time
    FROM authentication
    WHERE zt_decision = 'allow'
        AND COALESCE(user_email_addr, user_name) IS NOT NULL
        AND (user_type_id = 4
            OR lower(COALESCE(user_email_addr, user_name)) IN (SELECT account_key FROM accounts))
),
activity AS (
    SELECT
        s.account_key,
        COUNT(DISTINCT CASE WHEN s.time >= r.range_from THEN uid_key(s.metadata_uid) END) AS sign_ins,
        MAX(s.time) AS last_sign_in
    FROM sign_ins s CROSS JOIN kpi_range r
    GROUP BY s.account_key
),
-- Every account, inventoried or seen, read once: each reference to a common table computes it
-- again, and the sign-ins are the costly part.
known AS (
    SELECT
        COALESCE(a.account_key, act.account_key) AS account_key,
        a.account,
        a.owner,
        a.credential_rotated_time,
        a.max_credential_age_days,
        a.account_key IS NOT NULL AS inventoried,
        act.sign_ins,
        act.last_sign_in
    FROM accounts a
    FULL OUTER JOIN activity act ON act.account_key = a.account_key
),
rotation_changes AS (
    SELECT
        lower(COALESCE(user_email_addr, user_name)) AS changed_key,
        lower(user_name) AS changed_login,
        time
    FROM account_change
    WHERE zt_change_type IN ('credential_rotation', 'password_change', 'password_reset')
        AND status_id = 1
),
state AS (
    SELECT
        r.last_bucket AS time,
        COALESCE(k.account, k.account_key) AS account,
        COALESCE(k.owner, 'unowned') AS owner,
        COALESCE(k.sign_ins, 0) AS sign_ins,
        k.last_sign_in,
        greatest(k.credential_rotated_time, MAX(c.time)) AS rotated,
        k.max_credential_age_days,
        k.inventoried,
        r.range_to
    FROM known k
    LEFT JOIN rotation_changes c
        ON c.changed_key = k.account_key
        OR c.changed_login = split_part(k.account_key, '@', 1)
    CROSS JOIN kpi_range r
    GROUP BY r.last_bucket, r.range_to, k.account_key, k.account, k.owner, k.sign_ins,
        k.last_sign_in, k.credential_rotated_time, k.max_credential_age_days, k.inventoried
)
SELECT
    time,
    account,
    owner,
    sign_ins,
    CAST(CAST(range_to AS BIGINT) - CAST(last_sign_in AS BIGINT) AS DOUBLE) / 86400000.0 AS days_since_sign_in,
    CASE WHEN last_sign_in IS NULL OR last_sign_in < range_to - INTERVAL '30 days' THEN 1 ELSE 0 END AS dormant,
    CAST(CAST(range_to AS BIGINT) - CAST(rotated AS BIGINT) AS DOUBLE) / 86400000.0 AS credential_age_days,
    CASE
        WHEN NOT inventoried OR rotated IS NULL THEN 1
        WHEN CAST(range_to AS BIGINT) - CAST(rotated AS BIGINT) > CAST(max_credential_age_days AS BIGINT) * 86400000 THEN 1
        ELSE 0
    END AS rotation_overdue,
    CASE WHEN inventoried THEN 1 ELSE 0 END AS inventoried
FROM state
ORDER BY time, account

-- evidence
WITH accounts AS (
    SELECT account_key, account, owner, credential_rotated_time
    FROM service_account_inventory
),
service_sign_ins AS (
    SELECT
        time,
        lower(COALESCE(user_email_addr, user_name)) AS account_key,
        metadata_uid,
        metadata_product_name AS source,
        src_endpoint_ip,
        service_name
    FROM authentication
    WHERE zt_decision = 'allow'
        AND COALESCE(user_email_addr, user_name) IS NOT NULL
        AND (user_type_id = 4
            OR lower(COALESCE(user_email_addr, user_name)) IN (SELECT account_key FROM accounts))
),
account_keys AS (
    SELECT account_key FROM accounts
    UNION
    SELECT account_key FROM service_sign_ins
),
rows AS (
    SELECT time, account_key, metadata_uid, 'sign_in' AS event, source, src_endpoint_ip,
        service_name AS detail
    FROM service_sign_ins
    UNION ALL
    SELECT c.time, k.account_key, c.metadata_uid, c.zt_change_type, c.metadata_product_name,
        c.src_endpoint_ip, c.actor_user_name
    FROM account_keys k
    JOIN account_change c
        ON lower(COALESCE(c.user_email_addr, c.user_name)) = k.account_key
        OR lower(c.user_name) = split_part(k.account_key, '@', 1)
    WHERE c.zt_change_type IN ('credential_rotation', 'password_change', 'password_reset')
        AND c.status_id = 1
    UNION ALL
    SELECT credential_rotated_time, account_key, concat('inventory:', account), 'inventory',
        'inventory', CAST(NULL AS VARCHAR), 'credential_rotated as declared'
    FROM accounts
)
SELECT DISTINCT
    r.time,
    COALESCE(a.account, r.account_key) AS account,
    COALESCE(a.owner, 'unowned') AS owner,
    r.metadata_uid,
    r.event,
    r.source,
    r.src_endpoint_ip,
    r.detail
FROM rows r
LEFT JOIN accounts a ON a.account_key = r.account_key
ORDER BY time, metadata_uid
