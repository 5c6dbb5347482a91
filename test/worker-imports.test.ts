// What an I/O thread loads before it has a contract to check: its static imports (type-only ones
// are erased) must not reach TypeBox, whose compiler costs a plain proxy memory it never uses
// (tens of MB per process across its threads). Contract checks load it lazily (worker.ts).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Every module `entry` loads through static value imports, as paths or bare package names. */
function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!file.startsWith("/")) return; // a package
    const source = readFileSync(file, "utf8");
    // `import x from "y"`, `import { a, type b } from "y"`, `export ... from "y"`, `import "y"`; not `import type`.
    for (const m of source.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'"]*?\sfrom\s+)?["']([^"']+)["']/gm)) {
      const spec = m[1];
      visit(spec.startsWith(".") ? path.resolve(path.dirname(file), spec) : spec);
    }
  };
  visit(entry);
  return seen;
}

test("an I/O thread without contract checks loads no TypeBox; one that checks contracts loads it through contract-check.ts", () => {
  const worker = closure(path.join(root, "native-free-core/worker.ts"));
  assert.ok(worker.has(path.join(root, "native-free-core/http/client-session.ts")), "the walk follows the session code");
  assert.ok(worker.has(path.join(root, "native-free-core/validation/body.ts")));
  const packages = [...worker].filter((f) => !f.startsWith("/") && !f.startsWith("node:"));
  assert.equal(packages.filter((p) => p.startsWith("typebox")), [], `loaded: ${packages.join(", ")}`);
  const checks = closure(path.join(root, "native-free-core/validation/contract-check.ts"));
  assert.ok(checks.has("typebox/compile"));
});

test.run();
