// The supervisor: the main thread of a running balancer. It owns the configuration and every
// backend's state (lifecycle, health, ejection, warm-up), turns them into immutable pool snapshots for
// the workers, replaces a worker that dies, serves the admin API and metrics, and drains on shutdown.
// Workers never share mutable balancing state; they only write counters into shared memory.

import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import module from "node:module";
import { Worker } from "node:worker_threads";
import { backendId, MAX_VALIDATED_LISTENERS, type AdminConfig, type BackendConfig, type BackendSpec, type ListenerConfig, type PoolConfig, type ProxyConfig } from "./config.ts";
import { normalizePoolBackends } from "./config-load.ts";
import { checkAdminConfig, startAdminServer, type AdminServer } from "./admin/server.ts";
import { ListenError, StatsCapacityError, UnknownBackendError, UnknownPoolError } from "./errors.ts";
import { ActiveHealthChecker } from "./health/active-checker.ts";
import { OutlierDetector } from "./health/outlier-detector.ts";
import type { BackendSnapshot, PoolSnapshot, SupervisorMessage, WorkerInit, WorkerMessage } from "./messages.ts";
import type { MetricsExporter } from "./stats/exporter.ts";
import {
  BACKEND,
  OUTLIER_STRIDE,
  POOL,
  VALIDATION,
  VALIDATION_OUTCOMES,
  VALIDATION_UNMATCHED,
  allocateSharedStats,
  type SharedStats,
} from "./stats/layout.ts";
import { StatsReader } from "./stats/reader.ts";
import { UNMATCHED_OPERATION, type AdminControl, type BackendLifecycle, type BackendStatus, type PoolStatus, type TrafficCounts, type ValidationCounts, type WorkerStatus } from "./status.ts";

const WORKER_URL = new URL("./worker.ts", import.meta.url);
const POOL_CAPACITY = 64;
const BACKEND_CAPACITY = 4096;
const SAMPLE_INTERVAL_MS = 1000;
const DRAIN_POLL_MS = 50;
const MAX_RESTART_DELAY_MS = 5000;
/** How long worker 0 may take to bind new listeners before the change is refused. */
const LISTEN_TIMEOUT_MS = 10_000;
/**
 * V8 lets a busy isolate's young generation grow well past what a proxy's short-lived garbage
 * needs. Capped at 24 MB, a worker holding 10,000 idle connections is about 10 MB smaller with no
 * measurable CPU cost; smaller caps (12, 6 MB) saved little more memory and did cost CPU per request.
 */
const WORKER_YOUNG_GENERATION_MB = 24;

interface BackendState {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  weight: number;
  /** Takes traffic only while no primary of the pool is routable. */
  backup: boolean;
  readonly slot: number;
  lifecycle: BackendLifecycle;
  /** Forget the backend once drained (it was removed, not just drained). */
  removeWhenDrained: boolean;
  /** Snapshot version from which no worker can route new requests to it. */
  drainVersion: number;
  warmUntil: number;
}

interface PoolState {
  config: PoolConfig;
  readonly slot: number;
  readonly backends: Map<string, BackendState>;
  readonly outlier: OutlierDetector;
  checker: ActiveHealthChecker | null;
}

interface WorkerSlot {
  readonly index: number;
  worker: Worker;
  applied: number;
  /** Times this worker index was replaced, in all. */
  restarts: number;
  /** Deaths in quick succession that led to this worker (0: its predecessor had served a while). */
  readonly streak: number;
  /** performance.now() when it was spawned. */
  readonly startedAt: number;
  exited: boolean;
  drained: boolean;
  /** The worker is being replaced or stopped on purpose. */
  stopping: boolean;
  /** The uncaught error it died of, if it died of one. */
  error: string | null;
  /** Listeners it reported bound (listening, or prepared for a change). */
  readonly listening: Set<string>;
}

export interface ResolvedListener {
  readonly name: string;
  readonly protocol: ListenerConfig["protocol"];
  readonly address: string;
  readonly port: number;
}

export type BalancerEvent =
  /**
   * A worker died; `error` is the uncaught error that ended it, when one did. It is replaced after
   * `restartInMs` (0 unless workers die in quick succession).
   */
  | { readonly type: "worker-exit"; readonly index: number; readonly code: number; readonly error: string | null; readonly restartInMs: number }
  | { readonly type: "backend-health"; readonly pool: string; readonly backend: string; readonly healthy: boolean }
  | { readonly type: "backend-ejected"; readonly pool: string; readonly backend: string; readonly until: number }
  | { readonly type: "backend-returned"; readonly pool: string; readonly backend: string }
  | { readonly type: "backend-drained"; readonly pool: string; readonly backend: string }
  /** A listener could not accept `count` connections (since the last report) for `code`, e.g. EMFILE. */
  | { readonly type: "accept-failed"; readonly listener: string; readonly code: string; readonly count: number }
  /**
   * The process ran out of file descriptors (`code`: EMFILE for its own limit, ENFILE for the
   * system's): until "descriptors-available", new connections on every listener cannot be accepted.
   */
  | { readonly type: "descriptors-exhausted"; readonly code: "EMFILE" | "ENFILE" }
  | { readonly type: "descriptors-available" }
  /**
   * A connection handler threw in worker `index` (a bug: no input may cause it). That connection was
   * closed cleanly and the worker serves on; `count` faults since the last report, `error` the latest.
   */
  | { readonly type: "session-fault"; readonly index: number; readonly error: string; readonly count: number };

