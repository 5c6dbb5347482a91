// Each balancing policy end to end: a real balancer (2 worker threads, each with its own picker,
// the kernel spreading client connections between them) in front of real backends, counted per
// backend from the x-backend response header over several keep-alive connections.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { Pool } from "undici";
import { startBackend, type TestBackend } from "./helpers/backends.ts";
import { startProxy, sleep, waitFor } from "./helpers/proxy.ts";
import { rawRequest, parseResponses } from "./helpers/raw-client.ts";
import { spread, type Counts } from "./helpers/traffic.ts";


const share = (counts: Counts, name: string): number => {
  let sum = 0;
  for (const n of counts.values()) sum += n;
  return (counts.get(name) ?? 0) / sum;
};

const show = (counts: Counts): string => JSON.stringify(Object.fromEntries([...counts].sort()));

async function backends(...names: string[]): Promise<TestBackend[]> {
  return Promise.all(names.map((n) => startBackend(n)));
}

async function closeAll(list: readonly TestBackend[]): Promise<void> {
  await Promise.all(list.map((b) => b.close()));
}

/** startProxy, closing the backends (and `others`) when the proxy cannot start, so nothing leaks. */
async function proxyFor(
  list: readonly TestBackend[],
  pool: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  others: readonly TestBackend[] = [],
) {
  try {
    return await startProxy(list, pool, extra);
  } catch (error) {
    await closeAll([...list, ...others]);
    throw error;
  }
}

const weighted = (list: readonly TestBackend[], weights: readonly number[]) =>
  list.map((b, i) => ({ address: b.address, port: b.port, weight: weights[i] }));

// ---- round robin ---------------------------------------------------------------------------------

test("round-robin: weights 1:2:3 give shares near 1/6, 2/6, 3/6", async () => {
  const list = await backends("a", "b", "c");
  const proxy = await proxyFor(list, { policy: "round-robin", backends: weighted(list, [1, 2, 3]) });
  try {
    const counts = await spread(proxy.url, 600, 8);
    const expected: Record<string, number> = { a: 1 / 6, b: 2 / 6, c: 3 / 6 };
    for (const [name, want] of Object.entries(expected)) {
      const got = share(counts, name);
      assert.ok(Math.abs(got - want) <= 0.05, `${name}: share ${got.toFixed(3)}, expected ${want.toFixed(3)} ±0.05 (${show(counts)})`);
    }
    // What the backends recorded agrees with the response headers.
    assert.is(list.reduce((n, b) => n + b.received.length, 0), 600);
  } finally {
    await proxy.stop();
    await closeAll(list);
  }
});

test("round-robin: equal weights give equal shares within ±10%", async () => {
  const list = await backends("a", "b", "c");
  const proxy = await proxyFor(list, { policy: "round-robin" });
  try {
    const counts = await spread(proxy.url, 600, 8);
    for (const b of list) {
      const got = counts.get(b.name) ?? 0;
      assert.ok(got >= 180 && got <= 220, `${b.name}: ${got} of 600, expected 200 ±10% (${show(counts)})`);
      assert.is(b.received.length, got);
    }
  } finally {
    await proxy.stop();
    await closeAll(list);
  }
});

// ---- random --------------------------------------------------------------------------------------

test("random: weights 1:2:3 are respected within tolerance", async () => {
  const list = await backends("a", "b", "c");
  const proxy = await proxyFor(list, { policy: "random", backends: weighted(list, [1, 2, 3]) });
  try {
    // 2000 draws: ±5 points is more than 4 standard deviations for every share here.
    const counts = await spread(proxy.url, 2000, 8);
    const expected: Record<string, number> = { a: 1 / 6, b: 2 / 6, c: 3 / 6 };
    for (const [name, want] of Object.entries(expected)) {
      const got = share(counts, name);
      assert.ok(Math.abs(got - want) <= 0.05, `${name}: share ${got.toFixed(3)}, expected ${want.toFixed(3)} ±0.05 (${show(counts)})`);
    }
  } finally {
    await proxy.stop();
    await closeAll(list);
  }
});

