// The guest contract (control/guest/contract.ts): the FARMHAND_* environment a driver writes and a
// service reads round-trips, and every refusal names the variable; the image manifest has one reader,
// which the local driver, gen and the service kit share; the /.well-known/farmhand body a service
// builds is what the farm's reader accepts; a farm's VM learns its metrics token's digest, and only
// that, through its settings.

import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  announcementBody,
  GUEST_VARIABLES,
  guestConfig,
  GuestEnvError,
  metricsTokenDigest,
  readAnnouncement,
  readGuestEnv,
  readManifest,
  readManifestSync,
  writeGuestEnv,
  type GuestConfig,
} from "../control/guest/contract.ts";
import { readManifest as localDriverManifest } from "../control/drivers/local/manifest.ts";
import { readImageMetadata } from "../control/metadata/manifest.ts";
import { MetadataError } from "../control/errors.ts";
import { planFarm } from "../control/model/recorder.ts";
import { desiredSpec, sameIdentity, type Whereabouts } from "../control/reconcile/desired.ts";
import { memorySecrets } from "../control/state/secrets.ts";
import { PaymentService } from "../examples/order-processing/roles.ts";

const BASE = { FARMHAND_LISTEN: "127.0.1.2:8080", FARMHAND_VM: "orders-2" };
const ORDERS = { name: "orders", requires: { payments: "payments@1", inventory: "inventory@1" } };

/** The GuestEnvError `read` throws (it must throw one). */
function refusal(read: () => unknown): GuestEnvError {
  try {
    read();
  } catch (err) {
    assert.instance(err, GuestEnvError);
    assert.is((err as GuestEnvError).code, "FARMHAND_GUEST_ENV_INVALID");
    return err as GuestEnvError;
  }
  throw new Error("it was accepted");
}

test("what a driver writes, a service reads back: every variable, IPv6 and nested settings too", () => {
  const config: GuestConfig = {
    listen: { host: "fd00::2", port: 8080 },
    vm: "orders-2",
    role: "orders",
    farm: "shop",
    vmId: "shop-orders-2-0a1b2c3d",
    imports: { payments: "http://127.0.1.3:8080", inventory: "http://[fd00::4]:8080" },
    settings: { kind: "balancer", pools: [{ name: "main", backends: [] }], weight: 3 },
  };
  const env = writeGuestEnv(config);
  assert.equal(Object.keys(env).sort(), Object.keys(GUEST_VARIABLES).sort(), "the writer writes exactly the documented variables");
  assert.is(env.FARMHAND_LISTEN, "[fd00::2]:8080");
  assert.equal(readGuestEnv(env), config);
  assert.equal(readGuestEnv(env, { image: ORDERS }), config, "and it satisfies the image it is for");
});

test("a driver's spec becomes the guest config: labels, imports, settings, the VM's id and address", () => {
  const spec = { labels: { farm: "shop", role: "web", vm: "web-1" }, image: "/img/web", imports: { orders: "http://127.0.1.9:8080" } };
  const config = guestConfig(spec, { id: "shop-web-1-00ff00ff", address: { host: "127.0.1.5", port: 8080 } });
  assert.equal(config, {
    listen: { host: "127.0.1.5", port: 8080 },
    vm: "web-1",
    role: "web",
    farm: "shop",
    vmId: "shop-web-1-00ff00ff",
    imports: { orders: "http://127.0.1.9:8080" },
    settings: {},
  });
  assert.equal(writeGuestEnv(config).FARMHAND_SETTINGS, "{}");
});

test("by hand: only FARMHAND_LISTEN and FARMHAND_VM are needed; the role defaults to the image's", () => {
  const config = readGuestEnv({ ...BASE, PATH: "/bin" }, { image: { name: "payments", requires: {} } });
  assert.equal(config, { listen: { host: "127.0.1.2", port: 8080 }, vm: "orders-2", role: "payments", farm: "", vmId: "", imports: {}, settings: {} });
  // A trailing slash on an import is dropped, so `${base}${path}` never doubles it.
  assert.equal(readGuestEnv({ ...BASE, FARMHAND_IMPORTS: '{"a":"http://h:1/"}' }).imports, { a: "http://h:1" });
});

