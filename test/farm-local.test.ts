// The combinators end to end on the local driver: real child processes on their own loopback
// addresses, real balancer VMs, real traffic.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import Type from "typebox";
import { request } from "undici";
import { contract, role, type AnyEndpoint } from "../control/contracts/index.ts";
import { localDriver } from "../control/drivers/local/index.ts";
import { findVmPids } from "../control/drivers/local/proc.ts";
import { GuardMismatchError } from "../control/errors.ts";
import { openFarm } from "../control/farm/open-farm.ts";
import type { FarmEvent } from "../control/farm/farm.ts";
import { waitFor } from "./helpers/proxy.ts";

const images = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "fixtures/images");
const Echo = contract("echo@1", {
  echo: { method: "GET", path: "/echo", request: Type.Null(), response: Type.Object({ vm: Type.String() }) },
});
const EchoService = role("echo-service", { provides: { api: Echo }, requires: {}, image: path.join(images, "echo") });
const EchoClient = role("echo-client", { provides: { api: Echo }, requires: { peer: Echo }, image: path.join(images, "echo") });
const Crashy = role("crashy", { provides: { api: Echo }, requires: {}, image: path.join(images, "crashy") });
const Liar = role("liar", { provides: { api: Echo }, requires: {}, image: path.join(images, "liar") });

async function json(url: string): Promise<{ vm: string; imports?: Record<string, string> }> {
  const r = await request(url, { reset: true });
  const text = await r.body.text();
  if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${text}`);
  return JSON.parse(text) as { vm: string; imports?: Record<string, string> };
}

/** A fresh state dir, a farm on it, and a teardown that leaves nothing behind. */
async function withFarm(
  name: string,
  body: (ctx: { farm: Awaited<ReturnType<typeof openFarm>>; stateDir: string; events: FarmEvent[] }) => Promise<void>,
  healBaseDelayMs = 50,
) {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-farm-"));
  const driver = localDriver({ stateDir, stopGraceMs: 1000 });
  const farm = await openFarm(driver, { name, healBaseDelayMs });
  const events: FarmEvent[] = [];
  farm.on((e) => events.push(e));
  try {
    await body({ farm, stateDir, events });
  } finally {
    await farm.teardown();
    assert.equal(await driver.list({ farm: name }), [], "teardown leaves no VM");
    await driver.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

test("vm, replicate and balance: traffic through a balancer VM reaches every replica", async () => {
  await withFarm("t-balance", async ({ farm, events }) => {
    const replicas = await farm.replicate(3, EchoService, {});
    const hosts = new Set(replicas.map((r) => r.address.host));
    assert.is(hosts.size, 3, "each VM has its own loopback address");
    const front = await farm.balance(replicas.map((r) => r.api));
    assert.is(front.contract.id, "echo@1");
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add((await json(`${front.url}/echo`)).vm);
    assert.equal([...seen].sort(), replicas.map((r) => r.name).sort());
    // A VM wired to the balancer gets its URL as the import.
    const client = await farm.vm(EchoClient, { peer: front });
    assert.equal((await json(`${client.api.url}/x`)).imports, { peer: front.url });
    assert.ok(events.filter((e) => e.type === "vm-started").length >= 5);
  });
});

test("heal: a failed replica leaves the balancer at once, is started again in place, and rejoins", async () => {
  await withFarm("t-heal", async ({ farm, events }) => {
    const replicas = await farm.replicate(2, Crashy, {});
    const front = await farm.balance(replicas.map((r) => r.api));
    farm.heal(replicas);
    await request(`${replicas[0].api.url}/crash`).then((r) => r.body.dump());
    assert.ok(await waitFor(() => events.some((e) => e.type === "vm-failed" && e.vm === replicas[0].name), 10_000));
    // Out of the pool at once, long before it is healed (the heal waits 1.5 s here).
    const gone = `${replicas[0].address.host}:${replicas[0].address.port}`;
    assert.ok(await waitFor(() => events.some((e) => e.type === "pool-changed" && e.backends.length === 1), 5_000), "pool shrank");
    const pool = (await farm.status()).balancers[0].backends;
    assert.is(pool.find((b) => b.id === gone && b.lifecycle === "active"), undefined, JSON.stringify(pool));
    assert.ok(!events.some((e) => e.type === "vm-healed"), "healed only after the heal delay");
    assert.ok(await waitFor(() => events.some((e) => e.type === "vm-healed" && e.vm === replicas[0].name), 20_000));
    // The same VM, started again where it was: direct importers would keep working.
    const healed = events.find((e) => e.type === "vm-healed") as { how: string; address: string };
    assert.equal([healed.how, healed.address], ["restarted", gone]);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await json(`${front.url}/echo`)).vm);
    assert.equal([...seen].sort(), [replicas[0].name, replicas[1].name].sort());
    assert.is((await json(`http://${healed.address}/echo`)).vm, replicas[0].name);
  }, 1500);
});

