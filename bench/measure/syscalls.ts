// System calls a process tree makes, counted by the kernel's raw_syscalls:sys_enter tracepoint through
// `perf stat` (counting, not sampling: a counter bump per call). Used during the warm-up run only, so
// the timed run's CPU figures carry none of its cost. Unavailable (null) without perf or the
// permission to read the tracepoint.

import { spawn } from "node:child_process";
import { which } from "../lib/tools.ts";
import { processTree } from "./proc.ts";

const perf = which("perf");

export interface SyscallCount {
  readonly calls: number;
  readonly seconds: number;
}

/** Counts the tree's system calls for `seconds`; null when they cannot be counted here. */
export async function countSyscalls(root: number, seconds: number): Promise<SyscallCount | null> {
  if (perf === null || seconds <= 0) return null;
  // Every thread of every process of the tree (perf -p takes the threads that exist now).
  const pids = processTree(root).join(",");
  const started = performance.now();
  const out = await new Promise<string>((resolve) => {
    const child = spawn(perf, ["stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", pids, "--", "sleep", String(seconds)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let text = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => (text += d));
    child.on("error", () => resolve(""));
    child.on("close", () => resolve(text));
  });
  const elapsed = (performance.now() - started) / 1000;
  const m = /^(\d+),[^,]*,raw_syscalls:sys_enter/m.exec(out);
  if (m === null) return null;
  return { calls: Number(m[1]), seconds: Math.min(seconds, elapsed) };
}
