// `npm run bench:scale`: demand scenarios replayed against the order-processing farm on the local
// driver, for farmhand's autoscaling policy and, side by side in the same run, an HPA-default one
// (15 s sync, tolerance 0.1, a 300 s scale-down window, HPA's rate limits, no panic mode).
//
// Scenarios: a step from 1x to 5x (time from the step to added capacity serving, over several runs;
// replica-seconds against the ideal); a noisy flat demand (+-20 %: direction changes); a sawtooth;
// a Prometheus outage (the group must hold); and 20 scale-ins under load (failed requests, with
// replicas drained before they go). Each run starts from a freshly deployed farm. Demand is made by
// autocannon at fixed rates, segment by segment; the farm reads it from its own Prometheus (the Debian
// package, installed when missing) scraping every second.
//
//   npm run bench:scale                 about 25 minutes
//   npm run bench:scale -- --quick      one run of each scenario, shortened (about 8 minutes)

import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { reversals } from "../control/autoscale/decide.ts";
import { completePolicy, type AutoscaleOptions } from "../control/autoscale/policy.ts";
import { localDriver } from "../control/drivers/local/index.ts";
import type { Autoscaled } from "../control/farm/farm.ts";
import { openFarm, type FarmHandle } from "../control/farm/open-farm.ts";
import { chooseDemandSource, type DemandSource } from "../control/metrics/choose.ts";
import { memorySecrets } from "../control/state/secrets.ts";
import { adminClient } from "../native-free-core/admin/client.ts";
import { httpUrl } from "../native-free-core/net/address.ts";
import { InventoryService, OrderService, PaymentService } from "../examples/order-processing/roles.ts";
import { runTrace, type Segment } from "./scale/trace-load.ts";
import { ensurePackage } from "./lib/tools.ts";

const { values } = parseArgs({ options: { quick: { type: "boolean" }, runs: { type: "string" } }, strict: true });
const QUICK = values.quick === true;
const STEP_RUNS = Number(values.runs ?? (QUICK ? 1 : 3));

/** One replica should carry this many requests a second. */
const TARGET = 50;
const MIN = 2;
const MAX = 8;
/** The step's 1x: what MIN replicas carry, a little under their target. */
const STEP_BASE_RPS = 60;

type PolicyName = "farmhand" | "hpa-default";
const POLICIES: Record<PolicyName, Omit<AutoscaleOptions, "demand" | "min" | "max">> = {
  farmhand: {},
  "hpa-default": {
    syncMs: 15_000,
    tolerance: { up: 0.1, down: 0.1 },
    stabilization: { upMs: 0, downMs: 300_000 },
    rate: {
      up: { rules: [{ replicas: 4, periodMs: 15_000 }, { percent: 100, periodMs: 15_000 }], select: "max" },
      down: { rules: [{ percent: 100, periodMs: 15_000 }], select: "max" },
    },
    panic: false,
  },
};

interface Farm {
  readonly handle: FarmHandle;
  /** Scale-ins made so far. */
  readonly shrinks: () => number;
  readonly scaler: Autoscaled;
  readonly url: string;
  readonly demand: DemandSource;
  /** Routable backends of the group's pool now. */
  serving(): Promise<number>;
  close(): Promise<void>;
}

