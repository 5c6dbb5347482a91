// `farmhand check` and `up` as a user runs them: the mistakes first, one line each, then the
// compiler's messages; and `up` of a script that only one of the two stages refuses (the run against
// the plan, or the types) creates nothing on the local driver.

import { existsSync, rmSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { farmDir } from "../control/state/home.ts";
import { farmhand, newHome, processesOf } from "./helpers/farm-cli.ts";
import { scratch, script } from "./helpers/check.ts";

test("farmhand check prints the mistakes first, then the compiler's messages; up of a script only the run refuses creates nothing", async () => {
  const home = newHome();
  const dir = scratch();
  try {
    const miswired = script(dir, "miswired.ts", [
      "const pay = await farm.vm(PaymentService, {});",
      "const stock = await farm.vm(InventoryService, {});",
      "await farm.vm(OrderService, { payments: stock.api, inventory: pay.api });",
    ]);
    // A file that is not there is said in a plain sentence, before any work.
    const missing = farmhand(home, ["up", "nowhere.ts"], { cwd: dir });
    assert.is(missing.code, 2);
    assert.is(missing.stderr.split("\n")[0], "farmhand up: the farm script nowhere.ts does not exist");

    const check = farmhand(home, ["check", miswired], { cwd: dir });
    assert.is(check.code, 1);
    const err = check.stderr.split("\n").filter((l) => !/\[farmhand\]/.test(l));
    assert.equal(err.slice(0, 3), [
      "miswired.ts:6:14 orders: import payments wants payments@1, got inventory@1",
      "miswired.ts:6:14 orders: import inventory wants inventory@1, got payments@1",
      "farmhand check: 2 mistakes in miswired.ts; nothing was created",
    ]);
    assert.ok(err.indexOf("the compiler's messages:") > 3, check.stderr);
    assert.match(check.stderr, /miswired\.ts\(6,\d+\): error TS2322/);

    // It type-checks; only the run against the plan sees the copy.
    const copied = script(dir, "copied.ts", [
      "const pay = await farm.vm(PaymentService, {});",
      "const stock = await farm.vm(InventoryService, {});",
      'await farm.vm(OrderService, { payments: Object.assign({}, pay.api, { url: "http://203.0.113.1:1" }), inventory: stock.api });',
    ]);
    const up = farmhand(home, ["up", copied, "--farm", "copied"], { cwd: dir });
    assert.is(up.code, 1, up.stderr);
    assert.match(up.stderr, /copied\.ts:6:14 orders: import payments: endpoint http:\/\/203\.0\.113\.1:1 was not made by this farm/);
    assert.match(up.stderr, /nothing was created/);
    assert.equal(await processesOf(home, "copied"), []);

    // The other way round: the run against the plan finds nothing wrong, the types do (an import typed
    // any). Were the types skipped, this would deploy (detached, so the test would see its VMs).
    const untyped = script(dir, "untyped.ts", [
      "const pay = await farm.vm(PaymentService, {});",
      "const stock: any = await farm.vm(InventoryService, {});",
      "await farm.vm(OrderService, { payments: pay.api, inventory: stock.api });",
    ]);
    const upTyped = farmhand(home, ["up", untyped, "--farm", "untyped", "--detach"], { cwd: dir });
    try {
      assert.is(upTyped.code, 1, upTyped.stderr);
      assert.match(upTyped.stderr, /untyped\.ts:6:\d+ import inventory is typed any, so its contract is not checked/);
      assert.match(upTyped.stderr, /nothing was created/);
      assert.equal(await processesOf(home, "untyped"), []);
      assert.not.ok(existsSync(farmDir("untyped", home)), "no farm record either");
    } finally {
      if (upTyped.code !== 1) farmhand(home, ["down", "--farm", "untyped"]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
