// The idle-connections measurement: how much memory the proxy needs to hold many keep-alive client
// connections that have finished their request. Several client processes share the sockets so no
// single one needs a huge fd limit and the connects spread over both cores.

import path from "node:path";
import { start } from "../lib/children.ts";
import type { Child } from "../lib/children.ts";
import { probe, sleep } from "../lib/net.ts";
import { rssBytes, rssFileBytes, peakRssBytes, openFds, nofileLimit } from "../measure/proc.ts";

export interface IdleOptions {
  readonly node: string;
  readonly label: string;
  readonly port: number;
  readonly pid: number;
  readonly connections: number;
  readonly clients: number;
  readonly limitBytes: number;
}

export interface IdleResult {
  readonly target: string;
  readonly requested: number;
  /** Connections that got their response. */
  readonly established: number;
  readonly failed: number;
  readonly firstError: string;
  /** Still open when the memory was read. */
  readonly heldOpen: number;
  readonly proxyFds: number;
  readonly proxyNofile: number | null;
  readonly rssBeforeBytes: number;
  readonly rssHeldBytes: number;
  /** The file-backed part of rssHeldBytes (the executable's pages). */
  readonly rssFileHeldBytes: number;
  readonly peakRssBytes: number;
  readonly bytesPerConnection: number;
  readonly limitBytes: number;
  readonly withinLimit: boolean;
  /** A fresh request still gets a 200 while the connections are held. */
  readonly stillServes: boolean;
}

interface ClientReport {
  readonly event: string;
  readonly ok?: number;
  readonly failed?: number;
  readonly open?: number;
  readonly firstError?: string;
}

function nextReport(c: Child, event: string, timeoutMs: number): Promise<ClientReport> {
  return c.waitForLine(new RegExp(`"event":"${event}"`), timeoutMs, `${event} report`).then((l) => JSON.parse(l) as ClientReport);
}

export async function measureIdle(o: IdleOptions, log: (msg: string) => void): Promise<IdleResult> {
  // One served request first, so lazily built state is part of the baseline rather than the delta.
  await probe(o.port);
  await sleep(1000);
  const rssBefore = rssBytes(o.pid);
  const script = path.join(import.meta.dirname, "client.ts");
  const clients: Child[] = [];
  try {
    const share = Math.ceil(o.connections / o.clients);
    for (let i = 0; i < o.clients; i++) {
      const n = Math.min(share, o.connections - i * share);
      if (n <= 0) break;
      clients.push(
        start(`idle client ${i + 1}`, o.node, [script, "--port", String(o.port), "--count", String(n)], { nofile: n + 1024, stdin: true }),
      );
    }
    log(`idle: ${clients.length} client process(es) opening ${o.connections} connections to ${o.label}`);
    const ready = await Promise.all(clients.map((c) => nextReport(c, "ready", 120_000)));
    const established = ready.reduce((s, r) => s + (r.ok ?? 0), 0);
    const failed = ready.reduce((s, r) => s + (r.failed ?? 0), 0);
    const firstError = ready.map((r) => r.firstError ?? "").find((e) => e !== "") ?? "";
    // Let the proxy finish any deferred work (timers, GC) so the figure is the steady state.
    await sleep(2000);
    const rssHeld = rssBytes(o.pid);
    const rssFileHeld = rssFileBytes(o.pid);
    const peak = peakRssBytes(o.pid);
    const fds = openFds(o.pid);
    const checks = await Promise.all(
      clients.map((c) => {
        const p = nextReport(c, "check", 10_000);
        c.proc.stdin?.write("check\n");
        return p;
      }),
    );
    const heldOpen = checks.reduce((s, r) => s + (r.open ?? 0), 0);
    const stillServes = await probe(o.port).then(
      (r) => r.status === 200,
      () => false,
    );
    return {
      target: o.label,
      requested: o.connections,
      established,
      failed,
      firstError,
      heldOpen,
      proxyFds: fds,
      proxyNofile: nofileLimit(o.pid),
      rssBeforeBytes: rssBefore,
      rssHeldBytes: rssHeld,
      rssFileHeldBytes: rssFileHeld,
      peakRssBytes: peak,
      bytesPerConnection: heldOpen > 0 ? (rssHeld - rssBefore) / heldOpen : 0,
      limitBytes: o.limitBytes,
      withinLimit: rssHeld <= o.limitBytes,
      stillServes,
    };
  } finally {
    await Promise.all(clients.map((c) => c.stop(3000)));
  }
}
