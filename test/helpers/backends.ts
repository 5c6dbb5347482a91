// Real HTTP backends for proxy tests: each records what reached it, so a test can prove that a
// refused request never arrived, and can be told how to answer.

import http from "node:http";
import net from "node:net";

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** Header names and values exactly as they arrived, in order. */
  readonly rawHeaders: readonly string[];
  readonly body: string;
  readonly trailers: http.IncomingHttpHeaders;
}

export interface TestBackend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  /** "127.0.0.1:port", the proxy's id for it. */
  readonly id: string;
  readonly received: Received[];
  /** Raw TCP connections accepted so far. */
  readonly connections: () => number;
  /** Replace how it answers. */
  handle: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;
  close(): Promise<void>;
  /** Drop every open connection at once (keep-alive ones included) without closing the listener. */
  dropConnections(): void;
}

export function defaultHandler(name: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse, body: string) => {
    const text = `${name} ${req.method} ${req.url} ${body.length}`;
    res.writeHead(200, { "content-type": "text/plain", "x-backend": name, "content-length": Buffer.byteLength(text) });
    res.end(req.method === "HEAD" ? undefined : text);
  };
}

export async function startBackend(name: string, address = "127.0.0.1"): Promise<TestBackend> {
  const received: Received[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const backend = {
    name,
    port: 0,
    address,
    id: "",
    received,
    connections: () => accepted,
    handle: defaultHandler(name),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
  } satisfies TestBackend as TestBackend & { port: number; id: string };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      received.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body, trailers: req.trailers });
      backend.handle(req, res, body);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on("connection", (s: net.Socket) => {
    accepted++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  backend.port = (server.address() as net.AddressInfo).port;
  backend.id = `${address}:${backend.port}`;
  return backend;
}

/** A raw TCP server: `onConnection` gets each socket (for backends that misbehave on purpose). */
export async function startRawServer(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
