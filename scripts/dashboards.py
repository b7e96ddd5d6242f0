#!/usr/bin/env python3
"""Write the Grafana dashboards in dashboards/*.json.

The dashboards are generated so that every panel follows the same conventions (datasource
uids, time parameters, column types) and a new KPI is one line here. Edit this file, run
`python3 scripts/dashboards.py`, and commit both; `cargo test --test dashboards` checks every
panel against a running server (KPI ids, labels, columns, Prometheus metric names).

Datasources (see dashboards/provisioning/datasources/ztlens.yml):
  ztlens-api         Infinity datasource pointed at the ztlens API
  ztlens-prometheus  Prometheus scraping ztlens's /metrics
  ztlens-sql         Grafana's PostgreSQL datasource over ztlens's wire protocol
"""

import json
import pathlib

API = {"type": "yesoreyeram-infinity-datasource", "uid": "ztlens-api"}
PROM = {"type": "prometheus", "uid": "ztlens-prometheus"}
SQL = {"type": "grafana-postgresql-datasource", "uid": "ztlens-sql"}
OUT = pathlib.Path(__file__).resolve().parent.parent / "dashboards"

# Column types the Infinity backend parser needs to build frames.
NUMBER, STRING, TIME = "number", "string", "timestamp"


def kpi_target(kpi, columns, filters=None, series=True, root="rows", evidence=False, ref="A"):
    """An Infinity query of /api/v1/kpis/{kpi} (or its evidence).

    columns: [(selector, type)]; filters: {label: value or $variable}; series: send the
    dashboard interval as step (a time series) instead of one whole-range bucket.
    """
    params = [{"key": "from", "value": "${__from}"}, {"key": "to", "value": "${__to}"}]
    if series and not evidence:
        params.append({"key": "interval", "value": "$__interval"})
    if evidence:
        params.append({"key": "limit", "value": "1000"})
    for label, value in (filters or {}).items():
        params.append({"key": label, "value": value})
    return {
        "refId": ref,
        "datasource": API,
        "type": "json",
        "source": "url",
        "parser": "backend",
        "format": "timeseries" if series and not evidence else "table",
        "url": f"/api/v1/kpis/{kpi}" + ("/evidence" if evidence else ""),
        "url_options": {"method": "GET", "data": "", "params": params},
        "root_selector": root,
        "columns": [{"selector": s, "text": s, "type": t} for s, t in columns],
    }


def alerts_target(columns, params=(), ref="A"):
    """An Infinity query of /api/v1/alerts over the dashboard's range (a flat JSON array)."""
    query = [{"key": "from", "value": "${__from}"}, {"key": "to", "value": "${__to}"}]
    query += [{"key": k, "value": v} for k, v in params]
    return {
        "refId": ref,
        "datasource": API,
        "type": "json",
        "source": "url",
        "parser": "backend",
        "format": "table",
        "url": "/api/v1/alerts",
        "url_options": {"method": "GET", "data": "", "params": query},
        "root_selector": "",
        "columns": [{"selector": s, "text": s, "type": t} for s, t in columns],
    }


ALERT_COLUMNS = [("first_seen", TIME), ("last_seen", TIME), ("rule", STRING), ("severity", STRING),
                 ("state", STRING), ("events", NUMBER), ("summary", STRING), ("id", STRING)]


def alert_annotations():
    """ztlens alerts as annotations: from the first to the last event, titled by the summary."""
    target = alerts_target([("time", TIME), ("time_end", TIME), ("text", STRING), ("title", STRING),
                            ("severity", STRING)])
    return {
        "name": "ztlens alerts",
        "datasource": API,
        "enable": True,
        "iconColor": "red",
        "target": target,
    }


def sql_target(sql, fmt="time_series", ref="A"):
    """Raw SQL for Grafana's PostgreSQL datasource: $__timeFilter and ${__from:date:iso} are
    Grafana's macros, expanded before the text reaches ztlens."""
    return {"refId": ref, "datasource": SQL, "editorMode": "code", "format": fmt,
            "rawQuery": True, "rawSql": sql}


def prom_target(expr, legend, ref="A"):
    return {"refId": ref, "datasource": PROM, "expr": expr, "legendFormat": legend, "range": True}


