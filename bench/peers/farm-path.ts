// The farm path: what `farm.balance` builds, measured. Two inventory services of the example farm
// (Node, the service kit) run as the local driver would run them; in front of them, the balancer
// image with the settings the controller writes for it (balancerSettings), so its pool speaks to
// the services as their image's manifest says they can be spoken to (pipelining, keep-alive); and
// HAProxy in front of the same two services, as the reference.

import path from "node:path";
import { start } from "../lib/children.ts";
import { waitForPort } from "../lib/net.ts";
import { REPO_ROOT } from "../lib/tools.ts";
import { balancerSettings } from "../../control/reconcile/desired.ts";
import { BALANCER_IMAGE } from "../../control/images/balancer/settings.ts";
import type { IntermediaryNode } from "../../control/model/farm-model.ts";
import { inventory } from "../../examples/order-processing/contracts.ts";
import { startHaproxy } from "./haproxy.ts";
import { peerNofile } from "./types.ts";
import type { Peer, PeerContext } from "./types.ts";

const IMAGE = path.join(REPO_ROOT, "examples", "order-processing", "inventory");
/** Stock of an item: a GET the inventory contract has, answered from memory. */
export const FARM_REQUEST = { method: "GET", path: "/inventory/widget" } as const;
const STOCK_BODY = /^\{"item":"widget","remaining":\d+\}$/;

export async function startFarmPath(ctx: PeerContext, ports: { services: readonly number[]; balancer: number; admin: number; haproxy: number; haproxyTcp: number }): Promise<Peer[]> {
  const peers: Peer[] = [];
  const names = ports.services.map((_, i) => `inventory-${i + 1}`);
  for (const [i, port] of ports.services.entries()) {
    const child = start(names[i], ctx.node, [path.join(IMAGE, "server.ts")], {
      cwd: REPO_ROOT,
      nofile: peerNofile(),
      // As a farm runs it, minus the per-request log line a bench has no use for.
      env: { ...process.env, FARMHAND_LISTEN: `127.0.0.1:${port}`, FARMHAND_VM: names[i], FARMHAND_ROLE: "inventory", NODE_ENV: "production", FARMHAND_LOG: "0" },
    });
    await waitForPort(port, 20_000, names[i], () => child.exit === null);
    peers.push({ name: names[i], child, targets: [] });
  }
  const node: IntermediaryNode = {
    kind: "balancer",
    name: "inventory-balancer-1",
    contract: inventory,
    policy: "round-robin",
    pools: [{ name: "main", members: names.map((n) => ({ ref: { node: n, endpoint: "api" }, backup: false })) }],
    routes: [],
  };
  const settings = balancerSettings(node, {
    addressOf: (n) => ({ host: "127.0.0.1", port: ports.services[names.indexOf(n)] }),
    serving: () => true,
    imageOf: () => IMAGE,
  }, "bench-admin-token-not-used");
  const balancer = start("balancer", ctx.node, [path.join(BALANCER_IMAGE, "main.ts")], {
    cwd: REPO_ROOT,
    nofile: peerNofile(),
    env: { ...process.env, FARMHAND_LISTEN: `127.0.0.1:${ports.balancer}`, FARMHAND_SETTINGS: JSON.stringify({ ...settings, admin: { ...settings.admin, port: ports.admin } }) },
  });
  await waitForPort(ports.balancer, 30_000, "balancer", () => balancer.exit === null);
  const hints = settings.pools[0].upstream;
  peers.push({
    name: "balancer",
    child: balancer,
    targets: [{
      id: "farmhand-farm",
      label: `farmhand balancer VM, farm path (from metadata: ${hints?.pipelining === undefined ? "no pipelining" : `pipelining ${hints.pipelining}`})`,
      mode: "http",
      port: ports.balancer,
      pid: balancer.pid,
      request: FARM_REQUEST,
      reference: "haproxy-http-farm",
      expectBody: STOCK_BODY,
    }],
  });
  const haproxy = await startHaproxy(ctx, ports.haproxy, ports.haproxyTcp, {
    backends: ports.services.map((p) => `127.0.0.1:${p}`),
    variant: { id: "-farm", label: ", farm path (2 Node services)" },
  });
  peers.push({ ...haproxy, targets: haproxy.targets.map((t) => ({ ...t, request: FARM_REQUEST, expectBody: STOCK_BODY })) });
  return peers;
}
