// nginx as a reverse proxy: the usual production setup with pooled keep-alive upstream connections.

import { startNginx } from "./nginx-common.ts";
import { peerNofile } from "./types.ts";
import type { Peer, PeerContext } from "./types.ts";

export async function startNginxProxy(ctx: PeerContext, port: number): Promise<Peer> {
  const child = await startNginx({
    name: "nginx proxy",
    binary: ctx.tools.nginx,
    dir: ctx.dir,
    workers: ctx.threads,
    port,
    nofile: peerNofile(),
    workerConnections: Math.floor((peerNofile() - 100) / 2),
    httpBlock: `  upstream b {
    server 127.0.0.1:${ctx.backendPort};
    keepalive 64;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://b;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`,
  });
  return {
    name: "nginx",
    child,
    targets: [{ id: "nginx-http", label: `nginx ${ctx.tools.nginxVersion} proxy`, mode: "http", port, pid: child.pid }],
  };
}
