-- view: mfa_steps
-- description: The MFA steps and MFA challenges among the authentication rows, each classified
--   once for every KPI that reports them. mfa_outcome = success (a factor was verified: an MFA
--   row whose zt_decision is allow), failure (a factor failed or the user refused the prompt:
--   mfa_failed, mfa_denied), challenge (a policy asked for stronger authentication:
--   challenge_mfa; a challenge is never a failure) or other (an MFA row with any other
--   decision). factor_class = the strength of the step's factor: phishing_resistant
--   (WebAuthn/FIDO2 and U2F security keys, device-bound platform keys, certificates), push, otp,
--   sms_voice, email, other, or unknown (the source says MFA was used but not which factor).
--   Columns: every authentication column, identity (see identity_events), mfa_outcome,
--   factor_class.
SELECT
    *,
    CASE
        WHEN zt_decision = 'challenge_mfa' THEN 'challenge'
        WHEN zt_decision = 'allow' THEN 'success'
        WHEN zt_decision IN ('mfa_failed', 'mfa_denied') THEN 'failure'
        ELSE 'other'
    END AS mfa_outcome,
    CASE
        WHEN auth_factor_type_id IN (4, 6, 9, 10) THEN 'phishing_resistant'
        WHEN auth_factor_type_id = 5 THEN 'push'
        WHEN auth_factor_type_id = 7 THEN 'otp'
        WHEN auth_factor_type_id IN (1, 3) THEN 'sms_voice'
        WHEN auth_factor_type_id = 8 THEN 'email'
        WHEN auth_factor_type_id IS NULL OR auth_factor_type_id = 0 THEN 'unknown'
        ELSE 'other'
    END AS factor_class
FROM identity_events
WHERE is_mfa OR zt_decision = 'challenge_mfa'
