// GET /stats: the balancer at a glance, as one HTML page a person can open beside /metrics (which is
// for Prometheus). Nothing here is recorded: every figure is read when the page is asked for.
// Every name that came from configuration or the network is escaped; the page loads nothing.

import type { AdminControl, PoolStatus, TrafficCounts, ValidationCounts, WorkerStatus } from "../status.ts";

const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"];

export function renderStatsPage(control: AdminControl, now = Date.now()): string {
  const pools = control.pools();
  const traffic = control.traffic();
  const validation = control.validationCounts();
  const workers = control.workers();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>farmhand balancer</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
.down{color:#b00}.up{color:#070}
</style></head><body>
<h1>farmhand balancer</h1>
<p>${escape(new Date(now).toISOString())}; ${workers.length} worker thread(s)${restarts(workers)}</p>
${pools.map((p) => poolSection(p, traffic.pools.find((t) => t.name === p.name), now)).join("\n")}
${validation.length === 0 ? "" : validationSection(validation)}
</body></html>
`;
}

function restarts(workers: readonly WorkerStatus[]): string {
  const n = workers.reduce((sum, w) => sum + w.restarts, 0);
  return n === 0 ? "" : `, ${n} restart(s)`;
}

function poolSection(pool: PoolStatus, traffic: TrafficCounts["pools"][number] | undefined, now: number): string {
  const t = traffic;
  const summary = t === undefined ? "" : `<table><tr><th>pool ${escape(pool.name)}</th>${CLASSES.map((c) => `<th>${c}</th>`).join("")}<th>in flight</th><th>client connections</th><th>refused as malformed</th><th>held (empty pool)</th><th>no backend (503)</th></tr>
<tr><td>${escape(pool.policy)}</td>${t.responses.map((n) => `<td>${n}</td>`).join("")}<td>${t.inFlight}</td><td>${t.clientConnections}</td><td>${t.rejected}</td><td>${t.held}</td><td>${t.noBackend}</td></tr></table>`;
  const rows = pool.backends.map((b) => {
    const bt = t?.backends.find((x) => x.id === b.id);
    const state = !b.healthy ? "down" : b.ejectedUntil !== null && b.ejectedUntil > now ? "ejected" : b.lifecycle !== "active" ? b.lifecycle : "up";
    return `<tr><td>${escape(b.id)}${b.backup ? " (backup)" : ""}</td><td class="${state === "up" ? "up" : "down"}">${escape(state)}</td><td>${b.weight}</td><td>${b.inFlight}</td>` +
      `${(bt?.responses ?? [0, 0, 0, 0, 0]).map((n) => `<td>${n}</td>`).join("")}<td>${bt?.connections ?? 0}</td><td>${bt?.errors ?? 0}</td><td>${b.ejections}</td></tr>`;
  });
  return `<h2>pool ${escape(pool.name)}</h2>
${summary}
<table><tr><th>backend</th><th>state</th><th>weight</th><th>in flight</th>${CLASSES.map((c) => `<th>${c}</th>`).join("")}<th>connections</th><th>errors</th><th>ejections</th></tr>
${rows.length === 0 ? `<tr><td colspan="13">no backends</td></tr>` : rows.join("\n")}
</table>`;
}

function validationSection(listeners: readonly ValidationCounts[]): string {
  return listeners.map((l) => {
    const outcomes = Object.keys(l.operations[0]?.outcomes ?? {});
    const rows = l.operations.map((op) =>
      `<tr><td>${escape(op.operation)}</td>${outcomes.map((o) => `<td>${op.outcomes[o]}</td>`).join("")}<td>${op.offloaded}</td></tr>`);
    return `<h2>contract checks on listener ${escape(l.listener)}</h2>
<table><tr><th>operation</th>${outcomes.map((o) => `<th>${escape(o.replaceAll("_", " "))}</th>`).join("")}<th>on a validation thread</th></tr>
${rows.join("\n")}
</table>`;
  }).join("\n");
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
