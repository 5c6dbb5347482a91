// Loopback plumbing: free ports, readiness by connect, and a one-request probe that proves a target
// really forwards to the backend before any figure is taken from it.

import net from "node:net";
import http from "node:http";

export const HOST = "127.0.0.1";

/** Distinct free ports: all are held open together so one call never returns the same port twice. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = net.createServer();
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, HOST, () => resolve());
      });
      servers.push(s);
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

export async function waitForPort(port: number, timeoutMs: number, what: string, alive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (alive !== undefined && !alive()) throw new Error(`${what}: process exited before listening on ${port}`);
    if (await tryConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`${what}: nothing listening on ${HOST}:${port} after ${timeoutMs} ms`);
}

export interface ProbeResult {
  readonly status: number;
  readonly body: string;
}

export function probe(port: number, timeoutMs = 5000, request: { method: string; path: string; body?: string } = { method: "GET", path: "/" }): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const headers = request.body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(request.body) };
    const req = http.request({ host: HOST, port, method: request.method, path: request.path, headers, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`probe of port ${port} timed out`)));
    req.on("error", reject);
    req.end(request.body);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
