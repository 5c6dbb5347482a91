// The order-processing farm deployed, served, healed and removed through the Proxmox driver, against
// the Proxmox VE API emulator (whose VMs run the images as real local processes).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { proxmoxDriver } from "../control/drivers/proxmox/index.ts";
import { signalGroup } from "../control/drivers/local/proc.ts";
import type { Driver } from "../control/drivers/driver.ts";
import type { Endpoint } from "../control/contracts/index.ts";
import { openFarm, type FarmHandle, type FarmOptions } from "../control/farm/open-farm.ts";
import type { FarmEvent } from "../control/farm/farm.ts";
import orderProcessing from "../examples/order-processing/farm.ts";
import { InventoryService, OrderService, PaymentService, WebFrontend } from "../examples/order-processing/roles.ts";
import { startEmulator, type Emulator } from "../control/drivers/proxmox/emulator/index.ts";
import { farmDir } from "../control/state/home.ts";
import { fileSecrets, tokenSha256 } from "../control/state/secrets.ts";
import { waitFor } from "./helpers/proxy.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BALANCER_IMAGE = path.join(root, "control/images/balancer");

/**
 * A two-node emulated cluster with one template per image of the example (the farm's balancer is a
 * VM of its own template too), the Proxmox driver on it, and a farm "shop"; afterwards nothing of the
 * farm may be left on the cluster.
 */
async function withProxmoxFarm(
  body: (ctx: { farm: FarmHandle; driver: Driver; emulator: Emulator; events: FarmEvent[] }) => Promise<void>,
  options: FarmOptions = {},
): Promise<void> {
  const images = [PaymentService.image, InventoryService.image, OrderService.image, WebFrontend.image, BALANCER_IMAGE];
  const templates: Record<number, { name: string; node: string; image: string }> = {};
  const byImage: Record<string, number> = {};
  images.forEach((image, i) => {
    templates[9000 + i] = { name: `tpl-${path.basename(image)}`, node: i % 2 === 0 ? "pve1" : "pve2", image };
    byImage[image] = 9000 + i;
  });
  const emulator = await startEmulator({
    nodes: [{ name: "pve1", memory: 16 * 2 ** 30 }, { name: "pve2", memory: 16 * 2 ** 30 }],
    templates,
    taskDelayMs: 10,
    bootDelayMs: 50,
    addressDelayMs: 20,
  });
  const url = new URL(emulator.url);
  const driver = proxmoxDriver({
    host: url.hostname,
    port: Number(url.port),
    schema: "http",
    auth: { tokenId: emulator.token.id, tokenSecret: emulator.token.secret },
    templates: byImage,
    taskPollMs: 10,
    pollIntervalMs: 100,
  });
  const farm = await openFarm(driver, { name: "shop", healBaseDelayMs: 50, ...options });
  const events: FarmEvent[] = [];
  farm.on((e) => events.push(e));
  try {
    await body({ farm, driver, emulator, events });
  } finally {
    // Removed: nothing of the farm is left on the cluster.
    await farm.teardown();
    assert.equal(await driver.list({ farm: "shop" }), []);
    const leftover = [...emulator.state.vms.values()].filter((vm) => !(vm.vmid >= 9000 && vm.vmid < 9010));
    assert.equal(leftover.map((vm) => vm.vmid), [], "no VM leaked");
    await driver.close();
    await emulator.close();
  }
}

test("the order-processing farm on emulated Proxmox: deployed, served, healed, removed", async () => {
  await withProxmoxFarm(async ({ farm, driver, emulator, events }) => {
    const result = await orderProcessing(farm);
    const site = result!.site.url;
    const orders = result!.orders.url;

    // Served: a checkout through web -> orders balancer -> orders -> inventory + payments.
    const checkout = await request(`${site}/checkout`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ item: "widget", quantity: 1 }),
    });
    const body = (await checkout.body.json()) as { ok: boolean; status: string };
    assert.is(checkout.statusCode, 200, JSON.stringify(body));
    assert.is(body.status, "confirmed");
    const servedBy = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await request(`${orders}/orders`, { reset: true });
      servedBy.add(String(r.headers["x-served-by"]));
      await r.body.dump();
    }
    assert.is(servedBy.size, 2, `served by ${[...servedBy].join(", ")}`);

    // Every VM is a Proxmox VM, tagged with the farm, found again by a fresh listing.
    const listed = await driver.list({ farm: "shop" });
    assert.is(listed.length, 6);
    assert.ok(listed.every((r) => emulator.state.vms.has(Number(r.id))));
    // Equal nodes fill up alike: placement by most free memory spreads the farm over both.
    assert.is(new Set(listed.map((r) => emulator.state.vms.get(Number(r.id))!.node)).size, 2, "placed on both nodes");

    // Healed: an order VM's process dies; the farm starts the same VM again and traffic continues.
    const victim = listed.find((r) => r.spec.labels.vm === "orders-1")!;
    const proc = emulator.state.vms.get(Number(victim.id))!.proc!;
    signalGroup(proc.pid, "SIGKILL");
    assert.ok(await waitFor(() => events.some((e) => e.type === "vm-healed" && e.vm === "orders-1"), 30_000), JSON.stringify(events.slice(-5)));
    const healed = events.find((e) => e.type === "vm-healed") as { how: string };
    assert.is(healed.how, "restarted", JSON.stringify(events.filter((e) => e.type === "vm-failed")));
    assert.ok(emulator.state.vms.has(Number(victim.id)), "the same VMID, started again");
    for (let i = 0; i < 20; i++) {
      const r = await request(`${orders}/orders`, { reset: true });
      assert.is(r.statusCode, 200);
      await r.body.dump();
    }
  });
});

