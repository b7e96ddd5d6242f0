//! The map of real access paths: who reaches each sensitive app, from where, with what device
//! and factor, through which front end; and which workloads talk to which.
//!
//! - App paths: allowed sign-ins through an identity provider (view `app_sign_ins`, front end
//!   `idp:<source>`) and requests through a web front end (view `sensitive_app_requests`, front
//!   end `<source>:<gate>`: `alb:alb_authenticate`, `nginx:no_sign_on` …), grouped by app,
//!   identity, identity kind, front end, country, network (/24), device posture and factor,
//!   with request counts and first and last seen.
//! - Service edges: allowed flows between internal segments (`network_activity` rows a policy
//!   allowed, `zt_is_lateral`), per source segment, destination segment, port and protocol; and
//!   mesh requests (`http_requests` with a client workload identity) per client identity and
//!   app or host. An edge from a segment with a `talks_to` list is `expected` when the list
//!   (or the segment itself) names its destination and unexpected otherwise; null when the
//!   source segment declares no list.
//!
//! Invariants: counts are of distinct events; app ids come from `[site]` and are quoted; the
//! statements run through the read-only guard with the engine's limits. App paths and service
//! edges are grouped a chunk of the range at a time (`[query] chunk_hours`, a day by default)
//! and merged, so a month of a busy lake needs a day's memory; each chunk of app paths reads
//! sessions and sign-ons from [`LOOKBACK_MS`] before it, so MFA or a sign-on at least a day
//! before a request counts wherever the range starts.
//!
//! Imports: `error`, `engine`, `output`, `time_range`, and the site config from ztlens-ingest.

use serde::Serialize;
use serde_json::{Map, Value, json};
use ztlens_ingest::SiteConfig;

use crate::AnalyticsError;
use crate::engine::{ChunkedQuery, Engine};
use crate::output::QueryOutput;
use crate::time_range::TimeRange;

/// Sessions before the range are read this far back, so MFA verified earlier still counts.
const LOOKBACK_MS: i64 = 86_400_000;

