// `farmhand check`, both stages, on scripts written to a scratch package: a line per mistake with its
// position, in farmhand's words; what the types cannot see (copies made with Object.assign, a list
// empty at run time, a union through a generic helper, a replica count known at run time, a promise
// dropped, a script that throws or hangs) found by running the script against the plan; plain
// sentences for a missing file, a CommonJS script, a missing await, a bad default export. The images
// are in check-images.test.ts, the command line in check-cli.test.ts.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkFarmScript, formatMistake } from "../control/check/index.ts";
import { parseDiagnostics, shortenTypes, summarize } from "../control/check/diagnostics.ts";
import { locationInStack } from "../control/check/mistakes.ts";
import { renderReport } from "../src/commands/check.ts";
import { EXAMPLE, ROOT } from "./helpers/farm-cli.ts";
import { contracts, farmTypes, has, lines, scratch, script } from "./helpers/check.ts";

test("the example passes both stages: its plan and its four images' code and metadata", async () => {
  const report = await checkFarmScript(EXAMPLE);
  assert.ok(report.ok, report.mistakes.map((m) => formatMistake(m, ROOT)).join("\n"));
  assert.ok((report.planned ?? 0) >= 6, `planned ${report.planned}`);
  assert.is(report.images, 4);
  assert.equal(report.compilerDetail, []);
});

