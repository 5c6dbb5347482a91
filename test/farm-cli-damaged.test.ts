// `farmhand status|up|down` as a user runs them, on a farm whose local driver records were damaged
// behind its back (a record cut short, one overwritten): nothing it describes may be orphaned,
// duplicated, or silently skipped.

import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { defaultAddressDir } from "../control/drivers/local/state.ts";
import { localStateDir } from "../control/state/home.ts";
import { EXAMPLE, EXAMPLE_VMS, farmhand, idsOf, newHome, upUnwatched } from "./helpers/farm-cli.ts";

const FARM = "cli-damaged";
const VMS = EXAMPLE_VMS;

/**
 * Live processes of the farm, found in /proc by the identity each VM process carries. Under the test
 * runner, only those this file started (FARMHAND_OWNER, which the local driver passes on to its VMs):
 * another run of the suite on the same machine has a farm of the same name.
 */
function farmProcesses(): { pid: number; vm: string; id: string }[] {
  const owner = process.env.FARMHAND_OWNER;
  const found: { pid: number; vm: string; id: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (/^[ZXx]/.test(stat.slice(stat.lastIndexOf(")") + 2))) continue;
      const env = readFileSync(`/proc/${name}/environ`, "latin1").split("\0");
      if (!env.includes(`FARMHAND_FARM=${FARM}`)) continue;
      if (owner !== undefined && !env.includes(`FARMHAND_OWNER=${owner}`)) continue;
      const get = (key: string) => env.find((e) => e.startsWith(`${key}=`))?.slice(key.length + 1) ?? "";
      found.push({ pid: Number(name), vm: get("FARMHAND_VM"), id: get("FARMHAND_VM_ID") });
    } catch {}
  }
  return found;
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
  const home = newHome();
  const stateDir = localStateDir(home);
  const farm = ["--farm", FARM];
  try {
    // Deployed, with no controller left watching: what happens to the records is up to the commands.
    const up = await upUnwatched(home, [EXAMPLE, ...farm]);
    assert.match(up.stdout, /created 6/, up.stderr);
    const first = await idsOf(home, FARM);
    assert.equal(Object.keys(first).sort(), VMS);
    const running = farmProcesses();
    assert.equal(running.map((p) => p.vm).sort(), VMS);

    damage(stateDir, first["orders-2"], first["payments-1"]);
    const status = farmhand(home, ["status", ...farm]);
    assert.is(status.code, 1, `${status.stdout}\n${status.stderr}`);
    for (const vm of ["orders-2", "payments-1"]) {
      const file = path.join(stateDir, `${first[vm]}.json`);
      assert.match(status.stderr, `farmhand status: warning: VM ${vm} (${first[vm]}) is damaged: ${file} is not valid JSON (`);
      // STATE and HEALTH both say so; a damaged VM has no process to show.
      assert.match(status.stdout, new RegExp(`${vm}\\s+${vm.replace(/-\d+$/, "")}\\s+damaged\\s+damaged\\s+-`));
    }
    assert.is((status.stderr.match(/warning:/g) ?? []).length, 2, status.stderr);

    // The next up replaces both; no VM runs twice, and the damaged VMs' processes are gone.
    const again = await upUnwatched(home, [EXAMPLE, ...farm]);
    // Should the new payments VM serve elsewhere, the order VMs that were adopted are rewired to it.
    const summary = /created 2, adopted (\d), restarted 0, rewired (\d), removed 0/.exec(again.stdout);
    assert.ok(summary !== null && Number(summary[1]) + Number(summary[2]) === 4, again.stdout);
    const after = farmProcesses();
    assert.equal(after.map((p) => p.vm).sort(), VMS, "one process per VM");
    for (const vm of ["orders-2", "payments-1"]) {
      const old = running.find((p) => p.vm === vm)!;
      assert.not.ok(after.some((p) => p.pid === old.pid), `${vm}'s old process ${old.pid} is gone`);
    }
    const second = await idsOf(home, FARM);
    assert.is.not(second["orders-2"], first["orders-2"]);
    assert.not.ok(readdirSync(stateDir).some((f) => f.startsWith(first["orders-2"]) || f.startsWith(first["payments-1"])), "their files are gone");
    assert.is(farmhand(home, ["status", ...farm]).code, 0);

    // Damaged again, and a file in the way of one VM's removal: down ends every process, names
    // what it could not remove and why, and exits 1; once that is fixed, down removes the rest.
    damage(stateDir, second["orders-balancer-1"], second["web-1"]);
    const stuck = path.join(stateDir, `${second["orders-1"]}.log.1`);
    mkdirSync(stuck);
    writeFileSync(path.join(stuck, "x"), "x");
    const blocked = farmhand(home, ["down", ...farm]);
    assert.is(blocked.code, 1, blocked.stderr);
    assert.match(blocked.stderr, `farmhand down: warning: VM web-1 (${second["web-1"]}) is damaged`);
    assert.match(blocked.stderr, `farmhand down: local driver: VM orders-1 (${second["orders-1"]}) is not wholly removed: could not remove ${stuck}: EISDIR`);
    assert.equal(farmProcesses(), [], "no process of the farm is left");
    assert.equal(Object.keys(await idsOf(home, FARM)), ["orders-1"], "only what could not be removed stays recorded");

    rmSync(stuck, { recursive: true });
    const down = farmhand(home, ["down", ...farm]);
    assert.is(down.code, 0, down.stderr);
    assert.equal(readdirSync(stateDir), [], "no record or log is left");
    assert.equal(reservations(stateDir), [], "no address stays reserved");
  } finally {
    farmhand(home, ["down", ...farm]);
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
