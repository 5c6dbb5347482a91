// `farmhand status|up|down` as a user runs them, on a farm whose local driver records were damaged
// behind its back (a record cut short, one overwritten): nothing it describes may be orphaned,
// duplicated, or silently skipped.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { localDriver } from "../control/drivers/local/index.ts";
import { defaultAddressDir } from "../control/drivers/local/state.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "src/farmhand.mjs");
const example = path.join(root, "examples/order-processing/farm.ts");
const FARM = "cli-damaged";
const VMS = ["inventory-1", "orders-1", "orders-2", "orders-3", "orders-balancer-1", "payments-1", "web-1"];

function farmhand(args: string[]) {
  const run = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Live processes of the farm, found in /proc by the identity each VM process carries. */
function farmProcesses(): { pid: number; vm: string; id: string }[] {
  const found: { pid: number; vm: string; id: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (/^[ZXx]/.test(stat.slice(stat.lastIndexOf(")") + 2))) continue;
      const env = readFileSync(`/proc/${name}/environ`, "latin1").split("\0");
      if (!env.includes(`FARMHAND_FARM=${FARM}`)) continue;
      const get = (key: string) => env.find((e) => e.startsWith(`${key}=`))?.slice(key.length + 1) ?? "";
      found.push({ pid: Number(name), vm: get("FARMHAND_VM"), id: get("FARMHAND_VM_ID") });
    } catch {}
  }
  return found;
}

/** The farm's VM ids by name, as its driver records them. */
async function ids(stateDir: string): Promise<Record<string, string>> {
  const driver = localDriver({ stateDir });
  const records = await driver.list({ farm: FARM });
  await driver.close();
  return Object.fromEntries(records.map((r) => [r.spec.labels.vm, r.id]));
}

/** One record cut short, one overwritten with bytes that are not JSON. */
function damage(stateDir: string, truncated: string, garbage: string): void {
  const truncatedFile = path.join(stateDir, `${truncated}.json`);
  truncateSync(truncatedFile, Math.floor(statSync(truncatedFile).size / 2));
  writeFileSync(path.join(stateDir, `${garbage}.json`), randomBytes(300));
}

/** Reservations, in the machine-wide address dir, held by VMs of `stateDir`. */
function reservations(stateDir: string): string[] {
  const dir = defaultAddressDir();
  return readdirSync(dir).filter((host) => {
    try {
      return readFileSync(path.join(dir, host), "utf8").startsWith(`${path.resolve(stateDir)}\n`);
    } catch {
      return false;
    }
  });
}

test("damaged records: status warns and exits 1, up replaces them without duplicates, down removes everything or says what it could not", async () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-cli-"));
  const farm = ["--state", stateDir, "--farm", FARM];
  try {
    const up = farmhand(["up", example, ...farm]);
    assert.is(up.code, 0, up.stderr);
    const first = await ids(stateDir);
    assert.equal(Object.keys(first).sort(), VMS);
    const running = farmProcesses();
    assert.equal(running.map((p) => p.vm).sort(), VMS);

    damage(stateDir, first["orders-2"], first["payments-1"]);
    const status = farmhand(["status", ...farm]);
    assert.is(status.code, 1, `${status.stdout}\n${status.stderr}`);
    for (const vm of ["orders-2", "payments-1"]) {
      const file = path.join(stateDir, `${first[vm]}.json`);
      assert.match(status.stderr, `farmhand status: warning: VM ${vm} (${first[vm]}) is damaged: ${file} is not valid JSON (`);
      assert.match(status.stdout, new RegExp(`${vm}\\s+${vm.replace(/-\d+$/, "")}\\s+damaged\\s+-`));
    }
    assert.is((status.stderr.match(/warning:/g) ?? []).length, 2, status.stderr);

    // The next up replaces both; no VM runs twice, and the damaged VMs' processes are gone.
    const again = farmhand(["up", example, ...farm]);
    assert.is(again.code, 0, again.stderr);
    const after = farmProcesses();
    assert.equal(after.map((p) => p.vm).sort(), VMS, "one process per VM");
    for (const vm of ["orders-2", "payments-1"]) {
      const old = running.find((p) => p.vm === vm)!;
      assert.not.ok(after.some((p) => p.pid === old.pid), `${vm}'s old process ${old.pid} is gone`);
    }
    const second = await ids(stateDir);
    assert.is.not(second["orders-2"], first["orders-2"]);
    assert.not.ok(readdirSync(stateDir).some((f) => f.startsWith(first["orders-2"]) || f.startsWith(first["payments-1"])), "their files are gone");
    assert.is(farmhand(["status", ...farm]).code, 0);

    // Damaged again, and a file in the way of one VM's removal: down ends every process, names
    // what it could not remove and why, and exits 1; once that is fixed, down removes the rest.
    damage(stateDir, second["orders-balancer-1"], second["web-1"]);
    const stuck = path.join(stateDir, `${second["orders-1"]}.log.1`);
    mkdirSync(stuck);
    writeFileSync(path.join(stuck, "x"), "x");
    const blocked = farmhand(["down", ...farm]);
    assert.is(blocked.code, 1, blocked.stderr);
    assert.match(blocked.stderr, `farmhand down: warning: VM web-1 (${second["web-1"]}) is damaged`);
    assert.match(blocked.stderr, `farmhand down: local driver: VM orders-1 (${second["orders-1"]}) is not wholly removed: could not remove ${stuck}: EISDIR`);
    assert.equal(farmProcesses(), [], "no process of the farm is left");
    assert.equal(Object.keys(await ids(stateDir)), ["orders-1"], "only what could not be removed stays recorded");

    rmSync(stuck, { recursive: true });
    const down = farmhand(["down", ...farm]);
    assert.is(down.code, 0, down.stderr);
    assert.equal(readdirSync(stateDir), [], "no record or log is left");
    assert.equal(reservations(stateDir), [], "no address stays reserved");
  } finally {
    farmhand(["down", ...farm]);
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test.run();
