// A plan that goes on after a wiring mistake (what `farmhand check` runs scripts against): each
// mistake reported once, with the fields a one-line message is made of, and what could be recorded
// recorded; one without `onMistake` still stops at the first, as a deployment does.

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { AnyEndpoint, AnyRole } from "../control/contracts/index.ts";
import { UnknownEndpointError, WiringError } from "../control/errors.ts";
import type { AnyVm, Farm } from "../control/farm/farm.ts";
import { planFarm } from "../control/model/recorder.ts";
import { orders as ordersContract } from "../examples/order-processing/contracts.ts";
import { InventoryService, OrderService, PaymentService, WebFrontend } from "../examples/order-processing/roles.ts";

type Mistake = WiringError | UnknownEndpointError;

/** The combinators without their types: a script that got past the type checker, as at run time. */
const loose = (farm: Farm) => farm as unknown as {
  vm(role: AnyRole, imports: unknown): Promise<AnyVm & Record<string, AnyEndpoint>>;
  replicate(n: number, role: AnyRole, imports: unknown): Promise<(AnyVm & Record<string, AnyEndpoint>)[]>;
  balance(eps: unknown, options?: object): Promise<AnyEndpoint>;
  route(parts: unknown): Promise<AnyEndpoint>;
  failover(a: unknown, b: unknown): Promise<AnyEndpoint>;
  rewire(vm: unknown, name: string, to: unknown): Promise<unknown>;
  heal(vms: unknown): void;
};

test("every mistake is reported, and the plan records what it can", async () => {
  const mistakes: Mistake[] = [];
  const farm = planFarm("mistakes", { onMistake: (m) => mistakes.push(m) });
  const f = loose(farm);
  const pay = await f.vm(PaymentService, {});
  const stock = await f.vm(InventoryService, { inventory: pay.api });
  const orders = await f.replicate(2, OrderService, { payments: stock.api, audit: pay.api });
  const empty = await f.balance([]);
  const front = await f.balance([orders[0].api, pay.api]);
  await f.route({ orders: orders[0].api, "/a/../b": pay.api, "/pay": { ...pay.api } });
  await f.failover(pay.api, stock.api);
  await f.rewire(orders[0], "payment", pay.api);
  await f.rewire(orders[0], "payments", Promise.resolve(pay.api));
  f.heal([Object.assign({}, pay), stock]);
  await f.vm(WebFrontend, { orders: empty });
  const said = mistakes.map((m) => m instanceof WiringError ? `${m.node} | ${m.field} | ${m.problem} | ${m.got === undefined ? "-" : String(m.got)}` : `${m.where} | ${m.message}`);
  assert.equal(said, [
    "inventory-1 | import inventory | is not an import of role inventory (it imports nothing) | -",
    "orders-1 | import payments | wants payments@1 | inventory@1",
    "orders-1 | import inventory | is missing (role orders requires inventory: inventory@1) | -",
    "orders-1 | import audit | is not an import of role orders (it imports payments, inventory) | -",
    "orders-2 | import payments | wants payments@1 | inventory@1",
    "orders-2 | import inventory | is missing (role orders requires inventory: inventory@1) | -",
    "orders-2 | import audit | is not an import of role orders (it imports payments, inventory) | -",
    "balance | endpoints | are empty: a balancer needs at least one | -",
    "balance | endpoints[1] | must serve orders@1, as endpoints[0] does | payments@1",
    'route | prefix "orders" | is not a path: a prefix starts with "/" | -',
    'route | prefix "/a/../b" | has a "." or ".." segment | -',
    'route: part "/pay" | route: part "/pay": endpoint plan://payments-1/api was not made by this farm',
    "failover | backup | must serve payments@1, as the primary does | inventory@1",
    "orders-1 | import payment | is not an import of role orders (it imports payments, inventory) | -",
    "orders-1 | import payments | is a Promise: an await is missing before the combinator that makes it | -",
    'heal: vms[0] | heal: vms[0]: VM handle "payments-1" was not made by this farm',
  ]);
  // What could be recorded was: every VM, the balancer over the endpoints of its first contract, the
  // heal of the VM handed out; the web VM wired to the empty balancer raised nothing more.
  const model = farm.model;
  assert.equal(model.nodes.map((n) => n.name), ["payments-1", "inventory-1", "orders-1", "orders-2", "unknown-balancer-1", "orders-balancer-1", "router-1", "payments-failover-1", "web-1"]);
  const balancer = model.node("orders-balancer-1");
  assert.ok(balancer !== undefined && balancer.kind === "balancer");
  assert.equal(balancer.pools[0].members.map((m) => m.ref.node), ["orders-1"]);
  const inventory = model.node("inventory-1");
  assert.ok(inventory !== undefined && inventory.kind === "vm" && inventory.heal);
  void front;
});

