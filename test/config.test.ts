import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as fromYaml, stringify as toYaml } from "yaml";
import { loadConfigFile, normalizeConfig, normalizePoolBackends, parseConfigText } from "../native-free-core/config-load.ts";
import { DEFAULT_HEALTH_CHECK, DEFAULT_HTTP_LIMITS, DEFAULT_OUTLIER_DETECTION, DEFAULT_UPSTREAM } from "../native-free-core/config.ts";
import { ConfigError } from "../native-free-core/errors.ts";

const dir = await mkdtemp(join(tmpdir(), "farmhand-config-"));
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
let fileCounter = 0;

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** A minimal valid configuration, as plain data, for the invalid cases to spoil one field at a time. */
function base(): any {
  return {
    listeners: [{ port: 8080, pool: "web" }],
    pools: [
      { name: "web", backends: [{ address: "127.0.0.1", port: 9001 }] },
      { name: "api", backends: ["127.0.0.1:9101"] },
    ],
  };
}

/** Loads `config` from a fresh file (YAML or JSON) and returns the ConfigError it must raise. */
async function refusal(config: unknown, format: "yaml" | "json" = "yaml"): Promise<{ error: ConfigError; file: string }> {
  const text = format === "json" ? JSON.stringify(config, null, 2) : toYaml(config);
  const file = await write(`invalid-${++fileCounter}.${format}`, text);
  try {
    await loadConfigFile(file);
  } catch (error) {
    assert.instance(error, ConfigError);
    return { error: error as ConfigError, file };
  }
  assert.unreachable(`expected ${file} to be refused`);
  throw new Error("unreachable");
}

async function assertRefused(config: unknown, field: string, problem: string, got: string, format: "yaml" | "json" = "yaml"): Promise<void> {
  const { error, file } = await refusal(config, format);
  assert.is(error.message, `${file}: ${field}: ${problem} (got ${got})`);
  assert.is(error.file, file);
  assert.is(error.field, field);
  assert.is(error.code, "FARMHAND_CONFIG_INVALID");
}

// --- valid configurations -------------------------------------------------------------------

const VALID_YAML = `# a commented YAML config
workers: 4
listeners:
  - name: public
    port: 8080
    pool: web
  - protocol: tcp
    address: "::1"
    port: 8443
    pool: sticky
pools:
  - name: web
    backends:
      - address: 127.0.0.1
        port: 9001
        weight: 5
      - "127.0.0.1:9002"
      - "[::1]:9003"
      - backend.local:9004
    healthCheck: true
    upstream:
      maxQueue: 0
  - name: sticky
    policy: consistent-hash
    hashKey: client-address
    backends: []
    healthCheck:
      path: /ready
      intervalMs: 500
      timeoutMs: 200
    outlierDetection:
      maxEjectedPercent: 100
    slowStartMs: 30000
http:
  maxHeaderCount: 50
  trustedProxies: [10.0.0.1, "::1"]
`;

test("a valid YAML config loads with the defaults filled in", async () => {
  const config = await loadConfigFile(await write("valid.yaml", VALID_YAML));
  assert.is(config.workers, 4);
  assert.is(config.drainTimeoutMs, 30_000);
  assert.equal(config.listeners, [
    { name: "public", protocol: "http", address: "127.0.0.1", port: 8080, pool: "web", contract: null, routes: [], validate: null },
    { name: "listener-1", protocol: "tcp", address: "::1", port: 8443, pool: "sticky", contract: null, routes: [], validate: null },
  ]);
  const [web, sticky] = config.pools;
  assert.is(web.policy, "round-robin");
  assert.equal(web.hashKey, { kind: "client-address" });
  assert.equal(web.backends, [
    { address: "127.0.0.1", port: 9001, weight: 5, backup: false },
    { address: "127.0.0.1", port: 9002, weight: 1, backup: false },
    { address: "::1", port: 9003, weight: 1, backup: false },
    { address: "backend.local", port: 9004, weight: 1, backup: false },
  ]);
  assert.equal(web.healthCheck, DEFAULT_HEALTH_CHECK);
  assert.equal(web.outlierDetection, DEFAULT_OUTLIER_DETECTION);
  assert.equal(web.upstream, { ...DEFAULT_UPSTREAM, maxQueue: 0 });
  assert.is(web.slowStartMs, 0);
  assert.is(sticky.policy, "consistent-hash");
  assert.equal(sticky.backends, []);
  assert.equal(sticky.healthCheck, { ...DEFAULT_HEALTH_CHECK, path: "/ready", intervalMs: 500, timeoutMs: 200 });
  assert.equal(sticky.outlierDetection, { ...DEFAULT_OUTLIER_DETECTION, maxEjectedPercent: 100 });
  assert.is(sticky.slowStartMs, 30_000);
  assert.equal(config.http, { ...DEFAULT_HTTP_LIMITS, maxHeaderCount: 50, trustedProxies: ["10.0.0.1", "::1"] });
  assert.is(config.admin, null);
});

