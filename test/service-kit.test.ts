// The service kit as a product: a new image written outside the repository (a manifest and a server
// of a few lines importing `farmhand/service` and `farmhand/contracts`, with node_modules/farmhand a
// link to this package, as an install would make it) runs as a VM process from its FARMHAND_*
// environment, announces itself at /.well-known/farmhand, serves its operation, refuses a wrong body
// with a 400 naming the field, counts both in its /metrics, logs with timestamps, refuses to start when its manifest and code
// disagree, and stops on SIGTERM.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { freePorts } from "../bench/lib/net.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";

const SERVER = `import Type from "typebox";
import { contract, role } from "farmhand/contracts";
import { service, start } from "farmhand/service";

const greet = contract("greet@1", {
  hello: { method: "POST", path: "/hello", request: Type.Object({ name: Type.String({ minLength: 1 }) }, { additionalProperties: false }), response: Type.Object({ greeting: Type.String() }) },
});
const svc = service(role("greeter", { image: import.meta.dirname, provides: { api: greet }, requires: {} }));
svc.provide("api", { hello: ({ body }) => ({ greeting: \`hello, \${body.name}, from \${svc.env.vm}\` }) });
await start(svc);
`;

const REQUEST_SCHEMA = { type: "object", properties: { name: { type: "string", minLength: 1 } }, required: ["name"], additionalProperties: false };
const manifest = (request: unknown) => ({
  name: "greeter",
  entry: "server.ts",
  provides: { api: "greet@1" },
  requires: {},
  contracts: {
    "greet@1": {
      operations: {
        hello: {
          method: "POST",
          path: "/hello",
          request,
          response: { type: "object", properties: { greeting: { type: "string" } }, required: ["greeting"] },
        },
      },
    },
  },
});

let dir = "";
let greeter = "";

/** An image folder in the scratch package, holding `server.ts` and this manifest. */
function image(name: string, m: unknown): string {
  const folder = path.join(dir, name);
  mkdirSync(folder);
  writeFileSync(path.join(folder, "farmhand.json"), JSON.stringify(m, null, 2));
  writeFileSync(path.join(folder, "server.ts"), SERVER);
  return folder;
}

test.before(() => {
  // Outside the repository: `farmhand/...` resolves only through node_modules, as it would for a user.
  dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-service-kit-"));
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "greeter-images", private: true, type: "module" }));
  mkdirSync(path.join(dir, "node_modules"));
  symlinkSync(root, path.join(dir, "node_modules", "farmhand"), "dir");
  // An install puts farmhand's dependencies beside it; the server imports typebox for its schemas.
  symlinkSync(path.join(root, "node_modules", "typebox"), path.join(dir, "node_modules", "typebox"), "dir");
  greeter = image("greeter", manifest(REQUEST_SCHEMA));
});

test.after(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

interface Vm {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

function run(folder: string, env: Record<string, string>): Vm {
  const proc = spawn(process.execPath, [path.join(folder, "server.ts")], {
    cwd: folder,
    env: { PATH: process.env.PATH ?? "", ...(process.env.FARMHAND_OWNER ? { FARMHAND_OWNER: process.env.FARMHAND_OWNER } : {}), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  return { proc, exited, output: () => out };
}

async function ready(vm: Vm, url: string): Promise<void> {
  let gone = false;
  void vm.exited.then(() => (gone = true));
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
    if (gone) throw new Error(`exited before serving:\n${vm.output()}`);
    try {
      const r = await request(`${url}/.well-known/farmhand`);
      await r.body.dump();
      if (r.statusCode === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`did not serve within 15 s:\n${vm.output()}`);
}

async function call(method: "GET" | "POST", url: string, body?: unknown) {
  const r = await request(url, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.statusCode, headers: r.headers, json: (await r.body.json()) as any };
}

test("a new image outside the repository serves its contract through farmhand/service", async () => {
  const [port] = await freePorts(1);
  const url = `http://${HOST}:${port}`;
  const vm = run(greeter, { FARMHAND_LISTEN: `${HOST}:${port}`, FARMHAND_VM: "greeter-1", FARMHAND_FARM: "demo", FARMHAND_VM_ID: "demo-greeter-1" });
  try {
    await ready(vm, url);
    const announced = await call("GET", `${url}/.well-known/farmhand`);
    assert.equal(announced.json, { vm: "greeter-1", role: "greeter", provides: { api: "greet@1" } });

    const hello = await call("POST", `${url}/hello`, { name: "Ada" });
    assert.is(hello.status, 200);
    assert.equal(hello.json, { greeting: "hello, Ada, from greeter-1" });
    assert.is(hello.headers["x-served-by"], "greeter-1");

    const wrong = await call("POST", `${url}/hello`, { nom: "Ada" });
    assert.is(wrong.status, 400);
    assert.match(wrong.json.error, /^invalid request body for greet@1 hello: /);
    assert.match(wrong.json.error, /name is required/);
    assert.match(wrong.json.error, /nom is not allowed/);
    assert.equal(wrong.json.fields, [{ path: "/name", message: "is required" }, { path: "/nom", message: "is not allowed" }]);

    // Its metrics, as installed (prom-client found beside farmhand), to this machine only: it was given no digest.
    const metrics = await request(`${url}/metrics`);
    assert.is(metrics.statusCode, 200);
    assert.match(await metrics.body.text(), /farmhand_service_requests_total\{endpoint="api",operation="hello",code="400"\} 1/);

    vm.proc.kill("SIGTERM");
    assert.equal(await vm.exited, { code: 0, signal: null }, vm.output());
    // Every line the kit wrote starts with an ISO timestamp and the VM's name.
    const lines = vm.output().trimEnd().split("\n");
    assert.ok(lines.length >= 5, vm.output());
    for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z greeter-1 /);
    assert.ok(lines.some((l) => / POST \/hello 400 /.test(l)), vm.output());
    assert.match(lines.at(-1)!, /SIGTERM: stopping$/);
  } finally {
    vm.proc.kill("SIGKILL");
    await vm.exited;
  }
});

test("a service whose environment or manifest is wrong exits 78 with one line naming the variable or field", async () => {
  const folder = image("greeter-liar", { ...manifest({ ...REQUEST_SCHEMA, required: [] }), name: "greeter" });
  const [port] = await freePorts(1);
  const liar = run(folder, { FARMHAND_LISTEN: `${HOST}:${port}`, FARMHAND_VM: "greeter-2" });
  assert.is((await liar.exited).code, 78, liar.output());
  assert.match(liar.output(), /^\d{4}-\d\d-\d\dT[\d:.]+Z greeter: configuration error: /);
  assert.match(liar.output(), /greeter-liar\/farmhand\.json contracts\["greet@1"\]\.operations\.hello\.request\.required(\[0\])? differs from contract greet@1/);

  const noListen = run(greeter, { FARMHAND_VM: "greeter-3" });
  assert.is((await noListen.exited).code, 78);
  assert.match(noListen.output(), /greeter: configuration error: FARMHAND_LISTEN is not set/);

  const badImports = run(greeter, { FARMHAND_LISTEN: `${HOST}:${port}`, FARMHAND_VM: "greeter-4", FARMHAND_IMPORTS: "{nope" });
  assert.is((await badImports.exited).code, 78);
  assert.match(badImports.output(), /greeter: configuration error: FARMHAND_IMPORTS is not JSON: /);
});

test.run();