test("each refusal names its variable and the problem", () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ FARMHAND_VM: "x" }, "FARMHAND_LISTEN", /^FARMHAND_LISTEN is not set \(expected host:port, e\.g\. 127\.0\.1\.2:8080\)$/],
    [{ ...BASE, FARMHAND_LISTEN: "" }, "FARMHAND_LISTEN", /is not set/],
    [{ ...BASE, FARMHAND_LISTEN: "127.0.0.1:70000" }, "FARMHAND_LISTEN", /^FARMHAND_LISTEN "127\.0\.0\.1:70000" is not host:port/],
    [{ ...BASE, FARMHAND_LISTEN: "localhost" }, "FARMHAND_LISTEN", /"localhost" is not host:port/],
    [{ FARMHAND_LISTEN: "127.0.0.1:1" }, "FARMHAND_VM", /^FARMHAND_VM is not set/],
    [{ ...BASE, FARMHAND_IMPORTS: "{payments:" }, "FARMHAND_IMPORTS", /^FARMHAND_IMPORTS is not JSON: /],
    [{ ...BASE, FARMHAND_IMPORTS: '["http://h:1"]' }, "FARMHAND_IMPORTS", /must be a JSON object of import name -> base URL.*\(got \["http:\/\/h:1"\]\)/],
    [{ ...BASE, FARMHAND_IMPORTS: '{"payments":"http://h:1/charge"}' }, "FARMHAND_IMPORTS", /entry "payments" is "http:\/\/h:1\/charge", not a base URL/],
    [{ ...BASE, FARMHAND_IMPORTS: '{"payments":7}' }, "FARMHAND_IMPORTS", /entry "payments" is 7/],
    [{ ...BASE, FARMHAND_SETTINGS: "policy=random" }, "FARMHAND_SETTINGS", /^FARMHAND_SETTINGS is not JSON: /],
    [{ ...BASE, FARMHAND_SETTINGS: "3" }, "FARMHAND_SETTINGS", /^FARMHAND_SETTINGS must be a JSON object/],
  ];
  for (const [env, variable, message] of cases) {
    const err = refusal(() => readGuestEnv(env));
    assert.is(err.variable, variable, JSON.stringify(env));
    assert.match(err.message, message);
  }
});

test("an import the image requires but the environment lacks is refused, naming FARMHAND_IMPORTS and the import", () => {
  const some = refusal(() => readGuestEnv({ ...BASE, FARMHAND_IMPORTS: '{"payments":"http://127.0.1.3:8080"}' }, { image: ORDERS }));
  assert.is(some.variable, "FARMHAND_IMPORTS");
  assert.is(some.message, 'FARMHAND_IMPORTS has no entry for import "inventory" (inventory@1); role orders requires it');
  const none = refusal(() => readGuestEnv(BASE, { image: ORDERS }));
  assert.is(none.message, 'FARMHAND_IMPORTS is not set; role orders requires import "payments" (payments@1), "inventory" (inventory@1)');
  const role = refusal(() => readGuestEnv({ ...BASE, FARMHAND_ROLE: "web" }, { image: { name: "orders", requires: {} } }));
  assert.is(role.variable, "FARMHAND_ROLE");
  assert.match(role.message, /^FARMHAND_ROLE is "web", but this image is role orders/);
});

test("the writer refuses what the guest would refuse, so a bad spec fails in the driver, not in the VM", () => {
  const good = readGuestEnv(BASE);
  assert.is(refusal(() => writeGuestEnv({ ...good, imports: { orders: "127.0.1.9:8080" } })).variable, "FARMHAND_IMPORTS");
  assert.is(refusal(() => writeGuestEnv({ ...good, vm: "" })).variable, "FARMHAND_VM");
  assert.is(refusal(() => writeGuestEnv({ ...good, listen: { host: "127.0.0.1", port: 0 } })).variable, "FARMHAND_LISTEN");
});

// ---------------------------------------------------------------------------------------------------
// The manifest: one reader