async function deploy(policy: PolicyName, extra: Partial<AutoscaleOptions> = {}): Promise<Farm> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-bench-scale-"));
  const name = `bench-${policy}`;
  const driver = localDriver({ stateDir: path.join(dir, "local"), stopGraceMs: 2000 });
  const secrets = memorySecrets(name);
  const demand = await chooseDemandSource(name, dir, driver, secrets, { env: {} });
  const handle = await openFarm(driver, { name, secrets, metrics: demand.source });
  const pay = await handle.vm(PaymentService, {});
  const stock = await handle.vm(InventoryService, {});
  const orders = await handle.replicate(MIN, OrderService, { payments: pay.api, inventory: stock.api });
  const front = await handle.balance(orders.map((o) => o.api), { policy: "least-request" });
  handle.heal(orders);
  await demand.refreshTargets();
  const scaler = handle.autoscale(orders, completePolicy(policy, { demand: { metric: { kind: "request-rate" }, target: TARGET }, min: MIN, max: MAX, ...POLICIES[policy], ...extra } as AutoscaleOptions));
  let shrinks = 0;
  handle.on((e) => {
    if (e.type === "autoscale" && e.to < e.from) shrinks++;
  });
  const balancer = (await driver.list({ farm: name, vm: "orders-balancer-1" }))[0];
  const admin = adminClient(httpUrl({ host: balancer.address!.host, port: 9901 }), { token: secrets.adminToken("orders-balancer-1") });
  // Prometheus needs a few scrapes of the balancer before its rates mean anything.
  await runTrace(`${front.url}/orders`, [{ seconds: 6, rps: MIN * TARGET }]);
  return {
    handle, scaler, url: `${front.url}/orders`, demand, shrinks: () => shrinks,
    serving: async () => (await admin.pool("main").catch(() => ({ backends: [] }))).backends.filter((b) => b.lifecycle === "active" && b.routable).length,
    close: async () => {
      handle.close();
      await handle.teardown().catch(() => {});
      await demand.close();
      await driver.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Samples the group every 250 ms while `work` runs: time, replicas, serving. */
async function sample(farm: Farm, work: Promise<unknown>): Promise<{ t: number; replicas: number; serving: number }[]> {
  const start = Date.now();
  const out: { t: number; replicas: number; serving: number }[] = [];
  let done = false;
  void work.finally(() => (done = true));
  while (!done) {
    out.push({ t: Date.now() - start, replicas: farm.scaler.replicas, serving: await farm.serving() });
    await new Promise((r) => setTimeout(r, 250));
  }
  await work;
  return out;
}

const ideal = (rps: number) => Math.min(MAX, Math.max(MIN, Math.ceil(rps / TARGET)));

/** Replica-seconds used against the ideal over a trace, from samples (demand at each sample's time). */
function replicaSeconds(samples: readonly { t: number; replicas: number }[], trace: readonly Segment[]): { used: number; ideal: number } {
  let used = 0;
  let best = 0;
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].t - samples[i - 1].t) / 1000;
    used += samples[i - 1].replicas * dt;
    best += ideal(rpsAt(trace, samples[i - 1].t)) * dt;
  }
  return { used, ideal: best };
}

