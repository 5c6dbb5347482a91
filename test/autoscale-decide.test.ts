// The autoscaling decision (control/autoscale/decide.ts) as a pure function: its rules one by one, and
// properties over generated histories: min <= replicas <= max, rate limits hold over every period, a
// metric that cannot be read never scales down, a noisy flat demand does not make the count flap.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { decide, EMPTY_HISTORY, reversals, type History, type Reading } from "../control/autoscale/decide.ts";
import { completePolicy, type AutoscaleOptions, type AutoscalePolicy, type RateRule } from "../control/autoscale/policy.ts";
import { Rng } from "./helpers/framing-fuzzer.ts";

const rate = { metric: { kind: "request-rate" as const }, target: 100 };
const policy = (o: Partial<AutoscaleOptions> = {}): AutoscalePolicy => completePolicy("test", { demand: rate, min: 1, max: 20, ...o } as AutoscaleOptions);
const at = (value: number, now: number): Reading => ({ value, at: now });

/** Runs a policy over a demand trace, one evaluation per `stepMs`, the group taking the count decided at once. */
function run(p: AutoscalePolicy, demand: (t: number) => number | null, seconds: number, start = p.min, stepMs = 1000) {
  let history: History = EMPTY_HISTORY;
  let replicas = start;
  const out: { t: number; replicas: number; rule: string; panic: boolean }[] = [];
  for (let t = 0; t <= seconds * 1000; t += stepMs) {
    const d = demand(t);
    const r = decide(p, history, { current: replicas, ready: replicas, readings: [d === null ? { value: null, error: "down" } : at(d, t)] }, t);
    history = r.history;
    replicas = r.decision.desired;
    out.push({ t, replicas, rule: r.decision.limitedBy, panic: r.decision.panic });
  }
  return out;
}

test("demand over target: ceil(demand / target); within tolerance it holds", () => {
  const p = policy();
  const d = (v: number, current = 4) => decide(p, EMPTY_HISTORY, { current, ready: current, readings: [at(v, 0)] }, 0).decision;
  assert.is(d(1000, 6).desired, 10);
  assert.is(d(600, 5).limitedBy, "demand");
  assert.is(d(430).desired, 4, "430 over 4 x 100 is within 10 %");
  assert.is(d(430).limitedBy, "tolerance");
  assert.is(d(460).desired, 5);
  // A scale-down follows the highest recommendation of its window (60 s by default).
  const first = decide(p, EMPTY_HISTORY, { current: 4, ready: 4, readings: [at(400, 0)] }, 0);
  const later = decide(p, first.history, { current: 4, ready: 4, readings: [at(150, 30_000)] }, 30_000).decision;
  assert.equal([later.desired, later.limitedBy], [4, "stabilization"]);
  assert.is(decide(p, first.history, { current: 4, ready: 4, readings: [at(150, 61_000)] }, 61_000).decision.desired, 2);
  assert.is(decide(policy({ stabilization: { upMs: 0, downMs: 0 } }), EMPTY_HISTORY, { current: 4, ready: 4, readings: [at(150, 0)] }, 0).decision.desired, 2);
});

test("metric failures: missing, stale or NaN never scales down; fallback after N failures; towards max", () => {
  const p = policy({ stabilization: { upMs: 0, downMs: 0 } });
  for (const reading of [{ value: null, error: "prometheus down" }, at(Number.NaN, 0), at(10, -60_000)] as Reading[]) {
    const d = decide(p, EMPTY_HISTORY, { current: 6, ready: 6, readings: [reading] }, 0).decision;
    assert.is(d.desired, 6, JSON.stringify(reading));
    assert.is(d.limitedBy, "metric-failure");
  }
  const fb = policy({ onMetricFailure: { kind: "fallback", replicas: 7, afterFailures: 3 } });
  let h: History = EMPTY_HISTORY;
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = decide(fb, h, { current: 4, ready: 4, readings: [{ value: null, error: "x" }] }, i * 1000);
    h = r.history;
    seen.push(r.decision.desired);
  }
  assert.equal(seen, [4, 4, 7, 7], "the fallback count after the third failure");
  assert.is(decide(policy({ onMetricFailure: { kind: "max" } }), EMPTY_HISTORY, { current: 4, ready: 4, readings: [{ value: null, error: "x" }] }, 0).decision.desired, 16, "towards max, as fast as the rate allows (300 % of 4 more)");
});

