// The built-in demand source (the balancers' own /metrics, no Prometheus) under a policy with several
// metrics of one kind: latency at two quantiles and two request rates, on real balancer and replica
// VMs of the local driver. Each metric reads, and an idle group shrinks as it should.

import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { localDriver } from "../control/drivers/local/index.ts";
import type { FarmEvent } from "../control/farm/farm.ts";
import { openFarm } from "../control/farm/open-farm.ts";
import { balancerScrapeSource } from "../control/metrics/balancer-scrape.ts";
import { memorySecrets } from "../control/state/secrets.ts";
import { EchoService } from "./helpers/echo.ts";
import { waitFor } from "./helpers/proxy.ts";

type Autoscale = Extract<FarmEvent, { type: "autoscale" }>;

test("two latency quantiles and two request rates of one pool each read every evaluation, and an idle group scales down", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-autoscale-scrape-"));
  const driver = localDriver({ stateDir: path.join(dir, "local"), stopGraceMs: 1000 });
  const farm = await openFarm(driver, { name: "scrape", secrets: memorySecrets("scrape"), metrics: balancerScrapeSource() });
  const decisions: Autoscale[] = [];
  farm.on((e) => e.type === "autoscale" && decisions.push(e));
  try {
    const replicas = await farm.replicate(2, EchoService, {});
    const front = await farm.balance(replicas.map((r) => r.api));
    // Targets far above anything this test's trickle makes: every metric asks for the minimum.
    const scaler = farm.autoscale(replicas, {
      demand: [
        { metric: { kind: "latency", quantile: 0.5 }, target: 5 },
        { metric: { kind: "latency", quantile: 0.99 }, target: 5 },
        { metric: { kind: "request-rate" }, target: 1000 },
        { metric: { kind: "request-rate" }, target: 2000 },
      ],
      min: 1, max: 2, stabilization: { upMs: 0, downMs: 0 }, drain: { timeoutMs: 2_000 },
    });
    const read = (e: Autoscale) => e.errors.length === 0 && e.demand.length === 4 && e.demand.every((d) => d !== null);
    assert.ok(await waitFor(() => decisions.some(read), 20_000),
      `an evaluation read all four metrics; the last said: ${JSON.stringify(decisions.at(-1)?.errors)}`);
    // Past the first scrape, no metric of the four fails again.
    const first = decisions.findIndex(read);
    assert.ok(await waitFor(() => decisions.length >= first + 3, 20_000), "more evaluations");
    assert.equal(decisions.slice(first).flatMap((e) => e.errors), [], "every later evaluation read every metric");
    assert.ok(await waitFor(() => scaler.replicas === 1, 20_000), `the idle group scaled down (${scaler.replicas} replicas)`);

    // With traffic between two scrapes: the quantiles are of the same requests, the rates of the same count.
    const seen = decisions.length;
    const busy = (e: Autoscale) => read(e) && (e.demand[0] ?? 0) > 0 && (e.demand[2] ?? 0) > 0;
    assert.ok(await waitFor(async () => {
      await request(`${front.url}/echo`).then((r) => r.body.text());
      return decisions.slice(seen).some(busy);
    }, 20_000, 20), "an evaluation saw the traffic");
    const d = decisions.slice(seen).find(busy)!.demand as number[];
    assert.ok(d[0] <= d[1], `p50 ${d[0]} s at most p99 ${d[1]} s`);
    assert.is(d[2], d[3], "both request rates read the same requests over the same interval");
  } finally {
    farm.close();
    await farm.teardown();
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
