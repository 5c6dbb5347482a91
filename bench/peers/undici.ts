// Starts bench/peers/undici-proxy.ts as its own process with the repository's Node 24.

import path from "node:path";
import { start } from "../lib/children.ts";
import { waitForPort } from "../lib/net.ts";
import { peerNofile } from "./types.ts";
import type { Peer, PeerContext } from "./types.ts";

export async function startUndiciProxy(ctx: PeerContext, port: number): Promise<Peer> {
  const script = path.join(import.meta.dirname, "undici-proxy.ts");
  const child = start(
    "undici proxy",
    ctx.node,
    [script, "--port", String(port), "--backend", `127.0.0.1:${ctx.backendPort}`, "--threads", String(ctx.threads)],
    { nofile: peerNofile() },
  );
  await waitForPort(port, 15_000, "undici proxy", () => child.exit === null).catch((e: Error) => {
    throw new Error(`${e.message}\n${child.recentOutput()}`);
  });
  return {
    name: "undici",
    child,
    targets: [{ id: "undici-http", label: "Node http + undici Pool", mode: "http", port, pid: child.pid }],
  };
}
