// The cluster and its nodes: /nodes, /cluster/nextid, /cluster/resources, /nodes/N/status, /nodes/N/qemu.

import { paramError } from "../../errors.ts";
import { intParam } from "../params.ts";
import type { Route } from "../route.ts";
import { nodeEntry, nodeResource, vmSummary } from "../views.ts";
import type { RouteDeps } from "./deps.ts";

const RESOURCE_TYPES = ["vm", "node", "storage", "sdn", "pool"];

export function clusterRoutes({ cluster }: RouteDeps): Route[] {
  return [
    {
      method: "GET",
      pattern: /^\/nodes$/,
      params: [],
      handler: () => [...cluster.nodes.values()].map((n) => nodeEntry(cluster, n)),
    },
    {
      method: "GET",
      pattern: /^\/cluster\/nextid$/,
      params: ["vmid"],
      handler: ({ params }) => {
        const want = intParam(params, "vmid", 100, 999_999_999, false);
        if (want === undefined) return String(cluster.nextId());
        if (cluster.vms.has(want)) throw paramError({ vmid: `VM ${want} already exists` });
        return String(want);
      },
    },
    {
      method: "GET",
      pattern: /^\/cluster\/resources$/,
      params: ["type"],
      handler: ({ params }) => {
        const type = params.type;
        if (type !== undefined && !RESOURCE_TYPES.includes(type)) {
          throw paramError({ type: `value '${type}' does not have a value in the enumeration 'vm, storage, node, sdn'` });
        }
        const out: unknown[] = [];
        if (type === undefined || type === "node") for (const n of cluster.nodes.values()) out.push(nodeResource(cluster, n));
        if (type === undefined || type === "vm") {
          for (const vm of [...cluster.vms.values()].sort((a, b) => a.vmid - b.vmid)) {
            out.push({ id: `qemu/${vm.vmid}`, type: "qemu", node: vm.node, ...vmSummary(cluster, vm) });
          }
        }
        return out;
      },
    },
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/qemu$/,
      params: ["full"],
      handler: ({ match }) => [...cluster.vms.values()].filter((v) => v.node === match[1]).map((v) => vmSummary(cluster, v)),
    },
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/status$/,
      params: [],
      handler: ({ match }) => {
        const n = cluster.nodes.get(match[1])!;
        const used = cluster.memoryUsed(n.name);
        return { memory: { total: n.maxmem, used, free: n.maxmem - used }, cpu: 0.02, uptime: Math.floor(process.uptime()), pveversion: "pve-manager/8.2.4" };
      },
    },
  ];
}
