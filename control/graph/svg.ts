// FarmGraph -> SVG, drawn here without any dependency. A layered layout, left to right:
//  - layers: the longest path from the front (nodes nobody uses are layer 0, then what they use);
//    cycles (possible after a rewire) are broken at the earliest node still waiting, deterministically;
//  - an edge spanning several layers passes through a thin placeholder in each layer between, so it
//    never crosses a box;
//  - order within a layer: a few barycenter sweeps; the replicas of a role in one layer stay together
//    and are boxed as a group;
//  - coordinates: columns side by side, boxes stacked in each column (so no two boxes overlap), each
//    column centred; the gap before a column is wide enough for the labels of the edges entering it.
// Edges into one node with the same label (three replicas importing one payments VM) meet at one port
// on the node's left side and carry the label once, just before the arrow. Same graph, same SVG.

import { replicaGroups, type EdgeStyle, type FarmGraph, type GraphNode } from "./graph.ts";

const FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const CHAR_W = 7.3; // width of a 12px monospace character
const TITLE_CHAR_W = 8; // 13px bold
const LINE_H = 16;
const PAD_X = 10;
const PAD_Y = 8;
const NODE_GAP = 22;
const GROUP_PAD = 10;
const GROUP_TITLE_H = 18;
const PORT_SPACING = 20;
const LABEL_H = 16;
const MARGIN = 24;
const DUMMY_H = 8;
const ENTRY_ARROW = 78;
const ENTRY_COLOR = "#111";

const STYLE: Record<EdgeStyle, { color: string; width: number; dash?: string }> = {
  import: { color: "#1f4e79", width: 1.4 },
  backend: { color: "#6b6b6b", width: 1.4 },
  primary: { color: "#00838f", width: 2.6 },
  backup: { color: "#c05a00", width: 1.6, dash: "6 4" },
};
/**
 * The border of a VM kept alive by heal: a colour no edge uses, and not green, which on the
 * dashboard means "healthy".
 */
const HEALED = "#6a3d9a";
/** What a live line reserves room for: "127.255.255.255:65535 · unhealthy". */
const LIVE_CHARS = 34;

export interface SvgOptions {
  /** A title above the drawing. */
  readonly title?: string;
  /**
   * Give every node an empty line (`<text class="node-live" data-id=...>`) that the dashboard fills
   * with the VM's address and health as they change.
   */
  readonly live?: boolean;
}

interface Box {
  readonly key: string;
  readonly node: GraphNode | null; // null: a placeholder for a long edge
  readonly lines: { text: string; kind: "title" | "sub" | "contract" | "healed" | "live" | "entry" }[];
  w: number;
  h: number;
  layer: number;
  x: number;
  y: number;
  /** Replica group key ("role@layer"), when boxed with others. */
  group: string | null;
}

interface Unit {
  readonly boxes: Box[];
  readonly group: string | null;
  rank: number;
}

interface Port {
  readonly to: string;
  readonly label: string;
  readonly style: EdgeStyle;
  y: number;
  readonly edges: number[];
}

export interface SvgLayout {
  readonly svg: string;
  /** Node id -> its box, for checks. */
  readonly boxes: ReadonlyMap<string, { readonly x: number; readonly y: number; readonly w: number; readonly h: number }>;
}

export function toSvg(graph: FarmGraph, title?: string | SvgOptions): string {
  return layoutSvg(graph, title).svg;
}

