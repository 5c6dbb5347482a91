// The one backend every proxy forwards to: nginx with one worker answering every request with a
// fixed 100-byte body. Cheap on purpose, so the figures show the proxy and not the backend.

import { startNginx } from "./nginx-common.ts";
import { peerNofile } from "./types.ts";
import type { Peer, PeerContext } from "./types.ts";

/** Exactly 100 bytes, plain characters so nginx's string quoting needs no escapes. */
export const BACKEND_BODY = "0123456789".repeat(10);

export async function startBackend(ctx: PeerContext): Promise<Peer> {
  const port = ctx.backendPort;
  const child = await startNginx({
    name: "backend (nginx)",
    binary: ctx.tools.nginx,
    dir: ctx.dir,
    workers: 1,
    port,
    nofile: peerNofile(),
    workerConnections: peerNofile() - 100,
    httpBlock: `  server {
    listen 127.0.0.1:${port} backlog=4096;
    # The large-body rows send 10 MB bodies; nginx reads and drops them.
    client_max_body_size 0;
    location / {
      default_type text/plain;
      return 200 "${BACKEND_BODY}";
    }
  }`,
  });
  return {
    name: "backend",
    child,
    targets: [{ id: "backend", label: "backend direct (nginx)", mode: "http", port, pid: child.pid }],
  };
}
