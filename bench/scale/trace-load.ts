// Demand made real: a trace of segments (so many requests a second for so many seconds) played by
// autocannon at a fixed rate per segment, one segment after the other, counting what failed.

import { spawn } from "node:child_process";
import path from "node:path";
import { REPO_ROOT } from "../lib/tools.ts";

export interface Segment {
  readonly seconds: number;
  readonly rps: number;
}

const AUTOCANNON = path.join(REPO_ROOT, "node_modules/autocannon/autocannon.js");

/** Plays the segments in turn against `url` (GET); requests sent and failed (non-2xx or errors). */
export async function runTrace(url: string, segments: readonly Segment[]): Promise<{ requests: number; failed: number }> {
  let requests = 0;
  let failed = 0;
  for (const s of segments) {
    if (s.rps <= 0) {
      await new Promise((r) => setTimeout(r, s.seconds * 1000));
      continue;
    }
    // Enough connections that the rate is kept when replies slow down; each sends at most its share.
    const connections = Math.max(2, Math.min(64, Math.ceil(s.rps / 40)));
    const r = await autocannon(url, s.seconds, connections, s.rps);
    requests += r.requests;
    failed += r.failed;
  }
  return { requests, failed };
}

/** autocannon against `url` for `seconds` over `connections`, at most `rps` requests a second when given. */
export function autocannon(url: string, seconds: number, connections: number, rps?: number): Promise<{ requests: number; failed: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, "-c", String(connections), "-d", String(seconds), ...(rps === undefined ? [] : ["-R", String(rps)]), "-j", url], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out.trim().split("\n").reverse().find((l) => l.startsWith("{"));
      if (line === undefined) return reject(new Error(`autocannon exited ${code} without a report`));
      const j = JSON.parse(line) as { requests: { total: number }; non2xx: number; errors: number; timeouts: number };
      resolve({ requests: j.requests.total, failed: j.non2xx + j.errors });
    });
  });
}
