// The topology of a running farm as seen from outside: its VMs (the driver's list), what each
// imports (its recorded imports, matched to VMs by address), and what each balancer routes to (its
// pools, asked through its admin API). Comparable with the graph a plan draws, edge for edge.

import { adminClient } from "../../native-free-core/admin/client.ts";
import { formatHostPort, httpUrl } from "../../native-free-core/net/address.ts";
import type { Driver } from "../../control/drivers/driver.ts";
import type { FarmGraph } from "../../control/graph/graph.ts";
import { BALANCER_ADMIN_PORT, isBalancerSettings } from "../../control/images/balancer/settings.ts";
import type { FarmSecrets } from "../../control/state/secrets.ts";

/** "from -> to (style)" for every edge, sorted: what two topologies must share. */
export function edgesOf(graph: FarmGraph): string[] {
  return graph.edges.map((e) => `${e.from} -> ${e.to} (${e.style ?? "-"})`).sort();
}

export async function observedEdges(driver: Driver, farm: string, secrets: FarmSecrets): Promise<{ nodes: string[]; edges: string[] }> {
  const records = await driver.list({ farm });
  const byAddress = new Map(records.filter((r) => r.address !== null).map((r) => [formatHostPort(r.address!), r.spec.labels.vm]));
  const byUrl = new Map(records.filter((r) => r.address !== null).map((r) => [httpUrl(r.address!), r.spec.labels.vm]));
  const edges: string[] = [];
  for (const r of records) {
    const name = r.spec.labels.vm;
    for (const url of Object.values(r.spec.imports)) edges.push(`${name} -> ${byUrl.get(url) ?? url} (import)`);
    if (!isBalancerSettings(r.spec.settings) || r.address === null) continue;
    const admin = adminClient(httpUrl({ host: r.address.host, port: BALANCER_ADMIN_PORT }), { token: secrets.adminToken(name) });
    const router = r.spec.settings.routes.length > 0;
    for (const pool of await admin.pools()) {
      const active = pool.backends.filter((b) => b.lifecycle === "active");
      const failover = active.some((b) => b.backup);
      for (const b of active) {
        const style = router ? "backend" : failover ? (b.backup ? "backup" : "primary") : "backend";
        edges.push(`${name} -> ${byAddress.get(b.id) ?? b.id} (${style})`);
      }
    }
  }
  return { nodes: records.map((r) => r.spec.labels.vm).sort(), edges: edges.sort() };
}
