// The embedded default driver: a VM is a child process running its image's entry under Node, on
// its own loopback address 127.0.x.y. Every VM is recorded in a state directory, so a restarted
// controller (a new driver instance) finds, stops and destroys what an earlier one made.
//
// VM processes are spawned detached (their own process group, pid = pgid) with stdout and stderr
// pointing straight at a log file in the state dir (never at a pipe to the controller), so a farm
// outlives `farmhand up`, and neither Ctrl-C nor the controller's death touches it.

import { spawn, type ChildProcess } from "node:child_process";
import { chmod, open, stat, truncate, writeFile } from "node:fs/promises";
import http from "node:http";
import module from "node:module";
import os from "node:os";
import path from "node:path";
import { LocalVmCleanupError, LocalVmStartError, VmRunningError } from "../../errors.ts";
import type { Driver, DriverEvent, StopOptions, VmLabels, VmRecord, VmSpec, VmState } from "../driver.ts";
import { DriverEvents } from "../events.ts";
import { KeyedSerializer } from "../serialize.ts";
import { readManifest } from "./manifest.ts";
import { guestConfig, writeGuestEnv } from "../../guest/contract.ts";
import { findVmPids, isVmProcess, processStartedAt, signalGroup, vmGroupAlive, vmGroups, vmIdentity } from "./proc.ts";
import { isValidId, labelsFromId, newId, printable, StateDir, type StoredVm } from "./state.ts";

export { readManifest, type ImageManifest } from "./manifest.ts";
export { LocalVmCleanupError, LocalVmDamagedError, LocalVmStartError } from "../../errors.ts";

export interface LocalDriverOptions {
  /** Where VMs are recorded. Default `<cwd>/.farmhand/local`. */
  readonly stateDir?: string;
  /**
   * Where loopback addresses are reserved: shared by every state dir, so farms recorded apart never
   * get one address. Default `<tmpdir>/farmhand-addresses-<uid>`.
   */
  readonly addressDir?: string;
  /** The port every VM listens on (on its own address). Default 8080. */
  readonly port?: number;
  /** How long `start` waits for `GET /.well-known/farmhand` to answer 200. Default 15 000 ms. */
  readonly startTimeoutMs?: number;
  /** SIGTERM -> SIGKILL grace period for stop/destroy. Default 5 000 ms. */
  readonly stopGraceMs?: number;
  /** How much output `output()` and failure reports carry (the tail). Default 64 KiB. */
  readonly outputBytes?: number;
  /** A log file larger than this is rotated to `<id>.log.1`. Default 8 MiB. */
  readonly maxLogBytes?: number;
  /** How often adopted VMs (not children of this instance) are checked for death. Default 1 000 ms. */
  readonly watchIntervalMs?: number;
}


interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  phase: "starting" | "running" | "stopping";
  readonly exited: Promise<string>;
  done: boolean;
}

const ERROR_TAIL_BYTES = 4096;

/**
 * The local driver, and one thing only it can do: send a VM's processes a signal, as a crash, an
 * OOM kill or a hang would (SIGKILL, SIGSTOP): what the tour and the liveness tests do to a VM.
 */
export interface LocalDriver extends Driver {
  signal(id: string, signal: NodeJS.Signals): void;
}