class Dashboard:
    def __init__(self, uid, title, description, variables=(), annotations=()):
        self.uid, self.title, self.description = uid, title, description
        self.panels, self.next_id, self.x, self.y, self.row_h = [], 1, 0, 0, 0
        self.variables = list(variables)
        self.annotations = list(annotations)

    def add(self, kind, title, targets, w=12, h=8, description="", unit=None, options=None):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel = {
            "id": self.next_id,
            "type": kind,
            "title": title,
            "description": description,
            "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
            "datasource": targets[0]["datasource"],
            "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit or "short"}, "overrides": []},
            "options": options or {},
        }
        self.panels.append(panel)
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return self

    def json(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["ztlens", "zero-trust"],
            "schemaVersion": 39,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,
            "time": {"from": "now-24h", "to": "now"},
            "refresh": "1m",
            "timezone": "utc",
            "templating": {"list": [label_variable(*v) for v in self.variables]},
            "annotations": {"list": self.annotations},
            "links": [
                {"title": "ztlens", "type": "dashboards", "tags": ["ztlens"], "asDropdown": True}
            ],
            "panels": self.panels,
        }


def label_variable(name, label, kpi):
    """A dropdown of the values KPI label `name` takes over the dashboard's range
    (/api/v1/kpis/{kpi}/labels/{name}/values), refreshed when the range changes. "All" sends
    `*`, which the API reads as no filter."""
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": API,
        "definition": f"/api/v1/kpis/{kpi}/labels/{name}/values",
        "query": {
            "queryType": "infinity",
            "query": "",
            "infinityQuery": {
                "refId": "variable",
                "type": "json",
                "source": "url",
                "parser": "backend",
                "format": "table",
                "url": f"/api/v1/kpis/{kpi}/labels/{name}/values",
                "url_options": {"method": "GET", "data": "", "params": [
                    {"key": "from", "value": "${__from}"}, {"key": "to", "value": "${__to}"}]},
                "root_selector": "values",
                "columns": [{"selector": "value", "text": "value", "type": STRING}],
            },
        },
        "refresh": 2,
        "includeAll": True,
        "allValue": "*",
        "multi": False,
        "sort": 1,
        "current": {"text": "All", "value": "$__all"},
        "options": [],
    }


def stat(d, title, kpi, total, filters=None, w=4, description=""):
    d.add("stat", title, [kpi_target(kpi, [(total, NUMBER)], filters, series=False, root="value")],
          w=w, h=4, description=description,
          options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "colorMode": "value", "graphMode": "none"})


def maturity_target():
    """The scorecard: one row per pillar."""
    return {
        "refId": "A",
        "datasource": API,
        "type": "json",
        "source": "url",
        "parser": "backend",
        "format": "table",
        "url": "/api/v1/maturity",
        "url_options": {"method": "GET", "data": "", "params": [
            {"key": "from", "value": "${__from}"}, {"key": "to", "value": "${__to}"}]},
        "root_selector": "pillars",
        "columns": [{"selector": s, "text": s, "type": t} for s, t in
                    [("pillar", STRING), ("level", NUMBER), ("level_name", STRING), ("next", STRING)]],
    }