/// The apps a request asks for: the listed ones (site app ids), or every sensitive app.
pub fn resolve_apps(
    site: &SiteConfig,
    requested: &[String],
) -> Result<Vec<String>, AnalyticsError> {
    let known: Vec<&str> = site.apps.iter().map(|a| a.id.as_str()).collect();
    if requested.iter().all(|a| a.is_empty()) {
        let sensitive: Vec<String> = site
            .apps
            .iter()
            .filter(|a| a.sensitivity.is_some())
            .map(|a| a.id.clone())
            .collect();
        if sensitive.is_empty() {
            return Err(AnalyticsError::InvalidParameter(
                "no [[site.apps]] entry has a sensitivity; name the apps with app=".into(),
            ));
        }
        return Ok(sensitive);
    }
    let mut apps = Vec::new();
    for app in requested.iter().filter(|a| !a.is_empty()) {
        if !known.contains(&app.as_str()) {
            return Err(AnalyticsError::InvalidParameter(format!(
                "unknown app {app:?}; the site's apps are: {}",
                known.join(", ")
            )));
        }
        if !apps.contains(app) {
            apps.push(app.clone());
        }
    }
    Ok(apps)
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every path as one row per request, for the grouping queries.
fn path_rows(apps: &[String]) -> String {
    let apps = quoted(apps);
    format!(
        "SELECT app, COALESCE(identity, '') AS identity, \
         CASE WHEN identity IS NULL THEN 'unknown' WHEN is_service_account THEN 'service_account' ELSE 'user' END AS identity_kind, \
         concat('idp:', source) AS front_end, COALESCE(country, '') AS country, COALESCE(network, '') AS network, \
         CASE WHEN device_is_compliant THEN 'compliant' WHEN device_is_managed THEN 'managed' \
              WHEN device_is_managed = false OR device_is_compliant = false THEN 'unmanaged' ELSE 'unknown' END AS device, \
         CASE mfa WHEN 'with' THEN concat('mfa:', COALESCE(mfa_strength, 'unknown')) WHEN 'without' THEN 'single_factor' ELSE 'unknown' END AS factor, \
         metadata_uid, time \
         FROM app_sign_ins CROSS JOIN kpi_range WHERE time >= range_from AND app IN ({apps}) \
         UNION ALL \
         SELECT app, COALESCE(lower(split_part(NULLIF(user_name, ''), '@', 1)), '') AS identity, \
         CASE WHEN user_name IS NULL OR user_name = '' THEN 'unnamed' ELSE 'user' END AS identity_kind, \
         concat(source, ':', gate) AS front_end, '' AS country, \
         CASE WHEN src_endpoint_ip LIKE '%.%.%.%' THEN regexp_replace(src_endpoint_ip, '\\.[0-9]+$', '.0/24') ELSE COALESCE(src_endpoint_ip, '') END AS network, \
         'unknown' AS device, \
         CASE path WHEN 'behind_idp' THEN 'idp_gate' WHEN 'unauthenticated' THEN 'none' ELSE 'unknown' END AS factor, \
         metadata_uid, time \
         FROM sensitive_app_requests CROSS JOIN kpi_range WHERE time >= range_from AND app IN ({apps})"
    )
}

/// The paths to `apps` grouped a chunk of the range at a time, then `answer` over the merged
/// groups (`partials`: the eight path columns, `requests`, `first_seen`, `last_seen`). Exact:
/// a record and its redelivered copies share their time, so each is counted in one chunk.
fn path_groups(apps: &[String], answer: &str) -> ChunkedQuery {
    const KEYS: &str = "app, identity, identity_kind, front_end, country, network, device, factor";
    ChunkedQuery {
        chunk: format!(
            "SELECT {KEYS}, COUNT(DISTINCT metadata_uid) AS requests, \
             MIN(time) AS first_seen, MAX(time) AS last_seen \
             FROM ({rows}) GROUP BY {KEYS}",
            rows = path_rows(apps)
        ),
        merge: format!(
            "SELECT {KEYS}, SUM(requests) AS requests, MIN(first_seen) AS first_seen, \
             MAX(last_seen) AS last_seen FROM partials GROUP BY {KEYS}"
        ),
        answer: answer.to_string(),
    }
}

/// Allowed lateral flows and mesh requests, one row per event.
const EDGE_ROWS: &str = "SELECT zt_segment_src AS src, zt_segment_dst AS dst, dst_endpoint_port AS port, \
     COALESCE(connection_info_protocol_name, CAST(connection_info_protocol_num AS VARCHAR), '') AS protocol, \
     'network' AS kind, metadata_uid, src_endpoint_ip AS src_ip, dst_endpoint_ip AS dst_ip, time \
     FROM network_activity CROSS JOIN kpi_range \
     WHERE time >= range_from AND action_id = 1 AND zt_is_lateral \
       AND zt_segment_src IS NOT NULL AND zt_segment_dst IS NOT NULL \
     UNION ALL \
     SELECT lower(zt_client_identity) AS src, COALESCE(zt_app_id, NULLIF(http_request_url_hostname, ''), dst_endpoint_ip, '') AS dst, \
     dst_endpoint_port AS port, 'http' AS protocol, 'mesh' AS kind, metadata_uid, \
     src_endpoint_ip AS src_ip, dst_endpoint_ip AS dst_ip, time \
     FROM http_requests CROSS JOIN kpi_range \
     WHERE time >= range_from AND zt_client_identity IS NOT NULL";

/// The service edges grouped a chunk of the range at a time, then `answer` over the merged
/// edges (`partials`: kind, src, dst, port, protocol, `flows`, the distinct `src_ips` and
/// `dst_ips` as lists, `first_seen`, `last_seen`). Flows add up across chunks (a flow record
/// and its copies share their time); addresses do not, so each edge carries its distinct
/// addresses (internal ones: lateral flows and mesh requests) and the merge unites them.
fn edge_groups(answer: &str) -> ChunkedQuery {
    const KEYS: &str = "kind, src, dst, port, protocol";
    ChunkedQuery {
        chunk: format!(
            "SELECT {KEYS}, COUNT(DISTINCT metadata_uid) AS flows, \
             array_agg(DISTINCT src_ip) FILTER (WHERE src_ip IS NOT NULL) AS src_ips, \
             array_agg(DISTINCT dst_ip) FILTER (WHERE dst_ip IS NOT NULL) AS dst_ips, \
             MIN(time) AS first_seen, MAX(time) AS last_seen \
             FROM ({EDGE_ROWS}) GROUP BY {KEYS}"
        ),
        merge: format!(
            "SELECT {KEYS}, SUM(flows) AS flows, \
             array_distinct(flatten(array_agg(src_ips) FILTER (WHERE src_ips IS NOT NULL))) AS src_ips, \
             array_distinct(flatten(array_agg(dst_ips) FILTER (WHERE dst_ips IS NOT NULL))) AS dst_ips, \
             MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen \
             FROM partials GROUP BY {KEYS}"
        ),
        answer: answer.to_string(),
    }
}

/// A page of service edges with their `expected` verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgePage {
    pub edges: Vec<Map<String, Value>>,
    pub truncated: bool,
}