test("random: equal weights reach every backend in roughly equal shares", async () => {
  const list = await backends("a", "b", "c", "d");
  const proxy = await proxyFor(list, { policy: "random" });
  try {
    const counts = await spread(proxy.url, 2000, 8);
    for (const b of list) {
      const got = share(counts, b.name);
      assert.ok(Math.abs(got - 0.25) <= 0.05, `${b.name}: share ${got.toFixed(3)}, expected 0.25 ±0.05 (${show(counts)})`);
    }
  } finally {
    await proxy.stop();
    await closeAll(list);
  }
});

// ---- least request -------------------------------------------------------------------------------

test("least-request: a slow backend gets clearly fewer of concurrent requests", async () => {
  const list = await backends("slow", "fast1", "fast2");
  const [slow] = list;
  const plain = slow.handle;
  slow.handle = (req, res, body) => {
    setTimeout(() => plain(req, res, body), 200);
  };
  const proxy = await proxyFor(list, { policy: "least-request" });
  try {
    const counts = await spread(proxy.url, 600, 24);
    const s = counts.get("slow") ?? 0;
    const f1 = counts.get("fast1") ?? 0;
    const f2 = counts.get("fast2") ?? 0;
    assert.is(s + f1 + f2, 600);
    // Equal shares would be 200 each; the slow one holds its requests 200 ms while the others answer at once.
    assert.ok(s * 3 < Math.min(f1, f2), `slow got ${s}, fast ones ${f1} and ${f2} (${show(counts)})`);
    assert.ok(f1 > 0 && f2 > 0);
  } finally {
    await proxy.stop();
    await closeAll(list);
  }
});

test("least-request: equally fast backends share the load", async () => {
  const list = await backends("a", "b", "c");
  const proxy = await proxyFor(list, { policy: "least-request" });
  try {
    const counts = await spread(proxy.url, 900, 12);
    for (const b of list) {
      const got = share(counts, b.name);
      assert.ok(got > 0.15 && got < 0.52, `${b.name}: share ${got.toFixed(3)} (${show(counts)})`);
    }
  } finally {
    await proxy.stop();
    await closeAll(list);
  }
});

// ---- consistent hash -----------------------------------------------------------------------------

/** Which backend each user lands on, asked through `rounds` separate connection pools. */
async function mapUsers(url: string, users: readonly string[], rounds: number): Promise<{ map: Map<string, string>; consistent: boolean; problems: string[] }> {
  const map = new Map<string, string>();
  const problems: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const pool = new Pool(url, { connections: 4 });
    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < users.length) {
            const user = users[next++];
            const r = await pool.request({ path: `/u/${user}`, method: "GET", headers: { "x-user": user } });
            await r.body.text();
            assert.is(r.statusCode, 200);
            const name = String(r.headers["x-backend"]);
            const before = map.get(user);
            if (before === undefined) map.set(user, name);
            else if (before !== name) problems.push(`${user}: ${before} then ${name}`);
          }
        }),
      );
    } finally {
      await pool.close();
    }
  }
  return { map, consistent: problems.length === 0, problems };
}

test("consistent-hash on a header: sticky per user, spread over backends, minimal movement on add", async () => {
  const list = await backends("a", "b", "c", "d");
  const extra = await startBackend("e");
  // A pool hashing on a header cannot serve a TCP listener (config validation refuses it): HTTP only.
  const httpOnly = { listeners: [{ name: "http", protocol: "http", address: "127.0.0.1", port: 0, pool: "p" }] };
  const proxy = await proxyFor(list, { policy: "consistent-hash", hashKey: { header: "X-User" } }, httpOnly, [extra]);
  try {
    const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    // Three rounds, each on fresh connections (which the kernel spreads over both workers).
    const before = await mapUsers(proxy.url, users, 3);
    assert.ok(before.consistent, `a user changed backend between connections: ${before.problems.slice(0, 5).join("; ")}`);
    const perBackend = new Map<string, number>();
    for (const name of before.map.values()) perBackend.set(name, (perBackend.get(name) ?? 0) + 1);
    for (const b of list) {
      const n = perBackend.get(b.name) ?? 0;
      assert.ok(n >= 15, `backend ${b.name} owns only ${n} of 200 users (${show(perBackend)})`);
    }
    // What the backends saw agrees: each user's requests all arrived at one backend.
    for (const b of list) {
      for (const r of b.received) assert.is(before.map.get(String(r.headers["x-user"])), b.name);
    }

    proxy.balancer.addBackend("p", { address: extra.address, port: extra.port, weight: 1 });
    // Wait until both workers route with the new ring: the new backend is used and answers agree
    // across fresh connections.
    let after = await mapUsers(proxy.url, users, 2);
    const settled = await waitFor(async () => {
      after = await mapUsers(proxy.url, users, 2);
      return after.consistent && [...after.map.values()].includes("e");
    }, 10_000, 50);
    assert.ok(settled, `routing did not settle after adding a backend: ${after.problems.slice(0, 5).join("; ")}`);

    const moved = users.filter((u) => after.map.get(u) !== before.map.get(u));
    const wrong = moved.filter((u) => after.map.get(u) !== "e");
    assert.equal(wrong.map((u) => `${u}: ${before.map.get(u)} -> ${after.map.get(u)}`), [], "a moved user went somewhere other than the new backend");
    assert.ok(moved.length > 0, "no user moved to the new backend");
    // One backend in five: about 40 of 200 users; a minority in any case.
    assert.ok(moved.length < users.length / 2, `${moved.length} of ${users.length} users moved`);
  } finally {
    await proxy.stop();
    await closeAll([...list, extra]);
  }
});