def overview():
    d = Dashboard("ztlens-overview", "Zero Trust overview",
                  "Headline KPIs of the Zero Trust program over the selected range.",
                  annotations=[alert_annotations()])
    d.add("table", "Maturity by pillar", [maturity_target()], w=24, h=6,
          description="Levels 1 basic / 2 developing / 3 mature from documented thresholds; "
                      "`next` says what the next level needs (docs/kpis.md).")
    stat(d, "Denied by policy", "access_decisions", "events", {"decision": "deny_policy"})
    stat(d, "Challenged for stronger auth", "access_decisions", "events", {"decision": "challenge_mfa"})
    stat(d, "Blocked by device posture", "access_decisions", "events", {"decision": "deny_device_posture"})
    stat(d, "Blocked lateral movement", "blocked_lateral_movement", "blocked")
    stat(d, "Unsuccessful high-privilege access", "high_privilege_access_failures", "failures")
    stat(d, "MFA failures", "mfa_outcomes_by_country", "failure")
    stat(d, "Phishing-resistant MFA steps", "mfa_factor_strength", "verified",
         {"factor_class": "phishing_resistant"}, w=6)
    stat(d, "Sensitive sign-ins without MFA", "sensitive_app_sign_ins_without_mfa", "without_mfa", w=6)
    stat(d, "Exceptions used after expiry", "policy_exceptions", "expired_in_use", w=6)
    stat(d, "Dormant service accounts", "service_account_hygiene", "dormant", w=6)
    stat(d, "Lateral scans", "lateral_scans", "scans", w=6)
    stat(d, "…contained", "lateral_scans", "contained", w=6)
    d.add("table", "Lateral attempts: blocked vs allowed", [kpi_target(
        "lateral_movement_attempts",
        [("segment_src", STRING), ("segment_dst", STRING), ("blocked", NUMBER), ("allowed", NUMBER),
         ("blocked_ratio", NUMBER)], series=False)], w=12, h=4)
    d.add("timeseries", "Access decisions", [kpi_target(
        "access_decisions", [("time", TIME), ("decision", STRING), ("events", NUMBER)])],
        w=12, h=9, description="Authentication events per zt_decision, all sources.")
    d.add("timeseries", "Blocked lateral movement by segment pair", [kpi_target(
        "blocked_lateral_movement",
        [("time", TIME), ("segment_src", STRING), ("segment_dst", STRING), ("blocked", NUMBER)])],
        w=12, h=9)
    d.add("stat", "Dead letters in range", [prom_target(
        "sum(increase(ztlens_ingest_dead_letters_total[$__range]))", "dead letters")], w=6, h=4,
        description="Records refused by a parser; `ztlens dead-letters` lists the reasons.")
    d.add("stat", "Records ingested in range", [prom_target(
        "sum(increase(ztlens_ingest_records_total[$__range]))", "records")], w=6, h=4)
    stat(d, "Detections contained", "response_time", "contained", w=6)
    stat(d, "Devices remediated", "device_remediation_time", "remediated", w=6)
    d.add("table", "Response speed by severity", [kpi_target(
        "response_time",
        [("source", STRING), ("severity", STRING), ("contained", NUMBER), ("mean_minutes", NUMBER),
         ("median_minutes", NUMBER), ("p90_minutes", NUMBER)], series=False)], w=12, h=6,
        description="Minutes from an EDR detection to the first containment of its host or user.")
    d.add("table", "Contained detections — evidence", [kpi_target(
        "response_time",
        [("time", TIME), ("severity", STRING), ("finding_info_title", STRING),
         ("device_hostname", STRING), ("user_name", STRING), ("containment", STRING),
         ("minutes", NUMBER)], evidence=True)], w=12, h=6)
    stat(d, "Detections not yet contained", "detections_uncontained", "open", w=6,
         description="Detections of the last 7 days that no containment answered by the end of the range.")
    d.add("table", "Uncontained detections by severity", [kpi_target(
        "detections_uncontained",
        [("source", STRING), ("severity", STRING), ("open", NUMBER), ("median_age_hours", NUMBER),
         ("max_age_hours", NUMBER)], series=False)], w=18, h=4,
        description="The other half of response speed: a response that never happened has no minutes.")
    d.add("table", "Uncontained detections — evidence", [kpi_target(
        "detections_uncontained",
        [("time", TIME), ("severity", STRING), ("finding_info_title", STRING),
         ("device_hostname", STRING), ("user_name", STRING), ("age_hours", NUMBER)],
        evidence=True)], w=24, h=6)
    return d


