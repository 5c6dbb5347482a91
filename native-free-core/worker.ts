// What runs inside each worker thread: its listeners (all workers bind the same ports with
// reusePort, and the kernel spreads connections), its copy of the pools, and the sweep that enforces
// deadlines. Configuration arrives as snapshots from the supervisor; statistics leave through shared
// memory; the only messages back are acknowledgements, listener results and outlier reports.

import module, { createRequire } from "node:module";
import net from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { DEFAULT_HTTP_LIMITS, type ListenerConfig } from "./config.ts";
import { ClientSession } from "./http/client-session.ts";
import type { SupervisorMessage, WorkerInit, WorkerMessage } from "./messages.ts";
import { TcpSession } from "./tcp/tcp-session.ts";
import type * as ContractCheckModule from "./validation/contract-check.ts";
import { WorkerEnvironment, type ListenerRuntime, type ListenerValidation } from "./worker/environment.ts";
import { PoolRuntime } from "./worker/pool-runtime.ts";
import { StatsWriter } from "./worker/stats-writer.ts";

const SWEEP_INTERVAL_MS = 250;

// Every module of the worker is loaded by now. Where the process runs with Node's compile cache
// (the farmhand CLI turns it on), write it at once rather than at exit, which a killed process never
// reaches: later starts then skip type stripping, and hold about 25 MB less per worker.
module.flushCompileCache?.();

interface OpenListener {
  config: ListenerConfig;
  readonly runtime: ListenerRuntime;
  readonly server: net.Server;
  /**
   * Connections accepted while the listener is only prepared for a change, unserved (null once it
   * serves): the commit serves them; if the change is refused they go to the listener already open
   * on the same port, when there is one.
   */
  held: net.Socket[] | null;
}

const port = parentPort!;
const init = workerData as WorkerInit;
const stats = new StatsWriter(init.stats, init.index);
const pools = new Map<string, PoolRuntime>();
const listeners = new Map<string, OpenListener>();
/** Listeners bound for a change that is not committed yet (only worker 0 has any), by name. */
const prepared = new Map<string, OpenListener>();
const env = new WorkerEnvironment(
  DEFAULT_HTTP_LIMITS,
  init.instanceId,
  stats,
  (backend, reason) => post({ type: "outlier", pool: backend.pool.name, backend: backend.id, reason }),
  () => post({ type: "drained" }),
  (error, count) => post({ type: "session-fault", error, count }),
);

function post(message: WorkerMessage): void {
  port.postMessage(message);
}

port.on("message", (message: SupervisorMessage) => {
  switch (message.type) {
    case "configure":
      env.setLimits(message.http);
      env.setValidationOptions(message.validation);
      validationSlots = message.validationSlots;
      applyPools(message);
      applyListeners(message.listeners);
      post({ type: "applied", version: message.version });
      return;
    case "drain":
      drain();
      return;
    case "prepare-listeners":
      for (const config of message.listeners) prepare(config);
      return;
    case "abort-listeners":
      for (const name of message.names) abortPrepared(name);
      return;
    case "kill-validation-threads":
      void env.validationPool.threads().then((threads) => {
        for (const thread of threads) void thread.terminate();
      });
      return;
  }
});

/** The counter slot of each validated listener, from the latest snapshot. */
let validationSlots: Readonly<Record<string, number>> = {};

// TypeBox's compiler is loaded only by a worker that has a contract to check.
const requireLazily = createRequire(import.meta.url);

function validationOf(config: ListenerConfig): ListenerValidation | null {
  if (config.validate === null || config.protocol !== "http") return null;
  const slot = validationSlots[config.name];
  if (slot === undefined) return null;
  const { contractCheck } = requireLazily("./validation/contract-check.ts") as typeof ContractCheckModule;
  return { check: contractCheck(config.validate, config.contract), contract: config.contract, statsBase: stats.validationBase(slot) };
}