export function layoutSvg(graph: FarmGraph, titleOrOptions?: string | SvgOptions): SvgLayout {
  const options: SvgOptions = typeof titleOrOptions === "string" ? { title: titleOrOptions } : titleOrOptions ?? {};
  const title = options.title;
  const index = new Map(graph.nodes.map((n, i) => [n.id, i]));
  for (const e of graph.edges) {
    if (!index.has(e.from) || !index.has(e.to)) throw new RangeError(`graph edge ${e.from} -> ${e.to}: unknown node`);
  }
  const edges = graph.edges.map((e) => ({ ...e, style: e.style ?? "import" as EdgeStyle }));
  const layer = layers(graph);

  // Boxes: nodes, and placeholders along long edges.
  const boxes = new Map<string, Box>();
  const used = new Set(edges.map((e) => e.to));
  // An entry point nothing else uses gets an arrow from the left edge; one behind other nodes (a
  // balancer the script also returns) says so in a line of its own, where no edge can cross it.
  const arrowed = (node: GraphNode) => node.entry === true && !used.has(node.id);
  for (const node of graph.nodes) {
    const lines: Box["lines"] = [{ text: node.label, kind: "title" }];
    if (node.entry === true && !arrowed(node)) lines.push({ text: "▶ entry point", kind: "entry" });
    lines.push({ text: node.kind === "vm" ? `role: ${node.role ?? "?"}` : node.kind, kind: "sub" });
    for (const c of node.contracts ?? []) lines.push({ text: c, kind: "contract" });
    if (node.healed === true) lines.push({ text: "♻ healed", kind: "healed" });
    if (options.live === true) lines.push({ text: " ".repeat(LIVE_CHARS), kind: "live" });
    const w = Math.max(...lines.map((l) => l.text.length * (l.kind === "title" ? TITLE_CHAR_W : CHAR_W))) + 2 * PAD_X;
    boxes.set(node.id, { key: node.id, node, lines, w: Math.ceil(w), h: 2 * PAD_Y + lines.length * LINE_H, layer: layer.get(node.id)!, x: 0, y: 0, group: null });
  }
  const chains: string[][] = edges.map((e, i) => {
    const chain = [e.from];
    const a = layer.get(e.from)!;
    const b = layer.get(e.to)!;
    for (let l = a + 1; l < b; l++) {
      const key = `~${i}~${l}`;
      boxes.set(key, { key, node: null, lines: [], w: 0, h: DUMMY_H, layer: l, x: 0, y: 0, group: null });
      chain.push(key);
    }
    chain.push(e.to);
    return chain;
  });

  // Incoming ports: one per (target, label, style), in edge order for now.
  const ports = new Map<string, Port[]>();
  edges.forEach((e, i) => {
    const list = ports.get(e.to) ?? [];
    let port = list.find((p) => p.label === e.label && p.style === e.style);
    if (port === undefined) {
      port = { to: e.to, label: e.label, style: e.style, y: 0, edges: [] };
      list.push(port);
    }
    port.edges.push(i);
    ports.set(e.to, list);
  });
  for (const [id, list] of ports) {
    const box = boxes.get(id)!;
    box.h = Math.max(box.h, list.length * PORT_SPACING + 2 * PAD_Y);
  }

  // Replica groups per layer.
  for (const [role, members] of replicaGroups(graph)) {
    const byLayer = new Map<number, GraphNode[]>();
    for (const m of members) byLayer.set(layer.get(m.id)!, [...(byLayer.get(layer.get(m.id)!) ?? []), m]);
    for (const [l, list] of byLayer) if (list.length >= 2) for (const m of list) boxes.get(m.id)!.group = `${role}@${l}`;
  }

  // Units per layer, initially in creation order.
  const layerCount = Math.max(0, ...[...boxes.values()].map((b) => b.layer)) + 1;
  const columns: Unit[][] = Array.from({ length: layerCount }, () => []);
  const unitOf = new Map<string, Unit>();
  for (const box of boxes.values()) {
    const column = columns[box.layer];
    let unit = box.group === null ? undefined : column.find((u) => u.group === box.group);
    if (unit === undefined) {
      unit = { boxes: [], group: box.group, rank: column.length };
      column.push(unit);
    }
    unit.boxes.push(box);
    unitOf.set(box.key, unit);
  }

  // Neighbours along chains, for the barycenter sweeps.
  const neighbours = new Map<string, string[]>();
  const link = (a: string, b: string) => {
    neighbours.set(a, [...(neighbours.get(a) ?? []), b]);
    neighbours.set(b, [...(neighbours.get(b) ?? []), a]);
  };
  for (const chain of chains) for (let i = 1; i < chain.length; i++) if (chain[i] !== chain[i - 1]) link(chain[i - 1], chain[i]);
  const position = (key: string): number => {
    const unit = unitOf.get(key)!;
    const column = columns[boxes.get(key)!.layer];
    const within = unit.boxes.length > 1 ? (unit.boxes.findIndex((b) => b.key === key) + 0.5) / unit.boxes.length - 0.5 : 0;
    return (unit.rank + 0.5 + within) / column.length;
  };
  const sweep = (l: number, from: (other: number) => boolean) => {
    const column = columns[l];
    const score = new Map<Unit, number>();
    for (const unit of column) {
      const seen = unit.boxes.flatMap((b) => (neighbours.get(b.key) ?? []).filter((n) => from(boxes.get(n)!.layer)).map(position));
      score.set(unit, seen.length === 0 ? (unit.rank + 0.5) / column.length : seen.reduce((s, v) => s + v, 0) / seen.length);
    }
    column.sort((a, b) => score.get(a)! - score.get(b)! || a.rank - b.rank);
    column.forEach((u, i) => (u.rank = i));
  };
  for (let round = 0; round < 4; round++) {
    for (let l = 1; l < layerCount; l++) sweep(l, (o) => o < l);
    for (let l = layerCount - 2; l >= 0; l--) sweep(l, (o) => o > l);
  }

  // Column widths, and the gap before each column: room for the labels of the edges entering it.
  const labelW = (text: string) => Math.ceil(text.length * CHAR_W) + 10;
  const unitWidth = (u: Unit) => {
    const inner = Math.max(...u.boxes.map((b) => b.w));
    return u.group === null ? inner : Math.max(inner, labelW(groupTitle(u))) + 2 * GROUP_PAD;
  };
  const colW = columns.map((c) => Math.max(40, ...c.map(unitWidth)));
  const gapBefore = columns.map((_, l) => {
    const labels = [...ports.values()].flat().filter((p) => boxes.get(p.to)!.layer === l).map((p) => labelW(p.label));
    return Math.max(80, ...labels.map((w) => w + 70));
  });
  const colX: number[] = [];
  // Entry points get an arrow from the left edge: room for it and its "clients" label.
  const entryRoom = graph.nodes.some(arrowed) ? ENTRY_ARROW : 0;
  let x = MARGIN + entryRoom;
  for (let l = 0; l < layerCount; l++) {
    if (l > 0) x += gapBefore[l];
    colX.push(x);
    x += colW[l];
  }
  const width = x + MARGIN + (hasBackEdges(edges, layer) ? 80 : 0);

  // Vertical stacking per column, then centring.
  const unitHeight = (u: Unit) => u.boxes.reduce((s, b) => s + b.h, 0) + (u.boxes.length - 1) * NODE_GAP + (u.group === null ? 0 : 2 * GROUP_PAD + GROUP_TITLE_H);
  const colH = columns.map((c) => c.reduce((s, u) => s + unitHeight(u), 0) + Math.max(0, c.length - 1) * NODE_GAP);
  const titleH = title === undefined ? 0 : 30;
  const innerH = Math.max(0, ...colH);
  const groupRects: { x: number; y: number; w: number; h: number; title: string }[] = [];
  columns.forEach((column, l) => {
    let y = MARGIN + titleH + (innerH - colH[l]) / 2;
    for (const unit of column) {
      const uw = unitWidth(unit);
      const ux = colX[l] + (colW[l] - uw) / 2;
      if (unit.group !== null) {
        groupRects.push({ x: ux, y, w: uw, h: unitHeight(unit), title: groupTitle(unit) });
        y += GROUP_PAD + GROUP_TITLE_H;
      }
      for (const box of unit.boxes) {
        box.x = box.node === null ? colX[l] : colX[l] + (colW[l] - box.w) / 2;
        box.w = box.node === null ? colW[l] : box.w;
        box.y = y;
        y += box.h + NODE_GAP;
      }
      y += unit.group === null ? 0 : GROUP_PAD;
    }
  });
  const height = MARGIN * 2 + titleH + innerH + 40;

  // Ports: incoming ones in order of where their edges come from; outgoing ones in order of where they go.
  const centre = (key: string) => boxes.get(key)!.y + boxes.get(key)!.h / 2;
  for (const [id, list] of ports) {
    const box = boxes.get(id)!;
    const from = (p: Port) => p.edges.reduce((s, i) => s + centre(chains[i][chains[i].length - 2]), 0) / p.edges.length;
    list.sort((a, b) => from(a) - from(b));
    list.forEach((p, i) => (p.y = box.y + box.h / 2 + (i - (list.length - 1) / 2) * PORT_SPACING));
  }
  const inY = new Map<number, number>();
  for (const list of ports.values()) for (const p of list) for (const i of p.edges) inY.set(i, p.y);
  const outY = new Map<number, number>();
  const outgoing = new Map<string, number[]>();
  edges.forEach((e, i) => outgoing.set(e.from, [...(outgoing.get(e.from) ?? []), i]));
  for (const [id, list] of outgoing) {
    const box = boxes.get(id)!;
    const next = (i: number) => (chains[i].length > 2 ? centre(chains[i][1]) : inY.get(i)!);
    list.sort((a, b) => next(a) - next(b) || a - b);
    const ys = [...new Set(list.map(next))];
    for (const i of list) {
      const k = ys.indexOf(next(i));
      outY.set(i, box.y + PAD_Y + ((box.h - 2 * PAD_Y) * (k + 1)) / (ys.length + 1));
    }
  }

  // Drawing.
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${r(width)}" height="${r(height)}" viewBox="0 0 ${r(width)} ${r(height)}" font-family="${FONT}" font-size="12">`);
  out.push("  <defs>");
  for (const [name, s] of [...Object.entries(STYLE), ["entry", { color: ENTRY_COLOR }] as const]) {
    out.push(`    <marker id="arrow-${name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="${s.color}"/></marker>`);
  }
  out.push("  </defs>");
  out.push(`  <rect x="0" y="0" width="${r(width)}" height="${r(height)}" fill="#ffffff"/>`);
  if (title !== undefined) out.push(`  <text x="${MARGIN}" y="${MARGIN + 10}" font-size="15" font-weight="bold" fill="#222">${xml(title)}</text>`);
  for (const g of groupRects) {
    out.push(`  <g class="group">`);
    out.push(`    <rect x="${r(g.x)}" y="${r(g.y)}" width="${r(g.w)}" height="${r(g.h)}" rx="8" fill="#f3f6fa" stroke="#9aa9bb" stroke-dasharray="4 3"/>`);
    out.push(`    <text x="${r(g.x + GROUP_PAD)}" y="${r(g.y + GROUP_PAD + 10)}" fill="#4a5a6e" font-style="italic">${xml(g.title)}</text>`);
    out.push("  </g>");
  }
  // Edges first, so boxes and labels sit on top.
  const labelsOut: string[] = [];
  edges.forEach((e, i) => {
    const s = STYLE[e.style];
    const chain = chains[i];
    const src = boxes.get(e.from)!;
    const dst = boxes.get(e.to)!;
    const portX = dst.x;
    const ty = inY.get(i)!;
    const lw = labelW(e.label);
    const labelStart = portX - lw - 14;
    const points: [number, number][] = [[src.x + src.w, outY.get(i)!]];
    for (const key of chain.slice(1, -1)) {
      const d = boxes.get(key)!;
      points.push([d.x, d.y + d.h / 2], [d.x + d.w, d.y + d.h / 2]);
    }
    let d = `M ${r(points[0][0])} ${r(points[0][1])}`;
    const backwards = dst.layer <= src.layer;
    for (let k = 1; k < points.length; k += 2) d += curve(points[k - 1], points[k]) + ` L ${r(points[k + 1][0])} ${r(points[k + 1][1])}`;
    const last = points[points.length - 1];
    if (backwards) {
      // Around the right of the source, under everything, into the target's port.
      const below = height - 30;
      d += ` C ${r(last[0] + 60)} ${r(last[1])}, ${r(last[0] + 60)} ${r(below)}, ${r(last[0])} ${r(below)}`;
      d += ` L ${r(labelStart - 30)} ${r(below)} C ${r(labelStart - 60)} ${r(below)}, ${r(labelStart - 60)} ${r(ty)}, ${r(labelStart)} ${r(ty)}`;
    } else {
      d += curve(last, [labelStart, ty]);
    }
    d += ` L ${r(portX)} ${r(ty)}`;
    out.push(`  <path class="edge edge-${e.style}" data-from="${xml(e.from)}" data-to="${xml(e.to)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width}"${s.dash === undefined ? "" : ` stroke-dasharray="${s.dash}"`} marker-end="url(#arrow-${e.style})"/>`);
  });
  for (const list of ports.values()) {
    for (const p of list) {
      const dst = boxes.get(p.to)!;
      const lw = labelW(p.label);
      const lx = dst.x - lw - 10;
      const s = STYLE[p.style];
      labelsOut.push(`  <g class="edge-label">`);
      labelsOut.push(`    <rect x="${r(lx)}" y="${r(p.y - LABEL_H / 2)}" width="${r(lw)}" height="${LABEL_H}" rx="3" fill="#ffffff" stroke="${s.color}" stroke-width="0.6"/>`);
      labelsOut.push(`    <text x="${r(lx + lw / 2)}" y="${r(p.y + 4)}" text-anchor="middle" fill="${s.color}">${xml(p.label)}</text>`);
      labelsOut.push("  </g>");
    }
  }
  for (const box of boxes.values()) {
    const node = box.node;
    if (node === null) continue;
    const healed = node.healed === true;
    const fill = node.kind === "vm" ? "#e8f0fb" : "#fff4e0";
    const stroke = healed ? HEALED : node.kind === "vm" ? "#1f4e79" : "#b26a00";
    const rx = node.kind === "vm" ? 4 : node.kind === "router" ? box.h / 2 > 16 ? 16 : box.h / 2 : 12;
    if (arrowed(node)) {
      const y = box.y + box.h / 2;
      out.push(`  <g class="entry" data-id="${xml(node.id)}">`);
      out.push(`    <text x="${r(box.x - ENTRY_ARROW + 4)}" y="${r(y - 6)}" fill="${ENTRY_COLOR}" font-weight="bold">clients</text>`);
      out.push(`    <path d="M ${r(box.x - ENTRY_ARROW + 4)} ${r(y)} L ${r(box.x)} ${r(y)}" stroke="${ENTRY_COLOR}" stroke-width="2.2" marker-end="url(#arrow-entry)"/>`);
      out.push("  </g>");
    }
    out.push(`  <g class="node node-${node.kind}${healed ? " healed" : ""}${node.entry === true ? " entry-point" : ""}" data-id="${xml(node.id)}">`);
    out.push(`    <rect class="node-box" x="${r(box.x)}" y="${r(box.y)}" width="${r(box.w)}" height="${r(box.h)}" rx="${r(rx)}" fill="${fill}" stroke="${stroke}" stroke-width="${healed ? 2.6 : 1.4}"${node.kind === "failover" ? ' stroke-dasharray="8 3"' : ""}/>`);
    const textTop = box.y + (box.h - box.lines.length * LINE_H) / 2;
    box.lines.forEach((line, k) => {
      const attrs = line.kind === "title" ? ' font-weight="bold" font-size="13" fill="#111"' :
        line.kind === "sub" ? ' fill="#555" font-style="italic"' :
        line.kind === "healed" ? ` fill="${HEALED}" font-weight="bold"` :
        line.kind === "entry" ? ` fill="${ENTRY_COLOR}" font-weight="bold"` :
        line.kind === "live" ? ` class="node-live" data-id="${xml(node.id)}" fill="#333"` : ' fill="#333"';
      out.push(`    <text x="${r(box.x + PAD_X)}" y="${r(textTop + (k + 1) * LINE_H - 4)}"${attrs}>${line.kind === "live" ? "" : xml(line.text)}</text>`);
    });
    out.push("  </g>");
  }
  out.push(...labelsOut);
  out.push(legend(MARGIN, height - 14, graph));
  out.push("</svg>");

  const placed = new Map<string, { x: number; y: number; w: number; h: number }>();
  for (const box of boxes.values()) if (box.node !== null) placed.set(box.key, { x: box.x, y: box.y, w: box.w, h: box.h });
  return { svg: `${out.join("\n")}\n`, boxes: placed };

  function groupTitle(u: Unit): string {
    return `${u.boxes[0].node?.role ?? "?"} × ${u.boxes.length}`;
  }
}

