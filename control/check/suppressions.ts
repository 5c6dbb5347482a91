// Comments that silence the type checker (`// @ts-ignore`, `// @ts-expect-error`, `// @ts-nocheck`)
// in a farm script or the modules of its own it imports. The compiler honours them, so a wiring
// mistake under one would pass the first stage without a word; `farmhand check` does not take them.
// Found by reading the sources, not by the compiler, which has no switch to ignore them.

import { readFileSync } from "node:fs";
import path from "node:path";
import { farmhandRoot } from "./compile.ts";
import type { Mistake } from "./mistakes.ts";

const DIRECTIVE = /(?:\/\/|\/\*+)\s*@ts-(ignore|expect-error|nocheck)\b/g;
/** Relative module specifiers: the script's own modules (packages are not the script's to answer for). */
const RELATIVE_IMPORT = /\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;
/** A farm script's own modules are few; the walk stops well before a tree that large. */
const MAX_FILES = 200;
/** farmhand's own code, which a script in its examples reaches by relative paths: not the script's. */
const OWN = ["control", "src", "native-free-core", "node_modules"].map((d) => path.join(farmhandRoot, d) + path.sep);

function sourceOf(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/** Each silencing comment in the script and its own modules, as a mistake at the comment. */
export function suppressions(script: string): Mistake[] {
  const mistakes: Mistake[] = [];
  const seen = new Set<string>();
  const queue = [path.resolve(script)];
  while (queue.length > 0 && seen.size < MAX_FILES) {
    const file = queue.shift()!;
    if (seen.has(file) || file.includes(`${path.sep}node_modules${path.sep}`) || OWN.some((own) => file.startsWith(own))) continue;
    seen.add(file);
    const text = sourceOf(file);
    if (text === null) continue;
    text.split(/\r?\n/).forEach((line, i) => {
      for (const m of line.matchAll(DIRECTIVE)) {
        const what = m[1] === "nocheck" ? "turns the type checker off for the whole file" : "silences the type checker on the next line";
        mistakes.push({ file, line: i + 1, column: m.index + 1, stage: "types", text: `@ts-${m[1]} ${what}; farmhand check does not take it: remove it` });
      }
    });
    for (const m of text.matchAll(RELATIVE_IMPORT)) {
      if (/\.[mc]?[tj]s$/.test(m[1])) queue.push(path.resolve(path.dirname(file), m[1]));
    }
  }
  return mistakes;
}
