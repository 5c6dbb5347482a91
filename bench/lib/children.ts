// Every process the bench starts goes through here, so that one place can stop them all: at the end,
// on Ctrl-C, and when a step throws. Each child leads its own process group (detached), because
// nginx and the cluster-mode undici proxy fork workers that must die with their parent, and a
// group kill reaches them even when the leader is already gone.

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StartOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Raise the open-file limit before exec'ing the command (through `sh -c ulimit`). */
  readonly nofile?: number;
  /** Keep stdin as a pipe (the idle clients take commands on it). */
  readonly stdin?: boolean;
}

const TAIL_LINES = 40;

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | null = null;
  /** Whole stdout, only for short-lived tools whose report we parse. */
  stdoutText = "";
  private readonly keepStdout: boolean;
  private readonly tail: string[] = [];
  private readonly lineWaiters = new Set<{ re: RegExp; resolve: (line: string) => void }>();
  private readonly lineListeners = new Set<(line: string) => void>();

  constructor(name: string, proc: ChildProcess, keepStdout: boolean) {
    this.name = name;
    this.proc = proc;
    if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.pid = proc.pid;
    this.keepStdout = keepStdout;
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    this.attach(proc.stdout, "");
    this.attach(proc.stderr, "[stderr] ");
  }

  private attach(stream: NodeJS.ReadableStream | null, prefix: string): void {
    if (stream === null) return;
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      if (this.keepStdout && prefix === "") this.stdoutText += chunk;
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) this.onLine(prefix + line);
    });
    stream.on("end", () => {
      if (partial !== "") this.onLine(prefix + partial);
    });
  }

  private onLine(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    for (const l of this.lineListeners) l(line);
    for (const w of this.lineWaiters) {
      if (w.re.test(line)) {
        this.lineWaiters.delete(w);
        w.resolve(line);
      }
    }
  }

  onEachLine(listener: (line: string) => void): void {
    this.lineListeners.add(listener);
  }

  /** Recent output, for error messages that show why a child did not come up. */
  recentOutput(): string {
    return this.tail.join("\n");
  }

  /** Resolves with the first later output line matching `re`; rejects on timeout or exit. */
  waitForLine(re: RegExp, timeoutMs: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const waiter = {
        re,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.lineWaiters.delete(waiter);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.recentOutput()}`));
      }, timeoutMs);
      this.lineWaiters.add(waiter);
      void this.exited.then((e) => {
        if (!this.lineWaiters.has(waiter)) return;
        this.lineWaiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${this.name}: exited (${describeExit(e)}) before ${what}\n${this.recentOutput()}`));
      });
    });
  }

  /** Signals the whole process group; ESRCH (already gone) is not an error. */
  signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // The group is empty: nothing left to stop.
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how the leader ended. */
  async stop(graceMs = 5000): Promise<ExitInfo> {
    if (this.exit === null) this.signalGroup("SIGTERM");
    const timer = setTimeout(() => this.signalGroup("SIGKILL"), graceMs);
    const e = await this.exited;
    clearTimeout(timer);
    // Forked workers (nginx, cluster) can outlive a leader that died abruptly.
    this.signalGroup("SIGKILL");
    live.delete(this);
    return e;
  }
}

export function describeExit(e: ExitInfo): string {
  return e.signal !== null ? `signal ${e.signal}` : `code ${e.code}`;
}

const live = new Set<Child>();

export function start(name: string, command: string, args: readonly string[], opts: StartOptions = {}, keepStdout = false): Child {
  let cmd = command;
  let argv = [...args];
  if (opts.nofile !== undefined) {
    // Soft limit up to the wanted value; if the hard limit forbids it, as high as it allows.
    const script = `ulimit -n ${opts.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
    argv = ["-c", script, "sh", command, ...args];
    cmd = "/bin/sh";
  }
  const proc = spawn(cmd, argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: [opts.stdin === true ? "pipe" : "ignore", "pipe", "pipe"],
  });
  const child = new Child(name, proc, keepStdout);
  live.add(child);
  return child;
}

/** Stops every child still registered, in parallel. */
export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(graceMs)));
}

/** Last resort when the bench itself is exiting: no waiting is possible here. */
function killAllNow(): void {
  for (const c of live) c.signalGroup("SIGKILL");
}

const cleanups: (() => void)[] = [];
/** Synchronous work (removing temp dirs) to do however the bench ends. */
export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
}
function runCleanups(): void {
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // Best effort: the bench is ending either way.
    }
  }
}

let installed = false;
/** Ctrl-C and fatal errors stop the children before the bench exits. */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping ${live.size} child process(es)...\n`);
    void stopAll(2000).finally(() => {
      runCleanups();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("SIGHUP", onSignal);
  process.on("exit", () => {
    killAllNow();
    runCleanups();
  });
}