function withImage(manifest: unknown, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-guest-"));
  writeFileSync(path.join(dir, "farmhand.json"), typeof manifest === "string" ? manifest : JSON.stringify(manifest));
  writeFileSync(path.join(dir, "server.ts"), "");
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

async function messageOf(read: () => Promise<unknown> | unknown): Promise<string> {
  try {
    await read();
  } catch (err) {
    assert.instance(err, MetadataError);
    return (err as Error).message;
  }
  throw new Error("it was accepted");
}

test("a manifest without contracts runs (driver, service) but cannot be generated from (gen)", async () => {
  await withImage({ name: "echo", entry: "server.ts", provides: { api: "echo@1" } }, async (dir) => {
    const m = await readManifest(dir);
    assert.equal({ name: m.name, entry: m.entry, provides: m.provides, requires: m.requires, contracts: m.contracts }, {
      name: "echo", entry: "server.ts", provides: { api: "echo@1" }, requires: {}, contracts: {},
    });
    assert.equal(readManifestSync(dir), m, "the sync reader reads the same");
    assert.equal(await localDriverManifest(dir), { name: "echo", entry: "server.ts", provides: { api: "echo@1" }, requires: {} });
    assert.match(await messageOf(() => readImageMetadata(dir)), `${path.join(dir, "farmhand.json")}: contracts: is missing`);
  });
});

test("the driver, gen and a service refuse a bad manifest with the same words: file, field, value", async () => {
  const bad: [unknown, RegExp][] = [
    [{ name: "echo", provides: {} }, /farmhand\.json: entry: is missing \("entry" names the file the VM runs/],
    [{ name: "Echo", entry: "server.ts" }, /farmhand\.json: name: expected a role name.*\(got "Echo"\)/],
    [{ name: "echo", entry: "../server.ts" }, /farmhand\.json: entry: expected a path inside the image folder \(got "\.\.\/server\.ts"\)/],
    [{ name: "echo", entry: "main.ts" }, /farmhand\.json: entry: expected a file in the image folder \(got "main\.ts"\)/],
    [{ name: "echo", entry: "server.ts", provides: { api: "echo" } }, /farmhand\.json: provides\.api: expected a contract id "name@version" \(got "echo"\)/],
    [{ name: "echo", entry: "server.ts", provides: { api: "echo@1" }, contracts: {} }, /provides\.api: contract "echo@1" is not defined in "contracts"/],
    ["{ nope", /farmhand\.json: is not valid JSON/],
  ];
  for (const [manifest, pattern] of bad) {
    await withImage(manifest, async (dir) => {
      const driver = await messageOf(() => localDriverManifest(dir));
      assert.match(driver, pattern);
      assert.match(driver, dir);
      assert.is(await messageOf(() => readManifestSync(dir)), driver, "the service says what the driver says");
      // gen refuses a manifest without contracts before it looks for the entry file.
      const gen = await messageOf(() => readImageMetadata(dir));
      if (!gen.endsWith("contracts: is missing: it must define every contract the image provides or requires")) assert.is(gen, driver, "gen says what the driver says");
    });
  }
});

test("the /.well-known/farmhand body a service builds is what the farm's reader accepts", () => {
  const body = announcementBody({ vm: "orders-2", role: "orders" }, { provides: { api: "orders@1" } });
  assert.equal(body, { vm: "orders-2", role: "orders", provides: { api: "orders@1" } });
  assert.equal(readAnnouncement(JSON.stringify(body)), { ok: true, provides: { api: "orders@1" } });
});

test("a farm's VM is given the metrics token's digest in its settings, never the token; a VM made before keeps its identity", async () => {
  const farm = planFarm("shop");
  const pay = await farm.vm(PaymentService, {});
  const secrets = memorySecrets("shop");
  const where: Whereabouts = { addressOf: () => ({ host: "127.0.1.3", port: 8080 }), serving: () => true, imageOf: () => null };
  const spec = desiredSpec("shop", farm.model.node(pay.name)!, where, secrets);
  const digest = createHash("sha256").update(secrets.metricsToken()).digest("hex");
  assert.equal(spec.settings, { metricsTokenSha256: digest });
  const env = writeGuestEnv(guestConfig(spec, { id: "shop-payments-1-00ff00ff", address: { host: "127.0.1.3", port: 8080 } }));
  assert.not.ok(Object.values(env).some((v) => v.includes(secrets.metricsToken())), "the token is in no variable");
  assert.is(metricsTokenDigest(readGuestEnv(env)), digest, "the service reads the digest back");
  assert.is(metricsTokenDigest(readGuestEnv(BASE)), null, "and none by hand");

  // Adopted as it is: a VM of an older farm (no digest), and one with this digest. Replaced: one with
  // another digest (the farm's key was made anew), or other settings.
  assert.ok(sameIdentity({ ...spec, settings: {} }, spec));
  assert.ok(sameIdentity({ ...spec, settings: { metricsTokenSha256: digest } }, spec));
  assert.not.ok(sameIdentity({ ...spec, settings: { metricsTokenSha256: "0".repeat(64) } }, spec));
  assert.not.ok(sameIdentity({ ...spec, settings: { mode: "other" } }, spec));
});

test.run();
