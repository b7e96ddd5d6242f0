-- view: identity_events
-- description: Every authentication row with `identity`, the account it is about stitched across
--   sources: the lower-cased local part of the login (Okta alternateId, Entra UPN, CloudTrail
--   or EDR user name; `alice.doe@corp.example`, `CORP\alice.doe` and `alice.doe` are one
--   identity). Detections group by it so one person's Okta, Entra and AWS sign-ins are read
--   together. Two accounts with the same local part in different domains are one identity here:
--   a known limit, acceptable inside one company. Null when the row names no account.
--   Columns: every authentication column, identity.
SELECT
    *,
    lower(split_part(split_part(COALESCE(NULLIF(user_email_addr, ''), user_name), '@', 1), '\', -1)) AS identity
FROM authentication
