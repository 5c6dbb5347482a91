// Starts farmhand's proxy from its CLI with a generated JSON config: one http and one tcp listener
// in front of the shared backend, so both rows of the table come from the same process.

import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { start } from "../lib/children.ts";
import { waitForPort } from "../lib/net.ts";
import { REPO_ROOT } from "../lib/tools.ts";
import { BENCH_OPERATIONS } from "./bench-contract.ts";
import { peerNofile } from "./types.ts";
import type { Peer, PeerContext } from "./types.ts";

export const FARMHAND_CLI = path.join(REPO_ROOT, "src", "farmhand.mjs");

/** Listeners beside the http and tcp ones, each measured as rows of its own. */
export interface ExtraListeners {
  /** Serves a pool that pipelines GETs upstream (the opt-in `upstream.pipelining`). */
  readonly pipelined?: number;
  /** Plain http again, for the POST rows without checks (and the unchecked large bodies). */
  readonly post?: number;
  /** Checks every request against BENCH_OPERATIONS. */
  readonly validated?: number;
}

export function farmhandConfig(threads: number, httpPort: number, tcpPort: number | null, backendPort: number, extra: ExtraListeners = {}): object {
  const backends = [{ address: "127.0.0.1", port: backendPort }];
  const listeners: object[] = [{ name: "http", protocol: "http", address: "127.0.0.1", port: httpPort, pool: "b" }];
  if (tcpPort !== null) listeners.push({ name: "tcp", protocol: "tcp", address: "127.0.0.1", port: tcpPort, pool: "b" });
  const pools: object[] = [{ name: "b", policy: "round-robin", backends }];
  if (extra.pipelined !== undefined) {
    listeners.push({ name: "http-pipelined", protocol: "http", address: "127.0.0.1", port: extra.pipelined, pool: "bp" });
    pools.push({ name: "bp", policy: "round-robin", backends, upstream: { pipelining: 8 } });
  }
  if (extra.post !== undefined) listeners.push({ name: "http-post", protocol: "http", address: "127.0.0.1", port: extra.post, pool: "b" });
  if (extra.validated !== undefined) {
    listeners.push({ name: "http-validated", protocol: "http", address: "127.0.0.1", port: extra.validated, pool: "b", contract: "bench@1", validate: { operations: BENCH_OPERATIONS } });
  }
  return { workers: threads, listeners, pools, admin: null };
}

export async function startFarmhand(
  ctx: PeerContext,
  cli: string,
  httpPort: number,
  tcpPort: number | null,
  name = "farmhand",
  extra: ExtraListeners = {},
  variant?: { readonly id: string; readonly label: string },
): Promise<Peer> {
  if (!existsSync(cli)) {
    throw new Error(`farmhand: ${cli} does not exist (use --targets to bench the peers only)`);
  }
  const configPath = path.join(ctx.dir, "farmhand.json");
  writeFileSync(configPath, JSON.stringify(farmhandConfig(ctx.threads, httpPort, tcpPort, ctx.backendPort, extra), null, 2));
  const listeners = (tcpPort === null ? 1 : 2) + Object.values(extra).filter((p) => p !== undefined).length;
  const child = start(name, ctx.node, [cli, "proxy", "--config", configPath], { cwd: REPO_ROOT, nofile: peerNofile() });
  // The CLI announces each listener with a line containing "listening".
  let announced = 0;
  const allAnnounced = new Promise<void>((resolve) => {
    child.onEachLine((line) => {
      if (!line.startsWith("[stderr]") && /listener .* listening/i.test(line) && ++announced === listeners) resolve();
    });
  });
  const timeoutMs = 30_000;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    allAnnounced,
    child.exited.then((e) => {
      throw new Error(`${name}: exited (code ${e.code}, signal ${e.signal}) before listening\n${child.recentOutput()}`);
    }),
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${name}: ${announced}/${listeners} "listening" lines after ${timeoutMs} ms\n${child.recentOutput()}`)),
        timeoutMs,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  const v = variant ?? { id: "", label: "" };
  // A variant is measured against HAProxy's row of the same variant (nbthread 2 for 2 threads).
  const targets: Peer["targets"][number][] = [{
    id: `farmhand-http${v.id}`, label: `farmhand http${v.label}`, mode: "http", port: httpPort, pid: child.pid,
    ...(v.id === "" ? {} : { reference: `haproxy-http${v.id}` }),
  }];
  if (tcpPort !== null) targets.push({ id: "farmhand-tcp", label: "farmhand tcp", mode: "tcp", port: tcpPort, pid: child.pid });
  if (extra.pipelined !== undefined) {
    targets.push({ id: "farmhand-http-pipelined", label: "farmhand http, pipelined upstream", mode: "http", port: extra.pipelined, pid: child.pid });
  }
  for (const t of targets) await waitForPort(t.port, 5_000, name, () => child.exit === null);
  return { name: "farmhand", child, targets };
}
