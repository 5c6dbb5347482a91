// The complete results, every round included, for tooling and for comparing runs later.

import { writeFileSync } from "node:fs";
import type { BenchResult } from "./model.ts";

export function writeJson(file: string, result: BenchResult): void {
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
}