/** Longest path from the front, with cycles broken at the earliest waiting node. */
function layers(graph: FarmGraph): Map<string, number> {
  const layer = new Map<string, number>(graph.nodes.map((n) => [n.id, 0]));
  const indegree = new Map<string, number>(graph.nodes.map((n) => [n.id, 0]));
  const out = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (e.from === e.to) continue;
    indegree.set(e.to, indegree.get(e.to)! + 1);
    out.set(e.from, [...(out.get(e.from) ?? []), e.to]);
  }
  const done = new Set<string>();
  const order = graph.nodes.map((n) => n.id);
  while (done.size < order.length) {
    let next = order.find((id) => !done.has(id) && indegree.get(id) === 0);
    if (next === undefined) next = order.find((id) => !done.has(id))!; // a cycle: break it here
    done.add(next);
    for (const to of out.get(next) ?? []) {
      if (done.has(to)) continue;
      indegree.set(to, indegree.get(to)! - 1);
      layer.set(to, Math.max(layer.get(to)!, layer.get(next)! + 1));
    }
  }
  return layer;
}

function hasBackEdges(edges: readonly { from: string; to: string }[], layer: Map<string, number>): boolean {
  return edges.some((e) => layer.get(e.to)! <= layer.get(e.from)!);
}

function curve(a: [number, number], b: [number, number]): string {
  const dx = Math.max(20, (b[0] - a[0]) / 2);
  return ` C ${r(a[0] + dx)} ${r(a[1])}, ${r(b[0] - dx)} ${r(b[1])}, ${r(b[0])} ${r(b[1])}`;
}

