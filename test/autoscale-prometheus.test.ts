// Autoscaling with a real Prometheus server (the Debian package, installed when missing, run on
// loopback by the farm itself) scraping real farm balancers on the local driver: a load spike adds
// replicas that serve; when it is gone they are drained and removed after the window with no failed
// request; with Prometheus killed, the farm holds and says why.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { localDriver } from "../control/drivers/local/index.ts";
import type { FarmEvent } from "../control/farm/farm.ts";
import { openFarm } from "../control/farm/open-farm.ts";
import { chooseDemandSource } from "../control/metrics/choose.ts";
import { memorySecrets } from "../control/state/secrets.ts";
import { freePorts } from "../bench/lib/net.ts";
import { autocannon } from "../bench/scale/trace-load.ts";
import { requireDebianPackage } from "./helpers/debian.ts";
import { EchoService } from "./helpers/echo.ts";
import { waitFor } from "./helpers/proxy.ts";

test("with a real Prometheus: a spike grows the group, quiet shrinks it with no failed request, and Prometheus down holds it", async () => {
  requireDebianPackage("prometheus");
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-autoscale-"));
  const driver = localDriver({ stateDir: path.join(dir, "local"), stopGraceMs: 1000 });
  const secrets = memorySecrets("scale");
  const demand = await chooseDemandSource("scale", dir, driver, secrets, { env: {} });
  assert.ok(demand.prometheus !== null, "the farm runs its own Prometheus when the package is installed");
  const farm = await openFarm(driver, { name: "scale", secrets, metrics: demand.source });
  const events: FarmEvent[] = [];
  farm.on((e) => events.push(e));
  try {
    const replicas = await farm.replicate(2, EchoService, {});
    const front = await farm.balance(replicas.map((r) => r.api));
    await demand.refreshTargets();
    const scaler = farm.autoscale(replicas, {
      demand: { metric: { kind: "request-rate" }, target: 50 }, min: 2, max: 5, stabilization: { upMs: 0, downMs: 8_000 },
    });
    const active = async () => (await farm.status()).balancers[0].backends.filter((b) => b.lifecycle === "active" && b.routable).length;
    assert.ok(await waitFor(() => events.some((e) => e.type === "autoscale" && e.errors.length === 0), 20_000), "Prometheus has the balancer's metrics");

    // The spike.
    const spike = await autocannon(`${front.url}/echo`, 8, 8);
    assert.is(spike.failed, 0);
    assert.ok(scaler.replicas > 2, `grew (${scaler.replicas})`);
    assert.ok(await waitFor(async () => (await active()) === scaler.replicas, 20_000), "every new replica serves in the pool");
    const grown = scaler.replicas;

    // Quiet: a trickle while the group shrinks back; nothing fails while replicas drain and go.
    const quiet = await autocannon(`${front.url}/echo`, 25, 2, 10);
    assert.is(quiet.failed, 0, "no request failed during scale-in");
    assert.is(scaler.replicas, 2, `shrank from ${grown}`);
    assert.is((await driver.list({ farm: "scale", role: "echo-service" })).length, 2, "retired replicas destroyed");

    // Prometheus dies: decisions hold the group, and say why.
    await demand.prometheus!.close();
    const before = events.length;
    assert.ok(await waitFor(() => events.slice(before).some((e) => e.type === "autoscale" && e.rule === "metric-failure"), 10_000));
    const held = events.slice(before).filter((e) => e.type === "autoscale") as Extract<FarmEvent, { type: "autoscale" }>[];
    assert.ok(held.every((e) => e.to >= e.from), "never shrinks without data");
    assert.match(held.at(-1)!.errors[0], /unreachable/);
  } finally {
    farm.close();
    await farm.teardown();
    await demand.close();
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a Prometheus the user runs (FARMHAND_PROMETHEUS_URL): the farm writes its targets and token files, and reads demand through it", async () => {
  requireDebianPackage("prometheus");
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-autoscale-external-"));
  const driver = localDriver({ stateDir: path.join(dir, "local"), stopGraceMs: 1000 });
  const secrets = memorySecrets("ext");
  const [port] = await freePorts(1);
  const demand = await chooseDemandSource("ext", dir, driver, secrets, { env: { FARMHAND_PROMETHEUS_URL: `http://127.0.0.1:${port}` } });
  assert.is(demand.prometheus, null, "the user's server, not one of the farm's");
  const tokenFile = path.join(dir, "prometheus-metrics.token");
  assert.is(readFileSync(tokenFile, "utf8"), secrets.metricsToken());
  assert.is(statSync(tokenFile).mode & 0o777, 0o600);
  // The user's configuration: the documented job, nothing else about the farm.
  const config = path.join(dir, "prometheus.yml");
  writeFileSync(config, [
    "scrape_configs:",
    "  - job_name: farmhand",
    "    scrape_interval: 1s",
    "    scrape_timeout: 1s",
    "    authorization:",
    `      credentials_file: ${tokenFile}`,
    "    file_sd_configs:",
    `      - files: [${demand.targetsFile}]`,
    "        refresh_interval: 1s",
    "",
  ].join("\n"));
  const prometheus = spawn("/usr/bin/prometheus", [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], { stdio: "ignore" });
  const farm = await openFarm(driver, { name: "ext", secrets, metrics: demand.source });
  const events: FarmEvent[] = [];
  farm.on((e) => events.push(e));
  try {
    const replicas = await farm.replicate(2, EchoService, {});
    const front = await farm.balance(replicas.map((r) => r.api));
    await demand.refreshTargets();
    const scaler = farm.autoscale(replicas, { demand: { metric: { kind: "request-rate" }, target: 50 }, min: 2, max: 3 });
    const targets = JSON.parse(readFileSync(demand.targetsFile!, "utf8")) as { targets: string[]; labels: Record<string, string> }[];
    const byVm = (a: Record<string, string>, b: Record<string, string>) => (a.farmhand_vm ?? "").localeCompare(b.farmhand_vm ?? "");
    assert.equal(targets.map((t) => t.labels).sort(byVm), [
      { farmhand_farm: "ext", farmhand_balancer: scaler.group },
      ...replicas.map((r) => ({ farmhand_farm: "ext", farmhand_role: "echo-service", farmhand_vm: r.name })),
    ].sort(byVm), "exactly the farm's balancer and VMs");
    const traffic = autocannon(`${front.url}/echo`, 12, 2, 40);
    assert.ok(
      await waitFor(() => events.some((e) => e.type === "autoscale" && e.errors.length === 0 && (e.demand[0] ?? 0) > 10), 30_000),
      `demand read through the user's Prometheus: ${JSON.stringify(events.filter((e) => e.type === "autoscale").at(-1))}`,
    );
    assert.is((await traffic).failed, 0);
  } finally {
    farm.close();
    await farm.teardown();
    prometheus.kill("SIGTERM");
    await new Promise((resolve) => (prometheus.exitCode !== null ? resolve(null) : prometheus.once("exit", resolve)));
    await demand.close();
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