def identity():
    d = Dashboard("ztlens-identity", "Identity",
                  "MFA outcomes, access decisions and privileged access across identity providers.",
                  variables=[("country", "Country", "mfa_outcomes_by_country"),
                             ("source", "Source", "access_decisions")])
    d.add("timeseries", "MFA outcomes", [kpi_target(
        "mfa_outcomes_by_country",
        [("time", TIME), ("success", NUMBER), ("failure", NUMBER), ("challenge", NUMBER)],
        {"country": "$country"})], w=12, h=9,
        description="Challenges are policy working, not failures.")
    d.add("table", "MFA by country", [kpi_target(
        "mfa_outcomes_by_country",
        [("country", STRING), ("success", NUMBER), ("failure", NUMBER), ("challenge", NUMBER),
         ("failure_rate", NUMBER)], {"country": "$country"}, series=False)], w=12, h=9)
    d.add("table", "MFA by city", [kpi_target(
        "mfa_outcomes_by_city",
        [("country", STRING), ("city", STRING), ("success", NUMBER), ("failure", NUMBER),
         ("challenge", NUMBER), ("failure_rate", NUMBER)], {"country": "$country"}, series=False)],
        w=24, h=9, description="A city with failures and no successes is where nobody works.")
    d.add("timeseries", "Access decisions", [kpi_target(
        "access_decisions", [("time", TIME), ("decision", STRING), ("events", NUMBER)],
        {"source": "$source"})], w=12, h=9)
    d.add("table", "Service accounts (non-human identities)", [kpi_target(
        "service_account_activity",
        [("source", STRING), ("account", STRING), ("allowed", NUMBER), ("refused", NUMBER),
         ("interactive", NUMBER), ("networks", NUMBER)], {"source": "$source"}, series=False)],
        w=12, h=9, description="Interactive sign-ins and more than two networks are hygiene findings.")
    d.add("table", "Sign-ins to sensitive apps by MFA", [kpi_target(
        "sensitive_app_sign_ins_without_mfa",
        [("source", STRING), ("app", STRING), ("sign_ins", NUMBER), ("with_mfa", NUMBER),
         ("without_mfa", NUMBER), ("unknown", NUMBER), ("without_mfa_share", NUMBER)],
        {"source": "$source"}, series=False)], w=12, h=9,
        description="Okta SSO inherits its session's MFA; `unknown` = the source does not say.")
    d.add("table", "Sensitive sign-ins without MFA — evidence", [kpi_target(
        "sensitive_app_sign_ins_without_mfa",
        [("time", TIME), ("app", STRING), ("mfa", STRING), ("user_name", STRING),
         ("service_name", STRING), ("session_uid", STRING), ("src_endpoint_ip", STRING)],
        {"source": "$source"}, evidence=True)], w=12, h=9)
    d.add("table", "Service-account hygiene", [kpi_target(
        "service_account_hygiene",
        [("account", STRING), ("owner", STRING), ("sign_ins", NUMBER),
         ("days_since_sign_in", NUMBER), ("dormant", NUMBER), ("credential_age_days", NUMBER),
         ("rotation_overdue", NUMBER), ("inventoried", NUMBER)], series=False)], w=12, h=9,
        description="Owners and rotation dates from the inventory; `unowned` accounts are not in it. "
                    "Dormant: no sign-in in 30 days.")
    d.add("timeseries", "Policy exceptions", [kpi_target(
        "policy_exceptions",
        [("time", TIME), ("owner", STRING), ("open", NUMBER), ("expired_in_use", NUMBER)])],
        w=12, h=9, description="Exceptions in effect per owner, and expired ones still used.")
    d.add("table", "Exceptions used after expiry — evidence", [kpi_target(
        "policy_exceptions",
        [("time", TIME), ("owner", STRING), ("exception_id", STRING), ("user_name", STRING),
         ("app", STRING), ("expires_time", TIME), ("after_expiry", STRING),
         ("service_name", STRING)], evidence=True)], w=12, h=9)
    d.add("table", "MFA by factor strength", [kpi_target(
        "mfa_factor_strength",
        [("source", STRING), ("factor_class", STRING), ("verified", NUMBER), ("failed", NUMBER),
         ("share", NUMBER)], {"source": "$source"}, series=False)], w=12, h=9,
        description="share = the class's part of all verified MFA steps; phishing_resistant is the number to grow.")
    d.add("table", "Access decisions by source", [kpi_target(
        "access_decisions",
        [("source", STRING), ("decision", STRING), ("events", NUMBER), ("share", NUMBER)],
        {"source": "$source"}, series=False)], w=12, h=9)
    d.add("table", "Unsuccessful high-privilege access", [kpi_target(
        "high_privilege_access_failures",
        [("source", STRING), ("target", STRING), ("failures", NUMBER)],
        {"source": "$source"}, series=False)], w=12, h=8)
    d.add("table", "MFA evidence", [kpi_target(
        "mfa_outcomes_by_country",
        [("time", TIME), ("outcome", STRING), ("user_name", STRING), ("country", STRING),
         ("city", STRING), ("auth_factor", STRING), ("service_name", STRING),
         ("src_endpoint_ip", STRING)], {"country": "$country"}, evidence=True)], w=12, h=8)
    return d


