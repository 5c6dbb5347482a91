// `farmhand up SCRIPT [--detach]`, `farmhand start SCRIPT [--tour]` and the controller behind them.
//
// A farm has one controller: the process that ran its script and keeps reconciling (heals failed
// VMs, follows moved ones, puts drifted pools right). `up` runs it in the foreground until Ctrl-C,
// which stops the controller and leaves the farm running; `up --detach` leaves it running in the
// background (its log in the farm's folder); `start` is `up` that removes the farm on Ctrl-C. A new
// `up` of a farm first stops the controller it had.

import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ScriptFailedError } from "../../control/errors.ts";
import { deploy, describeSummary, type Deployment } from "../../control/farm/deploy.ts";
import type { FarmEvent } from "../../control/farm/farm.ts";
import { farmDir, farmhandHome, privateDir } from "../../control/state/home.ts";
import {
  controllerAlive,
  controllerLog,
  processStartTicks,
  readControllerRecord,
  readFarmRecord,
  removeFarmFolder,
  writeControllerRecord,
  writeFarmRecord,
  type AutoscaleState,
  type ControllerRecord,
} from "../../control/state/farm-records.ts";
import { chooseDemandSource } from "../../control/metrics/choose.ts";
import { fileSecrets } from "../../control/state/secrets.ts";
import { announceDashboard, startDashboard } from "../../control/dashboard/index.ts";
import { hostPortOfUrl } from "../../native-free-core/net/address.ts";
import { runCheck } from "./check.ts";
import { chooseDriver } from "./drivers.ts";
import { describeEvent, driverChoiceOf, farmNameOf, progress, renderStatus, untilSignal, type FarmArgs } from "./farm-common.ts";

const CLI = fileURLToPath(new URL("../farmhand.mjs", import.meta.url));
/** How long a detached controller may take to run the script before `up --detach` gives up waiting. */
const DETACHED_READY_MS = 10 * 60_000;
/** How long a controller that is asked to stop may take before it is killed. */
const STOP_GRACE_MS = 15_000;

export interface UpArgs extends FarmArgs {
  readonly script: string;
  readonly detach?: boolean;
}

export async function runUp(args: UpArgs): Promise<number> {
  const home = farmhandHome();
  const name = farmNameOf(args, home);
  const choice = driverChoiceOf(args);
  if ((await runCheck(args.script, { farm: name })) !== 0) return 1;
  writeFarmRecord({
    name,
    script: path.resolve(args.script),
    driver: choice.templates === undefined ? choice : { ...choice, templates: path.resolve(choice.templates) },
    createdAt: readFarmRecord(name, home)?.createdAt ?? new Date().toISOString(),
  }, home);
  await stopController(name, home);
  if (args.detach === true) return detach(name, home);
  return control(name, home, { removeOnExit: false });
}

/** `npm start`: up in the foreground, the front URL and status, serve until Ctrl-C, then remove every VM. */
export async function runStart(args: UpArgs & { readonly tour?: boolean }): Promise<number> {
  const home = farmhandHome();
  const name = farmNameOf(args, home);
  const choice = driverChoiceOf(args);
  // The tour kills a VM's process itself, which only the local driver lets it reach.
  if (args.tour === true && choice.kind !== "local") throw new Error("--tour runs on the local driver only");
  if ((await runCheck(args.script, { farm: name })) !== 0) return 1;
  writeFarmRecord({ name, script: path.resolve(args.script), driver: choice, createdAt: new Date().toISOString() }, home);
  await stopController(name, home);
  return control(name, home, { removeOnExit: true, tour: args.tour === true });
}

/** The detached controller's own entry (`farmhand controller --farm NAME`, started by `up --detach`). */
export async function runController(farm: string): Promise<number> {
  return control(farm, farmhandHome(), { removeOnExit: false });
}

/**
 * Runs the farm's controller in this process: the script, then reconciliation until SIGINT or
 * SIGTERM. Its record in the farm's folder says how it is doing, for `status`, `down` and `up --detach`.
 */
