// The dashboard page: plain HTML, one script and one style sheet, no framework and nothing fetched
// from elsewhere (the page works offline and under a strict Content-Security-Policy). The script
// keeps one EventSource open and redraws what each message changes: the topology's node colours and
// addresses, the tables, the chart, the event list. Text goes in through textContent only; the one
// piece of markup it inserts, the topology's SVG, is drawn by control/graph/svg.ts, which escapes
// every name.

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function dashboardPage(farm: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>farm ${escapeHtml(farm)} · farmhand</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>farm <span id="farm">${escapeHtml(farm)}</span></h1>
  <span id="summary" class="muted">connecting…</span>
  <span id="connection" class="badge" data-state="connecting">connecting</span>
</header>
<main>
  <section id="topology-section">
    <h2>Topology</h2>
    <div id="graph" class="graph"><p class="muted">The topology appears once the farm script has run.</p></div>
    <p class="legend-health">
      <span class="swatch" data-health="healthy"></span> healthy
      <span class="swatch" data-health="starting"></span> starting
      <span class="swatch" data-health="unhealthy"></span> failed or not answering
      <span class="swatch" data-health="stopped"></span> stopped
    </p>
  </section>
  <section id="chart-section">
    <h2>Requests and replicas, last minutes</h2>
    <div id="charts"><p class="muted">Waiting for the balancers' first numbers…</p></div>
  </section>
  <section id="balancers-section">
    <h2>Balancers</h2>
    <div id="balancers"><p class="muted">No balancer yet.</p></div>
  </section>
  <section id="vms-section">
    <h2>VMs</h2>
    <table id="vms"><thead><tr><th>VM</th><th>role</th><th>health</th><th>address</th><th id="where-head">pid</th><th>uptime</th><th>req/s</th><th>err/s</th><th>in flight</th><th>why</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="events-section">
    <h2>Events</h2>
    <ol id="events" reversed></ol>
  </section>
</main>
</body>
</html>
`;
}

export function lockedPage(farm: string, why: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>farm ${escapeHtml(farm)} · farmhand</title></head>
<body style="font-family: sans-serif; margin: 3em">
<h1>farm ${escapeHtml(farm)}</h1>
<p>${escapeHtml(why)} <code>farmhand dashboard --farm ${escapeHtml(farm)}</code> prints the link that opens this dashboard.</p>
</body></html>
`;
}

export const DASHBOARD_STYLE = `
:root { --ok: #2e7d32; --ok-bg: #e3f4e1; --bad: #c62828; --bad-bg: #fde2e1; --warn: #b26a00; --warn-bg: #fff1d6; --off: #777; --off-bg: #eeeeee; --ink: #1d2330; --line: #d8dde6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f6f7f9; }
header { display: flex; gap: 1em; align-items: baseline; padding: 0.8em 1.4em; background: #1d2330; color: #fff; position: sticky; top: 0; z-index: 2; }
header h1 { font-size: 1.2em; margin: 0; }
header .muted { color: #c5cad3; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 1em; padding: 1em 1.4em; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 0.6em 1em 1em; min-width: 0; overflow-x: auto; }
#topology-section, #vms-section { grid-column: 1 / -1; }
h2 { font-size: 1em; margin: 0.3em 0 0.6em; color: #3a4254; }
.muted { color: var(--off); }
.graph { overflow-x: auto; }
.graph svg { max-width: 100%; height: auto; }
g.node[data-health="healthy"] .node-box { fill: var(--ok-bg); }
g.node[data-health="starting"] .node-box { fill: var(--warn-bg); }
g.node[data-health="stopped"] .node-box { fill: var(--off-bg); }
g.node[data-health="unhealthy"] .node-box, g.node[data-health="failed"] .node-box, g.node[data-health="damaged"] .node-box { fill: var(--bad-bg); stroke: var(--bad); stroke-width: 3; }
g.node[data-health="unhealthy"] .node-live, g.node[data-health="failed"] .node-live { fill: var(--bad); font-weight: bold; }
.legend-health { color: #555; font-size: 0.9em; }
.swatch { display: inline-block; width: 1em; height: 0.8em; border: 1px solid #999; border-radius: 2px; vertical-align: middle; margin-left: 0.8em; }
.swatch[data-health="healthy"], .badge[data-health="healthy"] { background: var(--ok-bg); border-color: var(--ok); color: var(--ok); }
.swatch[data-health="starting"], .badge[data-health="starting"] { background: var(--warn-bg); border-color: var(--warn); color: var(--warn); }
.swatch[data-health="unhealthy"], .badge[data-health="unhealthy"], .badge[data-health="failed"], .badge[data-health="damaged"] { background: var(--bad-bg); border-color: var(--bad); color: var(--bad); }
.swatch[data-health="stopped"], .badge[data-health="stopped"] { background: var(--off-bg); border-color: var(--off); color: var(--off); }
.badge { display: inline-block; padding: 0 0.5em; border: 1px solid var(--off); border-radius: 1em; font-size: 0.85em; }
.badge[data-state="live"] { color: #9be39f; border-color: #9be39f; }
.badge[data-state="connecting"], .badge[data-state="lost"] { color: #ffb4a9; border-color: #ffb4a9; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 0.25em 0.6em; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.num, th.num { text-align: right; }
td.why { white-space: normal; color: var(--bad); }
.balancer { margin-bottom: 1em; }
.balancer h3 { font-size: 0.95em; margin: 0.2em 0; }
.balancer .where { font-size: 0.85em; color: #555; }
.pool-line { margin: 0.4em 0 0.2em; }
#events { list-style: none; padding: 0; margin: 0; max-height: 24em; overflow-y: auto; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; }
#events li { padding: 0.15em 0.2em; border-bottom: 1px solid #f0f1f4; }
#events li time { color: #777; margin-right: 0.8em; }
#events li[data-type="vm-failed"] { color: var(--bad); font-weight: bold; }
#events li[data-type="vm-healed"], #events li[data-type="vm-started"] { color: var(--ok); }
#events li[data-type="autoscale"] { color: #1f4e79; }
.chart { margin-bottom: 0.8em; }
.chart svg { width: 100%; height: 170px; display: block; }
.chart .title { font-size: 0.9em; color: #3a4254; }
.chart .key { font-size: 0.85em; color: #555; }
.chart .key span { margin-right: 1em; }
.chart .key .demand { color: #c05a00; }
.chart .key .rps { color: #1f5fbf; } .chart .key .err { color: var(--bad); } .chart .key .members { color: #6a3d9a; }
`;

