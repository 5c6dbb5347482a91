// Tasks (workers, in Proxmox's words): what a write call forks and answers with the UPID of. Each
// runs its work in the background, keeps a log, and ends with an exit status ("OK", "WARNINGS: n",
// or the error); armed task faults fail it, warn in it or slow it down here, whatever the work is.

import { paramError } from "../errors.ts";
import { extraTaskMs, takeTaskFault, type Faults } from "./faults.ts";
import type { ClusterTime } from "./time.ts";

export interface EmulatedTask {
  readonly upid: string;
  readonly node: string;
  readonly type: string;
  /** The VMID it is about (for a clone: the source's). */
  readonly id: string;
  readonly user: string;
  readonly pid: number;
  readonly pstart: number;
  readonly starttime: number;
  status: "running" | "stopped";
  exitstatus?: string;
  endtime?: number;
  readonly log: string[];
  readonly done: Promise<void>;
}

/** A task's work: returns its number of warnings (or nothing); throws for a failure, whose message is the exit status. */
export type TaskWork = (log: (line: string) => void) => Promise<number | void>;

const hex8 = (n: number) => Math.floor(n).toString(16).toUpperCase().padStart(8, "0");
const UPID = /^UPID:[^:]+:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:[^:]+:[^:]*:[^:]+:$/;

export class Tasks {
  readonly all = new Map<string, EmulatedTask>();
  readonly #pending = new Set<Promise<void>>();
  readonly #time: ClusterTime;
  readonly #faults: Faults;
  readonly #delayMs: number;
  #pid = 1000 + (process.pid % 50_000);
  readonly #pstart = Math.floor(process.uptime() * 100) + 1_000_000;

  constructor(time: ClusterTime, faults: Faults, delayMs: number) {
    this.#time = time;
    this.#faults = faults;
    this.#delayMs = delayMs;
  }

  /** Forks a task on `node`: returns its UPID at once; `onFail` undoes what the call did before forking. */
  start(node: string, type: string, id: string, user: string, work: TaskWork, onFail?: () => void): string {
    const pid = ++this.#pid;
    const starttime = Math.floor(this.#time.now() / 1000);
    const upid = `UPID:${node}:${hex8(pid)}:${hex8(this.#pstart)}:${hex8(starttime)}:${type}:${id}:${user}:`;
    const log: string[] = [];
    const failure = takeTaskFault(this.#faults.failTasks, type);
    const warning = failure === undefined ? takeTaskFault(this.#faults.warnTasks, type) : undefined;
    const extra = extraTaskMs(this.#faults, type);
    const task: EmulatedTask = { upid, node, type, id, user, pid, pstart: this.#pstart, starttime, status: "running", log, done: Promise.resolve() };
    const run = (async () => {
      let exit = "OK";
      try {
        if (failure !== undefined) {
          await this.#time.sleep(this.#delayMs + extra);
          throw new Error(failure.message ?? `${type} failed (injected fault)`);
        }
        let warnings = (await work((line) => log.push(line))) ?? 0;
        await this.#time.sleep(extra);
        if (warning !== undefined) {
          const n = warning.warnings ?? 1;
          for (let i = 0; i < n; i++) log.push("WARN: injected warning");
          warnings += n;
        }
        if (warnings > 0) exit = `WARNINGS: ${warnings}`;
      } catch (err) {
        exit = (err as Error).message.replace(/\n+$/, "");
        try {
          onFail?.();
        } catch {}
      }
      log.push(exit === "OK" ? "TASK OK" : exit.startsWith("WARNINGS") ? `TASK ${exit}` : `TASK ERROR: ${exit}`);
      task.exitstatus = exit;
      task.endtime = Math.floor(this.#time.now() / 1000);
      task.status = "stopped";
    })();
    (task as { done: Promise<void> }).done = run;
    this.#pending.add(run);
    void run.finally(() => this.#pending.delete(run));
    this.all.set(upid, task);
    return upid;
  }

  /** The task a UPID (as it appears in a path) names on `node`; a 400 as Proxmox gives otherwise. */
  find(node: string, upidText: string): EmulatedTask {
    const upid = decodeURIComponent(upidText);
    if (!UPID.test(upid)) throw paramError({ upid: "unable to parse worker upid" });
    const task = this.all.get(upid);
    if (task === undefined || task.node !== node) throw paramError({ upid: "no such task" });
    return task;
  }

  /** Resolves once every task running now, and every task those started, has ended. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Resolves once every task running now has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }
}
