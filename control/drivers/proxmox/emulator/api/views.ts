// How the API shows the cluster: a VM's summary (in /cluster/resources and /nodes/N/qemu), its
// status/current, a node's entry. A VM's status is its power: a running VM whose guest died or hung
// is "running" here, as on a real cluster.

import { agentEnabled, isTemplate } from "../cluster/config.ts";
import type { Cluster, EmulatedVm } from "../cluster/cluster.ts";
import type { EmulatedNode } from "../options.ts";

const GIB = 1024 ** 3;
const NODE_FINGERPRINT = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

const cpus = (vm: EmulatedVm) => Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1);

export function vmSummary(cluster: Cluster, vm: EmulatedVm): Record<string, unknown> {
  const running = vm.power === "running";
  const offline = cluster.faults.offlineNodes.has(vm.node);
  const memory = cluster.vmMemory(vm);
  const r: Record<string, unknown> = {
    vmid: vm.vmid,
    name: vm.config.name,
    status: offline ? "unknown" : running ? "running" : "stopped",
    template: isTemplate(vm.config) ? 1 : 0,
    mem: running ? Math.floor(memory / 2) : 0,
    maxmem: memory,
    maxcpu: cpus(vm),
    cpu: running ? 0.01 : 0,
    disk: 0,
    maxdisk: 8 * GIB,
    uptime: vm.startedAt === null ? 0 : Math.floor((cluster.time.monotonic() - vm.startedAt) / 1000),
    netin: 0,
    netout: 0,
    diskread: 0,
    diskwrite: 0,
  };
  if (vm.config.tags !== undefined) r.tags = vm.config.tags;
  if (vm.config.lock !== undefined) r.lock = vm.config.lock;
  if (running && vm.proc !== null) r.pid = vm.proc.pid;
  return r;
}

export function vmStatus(cluster: Cluster, vm: EmulatedVm): Record<string, unknown> {
  const running = vm.power === "running";
  const r: Record<string, unknown> = {
    ...vmSummary(cluster, vm),
    status: running ? "running" : "stopped",
    qmpstatus: running ? "running" : "stopped",
    cpus: cpus(vm),
    agent: agentEnabled(vm.config) ? 1 : 0,
    ha: { managed: 0 },
  };
  if (running) {
    r["running-qemu"] = "9.0.2";
    r["running-machine"] = "pc-i440fx-9.0+pve0";
  }
  if (isTemplate(vm.config)) r.template = 1;
  else delete r.template;
  return r;
}

/** A node as GET /nodes lists it. */
export function nodeEntry(cluster: Cluster, n: EmulatedNode): Record<string, unknown> {
  const base = { node: n.name, id: `node/${n.name}`, type: "node", level: "" };
  if (cluster.faults.offlineNodes.has(n.name)) return { ...base, status: "offline" };
  return {
    ...base, status: "online",
    maxmem: n.maxmem, mem: cluster.memoryUsed(n.name), maxcpu: n.maxcpu, cpu: 0.02,
    maxdisk: 100 * GIB, disk: 10 * GIB, uptime: Math.floor(process.uptime()),
    ssl_fingerprint: NODE_FINGERPRINT,
  };
}

/** A node as GET /cluster/resources lists it. */
export function nodeResource(cluster: Cluster, n: EmulatedNode): Record<string, unknown> {
  const base = { id: `node/${n.name}`, type: "node", node: n.name };
  if (cluster.faults.offlineNodes.has(n.name)) return { ...base, status: "offline" };
  return { ...base, status: "online", maxmem: n.maxmem, mem: cluster.memoryUsed(n.name), maxcpu: n.maxcpu, cpu: 0.02, uptime: Math.floor(process.uptime()) };
}
