// Scripts for the tests of `farmhand check`: written to a scratch package, checked, their report read
// as the lines `farmhand check` prints.

import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as assert from "uvu/assert";
import { formatMistake, type CheckReport } from "../../control/check/index.ts";
import { ROOT } from "./farm-cli.ts";

export const roles = path.join(ROOT, "examples/order-processing/roles.ts");
export const contracts = path.join(ROOT, "control/contracts/index.ts");
export const farmTypes = path.join(ROOT, "control/farm/farm.ts");

/** A scratch "type": "module" package that resolves farmhand's own packages (typebox) as the repository does. */
export function scratch(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-check-test-"));
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
  symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

/**
 * Writes a script: two imports (Farm, the example's roles), the header, then the body inside
 * `export default async function (farm: Farm) {` (line 3 + header lines); the body's first line is
 * the line after that, indented by two.
 */
export function script(dir: string, name: string, body: readonly string[], header: readonly string[] = []): string {
  const file = path.join(dir, name);
  writeFileSync(file, [
    `import type { Farm } from ${JSON.stringify(farmTypes)};`,
    `import { InventoryService, OrderService, PaymentService, WebFrontend } from ${JSON.stringify(roles)};`,
    ...header,
    "export default async function (farm: Farm) {",
    ...body.map((l) => `  ${l}`),
    "}",
    "",
  ].join("\n"));
  return file;
}

/** The report's lines, as `farmhand check` prints them from `dir`. */
export const lines = (report: CheckReport, dir: string): string[] => report.mistakes.map((m) => formatMistake(m, dir));

export function has(report: CheckReport, dir: string, expected: string | RegExp): void {
  const all = lines(report, dir);
  const found = all.some((l) => (typeof expected === "string" ? l === expected : expected.test(l)));
  assert.ok(found, `no line ${expected} in:\n${all.join("\n")}`);
}
