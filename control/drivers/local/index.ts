// The embedded default driver: a VM is a child process running its image's entry under Node, on
// its own loopback address 127.0.x.y. Every VM is recorded in a state directory, so a restarted
// controller (a new driver instance) finds, stops and destroys what an earlier one made.
//
// VM processes are spawned detached (their own process group, pid = pgid) with stdout and stderr
// pointing straight at a log file in the state dir (never at a pipe to the controller), so a farm
// outlives `farmhand up`, and neither Ctrl-C nor the controller's death touches it.

import { spawn, type ChildProcess } from "node:child_process";
import { open, readFile, stat, truncate, writeFile } from "node:fs/promises";
import http from "node:http";
import module from "node:module";
import os from "node:os";
import path from "node:path";
import { LocalVmStartError, VmRunningError } from "../../errors.ts";
import type { Driver, DriverEvent, VmLabels, VmRecord, VmSpec, VmState } from "../driver.ts";
import { DriverEvents } from "../events.ts";
import { KeyedSerializer } from "../serialize.ts";
import { readManifest } from "./manifest.ts";
import { findVmPids, isVmProcess, signalGroup, vmGroupAlive } from "./proc.ts";
import { isValidId, newId, StateDir, type StoredVm } from "./state.ts";

export { readManifest, type ImageManifest } from "./manifest.ts";
export { LocalVmStartError } from "../../errors.ts";

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

export function localDriver(options: LocalDriverOptions = {}): Driver {
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

  const toRecord = (vm: StoredVm, state: VmState): VmRecord => ({
    id: vm.id,
    spec: vm.spec,
    state,
    address: state === "running" ? { host: vm.address.host, port: vm.address.port } : null,
  });

  const observe = (vm: StoredVm): VmRecord => {
    const state = liveState(vm);
    if (state === "running" && !children.has(vm.id)) adopted.add(vm.id);
    return toRecord(vm, state);
  };

  const output = async (id: string, bytes: number = outputBytes): Promise<string> => {
    if (!isValidId(id)) return "";
    const tailOf = async (file: string, n: number): Promise<Buffer> => {
      const fh = await open(file, "r").catch(() => null);
      if (fh === null) return Buffer.alloc(0);
      try {
        const size = (await fh.stat()).size;
        const len = Math.min(size, n);
        const buf = Buffer.alloc(len);
        await fh.read(buf, 0, len, size - len);
        return buf;
      } finally {
        await fh.close();
      }
    };
    let buf = await tailOf(store.logFile(id), bytes);
    if (buf.length < bytes) buf = Buffer.concat([await tailOf(`${store.logFile(id)}.1`, bytes - buf.length), buf]);
    return buf.toString("utf8");
  };

  const rotate = async (id: string) => {
    const file = store.logFile(id);
    const size = await stat(file).then((s) => s.size, () => 0);
    if (size <= maxLogBytes) return;
    const tail = await output(id, outputBytes);
    await writeFile(`${file}.1`, tail);
    await truncate(file, 0); // the VM writes with O_APPEND, so it continues at the new end
  };

  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  /** Ends the VM's process group: SIGTERM, then SIGKILL after the grace period. */
  const terminate = async (vm: StoredVm, own: Child | undefined) => {
    const groups = vm.pid !== null ? [vm.pid] : findVmPids(vm.id);
    const alive = () => groups.some((g) => vmGroupAlive(g, vm.id)) || (own !== undefined && !own.done);
    if (!alive()) return;
    for (const g of groups) if (vmGroupAlive(g, vm.id)) signalGroup(g, "SIGTERM");
    if (own !== undefined && !own.done && own.pid > 1) signalGroup(own.pid, "SIGTERM");
    const until = async (deadline: number) => {
      while (alive() && Date.now() < deadline) await sleep(25);
    };
    await until(Date.now() + stopGraceMs);
    if (alive()) {
      for (const g of groups) signalGroup(g, "SIGKILL");
      await until(Date.now() + 5_000);
    }
    if (alive()) throw new Error(`local driver: VM ${vm.spec.labels.vm} (${vm.id}) did not end after SIGKILL`);
  };

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
    env.FARMHAND_LISTEN = `${vm.address.host}:${vm.address.port}`;
    env.FARMHAND_VM = vm.spec.labels.vm;
    env.FARMHAND_ROLE = vm.spec.labels.role;
    env.FARMHAND_FARM = vm.spec.labels.farm;
    env.FARMHAND_IMPORTS = JSON.stringify(vm.spec.imports);
    env.FARMHAND_SETTINGS = JSON.stringify(vm.spec.settings ?? {});
    env.FARMHAND_VM_ID = vm.id;
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
        const cur = await store.read(id);
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
    const log = await open(store.logFile(id), "a");
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
      await terminate({ ...vm, pid: child.pid }, child).catch(() => signalGroup(child.pid, "SIGKILL"));
      signalGroup(child.pid, "SIGKILL"); // stragglers of a leader that already exited
    }
    children.delete(id);
    await update(id, { state: "failed", pid: null, reason: exitReason ?? failure });
    const tail = await output(id);
    const shown = tail.length > ERROR_TAIL_BYTES ? `...${tail.slice(-ERROR_TAIL_BYTES)}` : tail;
    throw new LocalVmStartError(`VM ${name} (${id}) ${failure}; its output ends:\n${shown.trimEnd()}`, id, name, tail);
  };

  /** Ends the VM's processes (if any) and returns whether it was running. */
  const halt = async (vm: StoredVm): Promise<boolean> => {
    const state = liveState(vm);
    const own = children.get(vm.id);
    const alive = state === "running" || state === "starting" || (own !== undefined && !own.done);
    if (!alive && findVmPids(vm.id).length === 0) return false;
    if (own !== undefined) own.phase = "stopping";
    adopted.delete(vm.id);
    await update(vm.id, { stopRequested: true });
    await terminate(vm, own);
    children.delete(vm.id);
    return alive;
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

    stop(id: string): Promise<void> {
      return serialize(id, async () => {
        const vm = await store.read(id);
        if (vm === null) throw unknown(id);
        const wasRunning = await halt(vm);
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
        const vm = await store.read(id);
        if (vm === null) {
          await store.releaseAll(id);
          return;
        }
        const wasRunning = await halt(vm);
        await store.remove({ id, address: vm.address });
        if (wasRunning) emit({ type: "vm-stopped", id });
      });
    },

    async status(id: string): Promise<VmRecord | null> {
      const vm = await store.read(id);
      return vm === null ? null : observe(vm);
    },

    async list(labels: Partial<VmLabels>): Promise<VmRecord[]> {
      const out: VmRecord[] = [];
      for (const id of await store.ids()) {
        const vm = await store.read(id).catch(() => null);
        if (vm === null) continue;
        const match = (Object.keys(labels) as (keyof VmLabels)[]).every(
          (k) => labels[k] === undefined || vm.spec.labels[k] === labels[k],
        );
        if (match) out.push(observe(vm));
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
  };
}

