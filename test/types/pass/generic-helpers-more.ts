// More generic helpers: over route (C need not be declared a contract), heal, autoscale, rewire of a
// role's import, vm with the imports' own type; Vm<AnyRole> and AnyVm take VMs of roles with imports.
import type { AutoscaleOptions } from "../../../control/autoscale/policy.ts";
import type { AnyContract, AnyRole, Endpoint, ImportsOf } from "../../../control/contracts/index.ts";
import type { AnyVm, Farm, Vm } from "../../../control/farm/farm.ts";
import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from "../fixtures.ts";

const front = <C>(a: Endpoint<C>) => farm.route({ "/a": a });
const pair = <C extends AnyContract, D extends AnyContract>(a: Endpoint<C>, b: Endpoint<D>) => farm.route({ "/a": a, "/b": b });
const keep = <R extends AnyRole>(vm: Vm<R>) => farm.heal([vm]);
const keepAll = <V extends readonly AnyVm[]>(vms: V) => farm.heal(vms);
const scale = <R extends AnyRole>(vms: readonly Vm<R>[], options: AutoscaleOptions) => farm.autoscale(vms, options);
type Orders = typeof OrderService;
async function repoint<K extends keyof Orders["requires"] & string>(f: Farm, vm: Vm<Orders>, name: K, to: Endpoint<Orders["requires"][K]>) {
  return f.rewire(vm, name, to);
}
const make = <R extends AnyRole, I>(role: R, imports: I & ImportsOf<R>) => farm.vm(role, imports);

const pay = await farm.vm(PaymentService, {});
const inv = await farm.vm(InventoryService, {});
await front(pay.api);
await pair(pay.api, inv.api);
const order = await make(OrderService, { payments: pay.api, inventory: inv.api });
await repoint(farm, order, "payments", pay.api);
const web = await farm.vm(WebFrontend, { orders: order.api });
const anyOrder: Vm<AnyRole> = order;
const anyWeb: Vm<AnyRole> = web;
const handle: AnyVm = web;
keep(order);
keepAll([anyOrder, anyWeb, handle]);
const pays = await farm.replicate(2, PaymentService, {});
await farm.balance(pays.map((p) => p.api));
scale(pays, { demand: { metric: { kind: "request-rate" }, target: 10 }, min: 1, max: 3 });
