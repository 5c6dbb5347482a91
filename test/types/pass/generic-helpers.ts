// Generic helpers over the combinators compile: their callers are checked where types are concrete.
import type { AnyContract, AnyRole, Endpoint, ImportsOf } from "../../../control/contracts/index.ts";
import type { AnyVm, Farm, Vm } from "../../../control/farm/farm.ts";
import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const balanced = <C extends AnyContract>(eps: readonly Endpoint<C>[]) => farm.balance(eps);
// As the issue wrote it: C needs no constraint of its own.
const balancedToo = <C>(eps: readonly Endpoint<C>[]) => farm.balance(eps);
const orFailover = <C>(a: Endpoint<C>, b: Endpoint<C>) => farm.failover(a, b);
async function pool<R extends AnyRole>(f: Farm, n: number, role: R, imports: ImportsOf<R>): Promise<Vm<R>[]> {
  const vms = await f.replicate(n, role, imports);
  f.heal(vms);
  return vms;
}
const one = <R extends AnyRole, I extends ImportsOf<R>>(role: R, imports: I) => farm.vm(role, imports);
const safe = <C extends AnyContract>(a: Endpoint<C>, b: Endpoint<C>) => farm.failover(a, b);
const healAll = (vms: readonly Vm<AnyRole>[]) => farm.heal(vms);
const point = <R extends AnyRole, K extends keyof R["requires"] & string>(vm: Vm<R>, name: K, to: Endpoint<R["requires"][K]>) => farm.rewire(vm, name, to);

const pays = await pool(farm, 2, PaymentService, {});
const payments: Endpoint<typeof PaymentService.provides.api> = await balanced(pays.map((p) => p.api));
const inventory = await safe((await one(InventoryService, {})).api, (await one(InventoryService, {})).api);
const orders = await pool(farm, 3, OrderService, { payments, inventory });
const web = await one(WebFrontend, { orders: await balanced(orders.map((o) => o.api)) });
await point(web, "orders", orders[0].api);
healAll([web, ...pays]);
const any: AnyVm[] = [web, ...orders];
healAll(any as readonly Vm<AnyRole>[]);
await orFailover(await balancedToo(pays.map((p) => p.api)), pays[0].api);
