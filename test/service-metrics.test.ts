// The service kit's GET /metrics, on a real socket: with the digest a farm gives its VMs it asks for
// the farm's metrics token (the same 401 for none and a wrong one) and counts requests by endpoint,
// operation and status code, their durations and what is in flight; with no digest (a service run
// by hand) it answers on loopback only, and not to a web page. An operation the kit would shadow is
// refused, and so is a digest that is no SHA-256.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Type from "typebox";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { contract, role } from "../control/contracts/index.ts";
import { createService, GuestEnvError, ServiceConfigError, type Service } from "../control/guest/service.ts";
import { parseExposition, sumOf, type Sample } from "../control/metrics/exposition.ts";
import { freePorts } from "../bench/lib/net.ts";
import { waitFor } from "./helpers/proxy.ts";

const Notes = contract("notes@1", {
  add: { method: "POST", path: "/notes", request: Type.Object({ text: Type.String({ minLength: 1 }) }), response: Type.Object({ id: Type.Number() }) },
  get: { method: "GET", path: "/notes/{id}", request: Type.Null(), response: Type.Object({ text: Type.String() }) },
  wait: { method: "POST", path: "/wait", request: Type.Null(), response: Type.Object({ ok: Type.Boolean() }) },
});
const Shadowing = contract("shadow@1", { scrape: { method: "GET", path: "/metrics", request: Type.Null(), response: Type.String() } });

let dir = "";
const image = (name: string, provides: Record<string, string>): string => {
  const folder = path.join(dir, name);
  mkdirSync(folder);
  writeFileSync(path.join(folder, "farmhand.json"), JSON.stringify({ name, entry: "server.ts", provides, requires: {} }));
  writeFileSync(path.join(folder, "server.ts"), "");
  return folder;
};
const notesRole = (folder: string) => role("notes", { image: folder, provides: { api: Notes }, requires: {} });
let NotesRole: ReturnType<typeof notesRole>;

test.before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-service-metrics-"));
  NotesRole = notesRole(image("notes", { api: "notes@1" }));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

const token = randomBytes(32).toString("hex");
const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** The notes service on a free loopback port, its settings as a farm (or a person) gives them. */
async function notes(settings?: Record<string, unknown>): Promise<{ svc: Service<typeof NotesRole>; url: string; release: () => void }> {
  const [port] = await freePorts(1);
  const svc = createService(NotesRole, {
    env: { FARMHAND_LISTEN: `127.0.0.1:${port}`, FARMHAND_VM: "notes-1", ...(settings === undefined ? {} : { FARMHAND_SETTINGS: JSON.stringify(settings) }) },
    log: false,
    handleSignals: false,
  });
  const stored: string[] = [];
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  svc.provide("api", {
    add: ({ body }) => ({ id: stored.push(body.text) - 1 }),
    get: ({ params }) => ({ text: stored[Number(params.id)] ?? "" }),
    wait: async () => {
      await held;
      return { ok: true };
    },
  });
  return { svc, url: (await svc.listen()).url, release };
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; text: string; samples: Sample[] }> {
  const r = await request(`${url}/metrics`, { headers });
  const text = await r.body.text();
  return { status: r.statusCode, type: String(r.headers["content-type"]), text, samples: r.statusCode === 200 ? parseExposition(text) : [] };
}