export function localDriver(options: LocalDriverOptions = {}): LocalDriver {
  const store = new StateDir(options.stateDir ?? path.join(process.cwd(), ".farmhand", "local"), options.addressDir);
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`local driver: port must be 1..65535, got ${port}`);
  const startTimeoutMs = options.startTimeoutMs ?? 15_000;
  const stopGraceMs = options.stopGraceMs ?? 5_000;
  const outputBytes = options.outputBytes ?? 64 * 1024;
  const maxLogBytes = Math.max(options.maxLogBytes ?? 8 * 1024 * 1024, outputBytes);
  const watchIntervalMs = options.watchIntervalMs ?? 1_000;

  const children = new Map<string, Child>();
  /** Running VMs made by another instance that this one has seen: watched by polling. */
  const adopted = new Set<string>();
  const events = new DriverEvents();
  const emit = (event: DriverEvent) => events.emit(event);

  /** Operations on one VM run one at a time (within this instance). */
  const serializer = new KeyedSerializer();
  const serialize = <T>(id: string, fn: () => Promise<T>): Promise<T> => serializer.run(id, fn);

  const update = async (id: string, patch: Partial<StoredVm>): Promise<StoredVm | null> => {
    const cur = await store.read(id);
    if (cur === null) return null;
    const next: StoredVm = { ...cur, ...patch, updatedAt: Date.now() };
    await store.write(next);
    return next;
  };

  /** The recorded state, corrected by what /proc says about the process. */
  const liveState = (vm: StoredVm): VmState => {
    if (vm.state !== "running" && vm.state !== "starting") return vm.state;
    const own = children.get(vm.id);
    if (own !== undefined && !own.done) return vm.state;
    if (vm.pid !== null) return isVmProcess(vm.pid, vm.id, vm.spec.labels.vm) ? vm.state : "failed";
    // "starting" without a pid: a controller is between spawning and recording, or died there.
    if (findVmPids(vm.id).length > 0) return "starting";
    return Date.now() - vm.updatedAt < startTimeoutMs + 5_000 ? "starting" : "failed";
  };

  const toRecord = (vm: StoredVm, state: VmState): VmRecord => {
    const live = (state === "running" || state === "starting") && vm.pid !== null;
    const startedAt = live ? processStartedAt(vm.pid!) : null;
    return {
      id: vm.id,
      spec: vm.spec,
      state,
      address: state === "running" ? { host: vm.address.host, port: vm.address.port } : null,
      details: {
        ...(live ? { pid: vm.pid! } : {}),
        ...(startedAt === null ? {} : { startedAt }),
        log: store.logFile(vm.id),
        ...(vm.reason === null || live ? {} : { reason: vm.reason }),
      },
    };
  };

  const observe = (vm: StoredVm): VmRecord => {
    const state = liveState(vm);
    if (state === "running" && !children.has(vm.id)) adopted.add(vm.id);
    return toRecord(vm, state);
  };

  /**
   * A VM whose record cannot be used, as far as it can be known without it: labelled by its live
   * process's environment, or else by its id (when that can name a VM of `want`), so the farm it
   * belongs to still finds it. Null when it cannot be one of `want`.
   */
  const damaged = (id: string, file: string, problem: string, want: Partial<VmLabels>): VmRecord | null => {
    const proc = vmIdentity(id);
    let labels: VmLabels;
    if (proc !== null) labels = { farm: proc.farm, role: proc.role, vm: proc.vm };
    else {
      const guess = labelsFromId(id, want.farm, want.vm);
      if (guess === null || want.role !== undefined) return null;
      labels = { farm: guess.farm, role: "", vm: guess.vm };
    }
    const runs = proc === null ? "no process of it runs" : `its process ${proc.pid} (${printable(proc.vm)} on ${printable(proc.listen)}) still runs`;
    return { id, spec: { labels, image: "", imports: {} }, state: "damaged", address: null, problem: `${file} ${problem}; ${runs}` };
  };

  const output = async (id: string, bytes: number = outputBytes): Promise<string> => {
    if (!isValidId(id)) return "";
    let cut = false;
    const tailOf = async (file: string, n: number): Promise<Buffer> => {
      const fh = await open(file, "r").catch(() => null);
      if (fh === null) return Buffer.alloc(0);
      try {
        const size = (await fh.stat()).size;
        const len = Math.min(size, n);
        cut = size > len;
        const buf = Buffer.alloc(len);
        await fh.read(buf, 0, len, size - len);
        return buf;
      } finally {
        await fh.close();
      }
    };
    let buf = await tailOf(store.logFile(id), bytes);
    if (buf.length < bytes) buf = Buffer.concat([await tailOf(`${store.logFile(id)}.1`, bytes - buf.length), buf]);
    // A tail cut from a longer log starts mid-line (even mid-character): it starts at the next line.
    if (cut) {
      const lineStart = buf.indexOf(10);
      if (lineStart >= 0) buf = buf.subarray(lineStart + 1);
    }
    return buf.toString("utf8");
  };

  const rotate = async (id: string) => {
    const file = store.logFile(id);
    const size = await stat(file).then((s) => s.size, () => 0);
    if (size <= maxLogBytes) return;
    const tail = await output(id, outputBytes);
    await writeFile(`${file}.1`, tail, { mode: 0o600 });
    await chmod(`${file}.1`, 0o600); // one left by an older version may be readable by others
    await truncate(file, 0); // the VM writes with O_APPEND, so it continues at the new end
  };

  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  /**
   * Ends the VM's process groups (the recorded one, and any other its processes are found in):
   * SIGTERM, then SIGKILL after the grace period. Returns the VM's processes still alive after that.
   */
  const terminate = async (id: string, pid: number | null, own: Child | undefined, force = false): Promise<number[]> => {
    const groups = [...new Set([...(pid !== null ? [pid] : []), ...vmGroups(id)])];
    const alive = () => groups.some((g) => vmGroupAlive(g, id)) || (own !== undefined && !own.done);
    if (!alive()) return [];
    const first = force ? "SIGKILL" : "SIGTERM";
    for (const g of groups) if (vmGroupAlive(g, id)) signalGroup(g, first);
    if (own !== undefined && !own.done && own.pid > 1) signalGroup(own.pid, first);
    const until = async (deadline: number) => {
      while (alive() && Date.now() < deadline) await sleep(25);
    };
    await until(Date.now() + (force ? 0 : stopGraceMs));
    if (alive()) {
      for (const g of groups) signalGroup(g, "SIGKILL");
      await until(Date.now() + 5_000);
    }
    return alive() ? [...new Set([...findVmPids(id), ...(own !== undefined && !own.done ? [own.pid] : [])])] : [];
  };
  const survived = (pids: readonly number[]) => `could not stop process ${pids.join(", ")}: still running after SIGKILL`;

  const probe = (host: string, p: number): Promise<boolean> =>
    new Promise((resolve) => {
      const req = http.get({ host, port: p, path: "/.well-known/farmhand", agent: false, timeout: 1_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(false));
    });

  const childEnv = (vm: StoredVm): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("FARMHAND_")) env[k] = v;
    // The guest contract (control/guest/contract.ts); FARMHAND_VM_ID is also how proc.ts knows the VM's processes.
    Object.assign(env, writeGuestEnv(guestConfig(vm.spec, vm)));
    if (process.env.FARMHAND_OWNER !== undefined) env.FARMHAND_OWNER = process.env.FARMHAND_OWNER;
    // VMs share Node's compile cache (the controller's, or Node's usual place): a VM started again,
    // as heal does, skips type stripping (a service starts in about half the time, with less memory).
    // NODE_COMPILE_CACHE or NODE_DISABLE_COMPILE_CACHE in the controller's environment decide otherwise.
    env.NODE_COMPILE_CACHE ??= module.getCompileCacheDir() ?? path.join(os.tmpdir(), "node-compile-cache");
    return env;
  };

  /** A child of this instance died: unasked, that is a failure to report. */
  const onChildExit = async (id: string, child: Child, reason: string) => {
    if (child.phase !== "running") return; // start and stop handle their own endings
    if (events.closed) return; // a closed driver no longer tends its VMs; another instance adopts them
    if (children.get(id) === child) children.delete(id);
    signalGroup(child.pid, "SIGKILL"); // whatever it left in its group goes with it
    await serialize(id, async () => {
      const cur = await store.read(id);
      if (cur === null || cur.pid !== child.pid || cur.stopRequested) return;
      await update(id, { state: "failed", pid: null, reason });
      emit({ type: "vm-failed", id, reason, output: await output(id) });
    }).catch(() => {});
  };

  /** Polls adopted VMs (no exit event reaches this instance for them) and rotates logs. */
  const watch = async () => {
    for (const id of [...adopted]) {
      if (children.has(id)) {
        adopted.delete(id);
        continue;
      }
      await serialize(id, async () => {
        const found = await store.inspect(id);
        const cur = found.kind === "ok" ? found.vm : null; // a damaged record is no longer watched: list() reports it
        if (cur === null || cur.state !== "running" || cur.stopRequested || cur.pid === null) {
          adopted.delete(id);
          return;
        }
        if (isVmProcess(cur.pid, id, cur.spec.labels.vm)) return;
        adopted.delete(id);
        if (vmGroupAlive(cur.pid, id)) signalGroup(cur.pid, "SIGKILL");
        const reason = `exited (pid ${cur.pid} is gone; its exit status is unknown to a controller that did not spawn it)`;
        await update(id, { state: "failed", pid: null, reason });
        emit({ type: "vm-failed", id, reason, output: await output(id) });
      }).catch(() => {});
    }
    for (const id of [...children.keys(), ...adopted]) await rotate(id).catch(() => {});
  };
  let watching = false;
  const timer = setInterval(() => {
    if (watching) return;
    watching = true;
    void watch().finally(() => (watching = false));
  }, watchIntervalMs);
  timer.unref();

  const unknown = (id: string) => new Error(`local driver: unknown VM ${JSON.stringify(id)} (no record in ${store.dir})`);

  const startLocked = async (id: string): Promise<VmRecord> => {
    const vm = await store.read(id);
    if (vm === null) throw unknown(id);
    const state = liveState(vm);
    if (state === "running") return observe(vm);
    if (state === "starting") throw new Error(`local driver: VM ${vm.spec.labels.vm} (${id}) is being started by another controller`);
    const name = vm.spec.labels.vm;
    const where = `${vm.address.host}:${vm.address.port}`;
    const entry = path.resolve(vm.spec.image, vm.manifest.entry);

    // Recorded before the process exists: a controller that dies from here on leaves a record
    // that list() can reach (the process carries FARMHAND_VM_ID, so it is found even without a pid).
    await update(id, { state: "starting", pid: null, stopRequested: false, reason: null });
    const log = await open(store.logFile(id), "a", 0o600);
    await log.chmod(0o600); // one left by an older version may be readable by others
    let proc: ChildProcess;
    try {
      await log.write(`[farmhand] ${new Date().toISOString()} starting ${name}: node ${vm.manifest.entry} on ${where}\n`);
      proc = spawn(process.execPath, [entry], {
        cwd: vm.spec.image,
        env: childEnv(vm),
        detached: true,
        stdio: ["ignore", log.fd, log.fd],
      });
    } catch (err) {
      await update(id, { state: "failed", pid: null, reason: `could not be spawned (${(err as Error).message})` });
      throw new LocalVmStartError(`VM ${name} (${id}) could not be spawned: ${(err as Error).message}`, id, name, "");
    } finally {
      await log.close();
    }
    proc.unref();
    let resolveExit!: (reason: string) => void;
    const exited = new Promise<string>((r) => (resolveExit = r));
    const child: Child = { process: proc, pid: proc.pid ?? -1, phase: "starting", exited, done: false };
    proc.once("error", (err) => {
      if (child.done) return;
      child.done = true;
      resolveExit(`could not be spawned (${err.message})`);
    });
    proc.once("exit", (code, signal) => {
      child.done = true;
      const reason = code !== null ? `exited with code ${code}` : `killed by ${signal}`;
      resolveExit(reason);
      void onChildExit(id, child, reason);
    });
    children.set(id, child);
    adopted.delete(id);
    if (child.pid > 0) await update(id, { pid: child.pid });

    // Ready once it answers GET /.well-known/farmhand, unless it exits first or the deadline passes.
    const deadline = Date.now() + startTimeoutMs;
    let failure: string | null = null;
    let exitReason: string | null = null;
    void exited.then((r) => (exitReason = r));
    for (;;) {
      if (child.done) {
        failure = `${await exited} before it served GET /.well-known/farmhand on ${where}`;
        break;
      }
      if (await probe(vm.address.host, vm.address.port)) {
        if (!child.done) break;
        continue;
      }
      if (Date.now() >= deadline) {
        failure = `did not answer GET /.well-known/farmhand on ${where} within ${startTimeoutMs} ms`;
        break;
      }
      await Promise.race([sleep(100), exited]);
    }

    if (failure === null) {
      child.phase = "running";
      const rec = await update(id, { state: "running" });
      emit({ type: "vm-running", id });
      return toRecord(rec ?? { ...vm, state: "running" }, "running");
    }

    child.phase = "stopping";
    if (child.pid > 0) {
      await terminate(id, child.pid, child);
      signalGroup(child.pid, "SIGKILL"); // what would not end, and stragglers of a leader that already exited
    }
    children.delete(id);
    await update(id, { state: "failed", pid: null, reason: exitReason ?? failure });
    const tail = await output(id);
    const shown = tail.length > ERROR_TAIL_BYTES ? `...${tail.slice(-ERROR_TAIL_BYTES)}` : tail;
    throw new LocalVmStartError(`VM ${name} (${id}) ${failure}; its output ends:\n${shown.trimEnd()}`, id, name, tail);
  };

  /** Ends the VM's processes (if any): whether it was running, and the processes that would not end. */
  const halt = async (vm: StoredVm, force = false): Promise<{ wasRunning: boolean; survivors: number[] }> => {
    const state = liveState(vm);
    const own = children.get(vm.id);
    const alive = state === "running" || state === "starting" || (own !== undefined && !own.done);
    if (!alive && findVmPids(vm.id).length === 0) return { wasRunning: false, survivors: [] };
    if (own !== undefined) own.phase = "stopping";
    adopted.delete(vm.id);
    await update(vm.id, { stopRequested: true });
    const survivors = await terminate(vm.id, vm.pid, own, force);
    if (survivors.length === 0) children.delete(vm.id);
    return { wasRunning: alive, survivors };
  };

  /**
   * Destroys a VM that has no usable record (a damaged one, or none at all): its processes are
   * found by the identity they carry, its files by its id, its reservations by their owner.
   */
  const destroyUnrecorded = async (id: string): Promise<{ stopped: boolean; problems: string[] }> => {
    const own = children.get(id);
    const wasRunning = vmGroups(id).length > 0 || (own !== undefined && !own.done);
    if (own !== undefined) own.phase = "stopping";
    adopted.delete(id);
    const survivors = await terminate(id, null, own);
    if (survivors.length > 0) return { stopped: false, problems: [survived(survivors)] };
    children.delete(id);
    return { stopped: wasRunning, problems: await store.remove(id, null) };
  };

  return {
    name: "local",

    async create(spec: VmSpec): Promise<VmRecord> {
      for (const key of ["farm", "role", "vm"] as const) {
        if (typeof spec.labels?.[key] !== "string" || spec.labels[key] === "") {
          throw new Error(`local driver: spec.labels.${key} must be a non-empty string`);
        }
      }
      if (typeof spec.image !== "string" || spec.image === "") throw new Error("local driver: spec.image must name an image folder");
      const image = path.resolve(spec.image);
      const manifest = await readManifest(image);
      await store.ensure();
      const id = newId(spec.labels.farm, spec.labels.vm);
      const host = await store.allocate(id, port);
      const vm: StoredVm = {
        version: 1,
        id,
        spec: { labels: { ...spec.labels }, image, imports: { ...spec.imports }, settings: { ...spec.settings } },
        manifest,
        address: { host, port },
        pid: null,
        state: "created",
        stopRequested: false,
        reason: null,
        updatedAt: Date.now(),
      };
      try {
        await store.write(vm);
      } catch (err) {
        await store.release(host, id);
        throw err;
      }
      return toRecord(vm, "created");
    },

    start(id: string): Promise<VmRecord> {
      return serialize(id, () => startLocked(id));
    },

    stop(id: string, options: StopOptions = {}): Promise<void> {
      return serialize(id, async () => {
        const vm = await store.read(id);
        if (vm === null) throw unknown(id);
        const { wasRunning, survivors } = await halt(vm, options.force === true);
        if (survivors.length > 0) throw new Error(`local driver: VM ${vm.spec.labels.vm} (${id}): ${survived(survivors)}`);
        const cur = await store.read(id);
        if (cur === null) return;
        const state: VmState = wasRunning ? "stopped" : liveState(cur) === "failed" ? "failed" : cur.state === "created" ? "created" : "stopped";
        await update(id, { state, pid: null, stopRequested: false });
        if (wasRunning) emit({ type: "vm-stopped", id });
      });
    },

    reconfigure(id: string, imports: Readonly<Record<string, string>>): Promise<VmRecord> {
      return serialize(id, async () => {
        const vm = await store.read(id);
        if (vm === null) throw unknown(id);
        const state = liveState(vm);
        if (state === "running" || state === "starting") throw new VmRunningError("local", vm.spec.labels.vm, id, state);
        const next = await update(id, { spec: { ...vm.spec, imports: { ...imports } } });
        return toRecord(next!, state);
      });
    },

    destroy(id: string): Promise<void> {
      return serialize(id, async () => {
        if (!isValidId(id)) return;
        const found = await store.inspect(id);
        let name = id;
        let outcome: { stopped: boolean; problems: string[] };
        if (found.kind === "ok") {
          name = found.vm.spec.labels.vm;
          const { wasRunning, survivors } = await halt(found.vm);
          outcome = survivors.length > 0
            ? { stopped: false, problems: [survived(survivors)] }
            : { stopped: wasRunning, problems: await store.remove(id, found.vm.address.host) };
        } else {
          name = vmIdentity(id)?.vm ?? id;
          outcome = await destroyUnrecorded(id);
        }
        if (outcome.stopped) emit({ type: "vm-stopped", id });
        if (outcome.problems.length > 0) throw new LocalVmCleanupError(id, name, outcome.problems);
      });
    },

    async status(id: string): Promise<VmRecord | null> {
      const found = await store.inspect(id);
      if (found.kind === "missing") return null;
      return found.kind === "ok" ? observe(found.vm) : damaged(id, found.file, found.problem, {});
    },

    async list(labels: Partial<VmLabels>): Promise<VmRecord[]> {
      const matches = (have: VmLabels) =>
        (Object.keys(labels) as (keyof VmLabels)[]).every((k) => labels[k] === undefined || have[k] === labels[k]);
      const out: VmRecord[] = [];
      for (const id of await store.ids()) {
        const found = await store.inspect(id);
        if (found.kind === "ok" && matches(found.vm.spec.labels)) out.push(observe(found.vm));
        if (found.kind !== "damaged") continue;
        const record = damaged(id, found.file, found.problem, labels);
        if (record !== null && matches(record.spec.labels)) out.push(record);
      }
      return out;
    },

    output(id: string): Promise<string> {
      return output(id);
    },

    events(listener: (event: DriverEvent) => void): () => void {
      return events.subscribe(listener);
    },

    async close(): Promise<void> {
      events.close();
      clearInterval(timer);
      children.clear();
      adopted.clear();
    },

    signal(id: string, signal: NodeJS.Signals): void {
      if (!isValidId(id)) return;
      for (const pid of findVmPids(id)) signalGroup(pid, signal);
    },
  };
}

