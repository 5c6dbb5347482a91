// A guest's service as a real local process: its image's entry under Node, in a process group of its
// own (so everything it starts is signalled with it), its output kept as a bounded tail. It lives
// apart from its VM's power state: it can die or hang while the VM runs, as a service inside a real
// VM can.

import { spawn, type ChildProcess } from "node:child_process";
import type { ClusterTime } from "../cluster/time.ts";

export interface GuestLaunch {
  /** The file to run (an image's entry). */
  readonly entry: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Gets what the process prints, stdout and stderr alike. */
  readonly onOutput: (text: string) => void;
}

/** How long a SIGKILLed guest may take to be reaped before it counts as unkillable. */
const KILL_WAIT_MS = 5_000;

export class GuestProcess {
  readonly child: ChildProcess;
  /** Also its process group's id; -1 when it could not be spawned. */
  readonly pid: number;
  /** Whether it has ended (exited, was killed, or never started). */
  exited = false;
  readonly exit: Promise<void>;

  constructor(launch: GuestLaunch) {
    this.child = spawn(process.execPath, [launch.entry], { cwd: launch.cwd, env: launch.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.pid = this.child.pid ?? -1;
    const print = (d: Buffer) => launch.onOutput(d.toString("utf8"));
    this.child.stdout!.on("data", print);
    this.child.stderr!.on("data", print);
    let ended!: () => void;
    this.exit = new Promise<void>((resolve) => (ended = resolve));
    const onEnd = () => {
      if (this.exited) return;
      this.exited = true;
      this.signal("SIGKILL"); // whatever it left running in its group goes with it
      ended();
    };
    this.child.once("exit", onEnd);
    this.child.once("error", onEnd);
  }

  /** Signals the whole process group (SIGSTOP hangs it, SIGCONT resumes it). */
  signal(signal: NodeJS.Signals): void {
    if (this.pid <= 1) return;
    try {
      process.kill(-this.pid, signal);
    } catch {}
  }

  /**
   * Asks it to end (SIGTERM) and waits up to `graceMs`: whether it ended. A hung (stopped) process
   * keeps the signal pending and does not end, as a guest that ignores an ACPI powerdown.
   */
  async terminate(graceMs: number, time: ClusterTime): Promise<boolean> {
    if (this.exited) return true;
    this.signal("SIGTERM");
    await time.within(this.exit, graceMs);
    return this.exited;
  }

  /** Ends it at once (SIGKILL, which also ends a hung one): whether it ended. */
  async kill(time: ClusterTime): Promise<boolean> {
    if (this.exited) return true;
    this.signal("SIGKILL");
    await time.within(this.exit, KILL_WAIT_MS);
    return this.exited;
  }
}