test("several metrics: the largest recommendation wins; one failing keeps the rest from shrinking the group", () => {
  const p = policy({ demand: [rate, { metric: { kind: "in-flight" }, target: 10 }], stabilization: { upMs: 0, downMs: 0 } });
  assert.is(decide(p, EMPTY_HISTORY, { current: 4, ready: 4, readings: [at(200, 0), at(70, 0)] }, 0).decision.desired, 7);
  assert.is(decide(p, EMPTY_HISTORY, { current: 4, ready: 4, readings: [at(100, 0), { value: null, error: "x" }] }, 0).decision.desired, 4);
});

test("zero: a group at min 0 stays at zero until demand passes activation, then one replica comes at once", () => {
  const p = policy({ min: 0, activation: 5 });
  assert.is(decide(p, EMPTY_HISTORY, { current: 0, ready: 0, readings: [at(3, 0)] }, 0).decision.desired, 0);
  const d = decide(p, EMPTY_HISTORY, { current: 0, ready: 0, readings: [at(30, 0)] }, 0).decision;
  assert.is(d.desired, 1);
});

test("panic: a spike scales up past the up-stabilization window, and nothing shrinks inside the panic window", () => {
  const p = policy({ stabilization: { upMs: 30_000, downMs: 0 } });
  // Demand jumps to 5x at 10 s and falls back at 14 s; the panic window is 10 s from 10 s.
  const trace = run(p, (t) => (t < 10_000 ? 200 : t < 14_000 ? 1000 : 150), 60, 2);
  assert.is(trace.find((s) => s.t === 10_000)!.replicas, 10, "grew to the demand at once");
  assert.ok(trace.filter((s) => s.t >= 14_000 && s.t < 20_000).every((s) => s.replicas === 10 && s.rule === "panic"), "held through the panic window");
  assert.is(trace.find((s) => s.t === 20_000)!.replicas, 2, "and shrank when it closed");
});

test("cooldown: no scale-up right after a scale-up, no scale-down right after any change", () => {
  const p = policy({ cooldown: { upMs: 10_000, downMs: 20_000 }, stabilization: { upMs: 0, downMs: 0 }, panic: false });
  const trace = run(p, (t) => (t < 5_000 ? 250 : t < 8_000 ? 900 : 100), 40, 1);
  const at5 = trace.find((s) => s.t === 5_000)!;
  assert.is(at5.replicas, 3, "250 -> 3 at once, then 900 waits for the up cooldown");
  assert.is(trace.find((s) => s.t === 14_000)!.rule, "cooldown");
});

test("properties over generated histories: min <= n <= max, rate limits hold over every period, no scale-down on failed reads", () => {
  const rng = new Rng(42);
  for (let round = 0; round < 200; round++) {
    const min = rng.int(4);
    const max = min + 1 + rng.int(30);
    const rules: RateRule[] = [{ replicas: 1 + rng.int(5), periodMs: 1000 * (5 + rng.int(30)) }, { percent: 10 + rng.int(200), periodMs: 1000 * (5 + rng.int(30)) }];
    const p = policy({
      min, max,
      stabilization: { upMs: 1000 * rng.int(20), downMs: 1000 * rng.int(120) },
      rate: { up: { rules, select: rng.chance(0.5) ? "max" : "min" }, down: { rules: [rules[rng.int(2)]], select: "max" } },
      onMetricFailure: rng.chance(0.5) ? { kind: "hold" } : { kind: "fallback", replicas: rng.int(max + 1), afterFailures: 1 + rng.int(4) },
      activation: rng.int(50),
    });
    let history: History = EMPTY_HISTORY;
    let replicas = min + rng.int(max - min + 1);
    const changes: { at: number; from: number; to: number; panic: boolean }[] = [];
    for (let t = 0; t < 600_000; t += 1000) {
      const fails = rng.chance(0.1);
      const value = rng.chance(0.02) ? Number.NaN : rng.int(4000);
      const reading: Reading = fails ? { value: null, error: "down" } : at(value, rng.chance(0.05) ? t - 60_000 : t);
      const ready = Math.max(0, replicas - rng.int(2));
      const r = decide(p, history, { current: replicas, ready, readings: [reading] }, t);
      const d = r.decision;
      assert.ok(d.desired >= min && d.desired <= max, `min ${min} <= ${d.desired} <= max ${max}`);
      const unreadable = fails || !Number.isFinite(value) || (reading.value !== null && t - reading.at > p.staleMs);
      if (unreadable) assert.ok(d.desired >= replicas || d.desired === min && replicas > max, `no scale-down on a failed read (${replicas} -> ${d.desired})`);
      if (d.desired !== replicas) changes.push({ at: t, from: replicas, to: d.desired, panic: d.panic });
      history = r.history;
      replicas = d.desired;
    }
    // Every change respects the up rules: within a rule's period, growth from the period's start is
    // bounded by the loosest (select max) or tightest (select min) rule.
    // (A spike's panic growth is exempt by design.)
    for (const c of changes.filter((x) => x.to > x.from && x.from >= min && !x.panic)) {
      const bounds = rules.map((rule) => {
        const since = changes.filter((x) => x.at > c.at - rule.periodMs && x.at <= c.at);
        const start = since[0]?.from ?? c.from;
        return start + ("replicas" in rule ? rule.replicas : Math.max(1, Math.ceil((start * rule.percent) / 100)));
      });
      const limit = p.rate.up.select === "max" ? Math.max(...bounds) : Math.min(...bounds);
      assert.ok(c.to <= Math.max(limit, min), `growth ${c.from} -> ${c.to} within the rate limit ${limit}`);
    }
  }
});