export interface BalancerOptions {
  /** Called for notable events (the CLI logs them). */
  readonly onEvent?: (event: BalancerEvent) => void;
  /**
   * A worker that dies within this long of its start is restarted after a delay that doubles with
   * each such death in a row (200 ms, 400 ms, ... up to 5 s), so a crash loop does not spin. One that
   * served longer is restarted at once and its successors start the count afresh: otherwise a rare
   * crashing request, over days, would push every restart to the cap.
   */
  readonly restartBackoffResetMs?: number;
}

export const DEFAULT_BALANCER_OPTIONS: Required<BalancerOptions> = {
  onEvent: () => {},
  restartBackoffResetMs: 30_000,
};

/** A change whose listeners and admin API are bound but not yet serving: it can still be called off. */
interface PreparedChange {
  /** Every listener of the change, with real ports. */
  readonly listeners: ListenerConfig[];
  /** Listeners worker 0 has bound and holds for the change. */
  readonly prepared: readonly string[];
  readonly admin: AdminChange;
}

/** What a change does to the admin API. */
type AdminPlan =
  | { readonly kind: "keep" }
  | { readonly kind: "close" }
  /** Same address and port: only the token changes, on the running server. */
  | { readonly kind: "retoken"; readonly config: AdminConfig }
  /** A new server, bound before the old one closes. */
  | { readonly kind: "bind"; readonly config: AdminConfig };

/** The plan once carried out as far as it can be without committing: a new server is bound. */
type AdminChange = Exclude<AdminPlan, { kind: "bind" }> | { readonly kind: "replace"; readonly config: AdminConfig; readonly server: AdminServer };

export class Balancer implements AdminControl {
  #config: ProxyConfig;
  readonly #stats: SharedStats;
  readonly #reader: StatsReader;
  /** Loaded on the first scrape: prom-client costs ~20 MB that a proxy without metrics never needs. */
  #exporter: Promise<MetricsExporter> | null = null;
  readonly #pools = new Map<string, PoolState>();
  readonly #workers: WorkerSlot[] = [];
  readonly #freeBackendSlots: number[] = [];
  #nextBackendSlot = 0;
  readonly #freePoolSlots: number[] = [];
  #nextPoolSlot = 0;
  #version = 0;
  /** Listener configs with port 0 replaced by the port the first worker got. */
  #listeners: ListenerConfig[] = [];
  #admin: AdminServer | null = null;
  #sampler: NodeJS.Timeout;
  #drainPoller: NodeJS.Timeout | null = null;
  #ejectionTimer: NodeJS.Timeout | null = null;
  #stopping = false;
  /** Marks this balancer's hop in Via, to recognise a request that loops back to it. */
  readonly #instanceId = randomBytes(6).toString("hex");
  readonly #onEvent: (event: BalancerEvent) => void;
  readonly #restartBackoffResetMs: number;
  /** Waiters for worker 0 to have bound a prepared listener, keyed by listener name. */
  readonly #listenWaiters = new Map<string, { resolve: (port: number) => void; reject: (error: Error) => void }>();
  /** Reloads run one at a time, each against the state the previous one left. */
  #reloading: Promise<void> = Promise.resolve();
  /** A new admin server bound for a change not yet committed (closed on teardown if it never is). */
  #pendingAdmin: AdminServer | null = null;
  /** Accept failures per listener name since the start, for the metrics. */
  readonly #acceptFailures = new Map<string, number>();
  /** Why the last check could not open a file descriptor, or null when it could. */
  #descriptorsExhausted: "EMFILE" | "ENFILE" | null = null;

