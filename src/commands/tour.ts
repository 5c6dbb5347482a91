// `npm start -- --tour`: load through the order balancer, kill an order VM in the middle of it, and
// show the farm noticing, taking it out of the pool and replacing it, then load again and sum up.

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
  say(`1/4 load: 3 s of GET ${url} with 16 connections (autocannon)`);
  const before = await load(url, 3);
  say(`    ${before.requests} requests, ${Math.round(before.rps)} req/s, ${before.non2xx} non-2xx, ${before.errors} errors`);

  const victim = (await deployed.farm.status()).vms.find((v) => v.role === "orders" && v.state === "running");
  if (victim === undefined) throw new Error("tour: no running order VM to kill");
  say(`2/4 killing ${victim.name} (SIGKILL) while load runs`);
  const record = (await deployed.driver.list({ farm: deployed.name, vm: victim.name }))[0];
  const during = load(url, 6);
  await new Promise((r) => setTimeout(r, 1000));
  const killedAt = Date.now();
  (deployed.driver as LocalDriver).signal(record.id, "SIGKILL");
  const healed = await waitUntil(() => deployed.events.some((e) => e.type === "vm-healed" && e.vm === victim.name), 30_000);
  const recovery = Date.now() - killedAt;
  const duringFigures = await during;
  say(`    ${duringFigures.requests} requests, ${duringFigures.non2xx} non-2xx, ${duringFigures.errors} errors while ${victim.name} died`);
  say(healed ? `3/4 ${victim.name} healed in ${(recovery / 1000).toFixed(1)} s` : `3/4 ${victim.name} was NOT healed within 30 s`);

  say("4/4 load again: 3 s");
  const after = await load(url, 3);
  say(`    ${after.requests} requests, ${Math.round(after.rps)} req/s, ${after.non2xx} non-2xx, ${after.errors} errors`);
  process.stdout.write(renderStatus(deployed.name, await deployed.farm.status()));
  const healthy = healed && after.non2xx === 0 && after.errors === 0;
  process.stdout.write(
    `tour summary: ${victim.name} killed under load; ${healed ? `healed in ${(recovery / 1000).toFixed(1)} s` : "not healed"}; ` +
      `${duringFigures.non2xx + duringFigures.errors} failed of ${duringFigures.requests} requests during the failure; ` +
      `${after.non2xx + after.errors} failed of ${after.requests} after it\n`,
  );
  return healthy ? 0 : 1;
}

function load(url: string, seconds: number): Promise<LoadFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, "-c", "16", "-d", String(seconds), "-j", url], { stdio: ["ignore", "pipe", "pipe"] });
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