def devices():
    d = Dashboard("ztlens-devices", "Devices",
                  "Device posture as access decisions see it.", variables=[("source", "Source", "allowed_access_by_device_posture")])
    stat(d, "Blocked by device posture", "access_decisions", "events",
         {"decision": "deny_device_posture", "source": "$source"}, w=6)
    d.add("table", "Allowed-access evidence: unmanaged devices", [kpi_target(
        "allowed_access_by_device_posture",
        [("time", TIME), ("source", STRING), ("user_name", STRING), ("device_name", STRING),
         ("service_name", STRING), ("src_endpoint_ip", STRING)],
        {"device_posture": "unmanaged", "source": "$source"}, evidence=True)], w=24, h=8)
    stat(d, "Allowed from unmanaged devices", "allowed_access_by_device_posture", "allowed",
         {"device_posture": "unmanaged", "source": "$source"}, w=6)
    stat(d, "Allowed from non-compliant devices", "allowed_access_by_device_posture", "allowed",
         {"device_posture": "non_compliant", "source": "$source"}, w=6)
    stat(d, "Allowed from compliant devices", "allowed_access_by_device_posture", "allowed",
         {"device_posture": "compliant", "source": "$source"}, w=6)
    d.add("table", "Allowed access by device posture", [kpi_target(
        "allowed_access_by_device_posture",
        [("source", STRING), ("device_posture", STRING), ("allowed", NUMBER), ("share", NUMBER)],
        {"source": "$source"}, series=False)], w=12, h=8,
        description="Leakage: access allowed from unmanaged or non-compliant devices.")
    d.add("timeseries", "Device posture denials", [kpi_target(
        "access_decisions", [("time", TIME), ("source", STRING), ("events", NUMBER)],
        {"decision": "deny_device_posture", "source": "$source"})], w=12, h=8)
    d.add("table", "Device posture denials — evidence", [kpi_target(
        "access_decisions",
        [("time", TIME), ("source", STRING), ("user_name", STRING), ("service_name", STRING),
         ("policy_name", STRING), ("status_detail", STRING)],
        {"decision": "deny_device_posture", "source": "$source"}, evidence=True)], w=24, h=10)
    stat(d, "Devices remediated", "device_remediation_time", "remediated", {"source": "$source"}, w=6)
    stat(d, "Remediated after the grace period", "device_remediation_time", "closed_after_grace",
         {"source": "$source"}, w=6)
    stat(d, "Still non-compliant", "noncompliant_devices_open", "open", {"source": "$source"}, w=6)
    stat(d, "Non-compliant past grace", "noncompliant_devices_open", "past_grace",
         {"source": "$source"}, w=6,
         description="Devices a device-trust policy should now be blocking.")
    d.add("table", "Time to remediate, by platform", [kpi_target(
        "device_remediation_time",
        [("source", STRING), ("platform", STRING), ("remediated", NUMBER), ("mean_hours", NUMBER),
         ("median_hours", NUMBER), ("p90_hours", NUMBER), ("closed_after_grace", NUMBER)],
        {"source": "$source"}, series=False)], w=12, h=8,
        description="Non-compliance intervals closed in the range (hours from the first "
                    "non-compliant check-in to the first compliant one).")
    d.add("timeseries", "Mean time to remediate (hours)", [kpi_target(
        "device_remediation_time", [("time", TIME), ("platform", STRING), ("mean_hours", NUMBER)],
        {"source": "$source"})], w=12, h=8, unit="h")
    d.add("table", "Devices still non-compliant", [kpi_target(
        "noncompliant_devices_open",
        [("time", TIME), ("source", STRING), ("platform", STRING), ("device_hostname", STRING),
         ("device_owner_uid", STRING), ("latest_state", STRING), ("start_time", TIME),
         ("age_hours", NUMBER)],
        {"source": "$source"}, evidence=True)], w=24, h=10)
    return d


