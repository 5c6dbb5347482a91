// The supervisor: the main thread of a running balancer. It owns the configuration and every
// backend's state (lifecycle, health, ejection, warm-up), turns them into immutable pool snapshots for
// the workers, replaces a worker that dies, serves the admin API and metrics, and drains on shutdown.
// Workers never share mutable balancing state; they only write counters into shared memory.

import module from "node:module";
import { Worker } from "node:worker_threads";
import { backendId, type BackendConfig, type BackendSpec, type ListenerConfig, type PoolConfig, type ProxyConfig } from "./config.ts";
import { startAdminServer, type AdminServer } from "./admin/server.ts";
import { ListenError, StatsCapacityError, UnknownBackendError, UnknownPoolError } from "./errors.ts";
import { ActiveHealthChecker } from "./health/active-checker.ts";
import { OutlierDetector } from "./health/outlier-detector.ts";
import type { BackendSnapshot, PoolSnapshot, SupervisorMessage, WorkerMessage } from "./messages.ts";
import type { MetricsExporter } from "./stats/exporter.ts";
import { BACKEND, OUTLIER_STRIDE, allocateSharedStats, type SharedStats } from "./stats/layout.ts";
import { StatsReader } from "./stats/reader.ts";
import type { AdminControl, BackendLifecycle, BackendStatus, PoolStatus, WorkerStatus } from "./status.ts";

const WORKER_URL = new URL("./worker.ts", import.meta.url);
const POOL_CAPACITY = 64;
const BACKEND_CAPACITY = 4096;
const SAMPLE_INTERVAL_MS = 1000;
const DRAIN_POLL_MS = 50;
const MAX_RESTART_DELAY_MS = 5000;
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
  restarts: number;
  drained: boolean;
  /** The worker is being replaced or stopped on purpose. */
  stopping: boolean;
  /** The uncaught error it died of, if it died of one. */
  error: string | null;
}

export interface ResolvedListener {
  readonly name: string;
  readonly protocol: ListenerConfig["protocol"];
  readonly address: string;
  readonly port: number;
}

export type BalancerEvent =
  /** A worker died; `error` is the uncaught error that ended it, when one did. */
  | { readonly type: "worker-exit"; readonly index: number; readonly code: number; readonly error: string | null }
  | { readonly type: "backend-health"; readonly pool: string; readonly backend: string; readonly healthy: boolean }
  | { readonly type: "backend-ejected"; readonly pool: string; readonly backend: string; readonly until: number }
  | { readonly type: "backend-returned"; readonly pool: string; readonly backend: string }
  | { readonly type: "backend-drained"; readonly pool: string; readonly backend: string };

