// A plain Node reverse proxy of the kind most people would write: http.createServer in front, an
// undici Pool behind, no tuning beyond keep-alive. It is the baseline farmhand has to beat by
// doing less per request. Run as its own process:
//   node bench/peers/undici-proxy.ts --port P --backend 127.0.0.1:B [--threads N]
// With --threads above 1 it forks that many cluster workers, Node's usual way to use more cores.

import http from "node:http";
import cluster from "node:cluster";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import type { Dispatcher } from "undici";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    backend: { type: "string" },
    threads: { type: "string", default: "1" },
  },
});
const port = Number(values.port);
const backend = values.backend ?? "";
const threads = Number(values.threads);
if (!Number.isInteger(port) || port <= 0 || !/^[\w.-]+:\d+$/.test(backend) || !(threads >= 1)) {
  process.stderr.write("usage: undici-proxy.ts --port P --backend HOST:PORT [--threads N]\n");
  process.exit(2);
}

// Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection and are never forwarded.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"]);

function serve(): void {
  const pool = new Pool(`http://${backend}`, { connections: 128, keepAliveTimeout: 300_000 });
  const server = http.createServer({ keepAliveTimeout: 300_000, headersTimeout: 60_000 }, (req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    }
    const hasBody = req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
    pool.stream(
      { path: req.url ?? "/", method: (req.method ?? "GET") as Dispatcher.HttpMethod, headers, body: hasBody ? req : null },
      ({ statusCode, headers: upstream }) => {
        for (const [k, v] of Object.entries(upstream)) {
          if (v !== undefined && !HOP_BY_HOP.has(k)) res.setHeader(k, v);
        }
        res.statusCode = statusCode;
        return res;
      },
      (err) => {
        if (err === null) return;
        if (!res.headersSent) {
          res.statusCode = 502;
          res.end();
        } else {
          res.destroy(err);
        }
      },
    );
  });
  server.listen(port, "127.0.0.1", () => {
    process.stdout.write(`undici proxy listening on 127.0.0.1:${port} (pid ${process.pid})\n`);
  });
  process.once("SIGTERM", () => {
    server.close();
    server.closeAllConnections();
    void pool.close().finally(() => process.exit(0));
  });
}

if (threads > 1 && cluster.isPrimary) {
  for (let i = 0; i < threads; i++) cluster.fork();
  process.once("SIGTERM", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
    setTimeout(() => process.exit(0), 1000).unref();
  });
} else {
  serve();
}
