// The farm's journal: every event its controller saw, one JSON line each with the time, in the farm's
// folder (events.jsonl, 0600 like the rest of it). The controller writes it; `farmhand status` reads
// the last lines from any process, so a failure's reason outlives the heal that followed it.

import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { FarmEvent } from "../farm/farm.ts";
import { farmDir, privateDir } from "../state/home.ts";

export const JOURNAL_FILE = "events.jsonl";
/** Past this size the journal keeps only its last KEEP_LINES lines. */
const MAX_BYTES = 1024 * 1024;
const KEEP_LINES = 2000;

export interface JournalEntry {
  /** ISO time the controller saw it. */
  readonly at: string;
  readonly event: FarmEvent;
}

export function journalFile(farm: string, home?: string): string {
  return path.join(farmDir(farm, home), JOURNAL_FILE);
}

export function appendJournal(farm: string, entry: JournalEntry, home?: string): void {
  const file = path.join(privateDir(farmDir(farm, home)), JOURNAL_FILE);
  appendFileSync(file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  if (statSync(file).size > MAX_BYTES) {
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    writeFileSync(file, `${lines.slice(-KEEP_LINES).join("\n")}\n`, { mode: 0o600 });
  }
}

/** The last `limit` entries, oldest first; lines that do not parse (a write cut short) are skipped. */
export function readJournal(farm: string, limit: number, home?: string): JournalEntry[] {
  const file = journalFile(farm, home);
  if (limit <= 0 || !existsSync(file)) return [];
  const entries: JournalEntry[] = [];
  for (const line of readFileSync(file, "utf8").split("\n").slice(-limit - 1)) {
    if (line === "") continue;
    try {
      const entry = JSON.parse(line) as JournalEntry;
      if (typeof entry.at === "string" && typeof entry.event?.type === "string") entries.push(entry);
    } catch {}
  }
  return entries.slice(-limit);
}
