// The two implementations tell the same story. One scenario, played on the local driver (real
// processes on their own loopback addresses, real balancer VMs) and in simulation (control/sim/):
// the example farm comes up, a replica is killed, demand steps up to more than two replicas carry and
// back down. The reconciler and the autoscaler are the same code on both sides; so is the demand they
// read, a trace fed to the farm's metrics port on the farm's own clock. The event sequences, kinds
// and subjects in order with addresses, times and reasons left out, must be the same.

import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { freePorts } from "../bench/lib/net.ts";
import { systemClock, type Clock } from "../control/drivers/driver.ts";
import { localDriver } from "../control/drivers/local/index.ts";
import type { FarmEvent } from "../control/farm/farm.ts";
import { farmOnPorts, openFarm, type FarmHandle } from "../control/farm/open-farm.ts";
import { loadScript } from "../control/farm/script.ts";
import { DemandTrace, simDemandSource } from "../control/sim/demand.ts";
import { simWorld } from "../control/sim/ports.ts";
import { memorySecrets } from "../control/state/secrets.ts";
import { waitFor } from "./helpers/proxy.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const example = path.join(root, "examples/order-processing/farm.ts");
const FARM = "story";
/** Requests per second after the step: three replicas' worth at the example's target of 50. */
const STEP_RPS = 150;

/** Demand as a trace that the test steps at the clock's now; both the metrics port and (in simulation) the balancers read it. */
class SteppedDemand {
  #points = [{ at: 0, rps: 0 }];
  #trace = new DemandTrace(this.#points);
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get trace(): DemandTrace {
    return this.#trace;
  }

  step(rps: number): void {
    this.#points = [...this.#points, { at: this.#clock.now(), rps }];
    this.#trace = new DemandTrace(this.#points);
  }
}

/** What the scenario needs of one side: its farm, a way to wait, to kill a VM, and its demand. */
interface Side {
  readonly farm: FarmHandle;
  readonly demand: SteppedDemand;
  /** Lets the farm run until `done` holds; false when it did not within `ms` (virtual or real). */
  until(done: () => boolean, ms: number): Promise<boolean>;
  /** Runs a piece of the script's work to its end. */
  finish<T>(work: Promise<T>): Promise<T>;
  /** The VM crashes as its hypervisor sees it. */
  kill(vm: string): Promise<void>;
}

/** Runs the scenario on a side; returns its events, with the test's own steps marked among them. */
async function scenario(side: Side): Promise<string[]> {
  const events: (FarmEvent | string)[] = [];
  side.farm.on((e) => events.push(e));
  const mark = (what: string) => events.push(`-- ${what}`);
  const seen = (kind: FarmEvent["type"], test: (e: FarmEvent) => boolean = () => true) => () => events.some((e) => typeof e !== "string" && e.type === kind && test(e));
  const since = (marker: string, kind: FarmEvent["type"], test: (e: FarmEvent) => boolean) => () =>
    events.slice(events.indexOf(`-- ${marker}`)).some((e) => typeof e !== "string" && e.type === kind && test(e));
  const must = async (done: () => boolean, what: string, ms: number) => {
    assert.ok(await side.until(done, ms), `${what}, within ${ms} ms\n${normalize(events).join("\n")}`);
  };

  await side.finish((await loadScript(example))(side.farm));
  mark("script done");
  mark("kill orders-2");
  await side.kill("orders-2");
  await must(seen("vm-healed", (e) => e.type === "vm-healed" && e.vm === "orders-2"), "orders-2 healed", 60_000);
  mark(`demand ${STEP_RPS}`);
  side.demand.step(STEP_RPS);
  await must(since(`demand ${STEP_RPS}`, "pool-changed", (e) => e.type === "pool-changed" && e.backends.length === 3), "a third replica in the pool", 60_000);
  mark("demand 0");
  side.demand.step(0);
  await must(since("demand 0", "vm-stopped", (e) => e.type === "vm-stopped" && e.vm === "orders-3"), "the third replica retired", 90_000);
  mark("teardown");
  await side.finish(side.farm.teardown());
  return normalize(events);
}

/**
 * The story of a run: each event's kind and subject (and the size of a pool, the sizes of a group,
 * how a VM was healed), without addresses, times or reasons. The autoscaler's evaluations that change
 * nothing are left out: how many happen depends on how long things take. What runs concurrently may
 * end in either order on real processes, so it is compared as a set: events of one kind about one
 * role in a row (replicas started together), and what teardown removes.
 */
