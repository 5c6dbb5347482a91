// The balancer image and its settings: transport hints from the members' image manifests become how
// the balancer speaks to them (pipelining, keep-alive limits), a balancer asked to check contracts
// gets its contract's operations as JSON Schema, and the image itself serves both.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import type { IntermediaryNode } from "../control/model/farm-model.ts";
import { balancerSettings, type Whereabouts } from "../control/reconcile/desired.ts";
import { planFarm } from "../control/model/recorder.ts";
import { InventoryService, OrderService, PaymentService } from "../examples/order-processing/roles.ts";
import { readManifest } from "../control/guest/manifest.ts";
import { BALANCER_IMAGE } from "../control/images/balancer/settings.ts";
import { inventory, orders, payments } from "../examples/order-processing/contracts.ts";
import { startBackend } from "./helpers/backends.ts";
import { waitFor } from "./helpers/proxy.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE = path.join(here, "..", "examples", "order-processing");
const TOKEN_SHA256 = "a".repeat(64);

function balancerNode(extra: Partial<IntermediaryNode> & { validate?: boolean } = {}): IntermediaryNode {
  return {
    kind: "balancer",
    name: "orders-balancer-1",
    contract: orders,
    policy: "round-robin",
    pools: [{ name: "main", members: ["orders-1", "orders-2"].map((node) => ({ ref: { node, endpoint: "api" }, backup: false })) }],
    routes: [],
    ...extra,
  } as IntermediaryNode;
}

/** Members on ports 9001, 9002, ...; `images`: what each runs (null: none a manifest can be read of). */
function where(images: Record<string, string> | null): Whereabouts {
  return {
    addressOf: (node) => ({ host: "127.0.0.1", port: 9000 + Number(node.split("-").pop()) }),
    serving: () => true,
    imageOf: (node) => images?.[node] ?? null,
  };
}

test("the example images declare what their HTTP server handles", async () => {
  for (const image of ["orders", "payments", "inventory", "web"]) {
    const manifest = await readManifest(path.join(EXAMPLE, image));
    assert.equal(manifest.transport, { pipelining: 8, keepAliveTimeoutMs: 5000, maxRequestsPerConnection: 0 }, image);
  }
});

test("a manifest's transport hints are checked, naming the field", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-transport-"));
  writeFileSync(path.join(dir, "server.ts"), "");
  const withTransport = (transport: unknown) =>
    writeFileSync(path.join(dir, "farmhand.json"), JSON.stringify({ name: "x", entry: "server.ts", transport }));
  const refusal = (): Promise<string> => readManifest(dir).then(() => "accepted", (error: Error) => error.message);
  withTransport({ pipelining: 0 });
  assert.match(await refusal(), /transport\.pipelining: expected an integer between 1 and 64 \(got 0\)/);
  withTransport({ pipelining: 2, keepAlive: 5 });
  assert.match(await refusal(), /transport\.keepAlive: unknown field/);
  withTransport({ keepAliveTimeoutMs: 3000 });
  assert.equal((await readManifest(dir)).transport, { pipelining: 1, keepAliveTimeoutMs: 3000, maxRequestsPerConnection: 0 });
});

test("balancer settings take the members' transport hints: pipelining on, idle connections closed before the backend's keep-alive ends", () => {
  const image = path.join(EXAMPLE, "orders");
  const settings = balancerSettings(balancerNode(), where({ "orders-1": image, "orders-2": image }), "token", "metrics-token");
  assert.equal(settings.pools[0].upstream, { pipelining: 8, idleTimeoutMs: 4000 });
  assert.equal(settings.pools[0].backends.map((b) => b.port), [9001, 9002]);
  assert.is(settings.validate, undefined, "contract checks are opt-in");
  // A member whose image says nothing (or cannot be read) leaves the pool on the defaults.
  const mixed = balancerSettings(balancerNode(), where({ "orders-1": image, "orders-2": "/no/such/image" }), "token", "metrics-token");
  assert.is(mixed.pools[0].upstream, undefined);
  assert.is(balancerSettings(balancerNode(), where(null), "token", "metrics-token").pools[0].upstream, undefined);
});

