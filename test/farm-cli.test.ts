// The farm commands as a user runs them, as child processes on the order-processing example: check,
// plan, up (detached, then again), status and down from anywhere, a controller killed mid-flight, and
// start until Ctrl-C. Each test has a farmhand home of its own.

import { rmSync, writeFileSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { localDriver } from "../control/drivers/local/index.ts";
import { localStateDir } from "../control/state/home.ts";
import { EXAMPLE, EXAMPLE_VMS, ROOT, Running, farmhand, newHome, processesOf } from "./helpers/farm-cli.ts";
import { waitFor } from "./helpers/proxy.ts";

const roles = path.join(ROOT, "examples/order-processing/roles.ts");

test("check refuses a mis-wired script with tsc's message, and up creates nothing then", async () => {
  const home = newHome();
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-cli-"));
  try {
    const script = path.join(dir, "miswired.ts");
    writeFileSync(script, [
      `import type { Farm } from ${JSON.stringify(path.join(ROOT, "control/farm/farm.ts"))};`,
      `import { InventoryService, OrderService, PaymentService } from ${JSON.stringify(roles)};`,
      "export default async function (farm: Farm) {",
      "  const pay = await farm.vm(PaymentService, {});",
      "  const stock = await farm.vm(InventoryService, {});",
      "  await farm.vm(OrderService, { payments: stock.api, inventory: pay.api });",
      "}",
      "",
    ].join("\n"));
    const check = farmhand(home, ["check", script]);
    assert.is(check.code, 1);
    assert.match(check.stderr, /miswired\.ts\(6,\d+\): error TS2322/);
    assert.match(check.stderr, /inventory@1/);
    const up = farmhand(home, ["up", script, "--farm", "miswired"]);
    assert.is(up.code, 1);
    assert.match(up.stderr, /nothing was created/);
    assert.equal(await processesOf(home, "miswired"), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
});

test("plan, up --detach, plan and up again (adopts), status and down from another directory; the detached controller heals", async () => {
  const home = newHome();
  const farm = ["--farm", "cli-up"];
  try {
    const plan = farmhand(home, ["plan", EXAMPLE, ...farm]);
    assert.is(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /plan: farm cli-up: create 6, adopt 0, restart 0, rewire 0, replace 0, remove 0; nothing was changed/);
    assert.equal(await processesOf(home, "cli-up"), [], "plan made nothing");

    const first = farmhand(home, ["up", "--detach", EXAMPLE, ...farm]);
    assert.is(first.code, 0, first.stderr);
    assert.match(first.stdout, /up: farm cli-up: created 6, adopted 0, restarted 0, rewired 0, removed 0/);
    assert.is((await processesOf(home, "cli-up")).length, 6);
    assert.match(farmhand(home, ["plan", EXAMPLE, ...farm]).stdout, /create 0, adopt 6, restart 0, rewire 0, replace 0, remove 0/);

    // The controller left in the background heals a replica that dies: no command is involved.
    const driver = localDriver({ stateDir: localStateDir(home) });
    const [orders2] = await driver.list({ farm: "cli-up", vm: "orders-2" });
    driver.signal(orders2.id, "SIGKILL");
    assert.ok(await waitFor(async () => (await driver.list({ farm: "cli-up", vm: "orders-2" }))[0]?.state === "failed", 10_000), "the kill was seen");
    assert.ok(await waitFor(async () => (await driver.list({ farm: "cli-up", vm: "orders-2" }))[0]?.state === "running", 30_000), "healed by the controller");
    await driver.close();
    const log = farmhand(home, ["logs", "--farm", "cli-up"]);
    assert.match(log.stdout, /healed orders-2 \(restarted\)/);

    // up again: a new controller takes over and adopts everything.
    const second = farmhand(home, ["up", "--detach", EXAMPLE, ...farm]);
    assert.is(second.code, 0, second.stderr);
    assert.match(second.stdout, /up: farm cli-up: created 0, adopted 6, restarted 0, rewired 0, removed 0/);
    assert.match(second.stderr, /stopping the controller of farm cli-up/);

    // From another directory, with neither the script nor the farm's name: the only farm there is.
    const elsewhere = os.tmpdir();
    const status = farmhand(home, ["status"], { cwd: elsewhere });
    assert.is(status.code, 0, status.stderr);
    assert.match(status.stdout, /controller: running \(pid \d+, up \d+/);
    assert.match(status.stdout, /dashboard: +http:\/\/127\.0\.0\.1:\d+ /);
    // VM, role, state, health, pid, uptime, address, request rates, provides.
    for (const vm of EXAMPLE_VMS) assert.match(status.stdout, new RegExp(`${vm}\\s+\\S+\\s+running\\s+healthy\\s+\\d+\\s+\\d+`));
    assert.match(status.stdout, /orders-1\s+orders\s+running\s+healthy\s+\d+\s+\d+[smhd][^\n]*127\.0\.\d+\.\d+:8080\s[^\n]*api=orders@1\n/);
    assert.match(status.stdout, /balancer orders-balancer-1 \(orders@1\)\n  admin API: http:\/\/127\.0\.\d+\.\d+:9901 +metrics: http:\/\/127\.0\.\d+\.\d+:9901\/metrics/);
    const orderVms = EXAMPLE_VMS.filter((v) => /^orders-\d+$/.test(v));
    assert.is((status.stdout.match(/^  127\.0\.\d+\.\d+:8080 +orders-\d+ +up +yes +active/gm) ?? []).length, orderVms.length, status.stdout);
    const ls = farmhand(home, ["ls"], { cwd: elsewhere });
    assert.match(ls.stdout, /cli-up\s+local\s+6\/6 running\s+running \(pid \d+\)/);

    const down = farmhand(home, ["down"], { cwd: elsewhere });
    assert.is(down.code, 0, down.stderr);
    assert.equal(await processesOf(home, "cli-up"), []);
    const gone = farmhand(home, ["down", "--farm", "cli-up"]);
    assert.is(gone.code, 1, "a farm that is not there is not removed successfully");
    assert.match(gone.stderr, /there is no farm cli-up/);
  } finally {
    farmhand(home, ["down", ...farm]);
    rmSync(home, { recursive: true, force: true });
  }
});

test("down after a controller killed mid-deployment leaves no process", async () => {
  const home = newHome();
  const farm = ["--farm", "cli-killed"];
  try {
    const up = new Running(home, ["up", EXAMPLE, ...farm]);
    // Kill it mid-deployment: after the third VM has started.
    await waitFor(() => (up.stderr.match(/started /g) ?? []).length >= 3 || up.child.exitCode !== null, 120_000);
    await up.stop("SIGKILL");
    assert.ok((await processesOf(home, "cli-killed")).length >= 3, "its VMs outlive it, recorded");
    const down = farmhand(home, ["down", ...farm]);
    assert.is(down.code, 0, down.stderr);
    assert.equal(await processesOf(home, "cli-killed"), []);
  } finally {
    farmhand(home, ["down", ...farm]);
    rmSync(home, { recursive: true, force: true });
  }
});

test("start serves until Ctrl-C, then removes every VM", async () => {
  const home = newHome();
  try {
    const start = new Running(home, ["start", EXAMPLE, "--farm", "cli-start"]);
    await start.until(/serving; Ctrl-C removes the farm/);
    assert.match(start.stdout, /site: http:\/\/127\.0\.\d+\.\d+:8080  \(web@1\)/);
    assert.match(start.stdout, /VM\s+ROLE\s+STATE\s+ADDRESS/);
    // Still serving a while later: the command waits for the signal, not for its own end.
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(start.child.exitCode, null, "start keeps serving");
    assert.is((await processesOf(home, "cli-start")).length, 6);
    assert.is(await start.stop(), 0);
    assert.equal(await processesOf(home, "cli-start"), []);
  } finally {
    farmhand(home, ["down", "--farm", "cli-start"]);
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
