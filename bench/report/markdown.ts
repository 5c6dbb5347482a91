// The results as a Markdown table: absolute medians with the ratio to HAProxy beside each.

import { fmtFixed, fmtInt, fmtMB, fmtRatio } from "./format.ts";
import type { BenchResult, TargetResult } from "./model.ts";
import { summaryLine } from "./summary.ts";

function cell(value: string, r: number | null): string {
  return `${value} (${fmtRatio(r)})`;
}

function row(t: TargetResult): string {
  const m = t.median;
  const errors = t.non2xx + t.socketErrors;
  const errCell = errors === 0 ? "0" : `**${t.non2xx} non-2xx, ${t.socketErrors} socket**`;
  const syscalls = m.syscallsPerRequest === null ? "n/a" : cell(fmtFixed(m.syscallsPerRequest, 2), t.ratio.syscallsPerRequest);
  return `| ${t.label} | ${t.reference} | ${cell(fmtInt(m.rps), t.ratio.rps)} | ${cell(fmtFixed(m.p50Ms, 2), t.ratio.p50Ms)} | ${cell(
    fmtFixed(m.p99Ms, 2),
    t.ratio.p99Ms,
  )} | ${cell(fmtFixed(m.cpuUsPerRequest, 1), t.ratio.cpuUsPerRequest)} | ${cell(fmtFixed(m.userUsPerRequest, 1), t.ratio.userUsPerRequest)} | ${cell(
    fmtFixed(m.systemUsPerRequest, 1),
    t.ratio.systemUsPerRequest,
  )} | ${syscalls} | ${cell(fmtMB(m.peakRssBytes), t.ratio.peakRssBytes)} | ${errCell} |`;
}

export function renderMarkdown(res: BenchResult, withSummary: boolean): string {
  const m = res.meta;
  const out: string[] = [];
  out.push(`## Proxy bench, ${m.date}`);
  out.push("");
  const load =
    res.targets.length > 0
      ? `${m.loadGenerator}, ${m.connections} keep-alive connections, ${m.rounds} round(s) of ${m.secondsPerRun} s per target ` +
        `(after ${m.warmupSeconds} s warm-up), ${m.threads} proxy thread(s), `
      : `${m.threads} proxy thread(s), `;
  out.push(`${load}${m.responseBytes}-byte responses; ${m.cpus} CPU(s) ${m.cpuModel}; ${m.node}, ${m.haproxy}, ${m.nginx}.`);
  out.push("");
  if (res.targets.length > 0) {
    out.push(
      "Medians over rounds. In brackets: the figure over that of the row named under \"against\" (HAProxy's in the same mode and load, " +
        "or for the large-body rows the same small requests with nothing in the background), taken in each round (the two run back to back) and the median over rounds. " +
        "CPU/req is user+system time of the proxy's whole process tree during the timed run over the requests completed, then split into user and system; " +
        "syscalls/req are counted (perf, raw_syscalls:sys_enter) during the warm-up. For the backend row it is the backend's own.",
    );
    out.push("");
    out.push("| target | against | req/s | p50 ms | p99 ms | CPU/req us | user us | sys us | syscalls/req | peak RSS MB | errors |");
    out.push("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const t of res.targets) out.push(row(t));
    out.push("");
  }
  if (res.idle !== null) {
    const i = res.idle;
    out.push(`### Idle keep-alive connections (${i.target})`);
    out.push("");
    out.push("| connections asked | answered | held open | proxy fds | RSS before MB | RSS held MB | of which file-backed MB | KB per connection | limit MB | within limit | still serves |");
    out.push("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    out.push(
      `| ${fmtInt(i.requested)} | ${fmtInt(i.established)} | ${fmtInt(i.heldOpen)} | ${fmtInt(i.proxyFds)} | ${fmtMB(i.rssBeforeBytes)} | ${fmtMB(
        i.rssHeldBytes,
      )} | ${fmtMB(i.rssFileHeldBytes)} | ${fmtFixed(i.bytesPerConnection / 1024, 1)} | ${fmtMB(i.limitBytes)} | ${i.withinLimit ? "yes" : "**no**"} | ${i.stillServes ? "yes" : "**no**"} |`,
    );
    if (i.failed > 0) out.push(`\n${i.failed} connection(s) failed; first error: ${i.firstError}`);
    out.push("");
  }
  if (res.notes.length > 0) {
    out.push("Notes:");
    for (const n of res.notes) out.push(`- ${n}`);
    out.push("");
  }
  if (withSummary && res.targets.length > 0) out.push(`\`${summaryLine(res.summary)}\``);
  return out.join("\n");
}