test("consistent-hash on the client address, TCP mode: every connection from 127.0.0.1 lands on one backend", async () => {
  const list = await backends("a", "b", "c", "d");
  const proxy = await proxyFor(list, { policy: "consistent-hash" });
  try {
    const seen: string[] = [];
    for (let i = 0; i < 16; i++) {
      const t = await rawRequest(proxy.tcpPort, `GET /tcp${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, {
        waitMs: 5000,
      });
      const [response] = parseResponses(t.text);
      assert.ok(response !== undefined, `connection ${i}: no response (${JSON.stringify(t.text)})`);
      assert.is(response.status, 200);
      seen.push(response.headers["x-backend"]);
    }
    assert.is(new Set(seen).size, 1, `connections went to ${[...new Set(seen)].join(", ")}`);
    const owner = list.find((b) => b.name === seen[0])!;
    assert.is(owner.connections(), 16);
    for (const b of list) if (b !== owner) assert.is(b.received.length, 0, `${b.name} got traffic`);
  } finally {
    await proxy.stop();
    await closeAll(list);
  }
});

// ---- slow start ----------------------------------------------------------------------------------

test("slow start: a backend added at run time gets a smaller share at first than later", async () => {
  const list = await backends("a", "b");
  const late = await startBackend("late");
  const slowStartMs = 4000;
  const proxy = await proxyFor(list, { policy: "round-robin", slowStartMs }, {}, [late]);
  try {
    // Warm the proxy's connections to the first two.
    await spread(proxy.url, 50, 4);
    const status = proxy.balancer.addBackend("p", { address: late.address, port: late.port, weight: 1 });
    const added = status.backends.find((b) => b.id === late.id);
    assert.ok(added !== undefined && added.warmUntil !== null, "the new backend is not warming up");

    // The first window starts once the new backend is in use at all.
    const inUse = await waitFor(async () => {
      await spread(proxy.url, 20, 4);
      return late.received.length > 0;
    }, 5000, 0);
    assert.ok(inUse, "the added backend never got a request");
    const early = await spread(proxy.url, 300, 4);

    // The second window once the warm-up is over.
    const warm = await waitFor(() => proxy.balancer.pool("p").backends.find((b) => b.id === late.id)?.warmUntil === null, slowStartMs + 5000, 50);
    assert.ok(warm, "warm-up never ended");
    await sleep(50);
    const later = await spread(proxy.url, 300, 4);

    const s1 = share(early, "late");
    const s2 = share(later, "late");
    assert.ok(Math.abs(s2 - 1 / 3) <= 0.05, `after warm-up the share is ${s2.toFixed(3)}, expected 1/3 (${show(later)})`);
    assert.ok(s1 < s2 * 0.6, `share while warming ${s1.toFixed(3)} (${show(early)}) vs after ${s2.toFixed(3)} (${show(later)})`);
  } finally {
    await proxy.stop();
    await closeAll([...list, late]);
  }
});

test.run();
