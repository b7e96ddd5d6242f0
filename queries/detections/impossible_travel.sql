-- id: impossible_travel
-- title: Impossible travel
-- severity: high
-- mitre: T1078
-- window: 1h
-- schedule: 1m
-- lookback: 1d
-- entities: identity
-- param min_speed_kmh: 800 | implied speed between two sign-ins, km/h
-- param min_distance_km: 500 | distance between the two sign-ins, km
-- allow_users: identity
-- allow_cidrs: from_ip, to_ip
-- allow_asns: from_asn, to_asn
-- description: Two consecutive successful interactive sign-ins of one identity (stitched across
--   Okta, Entra, CloudTrail and the EDRs by the identity_events view) from places at least
--   `min_distance_km` apart, at an implied speed of at least `min_speed_kmh` (great-circle
--   distance over the time between them, at least one minute): the credentials are used by
--   someone else. Not when both ends are on the same autonomous system (a provider's own
--   backbone), when the identity provider marks either address as a proxy or anonymizer, or
--   when either address is in the rule's allow_cidrs (the company's VPN and egress networks).
--   Sign-ins without coordinates are skipped. The previous sign-in may be up to a day before the
--   evaluated range.
WITH sign_ins AS (
    SELECT DISTINCT
        identity,
        time,
        metadata_uid,
        metadata_product_name AS source,
        src_endpoint_ip AS ip,
        src_endpoint_location_lat AS lat,
        src_endpoint_location_long AS lon,
        src_endpoint_location_country AS country,
        src_endpoint_location_city AS city,
        src_endpoint_as_number AS asn,
        COALESCE(src_endpoint_is_proxy, false) AS is_proxy
    FROM identity_events
    WHERE status_id = 1
        AND zt_decision = 'allow'
        AND is_interactive
        AND identity IS NOT NULL
        AND src_endpoint_location_lat IS NOT NULL
        AND src_endpoint_location_long IS NOT NULL
),
pairs AS (
    SELECT
        identity,
        time,
        metadata_uid,
        ip,
        lat,
        lon,
        country,
        city,
        asn,
        is_proxy,
        LAG(time) OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS prev_time,
        LAG(metadata_uid) OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS prev_uid,
        LAG(ip) OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS prev_ip,
        LAG(lat) OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS prev_lat,
        LAG(lon) OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS prev_lon,
        LAG(country) OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS prev_country,
        LAG(city) OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS prev_city,
        LAG(asn) OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS prev_asn,
        LAG(is_proxy) OVER (PARTITION BY identity ORDER BY time, metadata_uid) AS prev_is_proxy
    FROM sign_ins
),
hops AS (
    SELECT
        *,
        2 * 6371.0 * asin(sqrt(
            power(sin(radians(lat - prev_lat) / 2), 2)
            + cos(radians(prev_lat)) * cos(radians(lat)) * power(sin(radians(lon - prev_lon) / 2), 2)
        )) AS distance_km,
        GREATEST(CAST(time AS BIGINT) - CAST(prev_time AS BIGINT), 60000) / 3600000.0 AS hours
    FROM pairs
    WHERE prev_time IS NOT NULL AND time >= (SELECT range_from FROM kpi_range)
)
SELECT
    identity,
    prev_time AS first_seen,
    time AS last_seen,
    2 AS events,
    make_array(prev_uid, metadata_uid) AS evidence,
    prev_ip AS from_ip,
    ip AS to_ip,
    prev_asn AS from_asn,
    asn AS to_asn,
    CONCAT(prev_city, ', ', prev_country) AS from_place,
    CONCAT(city, ', ', country) AS to_place,
    round(distance_km) AS distance_km,
    round(distance_km / hours) AS speed_kmh,
    CONCAT(identity, ' signed in from ', COALESCE(prev_city, prev_country, prev_ip), ' then ',
        COALESCE(city, country, ip), ', ', CAST(round(distance_km) AS BIGINT), ' km apart at ',
        CAST(round(distance_km / hours) AS BIGINT), ' km/h') AS summary
FROM hops
WHERE distance_km >= ${min_distance_km}
    AND distance_km / hours >= ${min_speed_kmh}
    AND NOT (asn IS NOT NULL AND prev_asn IS NOT NULL AND asn = prev_asn)
    AND NOT is_proxy
    AND NOT prev_is_proxy
