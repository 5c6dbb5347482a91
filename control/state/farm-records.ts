// The records a farm's folder holds (control/state/home.ts): which script and driver made the farm,
// and the controller that keeps it. Written whole or not at all (temp file, fsync, rename), 0600.

import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { farmDir, farmsDir, isFarmName, privateDir } from "./home.ts";
import { writePrivateFile } from "./private-file.ts";

/** How a farm's VMs are made: which driver, and for Proxmox the templates file (credentials stay in the environment). */
export interface DriverChoice {
  readonly kind: "local" | "proxmox";
  /** JSON file: image folder name -> template VMID or name (Proxmox). */
  readonly templates?: string;
}

export interface FarmRecord {
  readonly name: string;
  /** The farm script, as an absolute path. */
  readonly script: string;
  readonly driver: DriverChoice;
  readonly createdAt: string;
}

/** The controller of a farm, as it last said. */
export interface ControllerRecord {
  readonly pid: number;
  /** The process's start time in clock ticks since boot (/proc/PID/stat): tells it from a later process with its pid. */
  readonly startTicks: number;
  readonly startedAt: string;
  /** starting: running the script; running: reconciling; failed: the script failed; stopped: it ended. */
  readonly state: "starting" | "running" | "failed" | "stopped";
  /** What its deployment did ("created 7, adopted 0, ...") once it ran, or why it failed. */
  readonly summary: string | null;
  readonly updatedAt: string;
  /** Each autoscaled group as its last decision left it. */
  readonly autoscale?: readonly AutoscaleState[];
  /** Where autoscaling reads demand ("prometheus at http://127.0.0.1:9090", "the balancers' /metrics"). */
  readonly demandSource?: string;
}

export interface AutoscaleState {
  readonly group: string;
  readonly replicas: number;
  readonly ready: number;
  /** Demand per metric at the last decision (null: unread), and over capacity. */
  readonly demand: readonly (number | null)[];
  readonly ratio: number | null;
  /** The rule that settled the last decision ("demand", "stabilization", "metric-failure"...). */
  readonly rule: string;
  /** Why a metric could not be read, when one could not. */
  readonly errors: readonly string[];
  readonly at: string;
}

export const FARM_RECORD = "farm.json";
export const CONTROLLER_RECORD = "controller.json";
export const CONTROLLER_LOG = "controller.log";

export function writeFarmRecord(record: FarmRecord, home?: string): void {
  writeJson(path.join(privateDir(farmDir(record.name, home)), FARM_RECORD), record);
}

export function readFarmRecord(name: string, home?: string): FarmRecord | null {
  return readJson<FarmRecord>(path.join(farmDir(name, home), FARM_RECORD));
}

export function writeControllerRecord(farm: string, record: ControllerRecord, home?: string): void {
  writeJson(path.join(privateDir(farmDir(farm, home)), CONTROLLER_RECORD), record);
}

export function readControllerRecord(farm: string, home?: string): ControllerRecord | null {
  return readJson<ControllerRecord>(path.join(farmDir(farm, home), CONTROLLER_RECORD));
}

export function controllerLog(farm: string, home?: string): string {
  return path.join(farmDir(farm, home), CONTROLLER_LOG);
}

/** Farms that have a folder with a farm record, by name. */
export function recordedFarms(home?: string): string[] {
  const dir = farmsDir(home);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((name) => isFarmName(name) && existsSync(path.join(dir, name, FARM_RECORD))).sort();
}

/** Forgets a farm: its records, key and logs (after its VMs are gone). */
export function removeFarmFolder(name: string, home?: string): void {
  rmSync(farmDir(name, home), { recursive: true, force: true });
}

/** Whether a controller's process still runs: its pid is alive and started when the record says. */
export function controllerAlive(record: ControllerRecord | null): boolean {
  if (record === null || record.state === "stopped" || !Number.isInteger(record.pid) || record.pid <= 1) return false;
  return processStartTicks(record.pid) === record.startTicks;
}

/** Field 22 of /proc/PID/stat, or -1 when there is no such process. */
export function processStartTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ..." where comm may hold spaces: count fields after the last ")".
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  } catch {
    return -1;
  }
}

function writeJson(file: string, value: unknown): void {
  writePrivateFile(file, JSON.stringify(value, null, 2) + "\n");
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`${file}: cannot be read (${(error as Error).message}); remove it, or run farmhand down`);
  }
}
