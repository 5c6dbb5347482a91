// Rows are compared with their reference round by round: each round runs a reference and the rows
// compared with it back to back, and a ratio is the median over rounds of that round's ratio. On a
// shared two-core machine the load of other tenants drifts by tens of percent within minutes; two
// figures measured a few seconds apart see the same machine, two measured minutes apart may not,
// and a ratio of medians taken over the whole run mixes them.

import type { Target } from "../peers/types.ts";
import type { Figures, Ratios, RoundSample } from "../report/model.ts";
import { median, ratio } from "../lib/stats.ts";

/** The row `t` is compared with: its own, or HAProxy's of the same mode. */
export function referenceOf(t: Target): string {
  return t.reference ?? (t.mode === "tcp" ? "haproxy-tcp" : "haproxy-http");
}

/**
 * The order of one round (numbered from 1): groups of a reference and its rows, the groups rotated
 * from round to round (slow drift is spread over all of them), each group run forward in odd rounds
 * and backward in even ones (neither the reference nor a row always runs first, warming the
 * machine for the other). Groups keep the order of `targets`, as do the rows within a group.
 */
export function roundOrder(targets: readonly Target[], round: number): Target[] {
  const groups = new Map<string, Target[]>();
  const ids = new Set(targets.map((t) => t.id));
  const leaders = new Set(targets.map(referenceOf).filter((id) => ids.has(id)));
  for (const t of targets) {
    const reference = referenceOf(t);
    // A reference leads its group even when it has a reference of its own (HAProxy's POST rows,
    // compared with its GET row); a row whose reference is not being run is a group of its own.
    const key = leaders.has(t.id) ? t.id : ids.has(reference) ? reference : t.id;
    const group = groups.get(key) ?? groups.set(key, []).get(key)!;
    if (t.id === key) group.unshift(t);
    else group.push(t);
  }
  const list = [...groups.values()];
  const shift = (round - 1) % list.length;
  const rotated = [...list.slice(shift), ...list.slice(0, shift)];
  return rotated.flatMap((group) => (round % 2 === 1 ? group : [...group].reverse()));
}

/** The median over the rounds both ran of `row`'s figure over `reference`'s; null when none is computable. */
export function pairedRatio(row: readonly RoundSample[], reference: readonly RoundSample[], figure: (s: RoundSample) => number | null): number | null {
  const ratios: number[] = [];
  for (const r of row) {
    const ref = reference.find((s) => s.round === r.round);
    if (ref === undefined) continue;
    const q = ratio(figure(r) ?? NaN, figure(ref) ?? NaN);
    if (q !== null) ratios.push(q);
  }
  return ratios.length === 0 ? null : median(ratios);
}

/** Every figure of `row` over its reference's, round by round (peak memory: the peaks' ratio). */
export function pairedRatios(row: readonly RoundSample[], reference: readonly RoundSample[] | undefined, peaks: { row: Figures; reference: Figures | undefined }): Ratios {
  const q = (figure: (s: RoundSample) => number | null) => (reference === undefined ? null : pairedRatio(row, reference, figure));
  return {
    rps: q((s) => s.load.rps),
    p50Ms: q((s) => s.load.p50Ms),
    p99Ms: q((s) => s.load.p99Ms),
    cpuUsPerRequest: q((s) => s.cpuUsPerRequest),
    userUsPerRequest: q((s) => s.userUsPerRequest),
    systemUsPerRequest: q((s) => s.systemUsPerRequest),
    syscallsPerRequest: q((s) => s.syscallsPerRequest),
    peakRssBytes: peaks.reference === undefined ? null : ratio(peaks.row.peakRssBytes, peaks.reference.peakRssBytes),
  };
}