test("on emulated Proxmox, a rewired VM that will not start again is made anew; the old one, which the cluster would not destroy then, is destroyed at a later pass", async () => {
  await withProxmoxFarm(async ({ farm, driver, emulator, events }) => {
    const [pay1, pay2] = await farm.replicate(2, PaymentService, {});
    const stock = await farm.vm(InventoryService, {});
    const orders = await farm.vm(OrderService, { payments: pay1.api, inventory: stock.api });
    const [old] = await driver.list({ farm: "shop", vm: orders.name });
    // Its start after the rewire fails, and so does destroying it then (not a lock: the driver
    // waits those out).
    emulator.faults.failTasks.push({ type: "qmstart", count: 1, message: "start failed: QEMU exited with code 1" });
    emulator.faults.failTasks.push({ type: "qmdestroy", count: 1, message: "storage 'nfs-1' is not online" });
    const rewired = await farm.rewire(orders, "payments", pay2.api);
    assert.is.not(rewired.id, old.id, "made anew");
    const refused = events.find((e) => e.type === "control-error");
    assert.equal(refused === undefined ? null : [refused.action, refused.subject], ["destroy", orders.name], JSON.stringify(events.slice(-4)));
    // Until a resync, the node has two VMs on the cluster; then only the one it serves from.
    assert.ok(await waitFor(async () => (await driver.list({ farm: "shop", vm: orders.name })).map((r) => r.id).join() === rewired.id, 30_000), "the old VM is destroyed");
    assert.ok(!emulator.state.vms.has(Number(old.id)));
  }, { resyncIntervalMs: 500 });
});

test("on emulated Proxmox, a VM that will not start again is replaced, and the VMs importing it follow", async () => {
  await withProxmoxFarm(async ({ farm, driver, emulator, events }) => {
    const pay = await farm.vm(PaymentService, {});
    const stock = await farm.vm(InventoryService, {});
    const orders = await farm.replicate(2, OrderService, { payments: pay.api, inventory: stock.api });
    const front = await farm.balance(orders.map((o) => o.api));
    farm.heal([pay]);
    const place = async () => {
      const r = await request(`${front.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ item: "widget", quantity: 1 }),
        reset: true,
      });
      return { status: r.statusCode, body: (await r.body.json()) as { status?: string; orderId?: string } };
    };
    assert.equal((await place()).body.status, "confirmed");

    // The payments VM dies, and its start task fails once: restarting it in place fails, so it is
    // destroyed and replaced by a new VM (a clone again, on a new address; its VMID may well be the
    // old one, as /cluster/nextid gives the lowest free).
    const old = (await driver.list({ farm: "shop", vm: pay.name }))[0];
    emulator.faults.failTasks.push({ type: "qmstart", count: 1, message: "start failed: QEMU exited with code 1" });
    signalGroup(emulator.state.vms.get(Number(old.id))!.proc!.pid, "SIGKILL");
    const rewired = () => events.filter((e) => e.type === "vm-rewired").map((e) => e.vm).sort();
    assert.ok(await waitFor(() => rewired().length === 2, 60_000), JSON.stringify(events.slice(-6)));
    assert.equal(rewired(), orders.map((o) => o.name).sort(), "each order VM followed payments");
    const healed = events.find((e) => e.type === "vm-healed") as { vm: string; how: string; address: string };
    assert.equal([healed.vm, healed.how], [pay.name, "replaced"]);
    const now = (await driver.list({ farm: "shop", vm: pay.name }))[0];
    assert.is.not(`${now.address!.host}:${now.address!.port}`, `${old.address!.host}:${old.address!.port}`, "a new address");
    assert.is(emulator.requests.filter((r) => r.method === "POST" && /\/qemu\/\d+\/clone$/.test(r.path)).length, 6, "five VMs and the replacement cloned");
    // The order VMs were rewired in place: the same VMs, with the new address in their metadata.
    for (const o of orders) {
      const [record] = await driver.list({ farm: "shop", vm: o.name });
      assert.is(record.id, o.id, `${o.name} kept its VMID`);
      assert.equal(record.address, o.address, `${o.name} kept its address`);
      const described = emulator.requests.filter((r) => r.method === "PUT" && r.path.endsWith(`/qemu/${o.id}/config`) && typeof r.body.description === "string");
      assert.equal(JSON.parse(described.at(-1)!.body.description as string).imports.payments, `http://${healed.address}`);
    }
    // Orders are paid again, through both order VMs, which now import the new payments VM.
    const placedBy = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const placed = await place();
      assert.is(placed.status, 201, JSON.stringify(placed.body));
      assert.is(placed.body.status, "confirmed");
      placedBy.add(String(placed.body.orderId).replace(/-\d+$/, ""));
    }
    assert.equal([...placedBy].sort(), orders.map((o) => o.name).sort());
  });
});