def network():
    d = Dashboard("ztlens-network", "Network",
                  "East-west traffic the network refused, by segment pair.",
                  variables=[("segment_src", "From segment", "lateral_movement_attempts"),
                             ("segment_dst", "To segment", "lateral_movement_attempts")])
    f = {"segment_src": "$segment_src", "segment_dst": "$segment_dst"}
    stat(d, "Blocked lateral flows", "blocked_lateral_movement", "blocked", f, w=6)
    stat(d, "…of them to admin ports", "blocked_lateral_movement", "blocked_admin_port", f, w=6)
    d.add("timeseries", "Blocked lateral movement", [kpi_target(
        "blocked_lateral_movement",
        [("time", TIME), ("segment_src", STRING), ("segment_dst", STRING), ("blocked", NUMBER),
         ("blocked_admin_port", NUMBER)], f)], w=12, h=8)
    d.add("table", "By segment pair", [kpi_target(
        "blocked_lateral_movement",
        [("segment_src", STRING), ("segment_dst", STRING), ("blocked", NUMBER),
         ("blocked_admin_port", NUMBER)], f, series=False)], w=12, h=8)
    d.add("timeseries", "Admin-port attempts: blocked, allowed, failed", [kpi_target(
        "lateral_movement_attempts",
        [("time", TIME), ("blocked", NUMBER), ("allowed", NUMBER), ("failed", NUMBER)], f)],
        w=12, h=8, description="failed = refused by the target without a policy decision (Zeek REJ).")
    d.add("table", "Blocked vs allowed by segment pair", [kpi_target(
        "lateral_movement_attempts",
        [("segment_src", STRING), ("segment_dst", STRING), ("blocked", NUMBER), ("allowed", NUMBER),
         ("failed", NUMBER), ("blocked_ratio", NUMBER)], f, series=False)], w=12, h=8)
    d.add("table", "Lateral scans", [kpi_target(
        "lateral_scans",
        [("segment_src", STRING), ("scans", NUMBER), ("contained", NUMBER),
         ("contained_ratio", NUMBER)], {"segment_src": "$segment_src"}, series=False)], w=12, h=8)
    d.add("table", "Scan flows — evidence", [kpi_target(
        "lateral_scans",
        [("time", TIME), ("src_endpoint_ip", STRING), ("dst_endpoint_ip", STRING),
         ("dst_endpoint_port", NUMBER), ("outcome", STRING), ("source", STRING)],
        {"segment_src": "$segment_src"}, evidence=True)], w=12, h=8)
    d.add("table", "Blocked flows — evidence", [kpi_target(
        "blocked_lateral_movement",
        [("time", TIME), ("source", STRING), ("src_endpoint_ip", STRING),
         ("dst_endpoint_ip", STRING), ("dst_endpoint_port", NUMBER), ("protocol", STRING),
         ("zt_port_class", STRING)], f, evidence=True)], w=12, h=8)
    return d


def applications():
    d = Dashboard("ztlens-applications", "Applications",
                  "Privileged applications and paths: who was turned away.",
                  variables=[("target", "Target", "high_privilege_access_failures")])
    stat(d, "Unsuccessful high-privilege access", "high_privilege_access_failures", "failures",
         {"target": "$target"}, w=6)
    stat(d, "Denied: app not approved", "access_decisions", "events",
         {"decision": "deny_app_not_approved"}, w=6)
    d.add("table", "Sensitive apps behind the IdP", [kpi_target(
        "sensitive_app_coverage",
        [("app", STRING), ("source", STRING), ("requests", NUMBER), ("behind_idp", NUMBER),
         ("unauthenticated", NUMBER), ("unknown", NUMBER), ("behind_idp_share", NUMBER)],
        series=False)], w=12, h=8,
        description="An app with unauthenticated requests is reachable around central identity; "
                    "unknown = anonymous log lines with no gate signal.")
    d.add("table", "Requests to sensitive apps — evidence", [kpi_target(
        "sensitive_app_coverage",
        [("time", TIME), ("app", STRING), ("idp_path", STRING), ("gate", STRING),
         ("user_name", STRING), ("src_endpoint_ip", STRING), ("method", STRING), ("path", STRING),
         ("status", NUMBER)], evidence=True)], w=12, h=8)
    d.add("timeseries", "Unsuccessful high-privilege access", [kpi_target(
        "high_privilege_access_failures",
        [("time", TIME), ("target", STRING), ("failures", NUMBER)], {"target": "$target"})],
        w=12, h=8)
    d.add("table", "Attempts — evidence", [kpi_target(
        "high_privilege_access_failures",
        [("time", TIME), ("source", STRING), ("target", STRING), ("user_name", STRING),
         ("src_endpoint_ip", STRING), ("outcome", STRING), ("status_detail", STRING)],
        {"target": "$target"}, evidence=True)], w=24, h=10)
    return d


