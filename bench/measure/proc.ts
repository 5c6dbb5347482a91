// Cost and memory of a target, read from /proc. /proc/PID/stat already sums every thread of the
// process, including threads that have exited, which /proc/PID/task/*/stat would miss. Multi-process
// peers (nginx master + workers, the cluster-mode undici proxy) are measured as the whole tree.

import { readFileSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";

let tck: number | null = null;
/** Clock ticks per second, the unit of utime/stime. */
export function clockTicks(): number {
  if (tck === null) {
    const out = execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim();
    const n = Number(out);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`getconf CLK_TCK gave ${JSON.stringify(out)}`);
    tck = n;
  }
  return tck;
}

/** Fields after the command name, which may itself hold spaces and parentheses. */
function statFields(pid: number): string[] | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** `root` and all its descendants that are alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f === null) continue;
    const ppid = Number(f[1]);
    const list = children.get(ppid);
    if (list === undefined) children.set(ppid, [Number(entry)]);
    else list.push(Number(entry));
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

/** utime + stime of the tree in seconds. */
export function cpuSeconds(root: number): number {
  const t = cpuTimes(root);
  return t.user + t.system;
}

/** utime and stime of the tree in seconds, apart: user space (the program) and the kernel (its syscalls). */
export function cpuTimes(root: number): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const pid of processTree(root)) {
    const f = statFields(pid);
    if (f === null) continue;
    // stat fields 14 and 15; f[0] is field 3.
    user += Number(f[11]);
    system += Number(f[12]);
  }
  return { user: user / clockTicks(), system: system / clockTicks() };
}

function statusKb(pid: number, key: string): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return 0;
  }
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** Peak resident set of the tree in bytes (sum of each process's own peak). */
export function peakRssBytes(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + statusKb(pid, "VmHWM"), 0) * 1024;
}

/** Current resident set of the tree in bytes. */
export function rssBytes(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + statusKb(pid, "VmRSS"), 0) * 1024;
}

/**
 * The file-backed part of the tree's resident set (mostly the executable's own pages, shared with
 * every process that runs it): it varies with how much of the executable the page cache holds, not
 * with what the process does.
 */
export function rssFileBytes(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + statusKb(pid, "RssFile"), 0) * 1024;
}

export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

function nofileLimits(pid: number): { soft: number; hard: number } | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    if (m === null) return null;
    const n = (x: string) => (x === "unlimited" ? Infinity : Number(x));
    return { soft: n(m[1]), hard: n(m[2]) };
  } catch {
    return null;
  }
}

/** The soft open-file limit a process actually got. */
export function nofileLimit(pid: number): number | null {
  return nofileLimits(pid)?.soft ?? null;
}

/** The hard open-file limit of a process: the most an unprivileged raise can reach. */
export function nofileHardLimit(pid: number): number | null {
  return nofileLimits(pid)?.hard ?? null;
}

/**
 * The machine's CPU time so far, in ticks, from /proc/stat: all of it, and what the hypervisor
 * gave to other guests while this one had work (steal). Null where /proc/stat has no steal field.
 */
export function machineTicks(): { steal: number; total: number } | null {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
    if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return null;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user and nice]
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return { steal: fields[7], total };
  } catch {
    return null;
  }
}
