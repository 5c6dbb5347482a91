// Process liveness through /proc (Linux): a recorded pid counts as the VM only while a live
// (non-zombie) process in its group still carries the VM's identity in its environment, so a
// reused pid is never mistaken for the VM.

import { readdirSync, readFileSync } from "node:fs";

interface ProcStat {
  readonly state: string;
  readonly pgrp: number;
}

function readStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: rest[0], pgrp: Number(rest[2]) };
  } catch {
    return null;
  }
}

function isLiveState(s: ProcStat | null): s is ProcStat {
  return s !== null && s.state !== "Z" && s.state !== "X" && s.state !== "x";
}

/** The process's initial environment as entries ("K=V"), or null if it is gone or unreadable. */
export function readEnviron(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
  } catch {
    return null;
  }
}

function allPids(): number[] {
  try {
    return readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
}

/** Live (non-zombie) processes of a process group. */
export function groupMembers(pgid: number): number[] {
  return allPids().filter((pid) => {
    const s = readStat(pid);
    return isLiveState(s) && s.pgrp === pgid;
  });
}

export function vmMarker(id: string): string {
  return `FARMHAND_VM_ID=${id}`;
}

/** The process carrying the VM: alive, not a zombie, and its environment names the VM. */
export function isVmProcess(pid: number, id: string, vmName: string): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  if (!isLiveState(readStat(pid))) return false;
  const env = readEnviron(pid);
  return env !== null && env.includes(vmMarker(id)) && env.includes(`FARMHAND_VM=${vmName}`);
}

/** Whether any live process of the VM's group (pgid = the VM's pid) still carries the VM's identity. */
export function vmGroupAlive(pgid: number, id: string): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  const marker = vmMarker(id);
  return groupMembers(pgid).some((pid) => readEnviron(pid)?.includes(marker) ?? false);
}

/** Live processes whose environment names the VM (for a VM whose pid was never recorded). */
export function findVmPids(id: string): number[] {
  const marker = vmMarker(id);
  return allPids().filter((pid) => isLiveState(readStat(pid)) && (readEnviron(pid)?.includes(marker) ?? false));
}

/**
 * The process groups a VM's processes run in (the VM's own, led by its first process; more if it
 * made groups of its own), found by the identity they carry: how a VM whose recorded pid is lost,
 * or whose leader is gone, is still ended as a whole.
 */
export function vmGroups(id: string): number[] {
  const groups = new Set<number>();
  for (const pid of findVmPids(id)) {
    const s = readStat(pid);
    if (isLiveState(s) && s.pgrp > 1) groups.add(s.pgrp);
  }
  return [...groups];
}

/** Who a live process of the VM says it is: the labels and address it was started with. */
export interface VmProcessIdentity {
  readonly pid: number;
  readonly farm: string;
  readonly role: string;
  readonly vm: string;
  /** FARMHAND_LISTEN: host:port. */
  readonly listen: string;
}

/** The identity of the VM's first live process (its environment is the record's spec at its start), or null when none runs. */
export function vmIdentity(id: string): VmProcessIdentity | null {
  for (const pid of findVmPids(id)) {
    const env = readEnviron(pid);
    if (env === null) continue;
    // The environment is read as latin1 (byte for byte); Node wrote its values as UTF-8.
    const get = (key: string) => Buffer.from(env.find((e) => e.startsWith(`${key}=`))?.slice(key.length + 1) ?? "", "latin1").toString("utf8");
    const farm = get("FARMHAND_FARM");
    const vm = get("FARMHAND_VM");
    if (farm === "" || vm === "") continue;
    return { pid, farm, role: get("FARMHAND_ROLE"), vm, listen: get("FARMHAND_LISTEN") };
  }
  return null;
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  try {
    process.kill(-pgid, signal);
  } catch {}
}

/** When a process started (ms since the epoch), from /proc/PID/stat and the boot time, or null. */
export function processStartedAt(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22, counted after the last ")" (comm may hold spaces), in clock ticks since boot.
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const boot = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    // USER_HZ is 100 on every Linux that Node runs on (sysconf(_SC_CLK_TCK) is not reachable from Node).
    return Number.isFinite(ticks) && Number.isFinite(boot) ? boot * 1000 + ticks * 10 : null;
  } catch {
    return null;
  }
}