def pipeline():
    d = Dashboard("ztlens-pipeline", "Pipeline health",
                  "Is the data complete? Ingest rates, refusals, lake and Kafka state.")
    d.add("timeseries", "Events by source", [kpi_target(
        "telemetry_health", [("time", TIME), ("source", STRING), ("events", NUMBER)])],
        w=12, h=8, description="Distinct events per source and interval, from the lake: a gap is a blind spot.")
    d.add("table", "Arrival lag and refusals by source", [kpi_target(
        "telemetry_health",
        [("source", STRING), ("events", NUMBER), ("lag_median_s", NUMBER), ("lag_max_s", NUMBER),
         ("dead_letters", NUMBER), ("dead_letter_rate", NUMBER), ("unmapped_events", NUMBER)],
        series=False)], w=12, h=8,
        description="Lag: processing time minus event time of each event's first delivery (s). "
                    "Dead letters: broken records refused, by when they were refused. Unmapped: "
                    "events no class maps, stored in base_event.")
    d.add("timeseries", "Records per second by source", [prom_target(
        "sum by (source) (rate(ztlens_ingest_records_total[$__rate_interval]))", "{{source}}")], unit="rps")
    d.add("timeseries", "Access decisions per second by source", [prom_target(
        "sum by (source, decision) (rate(ztlens_ingest_decisions_total[$__rate_interval]))",
        "{{source}}: {{decision}}")], unit="rps",
        description="Events stored with a zt_decision, counted as they are ingested: PromQL "
                    "picks its own window, unlike the KPI gauges.")
    d.add("timeseries", "Dead letters by source and reason", [prom_target(
        "sum by (source, reason) (increase(ztlens_ingest_dead_letters_total[$__rate_interval]))",
        "{{source}}: {{reason}}")])
    d.add("timeseries", "Kafka consumer lag by topic", [prom_target(
        "sum by (topic) (ztlens_kafka_consumer_lag)", "{{topic}}")])
    d.add("timeseries", "Rows waiting for Parquet", [
        prom_target("ztlens_lake_buffered_rows", "buffered rows"),
        prom_target("ztlens_lake_wal_bytes", "WAL bytes", ref="B")])
    d.add("timeseries", "Parquet flush p95", [prom_target(
        "histogram_quantile(0.95, sum by (le) (rate(ztlens_lake_flush_seconds_bucket[$__rate_interval])))",
        "p95")], unit="s")
    d.add("timeseries", "API requests by status", [prom_target(
        "sum by (status) (rate(ztlens_http_requests_total[$__rate_interval]))", "{{status}}")], unit="reqps")
    d.add("timeseries", "KPI evaluation errors", [prom_target(
        "sum by (kpi) (increase(ztlens_kpi_evaluation_errors_total[$__rate_interval]))", "{{kpi}}")])
    d.add("timeseries", "KPI evaluation time", [prom_target(
        "ztlens_kpi_evaluation_seconds", "{{kpi}}")], unit="s",
        description="Seconds the last /metrics evaluation of each KPI took over metrics.kpi_window_secs.")
    d.add("timeseries", "Flush errors and refused appends", [
        prom_target("increase(ztlens_lake_flush_errors_total[$__rate_interval])", "flush errors"),
        prom_target("increase(ztlens_lake_appends_rejected_total[$__rate_interval])", "appends refused",
                    ref="B")])
    d.add("table", "Event types no class maps", [kpi_target(
        "unmapped_event_types",
        [("source", STRING), ("event_type", STRING), ("events", NUMBER)],
        series=False)], w=12, h=8,
        description="Events of a known source stored in base_event (data, not errors): what a "
                    "feed sends that no KPI reads yet. Replay a type from base_event.raw_data "
                    "once a class maps it.")
    return d