test("a valid JSON config loads with the defaults filled in, deeply frozen", async () => {
  const file = await write("valid.json", JSON.stringify({
    drainTimeoutMs: 0,
    listeners: [{ port: 0, pool: "a" }, { port: 0, pool: "a" }],
    pools: [{ name: "a", policy: "consistent-hash", hashKey: { header: "X-User" }, backends: ["localhost:9001"] }],
    admin: { port: 0 },
  }));
  const config = await loadConfigFile(file);
  assert.ok(config.workers >= 1 && config.workers <= 256);
  assert.is(config.drainTimeoutMs, 0);
  assert.is(config.listeners[1].name, "listener-1");
  assert.equal(config.pools[0].hashKey, { kind: "header", name: "x-user" });
  assert.is(config.pools[0].healthCheck, null);
  assert.equal(config.http, DEFAULT_HTTP_LIMITS);
  assert.equal(config.admin, { address: "127.0.0.1", port: 0, tokenSha256: null, metricsTokenSha256: null });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.pools[0].backends[0]));
  assert.ok(Object.isFrozen(config.http.trustedProxies));
  assert.throws(() => {
    (config.pools[0].backends as any).push({ address: "x", port: 1, weight: 1 });
  });
});

test("normalising a normalised config gives the same config", async () => {
  const config = await loadConfigFile(await write("again.yaml", VALID_YAML));
  assert.equal(normalizeConfig(config, "<inline>"), config);
  const hashed = normalizeConfig(
    { listeners: [{ port: 1, pool: "a" }], pools: [{ name: "a", policy: "consistent-hash", hashKey: { header: "X-User" } }] },
    "<inline>",
  );
  assert.equal(normalizeConfig(hashed, "<inline>"), hashed);
});

test("an unknown extension is tried as JSON, then as YAML", () => {
  const json = parseConfigText(JSON.stringify(base()), "farmhand.conf");
  const yaml = parseConfigText(toYaml(base()), "farmhand.conf");
  assert.equal(json, yaml);
  assert.is(json.pools[1].backends[0].port, 9101);
});

// --- invalid configurations -----------------------------------------------------------------

test("refuses a backend port out of range", async () => {
  const c = base();
  c.pools[0].backends.push({ address: "127.0.0.1", port: 70000 });
  await assertRefused(c, "pools[0].backends[1].port", "expected an integer between 1 and 65535", "70000");
});

test("refuses an unknown field, with a spelling hint", async () => {
  const c = base();
  c.pools[1].backends = [{ address: "127.0.0.1", prot: 9001 }];
  await assertRefused(c, "pools[1].backends[0].prot", `unknown field; did you mean "port"?`, "9001", "json");
});

test("refuses an unknown top-level field, listing the known ones when nothing is close", async () => {
  await assertRefused({ ...base(), pool: [] }, "pool", `unknown field; did you mean "pools"?`, "[]");
  await assertRefused(
    { ...base(), frobnicate: true },
    "frobnicate",
    "unknown field (known fields: workers, drainTimeoutMs, listeners, pools, http, admin, validation)",
    "true",
  );
});

test("refuses an unknown policy, with a hint", async () => {
  const c = base();
  c.pools[0].policy = "round_robin";
  await assertRefused(
    c,
    "pools[0].policy",
    `expected one of "round-robin", "least-request", "consistent-hash", "random"; did you mean "round-robin"?`,
    `"round_robin"`,
  );
});

test("refuses a weight out of range", async () => {
  const c = base();
  c.pools[0].backends[0].weight = 0;
  await assertRefused(c, "pools[0].backends[0].weight", "expected an integer between 1 and 1000", "0", "json");
});

