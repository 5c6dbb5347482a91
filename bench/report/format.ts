// Number formatting shared by the Markdown table and the chart, so both show the same figures.

export function fmtRatio(r: number | null): string {
  return r === null ? "n/a" : `${r.toFixed(2)}x`;
}

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a";
}

export function fmtFixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "n/a";
}

export function fmtMB(bytes: number): string {
  return Number.isFinite(bytes) ? (bytes / (1024 * 1024)).toFixed(1) : "n/a";
}

/** Short form for chart labels: 24.1k. */
export function fmtCompact(n: number): string {
  if (!Number.isFinite(n)) return "n/a";
  if (n >= 999.5) return `${(n / 1000).toFixed(1)}k`;
  return n.toFixed(n >= 100 ? 0 : 1);
}