export const DASHBOARD_SCRIPT = `"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? "" : String(c)));
    return node;
  };
  const rate = (v) => (v === null || v === undefined ? "-" : v === 0 ? "0" : v < 10 ? v.toFixed(1) : String(Math.round(v)));
  const ms = (v) => (v < 10 ? v.toFixed(1) : String(Math.round(v)));
  const duration = (s) => {
    if (s === null || s === undefined) return "-";
    const pad = (n) => String(n).padStart(2, "0");
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + pad(s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + pad(Math.floor((s % 3600) / 60)) + "m";
    return Math.floor(s / 86400) + "d " + pad(Math.floor((s % 86400) / 3600)) + "h";
  };
  const clock = (iso) => new Date(iso).toLocaleTimeString();

  /** What each VM's node shows: its address and health, from the last look or a newer event. */
  const health = new Map();
  const address = new Map();
  let history = [];
  const CHART_MS = 15 * 60 * 1000;

  function paintNode(name) {
    const h = health.get(name);
    for (const g of document.querySelectorAll("g.node")) {
      if (g.getAttribute("data-id") !== name) continue;
      if (h === undefined) g.removeAttribute("data-health");
      else g.setAttribute("data-health", h);
      const live = g.querySelector("text.node-live");
      if (live) live.textContent = (address.get(name) || "-") + " · " + (h || "?");
    }
  }
  function paintAll() {
    for (const g of document.querySelectorAll("g.node")) paintNode(g.getAttribute("data-id"));
  }

  function showGraph(svg) {
    if (!svg) return;
    $("#graph").innerHTML = svg;
    paintAll();
  }

  function showView(view) {
    if (!view) return;
    const healthy = view.vms.filter((v) => v.health === "healthy").length;
    const c = view.controller;
    $("#summary").textContent = view.vms.length + " VMs, " + healthy + " healthy · " + view.driver + " driver" +
      (c ? " · controller " + (c.running ? "pid " + c.pid : "not running") : "") + " · " + clock(view.at);
    for (const vm of view.vms) {
      health.set(vm.name, vm.health);
      address.set(vm.name, vm.address);
    }
    paintAll();
    const proxmox = view.vms.some((v) => v.node !== null);
    $("#where-head").textContent = proxmox ? "VMID · node" : "pid";
    const body = $("#vms tbody");
    body.replaceChildren(...view.vms.map((vm) => el("tr", { "data-vm": vm.name },
      el("td", {}, vm.name), el("td", {}, vm.role || "?"),
      el("td", {}, el("span", { class: "badge", "data-health": vm.health }, vm.health)),
      el("td", {}, vm.address || "-"),
      el("td", {}, proxmox ? vm.id + " · " + (vm.node || "-") : vm.pid === null ? "-" : vm.pid),
      el("td", {}, duration(vm.uptimeSeconds)),
      el("td", { class: "num" }, rate(vm.traffic && vm.traffic.requestsPerSecond)),
      el("td", { class: "num" }, rate(vm.traffic && vm.traffic.errorsPerSecond)),
      el("td", { class: "num" }, vm.traffic ? vm.traffic.inFlight : "-"),
      el("td", { class: "why" }, vm.health === "healthy" ? "" : vm.reason || ""))));
    const balancers = $("#balancers");
    if (view.balancers.length === 0) return;
    balancers.replaceChildren(...view.balancers.map((b) => el("div", { class: "balancer", "data-balancer": b.name },
      el("h3", {}, b.name + " (" + b.contract + ")"),
      el("div", { class: "where" }, b.admin ? "admin API " + b.admin + " · metrics " + b.metrics : "not running", b.error ? " · " + b.error : ""),
      ...b.pools.flatMap((p) => [
        el("div", { class: "pool-line" }, "pool " + p.name + ": " + p.members + " member" + (p.members === 1 ? "" : "s") +
          (p.traffic ? " · " + rate(p.traffic.requestsPerSecond) + " req/s · " + rate(p.traffic.errorsPerSecond) + " 5xx/s · " + p.traffic.inFlight + " in flight" +
            (p.traffic.latency ? " · p50 " + ms(p.traffic.latency.p50Ms) + " ms · p95 " + ms(p.traffic.latency.p95Ms) + " ms" : "") : "")),
        el("table", { class: "pool", "data-pool": p.name },
          el("thead", {}, el("tr", {}, ...["backend", "VM", "health", "routable", "lifecycle", "req/s", "err/s", "in flight", "p50 ms", "p95 ms"].map((h, i) => el("th", { class: i >= 5 ? "num" : undefined }, h)))),
          el("tbody", {}, ...p.backends.map((x) => el("tr", { "data-backend": x.id },
            el("td", {}, x.id), el("td", {}, x.vm || "-"),
            el("td", {}, el("span", { class: "badge", "data-health": x.healthy ? "healthy" : "unhealthy" }, x.healthy ? "up" : "down")),
            el("td", {}, x.routable ? "yes" : "no"), el("td", {}, x.lifecycle),
            el("td", { class: "num" }, rate(x.traffic && x.traffic.requestsPerSecond)),
            el("td", { class: "num" }, rate(x.traffic && x.traffic.errorsPerSecond)),
            el("td", { class: "num" }, x.inFlight),
            el("td", { class: "num" }, x.traffic && x.traffic.latency ? ms(x.traffic.latency.p50Ms) : "-"),
            el("td", { class: "num" }, x.traffic && x.traffic.latency ? ms(x.traffic.latency.p95Ms) : "-"))))),
      ]))));
  }

  const HEALTH_AFTER = { "vm-failed": "failed", "vm-healed": "healthy", "vm-started": "healthy", "vm-stopped": "stopped" };
  function showEvent(entry, fresh) {
    const e = entry.event;
    const list = $("#events");
    list.prepend(el("li", { "data-type": e.type, "data-vm": e.vm }, el("time", { datetime: entry.at }, clock(entry.at)), entry.text || e.type));
    while (list.children.length > 300) list.lastElementChild.remove();
    // An event is news the next look has not caught up with: the node shows it at once.
    if (fresh && typeof e.vm === "string" && HEALTH_AFTER[e.type]) {
      health.set(e.vm, HEALTH_AFTER[e.type]);
      if (typeof e.address === "string") address.set(e.vm, e.address);
      paintNode(e.vm);
    }
  }

  const NS = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    return n;
  };
  function drawCharts() {
    const now = history.length > 0 ? history[history.length - 1].t : Date.now();
    const points = history.filter((p) => p.t >= now - CHART_MS);
    const keys = [...new Set(points.flatMap((p) => Object.keys(p.pools)))].sort();
    const box = $("#charts");
    if (keys.length === 0) return;
    box.replaceChildren(...keys.map((key) => chart(key, points, now)));
  }
  function chart(key, points, now) {
    const W = 640, H = 170, L = 44, R = 36, T = 10, B = 22;
    const series = points.filter((p) => p.pools[key]).map((p) => ({ t: p.t, ...p.pools[key] }));
    const t0 = Math.min(now - 60 * 1000, series.length ? series[0].t : now);
    const x = (t) => L + ((t - t0) / Math.max(1, now - t0)) * (W - L - R);
    const maxRps = Math.max(1, ...series.map((s) => Math.max(s.requestsPerSecond || 0, s.errorsPerSecond || 0)));
    const maxMembers = Math.max(1, ...series.map((s) => s.backends));
    const yl = (v) => T + (1 - v / maxRps) * (H - T - B);
    const yr = (v) => T + (1 - v / (maxMembers + 1)) * (H - T - B);
    const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", "data-pool": key });
    svg.append(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fbfcfe", stroke: "#d8dde6" }));
    for (const f of [0, 0.5, 1]) {
      const v = maxRps * f;
      const label = svgEl("text", { x: L - 4, y: yl(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#1f5fbf" });
      label.textContent = rate(v);
      svg.append(label);
    }
    for (let m = 0; m <= maxMembers; m++) {
      const label = svgEl("text", { x: W - R + 4, y: yr(m) + 4, "font-size": 10, fill: "#6a3d9a" });
      label.textContent = String(m);
      svg.append(label);
    }
    const minutes = Math.round((now - t0) / 60000);
    const span = svgEl("text", { x: L, y: H - 6, "font-size": 10, fill: "#777" });
    span.textContent = minutes <= 1 ? "last minute" : "last " + minutes + " minutes";
    svg.append(span);
    const line = (pick, y, color, step, cls) => {
      let d = "";
      let prev = null;
      for (const s of series) {
        const v = pick(s);
        if (v === null || v === undefined) { prev = null; continue; }
        if (prev === null) d += " M " + x(s.t).toFixed(1) + " " + y(v).toFixed(1);
        else if (step) d += " L " + x(s.t).toFixed(1) + " " + y(prev).toFixed(1) + " L " + x(s.t).toFixed(1) + " " + y(v).toFixed(1);
        else d += " L " + x(s.t).toFixed(1) + " " + y(v).toFixed(1);
        prev = v;
      }
      if (d !== "") svg.append(svgEl("path", { d, fill: "none", stroke: color, "stroke-width": 2, class: cls }));
    };
    line((s) => s.members, yr, "#6a3d9a", true, "members");
    line((s) => s.requestsPerSecond, yl, "#1f5fbf", false, "rps");
    line((s) => s.errorsPerSecond, yl, "#c62828", false, "err");
    const scaled = series.some((s) => s.demand !== undefined);
    if (scaled) {
      const maxDemand = Math.max(1e-9, ...series.map((s) => s.demand || 0));
      line((s) => (s.demand === undefined || s.demand === null ? null : (s.demand / maxDemand) * maxRps), yl, "#c05a00", false, "demand");
    }
    const last = series[series.length - 1];
    return el("div", { class: "chart", "data-pool": key },
      el("div", { class: "title" }, key),
      svg,
      el("div", { class: "key" },
        el("span", { class: "rps" }, "— requests/s " + rate(last && last.requestsPerSecond)),
        el("span", { class: "err" }, "— 5xx/s " + rate(last && last.errorsPerSecond)),
        el("span", { class: "members" }, "— members " + (last ? last.members + " of " + last.backends : "-")),
        scaled ? el("span", { class: "demand" }, "— autoscaler demand " + (last && last.demand !== undefined && last.demand !== null ? Number(last.demand.toFixed(2)) : "?") + " (scaled)") : ""));
  }

  function connect() {
    const status = $("#connection");
    const source = new EventSource("/api/stream");
    source.addEventListener("open", () => { status.dataset.state = "live"; status.textContent = "live"; });
    source.addEventListener("error", () => { status.dataset.state = "lost"; status.textContent = "reconnecting…"; });
    source.addEventListener("hello", (m) => {
      const s = JSON.parse(m.data);
      $("#events").replaceChildren();
      for (const e of s.events) showEvent(e, false);
      history = s.history.slice();
      showGraph(s.svg);
      showView(s.view);
      drawCharts();
    });
    source.addEventListener("graph", (m) => showGraph(JSON.parse(m.data).svg));
    source.addEventListener("view", (m) => showView(JSON.parse(m.data)));
    source.addEventListener("point", (m) => { history.push(JSON.parse(m.data)); drawCharts(); });
    source.addEventListener("farm-event", (m) => showEvent(JSON.parse(m.data), true));
    source.addEventListener("problem", (m) => { $("#summary").textContent = "could not look at the farm: " + JSON.parse(m.data).message; });
  }
  connect();
})();
`;