function normalize(events: readonly (FarmEvent | string)[]): string[] {
  const lines: { kind: string; line: string }[] = [];
  let tornDown = false;
  for (const e of events) {
    if (typeof e === "string") {
      lines.push({ kind: "mark", line: e });
      tornDown ||= e === "-- teardown";
      continue;
    }
    switch (e.type) {
      case "vm-started": lines.push({ kind: `${e.type} ${e.role}`, line: `started ${e.vm} (${e.role})` }); break;
      case "vm-failed": lines.push({ kind: e.type, line: `failed ${e.vm} (${e.role})` }); break;
      case "vm-stopped": lines.push({ kind: tornDown ? e.type : `${e.type} ${e.role}`, line: `removed ${e.vm}` }); break;
      case "vm-healed": lines.push({ kind: e.type, line: `healed ${e.vm} (${e.how})` }); break;
      case "vm-rewired": lines.push({ kind: e.type, line: `rewired ${e.vm} (${Object.keys(e.imports).sort().join(", ")})` }); break;
      case "pool-changed": lines.push({ kind: e.type, line: `pool of ${e.pool}: ${e.backends.length}` }); break;
      case "autoscale": if (e.from !== e.to) lines.push({ kind: e.type, line: `autoscale ${e.group}: ${e.from} -> ${e.to}` }); break;
    }
  }
  const out: string[] = [];
  for (let i = 0; i < lines.length;) {
    let j = i + 1;
    while (j < lines.length && lines[j].kind === lines[i].kind && lines[i].kind !== "mark") j++;
    out.push(...lines.slice(i, j).map((l) => l.line).sort());
    i = j;
  }
  return out;
}

async function simulated(): Promise<string[]> {
  let demand: SteppedDemand | null = null;
  const world = simWorld(FARM, {
    seed: 1,
    driver: { bootMs: 1_000, stopMs: 200, jitter: 0.1 },
    balancers: { demand: (_balancer, t) => demand!.trace.rpsAt(t) },
    metrics: (kernel) => simDemandSource(kernel, () => demand!.trace),
  });
  demand = new SteppedDemand(world.kernel);
  const farm = farmOnPorts(FARM, world.ports);
  const kernel = world.kernel;
  try {
    return await scenario({
      farm,
      demand,
      async until(done, ms) {
        await kernel.runWhile(() => !done(), kernel.now() + ms);
        return done();
      },
      finish: (work) => kernel.runUntil(work),
      async kill(vm) {
        const [record] = await world.driver.list({ farm: FARM, vm });
        world.driver.crash(record.id);
      },
    });
  } finally {
    farm.close();
  }
}

async function local(): Promise<string[]> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-story-"));
  const [port] = await freePorts(1);
  const driver = localDriver({ stateDir, port, stopGraceMs: 1_000 });
  const clock = systemClock;
  const demand = new SteppedDemand(clock);
  const farm = await openFarm(driver, { name: FARM, clock, metrics: simDemandSource(clock, () => demand.trace), secrets: memorySecrets(FARM) });
  try {
    return await scenario({
      farm,
      demand,
      until: (done, ms) => waitFor(done, ms, 50),
      finish: (work) => work,
      async kill(vm) {
        const [record] = await driver.list({ farm: FARM, vm });
        driver.signal(record.id, "SIGKILL");
      },
    });
  } finally {
    farm.close();
    // Whatever the scenario left (it failed before its teardown) goes.
    for (const r of await driver.list({ farm: FARM })) await driver.destroy(r.id).catch(() => {});
    await driver.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

test("the example farm, a replica killed and a demand step: the local driver and the simulator tell the same story", async () => {
  const story = await simulated();
  // The story is worth comparing: the kill was healed, the group grew to three and came back to two.
  assert.ok(story.includes("healed orders-2 (restarted)"), story.join("\n"));
  assert.ok(story.includes("autoscale orders-balancer-1: 2 -> 3"), story.join("\n"));
  assert.ok(story.includes("autoscale orders-balancer-1: 3 -> 2"), story.join("\n"));
  const real = await local();
  assert.equal(real, story);
});

test.run();