test("a mistake both stages see is one line, in the run's words: the role, the import, both contracts; another import's mistake only the types see stays", async () => {
  const dir = scratch();
  try {
    const file = script(dir, "farm.ts", [
      "const pay = await farm.vm(PaymentService, {});",
      "const stock = await farm.vm(InventoryService, {});",
      "await farm.replicate(2, OrderService, { payments: stock.api, inventory: pay.api });",
      "const imports = { payments: pay.api, inventory: stock.api, audit: pay.api };",
      "await farm.vm(OrderService, imports);",
      "const later = process.env.FARMHAND_NO_SUCH_VARIABLE === undefined ? stock.api : undefined;",
      "await farm.vm(OrderService, { payments: stock.api, inventory: later });",
    ]);
    const report = await checkFarmScript(file);
    assert.not.ok(report.ok);
    // Two replicas, each wired wrongly twice: said once per import.
    assert.equal(lines(report, dir), [
      "farm.ts:6:14 orders: import payments wants payments@1, got inventory@1",
      "farm.ts:6:14 orders: import inventory wants inventory@1, got payments@1",
      "farm.ts:8:14 orders: import audit is not an import of role orders (it imports payments, inventory)",
      "farm.ts:10:14 orders: import payments wants payments@1, got inventory@1",
      // In the same call, another import only the types see: said apart, in the compiler's words.
      "farm.ts:10:54 import inventory may be undefined (optional, Partial, or from a condition); every import needs an endpoint",
    ]);
    assert.equal(report.mistakes.map((m) => m.stage), ["run", "run", "run", "run", "types"]);
    // The compiler's own messages follow, for detail.
    const detail = report.compilerDetail.join("\n");
    assert.match(detail, /farm\.ts\(6,\d+\): error TS2322/);
    assert.match(detail, `Type '"inventory@1"' is not assignable to type '"payments@1"'`);
    assert.match(detail, /farmhand: role orders does not import audit/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("what the types cannot see is found by running the script against the plan", async () => {
  const dir = scratch();
  try {
    const file = script(dir, "farm.ts", [
      "const pay = await farm.vm(PaymentService, {});",
      "const stock = await farm.vm(InventoryService, {});",
      'const copy = Object.assign({}, pay.api, { url: "http://203.0.113.1:8080" });',
      "await farm.vm(OrderService, { payments: copy, inventory: stock.api });",
      "farm.heal([Object.assign({}, stock)]);",
      "const none: Endpoint<typeof payments>[] = [];",
      "await farm.balance(none);",
      "const pool = <C extends AnyContract>(eps: readonly Endpoint<C>[]) => farm.balance(eps);",
      "await pool<AnyContract>([pay.api, stock.api]);",
      "await farm.replicate(Number(process.env.NO_SUCH_VARIABLE ?? 0), PaymentService, {});",
    ], [
      `import type { AnyContract, Endpoint } from ${JSON.stringify(contracts)};`,
      `import type { payments } from ${JSON.stringify(path.join(ROOT, "examples/order-processing/contracts.ts"))};`,
    ]);
    const report = await checkFarmScript(file);
    assert.not.ok(report.ok);
    assert.equal(report.mistakes.filter((m) => m.stage === "types"), [], lines(report, dir).join("\n"));
    has(report, dir, "farm.ts:9:14 orders: import payments: endpoint http://203.0.113.1:8080 was not made by this farm (a copy, built by hand, or from another farm)");
    has(report, dir, /^farm\.ts:10:8 heal: vms\[0\]: VM handle "inventory-1" was not made by this farm/);
    has(report, dir, "farm.ts:12:14 balance: endpoints are empty: a balancer needs at least one");
    has(report, dir, /^farm\.ts:13:\d+ balance: endpoints\[1\] must serve payments@1, as endpoints\[0\] does, got inventory@1$/);
    has(report, dir, "farm.ts:15:14 the script failed: replicate: n must be a positive integer (got 0)");
    assert.is(report.mistakes.length, 5, lines(report, dir).join("\n"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("plain sentences: a missing file, a CommonJS script, a missing await, the default export", async () => {
  const dir = scratch();
  try {
    const missing = await checkFarmScript(path.join(dir, "nope.ts"));
    assert.equal(lines(missing, dir), [`${path.join(dir, "nope.ts")}: no such file`]);

    const outside = mkdtempSync(path.join(os.tmpdir(), "farmhand-check-cjs-"));
    try {
      const cjs = script(outside, "farm.ts", ["await farm.vm(PaymentService, {});"]);
      const report = await checkFarmScript(cjs);
      const sentence = 'the script is read as CommonJS (no package.json above it); a farm script is an ES module: put a package.json with {"type": "module"} beside it, or name it .mts';
      assert.equal(lines(report, outside), [`farm.ts:1:1 ${sentence}`]);
      // The compiler's own CommonJS errors (one per import and export) would only repeat the sentence.
      assert.equal(report.compilerDetail, []);
      assert.not.match(renderReport(report, outside), /the compiler's messages|TS1295|TS1287/);

      // Another mistake in such a script keeps its line, and its compiler message alone follows.
      const typo = script(outside, "typo.ts", ['const replicas: number = "two";', "await farm.vm(PaymentService, {});"]);
      const both = await checkFarmScript(typo);
      assert.equal(lines(both, outside), [
        `typo.ts:1:1 ${sentence}`,
        "typo.ts:4:9 Type 'string' is not assignable to type 'number'.",
      ]);
      assert.equal(both.compilerDetail.length, 1, both.compilerDetail.join("\n"));
      assert.match(both.compilerDetail[0], /typo\.ts\(4,9\): error TS2322: Type 'string' is not assignable to type 'number'\./);
      assert.match(renderReport(both, outside), /\n\nthe compiler's messages:\n.*typo\.ts\(4,9\): error TS2322[^\n]*\n$/);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }

    const awaitless = script(dir, "awaitless.ts", [
      "const pay = farm.vm(PaymentService, {});",
      "const stock = await farm.vm(InventoryService, {});",
      "await farm.vm(OrderService, { payments: pay.api, inventory: stock.api });",
      "const pays = farm.replicate(2, PaymentService, {});",
      "await farm.balance(pays.map((p) => p.api));",
    ]);
    const report = await checkFarmScript(awaitless);
    // One line each: not what follows from it on its line (an `undefined` import, a parameter typed any).
    assert.equal(lines(report, dir), [
      "awaitless.ts:6:47 pay is a Promise: an await is missing where it is made",
      "awaitless.ts:8:27 pays is a Promise: an await is missing where it is made",
    ]);

    const noDefault = path.join(dir, "no-default.ts");
    writeFileSync(noDefault, `import type { Farm } from ${JSON.stringify(farmTypes)};\nexport async function build(farm: Farm) {}\n`);
    has(await checkFarmScript(noDefault), dir, /^no-default\.ts:1:1 the script has no default export/);

    const returnsVm = script(dir, "returns-vm.ts", ["const pay = await farm.vm(PaymentService, {});", "return { pay };"]);
    const r = await checkFarmScript(returnsVm);
    has(r, dir, /^returns-vm\.ts:3:1 the default export is not a farm script: it returns pay, which is no endpoint/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("both stages say what a value given to heal<any[]> is, and agree on route prefixes", async () => {
  const dir = scratch();
  try {
    const file = script(dir, "farm.ts", [
      "const pay = await farm.vm(PaymentService, {});",
      'farm.heal<any[]>([{ id: "x" }]);',
      'await farm.route({ "/v1:payments@2": pay.api });',
      'await farm.route({ "/stock/café": pay.api });',
    ]);
    const report = await checkFarmScript(file);
    assert.equal(lines(report, dir), [
      'farm.ts:5:8 heal: vms[0] is not a VM handle made by this farm, got {"id":"x"}',
      `farm.ts:7:14 route: prefix "/stock/café" holds "é": after its "/", a prefix holds only letters, digits and !$%&'()*+,-./:;=@_~`,
    ]);
    // The compiler refused the same two lines, in the same words; ":" and "@" neither stage refuses.
    const detail = report.compilerDetail.join("\n");
    assert.equal(report.compilerDetail.map((d) => /farm\.ts\((\d+),/.exec(d)?.[1]), ["5", "7"], detail);
    assert.match(detail, "farmhand: heal: the list is typed any, so a value in it may be no VM handle made by this farm");
    assert.not.match(detail, /copy/);
    assert.match(detail, String.raw`farmhand: route prefix \"/stock/café\" holds \"é\"`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a script that throws, drops a failing promise, or waits for what never comes", async () => {
  const dir = scratch();
  try {
    const throws = script(dir, "throws.ts", ["await farm.vm(PaymentService, {});", 'throw new Error("no region configured");']);
    assert.equal(lines(await checkFarmScript(throws), dir), ["throws.ts:5:9 the script failed: no region configured"]);

    const drops = script(dir, "drops.ts", ['void farm.replicate(Number("0"), PaymentService, {});']);
    has(await checkFarmScript(drops), dir, /^drops\.ts:\d+:\d+ a promise the script did not await failed: replicate: n must be a positive integer/);

    const hangs = script(dir, "hangs.ts", ["await new Promise(() => {});"]);
    has(await checkFarmScript(hangs, { timeoutMs: 300 }), dir, /^hangs\.ts:3:1 the script did not finish within 0\.3 s against the plan/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the compiler's messages, said in one line", () => {
  const [d] = parseDiagnostics([
    "farm.ts(12,31): error TS2322: Type 'Endpoint<Contract<\"inventory@1\", { readonly reserve: { readonly method: \"POST\"; }; }>>' is not assignable to type 'Endpoint<Contract<\"payments@1\", { readonly charge: {}; }>>'.",
    "  Type '\"inventory@1\"' is not assignable to type '\"payments@1\"'.",
  ].join("\n"), "/x");
  assert.is(d.file, "/x/farm.ts");
  assert.equal(d.detail, ["Type '\"inventory@1\"' is not assignable to type '\"payments@1\"'."]);
  assert.is(summarize(d, { lineText: "  await farm.vm(OrderService, { payments: stock.api });", fromColumn: "payments: stock.api });" }), "import payments wants payments@1, got inventory@1");
  assert.is(shortenTypes("Type 'Endpoint<Contract<\"a@1\", { x: TObject<{ y: TString; }>; }>>' vs 'ImportsOf<Role<\"orders\", {}, { p: Contract<\"p@1\", {}>; }>>'"), "Type 'Endpoint<a@1>' vs 'the imports of orders'");
  const [refusal] = parseDiagnostics("f.ts(3,20): error TS2345: Argument of type 'never[]' is not assignable to parameter of type '\"farmhand: balance: the contract is not known: no endpoints, endpoints typed any, or endpoints merged into one; it must be one contract\"'.", "/x");
  assert.is(summarize(refusal, null), "balance: the contract is not known: no endpoints, endpoints typed any, or endpoints merged into one; it must be one contract");
  // A shorthand property is an import too; an argument is not a key.
  const [copied] = parseDiagnostics("f.ts(6,30): error TS2741: Property '#contract' is missing in type '{ contract: Contract<\"orders@1\", {}>; url: string; label: string; }' but required in type 'Endpoint<Contract<\"orders@1\", {}>>'.", "/x");
  assert.is(summarize(copied, { lineText: "await farm.vm(WebFrontend, { orders });", fromColumn: "orders });" }), "import orders is not an endpoint the farm made: built by hand or copied ({ contract: orders@1; url: string; label: string; })");
  const [loose] = parseDiagnostics("f.ts(7,21): error TS2345: Argument of type 'any' is not assignable to parameter of type 'never'.", "/x");
  assert.is(summarize(loose, { lineText: "await farm.failover(loose, pay.api);", fromColumn: "loose, pay.api);" }), "failover: this is typed any, so it cannot be checked: give it its type (an endpoint of one contract, the role's imports)");
  const [missing] = parseDiagnostics("f.ts(3,20): error TS2741: Property 'inventory' is missing in type '{ payments: Endpoint<Contract<\"payments@1\", {}>>; }' but required in type 'ImportsOf<Role<\"orders\", {}, {}>>'.", "/x");
  assert.is(summarize(missing, null), "orders: import inventory is missing");
});

test("a stack's first frame outside farmhand is where the script was", () => {
  const stack = [
    "WiringError: orders-1: import payments: wants payments@1",
    `    at #vmNode (file://${ROOT}/control/model/recorder.ts:293:65)`,
    "    at Array.forEach (<anonymous>)",
    `    at RecordingFarm.vm (file://${ROOT}/control/model/recorder.ts:89:30)`,
    "    at Module.default (file:///tmp/x/farm.ts?farmhand-check=3:6:14)",
    "    at async file:///tmp/x/run.ts:5:1",
  ].join("\n");
  assert.equal(locationInStack(stack), { file: "/tmp/x/farm.ts", line: 6, column: 14 });
  assert.is(locationInStack(`Error\n    at node:internal/modules/x:1:1\n    at f (file://${ROOT}/src/cli.ts:1:1)`), null);
});

test.run();
