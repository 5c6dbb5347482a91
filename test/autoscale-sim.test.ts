// Autoscaling end to end on the in-memory ports, in virtual time: a balanced group follows a demand
// trace up (new replicas join the pool once they serve) and down (retired replicas leave the pool
// first and are destroyed after), holds while the metrics source is down, and scales from and to zero.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { autoscalePolicy } from "../control/autoscale/policy.ts";
import type { FarmEvent } from "../control/farm/farm.ts";
import { farmOnPorts } from "../control/farm/open-farm.ts";
import { DemandTrace, simDemandSource, type DemandPoint } from "../control/sim/demand.ts";
import { simWorld } from "../control/sim/ports.ts";
import { EchoService } from "./helpers/echo.ts";

/** A balanced, autoscaled group; `points` are the demand trace, from when the group is ready. */
async function group(points: readonly DemandPoint[], options: { min: number; max: number; start: number; down?: (t: number) => boolean }) {
  const traces = new Map<string, DemandTrace>();
  let t0 = 0;
  const world = simWorld("scale", { metrics: (kernel) => simDemandSource(kernel, traces, { down: options.down && ((t) => options.down!(t - t0)) }) });
  const farm = farmOnPorts("scale", world.ports, { livenessIntervalMs: 0, resyncIntervalMs: 0 });
  const events: FarmEvent[] = [];
  farm.on((e) => events.push(e));
  const replicas = await world.kernel.runUntil(farm.replicate(options.start, EchoService, {}));
  const front = await world.kernel.runUntil(farm.balance(replicas.map((r) => r.api)));
  t0 = world.kernel.now();
  traces.set("echo-balancer-1", new DemandTrace(points.map((p) => ({ at: t0 + p.at, rps: p.rps }))));
  const scaler = farm.autoscale(replicas, autoscalePolicy(EchoService, { demand: { metric: { kind: "request-rate" }, target: 100 }, min: options.min, max: options.max }));
  const frontHost = (await world.driver.list({ farm: "scale", vm: "echo-balancer-1" }))[0].address!.host;
  const active = () => world.balancers.active(frontHost).length;
  const running = async () => (await world.driver.list({ farm: "scale" })).filter((r) => r.spec.labels.role === "echo-service").length;
  return { world, farm, events, scaler, front, active, running };
}

test("a step from 2x to 10x capacity: the group grows at once, new replicas serve in the pool; quiet demand shrinks it after the window, drained first", async () => {
  const g = await group([{ at: 0, rps: 200 }, { at: 60_000, rps: 1000 }, { at: 180_000, rps: 120 }], { min: 1, max: 20, start: 2 });
  try {
    await g.world.kernel.advance(59_000);
    assert.is(g.scaler.replicas, 2, "2 replicas carry 200 rps at target 100");
    await g.world.kernel.advance(5_000);
    assert.is(g.scaler.replicas, 10, "10 replicas for 1000 rps");
    assert.is(g.active(), 10, "every new replica serves in the pool (boot takes 1 s here)");
    const grew = g.events.find((e) => e.type === "autoscale" && e.to > e.from);
    assert.ok(grew !== undefined && grew.type === "autoscale" && grew.rule === "panic", JSON.stringify(grew));
    // Quiet from 180 s: down stabilization (60 s) first, then the group shrinks to 2 and its VMs go.
    await g.world.kernel.advance(180_000 - 64_000 + 55_000);
    assert.is(g.scaler.replicas, 10, "still 10 inside the down window");
    await g.world.kernel.advance(20_000);
    assert.is(g.scaler.replicas, 2);
    assert.is(g.active(), 2);
    assert.is(await g.running(), 2, "retired replicas destroyed");
    const shrank = g.events.filter((e) => e.type === "autoscale" && e.to < e.from);
    assert.ok(shrank.length >= 1);
    // Every decision is an event, with its inputs.
    const last = g.events.filter((e) => e.type === "autoscale").at(-1)!;
    assert.ok(last.type === "autoscale" && last.demand.length === 1 && last.ratio !== null);
  } finally {
    g.farm.close();
  }
});

test("while the metrics source is down the group holds, and says why", async () => {
  const g = await group([{ at: 0, rps: 600 }, { at: 30_000, rps: 50 }], { min: 1, max: 20, start: 6, down: (t) => t >= 30_000 && t < 200_000 });
  try {
    await g.world.kernel.advance(180_000);
    assert.is(g.scaler.replicas, 6, "no scale-down on missing data, though demand fell");
    const held = g.events.filter((e) => e.type === "autoscale" && e.rule === "metric-failure");
    assert.ok(held.length > 100);
    assert.match((held[0] as { errors: readonly string[] }).errors[0], /down/);
    await g.world.kernel.advance(100_000);
    assert.is(g.scaler.replicas, 1, "once the source is back, the quiet demand is acted on");
  } finally {
    g.farm.close();
  }
});

test("scale to zero and from zero: min 0 leaves no replica when idle; demand brings one back", async () => {
  const g = await group([{ at: 0, rps: 0 }, { at: 200_000, rps: 150 }], { min: 0, max: 5, start: 1 });
  try {
    await g.world.kernel.advance(150_000);
    assert.is(g.scaler.replicas, 0);
    assert.is(await g.running(), 0);
    await g.world.kernel.advance(60_000);
    assert.is(g.scaler.replicas, 2);
    assert.is(g.active(), 2);
  } finally {
    g.farm.close();
  }
});

test.run();