/**
 * Two order VMs behind a balancer, healed, and then orders-1's guest signalled inside its VM: the VM
 * stays running at the API, only its service stops answering, so only the farm's liveness probes can
 * tell. The farm must find it silent, restart the same VM, and serve through the balancer again.
 */
async function silenceGuestUntilHealed(
  { farm, driver, emulator, events }: { farm: FarmHandle; driver: Driver; emulator: Emulator; events: FarmEvent[] },
  signal: "SIGSTOP" | "SIGKILL",
): Promise<{ front: Endpoint<typeof OrderService.provides.api> }> {
  const orders = await farm.replicate(2, OrderService, {
    payments: (await farm.vm(PaymentService, {})).api,
    inventory: (await farm.vm(InventoryService, {})).api,
  });
  const front = await farm.balance(orders.map((o) => o.api));
  farm.heal(orders);
  const victim = (await driver.list({ farm: "shop", vm: orders[0].name }))[0];
  assert.ok(emulator.outside.signalGuest(Number(victim.id), signal));
  assert.is((await driver.status(victim.id))?.state, "running", "the hypervisor still says running");
  assert.ok(await waitFor(() => events.some((e) => e.type === "vm-failed" && e.vm === orders[0].name && /not answering/.test(e.reason)), 30_000), JSON.stringify(events.slice(-4)));
  assert.ok(await waitFor(() => events.some((e) => e.type === "vm-healed" && e.vm === orders[0].name), 60_000), JSON.stringify(events.slice(-4)));
  assert.is((events.find((e) => e.type === "vm-healed") as { how: string }).how, "restarted");
  assert.ok(emulator.state.vms.has(Number(victim.id)), "the same VMID, restarted");
  for (let i = 0; i < 10; i++) {
    const r = await request(`${front.url}/orders`, { reset: true });
    assert.is(r.statusCode, 200);
    await r.body.dump();
  }
  return { front };
}

test("on emulated Proxmox, a guest that hangs while its VM runs is found by liveness and restarted; no VM description holds a token, and services take the metrics token", async () => {
  await withProxmoxFarm(async (ctx) => {
    const { front } = await silenceGuestUntilHealed(ctx, "SIGSTOP");
    // The balancer's VM carries its token's SHA-256 only: the token is nowhere in any description.
    const token = fileSecrets("shop", farmDir("shop")).adminToken(front.label.replace(/^balancer /, ""));
    const descriptions = [...ctx.emulator.state.vms.values()].map((vm) => String(vm.config.description ?? ""));
    assert.ok(descriptions.some((d) => d.includes(tokenSha256(token))), "the balancer knows the digest");
    for (const d of descriptions) assert.not.ok(d.includes(token), "a description holds the token");
    for (const r of ctx.emulator.requests) assert.not.ok(JSON.stringify(r.body).includes(token), `${r.method} ${r.path} sent the token`);

    // Every VM is told the metrics token's digest, in its description too, and never the token; a
    // service VM's guest reads it from there and asks its scrapers for the token.
    const metricsToken = fileSecrets("shop", farmDir("shop")).metricsToken();
    const services = (await ctx.driver.list({ farm: "shop" })).filter((r) => r.spec.labels.role !== "balancer");
    assert.is(descriptions.filter((d) => d.includes(tokenSha256(metricsToken))).length, services.length + 1, "each VM knows the digest");
    for (const d of descriptions) assert.not.ok(d.includes(metricsToken), "a description holds the metrics token");
    const { host, port } = services[0].address!;
    const scrape = (headers: Record<string, string>) => request(`http://${host}:${port}/metrics`, { headers }).then(async (r) => [r.statusCode, await r.body.text()] as const);
    assert.is((await scrape({}))[0], 401);
    const [status, text] = await scrape({ authorization: `Bearer ${metricsToken}` });
    assert.is(status, 200);
    assert.match(text, /^farmhand_service_requests_total\{endpoint="",operation="announce",code="200"\} \d+$/m, "the farm's probes, counted");
  });
});

