// A/B of two farmhand CLIs (e.g. this checkout against another one) in one run: the same backend,
// each farmhand measured in turn, several rounds, alternating, medians of CPU per request (user and
// system apart) and req/s; HAProxy alongside as the yardstick. For measuring one change at a time.
//
//   node bench/ab.ts --a /path/to/other/src/farmhand.mjs [--b src/farmhand.mjs] [--rounds 6] [--duration 5] [--mode http|tcp|pipelined]

import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { installCleanupHandlers, stopAll } from "./lib/children.ts";
import { freePorts, sleep } from "./lib/net.ts";
import { median } from "./lib/stats.ts";
import { ensureTools, nodeBinary } from "./lib/tools.ts";
import { wrkGenerator } from "./load/wrk.ts";
import { cpuTimes } from "./measure/proc.ts";
import { countSyscalls } from "./measure/syscalls.ts";
import { startBackend } from "./peers/backend.ts";
import { FARMHAND_CLI, startFarmhand } from "./peers/farmhand.ts";
import { startHaproxy } from "./peers/haproxy.ts";
import type { Target } from "./peers/types.ts";

const { values } = parseArgs({
  options: {
    a: { type: "string" },
    b: { type: "string", default: FARMHAND_CLI },
    rounds: { type: "string", default: "6" },
    duration: { type: "string", default: "5" },
    mode: { type: "string", default: "http" },
    connections: { type: "string", default: "64" },
  },
});
if (values.a === undefined) throw new Error("--a CLI is required");
installCleanupHandlers();
const tools = ensureTools(true);
if (tools.wrk === null) throw new Error("wrk is needed");
const gen = wrkGenerator(tools.wrk);
const node = nodeBinary();
const tmp = mkdtempSync(path.join(os.tmpdir(), "farmhand-ab-"));
const ctx = (name: string, backendPort: number) => ({ dir: path.join(tmp, name), threads: 1, backendPort, tools, node });
const [backendPort, aHttp, aTcp, aPipe, bHttp, bTcp, bPipe, haHttp, haTcp] = await freePorts(9);
try {
  const { mkdirSync } = await import("node:fs");
  for (const d of ["backend", "a", "b", "haproxy"]) mkdirSync(path.join(tmp, d));
  await startBackend(ctx("backend", backendPort));
  const a = await startFarmhand(ctx("a", backendPort), path.resolve(values.a), aHttp, aTcp, "farmhand A", { pipelined: aPipe });
  const b = await startFarmhand(ctx("b", backendPort), path.resolve(values.b), bHttp, bTcp, "farmhand B", { pipelined: bPipe });
  const ha = await startHaproxy(ctx("haproxy", backendPort), haHttp, haTcp);
  const pick = (targets: readonly Target[]) => targets.find((t) => t.id === (values.mode === "tcp" ? "farmhand-tcp" : values.mode === "pipelined" ? "farmhand-http-pipelined" : "farmhand-http"))!;
  const targets: [string, Target][] = [["A", pick(a.targets)], ["B", pick(b.targets)], ["haproxy", ha.targets.find((t) => t.mode === (values.mode === "tcp" ? "tcp" : "http"))!]];
  const samples = new Map<string, { cpu: number[]; user: number[]; sys: number[]; rps: number[]; syscalls: number[] }>(targets.map(([n]) => [n, { cpu: [], user: [], sys: [], rps: [], syscalls: [] }]));
  const connections = Number(values.connections);
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const [name, t] of order) {
      const counting = countSyscalls(t.pid, 1.7);
      const warm = await gen.run(t.port, connections, 2);
      const counted = await counting;
      await sleep(100);
      const before = cpuTimes(t.pid);
      const load = await gen.run(t.port, connections, Number(values.duration));
      const after = cpuTimes(t.pid);
      const s = samples.get(name)!;
      s.user.push(((after.user - before.user) * 1e6) / load.requests);
      s.sys.push(((after.system - before.system) * 1e6) / load.requests);
      s.cpu.push(s.user.at(-1)! + s.sys.at(-1)!);
      s.rps.push(load.rps);
      if (counted !== null) s.syscalls.push((counted.calls / counted.seconds) / (warm.requests / warm.seconds));
      process.stderr.write(`round ${round + 1} ${name.padEnd(8)} ${s.cpu.at(-1)!.toFixed(1)} us/req (user ${s.user.at(-1)!.toFixed(1)}, sys ${s.sys.at(-1)!.toFixed(1)}) ${Math.round(load.rps)} req/s\n`);
    }
  }
  const ref = median(samples.get("haproxy")!.cpu);
  for (const [name] of targets) {
    const s = samples.get(name)!;
    process.stdout.write(`${name.padEnd(8)} cpu ${median(s.cpu).toFixed(1)} us/req (${(median(s.cpu) / ref).toFixed(2)}x haproxy)  user ${median(s.user).toFixed(1)}  sys ${median(s.sys).toFixed(1)}  ${Math.round(median(s.rps))} req/s  syscalls ${s.syscalls.length === 0 ? "n/a" : median(s.syscalls).toFixed(2)}\n`);
  }
} finally {
  await stopAll(5000);
  rmSync(tmp, { recursive: true, force: true });
}
