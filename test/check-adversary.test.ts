// `farmhand check` against scripts written to get past it: what a cast, a mutation after the fact,
// a generic wrapper or a value known only at run time hides from the types is found by the run
// against the plan, each at its line; a default export typed so that nothing would be checked, and
// comments that silence the compiler, are refused; and scripts legal but unusual pass both stages.

import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkFarmScript } from "../control/check/index.ts";
import { contracts, farmTypes, has, lines, roles, scratch, script } from "./helpers/check.ts";

const POLICY = '{ demand: { metric: { kind: "request-rate" }, target: 100 }, min: 1, max: 6 }';

test("casts, mutations, generic wrappers and run-time values: each mistake at its line, by the run", async () => {
  const dir = scratch();
  try {
    const file = script(dir, "farm.ts", [
      "const pay = await farm.vm(PaymentService, {});", // 5
      "const stock = await farm.vm(InventoryService, {});",
      "const imports = { payments: pay.api, inventory: stock.api, audit: pay.api };",
      "await farm.vm(OrderService, imports as ImportsOf<typeof OrderService>);",
      "const wiring = { payments: pay.api, inventory: stock.api };",
      "Object.assign(wiring, { ledger: pay.api });", // 10
      "await farm.vm(OrderService, wiring);",
      "const start = <R extends AnyRole>(role: R, i: ImportsOf<R>) => farm.vm(role, i);",
      "await start(OrderService, { ...wiring });",
      "await farm.balance([structuredClone(pay.api)]);",
      'farm.heal([{ ...stock, name: "inventory-9" } as const]);', // 15
      "const maybe = process.env.FARMHAND_NO_SUCH_VARIABLE ? pay.api : undefined;",
      "await farm.vm(OrderService, { payments: maybe!, inventory: stock.api });",
      "await farm.vm(OrderService, { payments: pay as unknown as typeof pay.api, inventory: stock.api });",
      'const parts = { "/pay": pay.api };',
      'Object.assign(parts, { stock: stock.api });', // 20
      "await farm.route(parts);",
      'await farm.balance([pay.api].filter((e) => e.url.startsWith("https:")));',
      "const pays = await farm.replicate(3, PaymentService, {});",
      "await farm.balance(pays.map((p) => p.api));",
      `farm.autoscale(pays.slice(1), ${POLICY});`, // 25
      "farm.vm(InventoryService, {});",
    ], [`import type { AnyRole, ImportsOf } from ${JSON.stringify(contracts)};`]);
    const report = await checkFarmScript(file);
    assert.not.ok(report.ok);
    // The types saw none of it: every line is the run's.
    assert.equal(report.mistakes.filter((m) => m.stage !== "run"), [], lines(report, dir).join("\n"));
    assert.equal(lines(report, dir), [
      "farm.ts:8:14 orders: import audit is not an import of role orders (it imports payments, inventory)",
      "farm.ts:11:14 orders: import ledger is not an import of role orders (it imports payments, inventory)",
      // Inside the wrapper: its line is where the script was.
      "farm.ts:12:71 orders: import ledger is not an import of role orders (it imports payments, inventory)",
      "farm.ts:14:14 balance: endpoints[0]: endpoint plan://payments-1/api was not made by this farm (a copy, built by hand, or from another farm)",
      'farm.ts:15:8 heal: vms[0]: VM handle "inventory-9" was not made by this farm (a copy, built by hand, or from another farm)',
      "farm.ts:17:14 orders: import payments is no endpoint, got undefined",
      "farm.ts:18:14 orders: import payments is the VM payments-1, where an endpoint is wanted: give one of its endpoints (its api)",
      'farm.ts:21:14 route: prefix "stock" is not a path: a prefix starts with "/"',
      "farm.ts:22:14 balance: endpoints are empty: a balancer needs at least one",
      "farm.ts:25:8 autoscale: group must be the members of one balancer's pool (balance(group.map((vm) => vm.api))), got payments-3, payments-4",
      "farm.ts:26:8 farm.vm(...) is not awaited: an await is missing (a deployment would go on before it is done, and not hear if it failed)",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the script as a whole: what it returns, a farm typed any or none, comments that silence the compiler, a VM for a role", async () => {
  const dir = scratch();
  try {
    const returns = script(dir, "returns.ts", ["const pay = await farm.vm(PaymentService, {});", "return pay.api as never;"]);
    assert.equal(lines(await checkFarmScript(returns), dir), [
      "returns.ts:3:1 the script returns one endpoint (payments-1.api), not an object of them: a farm script returns nothing, or an object of endpoints to show ({ site: web.site })",
    ]);

    // With its farm typed any, the script's wiring is right, and still nothing of it would be checked.
    const untyped = path.join(dir, "untyped.ts");
    writeFileSync(untyped, [
      `import { PaymentService } from ${JSON.stringify(roles)};`,
      "export default async function (farm: any) {",
      "  farm.heal([await farm.vm(PaymentService, {})]);",
      "}",
      "",
    ].join("\n"));
    assert.equal(lines(await checkFarmScript(untyped), dir), [
      "untyped.ts:2:1 the default export takes its farm typed any, so nothing the script does with it is checked: (farm: Farm) => ...",
    ]);

    const farmless = path.join(dir, "farmless.ts");
    writeFileSync(farmless, "export default async () => {};\n");
    assert.equal(lines(await checkFarmScript(farmless), dir), [
      "farmless.ts:1:1 the default export takes no farm; a farm script builds on the farm it is given: (farm: Farm) => ...",
    ]);

    // Comments that silence the compiler, in the script and in a module of its own: not taken.
    writeFileSync(path.join(dir, "helper.ts"), "// @ts-nocheck\nexport const loose = (x) => x;\n");
    const silenced = script(dir, "silenced.ts", [
      "const pay = await farm.vm(PaymentService, {});",
      "const stock = await farm.vm(InventoryService, {});",
      "// @ts-ignore",
      "await farm.vm(OrderService, { payments: loose(pay.api), inventory: stock.api });",
    ], ['import { loose } from "./helper.ts";']);
    assert.equal(lines(await checkFarmScript(silenced), dir), [
      "silenced.ts:7:3 @ts-ignore silences the type checker on the next line; farmhand check does not take it: remove it",
      "helper.ts:1:1 @ts-nocheck turns the type checker off for the whole file; farmhand check does not take it: remove it",
    ]);

    const vmForRole = script(dir, "vm-for-role.ts", ["const pay = await farm.vm(PaymentService, {});", "await farm.vm(pay as never, {});"]);
    has(await checkFarmScript(vmForRole), dir, 'vm-for-role.ts:5:14 vm: role must be a role (from role(...) or the generated environment), got a VM handle ("payments-1")');

    // A combinator taken out of the farm has no farm to record into when deployed: the run says so.
    const apart = script(dir, "apart.ts", ["const { balance } = farm;", "const pay = await farm.vm(PaymentService, {});", "await balance([pay.api]);"]);
    assert.equal(lines(await checkFarmScript(apart), dir), [
      "apart.ts:6:9 the script failed: farm.balance was called apart from the farm (taken out of it, as by `const { balance } = farm`): call it as farm.balance(...)",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("unusual but legal scripts pass both stages", async () => {
  const dir = scratch();
  try {
    const file = path.join(dir, "unusual.mts");
    writeFileSync(file, [
      `import type { AnyRole, Endpoint } from ${JSON.stringify(contracts)};`,
      `import type { AnyVm, Farm, Vm } from ${JSON.stringify(farmTypes)};`,
      `import { InventoryService, OrderService, PaymentService, WebFrontend } from ${JSON.stringify(roles)};`,
      "",
      "type OrdersApi = (typeof OrderService)['provides']['api'];",
      "async function tree<C>(f: Farm, eps: readonly Endpoint<C>[]): Promise<Endpoint<C>> {",
      "  return eps.length <= 2 ? f.balance(eps) : f.balance([await tree(f, eps.slice(0, 2)), await tree(f, eps.slice(2))]);",
      "}",
      "class Shop {",
      "  readonly #farm: Farm;",
      "  constructor(f: Farm) { this.#farm = f; }",
      "  async stock() { return (await this.#farm.vm(InventoryService, {})).api; }",
      "}",
      "",
      "const build = async (farm: Farm) => {",
      "  const pays = await Promise.all([1, 2, 3].map(() => farm.vm(PaymentService, {})));",
      "  const payments = await tree(farm, pays.map((p) => p.api));",
      "  const [inventory] = await Promise.all([new Shop(farm).stock()]);",
      "  const zones = new Map<string, Endpoint<OrdersApi>>();",
      "  const groups: Vm<typeof OrderService>[][] = [];",
      "  for (const zone of ['a', 'b']) {",
      "    const replicas = await farm.replicate(2, OrderService, { get payments() { return payments; }, inventory } as const);",
      "    groups.push(replicas);",
      "    zones.set(zone, await farm.balance(replicas.map((o) => o.api)));",
      "  }",
      "  const front = await farm.failover(zones.get('a')!, zones.get('b')!);",
      "  let web = await farm.vm(WebFrontend, { orders: zones.get('a')! });",
      "  web = await farm.rewire(web, 'orders', front);",
      `  farm.autoscale(groups[0], ${POLICY});`,
      "  const all: Vm<AnyRole>[] = [...pays, web, ...groups.flat()];",
      "  const kept = new Map<string, AnyVm>(all.map((v) => [v.name, v]));",
      "  farm.heal([...kept.values()]);",
      "  await farm.vm(PaymentService, {}).then((late) => farm.heal([late]));",
      "  return { site: web.site, orders: front } satisfies Record<string, Endpoint<unknown>>;",
      "};",
      "export { build as default };",
      "",
    ].join("\n"));
    const report = await checkFarmScript(file);
    assert.ok(report.ok, lines(report, dir).join("\n") + "\n" + report.compilerDetail.join("\n"));
    // 4 payments and 3 balancers of them, 1 inventory, 2 zones of 2 orders and a balancer, a failover, a web.
    assert.is(report.planned, 16);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