test("a balancer asked to check contracts gets the operations as JSON Schema; a router only each part's own", () => {
  const settings = balancerSettings(balancerNode({ validate: true }), where(null), "token", "metrics-token");
  const ops = settings.validate!.operations;
  assert.equal(ops.map((o) => `${o.name} ${o.method} ${o.path}`), ["place POST /orders", "get GET /orders/{id}", "list GET /orders"]);
  assert.equal(JSON.parse(JSON.stringify(ops[0].request)).required, ["item", "quantity"]);
  const routed = { kind: "contract", id: "route(orders@1+payments@1)", name: "route", version: 1, operations: {}, parts: { "/orders": orders, "/payments": payments, "/inventory": inventory } };
  const router = balancerSettings(balancerNode({ kind: "router", contract: routed as never, validate: true }), where(null), "token", "metrics-token");
  const names = router.validate!.operations.map((o) => `${o.name} ${o.path}`);
  assert.ok(names.includes("orders-place /orders"));
  assert.ok(names.includes("payments-charge /payments/charge"));
  assert.ok(names.every((n) => n.split(" ")[1].startsWith(`/${n.split("-")[0]}`)), names.join(", "));
});

test("contract checks are opted into per balance and route: the farm's balancer settings carry them, and only then", async () => {
  const farm = planFarm("checks");
  const pay = await farm.vm(PaymentService, {});
  const stock = await farm.vm(InventoryService, {});
  const orders = await farm.replicate(2, OrderService, { payments: pay.api, inventory: stock.api });
  await farm.balance(orders.map((o) => o.api), { name: "checked", validate: true });
  await farm.balance(orders.map((o) => o.api), { name: "unchecked" });
  await farm.route({ "/orders": orders[0].api, "/payments": pay.api }, { validate: true });
  const settingsOf = (name: string) => balancerSettings(farm.model.node(name) as IntermediaryNode, where(null), "token");
  assert.equal(settingsOf("checked").validate!.operations.map((o) => o.name), ["place", "get", "list"]);
  assert.is(settingsOf("unchecked").validate, undefined);
  const router = farm.model.nodes.find((n) => n.kind === "router")!;
  assert.ok(settingsOf(router.name).validate!.operations.some((o) => o.path.startsWith("/payments/")));
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("the balancer image runs its settings: contract checks, and pipelining to the pool that declares it", async () => {
  const backend = await startBackend("orders");
  const [port, adminPort] = [await freePort(), await freePort()];
  const image = path.join(EXAMPLE, "orders");
  const settings = {
    ...balancerSettings(balancerNode({ validate: true }), where({ "orders-1": image, "orders-2": image }), "token", "metrics-token"),
    admin: { port: adminPort, tokenSha256: TOKEN_SHA256, metricsTokenSha256: "b".repeat(64) },
    pools: [{ name: "main", backends: [{ address: "127.0.0.1", port: backend.port }], upstream: { pipelining: 8, idleTimeoutMs: 4000 } }],
  };
  const child = spawn(process.execPath, [path.join(BALANCER_IMAGE, "main.ts")], {
    env: { ...process.env, FARMHAND_LISTEN: `127.0.0.1:${port}`, FARMHAND_SETTINGS: JSON.stringify(settings) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  try {
    assert.ok(await waitFor(() => output.includes("balancer for orders@1"), 20_000), output);
    assert.match(output, "checking requests against 3 operation(s), pipelining to main (8)");
    const url = `http://127.0.0.1:${port}`;
    const ok = await request(`${url}/orders`, { method: "POST", body: JSON.stringify({ item: "widget", quantity: 2 }), headers: { "content-type": "application/json" } });
    assert.is(ok.statusCode, 200);
    await ok.body.text();
    const bad = await request(`${url}/orders`, { method: "POST", body: JSON.stringify({ item: "widget" }), headers: { "content-type": "application/json" } });
    assert.is(bad.statusCode, 400);
    assert.match(await bad.body.text(), "quantity");
    // Concurrent GETs share upstream connections: fewer than there were requests in flight.
    const before = backend.connections();
    await Promise.all(Array.from({ length: 16 }, async (_, i) => (await request(`${url}/orders/o-${i}`, { reset: true })).body.text()));
    assert.ok(backend.connections() - before < 16, `${backend.connections() - before} upstream connections for 16 concurrent GETs`);
    const announced = await request(`${url}/.well-known/farmhand`);
    assert.equal(await announced.body.json(), { balancer: "front", provides: { api: "orders@1" } });
    assert.equal(backend.received.filter((r) => r.method === "POST").map((r) => r.body), [JSON.stringify({ item: "widget", quantity: 2 })]);
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    await backend.close();
  }
});

test.run();
