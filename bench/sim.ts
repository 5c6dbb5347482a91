// `npm run bench:sim`: the simulator (control/sim/) at scale, and its explorer.
//
//   1. A day of a farm of 10,002 VMs (bench/sim/large-farm.ts) in virtual time: a day's demand at
//      every balancer, a crash an hour, the invariants checked between every two turns. Target: under
//      10 s of wall time.
//   2. `farmhand verify examples/order-processing/farm.ts --failures 2`, as a user runs it (a process
//      of its own, every thread the machine has). Target: under 60 s.
//   3. An exploration on 1 thread and on 2 (piscina): the speed-up. Target: 1.7x or more. Measured on
//      `--failures 3` (about 20,000 runs): with 2 failures (about 760 runs, 3 s) what does not divide
//      over threads (Node's start, loading the script, level 0, the threads' own start and warm-up)
//      is most of the time, so the whole command speeds up little; its ratio is printed too.
//
// Verify runs alternate (2 threads, 1, 2, 1, ...) and each figure is the best of its rounds, so that
// a burst of other work on the machine does not land on one side only; each run's line shows the load
// average when it began. The last line is the summary.
//
//   npm run bench:sim
//   PATH=$PWD/node_modules/.bin:$PATH node bench/sim.ts

import { spawnSync } from "node:child_process";
import { Worker } from "node:worker_threads";
import { mkdtempSync, rmSync } from "node:fs";
import module from "node:module";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "./lib/tools.ts";

// As the CLI does: the simulator's modules load from the compile cache instead of being type-stripped.
module.enableCompileCache?.();
const { DemandTrace } = await import("../control/sim/demand.ts");
const { runSimulation } = await import("../control/sim/simulation.ts");
const { formatDuration } = await import("../control/sim/durations.ts");
const large = await import("./sim/large-farm.ts");

const CLI = path.join(REPO_ROOT, "src/farmhand.mjs");
const EXAMPLE = path.join(REPO_ROOT, "examples/order-processing/farm.ts");
const DAY_MS = 24 * 3_600_000;
/** Verify runs on each side, with 2 failures; with 3 (each about 45 s on 1 thread), fewer. */
const ROUNDS = 3;
const ROUNDS_LARGE = 2;

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Requests per second at each balancer over a day: a night trough, a day plateau, a lunch spike. */
function dayOfDemand(): InstanceType<typeof DemandTrace> {
  const points: { at: number; rps: number }[] = [];
  for (let minute = 0; minute <= 24 * 60; minute += 10) {
    const h = minute / 60;
    const daily = 12_000 - 3_000 * Math.cos((2 * Math.PI * (h - 2)) / 24);
    const lunch = h >= 12 && h < 13.5 ? 2_500 : 0;
    points.push({ at: minute * 60_000, rps: Math.round(daily + lunch) });
  }
  return new DemandTrace(points);
}

/** A crash an hour, at half past: order replicas across the groups, and now and then a balancer or a front end. */
function crashes(): { vm: string; kind: "crash"; at: number }[] {
  return Array.from({ length: 24 }, (_, h) => {
    const vm = h % 8 === 3 ? `orders-balancer-${1 + ((h * 7) % large.GROUPS)}`
      : h % 8 === 6 ? `web-${1 + ((h * 11) % large.GROUPS)}`
      : `orders-${1 + ((h * 2_741) % (large.GROUPS * large.REPLICAS))}`;
    return { vm, kind: "crash" as const, at: h * 3_600_000 + 1_800_000 };
  });
}

async function largeFarmDay(): Promise<number> {
  say(`sim: ${large.VMS} VMs (${large.GROUPS} groups of ${large.REPLICAS} order replicas, a balancer and a web front end each; ` +
    `${Math.ceil(large.GROUPS / large.AUTOSCALED_EVERY)} groups autoscaled every ${formatDuration(large.SYNC_MS)}), 24h of virtual time`);
  say(`sim: controller: liveness probes ${large.CONTROLLER.livenessIntervalMs === 0 ? "off" : `every ${formatDuration(large.CONTROLLER.livenessIntervalMs!)}`}, ` +
    `resync every ${formatDuration(large.CONTROLLER.resyncIntervalMs!)}; demand 9,000-17,500 req/s at every balancer; 24 crashes`);
  const started = performance.now();
  const cpu = process.cpuUsage();
  const result = await runSimulation(large.default, {
    farm: "large",
    seed: 1,
    durationMs: DAY_MS,
    demand: dayOfDemand(),
    faults: crashes(),
    reconciler: large.CONTROLLER,
  });
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const events = result.log.filter((e) => e.kind === "event");
  const count = (type: string) => events.filter((e) => e.kind === "event" && e.event.type === type).length;
  const resized = events.filter((e) => e.kind === "event" && e.event.type === "autoscale" && e.event.from !== e.event.to).length;
  const injected = result.log.filter((e) => e.kind === "fault" && e.outcome === "injected").length;
  say(`sim: ${result.turns} turns, ${events.length} events (${count("vm-started")} started, ${count("vm-failed")} failed, ${count("vm-healed")} healed, ` +
    `${resized} resizes, ${count("vm-stopped")} removed), ${injected} crashes injected, ${result.violations.length} invariant violations, ` +
    `${result.topology?.vms.length ?? "?"} VMs at the end`);
  say(`sim: ${seconds.toFixed(1)} s wall, ${((used.user + used.system) / 1e6).toFixed(1)} s CPU`);
  // A figure from a run that went wrong would measure nothing worth knowing.
  const wrong = [
    ...result.violations.map((v) => `violation: ${v.message}`),
    ...result.crashedProcesses.map((p) => `a process of the simulation failed: ${p.name}: ${p.error}`),
    ...(injected === 24 ? [] : [`${injected} of 24 crashes injected`]),
    ...(count("vm-healed") >= injected ? [] : [`${count("vm-healed")} heals for ${injected} crashes`]),
    ...(result.scriptError === null ? [] : [`the script failed: ${String(result.scriptError)}`]),
  ];
  if (wrong.length > 0) throw new Error(`bench:sim: the large farm's day went wrong:\n  ${wrong.join("\n  ")}`);
  return seconds;
}

