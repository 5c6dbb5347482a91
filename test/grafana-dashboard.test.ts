// docs/grafana/farmhand-dashboard.json loads as it is: a Grafana dashboard whose panels all use the
// dashboard's Prometheus data source variable (so it imports or provisions without editing), whose
// variables exist, and whose every query names only metrics that a real balancer's /metrics and a
// real controller's /metrics expose.

import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { ControllerMetrics } from "../control/dashboard/metrics.ts";
import { startBalancer } from "../native-free-core/index.ts";
import { freePorts } from "../bench/lib/net.ts";
import { ROOT } from "./helpers/farm-cli.ts";
import { startBackend } from "./helpers/backends.ts";

const FILE = path.join(ROOT, "docs/grafana/farmhand-dashboard.json");

interface Panel {
  readonly type: string;
  readonly title: string;
  readonly id: number;
  readonly datasource?: { type: string; uid: string };
  readonly targets?: readonly { expr: string; datasource: { uid: string } }[];
  readonly gridPos: { h: number; w: number; x: number; y: number };
}

const dashboard = JSON.parse(readFileSync(FILE, "utf8")) as {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
};

/** The metric families a scrape declares (# TYPE lines). */
function families(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
}

test("it is a Grafana dashboard whose every panel and variable uses the data source variable", () => {
  assert.is(dashboard.uid, "farmhand-overview");
  assert.ok(dashboard.schemaVersion >= 36);
  const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  assert.is(variables.get("datasource")?.type, "datasource");
  assert.is((variables.get("datasource") as { query?: unknown }).query, "prometheus");
  const ids = new Set<number>();
  for (const p of dashboard.panels) {
    assert.not.ok(ids.has(p.id), `panel ids are unique (${p.id})`);
    ids.add(p.id);
    assert.ok(p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, p.title);
    if (p.type === "row") continue;
    assert.is(p.datasource?.uid, "${datasource}", p.title);
    for (const t of p.targets ?? []) {
      assert.is(t.datasource.uid, "${datasource}", p.title);
      for (const v of t.expr.matchAll(/\$(\w+)/g)) assert.ok(variables.has(v[1]) || v[1].startsWith("__"), `${p.title}: $${v[1]}`);
      let depth = 0;
      for (const c of t.expr) depth += c === "(" ? 1 : c === ")" ? -1 : 0;
      assert.is(depth, 0, `${p.title}: ${t.expr}`);
    }
  }
  assert.ok(dashboard.panels.filter((p) => p.type !== "row").length >= 10);
});

test("every metric its queries name is one a balancer or a controller exposes", async () => {
  const backend = await startBackend("b1");
  const [listen, admin] = await freePorts(2);
  const token = "grafana-test-token-0123456789";
  const balancer = await startBalancer({
    workers: 1,
    listeners: [{ name: "web", protocol: "http", address: "127.0.0.1", port: listen, pool: "main" }],
    pools: [{ name: "main", backends: [`127.0.0.1:${backend.port}`] }],
    admin: { address: "127.0.0.1", port: admin, token },
  });
  let exposed: Set<string>;
  try {
    // One request, so that every per-backend series exists.
    await (await request(`http://127.0.0.1:${listen}/`)).body.dump();
    const scrape = await request(`http://127.0.0.1:${admin}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    exposed = families(await scrape.body.text());
  } finally {
    await balancer.shutdown(1000);
    await backend.close();
  }
  for (const name of families((await new ControllerMetrics("test", Date.now()).text()).body)) exposed.add(name);

  const used = new Set<string>();
  for (const p of dashboard.panels) for (const t of p.targets ?? []) for (const m of t.expr.matchAll(/\b(farmhand_[a-z_]+)/g)) used.add(m[1]);
  for (const v of dashboard.templating.list) for (const m of JSON.stringify(v.query ?? "").matchAll(/\b(farmhand_[a-z_]+)/g)) used.add(m[1]);
  assert.ok(used.size >= 15, [...used].join(", "));
  for (const name of used) {
    const family = name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(exposed.has(family) || exposed.has(name), `${name} is exposed (families: ${[...exposed].sort().join(", ")})`);
  }
});

test.run();
