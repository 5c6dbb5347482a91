// Traffic shapes several proxy tests share: requests spread over keep-alive connections and counted
// by the backend that answered, and a backend made to hold requests until released.

import type http from "node:http";
import * as assert from "uvu/assert";
import { Pool } from "undici";
import type { TestBackend } from "./backends.ts";

export type Counts = Map<string, number>;

/**
 * Sends `total` GETs over `connections` keep-alive connections, `connections` at a time, and counts
 * the answers by the backend that gave them (its x-backend header). Every answer must be a 200.
 */
export async function spread(
  url: string,
  total: number,
  connections: number,
  headers: (i: number) => Record<string, string> = () => ({}),
): Promise<Counts> {
  const pool = new Pool(url, { connections });
  const counts: Counts = new Map();
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (next < total) {
          const i = next++;
          const r = await pool.request({ path: `/r${i}`, method: "GET", headers: headers(i) });
          const body = await r.body.text();
          assert.is(r.statusCode, 200, `request ${i}: ${body}`);
          const name = String(r.headers["x-backend"]);
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
      }),
    );
  } finally {
    await pool.close();
  }
  return counts;
}

/** Makes a backend hold every request it receives until released. */
export function hold(backend: TestBackend): { held: () => number; release: () => void } {
  const plain = backend.handle;
  const waiting: (() => void)[] = [];
  backend.handle = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => {
    waiting.push(() => plain(req, res, body));
  };
  return {
    held: () => waiting.length,
    release: () => {
      backend.handle = plain;
      for (const w of waiting.splice(0)) w();
    },
  };
}