test("on emulated Proxmox, a guest killed while its VM runs is found by liveness and restarted", async () => {
  await withProxmoxFarm(async (ctx) => {
    await silenceGuestUntilHealed(ctx, "SIGKILL");
    // Its VM was never seen stopped: no failure but the probes' was reported.
    const failed = ctx.events.filter((e) => e.type === "vm-failed");
    assert.ok(failed.length > 0 && failed.every((e) => /not answering/.test(e.reason)), JSON.stringify(failed));
  });
});

test("farmhand up/status/down --driver proxmox: the CLI drives the cluster from the environment", async () => {
  const images = [PaymentService.image, InventoryService.image, OrderService.image, WebFrontend.image, BALANCER_IMAGE];
  const templates: Record<number, { name: string; node: string; image: string }> = {};
  const byFolder: Record<string, number> = {};
  images.forEach((image, i) => {
    templates[9100 + i] = { name: `tpl-${path.basename(image)}`, node: "pve1", image };
    byFolder[path.basename(image)] = 9100 + i;
  });
  const emulator = await startEmulator({ nodes: ["pve1"], templates, taskDelayMs: 10, bootDelayMs: 50, addressDelayMs: 20 });
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-pve-cli-"));
  const templatesFile = path.join(dir, "templates.json");
  writeFileSync(templatesFile, JSON.stringify(byFolder));
  const env = {
    ...process.env,
    FARMHAND_PVE_URL: emulator.origin,
    FARMHAND_PVE_TOKEN: `${emulator.token.id}=${emulator.token.secret}`,
  };
  // Asynchronous on purpose: the emulator answers from this very process.
  const run = (args: string[], extraEnv: Record<string, string | undefined> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [path.join(root, "src/farmhand.mjs"), ...args], { cwd: root, env: { ...env, ...extraEnv } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      child.on("close", (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  const common = ["--driver", "proxmox", "--templates", templatesFile, "--farm", "pve-cli"];
  try {
    // Writes answered late pile up behind FARMHAND_PVE_WRITES (three order replicas are made at once).
    emulator.faults.slowAnswers.push({ methods: ["POST", "PUT", "DELETE"], ms: 20 });
    const up = await run(["up", "--detach", path.join(root, "examples/order-processing/farm.ts"), ...common], { FARMHAND_PVE_WRITES: "2" });
    assert.is(up.status, 0, up.stderr);
    assert.match(up.stdout, /up: farm pve-cli: created 6, adopted 0/);
    assert.is(emulator.writes.peak, 2, "at most FARMHAND_PVE_WRITES writes at once");
    emulator.faults.slowAnswers.length = 0;
    // The farm's record remembers its driver: status and down need only the farm's name.
    const status = await run(["status", "--farm", "pve-cli"]);
    assert.is(status.status, 0, status.stderr);
    assert.match(status.stdout, /controller: running/);
    assert.match(status.stdout, /farm pve-cli \(proxmox driver\): 6 VMs, 6 healthy/, status.stdout);
    assert.match(status.stdout, /orders-balancer-1\s+balancer\s+running/);
    const down = await run(["down", ...common]);
    assert.is(down.status, 0, down.stderr);
    assert.equal([...emulator.state.vms.keys()].filter((id) => id < 9100), [], "no VM left");
    // Bad driver settings are refused clearly, before anything is attempted.
    const missing = await run(["status", "--driver", "proxmox", "--farm", "x"], { FARMHAND_PVE_URL: "" });
    assert.is(missing.status, 2);
    assert.match(missing.stderr, /--driver proxmox needs FARMHAND_PVE_URL in the environment/);
    const writes = await run(["status", ...common], { FARMHAND_PVE_WRITES: "0" });
    assert.is(writes.status, 2);
    assert.match(writes.stderr, /FARMHAND_PVE_WRITES: expected a positive integer \(got "0"\)/);
    const wrong = await run(["status", "--driver", "vmware", "--farm", "x"]);
    assert.is(wrong.status, 2);
    assert.match(wrong.stderr, /--driver <kind>' argument 'vmware' is invalid\. Allowed choices are local, proxmox/);
  } finally {
    await run(["down", ...common]);
    rmSync(dir, { recursive: true, force: true });
    await emulator.close();
  }
});

test.run();
