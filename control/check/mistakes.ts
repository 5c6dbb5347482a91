// A mistake `farmhand check` reports: one line, where it is and what is wrong. Both stages make them:
// the type checker's diagnostics, and what running the script against the plan found.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { farmhandRoot } from "./compile.ts";

export interface Mistake {
  /** Absolute path of the file it is in, or null when it is in no file. */
  readonly file: string | null;
  /** 1-based; 0 when not known. */
  readonly line: number;
  readonly column: number;
  /** What is wrong, in one line, without the position. */
  readonly text: string;
  /**
   * Who found it: the type checker, the run against the plan (the recorder refusing wiring, the
   * script failing, what it returned), or the images' metadata.
   */
  readonly stage: "types" | "run" | "metadata";
  /** The compiler's code ("TS2322") or the error's ("FARMHAND_WIRING"), when there is one. */
  readonly code?: string;
}

export interface Location {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** farmhand's own code: a stack frame there is a combinator or the check itself, never the script. */
const OWN = ["control", "src", "native-free-core"].map((d) => path.join(farmhandRoot, d) + path.sep);

/**
 * Where a stack says the script was: its first frame in a file that is not farmhand's own code (so
 * the script's line that called the combinator, or a helper module of the script's). A module
 * imported with a query (a fresh instance of the script) is named by its file.
 */
export function locationInStack(stack: string | undefined): Location | null {
  for (const line of (stack ?? "").split("\n")) {
    const m = /^at (?:.*\(|async )?(file:\/\/[^\s()]+?|\/[^\s():]+?):(\d+):(\d+)\)?$/.exec(line.trim());
    if (m === null) continue;
    let file = m[1];
    if (file.startsWith("file://")) {
      try {
        file = fileURLToPath(file.replace(/\?[^:]*$/, ""));
      } catch {
        continue;
      }
    }
    if (OWN.some((own) => file.startsWith(own))) continue;
    return { file, line: Number(m[2]), column: Number(m[3]) };
  }
  return null;
}

/** "file:line:col text", the file relative to `cwd` when below it. */
export function formatMistake(m: Mistake, cwd: string): string {
  if (m.file === null) return m.text;
  const rel = path.relative(cwd, m.file);
  const shown = rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : m.file;
  return `${shown}:${m.line}:${m.column} ${m.text}`;
}

/** By file (the script's first), then line and column; the same line from two sources once. */
export function orderMistakes(mistakes: readonly Mistake[], script: string): Mistake[] {
  const seen = new Set<string>();
  const unique = mistakes.filter((m) => {
    const key = `${m.file}:${m.line}:${m.column}:${m.text}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const rank = (m: Mistake) => (m.file === script ? 0 : m.file === null ? 2 : 1);
  return unique.sort((a, b) => rank(a) - rank(b) || (a.file ?? "").localeCompare(b.file ?? "") || a.line - b.line || a.column - b.column);
}
