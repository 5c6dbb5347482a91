// A grouped bar chart drawn as plain SVG text: per target, one bar for CPU per request and one for
// req/s. Both are drawn as multiples of HAProxy's figure of the same mode so they can share one
// axis; each bar is labelled with its absolute value and its ratio.

import { fmtCompact, fmtFixed, fmtRatio } from "./format.ts";
import type { BenchResult } from "./model.ts";

const CPU_COLOR = "#d95f02";
const RPS_COLOR = "#1b9e77";

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Word-wraps a label to lines of at most `max` characters. */
function wrap(label: string, max: number): string[] {
  const lines: string[] = [];
  let cur = "";
  for (const w of label.split(" ")) {
    if (cur !== "" && cur.length + 1 + w.length > max) {
      lines.push(cur);
      cur = w;
    } else {
      cur = cur === "" ? w : `${cur} ${w}`;
    }
  }
  if (cur !== "") lines.push(cur);
  return lines;
}

export function renderSvg(res: BenchResult): string {
  const targets = res.targets;
  const groupW = 124;
  const left = 64;
  const right = 24;
  const top = 128;
  const plotH = 300;
  const bottom = 92;
  const width = Math.max(760, left + right + groupW * Math.max(1, targets.length));
  const height = top + plotH + bottom;
  const ratios = targets.flatMap((t) => [t.ratio.cpuUsPerRequest, t.ratio.rps]).filter((r): r is number => r !== null);
  const yMax = Math.max(1.5, Math.ceil((Math.max(0, ...ratios) * 1.18) / 0.5) * 0.5);
  const y = (r: number) => top + plotH - (r / yMax) * plotH;
  const step = yMax > 4 ? 1 : 0.5;
  const m = res.meta;
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
  );
  o.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  o.push(`<text x="${left}" y="26" font-size="17" font-weight="bold">Proxy cost per request and throughput, relative to HAProxy</text>`);
  o.push(
    `<text x="${left}" y="46" font-size="12" fill="#444">${esc(
      `${m.loadGenerator}, ${m.connections} connections, ${m.rounds} x ${m.secondsPerRun} s, ${m.threads} thread(s), medians; ${m.date}`,
    )}</text>`,
  );
  o.push(
    `<text x="${left}" y="63" font-size="12" fill="#444">Bar height: the figure over HAProxy's (http rows vs HAProxy http, tcp rows vs HAProxy tcp).</text>`,
  );
  o.push(`<text x="${left}" y="79" font-size="12" fill="#444">Labels: absolute value, then the ratio. The dashed line is HAProxy.</text>`);
  // Legend.
  o.push(`<rect x="${left}" y="92" width="14" height="14" fill="${CPU_COLOR}"/>`);
  o.push(`<text x="${left + 20}" y="104" font-size="12">CPU per request, us (lower is better)</text>`);
  o.push(`<rect x="${left + 270}" y="92" width="14" height="14" fill="${RPS_COLOR}"/>`);
  o.push(`<text x="${left + 290}" y="104" font-size="12">requests per second (higher is better)</text>`);
  // Axis and grid.
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    const yy = y(v).toFixed(1);
    o.push(`<line x1="${left}" x2="${width - right}" y1="${yy}" y2="${yy}" stroke="#e4e4e4"/>`);
    o.push(`<text x="${left - 8}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#555">${v.toFixed(1)}x</text>`);
  }
  o.push(
    `<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle" fill="#555">multiple of HAProxy</text>`,
  );
  // Labels go on top of everything, after the HAProxy line.
  const labels: string[] = [];
  targets.forEach((t, i) => {
    const gx = left + i * groupW;
    const barW = 38;
    const bars = [
      { r: t.ratio.cpuUsPerRequest, abs: `${fmtFixed(t.median.cpuUsPerRequest, 1)} us`, color: CPU_COLOR },
      { r: t.ratio.rps, abs: `${fmtCompact(t.median.rps)}/s`, color: RPS_COLOR },
    ];
    bars.forEach((b, j) => {
      const x = gx + (groupW - 2 * barW - 8) / 2 + j * (barW + 8);
      const cx = (x + barW / 2).toFixed(1);
      if (b.r !== null) {
        const h = (b.r / yMax) * plotH;
        o.push(`<rect x="${x.toFixed(1)}" y="${y(b.r).toFixed(1)}" width="${barW}" height="${h.toFixed(1)}" fill="${b.color}"/>`);
      }
      const ty = b.r === null ? top + plotH - 6 : y(b.r) - 6;
      // A white backing keeps labels legible where the HAProxy line runs through them.
      const ratioText = fmtRatio(b.r);
      const w = Math.max(b.abs.length, ratioText.length) * 6.2 + 6;
      labels.push(`<rect x="${(x + barW / 2 - w / 2).toFixed(1)}" y="${(ty - 24).toFixed(1)}" width="${w.toFixed(1)}" height="28" fill="#ffffff" fill-opacity="0.85"/>`);
      labels.push(`<text x="${cx}" y="${(ty - 13).toFixed(1)}" font-size="10.5" text-anchor="middle">${esc(b.abs)}</text>`);
      labels.push(`<text x="${cx}" y="${ty.toFixed(1)}" font-size="10.5" text-anchor="middle" font-weight="bold">${esc(ratioText)}</text>`);
    });
    wrap(t.label, 16).forEach((line, k) => {
      o.push(`<text x="${gx + groupW / 2}" y="${top + plotH + 18 + k * 14}" font-size="12" text-anchor="middle">${esc(line)}</text>`);
    });
  });
  // The tcp rows are compared with a different reference: set them apart.
  const firstTcp = targets.findIndex((t) => t.mode === "tcp");
  if (firstTcp > 0) {
    const sx = left + firstTcp * groupW;
    o.push(`<line x1="${sx}" x2="${sx}" y1="${top - 4}" y2="${top + plotH + 48}" stroke="#999" stroke-dasharray="2 3"/>`);
    o.push(`<text x="${sx - 6}" y="${top + 10}" font-size="11" text-anchor="end" fill="#777">http rows</text>`);
    o.push(`<text x="${sx + 6}" y="${top + 10}" font-size="11" fill="#777">tcp rows</text>`);
  }
  // HAProxy's own level, drawn over the bars so it stays visible.
  o.push(
    `<line x1="${left}" x2="${width - right}" y1="${y(1).toFixed(1)}" y2="${y(1).toFixed(1)}" stroke="#222" stroke-dasharray="5 4"/>`,
  );
  o.push(...labels);
  o.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>`);
  o.push(`<line x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#888"/>`);
  o.push("</svg>");
  return `${o.join("\n")}\n`;
}