test("autoscale of what is no balanced group, values that are no endpoint, balancer options, a role that is none", async () => {
  const mistakes: Mistake[] = [];
  const farm = planFarm("more", { onMistake: (m) => mistakes.push(m) });
  const f = loose(farm);
  const scale = (group: unknown) => (farm as unknown as { autoscale(g: unknown, o: object): { group: string } }).autoscale(group, {
    demand: { metric: { kind: "request-rate" }, target: 100 }, min: 1, max: 4,
  });
  const pays = await f.replicate(3, PaymentService, {});
  assert.is(scale(pays).group, "", "not balanced yet: refused, and the plan goes on");
  await f.balance(pays.map((p) => p.api));
  scale(pays.slice(1));
  scale([pays[0], Object.assign({}, pays[1]), pays[2]]);
  scale([]);
  assert.is(scale(pays).group, "payments-balancer-1");
  scale(pays);
  await f.vm(OrderService, { payments: undefined, inventory: pays[0] });
  await f.vm(WebFrontend, { orders: ordersContract });
  // A balancer's options: a name a node cannot have, or another node's; a policy there is none of.
  await f.balance([pays[0].api], { name: "Front Door" });
  await f.balance([pays[0].api], { name: "payments-1", policy: "weighted" });
  const said = mistakes.map((m) => m.message);
  assert.equal(said, [
    "autoscale: group: must be the members of one balancer's pool (balance(group.map((vm) => vm.api))) (got payments-1, payments-2, payments-3)",
    "autoscale: group: must be the members of one balancer's pool (balance(group.map((vm) => vm.api))) (got payments-2, payments-3)",
    'autoscale: group[1]: VM handle "payments-2" was not made by this farm',
    "autoscale: group: is empty: autoscale the VMs of a balanced group",
    "autoscale: group: already autoscales (got payments-balancer-1)",
    "orders-1: import payments: is no endpoint (got undefined)",
    "orders-1: import inventory: is the VM payments-1, where an endpoint is wanted: give one of its endpoints (its api)",
    "web-1: import orders: is a contract, where an endpoint is wanted: give an endpoint that serves it (got orders@1)",
    'balance: options.name: must be a name of lower-case letters, digits and "-", starting with a letter (got "Front Door")',
    "balance: options.name: is taken: payments-1 is already a VM of this farm",
    'balance: options.policy: must be one of round-robin, least-request, consistent-hash, random (got "weighted")',
  ]);
  // Each balancer was recorded all the same, under a name of the plan's own and the default policy.
  assert.equal(farm.model.nodes.filter((n) => n.kind === "balancer").map((n) => `${n.name} ${n.kind === "vm" ? "" : n.policy}`), [
    "payments-balancer-1 round-robin", "payments-balancer-2 round-robin", "payments-balancer-3 round-robin",
  ]);
  assert.equal(farm.model.autoscalers.map((a) => a.balancer), ["payments-balancer-1"]);
  // Nothing can be recorded of a VM without a role: that is thrown even by a plan that goes on.
  try {
    await f.vm(pays[0] as unknown as AnyRole, {});
    assert.unreachable("a VM handle is no role");
  } catch (error) {
    assert.instance(error, WiringError);
    assert.is((error as WiringError).message, 'vm: role: must be a role (from role(...) or the generated environment) (got a VM handle ("payments-1"))');
  }
});

