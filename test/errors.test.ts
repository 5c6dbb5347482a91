// Keeps the error list honest: every error class of the balancer has a unique stable code, is
// exported, and is thrown somewhere in the code.

import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as core from "../native-free-core/index.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const errorsSource = readFileSync(path.join(root, "native-free-core/errors.ts"), "utf8");
const classes = [...errorsSource.matchAll(/export class (\w+) extends ProxyError/g)].map((m) => m[1]);
const codes = [...errorsSource.matchAll(/readonly code = "([A-Z_]+)"/g)].map((m) => m[1]);

function sources(dir: string): string {
  return readdirSync(path.join(root, dir), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".ts") && !f.endsWith("errors.ts"))
    .map((f) => readFileSync(path.join(root, dir, f), "utf8"))
    .join("\n");
}

test("every error class has one code, and codes are unique", () => {
  assert.ok(classes.length >= 6);
  assert.is(codes.length, classes.length);
  assert.is(new Set(codes).size, codes.length);
  for (const code of codes) assert.match(code, /^FARMHAND_[A-Z_]+$/);
});

test("every error class is exported from the package entry and thrown somewhere", () => {
  const code = sources("native-free-core");
  for (const name of classes) {
    assert.type((core as Record<string, unknown>)[name], "function", `${name} is exported`);
    assert.ok(new RegExp(`new ${name}\\(`).test(code), `${name} is thrown somewhere`);
  }
});

test("errors carry what they are about", () => {
  const e = new core.ConfigError("proxy.yaml", "pools[0].backends[1].port", 70000, "expected an integer between 1 and 65535");
  assert.is(e.code, "FARMHAND_CONFIG_INVALID");
  assert.is(e.message, "proxy.yaml: pools[0].backends[1].port: expected an integer between 1 and 65535 (got 70000)");
  assert.is(e.field, "pools[0].backends[1].port");
  const u = new core.UnknownBackendError("web", "127.0.0.1:9");
  assert.is(u.pool, "web");
  assert.is(u.backend, "127.0.0.1:9");
});

test.run();