/// Whether the site's network design allows `src` → `dst`: a segment with a `talks_to` list
/// may reach its own segment and those listed; `None` when the source segment declares none.
fn expected(site: &SiteConfig, src: &str, dst: &str) -> Option<bool> {
    let declared = site
        .segments
        .iter()
        .find(|s| s.name == src && !s.talks_to.is_empty())?;
    Some(src == dst || declared.talks_to.iter().any(|t| t == dst))
}

impl Engine {
    /// One page of the access paths to `apps` over `range`, busiest first per app.
    pub async fn access_paths(
        &self,
        apps: &[String],
        range: TimeRange,
        offset: usize,
        limit: usize,
    ) -> Result<QueryOutput, AnalyticsError> {
        crate::engine::check_page(offset, limit)?;
        let query = path_groups(
            apps,
            "SELECT * FROM partials \
             ORDER BY app, requests DESC, identity, front_end, country, network, device, factor",
        );
        self.run_chunked(query, range, LOOKBACK_MS, Some((offset, limit)))
            .await
    }

    /// One page of the service edges over `range`, busiest first.
    pub async fn service_edges(
        &self,
        site: &SiteConfig,
        range: TimeRange,
        offset: usize,
        limit: usize,
    ) -> Result<EdgePage, AnalyticsError> {
        crate::engine::check_page(offset, limit)?;
        let query = edge_groups(
            "SELECT kind, src, dst, port, protocol, flows, \
             CAST(COALESCE(cardinality(src_ips), 0) AS BIGINT) AS sources, \
             CAST(COALESCE(cardinality(dst_ips), 0) AS BIGINT) AS destinations, \
             first_seen, last_seen FROM partials \
             ORDER BY flows DESC, kind, src, dst, port, protocol",
        );
        let output = self
            .run_chunked(query, range, 0, Some((offset, limit)))
            .await?;
        let mut edges = output.json_rows()?;
        for edge in &mut edges {
            let verdict = match edge.get("kind").and_then(Value::as_str) {
                Some("network") => expected(
                    site,
                    edge.get("src").and_then(Value::as_str).unwrap_or_default(),
                    edge.get("dst").and_then(Value::as_str).unwrap_or_default(),
                ),
                _ => None,
            };
            edge.insert("expected".into(), json!(verdict));
        }
        Ok(EdgePage {
            edges,
            truncated: output.truncated,
        })
    }

