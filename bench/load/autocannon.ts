// autocannon, run through its CLI in a child process so its own CPU use never lands in the bench's
// process, and so a Ctrl-C stops it like every other child.

import path from "node:path";
import { start, describeExit } from "../lib/children.ts";
import { HOST } from "../lib/net.ts";
import { REPO_ROOT } from "../lib/tools.ts";
import { DEFAULT_REQUEST, type LoadGenerator, type LoadResult } from "./types.ts";

interface AutocannonJson {
  readonly duration: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly requests: { readonly total: number };
}

export function parseAutocannon(out: string): LoadResult {
  // The report is the last JSON line; anything before it is stray output.
  const line = out.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`autocannon: no JSON report in output:\n${out}`);
  const j = JSON.parse(line) as AutocannonJson;
  return {
    requests: j.requests.total,
    seconds: j.duration,
    rps: j.requests.total / j.duration,
    p50Ms: j.latency.p50,
    p99Ms: j.latency.p99,
    non2xx: j.non2xx,
    // autocannon counts timeouts among its errors.
    socketErrors: j.errors,
  };
}

export function autocannonGenerator(node: string): LoadGenerator {
  const cli = path.join(REPO_ROOT, "node_modules", "autocannon", "autocannon.js");
  return {
    name: "autocannon",
    async run(port, connections, seconds, request = DEFAULT_REQUEST) {
      const body = request.body === undefined ? [] : ["-b", request.body, "-H", "content-type=application/json"];
      const args = [cli, "-c", String(connections), "-d", String(seconds), "-j", "-n", "-m", request.method, ...body, `http://${HOST}:${port}${request.path}`];
      const child = start("autocannon", node, args, {}, true);
      const exit = await child.exited;
      await child.stop();
      if (exit.code !== 0) throw new Error(`autocannon: ${describeExit(exit)}\n${child.recentOutput()}`);
      return parseAutocannon(child.stdoutText);
    },
  };
}
