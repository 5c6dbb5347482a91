// `farmhand check|up|down|status|start`: farm scripts on the embedded local driver.

import type { Driver, VmRecord } from "../../control/drivers/driver.ts";
import { chooseDriver, type DriverChoice } from "./drivers.ts";
import { openFarm, type FarmHandle, type FarmStatus } from "../../control/farm/controller.ts";
import type { FarmEvent } from "../../control/farm/farm.ts";
import { checkScript, farmNameFor, loadScript, type ScriptResult } from "../../control/farm/script.ts";

export interface FarmCommandOptions extends DriverChoice {
  /** Labels the farm's VMs; default: the script's folder name. */
  readonly farm?: string;
}

export function runCheck(script: string): number {
  progress(`type-checking ${script}`);
  const result = checkScript(script);
  if (!result.ok) {
    process.stderr.write(`${result.output}\nfarmhand check: ${script} does not type-check; nothing was created\n`);
    return 1;
  }
  progress("ok: the wiring type-checks");
  return 0;
}

/** Type-checks, then runs the script; VMs stay up after the command returns (`farmhand down` removes them). */
export async function runUp(script: string, options: FarmCommandOptions): Promise<number> {
  const deployed = await deploy(script, options);
  if (deployed === null) return 1;
  await deployed.close();
  return 0;
}

/**
 * Removes every VM of the farm, damaged ones too (each is named first). Exits 1, naming what is
 * left and why, when something could not be removed.
 */
export async function runDown(options: FarmCommandOptions & { readonly script?: string }): Promise<number> {
  const name = options.farm ?? (options.script !== undefined ? farmNameFor(options.script) : "default");
  const driver = chooseDriver(options);
  try {
    const farm = await openFarm(driver, { name });
    const before = await driver.list({ farm: name });
    warnDamaged("down", before);
    progress(`removing farm ${name} (${before.length} VM${before.length === 1 ? "" : "s"})`);
    const failure = await farm.teardown().then(() => null, (error: unknown) => (error as Error).message);
    if (failure === null) {
      progress(`farm ${name} removed`);
      return 0;
    }
    // teardown stops at its first failure while other removals still run; a destroy of the same VM
    // waits for the one in flight, so this names each VM that stays, and why, once all have ended.
    const problems: string[] = [];
    for (const r of await driver.list({ farm: name })) {
      await driver.destroy(r.id).catch((error: unknown) => problems.push((error as Error).message));
    }
    if (problems.length === 0) {
      progress(`farm ${name} removed, at the second try (the first: ${failure})`);
      return 0;
    }
    for (const problem of problems) process.stderr.write(`farmhand down: ${problem}\n`);
    progress(`farm ${name} is NOT wholly removed (see above); run farmhand down again once that is fixed`);
    return 1;
  } finally {
    await driver.close();
  }
}

/**
 * Prints the farm's VMs and balancers. A VM whose driver record is damaged shows as "damaged" and
 * gets a warning line (its record's file and why) on stderr; the exit status is then 1, so that
 * scripts notice, and `farmhand down` (or the next `up`) removes it.
 */
export async function runStatus(options: FarmCommandOptions & { readonly script?: string }): Promise<number> {
  const name = options.farm ?? (options.script !== undefined ? farmNameFor(options.script) : "default");
  const driver = chooseDriver(options);
  try {
    const farm = await openFarm(driver, { name });
    process.stdout.write(renderStatus(name, await farm.status()));
    return warnDamaged("status", await driver.list({ farm: name })) > 0 ? 1 : 0;
  } finally {
    await driver.close();
  }
}

/** One warning line per damaged VM: what the driver could not read, and why. Returns how many. */
function warnDamaged(command: string, records: readonly VmRecord[]): number {
  const damaged = records.filter((r) => r.state === "damaged");
  for (const r of damaged) {
    const vm = r.spec.labels.vm === r.id ? r.id : `${r.spec.labels.vm} (${r.id})`;
    process.stderr.write(`farmhand ${command}: warning: VM ${vm} is damaged: ${r.problem ?? "its record cannot be read"}\n`);
  }
  return damaged.length;
}

