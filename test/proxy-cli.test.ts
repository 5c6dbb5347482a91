// `farmhand proxy --config FILE` as an operator runs it: a child process reading a YAML file, logging
// its listeners, refusing bad files with a precise message, reloading on SIGHUP and draining on SIGTERM.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Client, request } from "undici";
import { startBackend } from "./helpers/backends.ts";
import { Cli, DEADLINE_MS, LISTENING, proxyYaml, tryConnect, withCli, yamlConfig } from "./helpers/cli.ts";
import { waitFor } from "./helpers/proxy.ts";
import { parseResponses, rawRequest } from "./helpers/raw-client.ts";
import { hold } from "./helpers/traffic.ts";

const FIXTURES = path.join("test", "fixtures", "cli");

// ---- a valid configuration -----------------------------------------------------------------------------

test("cli: a valid YAML config starts, logs its listeners and serves HTTP and TCP", async () => {
  const a = await startBackend("a");
  try {
    await withCli([a], async ({ cli, ports }) => {
      const http = Number((await cli.line(LISTENING("web", "http")))[1]);
      const tcp = Number((await cli.line(LISTENING("raw", "tcp")))[1]);
      assert.is(http, ports.http);
      assert.is(tcp, ports.tcp);
      await cli.line(/2 worker thread\(s\), pid \d+/);

      const r = await request(`http://127.0.0.1:${http}/hello`);
      assert.is(r.statusCode, 200);
      assert.is(await r.body.text(), "a GET /hello 0");
      const t = await rawRequest(tcp, "GET /tcp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 5000 });
      assert.is(parseResponses(t.text)[0]?.body, "a GET /tcp 0");

      cli.child.kill("SIGTERM");
      const exit = await cli.exit();
      assert.equal(exit, { code: 0, signal: null }, cli.stderr);
      assert.is(cli.stderr, "");
    });
  } finally {
    await a.close();
  }
});

// ---- bad configurations ----------------------------------------------------------------------------------

const BAD_CONFIGS: { file: string; field: string; value: string; problem: RegExp }[] = [
  { file: "bad-unknown-field.yaml", field: "pools[0].polcy", value: `"least-request"`, problem: /unknown field; did you mean "policy"\?/ },
  { file: "bad-port-range.yaml", field: "listeners[1].port", value: "70000", problem: /between 0 and 65535/ },
  { file: "bad-backend-port.yaml", field: "pools[0].backends[1].port", value: "0", problem: /between 1 and 65535/ },
  { file: "bad-missing-pool.yaml", field: "listeners[0].pool", value: `"nowhere"`, problem: /no pool named "nowhere" \(pools: web\)/ },
  { file: "bad-yaml-syntax.yaml", field: "(root)", value: `"    port: 8080: 8081"`, problem: /invalid YAML at line 7, column \d+/ },
];

for (const bad of BAD_CONFIGS) {
  test(`cli: ${bad.file} exits non-zero naming the file, ${bad.field} and the value`, async () => {
    const file = path.join(FIXTURES, bad.file);
    const cli = new Cli(file);
    try {
      const exit = await cli.exit();
      assert.ok(exit.code !== 0 && exit.code !== null, `exit ${JSON.stringify(exit)}`);
      const err = cli.stderr;
      assert.ok(err.includes(file), `stderr does not name the file ${file}: ${err}`);
      assert.ok(err.includes(`: ${bad.field}: `), `stderr does not name the field ${bad.field}: ${err}`);
      assert.ok(err.includes(`(got ${bad.value})`), `stderr does not show the value ${bad.value}: ${err}`);
      assert.match(err, bad.problem);
      assert.not.match(cli.stdout, /listening/);
    } finally {
      await cli.kill();
    }
  });
}

// ---- SIGHUP ----------------------------------------------------------------------------------------------

test("cli: SIGHUP with a swapped backend moves traffic without dropping an open connection; a broken file is refused", async () => {
  const a = await startBackend("a");
  const b = await startBackend("b");
  let client: Client | null = null;
  try {
    await withCli([a], async ({ cli, ports, file }) => {
      try {
        await cli.line(LISTENING("web", "http"));
        await cli.line(LISTENING("raw", "tcp"));
        const url = `http://127.0.0.1:${ports.http}`;
        client = new Client(url, { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
        let connects = 0;
        const disconnects: string[] = [];
        client.on("connect", () => connects++);
        client.on("disconnect", (_origin, _targets, error) => disconnects.push(String(error)));
        const get = async (p: string) => {
          const r = await client!.request({ path: p, method: "GET" });
          return { status: r.statusCode, body: await r.body.text() };
        };

        assert.equal(await get("/before"), { status: 200, body: "a GET /before 0" });

        // Swap a for b and reload.
        await writeFile(file, yamlConfig(ports, [b]));
        let mark = cli.stdout.length;
        cli.child.kill("SIGHUP");
        await cli.line(/reloaded /, mark);
        assert.not.match(cli.stdout.slice(mark), /reload refused/);

        const aSeen = a.received.length;
        assert.equal(await get("/after"), { status: 200, body: "b GET /after 0" }, "the open connection is not routed to the new backend");
        for (let i = 0; i < 10; i++) assert.equal(await get(`/after${i}`), { status: 200, body: `b GET /after${i} 0` });
        assert.is(connects, 1, "the client had to reconnect");
        assert.equal(disconnects, [], "the proxy closed the keep-alive connection");
        const fresh = await request(`${url}/fresh`);
        const freshBody = await fresh.body.text();
        assert.is(freshBody, "b GET /fresh 0", `a got ${JSON.stringify(a.received.map((r) => r.url))}, b got ${JSON.stringify(b.received.map((r) => r.url))}; b connections ${b.connections()}\n${cli.stdout}`);
        assert.is(a.received.length, aSeen, "the removed backend still got requests");
        // The removed backend drains and the supervisor says so.
        await cli.line(new RegExp(`backend ${a.id.replace(/\./g, "\\.")} drained`), mark);

        // A broken file: refused, the running configuration stays.
        await writeFile(file, yamlConfig(ports, [b]).replace("workers: 2", "workers: 0\nworkerz: 3"));
        mark = cli.stdout.length;
        cli.child.kill("SIGHUP");
        const refused = await cli.line(/reload refused.*$/m, mark);
        // Every error in the file, not only the first.
        assert.match(refused[0], /: workers: expected an integer between 1 and 256 \(got 0\)/);
        assert.match(refused[0], /: workerz: unknown field/);
        assert.ok(refused[0].includes(file), refused[0]);
        assert.ok(cli.running, "the process died on a broken reload");
        assert.equal(await get("/still"), { status: 200, body: "b GET /still 0" });
        const fresh2 = await request(`${url}/fresh2`);
        assert.is(fresh2.statusCode, 200);
        assert.is(await fresh2.body.text(), "b GET /fresh2 0");
        assert.is(connects, 1);
        assert.equal(disconnects, []);
      } finally {
        await client?.close().catch(() => {});
        client = null;
      }
    });
  } finally {
    await a.close();
    await b.close();
  }
});

// ---- SIGTERM ---------------------------------------------------------------------------------------------

test("cli: SIGTERM lets a slow request finish, refuses new connections, and exits 0", async () => {
  const a = await startBackend("a");
  try {
    await withCli([a], async ({ cli, ports }) => {
      await cli.line(LISTENING("web", "http"));
      await cli.line(LISTENING("raw", "tcp"));
      const url = `http://127.0.0.1:${ports.http}`;
      const gate = hold(a);
      const slow = request(`${url}/slow`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
      assert.ok(await waitFor(() => gate.held() === 1, DEADLINE_MS), "the slow request never reached the backend");

      const mark = cli.stdout.length;
      cli.child.kill("SIGTERM");
      await cli.line(/SIGTERM: draining/, mark);

      // Once the workers have closed their listeners, connecting is refused (polled: the log line
      // comes just before the workers hear of the drain).
      let last = "";
      const refused = await waitFor(async () => {
        last = `${await tryConnect(ports.http)}/${await tryConnect(ports.tcp)}`;
        return last === "refused/refused";
      }, DEADLINE_MS, 20);
      assert.ok(refused, `new connections still not refused during the drain: http/tcp ${last}`);
      assert.ok(cli.running, "exited before the slow request finished");
      assert.is(gate.held(), 1);

      gate.release();
      assert.equal(await slow, { status: 200, body: "a GET /slow 0" });
      const exit = await cli.exit();
      assert.equal(exit, { code: 0, signal: null }, `stderr: ${cli.stderr}`);
      assert.match(cli.stdout.slice(mark), /drained, exiting/);
    });
  } finally {
    await a.close();
  }
});

// ---- out of file descriptors ---------------------------------------------------------------------------

/** The soft limit on file descriptors that leaves `pid` exactly `free` more (limits bound the descriptor's number, not the count). */
function limitLeaving(pid: number, free: number): number {
  const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let limit = 0;
  for (let left = free; left > 0 || used.has(limit); limit++) if (!used.has(limit)) left--;
  return limit;
}

test("cli: out of file descriptors, it logs that connections cannot be accepted (EMFILE, with a hint), and serves again once they are closed", async () => {
  const a = await startBackend("a");
  const token = "proxy-cli-test-token-0123456789";
  const clients: net.Socket[] = [];
  try {
    await withCli([a], async ({ cli, ports }) => {
      await cli.line(/admin API listening on/);
      const pid = cli.child.pid!;
      // Room for a few connections; only the soft limit, so that it could be raised again.
      execFileSync("prlimit", ["--pid", String(pid), `--nofile=${limitLeaving(pid, 6)}:`]);
      const mark = cli.stdout.length;
      for (let i = 0; i < 60; i++) clients.push(net.connect(ports.http, "127.0.0.1").on("error", () => {}));
      const line = await cli.line(/new connections cannot be accepted on any listener: .*$/m, mark);
      assert.match(line[0], /: EMFILE \(out of file descriptors for this process: raise its limit, ulimit -n\)/);

      const closed = cli.stdout.length;
      for (const c of clients) c.destroy();
      await cli.line(/file descriptors are available again/, closed);
      const r = await request(`http://127.0.0.1:${ports.http}/again`);
      assert.is(r.statusCode, 200);
      assert.is(await r.body.text(), "a GET /again 0");
      const metrics = await request(`http://127.0.0.1:${ports.admin}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      const text = await metrics.body.text();
      assert.match(text, /^farmhand_file_descriptors_exhausted 0$/m);
      assert.match(text, /^farmhand_accept_failures_total\{listener="web"\} \d+$/m);
      assert.ok(cli.running);
    }, { config: (ports) => proxyYaml({ listeners: [{ name: "web", protocol: "http", port: ports.http }], backends: [a], admin: { port: ports.admin, token } }) });
  } finally {
    for (const c of clients) c.destroy();
    await a.close();
  }
});

test("cli: a proxy killed with SIGKILL has written Node's compile cache as fully as one that stopped", async () => {
  // Its next start then skips type stripping, in the main thread and in every worker.
  const a = await startBackend("a");
  try {
    const cachedAfter = async (signal: "SIGKILL" | "SIGTERM"): Promise<number> => {
      let entries = 0;
      const cache = await mkdtemp(path.join(os.tmpdir(), "farmhand-compile-cache-"));
      try {
        await withCli([a], async ({ cli }) => {
          await cli.line(/2 worker thread\(s\), pid \d+/);
          cli.child.kill(signal);
          await cli.exit();
          entries = readdirSync(cache, { recursive: true }).length;
        }, { entry: "src/farmhand.mjs", env: { NODE_COMPILE_CACHE: cache } });
      } finally {
        await rm(cache, { recursive: true, force: true });
      }
      return entries;
    };
    const stopped = await cachedAfter("SIGTERM");
    const killed = await cachedAfter("SIGKILL");
    assert.ok(stopped > 10, `a stopped proxy wrote ${stopped} cache entries`);
    assert.is(killed, stopped);
  } finally {
    await a.close();
  }
});

test.run();
