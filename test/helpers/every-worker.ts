// Traffic that reaches every worker thread: the kernel spreads new connections over the workers'
// listening sockets (reusePort) at random, so requests on connections of their own reach each of two
// workers, with odds of 2^-(n-1) against for n of them.

import { request } from "undici";
import { rawRequest } from "./raw-client.ts";

/** Enough fresh connections that two workers both get some (odds against: 2^-39). */
export const EVERY_WORKER = 40;

/**
 * Sends `n` GETs to `url`, each on a new connection, and counts the answers by the backend that gave
 * them (its x-backend header), or as "status NNN" when the proxy answered itself.
 */
export async function freshConnections(url: string, n = EVERY_WORKER): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await request(`${url}/fresh/${i}`, { reset: true });
    await r.body.text();
    const key = r.statusCode === 200 ? String(r.headers["x-backend"]) : `status ${r.statusCode}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** The same over a TCP listener in front of HTTP backends: counts the answers by the body's first word (the backend's name). */
export async function freshTcpConnections(port: number, n = EVERY_WORKER): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { text } = await rawRequest(port, `GET /tcp/${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { waitMs: 5000 });
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    const key = text.startsWith("HTTP/1.1 200") ? body.split(" ")[0] : `answer ${JSON.stringify(text.slice(0, 20))}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