def alerts():
    d = Dashboard("ztlens-alerts", "Alerts",
                  "What the detection rules raised: firing alerts, recent episodes, and the health "
                  "of the rules and of the notification sinks.",
                  annotations=[alert_annotations()])
    d.add("stat", "Firing now", [prom_target("sum(ztlens_alerts_firing)", "firing")], w=6, h=4,
          options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "colorMode": "value", "graphMode": "none"})
    d.add("timeseries", "Alerts fired by rule", [prom_target(
        "sum by (rule) (increase(ztlens_alerts_fired_total[$__rate_interval]))", "{{rule}}")], w=18, h=4)
    d.add("table", "Firing alerts", [alerts_target(ALERT_COLUMNS, [("state", "firing")])], w=24, h=8,
          description="Alerts whose condition still holds. Each id opens with its evidence rows at "
                      "/api/v1/alerts/{id}.")
    d.add("table", "Alerts in range", [alerts_target(ALERT_COLUMNS)], w=24, h=10,
          description="Every episode whose events overlap the dashboard's range, newest first.")
    d.add("timeseries", "Rule evaluation time", [prom_target(
        "ztlens_detection_evaluation_seconds", "{{rule}}")], unit="s",
        description="Seconds the last evaluation of each rule took.")
    d.add("timeseries", "Rule evaluation errors", [prom_target(
        "sum by (rule) (increase(ztlens_detection_evaluation_errors_total[$__rate_interval]))", "{{rule}}")])
    d.add("timeseries", "Notifications by sink", [
        prom_target("sum by (sink) (rate(ztlens_notifications_sent_total[$__rate_interval]))", "{{sink}} sent"),
        prom_target("sum by (sink) (rate(ztlens_notifications_failed_total[$__rate_interval]))", "{{sink}} failed",
                    ref="B")], unit="reqps")
    d.add("timeseries", "Webhook outbox depth", [prom_target(
        "ztlens_notification_outbox_depth", "{{sink}}")],
        description="Notifications waiting for their webhook: grows while a receiver is down.")
    return d


def sql():
    d = Dashboard("ztlens-sql", "SQL (PostgreSQL datasource)",
                  "Panels written in SQL against ztlens over the PostgreSQL wire protocol "
                  "(Grafana's built-in PostgreSQL datasource; no plugin needed).")
    d.add("timeseries", "Access decisions per hour", [sql_target(
        "SELECT date_trunc('hour', time) AS time, zt_decision AS metric, count(*) AS value\n"
        "FROM authentication\n"
        "WHERE $__timeFilter(time) AND zt_decision IS NOT NULL\n"
        "GROUP BY 1, 2\nORDER BY 1")], w=24, h=9,
        description="Authentication events per zt_decision, counted by ztlens's SQL engine.")
    d.add("table", "MFA outcomes by country (a KPI called from SQL)", [sql_target(
        "SELECT * FROM ztlens_kpi('mfa_outcomes_by_country', '${__from:date:iso}', '${__to:date:iso}')",
        fmt="table")], w=12, h=9,
        description="ztlens_kpi(id, from, to[, step]) runs a KPI exactly as GET /api/v1/kpis/{id}.")
    d.add("table", "Denied sign-ins, newest first", [sql_target(
        "SELECT time, user_name, src_endpoint_ip, zt_decision, metadata_product_name\n"
        "FROM authentication\n"
        "WHERE $__timeFilter(time) AND zt_decision LIKE 'deny%'\n"
        "ORDER BY time DESC\nLIMIT 100", fmt="table")], w=12, h=9)
    return d


def main():
    for name, dashboard in [
        ("alerts", alerts()),
        ("zero-trust-overview", overview()),
        ("identity", identity()),
        ("devices", devices()),
        ("network", network()),
        ("applications", applications()),
        ("pipeline-health", pipeline()),
        ("sql", sql()),
    ]:
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(dashboard.json(), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {path.relative_to(OUT.parent)} ({len(dashboard.panels)} panels)")


if __name__ == "__main__":
    main()