async function control(name: string, home: string, options: { readonly removeOnExit: boolean; readonly tour?: boolean }): Promise<number> {
  const record = readFarmRecord(name, home);
  if (record === null) throw new Error(`farm ${name}: no record in ${farmDir(name, home)} (farmhand up SCRIPT makes one)`);
  const startedAt = new Date().toISOString();
  // Each autoscaled group's last decision, for `status` (written with the record, at most every 2 s).
  const groups = new Map<string, AutoscaleState>();
  let current: { state: ControllerRecord["state"]; summary: string | null } = { state: "starting", summary: null };
  let writtenAt = 0;
  let demandSource: string | undefined;
  const say = (state: ControllerRecord["state"], summary: string | null) => {
    current = { state, summary };
    writtenAt = Date.now();
    writeControllerRecord(name, {
      pid: process.pid, startTicks: processStartTicks(process.pid), startedAt, state, summary, updatedAt: new Date().toISOString(),
      ...(groups.size === 0 ? {} : { autoscale: [...groups.values()] }),
      ...(demandSource === undefined ? {} : { demandSource }),
    }, home);
  };
  const noteAutoscale = (event: FarmEvent) => {
    if (event.type !== "autoscale") return;
    groups.set(event.group, {
      group: event.group, replicas: event.to, ready: event.ready, demand: event.demand, ratio: event.ratio,
      rule: event.rule, errors: event.errors, at: new Date().toISOString(),
    });
    if (Date.now() - writtenAt >= 2000 || event.to !== event.from) say(current.state, current.summary);
  };
  say("starting", null);
  const driver = chooseDriver(record.driver, home);
  // Only the tour reads the farm's events back, and it runs for a minute or two before the farm is
  // removed: a controller without it keeps none (autoscaling alone makes one a second per group), so
  // one that runs for months holds no more than one that just started.
  const tourEvents: FarmEvent[] | null = options.tour === true ? [] : null;
  // farmhand dashboard (control/dashboard/, the CLI helper's): its link comes first; it journals every event.
  const dashboard = await startDashboard({ name, home, driver, describe: describeEvent });
  process.stdout.write(`${announceDashboard(dashboard, name)}\n`);
  const secrets = fileSecrets(name, farmDir(name, home));
  // Demand for autoscaling: a Prometheus server (the user's, or the farm's own when the package is
  // installed), kept scraping exactly the farm's balancers and VMs; or the balancers' /metrics directly.
  const demand = await chooseDemandSource(name, farmDir(name, home), driver, secrets, { controller: dashboard.url === null ? null : hostPortOfUrl(dashboard.url) });
  demandSource = `${demand.source.name}${demand.prometheus !== null ? " (the farm's own)" : ""}`;
  progress(`demand for autoscaling: ${demandSource}${demand.targetsFile === null ? "" : ` (scrape targets: ${demand.targetsFile})`}`);
  progress(`deploying farm ${name} from ${record.script} on the ${driver.name} driver`);
  let deployment: Deployment;
  try {
    deployment = await deploy(record.script, driver, {
      name,
      secrets,
      metrics: demand.source,
      onEvent: (event) => {
        tourEvents?.push(event);
        noteAutoscale(event);
        dashboard.event(event); // dashboard
        if (worthLogging(event)) progress(describeEvent(event));
        if (movesTargets(event)) demand.refreshTargets().catch((error: unknown) => progress(`scrape targets not written: ${(error as Error).message}`));
      },
    });
  } catch (error) {
    const why = error instanceof ScriptFailedError ? `${error.message}; what it made was removed` : (error as Error).message;
    process.stderr.write(`farmhand: ${why}\n`);
    say("failed", why);
    await dashboard.close(); // dashboard
    await demand.close();
    await driver.close();
    return 1;
  }
  await demand.refreshTargets();
  const { farm, result, summary } = deployment;
  dashboard.attach(farm, result); // dashboard
  process.stdout.write(renderStatus(name, await farm.status()));
  for (const [label, e] of Object.entries(result ?? {})) process.stdout.write(`${label}: ${e.url}  (${e.contract.id})\n`);
  const line = `farm ${name}: ${describeSummary(summary)}`;
  process.stdout.write(`up: ${line}\n`);
  say("running", line);
  farm.watch();
  let code = 0;
  try {
    if (tourEvents !== null) {
      const { runTour } = await import("./tour.ts");
      code = await runTour({ name, driver, farm, result, events: tourEvents });
    } else {
      progress(options.removeOnExit
        ? "serving; Ctrl-C removes the farm"
        : "reconciling (healing, following, keeping pools right); Ctrl-C stops this controller and leaves the farm running");
      const signal = await untilSignal();
      progress(`${signal}: stopping the controller`);
    }
  } finally {
    farm.close();
    await demand.close();
    await dashboard.close(); // dashboard
    say("stopped", line);
    if (options.removeOnExit) {
      progress("removing every VM of the farm");
      const removed = await farm.teardown().then(() => true, (error: unknown) => {
        process.stderr.write(`farmhand: ${(error as Error).message}\n`);
        return false;
      });
      // Nothing is left of a farm that start made and removed, unless something could not be removed.
      if (removed) removeFarmFolder(name, home);
      else code = 1;
    } else {
      progress(`the farm keeps running; farmhand up ${path.relative(process.cwd(), record.script) || record.script} resumes reconciling, farmhand down removes it`);
    }
    await driver.close();
  }
  return code;
}

