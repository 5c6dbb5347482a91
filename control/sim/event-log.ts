// The event log of a simulated run: the farm's own events (as a real run's controller would log
// them), with what only a simulation has between them: the failures it injected, the invariants it
// found broken, when the script ended, what teardown left. Every entry carries its virtual time, so
// the same seed and failures give the same log, to the byte.

import type { FarmEvent } from "../farm/farm.ts";
import { formatVirtualTime } from "./durations.ts";
import type { FaultKind } from "./faults.ts";
import type { Violation } from "./invariants.ts";

export type LogEntry =
  | { readonly kind: "event"; readonly at: number; readonly event: FarmEvent }
  | {
      readonly kind: "fault";
      readonly at: number;
      /** Turns of the kernel before it: where a schedule places it. */
      readonly turn: number;
      readonly vm: string;
      readonly fault: FaultKind;
      readonly outcome: "injected" | "not running" | "no such VM";
    }
  | { readonly kind: "violation"; readonly at: number; readonly violation: Violation }
  | { readonly kind: "script"; readonly at: number; readonly outcome: "done" | "failed" | "still running"; readonly error?: string }
  | { readonly kind: "teardown"; readonly at: number; readonly left: readonly string[]; readonly error?: string };

/** One line per entry; `describe` words the farm's events (the CLI's words, the same as `up` logs). */
export function renderLog(entries: readonly LogEntry[], describe: (event: FarmEvent) => string): string {
  let out = "";
  for (const e of entries) out += `${formatVirtualTime(e.at)}  ${renderEntry(e, describe)}\n`;
  return out;
}

export function renderEntry(e: LogEntry, describe: (event: FarmEvent) => string): string {
  switch (e.kind) {
    case "event": return describe(e.event);
    case "fault": {
      const what = e.fault === "crash" ? `${e.vm} crashes` : `the service of ${e.vm} ${e.fault === "hang" ? "hangs" : "dies"}`;
      return `fault (turn ${e.turn}): ${what}${e.outcome === "injected" ? "" : ` - nothing happens: ${e.outcome === "no such VM" ? "there is no VM of that name" : "it is not running"}`}`;
    }
    case "violation": return `VIOLATION ${e.violation.invariant}: ${e.violation.message}`;
    case "script": return e.outcome === "done" ? "the script has finished" : e.outcome === "failed" ? `the script FAILED: ${e.error ?? ""}` : "the script is still running";
    case "teardown": return `${e.left.length === 0 ? "teardown: nothing is left" : `teardown LEFT ${e.left.join(", ")}`}${e.error === undefined ? "" : ` (teardown failed: ${e.error})`}`;
  }
}

/**
 * The entries worth a line: all but the autoscaler's steady evaluations, which are shown when they
 * change the group's size or start or stop failing to read demand (as `up` logs them).
 */
export function worthPrinting(entries: readonly LogEntry[]): LogEntry[] {
  const trouble = new Map<string, string>();
  return entries.filter((e) => {
    if (e.kind !== "event" || e.event.type !== "autoscale") return true;
    const now = e.event.errors.join("; ");
    const changed = now !== (trouble.get(e.event.group) ?? "");
    trouble.set(e.event.group, now);
    return e.event.to !== e.event.from || changed;
  });
}