function rpsAt(trace: readonly Segment[], t: number): number {
  let start = 0;
  for (const s of trace) {
    if (t < start + s.seconds * 1000) return s.rps;
    start += s.seconds * 1000;
  }
  return trace.at(-1)!.rps;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

const say = (line: string) => process.stdout.write(`${line}\n`);

interface Row {
  policy: PolicyName;
  spike: number[];
  failed: number;
  reversals: number;
  replicaSeconds: number;
  outageHeld: boolean | null;
}

async function step(policy: PolicyName): Promise<{ toServing: number; failed: number; ratio: number }> {
  const farm = await deploy(policy);
  try {
    // 1x is 60 req/s (2 replicas) and 5x is 300 (6): below the max, so that a policy that overshoots
    // shows it in its replica-seconds (with 5x at the max, no policy could use more than the ideal).
    const trace: Segment[] = [{ seconds: 10, rps: STEP_BASE_RPS }, { seconds: QUICK ? 40 : 60, rps: 5 * STEP_BASE_RPS }];
    let failed = 0;
    const samples = await sample(farm, runTrace(farm.url, trace).then((r) => (failed = r.failed)));
    // Added capacity serving: the pool serves what 5x demand needs.
    const from = trace[0].seconds * 1000;
    const reached = samples.find((s) => s.t >= from && s.serving >= ideal(trace[1].rps));
    const rs = replicaSeconds(samples.filter((s) => s.t >= from), trace.slice(1));
    return { toServing: reached === undefined ? Infinity : (reached.t - from) / 1000, failed, ratio: rs.used / rs.ideal };
  } finally {
    await farm.close();
  }
}
async function noisy(policy: PolicyName): Promise<{ reversals: number; failed: number }> {
  const farm = await deploy(policy);
  try {
    // +-20 % around 250 requests a second (5 replicas), a new rate every 2 s, after a minute to settle.
    const seed = { s: 12345 };
    const random = () => ((seed.s = (seed.s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const warm: Segment[] = [{ seconds: 60, rps: 250 }];
    const trace: Segment[] = Array.from({ length: QUICK ? 45 : 90 }, () => ({ seconds: 2, rps: Math.round(250 * (0.8 + 0.4 * random())) }));
    await runTrace(farm.url, warm);
    let lost = 0;
    const samples = await sample(farm, runTrace(farm.url, trace).then((r) => (lost = r.failed)));
    return { reversals: reversals(samples.map((s) => s.replicas)), failed: lost };
  } finally {
    await farm.close();
  }
}

async function sawtooth(policy: PolicyName): Promise<{ reversals: number; failed: number; ratio: number }> {
  const farm = await deploy(policy);
  try {
    const teeth = QUICK ? 2 : 3;
    const trace: Segment[] = [];
    for (let i = 0; i < teeth; i++) for (const rps of [100, 175, 250, 325, 400, 325, 250, 175]) trace.push({ seconds: 8, rps });
    let lost = 0;
    const samples = await sample(farm, runTrace(farm.url, trace).then((r) => (lost = r.failed)));
    const rs = replicaSeconds(samples, trace);
    return { reversals: reversals(samples.map((s) => s.replicas)), failed: lost, ratio: rs.used / rs.ideal };
  } finally {
    await farm.close();
  }
}

async function outage(policy: PolicyName): Promise<boolean> {
  const farm = await deploy(policy);
  try {
    await runTrace(farm.url, [{ seconds: 25, rps: 300 }]);
    const before = farm.scaler.replicas;
    await farm.demand.prometheus?.close();
    // Demand falls while Prometheus is down: the group must not shrink on missing data.
    const samples = await sample(farm, runTrace(farm.url, [{ seconds: QUICK ? 30 : 60, rps: 50 }]));
    return samples.every((s) => s.replicas >= before);
  } finally {
    await farm.close();
  }
}

/** 20 scale-ins under load, with a short down window so that they come quickly: failed requests. */
async function scaleIns(): Promise<{ scaleIns: number; failed: number; requests: number }> {
  const farm = await deploy("farmhand", { stabilization: { upMs: 0, downMs: 3_000 } });
  try {
    const cycles = QUICK ? 8 : 20;
    const trace: Segment[] = [];
    for (let i = 0; i < cycles; i++) trace.push({ seconds: 7, rps: 350 }, { seconds: 9, rps: 60 });
    const result = await runTrace(farm.url, trace);
    return { scaleIns: farm.shrinks(), failed: result.failed, requests: result.requests };
  } finally {
    await farm.close();
  }
}

async function main(): Promise<void> {
  ensurePackage("prometheus");
  say(`bench:scale: target ${TARGET} req/s per replica, min ${MIN}, max ${MAX}; ${STEP_RUNS} step run(s) per policy${QUICK ? " (quick)" : ""}`);
  const rows: Row[] = [];
  for (const policy of ["farmhand", "hpa-default"] as const) {
    const row: Row = { policy, spike: [], failed: 0, reversals: 0, replicaSeconds: 0, outageHeld: null };
    const ratios: number[] = [];
    for (let i = 0; i < STEP_RUNS; i++) {
      const r = await step(policy);
      say(`  ${policy} step ${i + 1}: added capacity serving after ${r.toServing.toFixed(1)} s, ${r.failed} failed, replica-seconds ${r.ratio.toFixed(2)}x ideal`);
      row.spike.push(r.toServing);
      row.failed += r.failed;
      ratios.push(r.ratio);
    }
    row.replicaSeconds = ratios.reduce((a, b) => a + b, 0) / ratios.length;
    const n = await noisy(policy);
    say(`  ${policy} noisy flat: ${n.reversals} direction changes, ${n.failed} failed`);
    row.reversals = n.reversals;
    row.failed += n.failed;
    const s = await sawtooth(policy);
    say(`  ${policy} sawtooth: ${s.reversals} direction changes, ${s.failed} failed, replica-seconds ${s.ratio.toFixed(2)}x ideal`);
    row.failed += s.failed;
    row.outageHeld = await outage(policy);
    say(`  ${policy} prometheus outage: ${row.outageHeld ? "held" : "SHRANK on missing data"}`);
    rows.push(row);
  }
  const ins = await scaleIns();
  say(`  farmhand scale-ins under load: ${ins.scaleIns} scale-ins, ${ins.failed} failed of ${ins.requests} requests`);
  say("");
  say("| policy | spike to serving p50 | p95 | failed | reversals (noisy) | replica-seconds (step) | outage |");
  say("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    say(`| ${r.policy} | ${percentile(r.spike, 0.5).toFixed(1)} s | ${percentile(r.spike, 0.95).toFixed(1)} s | ${r.failed} | ${r.reversals} | ${r.replicaSeconds.toFixed(2)}x ideal | ${r.outageHeld ? "held" : "shrank"} |`);
  }
  const ours = rows[0];
  const hpa = rows[1];
  say(`summary: spike-to-serving p95 ${percentile(ours.spike, 0.95).toFixed(1)} s (hpa-default ${percentile(hpa.spike, 0.95).toFixed(1)} s), failed ${ours.failed + ins.failed}, reversals ${ours.reversals}, replica-seconds ${ours.replicaSeconds.toFixed(2)}x ideal`);
}

await main();