/**
 * Whether `event` starts, stops or moves a VM: the scrape targets list the running ones. A failure
 * alone rewrites nothing, so a VM whose scrapes fail shows as down until it is healed or removed.
 */
function movesTargets(event: FarmEvent): boolean {
  return event.type === "vm-started" || event.type === "vm-healed" || event.type === "vm-stopped" || event.type === "vm-rewired";
}

/** Why each autoscaled group last could not read its demand ("" when it could). */
const metricTrouble = new Map<string, string>();

/** Every event but the autoscaler's steady evaluations: those are logged when they change something, or start or stop failing. */
function worthLogging(event: FarmEvent): boolean {
  if (event.type !== "autoscale") return true;
  const trouble = event.errors.join("; ");
  const changed = trouble !== (metricTrouble.get(event.group) ?? "");
  metricTrouble.set(event.group, trouble);
  return event.to !== event.from || changed;
}

/** Starts the controller in the background and waits until it has run the script (or failed to). */
async function detach(name: string, home: string): Promise<number> {
  const log = controllerLog(name, home);
  privateDir(path.dirname(log));
  const fd = openSync(log, "a", 0o600);
  const child = spawn(process.execPath, [CLI, "controller", "--farm", name], {
    detached: true,
    stdio: ["ignore", fd, fd],
    env: { ...process.env, FARMHAND_HOME: home },
  });
  closeSync(fd);
  child.unref();
  progress(`controller of farm ${name} started in the background (pid ${child.pid}); its log: ${log}`);
  const deadline = Date.now() + DETACHED_READY_MS;
  for (;;) {
    const record = readControllerRecord(name, home);
    if (record !== null && record.pid === child.pid && (record.state === "running" || record.state === "failed")) {
      process.stdout.write(`up: ${record.summary ?? record.state}\n`);
      if (record.state === "failed") return 1;
      progress("farmhand status shows the farm, farmhand logs what its controller does, farmhand down removes it");
      return 0;
    }
    if (child.exitCode !== null || child.signalCode !== null || (record !== null && record.pid === child.pid && record.state === "stopped")) {
      process.stderr.write(`farmhand up: the controller ended before it was ready; see ${log}\n`);
      return 1;
    }
    if (Date.now() > deadline) {
      process.stderr.write(`farmhand up: the controller is still not ready after ${DETACHED_READY_MS / 1000} s; see ${log}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops the farm's controller, if one runs: SIGTERM, then SIGKILL after a grace period. Returns whether one ran. */
export async function stopController(name: string, home: string): Promise<boolean> {
  const record = readControllerRecord(name, home);
  if (!controllerAlive(record)) return false;
  if (record === null) return false;
  progress(`stopping the controller of farm ${name} (pid ${record.pid})`);
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(record.pid, sig);
    } catch {}
  };
  signal("SIGTERM");
  const deadline = Date.now() + STOP_GRACE_MS;
  while (processStartTicks(record.pid) === record.startTicks) {
    if (Date.now() > deadline) {
      signal("SIGKILL");
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