test("refuses a duplicate backend within a pool", async () => {
  const c = base();
  c.pools[0].backends.push("127.0.0.1:9001");
  await assertRefused(c, "pools[0].backends[1]", "duplicate backend 127.0.0.1:9001 (also pools[0].backends[0])", `"127.0.0.1:9001"`);
});

test("refuses a listener whose pool does not exist", async () => {
  const c = base();
  c.listeners[0].pool = "x";
  await assertRefused(c, "listeners[0].pool", `no pool named "x" (pools: web, api)`, `"x"`);
});

test("refuses two listeners on the same address and port", async () => {
  const c = base();
  c.listeners.push({ port: 8080, pool: "api" });
  await assertRefused(c, "listeners[1].port", "port 8080 on 127.0.0.1 is already used by listeners[0]", "8080");
});

test("refuses a missing listener port and a missing listeners list", async () => {
  const c = base();
  delete c.listeners[0].port;
  await assertRefused(c, "listeners[0].port", "is required: expected an integer between 0 and 65535", "nothing");
  await assertRefused({ ...base(), listeners: [] }, "listeners", "expected a non-empty array of listeners", "[]", "json");
});

test("refuses a bad pool name and a duplicate one", async () => {
  const c = base();
  c.pools[1].name = "bad name!";
  await assertRefused(c, "pools[1].name", "expected 1 to 64 letters, digits, '_', '.' or '-'", `"bad name!"`);
  c.pools[1].name = "web";
  await assertRefused(c, "pools[1].name", "duplicate pool name (also pools[0].name)", `"web"`);
});

test("refuses workers of the wrong type or out of range", async () => {
  await assertRefused({ ...base(), workers: "4" }, "workers", "expected an integer between 1 and 256", `"4"`, "json");
  await assertRefused({ ...base(), workers: 1.5 }, "workers", "expected an integer between 1 and 256", "1.5");
  await assertRefused({ ...base(), workers: 0 }, "workers", "expected an integer between 1 and 256", "0");
});

test("refuses a health check timeout that is not below its interval", async () => {
  const c = base();
  c.pools[0].healthCheck = { intervalMs: 1000, timeoutMs: 1000 };
  await assertRefused(c, "pools[0].healthCheck.timeoutMs", "timeoutMs (1000) must be less than intervalMs (1000)", "1000");
  c.pools[0].healthCheck = { intervalMs: 500 }; // the default timeout is 1000
  await assertRefused(c, "pools[0].healthCheck.intervalMs", "timeoutMs (1000) must be less than intervalMs (500)", "500");
});

test("refuses a health check path without a leading slash", async () => {
  const c = base();
  c.pools[0].healthCheck = { path: "healthz" };
  await assertRefused(c, "pools[0].healthCheck.path", `expected a request path starting with "/" (no spaces)`, `"healthz"`);
});

test("refuses a hash header that is not an HTTP token, or used without consistent-hash", async () => {
  const c = base();
  c.pools[0].policy = "consistent-hash";
  c.pools[0].hashKey = { header: "X User" };
  await assertRefused(c, "pools[0].hashKey.header", "expected an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)", `"X User"`);
  c.pools[0].policy = "random";
  c.pools[0].hashKey = { header: "X-User" };
  await assertRefused(
    c,
    "pools[0].hashKey",
    `hashing on a header needs policy "consistent-hash" (this pool's policy is "random")`,
    `{"header":"X-User"}`,
  );
});

test("refuses a trusted proxy that is not an IP address", async () => {
  const c = { ...base(), http: { trustedProxies: ["10.0.0.1", "10.0.0.0/8"] } };
  await assertRefused(c, "http.trustedProxies[1]", "expected an IP address (ranges are not supported)", `"10.0.0.0/8"`);
});

test("refuses out-of-range outlier detection, upstream and http limits", async () => {
  const c = base();
  c.pools[1].outlierDetection = { maxEjectedPercent: 150 };
  await assertRefused(c, "pools[1].outlierDetection.maxEjectedPercent", "expected an integer between 0 and 100", "150");
  const u = base();
  u.pools[0].upstream = { maxQueue: -1 };
  await assertRefused(u, "pools[0].upstream.maxQueue", "expected a non-negative integer", "-1", "json");
  await assertRefused({ ...base(), http: { maxHeadBytes: 0 } }, "http.maxHeadBytes", "expected a positive integer", "0");
  await assertRefused({ ...base(), drainTimeoutMs: -5 }, "drainTimeoutMs", "expected an integer between 0 and 2147483647", "-5");
  // setTimeout would fire such a timeout at once
  const t = base();
  t.pools[0].upstream = { connectTimeoutMs: 2 ** 31 };
  await assertRefused(t, "pools[0].upstream.connectTimeoutMs", "expected an integer between 1 and 2147483647", "2147483648");
});

