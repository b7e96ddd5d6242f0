-- view: http_requests
-- description: The requests of http_activity, each once. Left out are the rows that only state a
--   decision about a request another row already logs: OPA decision logs (the proxy that asked
--   OPA logs the request itself, with its response) and Hubble's L7 request records that were
--   forwarded (the response record of the same flow is the request's row). A request Hubble's
--   L7 policy denied has no response record, so its request record stays. Columns: every
--   http_activity column.
SELECT *
FROM http_activity
WHERE (metadata_product_name IS DISTINCT FROM 'opa')
    AND NOT (
        metadata_product_name = 'hubble'
        AND metadata_event_code = 'http-request'
        AND COALESCE(zt_decision, '') = 'allow'
    )
