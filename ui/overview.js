// The built-in overview page: headline KPIs with sparklines, the maturity scorecard and the
// newest alerts, read from the API with the page's own origin (and a read token when the
// server has tokens). No build step: this file is served as it is.
"use strict";

const HEADLINES = [
  { id: "access_decisions", metric: "events", filter: ["decision", "deny_policy"], title: "Denied by policy" },
  { id: "access_decisions", metric: "events", filter: ["decision", "challenge_mfa"], title: "Challenged for stronger authentication" },
  { id: "access_decisions", metric: "events", filter: ["decision", "deny_device_posture"], title: "Blocked by device posture" },
  { id: "blocked_lateral_movement", metric: "blocked", title: "Blocked lateral movement" },
  { id: "high_privilege_access_failures", metric: "failures", title: "Unsuccessful high-privilege access" },
  { id: "mfa_outcomes_by_country", metric: "failure", title: "MFA failures" },
  { id: "sensitive_app_sign_ins_without_mfa", metric: "without_mfa", title: "Sensitive sign-ins without MFA" },
  { id: "lateral_scans", metric: "scans", title: "Lateral scans" },
];

// Sparkline buckets per range.
const STEPS = { "now-24h": "1h", "now-7d": "6h", "now-30d": "1d" };

const errors = [];

function reportError(message) {
  errors.push(String(message));
  const box = document.getElementById("errors");
  box.textContent = errors.join("\n");
  box.hidden = false;
  const status = document.getElementById("status");
  status.textContent = String(message);
  status.className = "error";
}

window.addEventListener("error", (e) => reportError(e.message));
window.addEventListener("unhandledrejection", (e) => reportError(e.reason));

class Unauthorized extends Error {}

async function api(path) {
  const headers = {};
  const token = sessionStorage.getItem("ztlens-token");
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers });
  if (response.status === 401 || response.status === 403) throw new Unauthorized(path);
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).message || message; } catch (_) { /* not JSON */ }
    throw new Error(`${path}: ${message}`);
  }
  return response.json();
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function range() {
  const params = new URLSearchParams(location.search);
  if (params.get("from")) {
    return { from: params.get("from"), to: params.get("to") || "now", step: params.get("step") || "1d" };
  }
  const from = document.getElementById("range").value;
  return { from, to: "now", step: STEPS[from] || "1h" };
}

function sparkline(points) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 100 40");
  svg.setAttribute("preserveAspectRatio", "none");
  if (points.length > 1) {
    const max = Math.max(...points, 1);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points
      .map((v, i) => `${(i * 100) / (points.length - 1)},${38 - (v * 36) / max}`)
      .join(" "));
    svg.append(line);
  }
  return svg;
}

async function headline(def, { from, to, step }) {
  const query = new URLSearchParams({ from, to, step });
  if (def.filter) query.append(def.filter[0], def.filter[1]);
  const body = await api(`/api/v1/kpis/${def.id}?${query}`);
  const series = new Map();
  for (const row of body.rows) {
    series.set(row.time, (series.get(row.time) || 0) + (Number(row[def.metric]) || 0));
  }
  const points = [...series.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
  const value = body.value[def.metric] ?? 0;
  return el("div", {
    class: "card",
    "data-kpi": def.id,
    "data-metric": def.metric,
    "data-filter": def.filter ? def.filter.join("=") : "",
    "data-value": String(value),
  },
  el("div", { class: "title" }, def.title),
  el("div", { class: "value" }, Number(value).toLocaleString("en")),
  sparkline(points));
}

async function maturity({ from, to }) {
  const body = await api(`/api/v1/maturity?${new URLSearchParams({ from, to })}`);
  const rows = body.pillars.map((p) => el("tr", { "data-pillar": p.pillar },
    el("td", {}, p.pillar),
    el("td", { class: `level-${p.level}`, "data-level": String(p.level) }, `${p.level} ${p.level_name}`),
    el("td", {}, p.next || "—")));
  document.querySelector("#maturity tbody").replaceChildren(...rows);
}

async function alerts({ from, to }) {
  const body = await api(`/api/v1/alerts?${new URLSearchParams({ from, to, limit: "10" })}`);
  const rows = body.map((a) => el("tr", { "data-alert": a.id },
    el("td", {}, a.first_seen),
    el("td", {}, a.rule),
    el("td", { class: `sev-${String(a.severity).toLowerCase()}` }, a.severity),
    el("td", {}, a.state),
    el("td", {}, a.summary)));
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: "5" }, "No alerts in this range.")));
  document.querySelector("#alerts tbody").replaceChildren(...rows);
}

async function refresh() {
  const status = document.getElementById("status");
  status.textContent = "loading…";
  status.className = "";
  const r = range();
  try {
    const catalog = new Set((await api("/api/v1/kpis")).kpis.map((k) => k.id));
    const cards = await Promise.all(HEADLINES.filter((d) => catalog.has(d.id)).map((d) => headline(d, r)));
    document.getElementById("kpis").replaceChildren(...cards);
    await Promise.all([maturity(r), alerts(r)]);
    document.getElementById("login").hidden = true;
    status.textContent = `updated ${new Date().toLocaleTimeString("en")}`;
    document.body.dataset.loaded = "true";
  } catch (e) {
    if (e instanceof Unauthorized) {
      document.getElementById("login").hidden = false;
      status.textContent = "a read token is needed";
      return;
    }
    reportError(e.message || e);
  }
}

document.getElementById("range").addEventListener("change", refresh);
document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("ztlens-token", document.getElementById("token").value.trim());
  refresh();
});
refresh();
setInterval(refresh, 60_000);
