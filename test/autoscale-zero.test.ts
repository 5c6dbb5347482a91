// Scale to zero and from zero on the local driver, end to end: a group with min 0 gives up its last
// replica when idle; the next request is held by the farm balancer (nothing fails), counts as demand
// (in flight), brings a replica back, and is served by it.

import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { localDriver } from "../control/drivers/local/index.ts";
import type { FarmEvent } from "../control/farm/farm.ts";
import { openFarm } from "../control/farm/open-farm.ts";
import { balancerScrapeSource } from "../control/metrics/balancer-scrape.ts";
import { memorySecrets } from "../control/state/secrets.ts";
import { EchoService } from "./helpers/echo.ts";
import { waitFor } from "./helpers/proxy.ts";

test("min 0: idle, the group goes to zero; a request is held, brings a replica back, and is served by it", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-autoscale-zero-"));
  const driver = localDriver({ stateDir: path.join(dir, "local"), stopGraceMs: 1000 });
  const farm = await openFarm(driver, { name: "zero", secrets: memorySecrets("zero"), metrics: balancerScrapeSource() });
  const events: FarmEvent[] = [];
  farm.on((e) => events.push(e));
  try {
    const replicas = await farm.replicate(1, EchoService, {});
    const front = await farm.balance(replicas.map((r) => r.api));
    const scaler = farm.autoscale(replicas, {
      demand: { metric: { kind: "in-flight" }, target: 4 }, min: 0, max: 2,
      stabilization: { upMs: 0, downMs: 1_000 }, drain: { timeoutMs: 2_000 },
    });
    assert.ok(await waitFor(async () => scaler.replicas === 0 && (await driver.list({ farm: "zero", role: "echo-service" })).length === 0, 30_000),
      `idle, the group went to zero (${scaler.replicas} replicas)`);

    // The request waits in the balancer while the first replica starts.
    const response = await fetch(`${front.url}/echo`, { signal: AbortSignal.timeout(30_000) });
    assert.is(response.status, 200, await response.clone().text());
    const body = await response.json() as { vm: string };
    assert.match(body.vm, /^echo-service-\d+$/);
    assert.is.not(body.vm, replicas[0].name, "served by a replica that came for it, not the one retired");
    assert.ok(events.some((e) => e.type === "autoscale" && e.from === 0 && e.to === 1), "an autoscale event from 0 to 1");
  } finally {
    farm.close();
    await farm.teardown();
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
