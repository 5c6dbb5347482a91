// The farm commands as child processes, each test on a farmhand home of its own ($FARMHAND_HOME).

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { localDriver } from "../../control/drivers/local/index.ts";
import { findVmPids } from "../../control/drivers/local/proc.ts";
import { localStateDir } from "../../control/state/home.ts";
import { waitFor } from "./proxy.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = path.join(ROOT, "src/farmhand.mjs");
export const EXAMPLE = path.join(ROOT, "examples/order-processing/farm.ts");
export const EXAMPLE_VMS = ["inventory-1", "orders-1", "orders-2", "orders-balancer-1", "payments-1", "web-1"];

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function newHome(): string {
  return mkdtempSync(path.join(os.tmpdir(), "farmhand-home-"));
}

/** Runs a command to its end. */
export function farmhand(home: string, args: readonly string[], options: { timeoutMs?: number; cwd?: string; env?: Record<string, string> } = {}): Run {
  const run = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
    env: { ...process.env, FARMHAND_HOME: home, ...options.env },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** A command left running (up in the foreground, start), its output gathered as it comes. */
export class Running {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(home: string, args: readonly string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FARMHAND_HOME: home } });
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on("close", (code) => resolve(code)));
  }

  /** Waits until stderr matches (progress lines go there), or fails with what it printed. */
  async until(re: RegExp, timeoutMs = 120_000): Promise<void> {
    const ok = await waitFor(() => re.test(this.stderr) || this.child.exitCode !== null, timeoutMs, 50);
    if (!ok || !re.test(this.stderr)) throw new Error(`no ${re} (exit ${this.child.exitCode})\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
  }

  async stop(signal: NodeJS.Signals = "SIGINT"): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Deploys with `up` in the foreground and stops its controller: the farm runs on, unwatched. */
export async function upUnwatched(home: string, args: readonly string[]): Promise<Running> {
  const up = new Running(home, ["up", ...args]);
  await up.until(/Ctrl-C stops this controller/);
  await up.stop();
  return up;
}

/** The live processes of a farm's local VMs. */
export async function processesOf(home: string, farm: string): Promise<number[]> {
  const driver = localDriver({ stateDir: localStateDir(home) });
  const records = await driver.list({ farm });
  await driver.close();
  return records.flatMap((r) => findVmPids(r.id));
}

/** The farm's local VM ids, by name. */
export async function idsOf(home: string, farm: string): Promise<Record<string, string>> {
  const driver = localDriver({ stateDir: localStateDir(home) });
  const records = await driver.list({ farm });
  await driver.close();
  return Object.fromEntries(records.map((r) => [r.spec.labels.vm, r.id]));
}
