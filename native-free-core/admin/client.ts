// The admin API spoken from the other side: a typed client for what admin/server.ts serves, so that
// no caller builds its paths, headers or response shapes by hand. The control plane reaches every
// balancer VM through this (or through an in-memory balancer of the same interface, in simulation).

import { request } from "undici";
import type { BackendSpec } from "../config.ts";
import { AdminCallError } from "../errors.ts";
import { readLimitedText } from "../net/read-limited.ts";
import type { BackendStatus, PoolStatus, WorkerStatus } from "../status.ts";

/** A pool as the admin API shows it (shared-memory slots stay inside the balancer). */
export type AdminPool = Omit<PoolStatus, "slot" | "backends"> & { readonly backends: readonly AdminBackend[] };
export type AdminBackend = Omit<BackendStatus, "slot">;

/** Everything a controller asks of a running balancer. */
export interface BalancerAdmin {
  /** Resolves once the admin API answers GET /healthz; rejects with AdminCallError otherwise. */
  health(): Promise<void>;
  pools(): Promise<readonly AdminPool[]>;
  pool(name: string): Promise<AdminPool>;
  /** Makes the pool's backends exactly these: the others drain and go, new ones warm up. */
  replaceBackends(pool: string, backends: readonly BackendSpec[]): Promise<AdminPool>;
  addBackend(pool: string, backend: BackendSpec): Promise<AdminPool>;
  /** Drains the backend and forgets it; one already gone is no error (returns null). */
  removeBackend(pool: string, id: string): Promise<AdminPool | null>;
  drainBackend(pool: string, id: string): Promise<AdminPool>;
  setWeight(pool: string, id: string, weight: number): Promise<AdminPool>;
  workers(): Promise<readonly WorkerStatus[]>;
  /** The Prometheus exposition text of every worker. */
  metrics(): Promise<string>;
}

export interface AdminClientOptions {
  /** The bearer token; null for a balancer without one (loopback only). */
  readonly token: string | null;
  /** Each call's deadline for the response head and body. Default 5 000 ms. */
  readonly timeoutMs?: number;
}

/** The most of an answer read: /metrics of a large pool on every worker is the biggest by far. */
const ADMIN_BODY_LIMIT = 16 * 1024 * 1024;

/** A client for the admin API at `baseUrl` ("http://127.0.1.5:9901"). */
export function adminClient(baseUrl: string, options: AdminClientOptions): BalancerAdmin {
  const timeout = options.timeoutMs ?? 5_000;
  const headers: Record<string, string> = options.token === null ? {} : { authorization: `Bearer ${options.token}` };

  async function call<T>(method: string, path: string, body?: unknown, absentIsNull = false): Promise<T> {
    const what = `${method} ${baseUrl}${path}`;
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`${baseUrl}${path}`, {
        method: method as "GET",
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (error) {
      throw new AdminCallError(what, 0, null, (error as Error).message);
    }
    let text: string;
    try {
      text = await readLimitedText(response.body, ADMIN_BODY_LIMIT, what);
    } catch (error) {
      throw new AdminCallError(what, response.statusCode, null, (error as Error).message);
    }
    if (response.statusCode === 404 && absentIsNull) return null as T;
    if (response.statusCode >= 300) {
      let reason: string | null = null;
      let detail = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        reason = parsed.error?.code ?? null;
        detail = parsed.error?.message ?? detail;
      } catch {}
      throw new AdminCallError(what, response.statusCode, reason, detail);
    }
    const type = String(response.headers["content-type"] ?? "");
    return (type.startsWith("application/json") ? JSON.parse(text) : text) as T;
  }

  const enc = encodeURIComponent;
  return {
    health: () => call<unknown>("GET", "/healthz").then(() => undefined),
    pools: () => call<{ pools: AdminPool[] }>("GET", "/pools").then((r) => r.pools),
    pool: (name) => call<AdminPool>("GET", `/pools/${enc(name)}`),
    replaceBackends: (pool, backends) => call<AdminPool>("PUT", `/pools/${enc(pool)}/backends`, backends),
    addBackend: (pool, backend) => call<AdminPool>("POST", `/pools/${enc(pool)}/backends`, backend),
    removeBackend: (pool, id) => call<AdminPool | null>("DELETE", `/pools/${enc(pool)}/backends/${enc(id)}`, undefined, true),
    drainBackend: (pool, id) => call<AdminPool>("POST", `/pools/${enc(pool)}/backends/${enc(id)}/drain`),
    setWeight: (pool, id, weight) => call<AdminPool>("PATCH", `/pools/${enc(pool)}/backends/${enc(id)}`, { weight }),
    workers: () => call<{ workers: WorkerStatus[] }>("GET", "/workers").then((r) => r.workers),
    metrics: () => call<string>("GET", "/metrics"),
  };
}