function applyPools(message: Extract<SupervisorMessage, { type: "configure" }>): void {
  const orphans = [];
  const names = new Set<string>();
  for (const snapshot of message.pools) {
    names.add(snapshot.name);
    let pool = pools.get(snapshot.name);
    if (pool === undefined) {
      pool = new PoolRuntime(snapshot.name, stats);
      pools.set(snapshot.name, pool);
    }
    orphans.push(...pool.apply(snapshot));
  }
  for (const [name, pool] of pools) {
    if (names.has(name)) continue;
    pools.delete(name);
    // A removed pool holds nothing: its held requests are answered now.
    orphans.push(...pool.apply({ ...emptySnapshot, name, slot: pool.slot, upstream: { ...pool.upstream, emptyPoolHold: 0 } }));
  }
  for (const open of listeners.values()) {
    open.runtime.pool = pools.get(open.config.pool);
    open.runtime.routes = routesOf(open.config);
    open.runtime.validation = validationOf(open.config);
  }
  // Requests queued for backends that just left are sent to the ones that remain; held requests, to
  // the backends that just came.
  for (const user of orphans) user.onBackendRetired();
}

const emptySnapshot = {
  policy: "random",
  hashKey: { kind: "client-address" },
  slowStartMs: 0,
  consecutive5xx: 0,
  consecutiveConnectFailures: 0,
  routable: [],
  standby: [],
} as const;

function applyListeners(configs: readonly ListenerConfig[]): void {
  if (env.draining) return;
  const wanted = new Set(configs.map((l) => l.name));
  for (const [name, open] of listeners) {
    if (!wanted.has(name)) {
      open.server.close();
      listeners.delete(name);
    }
  }
  for (const config of configs) {
    const open = listeners.get(config.name);
    const ready = prepared.get(config.name);
    if (ready !== undefined && ready.config.address === config.address && ready.config.port === config.port) {
      prepared.delete(config.name);
      open?.server.close();
      commit(ready, config);
      continue;
    }
    if (open !== undefined && open.config.address === config.address && open.config.port === config.port) {
      // Same socket: only where new connections go, and how they are spoken to, changes.
      open.config = config;
      open.runtime.pool = pools.get(config.pool);
      open.runtime.wellKnown = wellKnownResponse(config);
      open.runtime.routes = routesOf(config);
      open.runtime.validation = validationOf(config);
      continue;
    }
    if (open !== undefined) {
      open.server.close();
      listeners.delete(config.name);
    }
    listen(config);
  }
}

/** Binds a listener for a change; it serves only once a configure commits it. */
function prepare(config: ListenerConfig): void {
  if (env.draining) return post({ type: "prepare-failed", listener: config.name, message: "the worker is draining" });
  // A leftover of an earlier change that was neither committed nor aborted.
  abortPrepared(config.name);
  listen(config, true);
}

/** Puts a prepared listener in service, with the configuration that committed it. */
function commit(open: OpenListener, config: ListenerConfig): void {
  open.config = config;
  open.runtime.pool = pools.get(config.pool);
  open.runtime.wellKnown = wellKnownResponse(config);
  open.runtime.routes = routesOf(config);
  open.runtime.validation = validationOf(config);
  listeners.set(config.name, open);
  const held = open.held ?? [];
  open.held = null;
  for (const socket of held) handOver(socket, open);
}

/** Closes a prepared listener of a refused change. */
function abortPrepared(name: string): void {
  const ready = prepared.get(name);
  if (ready === undefined) return;
  prepared.delete(name);
  ready.server.close();
  const held = ready.held ?? [];
  ready.held = null;
  // With reusePort, the kernel may have given the new socket connections meant for the open
  // listener whose port it shares.
  const sibling = [...listeners.values()].find((o) => o.config.address === ready.config.address && o.config.port === ready.config.port);
  for (const socket of held) {
    if (sibling !== undefined) handOver(socket, sibling);
    else socket.destroy();
  }
}

/** Serves a held connection on `to`, as if `to` had accepted it. */
function handOver(socket: net.Socket, to: OpenListener): void {
  if (socket.destroyed) return;
  to.server.emit("connection", socket);
  socket.off("error", ignore);
}

