// The one-line verdict the bench ends with; scripts read it, so its form never changes.

import type { Summary, TargetResult } from "./model.ts";

export function summarize(targets: readonly TargetResult[]): Summary | null {
  const http = targets.find((t) => t.id === "farmhand-http");
  const tcp = targets.find((t) => t.id === "farmhand-tcp");
  const pipelined = targets.find((t) => t.id === "farmhand-http-pipelined");
  if (http === undefined && tcp === undefined) return null;
  return {
    httpCpu: http?.ratio.cpuUsPerRequest ?? null,
    httpRps: http?.ratio.rps ?? null,
    tcpCpu: tcp?.ratio.cpuUsPerRequest ?? null,
    pipelinedCpu: pipelined?.ratio.cpuUsPerRequest ?? null,
    pipelinedRps: pipelined?.ratio.rps ?? null,
  };
}

function r(x: number | null): string {
  return x === null ? "n/a" : `${x.toFixed(2)}x`;
}

/** The opt-in pipelined HTTP path, printed just above the summary line. */
export function pipelinedLine(s: Summary | null): string | null {
  if (s === null || s.pipelinedCpu === null) return null;
  return `pipelined upstream: http cpu/req ${r(s.pipelinedCpu)} haproxy, http req/s ${r(s.pipelinedRps)} haproxy`;
}

export function summaryLine(s: Summary | null): string {
  if (s === null) return "summary: farmhand not measured";
  return `summary: http cpu/req ${r(s.httpCpu)} haproxy, http req/s ${r(s.httpRps)} haproxy, tcp cpu/req ${r(s.tcpCpu)} haproxy`;
}
