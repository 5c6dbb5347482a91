// Transport hints reach a real farm: the example farm on the local driver starts its order balancer
// with the upstream settings the order images declare in their manifests (pipelining, keep-alive), the
// running balancer uses them, and a pool replaced at run time through the admin API keeps them.

import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { adminClient } from "../native-free-core/admin/client.ts";
import { httpUrl } from "../native-free-core/net/address.ts";
import { localDriver } from "../control/drivers/local/index.ts";
import { openFarm } from "../control/farm/open-farm.ts";
import { loadScript } from "../control/farm/script.ts";
import { readManifest } from "../control/guest/manifest.ts";
import { BALANCER_ADMIN_PORT, isBalancerSettings } from "../control/images/balancer/settings.ts";
import { memorySecrets } from "../control/state/secrets.ts";
import { waitFor } from "./helpers/proxy.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const EXAMPLE = path.join(root, "examples/order-processing");
const FARM = "hints";
const BALANCER = "orders-balancer-1";

/**
 * A backend that shows how requests reach it: it counts the requests each connection carries, answers
 * health checks at once, and, while holding, answers nothing else until `hold` requests have come (so
 * a balancer without pipelining needs a connection per request, and one with it can stack them).
 */
async function stackingBackend(hold: number) {
  const perSocket: number[] = [];
  const queues: { socket: net.Socket; pending: { health: boolean }[] }[] = [];
  let holding = false;
  let held = 0;
  const answer = (socket: net.Socket, body: string) =>
    socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const flush = () => {
    for (const q of queues) {
      while (q.pending.length > 0 && (q.pending[0].health || !holding)) {
        q.pending.shift();
        answer(q.socket, "{}");
      }
    }
  };
  const server = net.createServer((socket) => {
    const index = perSocket.push(0) - 1;
    const q = { socket, pending: [] as { health: boolean }[] };
    queues.push(q);
    let buffered = "";
    socket.on("error", () => {});
    socket.on("close", () => queues.splice(queues.indexOf(q), 1));
    socket.setEncoding("latin1").on("data", (chunk: string) => {
      buffered += chunk;
      // GETs only: a request is its head.
      for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const health = head.startsWith("GET /.well-known/farmhand ");
        if (!health) {
          perSocket[index]++;
          if (holding && ++held >= hold) holding = false;
        }
        q.pending.push({ health });
      }
      flush();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** From now on, requests wait until `hold` of them have come; counts start again. */
    holdNext(): void {
      holding = true;
      held = 0;
      perSocket.fill(0);
    },
    /** The most requests one connection has carried since holdNext. */
    mostOnOneConnection: () => Math.max(...perSocket),
    /** The connections that carried requests since holdNext. */
    connectionsUsed: () => perSocket.filter((n) => n > 0).length,
    close: async () => {
      for (const q of queues) q.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test("the example farm's order balancer pipelines to its replicas as their images declare, also after its pool is replaced", async () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "farmhand-hints-"));
  const driver = localDriver({ stateDir, stopGraceMs: 1000 });
  const secrets = memorySecrets(FARM);
  // No periodic pass: it would put back the pool the test replaces by hand.
  const farm = await openFarm(driver, { name: FARM, secrets, resyncIntervalMs: 0 });
  const backend = await stackingBackend(4);
  try {
    await (await loadScript(path.join(EXAMPLE, "farm.ts")))(farm);
    const declared = (await readManifest(path.join(EXAMPLE, "orders"))).transport!;
    assert.ok(declared.pipelining > 1, "the example's order image declares pipelining");

    const [record] = await driver.list({ farm: FARM, vm: BALANCER });
    assert.ok(isBalancerSettings(record.spec.settings), JSON.stringify(record.spec.settings));
    const main = record.spec.settings.pools.find((p) => p.name === "main")!;
    assert.equal(main.upstream, { pipelining: declared.pipelining, idleTimeoutMs: declared.keepAliveTimeoutMs! - 1000 },
      "pipelining at the declared depth, idle connections closed a second before the replicas' keep-alive ends");
    assert.ok(await waitFor(async () => (await driver.output(record.id)).includes(`pipelining to main (${declared.pipelining})`), 10_000),
      `the running balancer says it pipelines:\n${await driver.output(record.id)}`);

    // A pool change at run time (what the reconciler and the autoscaler do) keeps how the pool is spoken to.
    const admin = adminClient(httpUrl({ host: record.address!.host, port: BALANCER_ADMIN_PORT }), { token: secrets.adminToken(BALANCER) });
    await admin.replaceBackends("main", [{ address: "127.0.0.1", port: backend.port }]);
    const front = httpUrl(record.address!);
    const get = async (p: string) => {
      const r = await request(`${front}${p}`);
      await r.body.text();
      return r.statusCode;
    };
    // Until the new backend passes its first check, requests wait for it (an empty pool holds them).
    assert.is(await get("/orders/warm"), 200, "the replaced pool serves");
    // One idle connection is now open to it; four GETs at once either stack on it or need four.
    backend.holdNext();
    assert.equal(await Promise.all(["/orders/a", "/orders/b", "/orders/c", "/orders/d"].map(get)), [200, 200, 200, 200]);
    assert.ok(backend.mostOnOneConnection() > 1, `each of ${backend.connectionsUsed()} connections carried one request: no pipelining after the PUT`);
  } finally {
    await farm.teardown();
    await backend.close();
    await driver.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test.run();
