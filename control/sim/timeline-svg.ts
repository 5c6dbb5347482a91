// The timeline as a picture: time across; VMs serving and each autoscaled group's size as step lines
// on the left scale, demand on the right scale, failures as marks along the bottom (red: injected;
// orange: failures the controller saw). Drawn here, with no dependency; same timeline, same SVG.

import { formatDuration } from "./durations.ts";
import type { Step, Timeline } from "./timeline.ts";

const W = 960;
const H = 420;
const LEFT = 64;
const RIGHT = 72;
const TOP = 40;
const BOTTOM = 84;
const FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace";
/** Colours for the group lines, in turn; the serving line is black, demand grey. */
const GROUP_COLOURS = ["#1f4e79", "#00838f", "#6a3d9a", "#2e7d32", "#8d6e63", "#3949ab"];

export function timelineSvg(t: Timeline, title: string): string {
  const plotW = W - LEFT - RIGHT;
  const plotH = H - TOP - BOTTOM;
  const span = Math.max(1, t.durationMs);
  const x = (at: number) => LEFT + (Math.min(at, span) / span) * plotW;
  const vmMax = niceCeiling(Math.max(1, ...t.serving.map((s) => s.value), ...[...t.groups.values()].flat().map((s) => s.value)));
  const rpsMax = niceCeiling(Math.max(1, ...t.demand.map((s) => s.value)));
  const yVm = (v: number) => TOP + plotH - (v / vmMax) * plotH;
  const yRps = (v: number) => TOP + plotH - (v / rpsMax) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${LEFT}" y="22" font-size="13" font-weight="bold">${escape(title)}</text>`);
  // Axes and ticks.
  parts.push(`<rect x="${LEFT}" y="${TOP}" width="${plotW}" height="${plotH}" fill="none" stroke="#bbb"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (vmMax * i) / 4;
    const r = (rpsMax * i) / 4;
    const y = yVm(v);
    parts.push(`<line x1="${LEFT}" y1="${y}" x2="${LEFT + plotW}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${y + 4}" text-anchor="end">${round(v)}</text>`);
    parts.push(`<text x="${LEFT + plotW + 6}" y="${y + 4}" fill="#777">${round(r)}</text>`);
  }
  for (let i = 0; i <= 6; i++) {
    const at = (span * i) / 6;
    parts.push(`<text x="${x(at)}" y="${TOP + plotH + 16}" text-anchor="middle">${formatDuration(Math.round(at / 1000) * 1000)}</text>`);
  }
  parts.push(`<text x="${LEFT - 6}" y="${TOP - 8}" text-anchor="end">VMs</text>`);
  parts.push(`<text x="${LEFT + plotW + 6}" y="${TOP - 8}" fill="#777">req/s</text>`);
  // Lines: demand first (underneath), then groups, then VMs serving.
  parts.push(path(t.demand, span, x, yRps, "#999", "4 3"));
  [...t.groups.keys()].sort().forEach((g, i) => parts.push(path(t.groups.get(g)!, span, x, yVm, GROUP_COLOURS[i % GROUP_COLOURS.length])));
  parts.push(path(t.serving, span, x, yVm, "#111"));
  // Failures along the bottom.
  for (const f of t.failures) {
    const fx = x(f.at);
    parts.push(`<line x1="${fx}" y1="${TOP}" x2="${fx}" y2="${TOP + plotH}" stroke="${f.injected ? "#c62828" : "#ef6c00"}" stroke-width="1" opacity="0.5"><title>${escape(`${f.vm} ${f.injected ? "failure injected" : "failed"} at ${formatDuration(f.at)}`)}</title></line>`);
  }
  // Legend.
  const legend: [string, string, string?][] = [["VMs serving", "#111"], ...[...t.groups.keys()].sort().map((g, i): [string, string] => [`${g} replicas`, GROUP_COLOURS[i % GROUP_COLOURS.length]]), ["demand (req/s)", "#999", "4 3"], ["failure injected", "#c62828"], ["failure seen", "#ef6c00"]];
  let lx = LEFT;
  const ly = H - 30;
  for (const [label, colour, dash] of legend.slice(0, 10)) {
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash === undefined ? "" : ` stroke-dasharray="${dash}"`}/>`);
    parts.push(`<text x="${lx + 22}" y="${ly + 4}">${escape(label)}</text>`);
    lx += 30 + label.length * 6.6;
    if (lx > W - 160) break;
  }
  parts.push(`<text x="${LEFT}" y="${H - 10}" fill="#777">${t.failures.filter((f) => f.injected).length} failure(s) injected, ${t.failures.filter((f) => !f.injected).length} seen by the controller</text>`);
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

/** A step line through `steps`, held to the end of the run. */
function path(steps: readonly Step[], span: number, x: (at: number) => number, y: (v: number) => number, colour: string, dash?: string): string {
  if (steps.length === 0) return "";
  let d = `M${x(steps[0].at).toFixed(1)},${y(steps[0].value).toFixed(1)}`;
  for (let i = 1; i < steps.length; i++) d += ` H${x(steps[i].at).toFixed(1)} V${y(steps[i].value).toFixed(1)}`;
  d += ` H${x(span).toFixed(1)}`;
  return `<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.6"${dash === undefined ? "" : ` stroke-dasharray="${dash}"`}/>`;
}

function niceCeiling(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function escape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
