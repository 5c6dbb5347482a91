// wrk: a C load generator that needs a fraction of the CPU autocannon needs for the same load, which
// matters when generator, proxy and backend share two cores.

import { start, describeExit } from "../lib/children.ts";
import { HOST } from "../lib/net.ts";
import type { LoadGenerator, LoadResult } from "./types.ts";

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (m === null) throw new Error(`wrk: cannot read duration ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

export function parseWrk(out: string): LoadResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(out);
    if (m === null) throw new Error(`wrk: no ${what} in output:\n${out}`);
    return m;
  };
  const total = need(/(\d+) requests in ([\d.]+)(us|ms|s|m|h)/, "request count");
  const rps = need(/Requests\/sec:\s+([\d.]+)/, "Requests/sec");
  const p50 = need(/^\s+50%\s+(\S+)/m, "50% latency");
  const p99 = need(/^\s+99%\s+(\S+)/m, "99% latency");
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requests: Number(total[1]),
    seconds: durationMs(`${total[2]}${total[3]}`) / 1000,
    rps: Number(rps[1]),
    p50Ms: durationMs(p50[1]),
    p99Ms: durationMs(p99[1]),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: sock === null ? 0 : sock.slice(1, 5).reduce((s, x) => s + Number(x), 0),
  };
}

export function wrkGenerator(binary: string): LoadGenerator {
  return {
    name: "wrk",
    async run(port, connections, seconds) {
      // One thread: the second core belongs to the proxy and the backend.
      const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", `http://${HOST}:${port}/`];
      const child = start("wrk", binary, args, {}, true);
      const exit = await child.exited;
      await child.stop();
      if (exit.code !== 0) throw new Error(`wrk ${args.join(" ")}: ${describeExit(exit)}\n${child.recentOutput()}`);
      return parseWrk(child.stdoutText);
    },
  };
}
