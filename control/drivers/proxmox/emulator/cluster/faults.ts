// Faults a test arms on the emulated cluster, and how each is consumed: counted ones ("the next n
// tasks of this type fail") are used up one by one, standing ones (an offline node) hold until
// the test removes them.

export interface TaskFault {
  /** Task type ("qmclone", "qmstart", "qmstop", "qmshutdown", "qmreset", "qmdestroy", "qmconfig") or "*". */
  type: string;
  count: number;
}

/** Mutable: tests change it between requests. */
export interface Faults {
  /** The next `count` tasks of `type` end with exitstatus `message` (and do nothing). */
  failTasks: (TaskFault & { message?: string })[];
  /** The next `count` tasks of `type` succeed but end with "WARNINGS: n". */
  warnTasks: (TaskFault & { warnings?: number })[];
  /**
   * The next `count` operations that lock VM `vmid`'s config fail with "can't lock file
   * '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout": at once (500) for those that lock
   * before forking (config updates, clone), in the task for the others (start, stop, shutdown,
   * reset, delete).
   */
  lockTimeouts: { vmid: number; count: number }[];
  /** The next `count` requests answer 596 with `message` (a broken pveproxy connection). */
  proxyErrors: { count: number; message?: string };
  /** Tasks of `type` take `extraMs` longer. */
  slowTasks: { type: string; extraMs: number }[];
  /** Nodes that are offline: their API answers 595, /nodes shows them offline. */
  offlineNodes: Set<string>;
  /** Requests whose path (after /api2/json) starts with `prefix` answer 403. */
  denied: { prefix: string; methods?: string[]; message?: string }[];
  /** Requests of these methods are answered `ms` later (a busy pveproxy). */
  slowAnswers: { methods: string[]; ms: number }[];
}

export function noFaults(): Faults {
  return {
    failTasks: [],
    warnTasks: [],
    lockTimeouts: [],
    proxyErrors: { count: 0 },
    slowTasks: [],
    offlineNodes: new Set(),
    denied: [],
    slowAnswers: [],
  };
}

/** Uses up one armed fault of `list` for a task of `type`, if there is one. */
export function takeTaskFault<T extends TaskFault>(list: T[], type: string): T | undefined {
  const f = list.find((x) => x.count > 0 && (x.type === type || x.type === "*"));
  if (f !== undefined) f.count--;
  return f;
}

export const lockFile = (vmid: number): string => `/var/lock/qemu-server/lock-${vmid}.conf`;

/** Uses up a lock-timeout fault armed for `vmid`: the error it gives, or null when none is armed. */
export function takeLockTimeout(faults: Faults, vmid: number): string | null {
  const f = faults.lockTimeouts.find((l) => l.vmid === vmid && l.count > 0);
  if (f === undefined) return null;
  f.count--;
  return `can't lock file '${lockFile(vmid)}' - got timeout`;
}

/** Uses up an armed proxy error: the reason to answer 596 with, or null. */
export function takeProxyError(faults: Faults): string | null {
  if (faults.proxyErrors.count <= 0) return null;
  faults.proxyErrors.count--;
  return faults.proxyErrors.message ?? "Broken pipe";
}

/** How much later tasks of `type` end. */
export const extraTaskMs = (faults: Faults, type: string): number =>
  faults.slowTasks.filter((s) => s.type === type || s.type === "*").reduce((a, s) => a + s.extraMs, 0);

/** How much later a request of `method` is answered. */
export const answerDelayMs = (faults: Faults, method: string): number =>
  faults.slowAnswers.filter((f) => f.methods.includes(method)).reduce((a, f) => a + f.ms, 0);

/** The denial armed for `method` on `path`, if any. */
export const denialOf = (faults: Faults, method: string, path: string): Faults["denied"][number] | undefined =>
  faults.denied.find((d) => path.startsWith(d.prefix) && (d.methods === undefined || d.methods.includes(method)));
