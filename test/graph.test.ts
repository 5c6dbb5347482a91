// `farmhand graph`: the plan farm records what a script would build (and builds nothing), and the
// Mermaid and SVG renderers draw it.

import childProcess from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { graphOf } from "../control/graph/from-model.ts";
import { planFarm } from "../control/model/recorder.ts";
import { loadScript } from "../control/farm/script.ts";
import { withEntries, type FarmGraph } from "../control/graph/graph.ts";
import { toMermaid } from "../control/graph/mermaid.ts";
import { layoutSvg } from "../control/graph/svg.ts";
import { graphScript, runGraph } from "../src/commands/graph.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const example = path.join(root, "examples/order-processing/farm.ts");
const farmTypes = JSON.stringify(path.join(root, "control/farm/farm.ts"));
const roles = JSON.stringify(path.join(root, "examples/order-processing/roles.ts"));

const ORDERS = ["orders-1", "orders-2"];

async function plan(script: string): Promise<FarmGraph> {
  const farm = planFarm("test");
  await (await loadScript(script))(farm);
  return graphOf(farm.model);
}

/** A script in a temp folder (an ES module folder, as the repository is). */
function tempScript(name: string, body: string[]): { dir: string; script: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-graph-"));
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
  const script = path.join(dir, name);
  writeFileSync(script, [
    `import type { Farm } from ${farmTypes};`,
    `import { InventoryService, OrderService, PaymentService, WebFrontend } from ${roles};`,
    "export default async function (farm: Farm) {",
    ...body.map((l) => `  ${l}`),
    "}",
    "",
  ].join("\n"));
  return { dir, script };
}

const edgeKey = (e: { from: string; to: string; label: string; style?: string }) => `${e.from} -> ${e.to} "${e.label}"${e.style === undefined ? "" : ` ${e.style}`}`;
const keys = (g: FarmGraph) => g.edges.map(edgeKey).sort();

test("planning the order-processing example gives its nodes and edges", async () => {
  const g = await plan(example);
  assert.equal(g.nodes.map((n) => n.id), ["payments-1", "inventory-1", ...ORDERS, "orders-balancer-1", "web-1"]);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  assert.is(byId.get("orders-balancer-1")!.kind, "balancer");
  assert.equal(byId.get("orders-balancer-1")!.contracts, ["orders@1"]);
  for (const id of ["payments-1", "inventory-1", ...ORDERS, "web-1"]) assert.is(byId.get(id)!.kind, "vm");
  assert.is(byId.get("orders-2")!.role, "orders");
  assert.equal(byId.get("payments-1")!.contracts, ["api: payments@1"]);
  for (const id of ["payments-1", "inventory-1", ...ORDERS, "web-1"]) assert.is(byId.get(id)!.healed, true, `${id} healed`);
  // The balancer is an intermediary: the farm keeps it alive whatever the script says.
  assert.not.ok(byId.get("orders-balancer-1")!.healed);
  const expected = [
    'web-1 -> orders-balancer-1 "orders (orders@1)" import',
    ...ORDERS.map((o) => `orders-balancer-1 -> ${o} "orders@1" backend`),
    ...ORDERS.map((o) => `${o} -> payments-1 "payments (payments@1)" import`),
    ...ORDERS.map((o) => `${o} -> inventory-1 "inventory (inventory@1)" import`),
  ].sort();
  assert.equal(keys(g), expected);
});

test("planning creates nothing: no driver, no process, plan:// endpoints", async () => {
  for (const file of ["control/model/recorder.ts", "control/model/farm-model.ts", "control/graph/from-model.ts"]) {
    const source = readFileSync(path.join(root, file), "utf8");
    const imports = [...source.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]);
    for (const spec of imports) assert.not.match(spec, /drivers|reconcile|child_process|undici|node:net|node:http/, `${file} imports ${spec}`);
  }
  // Any attempt to start a process while planning fails the test.
  const cp = childProcess as unknown as Record<string, unknown>;
  const names = ["spawn", "spawnSync", "fork", "exec", "execFile", "execSync", "execFileSync"];
  const saved = names.map((n) => cp[n]);
  const started: string[] = [];
  for (const n of names) cp[n] = (...args: unknown[]) => { started.push(`${n} ${String(args[0])}`); throw new Error("no process while planning"); };
  syncBuiltinESMExports();
  try {
    const farm = planFarm("nothing");
    const run = await loadScript(example);
    const result = (await run(farm)) as Record<string, { url: string; contract: { id: string } }>;
    assert.match(result.orders.url, /^plan:\/\/orders-balancer-1\/api$/);
    assert.is(result.orders.contract.id, "orders@1");
    assert.match(result.site.url, /^plan:\/\/web-1\//);
    await farm.teardown();
    assert.is(graphOf(farm.model).nodes.length, 6, "teardown of a plan keeps the plan");
  } finally {
    names.forEach((n, i) => (cp[n] = saved[i]));
    syncBuiltinESMExports();
  }
  assert.equal(started, []);
  const resources = process.getActiveResourcesInfo().filter((r) => /Process|TCP/.test(r));
  assert.equal(resources, []);
});