    /// The access map as the frames Grafana's node graph panel reads: `nodes` (id, title,
    /// mainStat) and `edges` (id, source, target, mainStat, secondaryStat, color). `services`:
    /// segments and workloads joined by their flows (red: unexpected, green: expected, grey:
    /// not declared); `apps`: front ends joined to the apps they serve.
    pub async fn access_graph(
        &self,
        site: &SiteConfig,
        kind: &str,
        apps: &[String],
        range: TimeRange,
    ) -> Result<Value, AnalyticsError> {
        let output = match kind {
            "services" => {
                let query = edge_groups(
                    "SELECT src, dst, kind, SUM(flows) AS n, \
                     array_to_string(array_sort(array_agg(DISTINCT CAST(port AS VARCHAR))), ',') AS ports \
                     FROM partials GROUP BY 1, 2, 3 ORDER BY n DESC, src, dst",
                );
                self.run_chunked(query, range, 0, None).await?
            }
            "apps" => {
                // Each request is in exactly one path, so a front end's requests to an app
                // are the sum over its paths.
                let query = path_groups(
                    apps,
                    "SELECT front_end AS src, app AS dst, 'app' AS kind, SUM(requests) AS n, \
                     CAST(COUNT(DISTINCT identity) AS VARCHAR) AS ports \
                     FROM partials GROUP BY 1, 2, 3 ORDER BY n DESC, src, dst",
                );
                self.run_chunked(query, range, LOOKBACK_MS, None).await?
            }
            other => {
                return Err(AnalyticsError::InvalidParameter(format!(
                    "graph kind {other:?}: use services or apps"
                )));
            }
        };
        let rows = output.json_rows()?;
        let mut nodes: std::collections::BTreeMap<String, i64> = Default::default();
        let mut edges = Vec::new();
        for row in &rows {
            let text = |k: &str| {
                row.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let (src, dst, n) = (
                text("src"),
                text("dst"),
                row.get("n").and_then(Value::as_i64).unwrap_or(0),
            );
            *nodes.entry(src.clone()).or_default() += n;
            *nodes.entry(dst.clone()).or_default() += n;
            let (unit, detail) = if kind == "apps" {
                ("requests", format!("{} identities", text("ports")))
            } else {
                ("flows", format!("ports {}", text("ports")))
            };
            let color = match (text("kind").as_str(), expected(site, &src, &dst)) {
                ("network", Some(false)) => "red",
                ("network", Some(true)) => "green",
                _ => "gray",
            };
            edges.push(json!({
                "id": format!("{src}->{dst}"),
                "source": src,
                "target": dst,
                "mainStat": format!("{n} {unit}"),
                "secondaryStat": detail,
                "color": color,
            }));
        }
        let nodes: Vec<Value> = nodes
            .into_iter()
            .map(|(id, n)| json!({"id": id, "title": id, "mainStat": n}))
            .collect();
        Ok(json!({"nodes": nodes, "edges": edges, "truncated": output.truncated}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteConfig {
        toml::from_str(
            r#"
            [[segments]]
            name = "corp"
            talks_to = ["prod"]
            [[segments]]
            name = "prod"
            [[segments]]
            name = "dev"
            [[apps]]
            id = "payroll"
            sensitivity = "high"
            [[apps]]
            id = "wiki"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn expected_follows_the_source_segments_list() {
        let site = site();
        assert_eq!(expected(&site, "corp", "prod"), Some(true));
        assert_eq!(expected(&site, "corp", "corp"), Some(true));
        assert_eq!(expected(&site, "corp", "dev"), Some(false));
        assert_eq!(
            expected(&site, "prod", "dev"),
            None,
            "prod declares no list"
        );
    }

    #[test]
    fn apps_default_to_the_sensitive_ones_and_unknown_apps_are_refused() {
        let site = site();
        assert_eq!(resolve_apps(&site, &[]).unwrap(), vec!["payroll"]);
        assert_eq!(
            resolve_apps(&site, &[String::new()]).unwrap(),
            vec!["payroll"]
        );
        assert_eq!(
            resolve_apps(&site, &["wiki".into(), "wiki".into()]).unwrap(),
            vec!["wiki"]
        );
        let err = resolve_apps(&site, &["hr".into()]).unwrap_err().to_string();
        assert!(
            err.contains("unknown app \"hr\"; the site's apps are: payroll, wiki"),
            "{err}"
        );
        let none: SiteConfig = toml::from_str("[[apps]]\nid = \"wiki\"\n").unwrap();
        assert!(resolve_apps(&none, &[]).is_err());
    }
}
