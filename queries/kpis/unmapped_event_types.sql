-- id: unmapped_event_types
-- title: Events no class maps, by type
-- unit: events
-- labels: source, event_type
-- gauge_labels: source
-- metrics: events
-- totals: events
-- description: Events of a known source that ztlens stores in base_event because no OCSF
--   class maps their type, per source and vendor event type (Okta eventType, CloudTrail
--   eventName, Falcon event_simpleName, Defender `<Table>:<ActionType>`, Intune operationName,
--   Jamf webhookEvent). They are data, not errors: the list says what a feed sends that no
--   other KPI reads yet, and each type can be replayed from raw_data once a class maps it.
--   events = distinct event ids. The event type is the feed's own text, so the /metrics gauges
--   keep only source (per-type counts are in ztlens_ingest_base_events_total).
-- partial
SELECT
    bucket AS time,
    metadata_product_name AS source,
    metadata_event_code AS event_type,
    COUNT(DISTINCT uid_key(metadata_uid)) AS events
FROM base_event
GROUP BY 1, 2, 3

-- final
SELECT * FROM partials
ORDER BY time, source, event_type

-- evidence
-- Every stored event: who did it, to what, from where, and where the record came from.
SELECT DISTINCT time, metadata_product_name AS source, metadata_event_code AS event_type,
       metadata_uid, actor_user_name, zt_target_type, zt_target_name, src_endpoint_ip, raw_ref
FROM base_event
ORDER BY time, metadata_uid
