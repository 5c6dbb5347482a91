// A recursive helper: a tree of balancers, two endpoints to a leaf, each level typed by its contract.
import type { Endpoint } from "../../../control/contracts/index.ts";
import type { Farm } from "../../../control/farm/farm.ts";
import { farm, type Payments1, PaymentService } from "../fixtures.ts";

async function tree(f: Farm, eps: readonly Endpoint<typeof Payments1>[]): Promise<Endpoint<typeof Payments1>> {
  if (eps.length <= 2) return f.balance(eps);
  const half = Math.ceil(eps.length / 2);
  return f.balance([await tree(f, eps.slice(0, half)), await tree(f, eps.slice(half))]);
}
const all = await farm.replicate(5, PaymentService, {});
const root: Endpoint<typeof Payments1> = await tree(farm, all.map((p) => p.api));
// The same over any contract.
async function treeOf<C>(f: Farm, eps: readonly Endpoint<C>[]): Promise<Endpoint<C>> {
  return eps.length <= 2 ? f.balance(eps) : f.balance([await treeOf(f, eps.slice(0, 2)), await treeOf(f, eps.slice(2))]);
}
await treeOf(farm, [root, ...all.map((p) => p.api)]);