test("refuses a bad backend address", async () => {
  const c = base();
  c.pools[0].backends[0].address = "10.0.0.256";
  await assertRefused(c, "pools[0].backends[0].address", "expected an IP address or host name (without brackets or port)", `"10.0.0.256"`);
});

test("refuses a configuration that is not an object", async () => {
  await assertRefused(["listeners"], "(root)", "expected a configuration object", `["listeners"]`, "json");
  const empty = await write("empty.yaml", "");
  try {
    await loadConfigFile(empty);
    assert.unreachable();
  } catch (error) {
    assert.is((error as Error).message, `${empty}: (root): expected a configuration object (got null)`);
  }
});

test("refuses backends that are no unicast host: unspecified, broadcast, link-local, multicast, and their IPv4-mapped forms", async () => {
  const refused: Array<[string, RegExp]> = [
    ["0.0.0.0", /is unspecified \(0\.0\.0\.0\/8 or ::\)/],
    ["0.1.2.3", /is unspecified/],
    ["::", /is unspecified/],
    ["0:0:0:0:0:0:0:0", /is unspecified/],
    ["255.255.255.255", /is the broadcast address/],
    ["169.254.169.254", /is link-local \(169\.254\.0\.0\/16 or fe80::\/10\), where cloud metadata services answer/],
    ["169.254.0.1", /is link-local/],
    ["fe80::1", /is link-local/],
    ["FEBF::1", /is link-local/],
    ["fe80::1%eth0", /is link-local/],
    ["224.0.0.1", /is multicast \(224\.0\.0\.0\/4 or ff00::\/8\)/],
    ["239.255.255.250", /is multicast/],
    ["ff02::1", /is multicast/],
    ["::ffff:169.254.169.254", /is link-local/],
    ["::ffff:a9fe:a9fe", /is link-local/],
    ["0:0:0:0:0:ffff:a9fe:a9fe", /is link-local/],
    ["::ffff:0.0.0.0", /is unspecified/],
    ["::ffff:224.0.0.1", /is multicast/],
    ["::ffff:255.255.255.255", /is the broadcast address/],
  ];
  for (const [address, why] of refused) {
    // As an object in a file: the field is the address, the value is shown.
    const c = base();
    c.pools[0].backends = [{ address: "127.0.0.1", port: 9001 }, { address, port: 80 }];
    const { error } = await refusal(c, "json");
    assert.is(error.field, "pools[0].backends[1].address", address);
    assert.ok(error.message.includes(`(got ${JSON.stringify(address)})`), error.message);
    assert.match(error.message, why);
    assert.match(error.message, /a backend must be a unicast host address/);
    // As a string, and through the admin API's validation (PUT and POST both use it).
    const text = address.includes(":") ? `[${address}]:80` : `${address}:80`;
    assert.throws(
      () => normalizePoolBackends(["127.0.0.1:1", text], "body"),
      (e: Error) => e instanceof ConfigError && e.field === "body[1]" && e.message.includes(JSON.stringify(text)) && why.test(e.message),
      text,
    );
    assert.throws(() => normalizePoolBackends([{ address, port: 80 }], "body"), (e: Error) => e instanceof ConfigError && e.field === "body[0].address", address);
  }
  // Loopback, private, shared, public addresses and host names stay allowed.
  const allowed = ["127.0.0.1", "127.9.9.9", "::1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fd00::1", "fec0::1",
    "8.8.8.8", "2001:db8::1", "::ffff:10.0.0.1", "169.253.255.255", "169.255.0.1", "223.255.255.255", "240.0.0.1", "metadata.google.internal", "backend.local"];
  for (const address of allowed) {
    assert.equal(normalizePoolBackends([{ address, port: 80 }], "body"), [{ address, port: 80, weight: 1, backup: false }], address);
  }
});

