// Keeps the error lists honest: in each package, every error class has a unique stable code, is
// exported from the package's entry point, and is thrown somewhere in the code.

import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as core from "../native-free-core/index.ts";
import * as farmhand from "../src/index.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function sources(dirs: readonly string[]): string {
  return dirs.flatMap((dir) =>
    readdirSync(path.join(root, dir), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".ts") && !f.endsWith("errors.ts"))
      .map((f) => readFileSync(path.join(root, dir, f), "utf8")),
  ).join("\n");
}

/** Each errors module: its base class, and the entry point that must export every class (none for inner modules). */
const packages = [
  { name: "native-free-core", errors: "native-free-core/errors.ts", base: "ProxyError", entry: core as Record<string, unknown> | null, code: ["native-free-core"] },
  { name: "control", errors: "control/errors.ts", base: "FarmError", entry: farmhand as Record<string, unknown> | null, code: ["control", "src"] },
  { name: "control/guest", errors: "control/guest/errors.ts", base: "FarmError", entry: null, code: ["control"] },
  { name: "control/drivers/proxmox", errors: "control/drivers/proxmox/errors.ts", base: "(?:FarmError|ProxmoxApiError)", entry: null, code: ["control"] },
  { name: "the command line", errors: "src/errors.ts", base: "UsageError", entry: null, code: ["src"] },
  { name: "the Proxmox emulator", errors: "control/drivers/proxmox/emulator/errors.ts", base: "FarmError", entry: null, code: ["control", "src"] },
  { name: "the simulator", errors: "control/sim/errors.ts", base: "FarmError", entry: null, code: ["control", "src"] },
];
const allCodes: string[] = [];

for (const pkg of packages) {
  const source = readFileSync(path.join(root, pkg.errors), "utf8");
  const classes = [...source.matchAll(new RegExp(`export class (\\w+) extends ${pkg.base}`, "g"))].map((m) => m[1]);
  const codes = [...source.matchAll(/readonly code(?:: string)? = "([A-Z_]+)"/g)].map((m) => m[1]);
  allCodes.push(...codes);

  test(`${pkg.name}: every error class has one code, of the FARMHAND_ form`, () => {
    assert.ok(classes.length >= 1);
    assert.is(codes.length, classes.length);
    for (const code of codes) assert.match(code, /^FARMHAND_[A-Z_]+$/);
  });

  test(`${pkg.name}: every error class is ${pkg.entry === null ? "" : "exported and "}thrown somewhere`, () => {
    const code = sources(pkg.code);
    for (const name of classes) {
      if (pkg.entry !== null) assert.type(pkg.entry[name], "function", `${name} is exported`);
      assert.ok(new RegExp(`new ${name}\\(`).test(code), `${name} is thrown somewhere`);
    }
  });
}

test("codes are unique across the project, and none is defined outside an errors module", () => {
  assert.is(new Set(allCodes).size, allCodes.length, JSON.stringify(allCodes));
  const stray = ["control", "native-free-core", "src"].flatMap((dir) =>
    readdirSync(path.join(root, dir), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".ts") && !f.endsWith("errors.ts"))
      .flatMap((f) => [...readFileSync(path.join(root, dir, f), "utf8").matchAll(/readonly code = "([A-Z_]+)"/g)].map((m) => `${dir}/${f}: ${m[1]}`)),
  );
  assert.equal(stray, []);
});

test("errors carry what they are about", () => {
  const e = new core.ConfigError("proxy.yaml", "pools[0].backends[1].port", 70000, "expected an integer between 1 and 65535");
  assert.is(e.code, "FARMHAND_CONFIG_INVALID");
  assert.is(e.message, "proxy.yaml: pools[0].backends[1].port: expected an integer between 1 and 65535 (got 70000)");
  assert.is(e.field, "pools[0].backends[1].port");
  const g = new farmhand.GuardMismatchError("orders-2", { api: "orders@1" }, { api: "ledger@1" });
  assert.is(g.vm, "orders-2");
  assert.match(g.message, /orders-2.*orders@1.*ledger@1/);
});

test.run();
