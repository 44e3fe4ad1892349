"""The status page served at ``/``: one self-contained HTML document (no CDN, no external script or font), whose inline
script polls the JSON endpoints every 5 seconds. Warehouse strings are inserted with ``textContent`` only, never as
HTML. When API_TOKEN is set the page asks for it once and keeps it in the tab's sessionStorage."""

from __future__ import annotations

# Served with this policy: the page may talk to its own origin only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>arb status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d232b; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  h2 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
  .muted { color: #687180; }
  .cards { display: flex; flex-wrap: wrap; gap: .6rem; }
  .card { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: .5rem .8rem; min-width: 9rem; }
  .card b { display: block; font-size: 1.15rem; }
  table { border-collapse: collapse; background: #fff; width: 100%; }
  th, td { border: 1px solid #dde1e6; padding: .25rem .45rem; text-align: left; font-size: 13px; }
  th { background: #eef0f3; }
  .warning { color: #8a5a00; } .critical { color: #b00020; font-weight: 600; } .ok { color: #1b7f3b; }
  #error { background: #fde8e8; border: 1px solid #f3b4b4; padding: .5rem; border-radius: 6px; }
</style>
</head>
<body>
<h1>arb status <span id="health" class="muted"></span></h1>
<div class="muted">as of <span id="as_of">&ndash;</span> &middot; refreshes every 5 s &middot;
  JSON: <a href="/api/ai/status">status</a>, <a href="/api/ai/metrics">metrics</a>,
  <a href="/api/ai/metrics/recent?window_minutes=60">recent</a>,
  <a href="/api/ai/decisions/latest?limit=10">decisions</a>,
  <a href="/api/ai/health">health</a>, <a href="/openapi.json">openapi.json</a></div>
<p id="error" hidden></p>
<form id="auth" hidden>API_TOKEN: <input id="token" type="password" autocomplete="off"> <button>use</button></form>

<h2>System</h2>
<div class="cards">
  <div class="card">mode<b id="mode">&ndash;</b></div>
  <div class="card">ML scoring<b id="enabled">&ndash;</b></div>
  <div class="card">dry run<b id="dry_run">&ndash;</b></div>
  <div class="card">portfolio (USD)<b id="portfolio">&ndash;</b></div>
  <div class="card">model<b id="model">&ndash;</b></div>
  <div class="card">latest run<b id="run">&ndash;</b><span id="run_status" class="muted"></span></div>
</div>

<h2>Performance (all runs)</h2>
<div class="cards">
  <div class="card">decisions<b id="decisions">&ndash;</b><span id="decisions_split" class="muted"></span></div>
  <div class="card">executions<b id="executions">&ndash;</b></div>
  <div class="card">win rate<b id="win_rate">&ndash;</b></div>
  <div class="card">success rate<b id="success_rate">&ndash;</b></div>
  <div class="card">realized profit (USD)<b id="realized">&ndash;</b></div>
  <div class="card">gas (USD)<b id="gas">&ndash;</b><span id="gas_share" class="muted"></span></div>
  <div class="card">drawdown<b id="drawdown">&ndash;</b><span id="max_drawdown" class="muted"></span></div>
  <div class="card">daily loss used<b id="daily_loss">&ndash;</b></div>
</div>

<h2>Alerts now</h2>
<ul id="alerts"><li class="muted">&ndash;</li></ul>

<h2>Latest decisions</h2>
<table><thead><tr><th>decided at</th><th>route</th><th>kind</th><th>action</th><th>confidence</th>
<th>net profit</th><th>model</th><th>reasons</th></tr></thead><tbody id="decisions_rows"></tbody></table>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
const show = (id, v) => { $(id).textContent = (v === null || v === undefined) ? "\\u2013" : String(v); };
const pct = (x) => (x === null || x === undefined) ? "\\u2013" : (x * 100).toFixed(1) + "%";
const yesno = (b) => (b === null || b === undefined) ? "\\u2013" : (b ? "yes" : "no");

function authHeaders() {
  const t = sessionStorage.getItem("arbToken");
  return t ? { "Authorization": "Bearer " + t } : {};
}

async function get(path) {
  const r = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { throw { status: r.status, detail: body.detail }; }
  return body;
}

function cell(tr, v) { const td = document.createElement("td"); td.textContent = v ?? "\\u2013"; tr.appendChild(td); }

async function refresh() {
  try {
    const [s, m, h, d] = await Promise.all([
      get("/api/ai/status"), get("/api/ai/metrics"), get("/api/ai/health"), get("/api/ai/decisions/latest?limit=10"),
    ]);
    show("as_of", s.as_of);
    show("mode", s.mode); show("enabled", yesno(s.enabled)); show("dry_run", yesno(s.dry_run));
    show("portfolio", s.portfolio_value_usd); show("model", s.model_version);
    show("run", s.latest_run ? s.latest_run.run_id : null);
    show("run_status", s.latest_run ? `${s.latest_run.status} \\u00b7 ${s.latest_run.source}` : "");
    const dc = m.decisions;
    show("decisions", dc.total);
    show("decisions_split", `${dc.execute} execute \\u00b7 ${dc.reject} reject \\u00b7 ${dc.defer} defer`);
    show("executions", m.executions.total); show("win_rate", pct(m.executions.win_rate));
    show("success_rate", pct(m.executions.success_rate));
    show("realized", m.profitability.realized_profit_usd); show("gas", m.profitability.gas_cost_usd);
    show("gas_share", `${pct(m.profitability.gas_share)} of gross`);
    show("drawdown", pct(h.drawdown.current)); show("max_drawdown", `max ${pct(h.drawdown.max)}`);
    show("daily_loss", pct(h.daily_loss.used));
    $("health").textContent = h.status; $("health").className = h.status;
    const ul = $("alerts"); ul.replaceChildren();
    const item = (cls, text) => {
      const li = document.createElement("li"); li.className = cls; li.textContent = text; ul.appendChild(li);
    };
    if (h.alerts.length === 0) { item("ok", "none"); }
    for (const a of h.alerts) { item(a.level, `${a.kind}: ${a.message}`); }
    const tbody = $("decisions_rows"); tbody.replaceChildren();
    for (const x of d.decisions) {
      const tr = document.createElement("tr");
      cell(tr, x.decided_at); cell(tr, x.route_id); cell(tr, x.kind); cell(tr, x.action);
      cell(tr, x.confidence === null ? null : x.confidence.toFixed(3));
      cell(tr, x.net_profit === null ? null : `${x.net_profit} ${x.profit_currency ?? ""}`);
      cell(tr, x.model_version); cell(tr, x.reasons.join(", "));
      tbody.appendChild(tr);
    }
    $("error").hidden = true; $("auth").hidden = true;
  } catch (e) {
    $("error").hidden = false;
    $("error").textContent = e && e.status
      ? `HTTP ${e.status}: ${typeof e.detail === "string" ? e.detail : JSON.stringify(e.detail)}`
      : "the API is not reachable";
    if (e && e.status === 401) { $("auth").hidden = false; }
  }
}

$("auth").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("arbToken", $("token").value);
  $("token").value = "";
  refresh();
});
refresh();
setInterval(refresh, 5000);
</script>
</body>
</html>
"""