test("http.bufferBodyBytes (0..16 MiB) and http.minBodyBytesPerSecond (>= 0) are integers in range", async () => {
  const limits = normalizeConfig({ ...base(), http: { bufferBodyBytes: 0, minBodyBytesPerSecond: 0 } }, "<inline>").http;
  assert.is(limits.bufferBodyBytes, 0);
  assert.is(limits.minBodyBytesPerSecond, 0);
  const max = normalizeConfig({ ...base(), http: { bufferBodyBytes: 16 * 1024 * 1024, minBodyBytesPerSecond: 10_000_000 } }, "<inline>").http;
  assert.is(max.bufferBodyBytes, 16 * 1024 * 1024);
  assert.is(max.minBodyBytesPerSecond, 10_000_000);
  const defaults = normalizeConfig(base(), "<inline>").http;
  assert.is(defaults.bufferBodyBytes, DEFAULT_HTTP_LIMITS.bufferBodyBytes);
  assert.is(defaults.minBodyBytesPerSecond, DEFAULT_HTTP_LIMITS.minBodyBytesPerSecond);

  const range = "expected an integer between 0 and 16777216";
  await assertRefused({ ...base(), http: { bufferBodyBytes: 16 * 1024 * 1024 + 1 } }, "http.bufferBodyBytes", range, "16777217");
  await assertRefused({ ...base(), http: { bufferBodyBytes: -1 } }, "http.bufferBodyBytes", range, "-1");
  await assertRefused({ ...base(), http: { bufferBodyBytes: 1.5 } }, "http.bufferBodyBytes", range, "1.5", "json");
  await assertRefused({ ...base(), http: { bufferBodyBytes: "64k" } }, "http.bufferBodyBytes", range, `"64k"`);
  await assertRefused({ ...base(), http: { minBodyBytesPerSecond: -1 } }, "http.minBodyBytesPerSecond", "expected a non-negative integer", "-1");
  await assertRefused({ ...base(), http: { minBodyBytesPerSecond: 0.5 } }, "http.minBodyBytesPerSecond", "expected a non-negative integer", "0.5", "json");
  await assertRefused({ ...base(), http: { minBodyBytesPerSecond: true } }, "http.minBodyBytesPerSecond", "expected a non-negative integer", "true", "json");
});

test("the README's example configuration is valid, shows every http limit, and names each way to give the admin token", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## The proxy"));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(yaml !== undefined, "no YAML example in the proxy section");
  const example = fromYaml(yaml);
  // The token file it names does not exist here; the rest must load as it is.
  const config = normalizeConfig({ ...example, admin: { ...example.admin, tokenFile: undefined } }, "<inline>");
  assert.equal(Object.keys(example.http).sort(), Object.keys(DEFAULT_HTTP_LIMITS).sort());
  for (const key of ["bufferBodyBytes", "minBodyBytesPerSecond"]) {
    assert.is(example.http[key], DEFAULT_HTTP_LIMITS[key as keyof typeof DEFAULT_HTTP_LIMITS], `${key} is shown with its default`);
    assert.match(yaml, new RegExp(`^\\s*# ${key}: .+`, "m"), `${key} has a one-line comment`);
  }
  assert.is(config.http.bufferBodyBytes, DEFAULT_HTTP_LIMITS.bufferBodyBytes);
  const adminLine = yaml.split("\n").find((l) => l.startsWith("admin:"));
  for (const key of ["token", "tokenFile", "tokenSha256"]) assert.match(adminLine ?? "", new RegExp(`\\b${key}\\b`), `the admin line mentions ${key}`);
});

// --- contract checks ---------------------------------------------------------------------

const PLACE = {
  method: "POST",
  path: "/orders",
  request: { type: "object", required: ["item"], properties: { item: { type: "string" } } },
  response: { type: "object" },
};

