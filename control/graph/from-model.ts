// The desired farm as a graph for the renderers: nodes in the order the script made them, an edge
// from each user to what it uses (an importing VM to the node serving its import, an intermediary to
// each backend of its pools).

import { contractAt, type FarmModelView } from "../model/farm-model.ts";
import type { FarmGraph, GraphEdge, GraphNode } from "./graph.ts";

export function graphOf(model: FarmModelView): FarmGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const node of model.nodes) {
    if (node.kind === "vm") {
      nodes.push({
        id: node.name,
        kind: "vm",
        label: node.name,
        role: node.role.name,
        contracts: Object.entries(node.role.provides).map(([key, c]) => `${key}: ${c.id}`),
        ...(node.heal ? { healed: true } : {}),
      });
      for (const [importName, ref] of Object.entries(node.imports)) {
        edges.push({ from: node.name, to: ref.node, label: `${importName} (${contractAt(model, ref)?.id ?? "?"})`, style: "import" });
      }
      continue;
    }
    nodes.push({ id: node.name, kind: node.kind, label: node.name, contracts: [node.contract.id] });
    const id = node.contract.id;
    if (node.kind === "router") {
      for (const route of node.routes) {
        const pool = node.pools.find((p) => p.name === route.pool);
        for (const m of pool?.members ?? []) edges.push({ from: node.name, to: m.ref.node, label: route.prefix, style: "backend" });
      }
    } else if (node.kind === "failover") {
      for (const m of node.pools[0].members) {
        edges.push(m.backup
          ? { from: node.name, to: m.ref.node, label: `backup (${id})`, style: "backup" }
          : { from: node.name, to: m.ref.node, label: `primary (${id})`, style: "primary" });
      }
    } else {
      for (const m of node.pools[0].members) edges.push({ from: node.name, to: m.ref.node, label: id, style: "backend" });
    }
  }
  return { nodes, edges };
}