/** `npm start`: deploy, print the front URL and the status table, serve until Ctrl-C, then remove every VM. */
export async function runStart(script: string, options: FarmCommandOptions & { readonly tour?: boolean }): Promise<number> {
  const deployed = await deploy(script, options);
  if (deployed === null) return 1;
  let code = 0;
  try {
    if (options.tour === true) {
      // The tour kills a VM's process itself, which only the local driver lets it reach.
      if ((options.driver ?? "local") !== "local") throw new Error("--tour runs on the local driver only");
      const { runTour } = await import("./tour.ts");
      code = await runTour(deployed);
    } else {
      progress("serving; Ctrl-C removes the farm");
      await untilSignal();
    }
  } finally {
    progress("removing every VM of the farm");
    await deployed.farm.teardown();
    await deployed.close();
    progress("done");
  }
  return code;
}

export interface Deployed {
  readonly name: string;
  readonly driver: Driver;
  readonly farm: FarmHandle;
  readonly result: ScriptResult;
  readonly events: FarmEvent[];
  close(): Promise<void>;
}

async function deploy(script: string, options: FarmCommandOptions): Promise<Deployed | null> {
  if (runCheck(script) !== 0) return null;
  const name = options.farm ?? farmNameFor(script);
  const driver = chooseDriver(options);
  const farm = await openFarm(driver, { name });
  const events: FarmEvent[] = [];
  farm.on((event) => {
    events.push(event);
    progress(describe(event));
  });
  progress(`deploying farm ${name} from ${script} on the local driver`);
  const run = await loadScript(script);
  let result: ScriptResult;
  try {
    result = await run(farm);
  } catch (error) {
    // Nothing half-created stays behind.
    process.stderr.write(`farmhand: ${script} failed: ${(error as Error).message}\nremoving what it created\n`);
    await farm.teardown();
    await driver.close();
    return null;
  }
  // What an earlier run made and this one no longer asks for goes, as in any declarative deployment.
  await farm.prune();
  process.stdout.write(renderStatus(name, await farm.status()));
  for (const [label, e] of Object.entries(result ?? {})) process.stdout.write(`${label}: ${e.url}  (${e.contract.id})\n`);
  return { name, driver, farm, result, events, close: () => driver.close() };
}

/** Waits for Ctrl-C or SIGTERM. Signal listeners alone do not keep Node running, so a timer does. */
function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    const done = () => {
      clearInterval(keepAlive);
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
}

function describe(event: FarmEvent): string {
  switch (event.type) {
    case "vm-started": return `started ${event.vm} (${event.role})`;
    case "vm-failed": return `FAILED ${event.vm} (${event.role}): ${event.reason}`;
    case "vm-stopped": return `removed ${event.vm}`;
    case "vm-healed": return `healed ${event.vm} (${event.how}), serving at ${event.address}`;
    case "vm-rewired": return `rewired ${event.vm} (${Object.entries(event.imports).map(([k, url]) => `${k} -> ${url}`).join(", ")}), serving at ${event.address}`;
    case "pool-changed": return `pool of ${event.pool}: ${event.backends.length} backend(s)`;
  }
}

export function renderStatus(name: string, status: FarmStatus): string {
  const rows: string[][] = [["VM", "ROLE", "STATE", "ADDRESS", "PROVIDES"]];
  for (const vm of status.vms) {
    const provides = typeof vm.provides === "string" ? vm.provides : Object.entries(vm.provides).map(([k, id]) => `${k}=${id}`).join(" ");
    rows.push([vm.name, vm.role === "" ? "?" : vm.role, vm.state, vm.address ?? "-", provides]);
  }
  let out = `farm ${name}: ${status.vms.length} VM(s)\n${table(rows)}`;
  for (const b of status.balancers) {
    out += `\nbalancer ${b.name} (${b.contract})${b.error === null ? "" : `: ${b.error}`}\n`;
    const pool: string[][] = [["BACKEND", "POOL", "HEALTH", "ROUTABLE", "LIFECYCLE", "IN FLIGHT"]];
    for (const x of b.backends) pool.push([x.id, x.pool, x.healthy ? "up" : "down", x.routable ? "yes" : "no", x.lifecycle, String(x.inFlight)]);
    out += table(pool);
  }
  return out;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n") + "\n";
}

function progress(line: string): void {
  process.stderr.write(`[farmhand] ${line}\n`);
}