const mendable = (image: string) => role("mendable", { provides: { api: Echo }, requires: {}, image });

/** A copy of the crashy image that a test breaks and mends while the farm heals. */
async function withMendableImage(body: (image: { role: ReturnType<typeof mendable>; breakIt(): void; mend(): void }) => Promise<void>) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-image-"));
  cpSync(path.join(images, "crashy"), dir, { recursive: true });
  const entry = path.join(dir, "server.ts");
  const good = readFileSync(entry, "utf8");
  try {
    await body({
      role: mendable(dir),
      breakIt: () => writeFileSync(entry, "console.error('mendable: broken on purpose'); process.exit(1);\n"),
      mend: () => writeFileSync(entry, good),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("heal keeps trying when a replacement fails to start, and the farm recovers once it can", async () => {
  await withMendableImage(async (image) => {
    await withFarm("t-retry", async ({ farm, events }) => {
      const [vm] = await farm.replicate(1, image.role, {});
      const front = await farm.balance([vm.api]);
      farm.heal([vm]);
      image.breakIt();
      await request(`${vm.api.url}/crash`).then((r) => r.body.dump());
      const failedReplacements = () => events.filter((e) => e.type === "vm-failed" && e.reason.startsWith("replacement failed")).length;
      assert.ok(await waitFor(() => failedReplacements() >= 2, 20_000), "replacements fail while the image is broken");
      image.mend();
      assert.ok(await waitFor(() => events.some((e) => e.type === "vm-healed"), 20_000), "replaced once the image starts again");
      assert.is((events.find((e) => e.type === "vm-healed") as { how: string }).how, "replaced", "the VM that would not restart was replaced");
      assert.ok(events.some((e) => e.type === "vm-failed" && e.reason.startsWith("restart failed")), "a restart in place came first");
      assert.match((events.find((e) => e.type === "vm-failed" && e.reason.startsWith("replacement failed")) as { reason: string }).reason, /broken on purpose/);
      assert.is((await json(`${front.url}/echo`)).vm, vm.name, "the balancer has it back");
    });
  });
});

test("a VM replaced on another address is followed by the VMs and routers that import it directly", async () => {
  await withMendableImage(async (image) => {
    await withFarm("t-follow", async ({ farm, events }) => {
      const target = await farm.vm(image.role, {});
      // Handles follow their VM: keep where it was to compare.
      const first = { ...target.address };
      const client = await farm.vm(EchoClient, { peer: target.api });
      const front = await farm.route({ "/t": target.api });
      farm.heal([target]);
      image.breakIt();
      await request(`${target.api.url}/crash`).then((r) => r.body.dump());
      assert.ok(await waitFor(() => events.some((e) => e.type === "vm-failed" && e.reason.startsWith("restart failed")), 20_000));
      // Something else takes the failed VM's address meanwhile, so its replacement serves elsewhere.
      // (A heal in progress may probe the address for a moment: a clash is tried again.)
      const squatter = net.createServer();
      assert.ok(await waitFor(() => new Promise<boolean>((resolve) => {
        squatter.once("error", () => resolve(false));
        squatter.listen(first.port, first.host, () => resolve(true));
      }), 5_000), "the test took the old address");
      try {
        image.mend();
        assert.ok(await waitFor(() => events.some((e) => e.type === "vm-rewired" && e.vm === client.name), 30_000), "the importer was rewired");
        const healed = events.find((e) => e.type === "vm-healed") as { how: string; address: string };
        assert.is(healed.how, "replaced");
        assert.is.not(healed.address, `${first.host}:${first.port}`);
        assert.is(`${target.address.host}:${target.address.port}`, healed.address, "the handle follows its VM");
        const rewired = events.find((e) => e.type === "vm-rewired") as { imports: Record<string, string>; address: string };
        assert.equal(rewired.imports, { peer: `http://${healed.address}` });
        assert.equal((await json(`http://${rewired.address}/x`)).imports, { peer: `http://${healed.address}` });
        assert.is((await json(`${front.url}/t/echo`)).vm, target.name, "the router's part moved with it");
        assert.equal((await farm.status()).vms.map((v) => v.state), ["running", "running", "running"]);
      } finally {
        await new Promise((resolve) => squatter.close(resolve));
      }
    });
  });
});

test("a balancer VM that dies is started again on its address, with the pool it had since", async () => {
  await withFarm("t-front", async ({ farm, stateDir, events }) => {
    const replicas = await farm.replicate(2, Crashy, {});
    const front = await farm.balance(replicas.map((r) => r.api));
    // Not healed: the crashed replica leaves the pool for good, so the pool now differs from the
    // one the balancer was started with.
    await request(`${replicas[1].api.url}/crash`).then((r) => r.body.dump());
    assert.ok(await waitFor(() => events.some((e) => e.type === "pool-changed" && e.backends.length === 1), 10_000));
    const driver = localDriver({ stateDir });
    const [balancer] = await driver.list({ farm: "t-front", vm: "echo-balancer-1" });
    await driver.close();
    for (const pid of findVmPids(balancer.id)) process.kill(pid, "SIGKILL");
    assert.ok(await waitFor(() => events.some((e) => e.type === "vm-healed" && e.vm === "echo-balancer-1"), 20_000), "balancer healed");
    const healed = events.find((e) => e.type === "vm-healed") as { how: string; address: string };
    assert.equal([healed.how, `http://${healed.address}`], ["restarted", front.url], "same address: clients keep working");
    const pool = (await farm.status()).balancers[0].backends.filter((b) => b.lifecycle === "active");
    assert.equal(pool.map((b) => b.id), [`${replicas[0].address.host}:${replicas[0].address.port}`]);
    for (let i = 0; i < 10; i++) assert.is((await json(`${front.url}/echo`)).vm, replicas[0].name);
  });
});

/** The script both tests below run twice: n replicas behind one balancer. */
async function replicasBehindBalancer(farm: Awaited<ReturnType<typeof openFarm>>, n: number) {
  const replicas = await farm.replicate(n, Crashy, {});
  const front = await farm.balance(replicas.map((r) => r.api));
  return { replicas, front };
}

test("a second run after a heal adopts the healed VM and the balancer: nothing is made or removed", async () => {
  await withFarm("t-rerun", async ({ farm, stateDir, events }) => {
    const first = await replicasBehindBalancer(farm, 3);
    farm.heal(first.replicas);
    await request(`${first.replicas[0].api.url}/crash`).then((r) => r.body.dump());
    assert.ok(await waitFor(() => events.some((e) => e.type === "vm-healed"), 20_000));
    assert.ok(await waitFor(() => events.filter((e) => e.type === "pool-changed").length >= 3, 10_000), "healed VM back in the pool");

    // A new controller on the same state runs the same script.
    const driver = localDriver({ stateDir, stopGraceMs: 1000 });
    farm.close(); // one controller per farm: the first one stops before the next takes over
    const again = await openFarm(driver, { name: "t-rerun" });
    const seen: FarmEvent[] = [];
    again.on((e) => seen.push(e));
    try {
      const second = await replicasBehindBalancer(again, 3);
      assert.equal(await again.prune(), []);
      assert.equal(seen.filter((e) => e.type === "vm-started" || e.type === "vm-stopped"), [], "nothing made or removed");
      assert.is(second.front.url, first.front.url, "the front stays where clients know it");
      const names = new Set<string>();
      for (let i = 0; i < 30; i++) names.add((await json(`${second.front.url}/echo`)).vm);
      assert.equal([...names].sort(), ["crashy-1", "crashy-2", "crashy-3"]);
    } finally {
      again.close();
      await driver.close();
    }
  });
});

test("a second run that asks for fewer replicas prunes the rest, and the adopted balancer's pool follows", async () => {
  await withFarm("t-shrink", async ({ farm, stateDir }) => {
    const first = await replicasBehindBalancer(farm, 3);
    const driver = localDriver({ stateDir, stopGraceMs: 1000 });
    farm.close(); // one controller per farm: the first one stops before the next takes over
    const again = await openFarm(driver, { name: "t-shrink" });
    try {
      const second = await replicasBehindBalancer(again, 2);
      assert.is(second.front.url, first.front.url);
      assert.equal(await again.prune(), ["crashy-3"]);
      assert.equal((await driver.list({ farm: "t-shrink", vm: "crashy-3" })), [], "the third replica is gone");
      const status = await again.status();
      assert.equal(status.vms.map((v) => [v.name, v.provides]).sort(), [
        ["crashy-1", { api: "echo@1" }], ["crashy-2", { api: "echo@1" }], ["echo-balancer-1", { api: "echo@1" }],
      ]);
      const pool = status.balancers[0].backends.filter((b) => b.lifecycle === "active");
      assert.equal(pool.map((b) => b.id).sort(), second.replicas.map((r) => `${r.address.host}:${r.address.port}`).sort());
      const names = new Set<string>();
      for (let i = 0; i < 20; i++) names.add((await json(`${second.front.url}/echo`)).vm);
      assert.equal([...names].sort(), ["crashy-1", "crashy-2"]);
    } finally {
      again.close();
      await driver.close();
    }
  });
});

test("heal backs off exponentially when a role keeps failing, and starts over after a quiet spell", async () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-farm-"));
  const driver = localDriver({ stateDir, stopGraceMs: 1000 });
  const sleeps: number[] = [];
  // Farm time moves only when the farm sleeps or the test says so: how long a real replacement
  // takes on a loaded machine must not decide whether a failure counts as "repeated".
  let farmTime = 0;
  const clock = {
    now: () => farmTime,
    sleep: (ms: number) => { sleeps.push(ms); farmTime += ms; return new Promise<void>((r) => setTimeout(r, 10)); },
  };
  // Only heal sleeps on this clock: no liveness probes or periodic passes.
  const farm = await openFarm(driver, { name: "t-backoff", clock, healBaseDelayMs: 100, healMaxDelayMs: 250, livenessIntervalMs: 0, resyncIntervalMs: 0 });
  const events: FarmEvent[] = [];
  farm.on((e) => events.push(e));
  try {
    const [first] = await farm.replicate(1, Crashy, {});
    farm.heal([first]);
    let victim = first.api.url;
    for (let round = 1; round <= 4; round++) {
      // Quiet for longer than twice the longest delay: the fourth failure is a first one again.
      if (round === 4) farmTime += 1000;
      await request(`${victim}/crash`).then((r) => r.body.dump());
      assert.ok(await waitFor(() => events.filter((e) => e.type === "vm-healed").length === round, 15_000), `recovery ${round}`);
      const status = await farm.status();
      const running = status.vms.find((v) => v.state === "running" && v.role === "crashy")!;
      victim = `http://${running.address}`;
    }
    assert.equal(sleeps, [100, 200, 250, 100], "base, doubled, capped, then base again");
  } finally {
    await farm.teardown();
    await driver.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("the runtime guard refuses an image whose metadata lies, and leaves nothing behind", async () => {
  await withFarm("t-guard", async ({ farm }) => {
    try {
      await farm.vm(Liar, {});
      assert.unreachable("the liar was accepted");
    } catch (error) {
      assert.instance(error, GuardMismatchError);
      const e = error as GuardMismatchError;
      assert.is(e.vm, "liar-1");
      assert.equal(e.expected, { api: "echo@1" });
      assert.equal(e.actual, { api: "ledger@1" });
      assert.match(e.message, /liar-1.*echo@1.*ledger@1/);
    }
    assert.equal((await farm.status()).vms, []);
  });
});

test("running a farm script twice adopts what exists; a fresh controller tears everything down", async () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-farm-"));
  const script = async () => {
    const driver = localDriver({ stateDir, stopGraceMs: 1000 });
    const farm = await openFarm(driver, { name: "t-idem" });
    const started: string[] = [];
    farm.on((e) => e.type === "vm-started" && started.push(e.vm));
    const replicas = await farm.replicate(2, EchoService, {});
    const front = await farm.balance(replicas.map((r) => r.api));
    farm.close();
    await driver.close();
    return { started, front: front.url, replicas: replicas.map((r) => r.api.url) };
  };
  try {
    const first = await script();
    assert.is(first.started.length, 3);
    const second = await script();
    assert.equal(second.started, [], "nothing new is created");
    assert.equal(second.replicas, first.replicas);
    assert.is(second.front, first.front);
    assert.ok((await json(`${second.front}/echo`)).vm.startsWith("echo-service-"));
  } finally {
    // A controller that made none of it still finds and removes all of it.
    const driver = localDriver({ stateDir, stopGraceMs: 1000 });
    const farm = await openFarm(driver, { name: "t-idem" });
    await farm.teardown();
    assert.equal(await driver.list({ farm: "t-idem" }), []);
    await driver.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("failover sends traffic to the backup while the primary is down", async () => {
  await withFarm("t-failover", async ({ farm }) => {
    const primary = await farm.vm(Crashy, {});
    const backup = await farm.vm(EchoService, {});
    const front = await farm.failover(primary.api, backup.api);
    for (let i = 0; i < 5; i++) assert.is((await json(`${front.url}/echo`)).vm, primary.name);
    await request(`${primary.api.url}/crash`).then((r) => r.body.dump());
    assert.ok(await waitFor(async () => (await json(`${front.url}/echo`)).vm === backup.name, 10_000));
    for (let i = 0; i < 5; i++) assert.is((await json(`${front.url}/echo`)).vm, backup.name);
  });
});

test("route sends each path prefix to its endpoint; rewire re-points an import", async () => {
  await withFarm("t-route", async ({ farm }) => {
    const a = await farm.vm(EchoService, {});
    const b = await farm.vm(EchoService, {});
    const front = await farm.route({ "/a": a.api, "/b": b.api });
    assert.is(front.contract.id, "route(echo@1)");
    assert.is((await json(`${front.url}/a/1`)).vm, a.name);
    assert.is((await json(`${front.url}/b/1`)).vm, b.name);
    const client = await farm.vm(EchoClient, { peer: a.api });
    assert.equal((await json(`${client.api.url}/x`)).imports, { peer: a.api.url });
    const rewired = await farm.rewire(client, "peer", b.api);
    assert.is(rewired.name, client.name);
    assert.equal([rewired.id, rewired.address], [client.id, client.address], "the same VM, restarted in place");
    assert.equal((await json(`${rewired.api.url}/x`)).imports, { peer: b.api.url });
  });
});

test.run();
