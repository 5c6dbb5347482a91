// Reloads that cannot be made whole are refused whole: a listener or an admin port that cannot be
// bound, or more backends than the statistics hold, leave the supervisor, every worker and the admin
// API as they were; the next valid reload then applies. Driven as an operator would (the CLI and
// SIGHUP), and from code (Balancer.reload).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFile } from "node:fs/promises";
import net from "node:net";
import { Client, request } from "undici";
import { normalizeConfig, startBalancer } from "../native-free-core/index.ts";
import { startBackend, type TestBackend } from "./helpers/backends.ts";
import { LISTENING, proxyYaml, tryConnect, withCli, type Cli, type Ports } from "./helpers/cli.ts";
import { EVERY_WORKER, freshConnections, freshTcpConnections } from "./helpers/every-worker.ts";
import { waitFor } from "./helpers/proxy.ts";

const TOKEN = "proxy-reload-test-token-0123456789";

interface PoolJson {
  name: string;
  backends: { id: string; lifecycle: string }[];
}

async function pools(adminPort: number, token = TOKEN): Promise<PoolJson[]> {
  const r = await request(`http://127.0.0.1:${adminPort}/pools`, { headers: { authorization: `Bearer ${token}` } });
  const text = await r.body.text();
  assert.is(r.statusCode, 200, text);
  return JSON.parse(text).pools;
}

/** The pools as id lists, e.g. { main: ["127.0.0.1:1234=active"] }. */
async function poolIds(adminPort: number, token = TOKEN): Promise<Record<string, string[]>> {
  return Object.fromEntries((await pools(adminPort, token)).map((p) => [p.name, p.backends.map((b) => `${b.id}=${b.lifecycle}`)]));
}

/** A server on `port` (without SO_REUSEPORT, so the proxy cannot share it). */
async function occupy(port: number): Promise<net.Server> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return server;
}

async function withBackends(names: readonly string[], fn: (backends: TestBackend[]) => Promise<void>): Promise<void> {
  const backends = await Promise.all(names.map((n) => startBackend(n)));
  try {
    await fn(backends);
  } finally {
    await Promise.all(backends.map((b) => b.close()));
  }
}

const webAndRaw = (ports: Ports) => [
  { name: "web", protocol: "http", port: ports.http },
  { name: "raw", protocol: "tcp", port: ports.tcp },
] as const;

async function started(cli: Cli): Promise<void> {
  await cli.line(LISTENING("web", "http"));
  await cli.line(/admin API listening on/);
}

// ---- listeners ------------------------------------------------------------------------------------

test("reload: a new listener that cannot bind refuses the whole reload; every worker keeps the old pool, the listener it would remove keeps serving", async () => {
  await withBackends(["a", "b"], async ([a, b]) => {
    const admin = (ports: Ports) => ({ port: ports.admin, token: TOKEN });
    await withCli([a], async ({ cli, ports, file }) => {
      await started(cli);
      const web = `http://127.0.0.1:${ports.http}`;
      assert.equal(await freshConnections(web), { a: EVERY_WORKER });

      // New backend, "raw" gone, and "extra" on a port someone else holds.
      const busy = await occupy(ports.spare);
      try {
        await writeFile(file, proxyYaml({
          listeners: [{ name: "web", protocol: "http", port: ports.http }, { name: "extra", protocol: "http", port: ports.spare }],
          backends: [b],
          admin: admin(ports),
        }));
        const outcome = await cli.reload();
        assert.match(outcome, /^reload refused/);
        assert.match(outcome, /listener "extra": cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);

        assert.equal(await poolIds(ports.admin), { main: [`${a.id}=active`] }, "the supervisor kept the old pool");
        assert.equal(await freshConnections(web), { a: EVERY_WORKER }, "every worker still sends to the old backend");
        assert.equal(await freshTcpConnections(ports.tcp), { a: EVERY_WORKER }, "the listener the reload would remove still serves");
        assert.is(b.received.length, 0);
      } finally {
        await new Promise((r) => busy.close(r));
      }

      // The same change, now that the port is free: the new listener serves on every worker, the old one closes.
      await writeFile(file, proxyYaml({
        listeners: [{ name: "web", protocol: "http", port: ports.http }, { name: "extra", protocol: "http", port: ports.spare }],
        backends: [b],
        admin: admin(ports),
      }));
      assert.match(await cli.reload(), /^reloaded /);
      assert.equal(await freshConnections(web), { b: EVERY_WORKER });
      assert.equal(await freshConnections(`http://127.0.0.1:${ports.spare}`), { b: EVERY_WORKER });
      assert.ok(await waitFor(async () => (await tryConnect(ports.tcp)) === "refused", 5000), "the removed listener still accepts");
      assert.ok(cli.running);
    }, { config: (ports) => proxyYaml({ listeners: webAndRaw(ports), backends: [a], admin: admin(ports) }) });
  });
});

// ---- the admin API --------------------------------------------------------------------------------