interface VerifyRun {
  readonly seconds: number;
  /** "N runs, M states": the exploration, which must not depend on the threads. */
  readonly explored: string;
}

function verify(threads: number | null, out: string, failures = 2): VerifyRun {
  const args = [CLI, "verify", EXAMPLE, "--failures", String(failures), "--out", out, ...(threads === null ? [] : ["--threads", String(threads)])];
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: "utf8", timeout: 600_000 });
  const seconds = (performance.now() - started) / 1000;
  const passed = /verify: passed: .* \((\d+ runs, \d+ states), /.exec(run.stdout ?? "");
  if (run.status !== 0 || passed === null) throw new Error(`bench:sim: verify did not pass (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  return { seconds, explored: passed[1] };
}

/** `verify --failures N` alternately on 2 threads and on 1, `rounds` times each: the best time of each side. */
function alternate(failures: number, rounds: number, out: string): { best1: number; best2: number } {
  say(`verify: examples/order-processing/farm.ts --failures ${failures}, alternately on 2 threads and on 1, ${rounds} times each`);
  const two: VerifyRun[] = [];
  const one: VerifyRun[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [n, list] of [[2, two], [1, one]] as const) {
      const load = os.loadavg()[0].toFixed(2);
      const r = verify(n, out, failures);
      list.push(r);
      say(`verify: ${n} thread(s): ${r.seconds.toFixed(1)} s (${r.explored}; load ${load})`);
    }
  }
  const explored = new Set([...two, ...one].map((r) => r.explored));
  if (explored.size !== 1) throw new Error(`bench:sim: the exploration differs with the threads: ${[...explored].join(" / ")}`);
  return { best1: Math.min(...one.map((r) => r.seconds)), best2: Math.min(...two.map((r) => r.seconds)) };
}

/**
 * What the machine gives two threads now: the same arithmetic loop on 1 thread and on 2, each thread
 * doing the same work. Beside the explorer's speed-up, it tells a busy machine from a slow explorer.
 */
async function machineSpeedup(): Promise<number> {
  const spin = "let x = 0; for (let i = 0; i < 3e8; i++) x = (x + i * 7) % 1000003; require('node:worker_threads').parentPort.postMessage(x);";
  const time = async (threads: number) => {
    const started = performance.now();
    await Promise.all(Array.from({ length: threads }, () => new Promise((resolve, reject) => new Worker(spin, { eval: true }).once("message", resolve).once("error", reject))));
    return (performance.now() - started) / 1000;
  };
  const one: number[] = [];
  const two: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    two.push(await time(2));
    one.push(await time(1));
  }
  return (2 * Math.min(...one)) / Math.min(...two);
}

async function main(): Promise<void> {
  const threads = os.availableParallelism();
  say(`bench:sim on ${threads} CPU(s), load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}, node ${process.version}`);
  const sim = await largeFarmDay();

  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-bench-sim-"));
  try {
    const out = path.join(dir, "counterexample.json");
    const small = alternate(2, ROUNDS, out);
    say(`verify: ${threads} thread(s) (the default) on this machine${threads === 2 ? ": the 2-thread runs above" : ""}`);
    const asUser = threads === 2 ? small.best2 : verify(null, out).seconds;
    if (threads !== 2) say(`verify: ${threads} thread(s): ${asUser.toFixed(1)} s`);
    say(`piscina, --failures 2 (the whole command, fixed costs included): 1 thread ${small.best1.toFixed(1)} s, 2 threads ${small.best2.toFixed(1)} s: ${(small.best1 / small.best2).toFixed(2)}x`);
    const large = alternate(3, ROUNDS_LARGE, out);
    const ratio = large.best1 / large.best2;
    say(`piscina, --failures 3: 1 thread ${large.best1.toFixed(1)} s, 2 threads ${large.best2.toFixed(1)} s (best of ${ROUNDS_LARGE} each): ${ratio.toFixed(2)}x`);
    say(`machine: a loop of arithmetic on 2 threads does ${(await machineSpeedup()).toFixed(2)}x the work of 1 thread in the same time, now`);
    say(`summary: sim 10000 VMs x 24h ${sim.toFixed(1)} s, verify --failures 2 ${asUser.toFixed(1)} s, piscina 2 threads ${ratio.toFixed(2)}x`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