test("Mermaid output has every node and edge, grouped replicas and valid identifiers", async () => {
  const g = await plan(example);
  const text = toMermaid(g);
  const lines = text.trimEnd().split("\n");
  assert.is(lines[0], "flowchart LR");
  const opens = lines.filter((l) => /^\s*subgraph\s/.test(l)).length;
  const ends = lines.filter((l) => /^\s*end\s*$/.test(l)).length;
  assert.is(opens, 1);
  assert.is(ends, opens);
  const ident = (id: string) => `n_${id.replace(/-/g, "_")}`;
  for (const n of g.nodes) {
    assert.match(text, new RegExp(`^\\s*${ident(n.id)}[\\[{(]`, "m"), n.id);
    assert.ok(text.includes(n.label), n.label);
  }
  assert.match(text, /n_orders_balancer_1\{\{"/, "a balancer is a hexagon");
  assert.match(text, /n_web_1\["/, "a VM is a rectangle");
  for (const e of g.edges) {
    assert.ok(text.includes(`${ident(e.from)} -->|"${e.label}"| ${ident(e.to)}`), edgeKey(e));
  }
  // Every identifier used in an edge or class line is declared, and is [A-Za-z0-9_].
  const declared = new Set([...text.matchAll(/^\s*(n_\w+)[\[{(]/gm)].map((m) => m[1]));
  for (const m of text.matchAll(/(?:^|\s)(n_[^\s|,\[\]{}()"]+)/g)) {
    assert.match(m[1], /^[A-Za-z0-9_]+$/);
    assert.ok(declared.has(m[1]), `${m[1]} declared`);
  }
  assert.match(text, /class n_payments_1,n_inventory_1,n_orders_1,n_orders_2,n_web_1 healed/);
  // Quotes inside labels never end a label early.
  for (const l of lines) assert.is(((l.match(/"/g) ?? []).length) % 2, 0, l);
});

/** Rough XML check: every tag closes in order; returns the tag names seen. */
function checkXml(svg: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  const body = svg.replace(/^<\?xml[^>]*\?>/, "").trim();
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|>/g)) {
    if (m[2] === undefined) throw new Error(`stray ${m[0]} at ${m.index}: ${body.slice(Math.max(0, m.index! - 40), m.index! + 40)}`);
    const [, close, name, , selfClose] = m;
    seen.push(name);
    if (close === "/") {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else if (selfClose !== "/") {
      stack.push(name);
    }
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(", ")}`);
  for (const m of body.matchAll(/&([^;\s]*);?/g)) if (!/^&(amp|lt|gt|quot|apos|#\d+);$/.test(m[0])) throw new Error(`bad entity ${m[0]}`);
  return seen;
}

/** The node boxes as drawn: `<rect class="node-box" x y width height>`. */
function nodeRects(svg: string): { x: number; y: number; w: number; h: number }[] {
  return [...svg.matchAll(/<rect class="node-box" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/g)]
    .map((m) => ({ x: Number(m[1]), y: Number(m[2]), w: Number(m[3]), h: Number(m[4]) }));
}

function assertNoOverlap(rects: { x: number; y: number; w: number; h: number }[]): void {
  for (let i = 0; i < rects.length; i++) {
    for (let j = i + 1; j < rects.length; j++) {
      const a = rects[i];
      const b = rects[j];
      const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      assert.not.ok(overlap, `boxes overlap: ${JSON.stringify(a)} ${JSON.stringify(b)}`);
    }
  }
}

test("the SVG is well-formed, labels every node and no two boxes overlap", async () => {
  const g = await plan(example);
  const { svg, boxes } = layoutSvg(g, "farm order-processing");
  const tags = checkXml(svg);
  assert.is(tags[0], "svg");
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  for (const n of g.nodes) assert.ok(svg.includes(`>${n.label}</text>`), n.label);
  for (const c of ["orders@1", "payments@1", "inventory@1", "web@1"]) assert.ok(svg.includes(c), c);
  assert.ok(svg.includes(">orders (orders@1)</text>"), "edge label");
  assert.is((svg.match(/class="node node-vm healed"/g) ?? []).length, 5);
  assert.ok(svg.includes(">orders × 2</text>"), "replica group");
  assert.is((svg.match(/class="edge /g) ?? []).length, g.edges.length);
  const rects = nodeRects(svg);
  assert.is(rects.length, g.nodes.length);
  assertNoOverlap(rects);
  // Left to right from the front: web, balancer, orders, then payments and inventory.
  const x = (id: string) => boxes.get(id)!.x;
  assert.ok(x("web-1") < x("orders-balancer-1") && x("orders-balancer-1") < x("orders-2") && x("orders-2") < x("payments-1"));
  assert.is(x("payments-1") + boxes.get("payments-1")!.w > x("inventory-1"), true, "payments and inventory share a column");
  assert.is(layoutSvg(g, "farm order-processing").svg, svg, "deterministic");
});

test("route, failover and rewire give the right edges", async () => {
  const { dir, script } = tempScript("wiring.ts", [
    "const pay = await farm.vm(PaymentService, {});",
    "const stock = await farm.vm(InventoryService, {});",
    "const [a, b] = await farm.replicate(2, OrderService, { payments: pay.api, inventory: stock.api });",
    "const either = await farm.failover(a.api, b.api);",
    "const web = await farm.vm(WebFrontend, { orders: either });",
    "const front = await farm.route({ \"/orders\": either, \"/payments\": pay.api, \"/\": web.site });",
    "await farm.rewire(web, \"orders\", b.api);",
    "farm.heal([web]);",
    "return { front };",
  ]);
  try {
    const g = await plan(script);
    assert.equal(g.nodes.map((n) => `${n.id}:${n.kind}`), [
      "payments-1:vm", "inventory-1:vm", "orders-1:vm", "orders-2:vm", "orders-failover-1:failover", "web-1:vm", "router-1:router",
    ]);
    assert.equal(g.nodes.find((n) => n.id === "router-1")!.contracts, ["route(orders@1+payments@1+web@1)"]);
    assert.is(g.nodes.find((n) => n.id === "web-1")!.healed, true);
    assert.equal(keys(g), [
      'orders-1 -> inventory-1 "inventory (inventory@1)" import',
      'orders-1 -> payments-1 "payments (payments@1)" import',
      'orders-2 -> inventory-1 "inventory (inventory@1)" import',
      'orders-2 -> payments-1 "payments (payments@1)" import',
      'orders-failover-1 -> orders-1 "primary (orders@1)" primary',
      'orders-failover-1 -> orders-2 "backup (orders@1)" backup',
      'router-1 -> orders-failover-1 "/orders" backend',
      'router-1 -> payments-1 "/payments" backend',
      'router-1 -> web-1 "/" backend',
      'web-1 -> orders-2 "orders (orders@1)" import',
    ].sort(), "the rewire moved web-1's import from the failover to orders-2");
    const mermaid = toMermaid(g);
    assert.ok(mermaid.includes('n_orders_failover_1 ==>|"primary (orders@1)"| n_orders_1'));
    assert.ok(mermaid.includes('n_orders_failover_1 -.->|"backup (orders@1)"| n_orders_2'));
    assert.match(mermaid, /n_router_1\(\["/);
    const { svg } = layoutSvg(g);
    checkXml(svg);
    assertNoOverlap(nodeRects(svg));
    assert.match(svg, /class="edge edge-backup"/);
    assert.match(svg, /class="edge edge-primary"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a farm of about thirty nodes: no overlapping boxes, long edges and all", async () => {
  const { dir, script } = tempScript("big.ts", [
    "const pays = await farm.replicate(3, PaymentService, {});",
    "const stocks = await farm.replicate(3, InventoryService, {});",
    "const pay = await farm.balance(pays.map((p) => p.api), { policy: \"random\" });",
    "const stock = await farm.balance(stocks.map((s) => s.api));",
    "const orders = await farm.replicate(11, OrderService, { payments: pay, inventory: stock });",
    "const extra = await farm.vm(OrderService, { payments: pays[0].api, inventory: stocks[2].api });",
    "const left = await farm.balance(orders.slice(0, 4).map((o) => o.api));",
    "const right = await farm.balance(orders.slice(4).map((o) => o.api));",
    "const either = await farm.failover(left, right);",
    "const webs = await farm.replicate(3, WebFrontend, { orders: either });",
    "const lone = await farm.vm(WebFrontend, { orders: extra.api });",
    "farm.heal(orders);",
    "await farm.route({ \"/shop\": webs[0].site, \"/api/orders\": either, \"/pay\": pays[1].api, \"/lone\": lone.site });",
  ]);
  try {
    const g = await plan(script);
    assert.ok(g.nodes.length >= 28, `${g.nodes.length} nodes`);
    const { svg, boxes } = layoutSvg(g);
    checkXml(svg);
    assertNoOverlap(nodeRects(svg));
    assert.is(boxes.size, g.nodes.length);
    for (const n of g.nodes) assert.ok(svg.includes(`>${n.label}</text>`), n.label);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("runGraph prints the SVG to stdout and writes nothing beside the script; --out writes it; --mermaid prints Mermaid", async () => {
  const { dir, script } = tempScript("farm.ts", [
    "const pay = await farm.vm(PaymentService, {});",
    "const stock = await farm.vm(InventoryService, {});",
    "const orders = await farm.vm(OrderService, { payments: pay.api, inventory: stock.api });",
    "return { orders: orders.api };",
  ]);
  try {
    let out = "";
    let err = "";
    const plain = await graphScript(script, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
    assert.is(plain.code, 0, err);
    assert.is(plain.svgPath, null);
    assert.equal(readdirSync(dir).sort(), ["farm.ts", "package.json"], "nothing written into the script's folder");
    checkXml(out);
    assert.match(out, /^<svg /);
    assert.match(err, /nothing was created/);
    // The entry point is what the script returns, marked with an arrow from "clients".
    assert.match(out, /<g class="entry" data-id="orders-1">/);
    assert.match(out, /class="node node-vm entry-point" data-id="orders-1"/);
    assert.not.match(out, /class="node[^"]*entry-point" data-id="payments-1"/);

    out = "";
    const target = path.join(dir, "out/drawing.svg");
    const code = await runGraph(script, { out: target, mermaid: true, stdout: (t) => (out += t), stderr: () => {} });
    assert.is(code, 0);
    checkXml(readFileSync(target, "utf8"));
    assert.match(out, /^flowchart LR\n/);
    assert.ok(out.includes('n_orders_1 -->|"payments (payments@1)"| n_payments_1'));
    assert.match(out, /n_clients\(\("clients"\)\)\n  n_clients ==> n_orders_1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the legend shows what the drawing uses: no failover styles without a failover; healed is not the primary's colour", async () => {
  const g = await plan(example);
  const svg = layoutSvg(withEntries(g, ["web-1"])).svg;
  const legend = svg.slice(svg.indexOf('<g class="legend">'));
  assert.match(legend, />import</);
  assert.match(legend, />backend</);
  assert.not.match(legend, /primary|backup/);
  assert.match(legend, />healed \(kept alive\)</);
  assert.match(legend, />entry point</);
  const healedStroke = /class="node node-vm healed" data-id="payments-1">\n    <rect class="node-box"[^>]* stroke="(#[0-9a-f]+)"/.exec(svg)?.[1];
  assert.ok(healedStroke !== undefined, "a healed VM's border");
  const { dir, script } = tempScript("failover.ts", [
    "const a = await farm.vm(PaymentService, {});",
    "const b = await farm.vm(PaymentService, {});",
    "await farm.failover(a.api, b.api);",
  ]);
  try {
    const f = await plan(script);
    const withFailover = layoutSvg(f).svg;
    const primaryStroke = /class="edge edge-primary"[^>]* stroke="(#[0-9a-f]+)"/.exec(withFailover)?.[1];
    assert.ok(primaryStroke !== undefined);
    assert.is.not(primaryStroke, healedStroke);
    assert.match(withFailover.slice(withFailover.indexOf('<g class="legend">')), /failover primary[\s\S]*failover backup/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("runGraph refuses a script that check refuses, with check's one-line mistakes and tsc's detail, and draws nothing", async () => {
  const { dir, script } = tempScript("miswired.ts", [
    "const pay = await farm.vm(PaymentService, {});",
    "const stock = await farm.vm(InventoryService, {});",
    "await farm.vm(OrderService, { payments: stock.api, inventory: pay.api });",
  ]);
  try {
    let out = "";
    let err = "";
    const code = await runGraph(script, { mermaid: true, stdout: (t) => (out += t), stderr: (t) => (err += t) });
    assert.is(code, 1);
    assert.match(err, /miswired\.ts:6:\d+ orders: import payments wants payments@1, got inventory@1$/m);
    assert.match(err, /^farmhand graph: \d+ mistakes? in .*miswired\.ts; nothing was drawn$/m);
    assert.match(err, /error TS2322/);
    assert.is(out, "");
    assert.not.ok(existsSync(path.join(dir, "miswired.svg")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