test("reload: moving the admin API to a busy port is refused; the old one keeps serving the old pool, and SIGTERM still exits 0", async () => {
  await withBackends(["a", "b"], async ([a, b]) => {
    await withCli([a], async ({ cli, ports, file }) => {
      await started(cli);
      const web = `http://127.0.0.1:${ports.http}`;
      const busy = await occupy(ports.spare);
      try {
        await writeFile(file, proxyYaml({ listeners: webAndRaw(ports), backends: [b], admin: { port: ports.spare, token: TOKEN } }));
        const outcome = await cli.reload();
        assert.match(outcome, /^reload refused/);
        assert.match(outcome, /listener "admin": cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
        assert.equal(await poolIds(ports.admin), { main: [`${a.id}=active`] }, "the old admin API is gone or changed");
        assert.equal(await freshConnections(web), { a: EVERY_WORKER });
      } finally {
        await new Promise((r) => busy.close(r));
      }

      // Once the port is free the move works: the new address answers, the old one no longer does.
      assert.match(await cli.reload(), /^reloaded /);
      const moved = (await poolIds(ports.spare)).main;
      assert.ok(moved.includes(`${b.id}=active`) && !moved.includes(`${a.id}=active`), moved.join(", "));
      assert.ok(await waitFor(async () => (await tryConnect(ports.admin)) === "refused", 5000), "the old admin API still accepts");
      assert.equal(await freshConnections(web), { b: EVERY_WORKER });

      const mark = cli.stdout.length;
      cli.child.kill("SIGTERM");
      assert.equal(await cli.exit(), { code: 0, signal: null }, cli.stderr);
      assert.match(cli.stdout.slice(mark), /drained, exiting/);
      assert.is(cli.stderr, "");
    }, { config: (ports) => proxyYaml({ listeners: webAndRaw(ports), backends: [a], admin: { port: ports.admin, token: TOKEN } }) });
  });
});

test("reload: a new admin token applies on the running admin API: no rebind, open connections stay", async () => {
  await withBackends(["a"], async ([a]) => {
    const next = "the-next-admin-token-0123456789";
    await withCli([a], async ({ cli, ports, file }) => {
      await started(cli);
      const client = new Client(`http://127.0.0.1:${ports.admin}`, { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
      let connects = 0;
      client.on("connect", () => connects++);
      const status = async (token: string) => {
        const r = await client.request({ path: "/pools", method: "GET", headers: { authorization: `Bearer ${token}` } });
        await r.body.text();
        return r.statusCode;
      };
      try {
        assert.is(await status(TOKEN), 200);
        await writeFile(file, proxyYaml({ listeners: webAndRaw(ports), backends: [a], admin: { port: ports.admin, token: next } }));
        assert.match(await cli.reload(), /^reloaded /);
        assert.is(await status(next), 200);
        assert.is(connects, 1, "the admin API was rebound");
        assert.is(await status(TOKEN), 401);
      } finally {
        await client.close();
      }
    }, { config: (ports) => proxyYaml({ listeners: webAndRaw(ports), backends: [a], admin: { port: ports.admin, token: TOKEN } }) });
  });
});

// ---- capacity -------------------------------------------------------------------------------------

test("reload: more backends than the statistics hold (4096) is refused before anything changes", async () => {
  await withBackends(["a", "b"], async ([a, b]) => {
    const raw = (backends: unknown[], extraPools: unknown[] = []) => ({
      workers: 2,
      listeners: [{ name: "web", protocol: "http", address: "127.0.0.1", port: 0, pool: "p" }],
      pools: [{ name: "p", backends }, ...extraPools],
      admin: { address: "127.0.0.1", port: 0, token: TOKEN },
    });
    const balancer = await startBalancer(raw([a.id]));
    try {
      const web = `http://127.0.0.1:${balancer.listeners[0].port}`;
      const admin = Number(new URL(balancer.adminUrl!).port);
      const many = Array.from({ length: 4096 }, (_, i) => `127.0.0.1:${10_000 + i}`);
      const tooMany = normalizeConfig(raw([b.id], [{ name: "big", backends: many }]), "<inline>");
      try {
        await balancer.reload(tooMany);
        assert.unreachable("a reload past the capacity was applied");
      } catch (error) {
        assert.is((error as { code?: string }).code, "FARMHAND_STATS_CAPACITY", String(error));
      }
      assert.equal(await poolIds(admin), { p: [`${a.id}=active`] });
      assert.equal(await freshConnections(web), { a: EVERY_WORKER });

      // Exactly full: a, draining, keeps its slot until it is forgotten; b and 4094 more take the rest.
      await balancer.reload(normalizeConfig(raw([b.id], [{ name: "big", backends: many.slice(2) }]), "<inline>"));
      assert.equal(await freshConnections(web), { b: EVERY_WORKER });
      assert.is((await poolIds(admin)).big.length, 4094);
    } finally {
      await balancer.shutdown(2000);
    }
  });
});

test.run();