test("validate: operations inline or from a contract file or an image manifest, normalised to a list, with defaults", async () => {
  const inline = normalizeConfig({ ...base(), listeners: [{ port: 8080, pool: "web", validate: { operations: { place: PLACE } } }] }, "<inline>");
  assert.equal(inline.listeners[0].validate, {
    operations: [{ name: "place", method: "POST", path: "/orders", request: PLACE.request }],
    inlineBodyBytes: 64 * 1024,
    maxBodyBytes: 16 * 1024 * 1024,
  });
  assert.equal(normalizeConfig(inline, "<inline>"), inline, "normalising again gives the same config");
  assert.equal(inline.validation, { threads: 1, memoryBytes: 256 * 1024 * 1024 });
  const contractFile = await write("orders.contract.json", JSON.stringify({ operations: { place: PLACE } }));
  const manifest = await write("farmhand.json", JSON.stringify({ name: "orders", entry: "server.ts", contracts: { "orders@1": { operations: { place: PLACE } }, "payments@1": { operations: { charge: { ...PLACE, path: "/payments" } } } } }));
  const config = await loadConfigFile(await write("validated.yaml", toYaml({
    ...base(),
    listeners: [
      { port: 8080, pool: "web", validate: { contractFile: "orders.contract.json", maxBodyBytes: 1024 } },
      { port: 8081, pool: "web", contract: "payments@1", validate: { contractFile: "farmhand.json" } },
    ],
  })));
  assert.equal(config.listeners[0].validate!.operations.map((o) => o.path), ["/orders"]);
  assert.is(config.listeners[0].validate!.maxBodyBytes, 1024);
  assert.equal(config.listeners[1].validate!.operations.map((o) => o.name), ["charge"]);
  void contractFile;
  void manifest;
});

test("validate: refuses what would not check requests, naming the field", async () => {
  const listener = (validate: unknown, extra: object = {}) => ({ ...base(), listeners: [{ port: 8080, pool: "web", ...extra, validate }] });
  await assertRefused(listener({ operations: { place: { ...PLACE, method: "FETCH" } } }), "listeners[0].validate.operations.place.method", 'expected one of "GET", "POST", "PUT", "PATCH", "DELETE"; did you mean "PATCH"?', '"FETCH"');
  await assertRefused(listener({ operations: { place: { ...PLACE, path: "orders" } } }), "listeners[0].validate.operations.place.path", 'expected a path starting with "/" ("{name}" for a segment)', '"orders"');
  await assertRefused(listener({ operations: { a: PLACE, b: PLACE } }), "listeners[0].validate.operations.b.path", "POST /orders is also operation a", '"/orders"');
  await assertRefused(listener({ operations: { place: { ...PLACE, request: 7 } } }), "listeners[0].validate.operations.place.request", "expected a JSON Schema (an object or a boolean)", "7");
  await assertRefused(listener({}), "listeners[0].validate", "give exactly one of contractFile and operations", "{}");
  await assertRefused(listener({ contractFile: "no-such-file.json" }), "listeners[0].validate.contractFile", `cannot read a contract from ${join(dir, "no-such-file.json")}: ENOENT: no such file or directory, open '${join(dir, "no-such-file.json")}'`, '"no-such-file.json"');
  await assertRefused(listener({ operations: { place: PLACE }, maxBodyBytes: 0 }), "listeners[0].validate.maxBodyBytes", "expected an integer between 1 and 1073741824", "0");
  await assertRefused(
    { ...base(), listeners: [{ port: 8080, pool: "web", protocol: "tcp", validate: { operations: { place: PLACE } } }] },
    "listeners[0].validate", "contract checks need an http listener", '"..."');
  await assertRefused({ ...base(), validation: { threads: 0 } }, "validation.threads", "expected an integer between 1 and 64", "0");
});

test("upstream.maxRequestsPerConnection: a non-negative integer, 0 (no limit) by default", async () => {
  const config = normalizeConfig({ ...base(), pools: [{ name: "web", upstream: { maxRequestsPerConnection: 100 } }] }, "<inline>");
  assert.is(config.pools[0].upstream.maxRequestsPerConnection, 100);
  assert.is(DEFAULT_UPSTREAM.maxRequestsPerConnection, 0);
  await assertRefused({ ...base(), pools: [{ name: "web", upstream: { maxRequestsPerConnection: -1 } }] }, "pools[0].upstream.maxRequestsPerConnection", "expected a non-negative integer", "-1");
});

// --- string backend forms --------------------------------------------------------------------

test("string backend forms: IPv4, host name and bracketed IPv6", () => {
  assert.equal(normalizePoolBackends(["127.0.0.1:9001", "[::1]:9002", "db-1.internal:5432", { address: "::1", port: 1, weight: 7 }], "body"), [
    { address: "127.0.0.1", port: 9001, weight: 1, backup: false },
    { address: "::1", port: 9002, weight: 1, backup: false },
    { address: "db-1.internal", port: 5432, weight: 1, backup: false },
    { address: "::1", port: 1, weight: 7, backup: false },
  ]);
  assert.equal(normalizePoolBackends([], "body"), []);
});

