// The emulator's HTTP(S) server: it hands each request to the API handler, counts the writes in
// flight (so a test can see a client's write limit), and over TLS counts full and resumed handshakes
// (so a test can see a client check every connection).

import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { send } from "./envelope.ts";
import { selfSignedCertificate } from "./tls.ts";

export interface ServerSettings {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly keepAlive: boolean;
}

export interface ApiServer {
  /** e.g. "http://127.0.0.1:34567" */
  readonly origin: string;
  /** PEM of the self-signed certificate when tls is on. */
  readonly certificate: string | null;
  /** Write requests (anything but GET) being handled now, and the most there were at once. */
  readonly writes: { inFlight: number; peak: number };
  readonly handshakes: { full: number; resumed: number };
  close(): Promise<void>;
}

export async function serveApi(settings: ServerSettings, handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<ApiServer> {
  const writes = { inFlight: 0, peak: 0 };
  const handshakes = { full: 0, resumed: 0 };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    if (!settings.keepAlive) res.setHeader("Connection", "close");
    if (req.method !== "GET") {
      writes.peak = Math.max(writes.peak, ++writes.inFlight);
      res.once("close", () => writes.inFlight--);
    }
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, String((err as Error)?.message ?? err), { data: null });
    });
  };
  let server: http.Server;
  let certificate: string | null = null;
  if (settings.tls) {
    const { key, cert } = selfSignedCertificate(settings.host);
    certificate = cert;
    const tlsServer = https.createServer({ key, cert }, listener);
    tlsServer.on("secureConnection", (socket) => (socket.isSessionReused() ? handshakes.resumed++ : handshakes.full++));
    server = tlsServer;
  } else server = http.createServer(listener);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `${settings.tls ? "https" : "http"}://${settings.host}:${port}`,
    certificate,
    writes,
    handshakes,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