test('route prefixes: what the balancer routes on passes (":" and "@" too); anything else is named by its character', async () => {
  const mistakes: Mistake[] = [];
  const farm = planFarm("prefixes", { onMistake: (m) => mistakes.push(m) });
  const f = loose(farm);
  const pay = await f.vm(PaymentService, {});
  const stock = await f.vm(InventoryService, {});
  await f.route({ "/v1:payments@2": pay.api, "/stock;v=2/caf%C3%A9": stock.api, "/~ops/!$&'()*+,=-._": stock.api });
  assert.equal(mistakes.map((m) => m.message), []);
  const router = farm.model.node("router-1");
  assert.ok(router !== undefined && router.kind === "router");
  assert.equal(router.routes.map((r) => r.prefix), ["/v1:payments@2", "/stock;v=2/caf%C3%A9", "/~ops/!$&'()*+,=-._"]);

  await f.route({ "/stock/café": stock.api, "/payments?v=2": pay.api, "/a b": pay.api, "/a\\b": pay.api, "/./pay": pay.api, pay: pay.api });
  const allowed = "letters, digits and !$%&'()*+,-./:;=@_~";
  assert.equal(mistakes.map((m) => (m as WiringError).field + " " + (m as WiringError).problem), [
    `prefix "/stock/café" holds "é": after its "/", a prefix holds only ${allowed}`,
    `prefix "/payments?v=2" holds "?": after its "/", a prefix holds only ${allowed}`,
    `prefix "/a b" holds " ": after its "/", a prefix holds only ${allowed}`,
    `prefix "/a\\\\b" holds "\\\\": after its "/", a prefix holds only ${allowed}`,
    'prefix "/./pay" has a "." or ".." segment',
    'prefix "pay" is not a path: a prefix starts with "/"',
  ]);
});

test("heal of what is no VM handle says so, and a handle not of this farm is told apart from it", async () => {
  const mistakes: Mistake[] = [];
  const f = loose(planFarm("heal", { onMistake: (m) => mistakes.push(m) }));
  const pay = await f.vm(PaymentService, {});
  f.heal([{ id: "x" }, pay.api, "payments-1", undefined, { ...pay }]);
  assert.equal(mistakes.map((m) => m.message), [
    'heal: vms[0]: is not a VM handle made by this farm (got {"id":"x"})',
    "heal: vms[1]: is not a VM handle made by this farm (got endpoint plan://payments-1/api)",
    'heal: vms[2]: is not a VM handle made by this farm (got "payments-1")',
    "heal: vms[3]: is not a VM handle made by this farm (got undefined)",
    'heal: vms[4]: VM handle "payments-1" was not made by this farm',
  ]);
  assert.equal(mistakes.map((m) => m.code), ["FARMHAND_WIRING", "FARMHAND_WIRING", "FARMHAND_WIRING", "FARMHAND_WIRING", "FARMHAND_UNKNOWN_ENDPOINT"]);
});

test("without onMistake the first mistake is thrown, as when a farm is deployed", async () => {
  const f = loose(planFarm("strict"));
  const pay = await f.vm(PaymentService, {});
  try {
    await f.replicate(2, OrderService, { payments: pay.api, inventory: pay.api });
    assert.unreachable("a wrong contract must be refused");
  } catch (error) {
    assert.instance(error, WiringError);
    assert.is((error as WiringError).message, "orders-1: import inventory: wants inventory@1 (got payments@1)");
  }
  try {
    f.heal([{ ...pay }]);
    assert.unreachable("a copied handle must be refused");
  } catch (error) {
    assert.instance(error, UnknownEndpointError);
  }
});

test.run();
