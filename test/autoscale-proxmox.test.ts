// Autoscaling on emulated Proxmox VE: new replicas are clones of the role's template, retired ones are
// destroyed at the cluster, with a real Prometheus (the farm's own) reading the balancer. A destroy
// the cluster refuses is reported and tried again by the reconciler until the VM is gone.

import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startEmulator } from "../control/drivers/proxmox/emulator/index.ts";
import { proxmoxDriver } from "../control/drivers/proxmox/index.ts";
import type { FarmEvent } from "../control/farm/farm.ts";
import { openFarm } from "../control/farm/open-farm.ts";
import { BALANCER_IMAGE } from "../control/images/balancer/settings.ts";
import { chooseDemandSource } from "../control/metrics/choose.ts";
import { memorySecrets } from "../control/state/secrets.ts";
import { autocannon } from "../bench/scale/trace-load.ts";
import { requireDebianPackage } from "./helpers/debian.ts";
import { ECHO_IMAGE, EchoService } from "./helpers/echo.ts";
import { waitFor } from "./helpers/proxy.ts";

test("on emulated Proxmox: a spike clones new replicas from the template, quiet destroys them again", async () => {
  requireDebianPackage("prometheus");
  const emulator = await startEmulator({
    nodes: ["pve1"],
    templates: { 9000: { name: "tpl-echo", node: "pve1", image: ECHO_IMAGE }, 9001: { name: "tpl-balancer", node: "pve1", image: BALANCER_IMAGE } },
    taskDelayMs: 10, bootDelayMs: 50, addressDelayMs: 20,
  });
  const url = new URL(emulator.url);
  const driver = proxmoxDriver({
    host: url.hostname, port: Number(url.port), schema: "http",
    auth: { tokenId: emulator.token.id, tokenSecret: emulator.token.secret },
    templates: { [ECHO_IMAGE]: 9000, [BALANCER_IMAGE]: 9001 }, taskPollMs: 10, pollIntervalMs: 100,
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-autoscale-pve-"));
  const secrets = memorySecrets("pve-scale");
  const demand = await chooseDemandSource("pve-scale", dir, driver, secrets, { env: {} });
  const farm = await openFarm(driver, { name: "pve-scale", secrets, metrics: demand.source, resyncIntervalMs: 1_000 });
  const events: FarmEvent[] = [];
  farm.on((e) => events.push(e));
  const clones = () => emulator.requests.filter((r) => r.method === "POST" && /\/qemu\/9000\/clone$/.test(r.path)).length;
  const destroys = () => emulator.requests.filter((r) => r.method === "DELETE" && /\/qemu\/\d+$/.test(r.path)).length;
  try {
    const replicas = await farm.replicate(2, EchoService, {});
    const front = await farm.balance(replicas.map((r) => r.api));
    await demand.refreshTargets();
    const scaler = farm.autoscale(replicas, { demand: { metric: { kind: "request-rate" }, target: 50 }, min: 2, max: 4, stabilization: { upMs: 0, downMs: 6_000 } });
    assert.ok(await waitFor(() => events.some((e) => e.type === "autoscale" && e.errors.length === 0), 20_000), "Prometheus reads the balancer");
    assert.is(clones(), 2);
    assert.is((await autocannon(`${front.url}/echo`, 6, 8)).failed, 0);
    assert.ok(await waitFor(() => scaler.replicas === 4, 10_000), `grew to max (${scaler.replicas})`);
    assert.ok(await waitFor(() => clones() === 4, 20_000), "the new replicas are clones of the template");
    // The first retired replica's destroy fails at the cluster (not a lock, which the driver waits out).
    emulator.faults.failTasks.push({ type: "qmdestroy", count: 1, message: "storage 'nfs-1' is not online" });
    assert.is((await autocannon(`${front.url}/echo`, 20, 2, 10)).failed, 0, "no request failed during scale-in");
    assert.ok(await waitFor(() => scaler.replicas === 2, 20_000), `shrank (${scaler.replicas})`);
    assert.ok(await waitFor(async () => (await driver.list({ farm: "pve-scale", role: "echo-service" })).length === 2, 20_000));
    assert.ok(destroys() >= 3, `retired replicas destroyed at the cluster, the refused one again (${destroys()} deletes)`);
    const refused = events.find((e) => e.type === "control-error");
    assert.ok(refused !== undefined && refused.action === "destroy" && /^echo-service-\d+$/.test(refused.subject) && /not online/.test(refused.reason), JSON.stringify(refused));
    assert.ok(events.some((e) => e.type === "vm-stopped" && e.vm === refused.subject), "the refused one is removed at a later pass");
  } finally {
    farm.close();
    await farm.teardown();
    await demand.close();
    await driver.close();
    await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
