// The dashboard's HTTP side: the page, its script and style, a server-sent event stream of the
// farm's looks and events, the same as JSON, and the controller's metrics.
//
//   GET /?token=T     checks T, sets it as an HttpOnly SameSite=Strict cookie, redirects to /
//   GET /             the page                                   (token)
//   GET /app.js, /app.css                                        (token)
//   GET /api/stream   text/event-stream: hello (everything so far), then view, point, graph,
//                     farm-event, problem as they come          (token)
//   GET /api/view     the latest look, as JSON                   (token)
//   GET /metrics      the controller's Prometheus metrics        (token, or the metrics token)
//   GET /healthz      200
//
// The token is checked in constant time (digests compared); the Host header must name this
// loopback address, so a DNS-rebound name cannot reach it from a web page; responses forbid framing
// and inline script; nothing here changes the farm, so no request can make it act.

import { createHash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { DASHBOARD_SCRIPT, DASHBOARD_STYLE, dashboardPage, lockedPage } from "./page.ts";

/** Everything the dashboard knows now, for a page that has just connected. */
export interface Snapshot {
  readonly view: unknown;
  readonly svg: string | null;
  readonly history: readonly unknown[];
  readonly events: readonly unknown[];
}

export interface Feed {
  current(): Snapshot;
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
}

export interface DashboardServerOptions {
  readonly farm: string;
  readonly token: string;
  /** The farm's read-only metrics token: accepted for GET /metrics only, as the balancers accept it. */
  readonly metricsToken?: string;
  /** 0: any free port. */
  readonly port: number;
  readonly feed: Feed;
}

export interface DashboardServer {
  readonly url: string;
  /** Sends an event to every open stream. */
  send(type: string, data: unknown): void;
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
const HEARTBEAT_MS = 15_000;

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export async function serveDashboard(options: DashboardServerOptions): Promise<DashboardServer> {
  const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();
  const want = digest(options.token);
  const cookieName = `farmhand-${options.farm}`;
  const streams = new Set<http.ServerResponse>();
  let origin = "";

  const scrapeWant = options.metricsToken === undefined ? null : digest(options.metricsToken);
  const valid = (presented: string | undefined): boolean => presented !== undefined && presented !== "" && timingSafeEqual(digest(presented), want);
  const validScrape = (presented: string | undefined): boolean =>
    scrapeWant !== null && presented !== undefined && presented !== "" && timingSafeEqual(digest(presented), scrapeWant);
  const presentedToken = (req: http.IncomingMessage): string | undefined => {
    const auth = req.headers.authorization;
    if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
    for (const part of (req.headers.cookie ?? "").split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === cookieName) return decodeURIComponent(part.slice(eq + 1).trim());
    }
    return undefined;
  };

  const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, "content-length": Buffer.byteLength(body), ...headers });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", `dashboard: ${(error as Error).message}\n`);
      else res.destroy();
    });
  });
  server.on("connection", (socket) => socket.unref());

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", origin);
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain; charset=utf-8", "only GET\n", { allow: "GET, HEAD" });
    if (url.pathname === "/healthz") return send(res, 200, "text/plain; charset=utf-8", "ok\n");
    if (url.pathname === "/favicon.ico") return send(res, 204, "image/x-icon", "");
    const host = req.headers.host ?? "";
    const port = new URL(origin).port;
    if (host !== `${HOST}:${port}` && host !== `localhost:${port}`) return send(res, 421, "text/plain; charset=utf-8", "this dashboard answers only as 127.0.0.1 or localhost\n");

    if (url.pathname === "/" && url.searchParams.has("token")) {
      const token = url.searchParams.get("token") ?? "";
      if (!valid(token)) return send(res, 401, "text/html; charset=utf-8", lockedPage(options.farm, "That link's token is not this farm's."));
      // The token leaves the address bar (and history) at once; the cookie carries it from here on.
      return send(res, 303, "text/plain; charset=utf-8", "", {
        location: "/",
        "set-cookie": `${cookieName}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
      });
    }
    const presented = presentedToken(req);
    if (url.pathname === "/metrics" && validScrape(presented)) {
      const { contentType, body } = await options.feed.metrics();
      return send(res, 200, contentType, body);
    }
    if (!valid(presented)) {
      return url.pathname === "/"
        ? send(res, 401, "text/html; charset=utf-8", lockedPage(options.farm, "Open the link the controller printed."))
        : send(res, 401, "text/plain; charset=utf-8", "a valid token is needed (farmhand dashboard prints the link that opens this page)\n", { "www-authenticate": "Bearer" });
    }
    switch (url.pathname) {
      case "/":
        return send(res, 200, "text/html; charset=utf-8", dashboardPage(options.farm));
      case "/app.js":
        return send(res, 200, "text/javascript; charset=utf-8", DASHBOARD_SCRIPT);
      case "/app.css":
        return send(res, 200, "text/css; charset=utf-8", DASHBOARD_STYLE);
      case "/api/view":
        return send(res, 200, "application/json", JSON.stringify(options.feed.current()));
      case "/metrics": {
        const { contentType, body } = await options.feed.metrics();
        return send(res, 200, contentType, body);
      }
      case "/api/stream": {
        res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
        res.write(frame("hello", options.feed.current()));
        streams.add(res);
        const beat = setInterval(() => res.write(": still here\n\n"), HEARTBEAT_MS);
        beat.unref();
        res.on("close", () => {
          clearInterval(beat);
          streams.delete(res);
        });
        return;
      }
      default:
        return send(res, 404, "text/plain; charset=utf-8", "not found\n");
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.unref();
  origin = `http://${HOST}:${(server.address() as AddressInfo).port}`;

  return {
    url: origin,
    send(type, data) {
      const text = frame(type, data);
      for (const res of streams) res.write(text);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of streams) res.end();
        streams.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function frame(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
