// The farm's live dashboard in a real browser (headless Chromium): `farmhand up` prints its link
// first; the page shows the farm (every VM's node in the topology, healthy, with its address; the
// balancer's pool with its backends; the chart) and updates itself without reloading: a VM killed
// turns red, then green again once healed, and the events list says so. A screenshot goes to
// test/artifacts/ (kept out of git). Without the token the dashboard shows nothing.

import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import type { Browser } from "playwright-core";
import { localDriver } from "../control/drivers/local/index.ts";
import { localStateDir } from "../control/state/home.ts";
import { launchChromium } from "./helpers/browser.ts";
import { EXAMPLE, ROOT, Running, farmhand, idsOf, newHome } from "./helpers/farm-cli.ts";
import { waitFor } from "./helpers/proxy.ts";

// What the functions handed to page.evaluate and waitForFunction see: they run in the browser.
declare const document: any, window: any, MutationObserver: any;

const FARM = "dash";
const ARTIFACTS = path.join(ROOT, "test/artifacts");

let home = "";
let up: Running | null = null;
let browser: Browser | null = null;

test.before(async () => {
  home = newHome();
  browser = await launchChromium();
});

test.after(async () => {
  await browser?.close();
  await up?.stop();
  if (home !== "") {
    farmhand(home, ["down", "--farm", FARM]);
    rmSync(home, { recursive: true, force: true });
  }
});

test("up prints the dashboard's link first; the page shows the farm live, and a killed VM turns red, then green again", async () => {
  up = new Running(home, ["up", EXAMPLE, "--farm", FARM]);
  await up.until(/reconciling \(healing/);
  const first = up.stdout.split("\n")[0];
  const link = /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64})$/.exec(first)?.[1];
  assert.ok(link !== undefined, `the first line is the dashboard's link: ${JSON.stringify(first)}`);
  const origin = new URL(link).origin;
  const vms = Object.keys(await idsOf(home, FARM)).sort();
  const front = /^orders: (http:\/\/\S+)/m.exec(up.stdout)?.[1];
  assert.ok(front !== undefined, up.stdout);

  // The token, never the page, is what opens it.
  for (const [headers, status] of [[{}, 401], [{ authorization: "Bearer nope" }, 401], [{ host: "evil.example:80" }, 421]] as const) {
    const r = await request(`${origin}/api/view`, { headers });
    await r.body.dump();
    assert.is(r.statusCode, status, JSON.stringify(headers));
  }

  const page = await browser!.newPage({ viewport: { width: 1400, height: 1200 } });
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(e.message));
  await page.goto(link);
  assert.is(page.url(), `${origin}/`, "the token leaves the address bar");
  await page.waitForSelector("#connection[data-state='live']");

  // Every VM of the farm is a node of the topology, healthy, showing its address.
  await page.waitForFunction((n) => document.querySelectorAll("g.node[data-health='healthy']").length === n, vms.length, { timeout: 30_000 });
  const nodes = await page.$$eval("g.node", (gs: any[]) => gs.map((g: any) => ({ id: g.getAttribute("data-id"), live: g.querySelector("text.node-live")?.textContent ?? "" })));
  assert.equal(nodes.map((n) => n.id).sort(), vms);
  for (const n of nodes) assert.match(n.live, /^127\.0\.\d+\.\d+:\d+ · healthy$/, `${n.id}: ${n.live}`);
  assert.is(await page.locator("g.entry[data-id='web-1']").count(), 1, "the entry point (what the script returns) is marked");

  // Traffic through the balancer shows up in its pool, per backend, and in the chart.
  const stop = Date.now() + 4_000;
  while (Date.now() < stop) {
    const r = await request(`${front}/orders`);
    await r.body.dump();
  }
  await page.waitForFunction(() => [...document.querySelectorAll("table.pool tbody tr td:nth-child(6)")].some((td: any) => Number(td.textContent) > 0), undefined, { timeout: 20_000 });
  const backends = await page.$$eval("div.balancer[data-balancer='orders-balancer-1'] table.pool tbody tr", (rows: any[]) => rows.map((r: any) => r.getAttribute("data-backend")));
  assert.ok(backends.length >= 2, `the pool's backends: ${backends.join(", ")}`);
  await page.waitForSelector(".chart[data-pool='orders-balancer-1/main'] svg path.rps");
  await page.waitForSelector(".chart[data-pool='orders-balancer-1/main'] svg path.members");

  // Kill a VM: its node turns red (a record of every change proves it, however briefly it lasted),
  // then green again once the controller has healed it; the events list says both.
  const victim = "orders-1";
  await page.evaluate((id) => {
    const node = [...document.querySelectorAll("g.node")].find((g: any) => g.getAttribute("data-id") === id)!;
    const seen: string[] = [];
    window.seen = seen;
    // The topology is drawn again when it changes: watch the whole drawing, note this VM's colour.
    new MutationObserver(() => {
      const now = [...document.querySelectorAll("g.node")].find((g: any) => g.getAttribute("data-id") === id)?.getAttribute("data-health");
      if (now && seen[seen.length - 1] !== now) seen.push(now);
    }).observe(document.getElementById("graph")!, { subtree: true, attributes: true, childList: true });
    seen.push(node.getAttribute("data-health") ?? "");
  }, victim);
  const driver = localDriver({ stateDir: localStateDir(home) });
  const [record] = await driver.list({ farm: FARM, vm: victim });
  driver.signal(record.id, "SIGKILL");
  await driver.close();
  await page.waitForFunction(() => (window.seen as string[]).some((h: string) => h === "failed" || h === "unhealthy"), undefined, { timeout: 30_000 });
  await page.waitForFunction(
    (id) => {
      const seen = (window.seen as string[]);
      const red = seen.findIndex((h: string) => h === "failed" || h === "unhealthy");
      return red >= 0 && seen.slice(red).includes("healthy") &&
        [...document.querySelectorAll("g.node")].find((g: any) => g.getAttribute("data-id") === id)?.getAttribute("data-health") === "healthy";
    },
    victim,
    { timeout: 60_000 },
  );
  await page.waitForSelector(`#events li[data-type='vm-failed'][data-vm='${victim}']`);
  await page.waitForSelector(`#events li[data-type='vm-healed'][data-vm='${victim}']`);
  const healedText = await page.textContent(`#events li[data-type='vm-healed'][data-vm='${victim}']`);
  assert.match(healedText ?? "", new RegExp(`healed ${victim} \\((restarted|replaced)\\), serving at 127\\.0\\.\\d+\\.\\d+:\\d+`));

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, "dashboard.png"), fullPage: true });
  assert.equal(problems, [], "no script errors on the page");

  // The controller's metrics, for Prometheus, with the same token as a bearer token.
  const token = new URL(link).searchParams.get("token")!;
  const metrics = await request(`${origin}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await metrics.body.text();
  assert.is(metrics.statusCode, 200);
  assert.match(text, /farmhand_controller_vms\{health="healthy",farm="dash"\} \d+/);
  assert.match(text, /farmhand_controller_heals_total\{how="(restarted|replaced)",farm="dash"\} 1/);
  assert.match(text, /farmhand_controller_pool_members\{balancer="orders-balancer-1",pool="main",farm="dash"\} \d+/);

  // The page goes when the controller does.
  assert.is(await up.stop(), 0);
  assert.ok(await waitFor(() => request(`${origin}/healthz`).then((r) => (r.body.dump(), false), () => true), 10_000, 100), "the dashboard stopped with its controller");
});

test.run();
