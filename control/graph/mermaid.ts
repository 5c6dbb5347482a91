// FarmGraph -> Mermaid flowchart text. VMs are rectangles, balancers hexagons, routers stadiums,
// failovers rhombi; the replicas of a role are grouped in a subgraph; healed VMs get the class
// `healed`. Identifiers are made from the node names ("orders-balancer-1" -> n_orders_balancer_1),
// so they are valid whatever the names are and never a Mermaid keyword.

import { replicaGroups, type FarmGraph, type GraphEdge, type GraphNode } from "./graph.ts";

export function toMermaid(graph: FarmGraph): string {
  const ids = mermaidIds(graph);
  const groups = replicaGroups(graph);
  const grouped = new Set([...groups.values()].flat().map((n) => n.id));
  const lines = ["flowchart LR"];
  const emitted = new Set<string>();
  for (const node of graph.nodes) {
    if (!grouped.has(node.id)) {
      lines.push(`  ${nodeLine(node, ids.get(node.id)!)}`);
      continue;
    }
    const role = node.role!;
    if (emitted.has(role)) continue;
    emitted.add(role);
    const members = groups.get(role)!;
    lines.push(`  subgraph ${safeId(`g_${role}`, new Set(ids.values()))}["${text(`${role} × ${members.length}`)}"]`);
    lines.push("    direction TB");
    for (const member of members) lines.push(`    ${nodeLine(member, ids.get(member.id)!)}`);
    lines.push("  end");
  }
  for (const edge of graph.edges) lines.push(`  ${edgeLine(edge, ids)}`);
  // Where clients come in: a node of its own with a thick arrow to each entry point.
  const entries = graph.nodes.filter((n) => n.entry === true).map((n) => ids.get(n.id)!);
  if (entries.length > 0) {
    const clients = safeId("n_clients", new Set(ids.values()));
    lines.push(`  ${clients}(("clients"))`);
    for (const e of entries) lines.push(`  ${clients} ==> ${e}`);
  }
  const healed = graph.nodes.filter((n) => n.healed === true).map((n) => ids.get(n.id)!);
  lines.push("  classDef healed stroke:#6a3d9a,stroke-width:3px");
  lines.push("  classDef intermediary fill:#fff4e0,stroke:#b26a00");
  const intermediaries = graph.nodes.filter((n) => n.kind !== "vm").map((n) => ids.get(n.id)!);
  if (intermediaries.length > 0) lines.push(`  class ${intermediaries.join(",")} intermediary`);
  if (healed.length > 0) lines.push(`  class ${healed.join(",")} healed`);
  return `${lines.join("\n")}\n`;
}

/** Node id -> a Mermaid identifier: [A-Za-z0-9_], starting with "n_", unique. */
export function mermaidIds(graph: FarmGraph): Map<string, string> {
  const ids = new Map<string, string>();
  const taken = new Set<string>();
  for (const node of graph.nodes) {
    const id = safeId(`n_${node.id.replace(/[^A-Za-z0-9]/g, "_")}`, taken);
    taken.add(id);
    ids.set(node.id, id);
  }
  return ids;
}

function safeId(base: string, taken: Set<string>): string {
  const clean = base.replace(/[^A-Za-z0-9_]/g, "_");
  let id = clean;
  for (let i = 2; taken.has(id); i++) id = `${clean}_${i}`;
  return id;
}

function nodeLine(node: GraphNode, id: string): string {
  const parts = [node.label];
  if (node.kind === "vm") parts.push(`role ${node.role ?? "?"}`);
  else parts.push(node.kind);
  for (const c of node.contracts ?? []) parts.push(c);
  if (node.healed === true) parts.push("healed");
  const label = `"${parts.map(text).join("<br/>")}"`;
  switch (node.kind) {
    case "vm": return `${id}[${label}]`;
    case "balancer": return `${id}{{${label}}}`;
    case "router": return `${id}([${label}])`;
    case "failover": return `${id}{${label}}`;
  }
}

function edgeLine(edge: GraphEdge, ids: Map<string, string>): string {
  const from = ids.get(edge.from);
  const to = ids.get(edge.to);
  if (from === undefined || to === undefined) throw new RangeError(`graph edge ${edge.from} -> ${edge.to}: unknown node`);
  const arrow = edge.style === "backup" ? "-.->" : edge.style === "primary" ? "==>" : "-->";
  return `${from} ${arrow}|"${text(edge.label)}"| ${to}`;
}

/** Text inside a quoted Mermaid label: quotes and markup as entity codes. */
function text(s: string): string {
  return s.replace(/&/g, "#amp;").replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;");
}
