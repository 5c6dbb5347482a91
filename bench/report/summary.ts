// The one-line verdict the bench ends with; scripts read it, so its form never changes.

import type { Summary, TargetResult } from "./model.ts";

export function summarize(targets: readonly TargetResult[]): Summary | null {
  const http = targets.find((t) => t.id === "farmhand-http");
  const tcp = targets.find((t) => t.id === "farmhand-tcp");
  if (http === undefined && tcp === undefined) return null;
  return {
    httpCpu: http?.ratio.cpuUsPerRequest ?? null,
    httpRps: http?.ratio.rps ?? null,
    tcpCpu: tcp?.ratio.cpuUsPerRequest ?? null,
  };
}

function r(x: number | null): string {
  return x === null ? "n/a" : `${x.toFixed(2)}x`;
}

export function summaryLine(s: Summary | null): string {
  if (s === null) return "summary: farmhand not measured";
  return `summary: http cpu/req ${r(s.httpCpu)} haproxy, http req/s ${r(s.httpRps)} haproxy, tcp cpu/req ${r(s.tcpCpu)} haproxy`;
}
