// The order-processing example (examples/order-processing) run as four real child processes, wired to
// each other the way the local driver wires VMs (FARMHAND_LISTEN / FARMHAND_VM / FARMHAND_ROLE /
// FARMHAND_IMPORTS), and exercised end to end: web -> orders -> inventory + payments.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { freePorts } from "../bench/lib/net.ts";
import type { AnyRole } from "../control/contracts/index.ts";
import { readManifestSync } from "../control/guest/contract.ts";
import { InventoryService, OrderService, PaymentService, WebFrontend } from "../examples/order-processing/roles.ts";

const HOST = "127.0.0.1";

interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

const children = new Set<Child>();

function spawnVm(role: AnyRole, vm: string, env: Record<string, string>): Child {
  const manifest = readManifestSync(role.image);
  const proc = spawn(process.execPath, [path.join(role.image, manifest.entry)], {
    cwd: role.image,
    env: { PATH: process.env.PATH ?? "", FARMHAND_VM: vm, FARMHAND_ROLE: role.name, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const child: Child = { name: vm, proc, exited, output: () => out };
  children.add(child);
  exited.then(() => children.delete(child));
  return child;
}

async function waitReady(child: Child, url: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let gone = false;
  child.exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${child.name} exited before serving:\n${child.output()}`);
    try {
      const r = await request(`${url}/.well-known/farmhand`);
      await r.body.dump();
      if (r.statusCode === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${child.name} did not serve ${url}/.well-known/farmhand within 15 s:\n${child.output()}`);
}

async function killAll(): Promise<void> {
  const all = [...children];
  for (const c of all) c.proc.kill("SIGKILL");
  await Promise.all(all.map((c) => c.exited));
}
process.on("exit", () => {
  for (const c of children) c.proc.kill("SIGKILL");
});

async function call(method: "GET" | "POST", url: string, body?: unknown, contentType = "application/json") {
  const r = await request(url, {
    method,
    headers: body === undefined ? {} : { "content-type": contentType },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.body.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.statusCode, headers: r.headers, text, json };
}

// The four services, wired web -> orders -> { payments, inventory }.
const ROLES = { payments: PaymentService, inventory: InventoryService, orders: OrderService, web: WebFrontend } as const;
type Name = keyof typeof ROLES;
const url = {} as Record<Name, string>;
const vms = {} as Record<Name, Child>;

test.before(async () => {
  const names = Object.keys(ROLES) as Name[];
  const ports = await freePorts(names.length);
  names.forEach((name, i) => (url[name] = `http://${HOST}:${ports[i]}`));
  const imports: Record<Name, Record<string, string>> = {
    payments: {},
    inventory: {},
    orders: { payments: url.payments, inventory: url.inventory },
    web: { orders: url.orders },
  };
  for (const name of Object.keys(ROLES) as Name[]) {
    vms[name] = spawnVm(ROLES[name], `${name}-1`, {
      FARMHAND_LISTEN: url[name].slice("http://".length),
      FARMHAND_IMPORTS: JSON.stringify(imports[name]),
    });
  }
  await Promise.all((Object.keys(ROLES) as Name[]).map((name) => waitReady(vms[name], url[name])));
});

test.after(killAll);

test("each farmhand.json matches its role, and /.well-known/farmhand says what the manifest says", async () => {
  for (const name of Object.keys(ROLES) as Name[]) {
    const role = ROLES[name];
    const manifest = readManifestSync(role.image, { requireContracts: true });
    const ids = (cs: Record<string, { id: string }>) => Object.fromEntries(Object.entries(cs).map(([k, c]) => [k, c.id]));
    assert.is(manifest.name, role.name);
    assert.ok(existsSync(path.join(role.image, manifest.entry)), `${name}: entry ${manifest.entry} exists`);
    assert.equal(manifest.provides, ids(role.provides), `${name}: manifest provides`);
    assert.equal(manifest.requires, ids(role.requires), `${name}: manifest requires`);

    const r = await call("GET", `${url[name]}/.well-known/farmhand`);
    assert.is(r.status, 200);
    assert.equal(r.json, { vm: `${name}-1`, role: role.name, provides: manifest.provides });
    const h = await call("GET", `${url[name]}/healthz`);
    assert.is(h.status, 200);
  }
});

test("the web page is HTML", async () => {
  const r = await call("GET", `${url.web}/`);
  assert.is(r.status, 200);
  assert.match(String(r.headers["content-type"]), /^text\/html/);
  assert.match(r.text, /<form method="post" action="\/checkout"/);
});

test("checkout through web -> orders -> inventory + payments succeeds and takes the stock", async () => {
  const before = await call("GET", `${url.inventory}/inventory/widget`);
  assert.is(before.status, 200);
  assert.equal(before.json, { item: "widget", remaining: 100 });

  const r = await call("POST", `${url.web}/checkout`, { item: "widget", quantity: 3 });
  assert.is(r.status, 200, r.text);
  assert.is(r.json.ok, true);
  assert.is(r.json.status, "confirmed");
  assert.is(r.json.total, 750); // 3 x 250 cents
  assert.is(r.json.servedBy, "orders-1");
  assert.is(r.headers["x-served-by"], "web-1");

  const after = await call("GET", `${url.inventory}/inventory/widget`);
  assert.equal(after.json, { item: "widget", remaining: 97 });

  const order = await call("GET", `${url.orders}/orders/${encodeURIComponent(r.json.orderId)}`);
  assert.is(order.status, 200);
  assert.is(order.headers["x-served-by"], "orders-1");
  assert.is(order.json.status, "confirmed");
  assert.is(order.json.quantity, 3);
  assert.match(order.json.paymentId, /^payments-1-pay-/);

  // A browser's form post works too (quantity arrives as a string and is converted).
  const form = await call("POST", `${url.web}/checkout`, "item=gadget&quantity=2", "application/x-www-form-urlencoded");
  assert.is(form.status, 200, form.text);
  assert.is(form.json.total, 2598);
  assert.equal((await call("GET", `${url.inventory}/inventory/gadget`)).json, { item: "gadget", remaining: 23 });

  const list = await call("GET", `${url.orders}/orders`);
  assert.is(list.json.orders.length, 2);
});

test("an invalid request body is a 400 naming the field", async () => {
  const zero = await call("POST", `${url.orders}/orders`, { item: "widget", quantity: 0 });
  assert.is(zero.status, 400);
  assert.match(zero.json.error, /quantity must be >= 1/);
  assert.equal(zero.json.fields, [{ path: "/quantity", message: "must be >= 1" }]);

  const missing = await call("POST", `${url.web}/checkout`, { item: "widget" });
  assert.is(missing.status, 400);
  assert.match(missing.json.error, /quantity is required/);

  const extra = await call("POST", `${url.payments}/payments/charge`, { orderId: "x", amount: 1, currency: "EUR" });
  assert.is(extra.status, 400);
  assert.match(extra.json.error, /currency is not allowed/);

  const notJson = await call("POST", `${url.inventory}/inventory/reserve`, "{nope");
  assert.is(notJson.status, 400);
  assert.match(notJson.json.error, /not JSON/);

  // Nothing was taken from the stock by the refused requests.
  assert.equal((await call("GET", `${url.inventory}/inventory/widget`)).json, { item: "widget", remaining: 97 });
});

test("a declined payment is a clear failure, and the reservation is put back", async () => {
  const r = await call("POST", `${url.web}/checkout`, { item: "gizmo", quantity: 3 }); // 3 x 4999 = 14997 cents, over the limit
  assert.is(r.status, 402, r.text);
  assert.is(r.json.ok, false);
  assert.match(r.json.error, /payment declined for order orders-1-\d+: amount of 14997 cents is not under the limit of 10000 cents/);
  assert.equal((await call("GET", `${url.inventory}/inventory/gizmo`)).json, { item: "gizmo", remaining: 10 });

  const orderId = /order (orders-1-\d+)/.exec(r.json.error)![1];
  const order = await call("GET", `${url.orders}/orders/${orderId}`);
  assert.is(order.json.status, "declined");
});

test("out of stock and unknown items are clear failures too", async () => {
  const out = await call("POST", `${url.web}/checkout`, { item: "doohickey", quantity: 4 });
  assert.is(out.status, 409, out.text);
  assert.match(out.json.error, /out of stock: 4 doohickey wanted, 3 left/);
  const unknown = await call("POST", `${url.web}/checkout`, { item: "sprocket", quantity: 1 });
  assert.is(unknown.status, 404, unknown.text);
  assert.match(unknown.json.error, /unknown item "sprocket"/);
});

test("a missing FARMHAND_IMPORTS entry stops the service with a message naming the import", async () => {
  const [ordersPort, webPort] = await freePorts(2);
  const orders = spawnVm(OrderService, "orders-broken", {
    FARMHAND_LISTEN: `${HOST}:${ordersPort}`,
    FARMHAND_IMPORTS: JSON.stringify({ payments: url.payments }),
  });
  const web = spawnVm(WebFrontend, "web-broken", { FARMHAND_LISTEN: `${HOST}:${webPort}` });
  const noListen = spawnVm(PaymentService, "payments-broken", {});
  try {
    const o = await orders.exited;
    assert.is.not(o.code, 0);
    assert.ok(o.code !== null, "exited by itself");
    assert.match(orders.output(), /FARMHAND_IMPORTS has no entry for import "inventory" \(inventory@1\)/);
    const w = await web.exited;
    assert.is.not(w.code, 0);
    assert.match(web.output(), /FARMHAND_IMPORTS is not set; role web requires import "orders" \(orders@1\)/);
    const p = await noListen.exited;
    assert.is.not(p.code, 0);
    assert.match(noListen.output(), /FARMHAND_LISTEN is not set/);
  } finally {
    for (const c of [orders, web, noListen]) c.proc.kill("SIGKILL");
  }
});

/** Waits for `pattern` in the child's output (its log), which may arrive after its answer did. */
async function logged(child: Child, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (!pattern.test(child.output())) {
    if (Date.now() >= deadline) throw new Error(`${child.name} never logged ${pattern}; its output:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return child.output();
}

/** Something that looks like an internal detail: an address, a port, a socket error, a stack frame. */
const INTERNAL = /\d+\.\d+\.\d+\.\d+|:\d{2,5}\b|ECONN|ENOTFOUND|http:\/\/|\bat \S+ \(|inventory@1|orders@1/;

test("a failed import reaches callers as '<import> unavailable'; addresses and causes go only to the log", async () => {
  const [deadPort, ordersPort, webPort, oddPort, oddWebPort] = await freePorts(5);
  const dead = `http://${HOST}:${deadPort}`; // nothing listens there
  // A stand-in for whatever may sit between web and orders, answering refusals not in the kit's shape.
  const odd = http.createServer((req, res) => {
    req.resume();
    if (req.url === "/orders") res.writeHead(404, { "content-type": "text/plain" }).end(`no route to 10.9.8.7:8080 via ${HOST}:${oddPort}`);
    else res.writeHead(500).end();
  });
  await new Promise<void>((r) => odd.listen(oddPort, HOST, () => r()));
  const orders = spawnVm(OrderService, "orders-2", {
    FARMHAND_LISTEN: `${HOST}:${ordersPort}`,
    FARMHAND_IMPORTS: JSON.stringify({ payments: url.payments, inventory: dead }),
  });
  const web = spawnVm(WebFrontend, "web-2", { FARMHAND_LISTEN: `${HOST}:${webPort}`, FARMHAND_IMPORTS: JSON.stringify({ orders: `http://${HOST}:${ordersPort}` }) });
  const oddWeb = spawnVm(WebFrontend, "web-3", { FARMHAND_LISTEN: `${HOST}:${oddWebPort}`, FARMHAND_IMPORTS: JSON.stringify({ orders: `http://${HOST}:${oddPort}` }) });
  try {
    await Promise.all([waitReady(orders, `http://${HOST}:${ordersPort}`), waitReady(web, `http://${HOST}:${webPort}`), waitReady(oddWeb, `http://${HOST}:${oddWebPort}`)]);

    const direct = await call("POST", `http://${HOST}:${ordersPort}/orders`, { item: "widget", quantity: 1 });
    assert.is(direct.status, 502, direct.text);
    assert.equal(direct.json, { error: "inventory unavailable" });
    assert.not.match(direct.text, INTERNAL);
    assert.match(await logged(orders, /dependency failed/), new RegExp(`dependency failed: inventory \\(inventory@1\\) reserve: POST ${dead}/inventory/reserve: .*ECONNREFUSED`));

    // Through web: orders' 502 is not passed on either, not even as orders' own words.
    const shop = await call("POST", `http://${HOST}:${webPort}/checkout`, { item: "widget", quantity: 1 });
    assert.is(shop.status, 502, shop.text);
    assert.equal(shop.json, { error: "orders unavailable" });
    assert.not.match(shop.text, INTERNAL);
    assert.match(await logged(web, /dependency failed/), new RegExp(`orders \\(orders@1\\) place: POST http://${HOST}:${ordersPort}/orders answered 502`));

    // A refusal web would pass on (404), but not in the kit's error shape: its text stays in the log.
    const refused = await call("POST", `http://${HOST}:${oddWebPort}/checkout`, { item: "widget", quantity: 1 });
    assert.is(refused.status, 502, refused.text);
    assert.equal(refused.json, { error: "orders unavailable" });
    assert.not.match(refused.text, INTERNAL);
    assert.match(await logged(oddWeb, /dependency failed/), /answered 404: no route to 10\.9\.8\.7:8080/);
  } finally {
    for (const c of [orders, web, oddWeb]) c.proc.kill("SIGKILL");
    await Promise.all([orders, web, oddWeb].map((c) => c.exited));
    await new Promise<void>((r) => odd.close(() => r()));
  }
});

test("SIGTERM stops every service gracefully (exit 0)", async () => {
  for (const name of Object.keys(ROLES) as Name[]) {
    vms[name].proc.kill("SIGTERM");
    const { code, signal } = await vms[name].exited;
    assert.is(signal, null, `${name} output:\n${vms[name].output()}`);
    assert.is(code, 0, `${name} output:\n${vms[name].output()}`);
  }
});

test.run();