test("malformed string backends are refused", async () => {
  const cases: Array<[string, string]> = [
    ["localhost", `expected a backend as "host:port" or "[ipv6]:port"`],
    ["::1:9001", `expected a backend as "host:port" or "[ipv6]:port"; write IPv6 addresses in brackets, e.g. "[::1]:9001"`],
    ["[127.0.0.1]:9001", "only IPv6 addresses go in brackets"],
    ["127.0.0.1:0", "the port must be an integer between 1 and 65535"],
    ["127.0.0.1:99999", "the port must be an integer between 1 and 65535"],
    ["bad host:80", `"bad host" is not an IP address or host name`],
  ];
  for (const [text, problem] of cases) {
    assert.throws(
      () => normalizePoolBackends(["127.0.0.1:1", text], "body"),
      (e: Error) => e instanceof ConfigError && e.message === `<inline>: body[1]: ${problem} (got ${JSON.stringify(text)})`,
      text,
    );
  }
  const c = base();
  c.pools[1].backends = ["[::1]:80", "[::1]:80"];
  await assertRefused(c, "pools[1].backends[1]", "duplicate backend ::1:80 (also pools[1].backends[0])", `"[::1]:80"`);
  assert.throws(
    () => normalizePoolBackends({ address: "127.0.0.1" }, "body"),
    (e: Error) => e.message === `<inline>: body: expected an array of backends (got {"address":"127.0.0.1"})`,
  );
});

// --- admin -------------------------------------------------------------------------------------

test("admin on a non-loopback address is refused without a token", async () => {
  const c = { ...base(), admin: { address: "0.0.0.0", port: 9900 } };
  const { error, file } = await refusal(c);
  assert.is(error.field, "admin.token");
  assert.ok(error.message.startsWith(`${file}: admin.token: a token is required when the admin API listens on a non-loopback address`));
  assert.ok(error.message.includes(`"0.0.0.0"`));
  assert.ok(error.message.endsWith("(got nothing)"));
});

test("admin on loopback needs no token; off loopback a token is accepted", async () => {
  for (const address of ["127.0.0.1", "127.8.9.10", "::1", "localhost"]) {
    const config = normalizeConfig({ ...base(), admin: { address, port: 9900 } }, "<inline>");
    assert.equal(config.admin, { address, port: 9900, tokenSha256: null, metricsTokenSha256: null });
  }
  const token = "s3cret-token-0123456789";
  const config = await loadConfigFile(await write("admin.json", JSON.stringify({ ...base(), admin: { address: "0.0.0.0", port: 9900, token } })));
  // Only the digest is kept: the token itself appears nowhere in the loaded configuration.
  assert.equal(config.admin, { address: "0.0.0.0", port: 9900, tokenSha256: sha256(token), metricsTokenSha256: null });
  assert.not.ok(JSON.stringify(config).includes(token));
});

test("admin.tokenFile is read relative to the config file", async () => {
  await write("admin-token", "  file-token-0123456789abcdef\n");
  const text = toYaml({ ...base(), admin: { address: "192.0.2.1", port: 9900, tokenFile: "admin-token" } });
  const config = await loadConfigFile(await write("admin-file.yaml", text));
  assert.equal(config.admin, { address: "192.0.2.1", port: 9900, tokenSha256: sha256("file-token-0123456789abcdef"), metricsTokenSha256: null });

  await assertRefused(
    { ...base(), admin: { address: "::", port: 9900, tokenFile: "no-such-token" } },
    "admin.tokenFile",
    `cannot read the token file: ENOENT: no such file or directory, open '${join(dir, "no-such-token")}'`,
    `"no-such-token"`,
  );
  await assertRefused(
    { ...base(), admin: { port: 9900, token: "a-long-enough-token", tokenFile: "admin-token" } },
    "admin.tokenFile",
    "give only one of admin.token, admin.tokenFile and admin.tokenSha256 (got admin.token and admin.tokenFile)",
    `"admin-token"`,
  );
});

