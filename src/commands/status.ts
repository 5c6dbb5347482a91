// `farmhand status [SCRIPT | --farm NAME] [--json] [--watch [SECONDS]] [--events N]`, `farmhand ls` and
// `farmhand dashboard`: the farm as an operator wants to see it (control/ops/farm-view.ts): its
// controller and dashboard, each VM's state, health, process or VMID and node, uptime, address and
// traffic, each balancer's pools with request and error rates, in-flight requests and latency per
// backend, why VMs failed, the latest events, and where the logs are.

import { openFarm } from "../../control/farm/open-farm.ts";
import { dashboardLink, dashboardToken, readDashboardRecord } from "../../control/dashboard/link.ts";
import { FarmObserver, type FarmView, type VmView } from "../../control/ops/farm-view.ts";
import { farmDir, farmhandHome } from "../../control/state/home.ts";
import { controllerAlive, readControllerRecord, readFarmRecord, recordedFarms } from "../../control/state/farm-records.ts";
import { fileSecrets } from "../../control/state/secrets.ts";
import { describeEvent, driverFor, farmNameOf, table, untilSignal, warnDamaged, type FarmArgs } from "./farm-common.ts";

export interface StatusArgs extends FarmArgs {
  readonly json?: boolean;
  /** Show it again every this many seconds until Ctrl-C. */
  readonly watch?: number;
  /** How many of the latest events to show (10 unless given). */
  readonly events?: number;
}

/** Rates are measured between two looks this far apart when status looks once. */
const RATE_WINDOW_MS = 1_000;

/**
 * Prints the farm. A VM whose driver record is damaged shows as "damaged" and gets a warning line
 * on stderr; the exit status is then 1, so that scripts notice, and `farmhand down` (or the next
 * `up`) removes it.
 */
export async function runStatus(args: StatusArgs): Promise<number> {
  const home = farmhandHome();
  const name = farmNameOf(args, home);
  const driver = driverFor(name, args, home);
  const secrets = fileSecrets(name, farmDir(name, home));
  const farm = await openFarm(driver, { name, secrets, watch: false });
  try {
    const records = await driver.list({ farm: name });
    if (records.length === 0 && readFarmRecord(name, home) === null) {
      const farms = recordedFarms(home);
      process.stderr.write(`farmhand status: there is no farm ${name}${farms.length === 0 ? "" : ` (farms: ${farms.join(", ")})`}\n`);
      return 1;
    }
    const observer = new FarmObserver({ name, driver, status: () => farm.status(), secrets, home, events: args.events ?? 10 });
    const show = (view: FarmView) => process.stdout.write(args.json === true ? `${JSON.stringify(view, null, args.watch === undefined ? 2 : undefined)}\n` : renderView(view));
    // The first look only starts the balancers' counters: rates need a second one.
    await observer.view();
    if (args.watch === undefined) {
      await new Promise((r) => setTimeout(r, RATE_WINDOW_MS));
      show(await observer.view());
      return warnDamaged("status", records) > 0 ? 1 : 0;
    }
    let stopped = false;
    void untilSignal().then(() => (stopped = true));
    const clear = process.stdout.isTTY === true && args.json !== true;
    while (!stopped) {
      await new Promise((r) => setTimeout(r, args.watch! * 1000));
      if (stopped) break;
      const view = await observer.view();
      if (clear) process.stdout.write("\x1b[2J\x1b[H");
      show(view);
      if (!clear && args.json !== true) process.stdout.write("\n");
    }
    return 0;
  } finally {
    farm.close();
    await driver.close();
  }
}

