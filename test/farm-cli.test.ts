// The farm commands as a user runs them: `farmhand check|up|status|down|start` as child processes on
// the order-processing example, on a private state directory.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { localDriver } from "../control/drivers/local/index.ts";
import { findVmPids } from "../control/drivers/local/proc.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "src/farmhand.mjs");
const example = path.join(root, "examples/order-processing/farm.ts");
const roles = path.join(root, "examples/order-processing/roles.ts");

function farmhand(args: string[], timeout = 120_000) {
  const run = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", timeout });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

async function processesOf(stateDir: string, farm: string): Promise<number[]> {
  const driver = localDriver({ stateDir });
  const records = await driver.list({ farm });
  await driver.close();
  return records.flatMap((r) => findVmPids(r.id));
}

test("check refuses a mis-wired script with tsc's message, and up creates nothing then", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-cli-"));
  try {
    const script = path.join(dir, "miswired.ts");
    writeFileSync(script, [
      `import type { Farm } from ${JSON.stringify(path.join(root, "control/farm/farm.ts"))};`,
      `import { InventoryService, OrderService, PaymentService } from ${JSON.stringify(roles)};`,
      "export default async function (farm: Farm) {",
      "  const pay = await farm.vm(PaymentService, {});",
      "  const stock = await farm.vm(InventoryService, {});",
      "  await farm.vm(OrderService, { payments: stock.api, inventory: pay.api });",
      "}",
      "",
    ].join("\n"));
    const check = farmhand(["check", script]);
    assert.is(check.code, 1);
    assert.match(check.stderr, /miswired\.ts\(6,\d+\): error TS2322/);
    assert.match(check.stderr, /inventory@1/);
    const stateDir = path.join(dir, "state");
    const up = farmhand(["up", script, "--state", stateDir, "--farm", "miswired"]);
    assert.is(up.code, 1);
    assert.match(up.stderr, /nothing was created/);
    assert.equal(await processesOf(stateDir, "miswired"), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("up, up again (adopts, creates nothing), status, down (leaves no process)", async () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-cli-"));
  const farm = ["--state", stateDir, "--farm", "cli-up"];
  try {
    const first = farmhand(["up", example, ...farm]);
    assert.is(first.code, 0, first.stderr);
    assert.is((first.stderr.match(/started /g) ?? []).length, 7);
    assert.match(first.stdout, /orders: http:\/\/127\.0\.\d+\.\d+:8080/);
    const second = farmhand(["up", example, ...farm]);
    assert.is(second.code, 0, second.stderr);
    assert.is((second.stderr.match(/started /g) ?? []).length, 0, "nothing new on the second run");
    assert.is((second.stderr.match(/removed /g) ?? []).length, 0, "nothing removed on the second run");
    // A replica that died with no controller watching: the next `up` makes it again, alone, and
    // the balancer it adopts gets it back in its pool.
    const driver = localDriver({ stateDir });
    const [orders2] = await driver.list({ farm: "cli-up", vm: "orders-2" });
    await driver.close();
    for (const pid of findVmPids(orders2.id)) process.kill(pid, "SIGKILL");
    const third = farmhand(["up", example, ...farm]);
    assert.is(third.code, 0, third.stderr);
    assert.equal(third.stderr.match(/started \S+/g), ["started orders-2"]);
    const status = farmhand(["status", ...farm]);
    assert.is(status.code, 0);
    for (const vm of ["payments-1", "inventory-1", "orders-1", "orders-2", "orders-3", "orders-balancer-1", "web-1"]) {
      assert.match(status.stdout, new RegExp(`${vm}\\s+\\S+\\s+running`));
    }
    // Endpoints as each VM announces them.
    assert.match(status.stdout, /orders-1\s+orders\s+running\s+127\.0\.\d+\.\d+:8080\s+api=orders@1\n/);
    assert.match(status.stdout, /orders-balancer-1\s+balancer\s+running\s+\S+\s+api=orders@1\n/);
    assert.match(status.stdout, /web-1\s+web\s+running\s+\S+\s+site=web@1\n/);
    assert.match(status.stdout, /balancer orders-balancer-1 \(orders@1\)/);
    assert.is((status.stdout.match(/^127\.0\.\d+\.\d+:8080 +main +up +yes +active/gm) ?? []).length, 3, status.stdout);
    assert.is((await processesOf(stateDir, "cli-up")).length, 7);
    const down = farmhand(["down", ...farm]);
    assert.is(down.code, 0);
    assert.equal(await processesOf(stateDir, "cli-up"), []);
  } finally {
    farmhand(["down", ...farm]);
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("down after a killed controller leaves no process", async () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-cli-"));
  const farm = ["--state", stateDir, "--farm", "cli-killed"];
  try {
    const child = spawn(process.execPath, [cli, "up", example, ...farm], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    // Kill it mid-deployment: after the third VM has started.
    await new Promise<void>((resolve) => {
      let seen = 0;
      child.stderr.on("data", (d: Buffer) => {
        seen += (d.toString().match(/started /g) ?? []).length;
        if (seen >= 3) resolve();
      });
      child.on("exit", () => resolve());
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));
    assert.ok((await processesOf(stateDir, "cli-killed")).length >= 3, "its VMs outlive it, recorded");
    const down = farmhand(["down", ...farm]);
    assert.is(down.code, 0, down.stderr);
    assert.equal(await processesOf(stateDir, "cli-killed"), []);
  } finally {
    farmhand(["down", ...farm]);
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("start serves until Ctrl-C, then removes every VM", async () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-cli-"));
  try {
    const child = spawn(process.execPath, [cli, "start", example, "--state", stateDir, "--farm", "cli-start"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    await new Promise<void>((resolve) => {
      child.stderr.on("data", (d: Buffer) => d.toString().includes("serving; Ctrl-C") && resolve());
      child.on("exit", () => resolve());
    });
    assert.match(stdout, /site: http:\/\/127\.0\.\d+\.\d+:8080  \(web@1\)/);
    assert.match(stdout, /VM\s+ROLE\s+STATE\s+ADDRESS/);
    // Still serving a while later: the command waits for the signal, not for its own end.
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(child.exitCode, null, "start keeps serving");
    assert.is((await processesOf(stateDir, "cli-start")).length, 7);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.is(code, 0);
    assert.equal(await processesOf(stateDir, "cli-start"), []);
  } finally {
    farmhand(["down", "--state", stateDir, "--farm", "cli-start"]);
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("start --tour: load, a killed order VM healed, nothing left afterwards", async () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-cli-"));
  try {
    const tour = farmhand(["start", example, "--tour", "--state", stateDir, "--farm", "cli-tour"], 170_000);
    assert.is(tour.code, 0, `${tour.stdout}\n${tour.stderr}`);
    assert.match(tour.stdout, /tour summary: orders-\d+ killed under load; healed in [\d.]+ s/);
    assert.match(tour.stderr, /healed orders-\d+ \(restarted\), serving at 127\.0\.\d+\.\d+:\d+/);
    assert.equal(await processesOf(stateDir, "cli-tour"), []);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test.run();
