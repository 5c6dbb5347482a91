// `npm start -- --tour`: load through the order balancer, kill an order VM in the middle of it and
// show the farm healing it; then a spike that the autoscaler meets by growing the group, and a quiet
// spell in which it shrinks back, draining each retired replica first; and sum up.

import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Driver } from "../../control/drivers/driver.ts";
import type { LocalDriver } from "../../control/drivers/local/index.ts";
import type { FarmEvent } from "../../control/farm/farm.ts";
import type { FarmHandle } from "../../control/farm/open-farm.ts";
import type { ScriptResult } from "../../control/farm/script.ts";
import { renderStatus } from "./farm-common.ts";

/** A farm deployed in this process, on the local driver: what the tour drives load at and kills a VM of. */
export interface TourFarm {
  readonly name: string;
  readonly driver: Driver;
  readonly farm: FarmHandle;
  readonly result: ScriptResult;
  /** Every event so far, and those to come. */
  readonly events: readonly FarmEvent[];
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const AUTOCANNON = path.join(root, "node_modules/autocannon/autocannon.js");

interface LoadFigures {
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly rps: number;
}

export async function runTour(deployed: TourFarm): Promise<number> {
  const orders = deployed.result?.orders;
  if (orders === undefined) {
    process.stderr.write("tour: the farm script must return { orders: <the orders endpoint> }\n");
    return 1;
  }
  const url = `${orders.url}/orders`;
  const replicas = () => {
    const last = [...deployed.events].reverse().find((e) => e.type === "autoscale" && e.group === "orders-balancer-1");
    return last?.type === "autoscale" ? last.to : 2;
  };
  say(`1/5 light load: 3 s of GET ${url} at 40 req/s (autocannon)`);
  const before = await load(url, 3, { connections: 4, rate: 40 });
  say(`    ${before.requests} requests, ${Math.round(before.rps)} req/s, ${before.non2xx} non-2xx, ${before.errors} errors`);

  const victim = (await deployed.farm.status()).vms.find((v) => v.role === "orders" && v.state === "running");
  if (victim === undefined) throw new Error("tour: no running order VM to kill");
  say(`2/5 killing ${victim.name} (SIGKILL) while load runs`);
  const record = (await deployed.driver.list({ farm: deployed.name, vm: victim.name }))[0];
  const during = load(url, 6, { connections: 4, rate: 40 });
  await new Promise((r) => setTimeout(r, 1000));
  const killedAt = Date.now();
  (deployed.driver as LocalDriver).signal(record.id, "SIGKILL");
  const healed = await waitUntil(() => deployed.events.some((e) => e.type === "vm-healed" && e.vm === victim.name), 30_000);
  const recovery = Date.now() - killedAt;
  const duringFigures = await during;
  say(`    ${duringFigures.requests} requests, ${duringFigures.non2xx} non-2xx, ${duringFigures.errors} errors while ${victim.name} died`);
  say(healed ? `    ${victim.name} healed in ${(recovery / 1000).toFixed(1)} s` : `    ${victim.name} was NOT healed within 30 s`);

  // A spike: as much load as 16 connections make. Demand far past what two replicas carry (50 req/s
  // each) is a panic for the autoscaler: the group grows at once, up to its max of 8.
  const from = replicas();
  const seen = deployed.events.length;
  say(`3/5 spike: 8 s of GET ${url} with 16 connections, as fast as they go`);
  const spikeAt = Date.now();
  const spiking = load(url, 8, { connections: 16 });
  const grew = await waitUntil(() => deployed.events.slice(seen).some((e) => e.type === "autoscale" && e.to > e.from), 8_000);
  const decidedIn = Date.now() - spikeAt;
  const serving = await waitUntil(() => deployed.events.slice(seen).some((e) => e.type === "pool-changed" && e.pool === "orders-balancer-1" && e.backends.length > from), 20_000);
  const servingIn = Date.now() - spikeAt;
  const spike = await spiking;
  const peak = replicas();
  say(`    ${spike.requests} requests, ${Math.round(spike.rps)} req/s, ${spike.non2xx} non-2xx, ${spike.errors} errors; ` +
    (grew ? `${from} -> ${peak} replicas, decided ${(decidedIn / 1000).toFixed(1)} s and serving ${(servingIn / 1000).toFixed(1)} s after the spike began` : "the group did NOT grow"));

  // Quiet: a trickle while the group shrinks back, its retired replicas drained before they go.
  say("4/5 quiet: 40 s at 20 req/s while the group shrinks back");
  const quietAt = Date.now();
  const quiet = load(url, 40, { connections: 2, rate: 20 });
  const shrank = await waitUntil(() => replicas() === 2 && deployed.events.some((e) => e.type === "pool-changed" && e.pool === "orders-balancer-1" && e.backends.length === 2), 40_000);
  const shrankIn = Date.now() - quietAt;
  const quietFigures = await quiet;
  say(`    ${quietFigures.requests} requests, ${quietFigures.non2xx} non-2xx, ${quietFigures.errors} errors; ` +
    (shrank ? `${peak} -> 2 replicas in ${(shrankIn / 1000).toFixed(1)} s` : `still ${replicas()} replicas`));

  say("5/5 the farm now");
  process.stdout.write(renderStatus(deployed.name, await deployed.farm.status()));
  const failedQuiet = quietFigures.non2xx + quietFigures.errors;
  const healthy = healed && grew && serving && shrank && failedQuiet === 0 && spike.non2xx + spike.errors === 0;
  process.stdout.write(
    `tour summary: ${victim.name} killed under load; ${healed ? `healed in ${(recovery / 1000).toFixed(1)} s` : "not healed"}; ` +
      `${duringFigures.non2xx + duringFigures.errors} failed of ${duringFigures.requests} requests during the failure; ` +
      `spike: ${from} -> ${peak} replicas, serving in ${grew && serving ? `${(servingIn / 1000).toFixed(1)} s` : "never"}, ` +
      `${spike.non2xx + spike.errors} failed of ${spike.requests}; quiet: back to 2 in ${shrank ? `${(shrankIn / 1000).toFixed(1)} s` : "never"}, ` +
      `${failedQuiet} failed of ${quietFigures.requests} during scale-in\n`,
  );
  return healthy ? 0 : 1;
}

/** autocannon for `seconds`: `connections`, and at most `rate` requests a second in all when given. */
function load(url: string, seconds: number, options: { connections: number; rate?: number }): Promise<LoadFigures> {
  return new Promise((resolve, reject) => {
    const args = [AUTOCANNON, "-c", String(options.connections), "-d", String(seconds), "-j", ...(options.rate === undefined ? [] : ["-R", String(options.rate)]), url];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", () => {});
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out.trim().split("\n").reverse().find((l) => l.startsWith("{"));
      if (line === undefined) return reject(new Error(`autocannon exited ${code} without a report`));
      const j = JSON.parse(line) as { requests: { total: number; average: number }; non2xx: number; errors: number };
      resolve({ requests: j.requests.total, non2xx: j.non2xx, errors: j.errors, rps: j.requests.average });
    });
  });
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
