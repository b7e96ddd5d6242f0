-- view: edr_containment_keys
-- description: What a containment (edr_containments) answers, as the match keys of
--   edr_detection_keys, one row per key it has: `finding:` its zt_related_finding_uid (names
--   the finding), `device:` its device_uid (isolates the host), and `account:` its user_name,
--   user_email_addr and the login before the @, each in lower case (cuts off the user: EDR
--   agents report Windows account names without a domain). Columns: metadata_uid, time,
--   match_key (never null).
SELECT metadata_uid, time, match_key
FROM (
    SELECT
        metadata_uid,
        time,
        unnest([
            'finding:' || zt_related_finding_uid,
            'device:' || device_uid,
            'account:' || lower(user_name),
            'account:' || lower(user_email_addr),
            'account:' || lower(split_part(user_email_addr, '@', 1))
        ]) AS match_key
    FROM edr_containments
)
WHERE match_key IS NOT NULL