export interface BalancerOptions {
  /** Called for notable events (the CLI logs them). */
  readonly onEvent?: (event: BalancerEvent) => void;
}

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
  readonly #onEvent: (event: BalancerEvent) => void;
  /** Waiters for listener results of a worker, keyed by listener name. */
  readonly #listenWaiters = new Map<string, { resolve: (port: number) => void; reject: (error: Error) => void }>();

  private constructor(config: ProxyConfig, options: BalancerOptions) {
    this.#config = config;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#stats = allocateSharedStats({ workers: config.workers, pools: POOL_CAPACITY, backends: BACKEND_CAPACITY });
    this.#reader = new StatsReader(this.#stats);
    this.#sampler = setInterval(() => this.#reader.sample(), SAMPLE_INTERVAL_MS);
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
    for (const pool of this.#config.pools) this.#addPool(pool);
    // The first worker opens the listeners alone, so that a port 0 becomes one real port that the
    // others then share.
    this.#workers.push(this.#spawn(0));
    this.#listeners = await this.#openListeners(this.#config.listeners);
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

  #spawn(index: number, restarts = 0): WorkerSlot {
    const worker = new Worker(WORKER_URL, {
      workerData: { index, stats: this.#stats },
      env: workerEnvironment(),
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    const slot: WorkerSlot = { index, worker, applied: 0, restarts, drained: false, stopping: false, error: null };
    worker.on("message", (message: WorkerMessage) => this.#onWorkerMessage(slot, message));
    worker.on("error", (error) => (slot.error = error.stack ?? String(error)));
    worker.on("exit", (code) => this.#onWorkerExit(slot, code));
    worker.postMessage(this.#configureMessage());
    return slot;
  }

  #onWorkerExit(slot: WorkerSlot, code: number): void {
    if (slot.stopping || this.#stopping || this.#workers[slot.index] !== slot) return;
    this.#onEvent({ type: "worker-exit", index: slot.index, code, error: slot.error });
    // Its requests died with it; its counters stay so totals remain monotonic.
    this.#reader.clearWorkerGauges(slot.index);
    const delay = Math.min(MAX_RESTART_DELAY_MS, slot.restarts === 0 ? 0 : 100 * 2 ** Math.min(slot.restarts, 6));
    setTimeout(() => {
      if (this.#stopping || this.#workers[slot.index] !== slot) return;
      this.#workers[slot.index] = this.#spawn(slot.index, slot.restarts + 1);
    }, delay).unref();
  }

  #onWorkerMessage(slot: WorkerSlot, message: WorkerMessage): void {
    switch (message.type) {
      case "applied":
        slot.applied = message.version;
        return;
      case "listening":
        this.#listenWaiters.get(message.listener)?.resolve(message.port);
        return;
      case "listen-failed": {
        const config = this.#listeners.find((l) => l.name === message.listener) ??
          this.#config.listeners.find((l) => l.name === message.listener);
        const error = new ListenError(message.listener, config?.address ?? "?", config?.port ?? 0, new Error(message.message));
        this.#listenWaiters.get(message.listener)?.reject(error);
        return;
      }
      case "outlier":
        this.#onOutlier(message.pool, message.backend, message.reason);
        return;
      case "drained":
        slot.drained = true;
        return;
    }
  }

  /** Opens listeners on worker 0 first and learns their ports; returns the configs with real ports. */
  async #openListeners(wanted: readonly ListenerConfig[]): Promise<ListenerConfig[]> {
    const known = new Map(this.#listeners.map((l) => [l.name, l]));
    const resolved: ListenerConfig[] = [];
    const fresh: Promise<void>[] = [];
    for (const config of wanted) {
      const existing = known.get(config.name);
      const reusable = existing !== undefined && existing.address === config.address &&
        (config.port === 0 || existing.port === config.port);
      if (reusable) {
        resolved.push({ ...config, port: existing.port });
        continue;
      }
      const entry = { ...config };
      resolved.push(entry);
      fresh.push(new Promise<number>((resolve, reject) => {
        this.#listenWaiters.set(config.name, { resolve, reject });
      }).then((port) => {
        entry.port = port;
      }).finally(() => this.#listenWaiters.delete(config.name)));
    }
    if (fresh.length === 0) return resolved;
    // Worker 0 binds the new listeners (port 0 included) and tells the ports it got.
    this.#workers[0].worker.postMessage(this.#configureMessage(resolved));
    await Promise.all(fresh);
    return resolved;
  }

  // ---- snapshots ----------------------------------------------------------------------------------

  #configureMessage(listeners: readonly ListenerConfig[] = this.#listeners): SupervisorMessage {
    return {
      type: "configure",
      version: this.#version,
      listeners,
      http: this.#config.http,
      pools: [...this.#pools.values()].map((pool) => this.#snapshot(pool)),
    };
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
    while (this.#workers.some((w) => w.applied < version)) {
      if (Date.now() > deadline) throw new Error("workers did not apply the configuration within 10 s");
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  // ---- pools and backends -------------------------------------------------------------------------

  #addPool(config: PoolConfig): void {
    const slot = this.#freePoolSlots.pop() ?? this.#nextPoolSlot++;
    if (slot >= POOL_CAPACITY) throw new StatsCapacityError("pool", POOL_CAPACITY);
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
    const slot = this.#freeBackendSlots.pop() ?? this.#nextBackendSlot++;
    if (slot >= BACKEND_CAPACITY) throw new StatsCapacityError("backend", BACKEND_CAPACITY);
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

  replaceBackends(name: string, backends: readonly BackendSpec[]): PoolStatus {
    const pool = this.#pool(name);
    const wanted = new Set(backends.map(backendId));
    for (const backend of pool.backends.values()) {
      if (!wanted.has(backend.id)) this.#drain(pool, backend, true);
    }
    for (const spec of backends) this.#addBackend(pool, withDefaults(spec), true);
    this.#syncHealth(pool);
    this.#broadcast();
    return this.#status(pool);
  }

  addBackend(name: string, spec: BackendSpec): PoolStatus {
    const pool = this.#pool(name);
    this.#addBackend(pool, withDefaults(spec), true);
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
    return this.#workers.map((w) => ({ index: w.index, threadId: w.worker.threadId, restarts: w.restarts }));
  }

  metrics(): Promise<{ readonly contentType: string; readonly body: string }> {
    this.#exporter ??= import("./stats/exporter.ts").then(({ MetricsExporter }) => new MetricsExporter(this.#reader, () => this.pools()));
    return this.#exporter.then((exporter) => exporter.text());
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
   * backends drain), listeners that keep their address and port keep their sockets.
   */
  async reload(config: ProxyConfig): Promise<void> {
    const wantedPools = new Set(config.pools.map((p) => p.name));
    for (const [name, pool] of this.#pools) {
      if (wantedPools.has(name)) continue;
      pool.checker?.close();
      for (const backend of pool.backends.values()) this.#freeBackendSlots.push(backend.slot);
      this.#freePoolSlots.push(pool.slot);
      this.#pools.delete(name);
    }
    for (const poolConfig of config.pools) {
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
    this.#config = { ...config, workers: this.#config.workers };
    this.#listeners = await this.#openListeners(config.listeners);
    await this.#settle();
    if (JSON.stringify(config.admin) !== JSON.stringify(this.#adminConfig)) {
      await this.#admin?.close();
      this.#admin = config.admin === null ? null : await startAdminServer(config.admin, this);
      this.#adminConfig = config.admin;
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
    for (const waiter of this.#listenWaiters.values()) waiter.reject(new Error("balancer stopped"));
    await Promise.all(this.#workers.map((w) => {
      w.stopping = true;
      return w.worker.terminate();
    }));
    await this.#admin?.close();
    this.#admin = null;
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

function withDefaults(spec: BackendSpec): BackendConfig {
  return { address: spec.address, port: spec.port, weight: spec.weight ?? 1, backup: spec.backup ?? false };
}