/** The operations view as text. */
export function renderView(view: FarmView): string {
  const lines: string[] = [];
  const healthy = view.vms.filter((v) => v.health === "healthy").length;
  lines.push(`farm ${view.farm} (${view.driver} driver): ${view.vms.length} VM${view.vms.length === 1 ? "" : "s"}, ${healthy} healthy; at ${view.at}`);
  const c = view.controller;
  const ago = c?.startedAt === null || c?.startedAt === undefined ? "" : `, up ${duration((Date.parse(view.at) - Date.parse(c.startedAt)) / 1000)}`;
  lines.push(`controller: ${c?.running === true ? `running (pid ${c.pid}${ago})` : "not running (farmhand up resumes healing)"}${c?.summary ? `; ${c.summary}` : ""}`);
  if (view.dashboard !== null) lines.push(`dashboard:  ${view.dashboard}  (farmhand dashboard prints the link that opens it)`);
  if (c !== null && c.demandSource !== null) lines.push(`demand:     ${c.demandSource}  (for autoscaling)`);
  if (view.script !== null) lines.push(`script:     ${view.script}`);

  const proxmox = view.vms.some((v) => v.node !== null);
  const header = ["VM", "ROLE", "STATE", "HEALTH", ...(proxmox ? ["VMID", "NODE"] : ["PID"]), "UPTIME", "ADDRESS", "REQ/S", "ERR/S", "IN FLIGHT", "PROVIDES"];
  const rows = [header];
  for (const vm of view.vms) {
    rows.push([
      vm.name,
      vm.role === "" ? "?" : vm.role,
      vm.state,
      vm.health,
      ...(proxmox ? [vm.id, vm.node ?? "-"] : [vm.pid === null ? "-" : String(vm.pid)]),
      vm.uptimeSeconds === null ? "-" : duration(vm.uptimeSeconds),
      vm.address ?? "-",
      rate(vm.traffic?.requestsPerSecond),
      rate(vm.traffic?.errorsPerSecond),
      vm.traffic === null ? "-" : String(vm.traffic.inFlight),
      typeof vm.provides === "string" ? (vm.state === "running" ? "?" : "-") : Object.entries(vm.provides).map(([k, id]) => `${k}=${id}`).join(" "),
    ]);
  }
  lines.push("", table(rows).trimEnd());

  for (const b of view.balancers) {
    lines.push("", `balancer ${b.name} (${b.contract})${b.error === null ? "" : `: ${b.error}`}`);
    if (b.admin !== null) lines.push(`  admin API: ${b.admin}   metrics: ${b.metrics}   (bearer token: derived from the farm's key; the controller and farmhand status use it)`);
    for (const p of b.pools) {
      const t = p.traffic;
      lines.push(`  pool ${p.name}: ${p.members} member${p.members === 1 ? "" : "s"}` +
        (t === null ? "" : `, ${rate(t.requestsPerSecond)} req/s, ${rate(t.errorsPerSecond)} 5xx/s, ${rate(t.noBackendPerSecond)} no-backend/s, ${t.inFlight} in flight` +
          (t.latency === null ? "" : `, p50 ${ms(t.latency.p50Ms)} ms, p95 ${ms(t.latency.p95Ms)} ms`)));
      const pool = [["BACKEND", "VM", "HEALTH", "ROUTABLE", "LIFECYCLE", "REQ/S", "ERR/S", "IN FLIGHT", "P50 MS", "P95 MS"]];
      for (const x of p.backends) {
        pool.push([
          x.id, x.vm ?? "-", x.healthy ? "up" : "down", x.routable ? "yes" : "no", x.lifecycle,
          rate(x.traffic?.requestsPerSecond), rate(x.traffic?.errorsPerSecond), String(x.inFlight),
          x.traffic?.latency == null ? "-" : ms(x.traffic.latency.p50Ms), x.traffic?.latency == null ? "-" : ms(x.traffic.latency.p95Ms),
        ]);
      }
      lines.push(table(pool).trimEnd().split("\n").map((l) => `  ${l}`).join("\n"));
    }
  }

  if (c !== null && c.autoscale.length > 0) {
    lines.push("", "autoscaled groups (each one's last decision):");
    const groups = [["GROUP", "REPLICAS", "READY", "DEMAND", "OF CAPACITY", "SETTLED BY", "AT"]];
    for (const g of c.autoscale) {
      const demand = g.demand.map((d) => (d === null ? "?" : rate(d))).join(", ");
      groups.push([g.group, String(g.replicas), String(g.ready), demand, g.ratio === null ? "-" : `${Math.round(g.ratio * 100)} %`, g.rule, g.at.slice(11, 19)]);
    }
    lines.push(table(groups).trimEnd().split("\n").map((l) => `  ${l}`).join("\n"));
    for (const g of c.autoscale) if (g.errors.length > 0) lines.push(`  ${g.group}: demand not read: ${g.errors.join("; ")}`);
  }

  const troubled = view.vms.filter((v) => v.reason !== null && v.health !== "healthy");
  if (troubled.length > 0) {
    lines.push("", "why:");
    for (const vm of troubled) lines.push(`  ${vm.name}: ${vm.reason}`);
  }
  if (view.events.length > 0) {
    lines.push("", "recent events:");
    for (const e of view.events) lines.push(`  ${e.at}  ${describeEvent(e.event)}`);
  }
  lines.push("", logsHint(view.vms));
  return `${lines.join("\n")}\n`;
}