  private constructor(config: ProxyConfig, options: BalancerOptions) {
    this.#config = config;
    this.#onEvent = options.onEvent ?? DEFAULT_BALANCER_OPTIONS.onEvent;
    this.#restartBackoffResetMs = options.restartBackoffResetMs ?? DEFAULT_BALANCER_OPTIONS.restartBackoffResetMs;
    this.#stats = allocateSharedStats({ workers: config.workers, pools: POOL_CAPACITY, backends: BACKEND_CAPACITY, validated: MAX_VALIDATED_LISTENERS });
    this.#reader = new StatsReader(this.#stats);
    this.#sampler = setInterval(() => {
      this.#reader.sample();
      this.#checkDescriptors();
    }, SAMPLE_INTERVAL_MS);
    this.#sampler.unref();
  }

  /** Starts the workers, opens the listeners and the admin API. Fails (leaving nothing running) if any cannot start. */
  static async start(config: ProxyConfig, options: BalancerOptions = {}): Promise<Balancer> {
    const balancer = new Balancer(config, options);
    try {
      await balancer.#boot();
      return balancer;
    } catch (error) {
      await balancer.#teardown();
      throw error;
    }
  }

  async #boot(): Promise<void> {
    this.#checkCapacity(new Map(this.#config.pools.map((p) => [p.name, p.backends])), true);
    for (const pool of this.#config.pools) this.#addPool(pool);
    // The first worker opens the listeners alone, so that a port 0 becomes one real port that the
    // others then share.
    this.#workers.push(this.#spawn(0));
    this.#listeners = (await this.#prepareListeners(this.#config.listeners)).listeners;
    for (let i = 1; i < this.#config.workers; i++) this.#workers.push(this.#spawn(i));
    await this.#settle();
    if (this.#config.admin !== null) this.#admin = await startAdminServer(this.#config.admin, this);
    this.#adminConfig = this.#config.admin;
    // Where the process runs with Node's compile cache on, it is written now, as each worker writes
    // its own, not at exit, which a killed service never reaches: its next start then skips type
    // stripping (about 35 MB less at rest).
    module.flushCompileCache?.();
  }

  get listeners(): readonly ResolvedListener[] {
    return this.#listeners.map((l) => ({ name: l.name, protocol: l.protocol, address: l.address, port: l.port }));
  }

  get adminUrl(): string | null {
    return this.#admin?.url ?? null;
  }

  get config(): ProxyConfig {
    return this.#config;
  }

  // ---- workers ----------------------------------------------------------------------------------

  #spawn(index: number, restarts = 0, streak = 0): WorkerSlot {
    const worker = new Worker(WORKER_URL, {
      workerData: { index, stats: this.#stats, instanceId: this.#instanceId } satisfies WorkerInit,
      env: workerEnvironment(),
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    const slot: WorkerSlot = {
      index,
      worker,
      applied: 0,
      restarts,
      streak,
      startedAt: performance.now(),
      exited: false,
      drained: false,
      stopping: false,
      error: null,
      listening: new Set(),
    };
    worker.on("message", (message: WorkerMessage) => this.#onWorkerMessage(slot, message));
    worker.on("error", (error) => (slot.error = error.stack ?? String(error)));
    worker.on("exit", (code) => this.#onWorkerExit(slot, code));
    worker.postMessage(this.#configureMessage());
    return slot;
  }

  #onWorkerExit(slot: WorkerSlot, code: number): void {
    slot.exited = true;
    if (slot.stopping || this.#stopping || this.#workers[slot.index] !== slot) return;
    // Listeners it was binding for a change died with it; the change is refused rather than left waiting.
    if (slot.index === 0) this.#rejectListenWaiters(new Error(`worker 0 exited (code ${code}) while opening listeners`));
    const served = performance.now() - slot.startedAt >= this.#restartBackoffResetMs;
    const streak = served ? 0 : slot.streak;
    const delay = streak === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** Math.min(streak, 6));
    this.#onEvent({ type: "worker-exit", index: slot.index, code, error: slot.error, restartInMs: delay });
    // Its requests died with it; its counters stay so totals remain monotonic.
    this.#reader.clearWorkerGauges(slot.index);
    setTimeout(() => {
      if (this.#stopping || this.#workers[slot.index] !== slot) return;
      this.#workers[slot.index] = this.#spawn(slot.index, slot.restarts + 1, streak + 1);
    }, delay).unref();
  }

  /**
   * Checks that the process can still open a file descriptor. Out of them, a listener hears nothing:
   * Node 24's libuv reports no failed accept, it sheds the waiting connections (accepting and closing
   * them with a descriptor it holds in reserve) or, with that reserve gone too, leaves them queued.
   * Opening /dev/null fails exactly then, so a failed open is how the operator gets told.
   */
  #checkDescriptors(): void {
    let exhausted: "EMFILE" | "ENFILE" | null = null;
    try {
      closeSync(openSync("/dev/null", "r"));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EMFILE" || code === "ENFILE") exhausted = code;
    }
    if (exhausted === this.#descriptorsExhausted) return;
    this.#descriptorsExhausted = exhausted;
    this.#onEvent(exhausted === null ? { type: "descriptors-available" } : { type: "descriptors-exhausted", code: exhausted });
  }

  #rejectListenWaiters(error: Error): void {
    for (const waiter of [...this.#listenWaiters.values()]) waiter.reject(error);
    this.#listenWaiters.clear();
  }

  #onWorkerMessage(slot: WorkerSlot, message: WorkerMessage): void {
    switch (message.type) {
      case "applied":
        slot.applied = message.version;
        return;
      case "prepared":
        slot.listening.add(message.listener);
        if (slot.index === 0) this.#listenWaiters.get(message.listener)?.resolve(message.port);
        return;
      case "prepare-failed":
        if (slot.index === 0) this.#listenWaiters.get(message.listener)?.reject(new Error(message.message));
        return;
      case "listening":
        slot.listening.add(message.listener);
        return;
      case "listen-failed":
        // A worker opening the listeners of a committed change: worker 0 had bound them already, so
        // the others, sharing the port, do too.
        return;
      case "outlier":
        this.#onOutlier(message.pool, message.backend, message.reason);
        return;
      case "drained":
        slot.drained = true;
        return;
      case "session-fault":
        this.#onEvent({ type: "session-fault", index: slot.index, error: message.error, count: message.count });
        return;
      case "accept-failed":
        this.#acceptFailures.set(message.listener, (this.#acceptFailures.get(message.listener) ?? 0) + message.count);
        this.#onEvent({ type: "accept-failed", listener: message.listener, code: message.code, count: message.count });
        return;
    }
  }

  /**
   * Has worker 0 bind the listeners in `wanted` that are not open yet (port 0 included) and learns
   * their ports. It holds their connections until a configure names them (the commit) or
   * #abortListeners closes them; listeners that keep their name, address and port keep their sockets.
   * Throws, having closed whatever it bound, if any cannot be bound.
   */
  async #prepareListeners(wanted: readonly ListenerConfig[]): Promise<{ listeners: ListenerConfig[]; prepared: string[] }> {
    const known = new Map(this.#listeners.map((l) => [l.name, l]));
    const listeners: ListenerConfig[] = [];
    const fresh: { config: ListenerConfig; port: Promise<number> }[] = [];
    for (const config of wanted) {
      const existing = known.get(config.name);
      const reusable = existing !== undefined && existing.address === config.address &&
        (config.port === 0 || existing.port === config.port);
      if (reusable) {
        listeners.push({ ...config, port: existing.port });
        continue;
      }
      const port = new Promise<number>((resolve, reject) => this.#listenWaiters.set(config.name, { resolve, reject }));
      fresh.push({ config, port });
    }
    if (fresh.length === 0) return { listeners, prepared: [] };
    const prepared = fresh.map((f) => f.config.name);
    const timer = setTimeout(() => this.#rejectListenWaiters(new Error(`not bound within ${LISTEN_TIMEOUT_MS} ms`)), LISTEN_TIMEOUT_MS);
    this.#workers[0].worker.postMessage({ type: "prepare-listeners", listeners: fresh.map((f) => f.config) } satisfies SupervisorMessage);
    const results = await Promise.allSettled(fresh.map((f) => f.port));
    clearTimeout(timer);
    for (const name of prepared) this.#listenWaiters.delete(name);
    const failed = results.findIndex((r) => r.status === "rejected");
    if (failed !== -1) {
      this.#abortListeners(prepared);
      const { config } = fresh[failed];
      throw new ListenError(config.name, config.address, config.port, (results[failed] as PromiseRejectedResult).reason);
    }
    for (const [i, { config }] of fresh.entries()) {
      listeners.push({ ...config, port: (results[i] as PromiseFulfilledResult<number>).value });
    }
    // The configured order, which is the order the workers open and report them in.
    const order = new Map(wanted.map((l, i) => [l.name, i]));
    listeners.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
    return { listeners, prepared };
  }

  /** Closes listeners worker 0 bound for a change that will not happen. */
  #abortListeners(names: readonly string[]): void {
    if (names.length === 0) return;
    this.#workers[0]?.worker.postMessage({ type: "abort-listeners", names } satisfies SupervisorMessage);
  }

  // ---- snapshots ----------------------------------------------------------------------------------

  #configureMessage(listeners: readonly ListenerConfig[] = this.#listeners): SupervisorMessage {
    return {
      type: "configure",
      version: this.#version,
      listeners,
      http: this.#config.http,
      pools: [...this.#pools.values()].map((pool) => this.#snapshot(pool)),
      validation: this.#config.validation,
      validationSlots: this.#validationSlotsFor(listeners),
    };
  }

  /**
   * Counter slots of the validated listeners: a listener keeps its slot while its contract stays
   * the same; a new or changed contract starts from zeroed counters, since its operations are others.
   */
  #validationSlotsFor(listeners: readonly ListenerConfig[]): Record<string, number> {
    const out: Record<string, number> = {};
    const wanted = new Map<string, string>();
    for (const l of listeners) {
      if (l.validate !== null) wanted.set(l.name, JSON.stringify([l.contract, l.validate.operations.map((o) => [o.name, o.method, o.path])]));
    }
    for (const [name, held] of this.#validationSlots) {
      if (wanted.get(name) !== held.key) this.#validationSlots.delete(name);
    }
    const used = new Set([...this.#validationSlots.values()].map((h) => h.slot));
    for (const [name, key] of wanted) {
      let held = this.#validationSlots.get(name);
      if (held === undefined) {
        let slot = 0;
        while (used.has(slot)) slot++;
        // normalizeConfig allows no more validated listeners than there are slots.
        if (slot >= MAX_VALIDATED_LISTENERS) continue;
        used.add(slot);
        this.#reader.resetValidation(slot);
        held = { slot, key, operations: listeners.find((l) => l.name === name)!.validate!.operations.map((o) => o.name) };
        this.#validationSlots.set(name, held);
      }
      out[name] = held.slot;
    }
    return out;
  }

  readonly #validationSlots = new Map<string, { readonly slot: number; readonly key: string; readonly operations: readonly string[] }>();

  /** Contract-check counters of every validated listener: per operation (and "(none)" for unmatched requests), per outcome. */
  validationCounts(): readonly ValidationCounts[] {
    this.#reader.sample();
    return [...this.#validationSlots].map(([listener, { slot, operations }]) => ({
      listener,
      operations: [...operations, UNMATCHED_OPERATION].map((operation, i) => {
        const record = operation === UNMATCHED_OPERATION ? VALIDATION_UNMATCHED : i;
        const outcomes: Record<string, number> = {};
        VALIDATION_OUTCOMES.forEach((outcome, field) => (outcomes[outcome] = this.#reader.validation(slot, record, field)));
        return { operation, outcomes, offloaded: this.#reader.validation(slot, record, VALIDATION.OFFLOADED) };
      }),
    }));
  }

  /** Ends every worker's validation threads as a crash would (their pools start new ones): for tests of that failure. */
  killValidationThreads(): void {
    for (const slot of this.#workers) slot.worker.postMessage({ type: "kill-validation-threads" } satisfies SupervisorMessage);
  }

  #snapshot(pool: PoolState): PoolSnapshot {
    const c = pool.config;
    const routable = this.#routableSet(pool);
    return {
      name: c.name,
      slot: pool.slot,
      policy: c.policy,
      hashKey: c.hashKey,
      slowStartMs: c.slowStartMs,
      upstream: c.upstream,
      consecutive5xx: c.outlierDetection.consecutive5xx,
      consecutiveConnectFailures: c.outlierDetection.consecutiveConnectFailures,
      routable: routable.map(snapshotOf),
      standby: [...pool.backends.values()].filter((b) => b.backup && !routable.includes(b) && this.#routable(pool, b)).map(snapshotOf),
    };
  }

  /** The routable primaries; or, when there is none, the routable backups. */
  #routableSet(pool: PoolState): BackendState[] {
    const up = [...pool.backends.values()].filter((b) => this.#routable(pool, b));
    const primaries = up.filter((b) => !b.backup);
    return primaries.length > 0 ? primaries : up;
  }

  #routable(pool: PoolState, b: BackendState): boolean {
    return b.lifecycle === "active" && (pool.checker?.isHealthy(b.id) ?? true) && !pool.outlier.isEjected(b.id);
  }

  /** Sends the current state to every worker. */
  #broadcast(): void {
    this.#version++;
    const message = this.#configureMessage();
    for (const slot of this.#workers) slot.worker.postMessage(message);
  }

  /** Resolves once every worker has applied the latest snapshot. */
  async #settle(): Promise<void> {
    this.#broadcast();
    const version = this.#version;
    const deadline = Date.now() + 10_000;
    // A dead worker is not waited for: its replacement starts from the newest snapshot.
    while (this.#workers.some((w) => !w.exited && w.applied < version)) {
      if (Date.now() > deadline) throw new Error("workers did not apply the configuration within 10 s");
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  // ---- pools and backends -------------------------------------------------------------------------

  /**
   * Throws StatsCapacityError unless shared memory has room for the pools in `wanted` (name to
   * backends) as they would be after a change. Backends a pool already has keep their slots, draining
   * ones included; with `dropOthers`, the pools not in `wanted` go away and give theirs back. Called
   * before a change touches anything, so a change that does not fit changes nothing.
   */
  #checkCapacity(wanted: ReadonlyMap<string, readonly BackendSpec[]>, dropOthers: boolean): void {
    let freePools = this.#freePoolSlots.length + POOL_CAPACITY - this.#nextPoolSlot;
    let freeBackends = this.#freeBackendSlots.length + BACKEND_CAPACITY - this.#nextBackendSlot;
    if (dropOthers) {
      for (const [name, pool] of this.#pools) {
        if (wanted.has(name)) continue;
        freePools++;
        freeBackends += pool.backends.size;
      }
    }
    let newPools = 0;
    let newBackends = 0;
    for (const [name, backends] of wanted) {
      const pool = this.#pools.get(name);
      if (pool === undefined) newPools++;
      for (const b of backends) if (pool?.backends.has(backendId(b)) !== true) newBackends++;
    }
    if (newPools > freePools) throw new StatsCapacityError("pool", POOL_CAPACITY);
    if (newBackends > freeBackends) throw new StatsCapacityError("backend", BACKEND_CAPACITY);
  }

  #addPool(config: PoolConfig): void {
    if (this.#freePoolSlots.length === 0 && this.#nextPoolSlot >= POOL_CAPACITY) throw new StatsCapacityError("pool", POOL_CAPACITY);
    const slot = this.#freePoolSlots.pop() ?? this.#nextPoolSlot++;
    this.#reader.resetPool(slot);
    const pool: PoolState = {
      config,
      slot,
      backends: new Map(),
      outlier: new OutlierDetector(config.outlierDetection),
      checker: null,
    };
    this.#pools.set(config.name, pool);
    this.#configureHealth(pool);
    for (const backend of config.backends) this.#addBackend(pool, backend, false);
    this.#syncHealth(pool);
  }

  #configureHealth(pool: PoolState): void {
    pool.checker?.close();
    pool.checker = null;
    const options = pool.config.healthCheck;
    if (options === null) return;
    const name = pool.config.name;
    pool.checker = new ActiveHealthChecker(options, (id, healthy) => {
      const backend = pool.backends.get(id);
      if (backend === undefined) return;
      if (healthy) this.#startWarmup(pool, backend);
      this.#onEvent({ type: "backend-health", pool: name, backend: id, healthy });
      this.#broadcast();
    });
  }

  #syncHealth(pool: PoolState): void {
    const ids = [...pool.backends.keys()];
    pool.outlier.setBackends(ids);
    pool.checker?.setBackends([...pool.backends.values()].map((b) => ({ id: b.id, address: b.address, port: b.port })));
  }

  #addBackend(pool: PoolState, config: BackendConfig, warm: boolean): BackendState {
    const id = backendId(config);
    const existing = pool.backends.get(id);
    if (existing !== undefined) {
      // Re-adding a backend that is draining takes it back into service.
      existing.weight = config.weight;
      existing.backup = config.backup;
      if (existing.lifecycle !== "active") {
        existing.lifecycle = "active";
        existing.removeWhenDrained = false;
        if (warm) this.#startWarmup(pool, existing);
      }
      return existing;
    }
    if (this.#freeBackendSlots.length === 0 && this.#nextBackendSlot >= BACKEND_CAPACITY) throw new StatsCapacityError("backend", BACKEND_CAPACITY);
    const slot = this.#freeBackendSlots.pop() ?? this.#nextBackendSlot++;
    this.#reader.resetBackend(slot);
    this.#resetOutlierCounters(slot);
    const backend: BackendState = {
      id,
      address: config.address,
      port: config.port,
      weight: config.weight,
      backup: config.backup,
      slot,
      lifecycle: "active",
      removeWhenDrained: false,
      drainVersion: 0,
      warmUntil: 0,
    };
    pool.backends.set(id, backend);
    if (warm) this.#startWarmup(pool, backend);
    return backend;
  }

  #startWarmup(pool: PoolState, backend: BackendState): void {
    if (pool.config.slowStartMs > 0) backend.warmUntil = Date.now() + pool.config.slowStartMs;
  }

  #resetOutlierCounters(slot: number): void {
    const view = new Int32Array(this.#stats.outlier);
    for (let i = 0; i < OUTLIER_STRIDE; i++) Atomics.store(view, slot * OUTLIER_STRIDE + i, 0);
  }

  /** Marks a backend draining; it reports drained once no worker has a request on it. */
  #drain(pool: PoolState, backend: BackendState, remove: boolean): void {
    backend.removeWhenDrained ||= remove;
    if (backend.lifecycle === "active") {
      backend.lifecycle = "draining";
      backend.drainVersion = this.#version + 1;
    }
    if (backend.lifecycle === "drained" && remove) this.#forget(pool, backend);
    this.#watchDrains();
  }

  #forget(pool: PoolState, backend: BackendState): void {
    pool.backends.delete(backend.id);
    this.#freeBackendSlots.push(backend.slot);
    this.#syncHealth(pool);
  }

  /** Polls draining backends until their in-flight requests are done. */
  #watchDrains(): void {
    if (this.#drainPoller !== null) return;
    this.#drainPoller = setInterval(() => {
      let draining = 0;
      for (const pool of this.#pools.values()) {
        for (const backend of [...pool.backends.values()]) {
          if (backend.lifecycle !== "draining") continue;
          const everyWorkerKnows = this.#workers.every((w) => w.applied >= backend.drainVersion);
          if (everyWorkerKnows && this.#reader.backend(backend.slot, BACKEND.IN_FLIGHT) === 0) {
            backend.lifecycle = "drained";
            this.#onEvent({ type: "backend-drained", pool: pool.config.name, backend: backend.id });
            if (backend.removeWhenDrained) this.#forget(pool, backend);
          } else {
            draining++;
          }
        }
      }
      if (draining === 0 && this.#drainPoller !== null) {
        clearInterval(this.#drainPoller);
        this.#drainPoller = null;
      }
    }, DRAIN_POLL_MS);
    this.#drainPoller.unref();
  }

  #onOutlier(poolName: string, id: string, reason: "5xx" | "connect-failure"): void {
    const pool = this.#pools.get(poolName);
    const backend = pool?.backends.get(id);
    if (pool === undefined || backend === undefined) return;
    this.#resetOutlierCounters(backend.slot);
    if (!pool.outlier.report(id, reason, Date.now())) return;
    this.#onEvent({ type: "backend-ejected", pool: poolName, backend: id, until: pool.outlier.ejectedUntil(id) });
    this.#broadcast();
    this.#scheduleEjectionTick();
  }

  #scheduleEjectionTick(): void {
    if (this.#ejectionTimer !== null) clearTimeout(this.#ejectionTimer);
    this.#ejectionTimer = null;
    let next = Infinity;
    for (const pool of this.#pools.values()) next = Math.min(next, pool.outlier.nextDeadline());
    if (next === Infinity) return;
    this.#ejectionTimer = setTimeout(() => {
      this.#ejectionTimer = null;
      let changed = false;
      const now = Date.now();
      for (const pool of this.#pools.values()) {
        for (const id of pool.outlier.tick(now)) {
          const backend = pool.backends.get(id);
          if (backend !== undefined) this.#startWarmup(pool, backend);
          this.#onEvent({ type: "backend-returned", pool: pool.config.name, backend: id });
          changed = true;
        }
      }
      if (changed) this.#broadcast();
      this.#scheduleEjectionTick();
    }, Math.max(0, next - Date.now()) + 1);
    this.#ejectionTimer.unref();
  }

  #pool(name: string): PoolState {
    const pool = this.#pools.get(name);
    if (pool === undefined) throw new UnknownPoolError(name);
    return pool;
  }

  #backend(pool: PoolState, id: string): BackendState {
    const backend = pool.backends.get(id);
    if (backend === undefined) throw new UnknownBackendError(pool.config.name, id);
    return backend;
  }

  // ---- AdminControl -------------------------------------------------------------------------------

  pools(): readonly PoolStatus[] {
    return [...this.#pools.values()].map((pool) => this.#status(pool));
  }

  pool(name: string): PoolStatus {
    return this.#status(this.#pool(name));
  }

  // Every mutation validates and checks capacity first, so one it refuses has changed nothing.

  replaceBackends(name: string, specs: readonly BackendSpec[]): PoolStatus {
    const pool = this.#pool(name);
    const backends = normalizePoolBackends(specs, "backends");
    this.#checkCapacity(new Map([[name, backends]]), false);
    const wanted = new Set(backends.map(backendId));
    for (const backend of pool.backends.values()) {
      if (!wanted.has(backend.id)) this.#drain(pool, backend, true);
    }
    for (const backend of backends) this.#addBackend(pool, backend, true);
    this.#syncHealth(pool);
    this.#broadcast();
    return this.#status(pool);
  }

  addBackend(name: string, spec: BackendSpec): PoolStatus {
    const pool = this.#pool(name);
    const [backend] = normalizePoolBackends([spec], "backend");
    this.#checkCapacity(new Map([[name, [backend]]]), false);
    this.#addBackend(pool, backend, true);
    this.#syncHealth(pool);
    this.#broadcast();
    return this.#status(pool);
  }

  removeBackend(name: string, id: string): PoolStatus {
    const pool = this.#pool(name);
    this.#drain(pool, this.#backend(pool, id), true);
    this.#broadcast();
    return this.#status(pool);
  }

  setWeight(name: string, id: string, weight: number): PoolStatus {
    const pool = this.#pool(name);
    this.#backend(pool, id).weight = weight;
    this.#broadcast();
    return this.#status(pool);
  }

  drainBackend(name: string, id: string): PoolStatus {
    const pool = this.#pool(name);
    this.#drain(pool, this.#backend(pool, id), false);
    this.#broadcast();
    return this.#status(pool);
  }

  workers(): readonly WorkerStatus[] {
    return this.#workers.map((w) => ({
      index: w.index,
      threadId: w.worker.threadId,
      restarts: w.restarts,
      serving: !w.exited && this.#listeners.every((l) => w.listening.has(l.name)),
    }));
  }

  metrics(): Promise<{ readonly contentType: string; readonly body: string }> {
    this.#exporter ??= import("./stats/exporter.ts").then(({ MetricsExporter }) =>
      new MetricsExporter(this.#reader, () => this.pools(), () => ({
        acceptFailures: this.#acceptFailureCounts(),
        descriptorsExhausted: this.#descriptorsExhausted !== null,
        validation: this.validationCounts(),
      })));
    return this.#exporter.then((exporter) => exporter.text());
  }

  traffic(): TrafficCounts {
    this.#reader.sample();
    const r = this.#reader;
    const classes = (read: (field: number) => number, first: number) => [0, 1, 2, 3, 4].map((i) => read(first + i));
    return {
      pools: this.pools().map((pool) => ({
        name: pool.name,
        responses: classes((f) => r.pool(pool.slot, f), POOL.RESPONSES_1XX),
        inFlight: r.pool(pool.slot, POOL.IN_FLIGHT),
        clientConnections: r.pool(pool.slot, POOL.CLIENT_CONNECTIONS),
        rejected: r.pool(pool.slot, POOL.REJECTED),
        noBackend: r.pool(pool.slot, POOL.NO_BACKEND),
        held: r.pool(pool.slot, POOL.HELD),
        backends: pool.backends.map((b) => ({
          id: b.id,
          responses: classes((f) => r.backend(b.slot, f), BACKEND.RESPONSES_1XX),
          connections: r.backend(b.slot, BACKEND.CONNECTIONS),
          errors: r.backend(b.slot, BACKEND.CONNECT_ERRORS) + r.backend(b.slot, BACKEND.UPSTREAM_ERRORS) + r.backend(b.slot, BACKEND.TIMEOUTS),
        })),
      })),
    };
  }

  /** Every listener's accept failures so far, 0 for those that had none. */
  #acceptFailureCounts(): ReadonlyMap<string, number> {
    const counts = new Map(this.#listeners.map((l) => [l.name, 0]));
    for (const [name, count] of this.#acceptFailures) counts.set(name, count);
    return counts;
  }

  #status(pool: PoolState): PoolStatus {
    const now = Date.now();
    const routable = new Set(this.#routableSet(pool));
    const backends: BackendStatus[] = [...pool.backends.values()].map((b) => {
      const ejectedUntil = pool.outlier.ejectedUntil(b.id);
      return {
        id: b.id,
        address: b.address,
        port: b.port,
        weight: b.weight,
        lifecycle: b.lifecycle,
        healthy: pool.checker?.isHealthy(b.id) ?? true,
        ejectedUntil: ejectedUntil > 0 ? ejectedUntil : null,
        ejections: pool.outlier.ejectionCount(b.id),
        warmUntil: b.warmUntil > now ? b.warmUntil : null,
        routable: routable.has(b),
        backup: b.backup,
        inFlight: this.#reader.backend(b.slot, BACKEND.IN_FLIGHT),
        slot: b.slot,
      };
    });
    return { name: pool.config.name, policy: pool.config.policy, backends, slot: pool.slot };
  }

  // ---- operations ---------------------------------------------------------------------------------

  /** Terminates one worker thread as a crash would; the supervisor replaces it. */
  async killWorker(index: number): Promise<void> {
    await this.#workers[index]?.worker.terminate();
  }

  /**
   * Applies a new configuration without dropping traffic: pools and backends are diffed (removed
   * backends drain), listeners that keep their address and port keep their sockets. Everything that
   * can fail (capacity, binding new listeners and a moved admin API) is done before anything is
   * swapped, so a refused reload leaves the balancer exactly as it was, every worker included.
   */
  reload(config: ProxyConfig): Promise<void> {
    const run = this.#reloading.then(() => this.#reload(config));
    this.#reloading = run.catch(() => {});
    return run;
  }

  async #reload(config: ProxyConfig): Promise<void> {
    if (this.#stopping) throw new Error("the balancer is stopping");
    const pools = new Map(config.pools.map((p) => [p.name, p.backends]));
    this.#checkCapacity(pools, true);
    const change = await this.#prepare(config);
    try {
      if (this.#stopping) throw new Error("the balancer is stopping");
      // The admin API may have added backends while the listeners were being bound.
      this.#checkCapacity(pools, true);
    } catch (error) {
      await this.#abort(change);
      throw error;
    }
    // ---- commit: nothing from here on can refuse the change.
    this.#applyPools(config.pools);
    this.#config = { ...config, workers: this.#config.workers };
    this.#listeners = change.listeners;
    const retired = this.#commitAdmin(change.admin);
    await this.#settle();
    await retired?.close();
  }

  /** Binds what the change needs bound (new listeners, a moved admin API); throws, having bound nothing, if any cannot be. */
  async #prepare(config: ProxyConfig): Promise<PreparedChange> {
    const admin = this.#planAdmin(config.admin);
    const { listeners, prepared } = await this.#prepareListeners(config.listeners);
    if (admin.kind !== "bind") return { listeners, prepared, admin };
    try {
      this.#pendingAdmin = await startAdminServer(admin.config, this);
    } catch (error) {
      this.#abortListeners(prepared);
      throw error;
    }
    return { listeners, prepared, admin: { kind: "replace", config: admin.config, server: this.#pendingAdmin } };
  }

  async #abort(change: PreparedChange): Promise<void> {
    this.#abortListeners(change.prepared);
    if (change.admin.kind === "replace") {
      this.#pendingAdmin = null;
      await change.admin.server.close();
    }
  }

  /** What becomes of the admin API; throws (binding nothing) what the new config's admin API would refuse. */
  #planAdmin(next: AdminConfig | null): AdminPlan {
    const current = this.#adminConfig;
    if (next === null) return current === null ? { kind: "keep" } : { kind: "close" };
    checkAdminConfig(next);
    if (current !== null && this.#admin !== null && current.address === next.address &&
      (next.port === 0 ? current.port === 0 : next.port === this.#admin.port)) {
      return current.tokenSha256 === next.tokenSha256 ? { kind: "keep" } : { kind: "retoken", config: next };
    }
    return { kind: "bind", config: next };
  }

  /** Puts the planned admin API in place; returns the server it retired, for the caller to close. */
  #commitAdmin(plan: AdminChange): AdminServer | null {
    const retired = this.#admin;
    switch (plan.kind) {
      case "keep":
        return null;
      case "retoken":
        this.#admin!.setTokenSha256(plan.config.tokenSha256);
        this.#adminConfig = plan.config;
        return null;
      case "close":
        this.#admin = null;
        this.#adminConfig = null;
        return retired;
      case "replace":
        this.#pendingAdmin = null;
        this.#admin = plan.server;
        this.#adminConfig = plan.config;
        return retired;
    }
  }

  /** Pools become what `configs` says: removed ones go, kept ones are diffed (removed backends drain), new ones start. */
  #applyPools(configs: readonly PoolConfig[]): void {
    const wantedPools = new Set(configs.map((p) => p.name));
    for (const [name, pool] of this.#pools) {
      if (wantedPools.has(name)) continue;
      pool.checker?.close();
      for (const backend of pool.backends.values()) this.#freeBackendSlots.push(backend.slot);
      this.#freePoolSlots.push(pool.slot);
      this.#pools.delete(name);
    }
    for (const poolConfig of configs) {
      const pool = this.#pools.get(poolConfig.name);
      if (pool === undefined) {
        this.#addPool(poolConfig);
        continue;
      }
      const healthChanged = JSON.stringify(pool.config.healthCheck) !== JSON.stringify(poolConfig.healthCheck);
      pool.config = poolConfig;
      if (healthChanged) this.#configureHealth(pool);
      const wanted = new Set(poolConfig.backends.map(backendId));
      for (const backend of pool.backends.values()) {
        if (!wanted.has(backend.id)) this.#drain(pool, backend, true);
      }
      for (const backend of poolConfig.backends) this.#addBackend(pool, backend, true);
      this.#syncHealth(pool);
    }
  }

  #adminConfig: ProxyConfig["admin"] = null;

  /**
   * Graceful stop: listeners close, in-flight requests finish (up to the drain timeout), idle
   * keep-alive connections close, then the workers and the admin API stop.
   */
  async shutdown(drainTimeoutMs = this.#config.drainTimeoutMs): Promise<{ readonly drained: boolean }> {
    if (this.#stopping) return { drained: true };
    this.#stopping = true;
    for (const slot of this.#workers) slot.worker.postMessage({ type: "drain" } satisfies SupervisorMessage);
    const deadline = Date.now() + drainTimeoutMs;
    while (this.#workers.some((w) => !w.drained) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const drained = this.#workers.every((w) => w.drained);
    await this.#teardown();
    return { drained };
  }

  async #teardown(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#sampler);
    if (this.#drainPoller !== null) clearInterval(this.#drainPoller);
    if (this.#ejectionTimer !== null) clearTimeout(this.#ejectionTimer);
    for (const pool of this.#pools.values()) pool.checker?.close();
    this.#rejectListenWaiters(new Error("balancer stopped"));
    await Promise.all(this.#workers.map((w) => {
      w.stopping = true;
      return w.worker.terminate();
    }));
    await Promise.all([this.#admin?.close(), this.#pendingAdmin?.close()]);
    this.#admin = null;
    this.#pendingAdmin = null;
  }
}

/**
 * Workers share the main thread's compile cache, when it has one: a cached module skips type
 * stripping, and with it the ~25 MB that the stripper's WebAssembly memory costs each thread.
 */
function workerEnvironment(): NodeJS.ProcessEnv {
  const cache = module.getCompileCacheDir?.();
  return cache === undefined ? process.env : { ...process.env, NODE_COMPILE_CACHE: cache };
}

function snapshotOf(b: BackendState): BackendSnapshot {
  return { id: b.id, address: b.address, port: b.port, weight: b.weight, slot: b.slot, warmUntil: b.warmUntil };
}
