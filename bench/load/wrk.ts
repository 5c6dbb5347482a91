// wrk: a C load generator that needs a fraction of the CPU autocannon needs for the same load, which
// matters when generator, proxy and backend share two cores.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { onCleanup, start, describeExit } from "../lib/children.ts";
import { HOST } from "../lib/net.ts";
import { DEFAULT_REQUEST, type LoadGenerator, type LoadResult, type RequestSpec } from "./types.ts";

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

/** A request other than GET / is described to wrk by a Lua script (one per distinct request). */
const scripts = new Map<string, string>();
let scriptDir: string | null = null;

function scriptFor(request: RequestSpec): string | null {
  if (request.method === "GET" && request.body === undefined) return null;
  const key = JSON.stringify(request);
  let file = scripts.get(key);
  if (file === undefined) {
    if (scriptDir === null) {
      scriptDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-bench-wrk-"));
      const dir = scriptDir;
      onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    }
    file = path.join(scriptDir, `request-${scripts.size}.lua`);
    const lua = [
      `wrk.method = ${JSON.stringify(request.method)}`,
      ...(request.body === undefined ? [] : [`wrk.body = ${luaString(request.body)}`, `wrk.headers["Content-Type"] = "application/json"`]),
    ].join("\n");
    writeFileSync(file, `${lua}\n`);
    scripts.set(key, file);
  }
  return file;
}

/** A Lua long string: no escapes needed, whatever the JSON holds (it has no "]==]"). */
function luaString(text: string): string {
  return `[==[${text}]==]`;
}

export function wrkGenerator(binary: string): LoadGenerator {
  return {
    name: "wrk",
    async run(port, connections, seconds, request = DEFAULT_REQUEST) {
      const script = scriptFor(request);
      // One thread: the second core belongs to the proxy and the backend.
      const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", ...(script === null ? [] : ["-s", script]), `http://${HOST}:${port}${request.path}`];
      const child = start("wrk", binary, args, {}, true);
      const exit = await child.exited;
      await child.stop();
      if (exit.code !== 0) throw new Error(`wrk ${args.join(" ")}: ${describeExit(exit)}\n${child.recentOutput()}`);
      return parseWrk(child.stdoutText);
    },
  };
}
