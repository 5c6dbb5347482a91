// `farmhand proxy --config FILE` as an operator runs it: a child process reading a YAML file, logging
// its listeners, refusing bad files with a precise message, reloading on SIGHUP and draining on SIGTERM.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client, request } from "undici";
import { freePorts } from "../bench/lib/net.ts";
import { startBackend, type TestBackend } from "./helpers/backends.ts";
import { waitFor } from "./helpers/proxy.ts";
import { parseResponses, rawRequest } from "./helpers/raw-client.ts";
import { hold } from "./helpers/traffic.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = path.join("test", "fixtures", "cli");
const DEADLINE_MS = 15_000;

// ---- the child process -----------------------------------------------------------------------------

interface CliOptions {
  /** The CLI module to run (src/farmhand.mjs is the installed executable, with Node's compile cache on). */
  readonly entry?: string;
  readonly env?: Record<string, string>;
}

class Cli {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(configFile: string, options: CliOptions = {}) {
    this.child = spawn(process.execPath, [options.entry ?? "src/cli.ts", "proxy", "--config", configFile], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get running(): boolean {
    return this.#exit === null;
  }

  /** Waits for a stdout line matching `re` (searching from `from` characters in); fails on exit or timeout. */
  async line(re: RegExp, from = 0, timeoutMs = DEADLINE_MS): Promise<RegExpExecArray> {
    const found = await waitFor(() => re.test(this.stdout.slice(from)) || !this.running, timeoutMs, 10);
    const m = re.exec(this.stdout.slice(from));
    if (!found || m === null) {
      throw new Error(`no line matching ${re} (exited: ${JSON.stringify(this.#exit)})\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
    }
    return m;
  }

  async exit(timeoutMs = DEADLINE_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timeout = new Promise<null>((r) => setTimeout(() => r(null), timeoutMs).unref());
    const result = await Promise.race([this.exited, timeout]);
    if (result === null) throw new Error(`the process did not exit within ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
    return result;
  }

  /** Always called in a finally: nothing outlives its test. */
  async kill(): Promise<void> {
    if (this.running) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}

// ---- configuration files -----------------------------------------------------------------------------

interface Ports {
  http: number;
  tcp: number;
}

/** Two distinct ports that were free a moment ago (the CLI's config needs real port numbers). */
async function configPorts(): Promise<Ports> {
  const [http, tcp] = await freePorts(2);
  return { http: http!, tcp: tcp! };
}

function yamlConfig(ports: Ports, backends: readonly TestBackend[]): string {
  return [
    "# written by test/proxy-cli.test.ts",
    "workers: 2",
    "drainTimeoutMs: 20000",
    "listeners:",
    "  - name: web",
    "    protocol: http",
    "    address: 127.0.0.1",
    `    port: ${ports.http}`,
    "    pool: main",
    "  - name: raw",
    "    protocol: tcp",
    "    address: 127.0.0.1",
    `    port: ${ports.tcp}`,
    "    pool: main",
    "pools:",
    "  - name: main",
    "    policy: round-robin",
    "    backends:",
    ...backends.map((b) => `      - ${b.address}:${b.port}`),
    "",
  ].join("\n");
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "farmhand-cli-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `farmhand proxy` on a fresh YAML config (listeners "web" and "raw" on free ports) in front of
 * `backends`; the process is killed afterwards, whatever happened.
 */
async function withCli(
  backends: readonly TestBackend[],
  body: (ctx: { cli: Cli; ports: Ports; file: string; dir: string }) => Promise<void>,
  options?: CliOptions,
): Promise<void> {
  await withTempDir(async (dir) => {
    const ports = await configPorts();
    const file = path.join(dir, "proxy.yaml");
    await writeFile(file, yamlConfig(ports, backends));
    const cli = new Cli(file, options);
    try {
      await body({ cli, ports, file, dir });
    } finally {
      await cli.kill();
    }
  });
}

const LISTENING = (name: string, protocol: string) => new RegExp(`listener ${name} \\(${protocol}\\) listening on 127\\.0\\.0\\.1:(\\d+)`);

/** "refused": the connection was refused; "accepted": the proxy took it (even if it then closed it). */
function tryConnect(port: number): Promise<"refused" | "accepted" | "other"> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("accepted");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(error.code === "ECONNREFUSED" ? "refused" : "other");
    });
  });
}

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
        await writeFile(file, yamlConfig(ports, [b]).replace("workers: 2", "workers: 2\nworkerz: 3"));
        mark = cli.stdout.length;
        cli.child.kill("SIGHUP");
        const refused = await cli.line(/reload refused.*$/m, mark);
        assert.match(refused[0], /workerz/);
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
