// A tiny demo backend: answers every request with its own name, and /healthz for health checks.
// Usage: node examples/proxy-demo/backend.ts NAME PORT

import http from "node:http";

const [name = "backend", portText = "0"] = process.argv.slice(2);
const server = http.createServer((request, response) => {
  request.resume();
  request.on("end", () => {
    const body = request.url === "/healthz" ? "ok\n" : `hello from ${name} (${request.method} ${request.url})\n`;
    response.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    response.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portText), "127.0.0.1", () => {
  const { port } = server.address() as import("node:net").AddressInfo;
  process.stdout.write(`${name} listening on 127.0.0.1:${port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
