// The one-line verdict the bench ends with; scripts read it, so its form never changes.

import { pairedRatio } from "../measure/pairing.ts";
import type { RoundSample, Summary, TargetResult } from "./model.ts";

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

/**
 * The p99 of small requests while 10 MB bodies pass through, checked and unchecked, each over the
 * same requests with nothing in the background and checked over unchecked (round by round): what
 * the bodies cost the small requests, and what checking them adds. Null without those rows.
 */
export function largeBodiesLine(targets: readonly TargetResult[]): string | null {
  const get = (id: string) => targets.find((t) => t.id === id);
  const alone = get("farmhand-small");
  const unchecked = get("farmhand-small-large-unchecked");
  const checked = get("farmhand-small-large-checked");
  if (alone === undefined || unchecked === undefined || checked === undefined) return null;
  const p99 = (s: RoundSample) => s.load.p99Ms;
  const haproxy = get("haproxy-small-large");
  const haproxyAlone = get("haproxy-http");
  const peer = haproxy === undefined || haproxyAlone === undefined ? "n/a" : r(pairedRatio(haproxy.rounds, haproxyAlone.rounds, p99));
  return (
    `large bodies: small-request p99 ${r(pairedRatio(checked.rounds, unchecked.rounds, p99))} while checked over unchecked; ` +
    `over alone ${r(pairedRatio(unchecked.rounds, alone.rounds, p99))} unchecked, ${r(pairedRatio(checked.rounds, alone.rounds, p99))} checked, ${peer} through HAProxy`
  );
}

/**
 * The line before the summary: the farm path (the balancer image with settings from metadata, over
 * HAProxy in front of the same services), what contract checks add to a 200-byte POST, and the
 * default mode's user-space CPU beside HAProxy's.
 */
export function farmPathLine(targets: readonly TargetResult[]): string {
  const get = (id: string) => targets.find((t) => t.id === id);
  const farm = get("farmhand-farm")?.ratio.cpuUsPerRequest ?? null;
  const added = validationCost(get("farmhand-post-200"), get("farmhand-post-200-validated"));
  const validation = added === null ? "n/a" : `${added >= 0 ? "+" : ""}${(added * 100).toFixed(0)}%`;
  const user = (id: string) => {
    const u = get(id)?.median.userUsPerRequest;
    return u === undefined ? "n/a" : u.toFixed(1);
  };
  return `farm path: http cpu/req ${r(farm)} haproxy, validation ${validation} cpu/req at 200 B, default http user ${user("farmhand-http")} us/req (haproxy ${user("haproxy-http")} us/req)`;
}

/**
 * What contract checks add to CPU per request: the median over rounds of checked / plain - 1 (the
 * two rows run back to back in each round; pairing.ts says why round by round).
 */
export function validationCost(plain: TargetResult | undefined, checked: TargetResult | undefined): number | null {
  if (plain === undefined || checked === undefined) return null;
  const q = pairedRatio(checked.rounds, plain.rounds, (s) => s.cpuUsPerRequest);
  return q === null ? null : q - 1;
}