/** What the drawing uses, and nothing else: the edge styles present, healed VMs, entry points. */
function legend(x: number, y: number, graph: FarmGraph): string {
  const items: string[] = [];
  let at = x;
  const used = new Set(graph.edges.map((e) => e.style ?? "import"));
  const NAMES: Record<EdgeStyle, string> = { import: "import", backend: "backend", primary: "failover primary", backup: "failover backup" };
  for (const [name, s] of Object.entries(STYLE) as [EdgeStyle, (typeof STYLE)[EdgeStyle]][]) {
    if (!used.has(name)) continue;
    items.push(`    <line x1="${r(at)}" y1="${r(y - 4)}" x2="${r(at + 28)}" y2="${r(y - 4)}" stroke="${s.color}" stroke-width="${s.width}"${s.dash === undefined ? "" : ` stroke-dasharray="${s.dash}"`}/>`);
    items.push(`    <text x="${r(at + 34)}" y="${r(y)}" fill="#555">${NAMES[name]}</text>`);
    at += 34 + NAMES[name].length * CHAR_W + 24;
  }
  if (graph.nodes.some((n) => n.healed === true)) {
    items.push(`    <rect x="${r(at)}" y="${r(y - 11)}" width="28" height="12" rx="3" fill="#e8f0fb" stroke="${HEALED}" stroke-width="2.6"/>`);
    items.push(`    <text x="${r(at + 34)}" y="${r(y)}" fill="#555">healed (kept alive)</text>`);
    at += 34 + 19 * CHAR_W + 24;
  }
  if (graph.nodes.some((n) => n.entry === true)) {
    items.push(`    <line x1="${r(at)}" y1="${r(y - 4)}" x2="${r(at + 28)}" y2="${r(y - 4)}" stroke="${ENTRY_COLOR}" stroke-width="2.2" marker-end="url(#arrow-entry)"/>`);
    items.push(`    <text x="${r(at + 34)}" y="${r(y)}" fill="#555">entry point</text>`);
  }
  return `  <g class="legend">\n${items.join("\n")}\n  </g>`;
}

function r(n: number): string {
  return String(Math.round(n * 10) / 10);
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}
