// Starts a real balancer (supervisor and worker threads) for a test, on ephemeral loopback ports.

import { startBalancer, type Balancer } from "../../native-free-core/index.ts";
import type { TestBackend } from "./backends.ts";

export interface ProxyUnderTest {
  readonly balancer: Balancer;
  /** Port of the first HTTP listener. */
  readonly port: number;
  /** Port of the first TCP listener, when there is one. */
  readonly tcpPort: number;
  readonly url: string;
  stop(): Promise<void>;
}

/** A one-pool proxy in front of `backends`; `pool` and `extra` override fields of the generated config. */
export async function startProxy(
  backends: readonly TestBackend[],
  pool: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<ProxyUnderTest> {
  const config = {
    workers: 2,
    listeners: [
      { name: "http", protocol: "http", address: "127.0.0.1", port: 0, pool: "p" },
      { name: "tcp", protocol: "tcp", address: "127.0.0.1", port: 0, pool: "p" },
    ],
    pools: [{ name: "p", backends: backends.map((b) => ({ address: b.address, port: b.port })), ...pool }],
    admin: null,
    ...extra,
  };
  const balancer = await startBalancer(config);
  const http = balancer.listeners.find((l) => l.protocol === "http")!;
  const tcp = balancer.listeners.find((l) => l.protocol === "tcp");
  return {
    balancer,
    port: http.port,
    tcpPort: tcp?.port ?? 0,
    url: `http://127.0.0.1:${http.port}`,
    stop: async () => {
      await balancer.shutdown(2000);
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or `timeoutMs` passes; returns its last answer. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return check();
}