test("admin.tokenSha256 gives the digest itself: 64 hex digits, kept in lower case, alone", async () => {
  const digest = sha256("some-operator-token-0123");
  const config = normalizeConfig({ ...base(), admin: { address: "::", port: 9900, tokenSha256: digest.toUpperCase() } }, "<inline>");
  assert.equal(config.admin, { address: "::", port: 9900, tokenSha256: digest, metricsTokenSha256: null });
  // A normalised config normalises to itself, and a token given from code is hashed the same way.
  assert.equal(normalizeConfig(config, "<inline>"), config);
  assert.equal(normalizeConfig({ ...base(), admin: { address: "::", port: 9900, token: "some-operator-token-0123" } }, "<inline>"), config);

  const problem = `expected exactly 64 hexadecimal digits: the token's SHA-256 digest (e.g. printf %s "$TOKEN" | sha256sum)`;
  await assertRefused({ ...base(), admin: { port: 9900, tokenSha256: digest.slice(1) } }, "admin.tokenSha256", problem, `"<redacted, 63 characters>"`);
  await assertRefused({ ...base(), admin: { port: 9900, tokenSha256: digest + "0" } }, "admin.tokenSha256", problem, `"<redacted, 65 characters>"`);
  // Pasting the token where its digest belongs does not put the token in the message.
  const { error } = await refusal({ ...base(), admin: { port: 9900, tokenSha256: "g".repeat(64) } });
  assert.is(error.field, "admin.tokenSha256");
  assert.not.ok(error.message.includes("gggg"), error.message);
  await assertRefused({ ...base(), admin: { port: 9900, tokenSha256: 12345 } }, "admin.tokenSha256", problem, `"<redacted number>"`, "json");
  await assertRefused(
    { ...base(), admin: { port: 9900, token: "a-long-enough-token", tokenSha256: digest } },
    "admin.tokenSha256",
    "give only one of admin.token, admin.tokenFile and admin.tokenSha256 (got admin.token and admin.tokenSha256)",
    `"<redacted>"`,
  );
});

test("a malformed admin token is refused without echoing it", async () => {
  await assertRefused(
    { ...base(), admin: { port: 9900, token: "short" } },
    "admin.token",
    "the token must be at least 16 characters long (it has 5)",
    `"<redacted, 5 characters>"`,
  );
  await assertRefused(
    { ...base(), admin: { port: 80, address: "127.0.0.1" }, listeners: [{ port: 80, pool: "web" }] },
    "admin.port",
    "port 80 on 127.0.0.1 is already used by listeners[0]",
    "80",
  );
});

// --- syntax errors -----------------------------------------------------------------------------

test("a YAML syntax error names the file, the line and the line's text", async () => {
  const file = await write("broken.yaml", `pools:\n  - name: a\n   backends: []\n`);
  try {
    await loadConfigFile(file);
    assert.unreachable();
  } catch (error) {
    assert.instance(error, ConfigError);
    assert.is((error as ConfigError).field, "(root)");
    assert.match((error as Error).message, new RegExp(`^${escape(file)}: \\(root\\): invalid YAML at line 3, column 1: .+ \\(got " {3}backends: \\[\\]"\\)$`));
  }
  // JSON would silently keep the last of two equal keys; YAML refuses them, and says where.
  assert.throws(
    () => parseConfigText(`workers: 2\nlisteners: []\nworkers: 3\n`, "dup.yml"),
    (e: Error) => e.message === `dup.yml: (root): invalid YAML at line 3, column 1: Map keys must be unique (got "workers: 3")`,
  );
});

test("a JSON syntax error names the file, the line and the column", () => {
  const text = `{\n  "listeners": [],\n  "pools": [ }\n}`;
  assert.throws(
    () => parseConfigText(text, "broken.json"),
    (e: Error) => e.message === `broken.json: (root): invalid JSON at line 3, column 14: unexpected "}" (got "  \\"pools\\": [ }")`,
  );
  // Text that looks like JSON is reported as JSON even when the name does not say so.
  const conf = `{\n "pools": [\n  {"name": "a" "x": 1}\n ]\n}`;
  assert.throws(
    () => parseConfigText(conf, "farmhand.conf"),
    (e: Error) => e.message === `farmhand.conf: (root): invalid JSON at line 3, column 16: unexpected "\\"" (got "  {\\"name\\": \\"a\\" \\"x\\": 1}")`,
  );
});

test("a missing file is a ConfigError naming it", async () => {
  const missing = join(dir, "missing.yaml");
  try {
    await loadConfigFile(missing);
    assert.unreachable();
  } catch (error) {
    assert.instance(error, ConfigError);
    assert.ok((error as Error).message.startsWith(`${missing}: (root): cannot read the configuration file: ENOENT`));
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

test.run();