test("a noisy flat demand (+-20 %) makes no direction changes once settled; a step settles at the ideal count", () => {
  const rng = new Rng(7);
  const p = policy();
  const noisy = run(p, () => 800 * (0.8 + 0.4 * rng.next()), 3600, 1);
  const settled = noisy.filter((s) => s.t > 120_000).map((s) => s.replicas);
  assert.is(reversals(settled), 0, `counts ${[...new Set(settled)].join(", ")}`);
  const step = run(p, (t) => (t < 60_000 ? 200 : 1000), 300, 2);
  assert.is(step.at(-1)!.replicas, 10);
  assert.is(step.find((s) => s.t === 60_000)?.replicas, 10, "a step to 5x is a spike: met at once");
});

test("reversals counts turnarounds, not steps", () => {
  assert.is(reversals([2, 3, 4, 4, 3, 3, 5, 2]), 3);
  assert.is(reversals([2, 4, 8, 8]), 0);
  assert.is(reversals([]), 0);
});

test("a policy's mistakes are refused by field, with the value given", () => {
  const cases: [Partial<AutoscaleOptions> & Record<string, unknown>, RegExp][] = [
    [{ min: 3, max: 2 }, /^test: min: at most max \(2\) \(got 3\)$/],
    [{ max: 0, min: 0 }, /^test: max: at least 1 \(got 0\)$/],
    [{ min: 1.5 }, /^test: min: a whole number, 0 or more \(got 1\.5\)$/],
    [{ demand: [] }, /^test: demand: at least one demand metric/],
    [{ demand: { metric: { kind: "request-rate" }, target: 0 } }, /^test: demand\[0\]\.target: a positive number \(got 0\)$/],
    [{ demand: { metric: { kind: "latency", quantile: 99 }, target: 0.2 } }, /^test: demand\[0\]\.metric\.quantile: between 0 and 1 \(got 99\)$/],
    [{ demand: { metric: { kind: "rps" }, target: 5 } } as never, /^test: demand\[0\]\.metric\.kind: request-rate, in-flight, latency or promql \(got rps\)$/],
    [{ tolerance: { up: 0.1, down: 1 } }, /^test: tolerance\.down: between 0 and 1 \(got 1\)$/],
    [{ stabilization: { upMs: -1, downMs: 0 } }, /^test: stabilization\.upMs: milliseconds, 0 or more \(got -1\)$/],
    [{ onMetricFailure: { kind: "fallback", replicas: 4, afterFailures: 0 } }, /^test: onMetricFailure\.afterFailures: at least 1 failed read \(got 0\)$/],
    [{ onMetricFailure: { kind: "fallback", replicas: 4 } } as never, /^test: onMetricFailure\.afterFailures: a whole number, 0 or more/],
    [{ onMetricFailure: { kind: "scale-up" } } as never, /^test: onMetricFailure\.kind: hold, fallback or max \(got scale-up\)$/],
    [{ activation: -2 }, /^test: activation: a number, 0 or more \(got -2\)$/],
    [{ syncMs: 10 }, /^test: syncMs: at least 100 \(got 10\)$/],
  ];
  for (const [options, message] of cases) {
    try {
      policy(options as Partial<AutoscaleOptions>);
      assert.unreachable(`accepted ${JSON.stringify(options)}`);
    } catch (error) {
      assert.is((error as { code?: string }).code, "FARMHAND_WIRING", String(error));
      assert.match((error as Error).message, message);
    }
  }
});

test.run();