const post = async (url: string, body: unknown) => {
  const r = await request(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  await r.body.dump();
  return r.statusCode;
};

test("given the farm's digest, /metrics asks for the metrics token and counts requests per operation and status", async () => {
  const { svc, url, release } = await notes({ metricsTokenSha256: sha256(token) });
  try {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Bearer ${token}x` }, { authorization: token }] as Record<string, string>[]) {
      const refused = await scrape(url, headers);
      assert.is(refused.status, 401, JSON.stringify(headers));
      assert.equal(JSON.parse(refused.text), { error: "a valid bearer token is required" }, "the same answer for none and a wrong one");
    }
    const auth = { authorization: `Bearer ${token}` };
    const first = await scrape(url, auth);
    assert.is(first.status, 200);
    assert.match(first.type, /^text\/plain; version=0\.0\.4/);
    // Every operation shows before its first request, at zero.
    for (const operation of ["add", "get", "wait"]) {
      assert.is(sumOf(first.samples, "farmhand_service_request_duration_seconds_count", { endpoint: "api", operation }), 0, operation);
      assert.is(sumOf(first.samples, "farmhand_service_in_flight_requests", { endpoint: "api", operation }), 0, operation);
    }
    assert.ok(sumOf(first.samples, "process_cpu_seconds_total", {}) !== null, "the process's own metrics");

    assert.is(await post(`${url}/notes`, { text: "a" }), 200);
    assert.is(await post(`${url}/notes`, { text: "b" }), 200);
    assert.is(await post(`${url}/notes`, { text: "" }), 400);
    assert.is((await request(`${url}/notes/1`)).statusCode, 200);
    assert.is((await request(`${url}/nowhere`)).statusCode, 404);
    // One held in its handler: in flight until it is let go.
    const waiting = post(`${url}/wait`, null);
    const during = async () => sumOf((await scrape(url, auth)).samples, "farmhand_service_in_flight_requests", { operation: "wait" });
    assert.ok(await waitFor(async () => (await during()) === 1), "the held request shows in flight");
    release();
    assert.is(await waiting, 200);

    const after = (await scrape(url, auth)).samples;
    const requests = (labels: Record<string, string>) => sumOf(after, "farmhand_service_requests_total", labels);
    assert.is(requests({ endpoint: "api", operation: "add", code: "200" }), 2);
    assert.is(requests({ endpoint: "api", operation: "add", code: "400" }), 1, "a refused body counts under its operation");
    assert.is(requests({ endpoint: "api", operation: "get", code: "200" }), 1);
    assert.is(requests({ endpoint: "api", operation: "wait", code: "200" }), 1);
    assert.is(requests({ endpoint: "", operation: "", code: "404" }), 1, "no route: neither endpoint nor operation");
    assert.is(requests({ operation: "metrics", code: "401" }), 4);
    assert.ok((requests({ operation: "metrics", code: "200" }) ?? 0) >= 2);
    assert.is(sumOf(after, "farmhand_service_request_duration_seconds_count", { endpoint: "api", operation: "add" }), 3);
    assert.is(sumOf(after, "farmhand_service_request_duration_seconds_bucket", { operation: "get", le: "+Inf" }), 1);
    assert.is(sumOf(after, "farmhand_service_in_flight_requests", {}), 0);
  } finally {
    release();
    await svc.close();
  }
});

test("with no digest (a service run by hand), /metrics answers on loopback only, and not to a web page", async () => {
  const { svc, url } = await notes();
  try {
    const local = await scrape(url);
    assert.is(local.status, 200, local.text);
    assert.is(sumOf(local.samples, "farmhand_service_in_flight_requests", { endpoint: "api", operation: "add" }), 0);
    // A page that rebound its name to 127.0.0.1 still sends that name; a page's request carries Origin.
    for (const headers of [{ host: "shop.example:8080" }, { origin: "http://shop.example" }, { host: "evil.example@127.0.0.1" }] as Record<string, string>[]) {
      const refused = await scrape(url, headers);
      assert.is(refused.status, 403, JSON.stringify(headers));
      assert.match(JSON.parse(refused.text).error, /no metrics token digest .*only on loopback/);
    }
  } finally {
    await svc.close();
  }
});

test("an operation at GET /metrics is refused, and so is a digest that is no SHA-256", () => {
  const folder = image("shadow", { api: "shadow@1" });
  const Shadow = role("shadow", { image: folder, provides: { api: Shadowing }, requires: {} });
  const env = { FARMHAND_LISTEN: "127.0.0.1:1", FARMHAND_VM: "shadow-1" };
  const svc = createService(Shadow, { env, log: false, handleSignals: false });
  assert.throws(
    () => svc.provide("api", { scrape: () => "" }),
    (error: Error) => error instanceof ServiceConfigError && /shadow@1 scrape serves GET \/metrics, which the service kit answers itself/.test(error.message),
  );
  for (const digest of ["abc", sha256(token).toUpperCase(), 42]) {
    assert.throws(
      () => createService(Shadow, { env: { ...env, FARMHAND_SETTINGS: JSON.stringify({ metricsTokenSha256: digest }) }, log: false, handleSignals: false }),
      (error: Error) => error instanceof GuestEnvError && error.variable === "FARMHAND_SETTINGS" && /metricsTokenSha256: expected the metrics token's SHA-256/.test(error.message),
      `accepted ${digest}`,
    );
  }
});

test.run();
