// The wiring of a farm as a graph: what `planFarm` records and what the Mermaid and SVG renderers
// draw. Nodes are VMs and intermediaries (balancers, routers, failovers); edges go from a user to what
// it uses: an importing VM to the node serving its import, an intermediary to each of its backends.

export type NodeKind = "vm" | "balancer" | "router" | "failover";
export type EdgeStyle = "primary" | "backup" | "import" | "backend";

export interface GraphNode {
  /** The VM's name as the controller would give it, e.g. "orders-2" or "orders-balancer-1". */
  readonly id: string;
  readonly kind: NodeKind;
  /** A VM's role name. */
  readonly role?: string;
  /** What to show as the node's title (its name). */
  readonly label: string;
  /** A VM kept alive by `heal`. */
  readonly healed?: boolean;
  /** Where clients come in: a node whose endpoint the script returns (or, without that, one nothing uses). */
  readonly entry?: boolean;
  /** Contract ids it serves: "api: orders@1" for a VM, the served contract's id for an intermediary. */
  readonly contracts?: readonly string[];
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
  readonly style?: EdgeStyle;
}

export interface FarmGraph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/**
 * Replica groups: the VMs of one role when the role has two or more, in node order, keyed by role.
 * Both renderers box them together.
 */
export function replicaGroups(graph: FarmGraph): Map<string, GraphNode[]> {
  const byRole = new Map<string, GraphNode[]>();
  for (const node of graph.nodes) {
    if (node.kind !== "vm" || node.role === undefined) continue;
    const list = byRole.get(node.role) ?? [];
    list.push(node);
    byRole.set(node.role, list);
  }
  for (const [role, list] of byRole) if (list.length < 2) byRole.delete(role);
  return byRole;
}

/**
 * The graph with its entry points marked: the nodes of `returned` (the endpoints' node ids, as a
 * script's result names them), or, when it names none, every node that nothing in the graph uses.
 */
export function withEntries(graph: FarmGraph, returned: readonly string[] = []): FarmGraph {
  const known = new Set(graph.nodes.map((n) => n.id));
  let entries = new Set(returned.filter((id) => known.has(id)));
  if (entries.size === 0) {
    const used = new Set(graph.edges.map((e) => e.to));
    entries = new Set(graph.nodes.filter((n) => !used.has(n.id)).map((n) => n.id));
  }
  return { nodes: graph.nodes.map((n) => (entries.has(n.id) ? { ...n, entry: true } : n)), edges: graph.edges };
}