function logsHint(vms: readonly VmView[]): string {
  const files = vms.map((v) => v.log).filter((f): f is string => f !== null);
  const where = files.length === 0 ? "" : ` (VM logs under ${commonDir(files)})`;
  return `logs: farmhand logs [VM] [-f] shows the controller's log or a VM's output${where}`;
}

function commonDir(files: readonly string[]): string {
  const parts = files.map((f) => f.split("/").slice(0, -1));
  const common: string[] = [];
  for (let i = 0; parts.every((p) => i < p.length && p[i] === parts[0][i]); i++) common.push(parts[0][i]);
  return common.join("/") || "/";
}

function rate(value: number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  return value === 0 ? "0" : value < 10 ? value.toFixed(1) : String(Math.round(value));
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(1) : String(Math.round(value));
}

/** "45s", "3m 05s", "2h 03m", "4d 02h". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** Every recorded farm: its driver, its VMs, its controller, its script. */
export async function runLs(_args: FarmArgs): Promise<number> {
  const home = farmhandHome();
  const farms = recordedFarms(home);
  if (farms.length === 0) {
    process.stdout.write(`no farms in ${home}\n`);
    return 0;
  }
  const rows: string[][] = [["FARM", "DRIVER", "VMS", "CONTROLLER", "SCRIPT"]];
  for (const name of farms) {
    const record = readFarmRecord(name, home)!;
    const controller = readControllerRecord(name, home);
    let vms = "?";
    const driver = driverFor(name, {}, home);
    try {
      const records = await driver.list({ farm: name });
      vms = `${records.filter((r) => r.state === "running").length}/${records.length} running`;
    } catch (error) {
      vms = `? (${(error as Error).message})`;
    } finally {
      await driver.close();
    }
    rows.push([name, record.driver.kind, vms, controllerAlive(controller) ? `running (pid ${controller!.pid})` : "not running", record.script]);
  }
  process.stdout.write(table(rows));
  return 0;
}

/** `farmhand dashboard`: the link that opens the farm's dashboard, while its controller runs. */
export async function runDashboardLink(args: Pick<FarmArgs, "farm" | "script">): Promise<number> {
  const home = farmhandHome();
  const name = farmNameOf(args, home);
  const record = readDashboardRecord(name, home);
  if (record === null) {
    process.stderr.write(`farmhand dashboard: farm ${name} has no controller serving a dashboard; farmhand up SCRIPT (or up --detach) starts one\n`);
    return 1;
  }
  process.stdout.write(`${dashboardLink(record.url, dashboardToken(fileSecrets(name, farmDir(name, home))))}\n`);
  return 0;
}

/**
 * `farmhand token [VM] [--metrics]`: the dashboard's token, a balancer's admin token (for a script),
 * or the farm's read-only metrics token (for a scraper). Derived from the farm's key, as the
 * controller derives them; printed, never stored.
 */
export async function runToken(args: Pick<FarmArgs, "farm"> & { readonly vm?: string; readonly metrics?: boolean }): Promise<number> {
  const home = farmhandHome();
  const name = farmNameOf(args, home);
  if (readFarmRecord(name, home) === null) {
    process.stderr.write(`farmhand token: there is no farm ${name}\n`);
    return 1;
  }
  const secrets = fileSecrets(name, farmDir(name, home));
  if (args.metrics === true && args.vm !== undefined) {
    process.stderr.write("farmhand token: --metrics is the farm's one metrics token; name no VM with it\n");
    return 2;
  }
  const token = args.metrics === true ? secrets.metricsToken() : args.vm === undefined ? dashboardToken(secrets) : secrets.adminToken(args.vm);
  process.stdout.write(`${token}\n`);
  return 0;
}