function ignore(): void {}

function listen(config: ListenerConfig, forChange = false): void {
  const runtime: ListenerRuntime = {
    name: config.name,
    pool: pools.get(config.pool),
    wellKnown: wellKnownResponse(config),
    routes: routesOf(config),
    validation: validationOf(config),
  };
  const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false });
  const open: OpenListener = { config, runtime, server, held: forChange ? [] : null };
  const registry = forChange ? prepared : listeners;
  server.on("connection", (socket) => {
    if (open.held !== null) {
      // Nothing reads it yet, so an error (a reset) must not go unhandled and end the worker.
      socket.on("error", ignore);
      open.held.push(socket);
      return;
    }
    if (open.config.protocol === "tcp") new TcpSession(socket, env, runtime);
    else new ClientSession(socket, env, runtime);
  });
  let listening = false;
  server.on("error", (error: NodeJS.ErrnoException) => {
    if (listening) {
      // An accept that failed (out of file descriptors, say): the listener itself is fine and keeps
      // accepting once the cause passes, so it stays; the supervisor is told, at most once a second.
      acceptFailed(config.name, error.code ?? "UNKNOWN");
      return;
    }
    if (registry.get(config.name) === open) registry.delete(config.name);
    post({ type: forChange ? "prepare-failed" : "listen-failed", listener: config.name, message: error.message });
  });
  server.listen({ host: config.address, port: config.port, reusePort: true, backlog: 4096 }, () => {
    listening = true;
    const address = server.address() as net.AddressInfo;
    // Remember the port really bound (port 0 asks for any), so the next snapshot, which names it,
    // is seen as the same listener and not rebound.
    open.config = { ...open.config, port: address.port };
    post({ type: forChange ? "prepared" : "listening", listener: config.name, address: address.address, port: address.port });
  });
  registry.set(config.name, open);
}

/** Accept failures per listener since the last report, and when that report went out. */
const acceptFailures = new Map<string, { count: number; reportedAt: number; code: string }>();

function acceptFailed(listener: string, code: string): void {
  let entry = acceptFailures.get(listener);
  if (entry === undefined) acceptFailures.set(listener, (entry = { count: 0, reportedAt: -Infinity, code }));
  entry.count++;
  entry.code = code;
  reportAcceptFailures(listener, entry, performance.now());
}

function reportAcceptFailures(listener: string, entry: { count: number; reportedAt: number; code: string }, now: number): void {
  if (entry.count === 0 || now - entry.reportedAt < 1000) return;
  post({ type: "accept-failed", listener, code: entry.code, count: entry.count });
  entry.reportedAt = now;
  entry.count = 0;
}

function routesOf(config: ListenerConfig): ListenerRuntime["routes"] {
  return [...config.routes]
    .sort((a, b) => b.prefix.length - a.prefix.length)
    .map((r) => ({ prefix: r.prefix, pool: pools.get(r.pool) }));
}

/** What a listener that serves a contract says about itself: a farm checks it before routing there. */
function wellKnownResponse(config: ListenerConfig): Buffer | null {
  if (config.contract === null) return null;
  const body = JSON.stringify({ balancer: config.name, provides: { api: config.contract } });
  return Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n\r\n${body}`,
    "latin1",
  );
}

function drain(): void {
  env.draining = true;
  for (const name of [...prepared.keys()]) abortPrepared(name);
  for (const open of listeners.values()) open.server.close();
  listeners.clear();
  for (const session of [...env.sessions]) session.drain();
  if (env.sessions.size === 0) post({ type: "drained" });
}

setInterval(() => {
  const now = performance.now();
  env.coarseNow = now;
  for (const [listener, entry] of acceptFailures) reportAcceptFailures(listener, entry, now);
  for (const session of env.sessions) session.sweep(now);
  for (const pool of pools.values()) {
    const cutoff = now - pool.upstream.idleTimeoutMs;
    for (const backend of pool.backends.values()) backend.connections.closeIdle(cutoff);
    pool.collect();
  }
}, SWEEP_INTERVAL_MS);
