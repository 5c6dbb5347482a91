// The images behind a script's roles, as `farmhand check` sees them before anything runs: a
// farmhand.json that disagrees with the role the script uses (another contract version), an
// operation the metadata names that the image's own code has no handler for (not in its contract, or
// in it without a handler), an image folder that is not there.

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkFarmScript } from "../control/check/index.ts";
import { contracts, farmTypes, lines, scratch } from "./helpers/check.ts";
import { ROOT } from "./helpers/farm-cli.ts";

test("the images: metadata that disagrees with a role, operations without a handler, a missing folder", async () => {
  const dir = scratch();
  try {
    // Two images. greeter's code (its own roles module) lacks the operation `bye` that its
    // farmhand.json names; the script's role is the one generated from that metadata, with bye.
    // pinger's farmhand.json provides ping@2 where the script's role says ping@1.
    const op = (p: string) => ({ method: "GET", path: p, request: { type: "null" }, response: { type: "null" } });
    for (const [name, manifest] of Object.entries({
      greeter: { name: "greeter", entry: "server.ts", provides: { api: "greet@1" }, contracts: { "greet@1": { operations: { hello: op("/hello"), bye: op("/bye") } } } },
      pinger: { name: "pinger", entry: "server.ts", provides: { api: "ping@2" }, contracts: { "ping@2": { operations: { ping: op("/ping") } } } },
    })) {
      mkdirSync(path.join(dir, name));
      writeFileSync(path.join(dir, name, "farmhand.json"), JSON.stringify(manifest));
    }
    writeFileSync(path.join(dir, "greeter", "roles.ts"), [
      'import Type from "typebox";',
      `import { contract, role } from ${JSON.stringify(contracts)};`,
      'const Greet1 = contract("greet@1", { hello: { method: "GET", path: "/hello", request: Type.Null(), response: Type.Null() } });',
      'export const Greeter = role("greeter", { provides: { api: Greet1 }, requires: {}, image: import.meta.dirname });',
      "",
    ].join("\n"));
    writeFileSync(path.join(dir, "greeter", "server.ts"), [
      `import { service, start } from ${JSON.stringify(path.join(ROOT, "control/guest/service.ts"))};`,
      'import { Greeter } from "./roles.ts";',
      "const svc = service(Greeter);",
      'svc.provide("api", { hello: () => null });',
      "await start(svc);",
      "",
    ].join("\n"));
    writeFileSync(path.join(dir, "pinger", "server.ts"), "export {};\n");
    // waver's code names both operations of its farmhand.json, and gives a handler for one.
    mkdirSync(path.join(dir, "waver"));
    writeFileSync(path.join(dir, "waver", "farmhand.json"), JSON.stringify({
      name: "waver", entry: "server.ts", provides: { api: "wave@1" }, contracts: { "wave@1": { operations: { wave: op("/wave"), bye: op("/bye") } } },
    }));
    writeFileSync(path.join(dir, "waver", "server.ts"), [
      'import Type from "typebox";',
      `import { contract, role } from ${JSON.stringify(contracts)};`,
      `import { service, start } from ${JSON.stringify(path.join(ROOT, "control/guest/service.ts"))};`,
      'const Wave1 = contract("wave@1", { wave: { method: "GET", path: "/wave", request: Type.Null(), response: Type.Null() }, bye: { method: "GET", path: "/bye", request: Type.Null(), response: Type.Null() } });',
      'const Waver = role("waver", { provides: { api: Wave1 }, requires: {}, image: import.meta.dirname });',
      "const svc = service(Waver);",
      'svc.provide("api", { wave: () => null });',
      "await start(svc);",
      "",
    ].join("\n"));
    writeFileSync(path.join(dir, "environment.ts"), [
      'import Type from "typebox";',
      `import { contract, role } from ${JSON.stringify(contracts)};`,
      'const NoBody = Type.Null();',
      'const Greet1 = contract("greet@1", { hello: { method: "GET", path: "/hello", request: NoBody, response: NoBody }, bye: { method: "GET", path: "/bye", request: NoBody, response: NoBody } });',
      'const Ping1 = contract("ping@1", { ping: { method: "GET", path: "/ping", request: NoBody, response: NoBody } });',
      'export const Greeter = role("greeter", { provides: { api: Greet1 }, requires: {}, image: new URL("./greeter", import.meta.url).pathname });',
      'export const Pinger = role("pinger", { provides: { api: Ping1 }, requires: {}, image: new URL("./pinger", import.meta.url).pathname });',
      'export const Lost = role("lost", { provides: { api: Ping1 }, requires: {}, image: "/nonexistent/farmhand-images/lost" });',
      'const Wave1 = contract("wave@1", { wave: { method: "GET", path: "/wave", request: NoBody, response: NoBody }, bye: { method: "GET", path: "/bye", request: NoBody, response: NoBody } });',
      'export const Waver = role("waver", { provides: { api: Wave1 }, requires: {}, image: new URL("./waver", import.meta.url).pathname });',
      "",
    ].join("\n"));
    const file = path.join(dir, "farm.ts");
    writeFileSync(file, [
      `import type { Farm } from ${JSON.stringify(farmTypes)};`,
      'import { Greeter, Lost, Pinger, Waver } from "./environment.ts";',
      "export default async function (farm: Farm) {",
      "  farm.heal([await farm.vm(Greeter, {}), await farm.vm(Pinger, {}), await farm.vm(Lost, {}), await farm.vm(Waver, {})]);",
      "}",
      "",
    ].join("\n"));
    const report = await checkFarmScript(file);
    assert.not.ok(report.ok);
    const manifest = path.relative(process.cwd(), path.join(dir, "pinger/farmhand.json"));
    assert.equal(lines(report, dir), [
      `environment.ts:7:23 role pinger: provides api: ping@1 here, ping@2 in ${manifest}`,
      "environment.ts:8:21 role lost: its image folder /nonexistent/farmhand-images/lost does not exist",
      "greeter/server.ts:3:21 image greeter: operation bye of greet@1 is in farmhand.json but not in the code's contract, so no handler serves it",
      "waver/server.ts:7:20 image waver: no handler for operation bye of wave@1",
    ]);
    assert.is(report.images, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
