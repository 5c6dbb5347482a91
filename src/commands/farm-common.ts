// What the farm commands share: which farm a command means, the driver it is on, and how progress,
// events and status read on a terminal.

import type { Driver, VmRecord } from "../../control/drivers/driver.ts";
import type { FarmEvent } from "../../control/farm/farm.ts";
import { farmNameFor } from "../../control/farm/script.ts";
import type { FarmStatus } from "../../control/reconcile/observe.ts";
import { farmhandHome, isFarmName } from "../../control/state/home.ts";
import { readFarmRecord, recordedFarms, type DriverChoice } from "../../control/state/farm-records.ts";
import { chooseDriver, proxmoxOptions } from "./drivers.ts";
import { DriverChoiceError } from "../errors.ts";

export interface FarmArgs {
  /** --farm NAME */
  readonly farm?: string;
  readonly script?: string;
  /** --driver local|proxmox */
  readonly driver?: string;
  /** --templates FILE (Proxmox) */
  readonly templates?: string;
}

/** The farm a command is about: --farm, else the script's folder, else the only farm there is. */
export function farmNameOf(args: FarmArgs, home = farmhandHome()): string {
  if (args.farm !== undefined) {
    if (!isFarmName(args.farm)) throw new DriverChoiceError(`--farm: ${JSON.stringify(args.farm)} is not a farm name (lower-case letters, digits and "-")`);
    return args.farm;
  }
  if (args.script !== undefined) return farmNameFor(args.script);
  const farms = recordedFarms(home);
  if (farms.length === 1) return farms[0];
  if (farms.length === 0) throw new DriverChoiceError(`no farm is recorded in ${home}; farmhand up SCRIPT makes one`);
  throw new DriverChoiceError(`there are ${farms.length} farms (${farms.join(", ")}): say which with --farm NAME or the script`);
}

/**
 * The driver choice given on the command line, checked before any work is done; with
 * checkEnvironment, a Proxmox choice's settings (FARMHAND_PVE_*, the templates file) are read too,
 * connecting to nothing.
 */
export function driverChoiceOf(args: FarmArgs, options: { readonly checkEnvironment?: boolean } = {}): DriverChoice {
  const kind = args.driver ?? "local";
  if (kind !== "local" && kind !== "proxmox") throw new DriverChoiceError(`--driver: expected "local" or "proxmox" (got ${JSON.stringify(kind)})`);
  const choice: DriverChoice = { kind, ...(args.templates === undefined ? {} : { templates: args.templates }) };
  if (options.checkEnvironment === true && kind === "proxmox") proxmoxOptions(choice);
  return choice;
}

/** The driver a recorded farm is on (its record says which), or the one the command line names. */
export function driverFor(farm: string, args: FarmArgs, home = farmhandHome()): Driver {
  const recorded = readFarmRecord(farm, home)?.driver;
  const choice = args.driver !== undefined || recorded === undefined ? driverChoiceOf(args) : recorded;
  return chooseDriver(choice, home);
}

export function progress(line: string): void {
  process.stderr.write(`${new Date().toISOString()} [farmhand] ${line}\n`);
}

export function describeEvent(event: FarmEvent): string {
  const type = (event as { readonly type: string }).type;
  switch (event.type) {
    case "vm-started": return `started ${event.vm} (${event.role})`;
    case "vm-failed": return `FAILED ${event.vm} (${event.role}): ${event.reason}`;
    case "vm-stopped": return `removed ${event.vm}`;
    case "vm-healed": return `healed ${event.vm} (${event.how}), serving at ${event.address}`;
    case "vm-rewired": return `rewired ${event.vm} (${Object.entries(event.imports).map(([k, url]) => `${k} -> ${url}`).join(", ")}), serving at ${event.address}`;
    case "pool-changed": return `pool of ${event.pool}: ${event.backends.length} backend(s)`;
    case "control-error": return `ERROR ${event.action} ${event.subject}: ${event.reason} (tried again by itself)`;
    case "autoscale": {
      const demand = event.demand.map((d) => (d === null ? "?" : Number(d.toFixed(2)))).join(", ");
      const why = event.errors.length > 0 ? `; ${event.errors.join("; ")}` : "";
      return `autoscale ${event.group}: ${event.from} -> ${event.to} replicas (demand ${demand}, ${event.ratio === null ? "no ratio" : `${event.ratio.toFixed(2)}x capacity`}, ${event.rule})${why}`;
    }
  }
  // An event of a kind this build does not know (a newer controller's journal): its fields as they are.
  const { type: _, ...fields } = event as Record<string, unknown>;
  return `${type} ${JSON.stringify(fields)}`;
}

export function renderStatus(name: string, status: FarmStatus): string {
  const rows: string[][] = [["VM", "ROLE", "STATE", "ADDRESS", "PROVIDES"]];
  for (const vm of status.vms) {
    const provides = typeof vm.provides === "string" ? vm.provides : Object.entries(vm.provides).map(([k, id]) => `${k}=${id}`).join(" ");
    rows.push([vm.name, vm.role === "" ? "?" : vm.role, vm.state, vm.address ?? "-", provides]);
  }
  let out = `farm ${name}: ${status.vms.length} VM(s)\n${table(rows)}`;
  for (const b of status.balancers) {
    out += `\nbalancer ${b.name} (${b.contract})${b.admin === null ? "" : `, admin and metrics at ${b.admin}`}${b.error === null ? "" : `: ${b.error}`}\n`;
    const pool: string[][] = [["BACKEND", "POOL", "HEALTH", "ROUTABLE", "LIFECYCLE", "IN FLIGHT"]];
    for (const x of b.backends) pool.push([x.id, x.pool, x.healthy ? "up" : "down", x.routable ? "yes" : "no", x.lifecycle, String(x.inFlight)]);
    out += table(pool);
  }
  return out;
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n") + "\n";
}

/** One warning line per damaged VM: what the driver could not read, and why. Returns how many. */
export function warnDamaged(command: string, records: readonly VmRecord[]): number {
  const damaged = records.filter((r) => r.state === "damaged");
  for (const r of damaged) {
    const vm = r.spec.labels.vm === r.id ? r.id : `${r.spec.labels.vm} (${r.id})`;
    process.stderr.write(`farmhand ${command}: warning: VM ${vm} is damaged: ${r.problem ?? "its record cannot be read"}\n`);
  }
  return damaged.length;
}

/** Waits for Ctrl-C or SIGTERM, and says which. Signal listeners alone do not keep Node running, so a timer does. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    const done = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve(signal);
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
}
