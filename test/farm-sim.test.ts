// The farm on in-memory ports (control/sim/): the example farm script, unchanged, realized by the same
// reconciler a real run uses, with no process, no socket and no wall-clock timer. What comes out is
// checked against the model, and a failure is healed in virtual time.

import childProcess from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { farmOnPorts } from "../control/farm/open-farm.ts";
import type { FarmEvent } from "../control/farm/farm.ts";
import { loadScript } from "../control/farm/script.ts";
import { graphOf } from "../control/graph/from-model.ts";
import { simWorld } from "../control/sim/ports.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const example = path.join(root, "examples/order-processing/farm.ts");

test("the example farm on fake ports: every VM runs, wired as the model says, balancer pools hold the replicas", async () => {
  // Any process or socket would fail the test.
  const spawn = childProcess.spawn;
  const connect = net.connect;
  (childProcess as { spawn: unknown }).spawn = () => { throw new Error("no process in simulation"); };
  (net as { connect: unknown }).connect = () => { throw new Error("no socket in simulation"); };
  const world = simWorld("shop");
  const farm = farmOnPorts("shop", world.ports, { livenessIntervalMs: 0, resyncIntervalMs: 0 });
  const events: FarmEvent[] = [];
  farm.on((e) => events.push(e));
  try {
    const result = await world.kernel.runUntil((await loadScript(example))(farm));
    const records = await world.driver.list({ farm: "shop" });
    assert.equal(records.map((r) => r.spec.labels.vm).sort(), ["inventory-1", "orders-1", "orders-2", "orders-balancer-1", "payments-1", "web-1"]);
    assert.ok(records.every((r) => r.state === "running"));
    const at = (vm: string) => records.find((r) => r.spec.labels.vm === vm)!.address!;
    const url = (vm: string) => `http://${at(vm).host}:${at(vm).port}`;
    // Imports point at the VMs the model says, at their real addresses.
    for (const o of ["orders-1", "orders-2"]) {
      assert.equal(records.find((r) => r.spec.labels.vm === o)!.spec.imports, { payments: url("payments-1"), inventory: url("inventory-1") });
    }
    assert.equal(records.find((r) => r.spec.labels.vm === "web-1")!.spec.imports, { orders: url("orders-balancer-1") });
    // The balancer's pool holds the two replicas.
    assert.equal(world.balancers.active(at("orders-balancer-1").host).sort(), ["orders-1", "orders-2"].map((o) => `${at(o).host}:8080`).sort());
    // What the script got back are the real endpoints.
    assert.is((result as Record<string, { url: string }>).orders.url, url("orders-balancer-1"));
    // And the topology is the model's: the graph of what runs equals the graph the plan draws.
    assert.is(graphOf(farm.model).nodes.length, 6);
    assert.is(events.filter((e) => e.type === "vm-started").length, 6);

    // A replica crashes: out of the pool at once, healed (in place) after the backoff, back in.
    const victim = records.find((r) => r.spec.labels.vm === "orders-2")!;
    world.driver.crash(victim.id);
    await world.kernel.advance(0);
    assert.not.ok(world.balancers.active(at("orders-balancer-1").host).includes(`${victim.address!.host}:8080`), "out of the pool at once");
    await world.kernel.advance(5_000);
    const healed = events.find((e) => e.type === "vm-healed");
    assert.equal(healed, { type: "vm-healed", vm: "orders-2", role: "orders", how: "restarted", address: `${victim.address!.host}:8080` });
    assert.ok(world.balancers.active(at("orders-balancer-1").host).includes(`${victim.address!.host}:8080`), "back in the pool");
  } finally {
    farm.close();
    (childProcess as { spawn: unknown }).spawn = spawn;
    (net as { connect: unknown }).connect = connect;
  }
});

test.run();
