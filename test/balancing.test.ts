import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  createPicker,
  consistentHash,
  hash32,
  leastRequest,
  randomPick,
  roundRobin,
  type Candidate,
  type PickRequest,
  type Picker,
} from "../native-free-core/balancing/index.ts";
import type { HashKey, PolicyName } from "../native-free-core/config.ts";

interface TestBackend extends Candidate {
  active: number;
}

function backend(id: string, weight = 1, warmUntil = 0, warmupMs = 0): TestBackend {
  return { id, weight, warmUntil, warmupMs, active: 0 };
}

/** mulberry32: a small seeded PRNG so the random policies' runs are reproducible. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REQ: PickRequest = { clientAddress: "192.0.2.1", hashHeader: undefined };
const CLIENT: HashKey = { kind: "client-address" };
const NOW = 1_000_000;

function counts<B extends Candidate>(
  picker: Picker<B>,
  picks: number,
  now = NOW,
  avoid?: B,
  request: PickRequest = REQ,
): Map<string, number> {
  const result = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const b = picker.pick(request, now, avoid);
    assert.ok(b, "a pick from a non-empty list");
    result.set(b.id, (result.get(b.id) ?? 0) + 1);
  }
  return result;
}

function assertWithin(actual: number, expected: number, fraction: number, what: string): void {
  const lo = expected * (1 - fraction);
  const hi = expected * (1 + fraction);
  assert.ok(actual >= lo && actual <= hi, `${what}: ${actual} not within ${expected} ±${fraction * 100}%`);
}

// ---------------------------------------------------------------------------------------------
// Round robin

test("round robin: weights 1:2:3 give exactly 100/200/300 of 600 picks", () => {
  const picker = roundRobin([backend("a", 1), backend("b", 2), backend("c", 3)]);
  const c = counts(picker, 600);
  assert.equal(Object.fromEntries(c), { a: 100, b: 200, c: 300 });
});

test("round robin: smooth interleaving within one period", () => {
  const picker = roundRobin([backend("a", 1), backend("b", 2), backend("c", 3)]);
  const seq = Array.from({ length: 12 }, () => picker.pick(REQ, NOW)!.id).join("");
  // Interleaved rather than bursting, repeating every total-weight (6) picks.
  assert.is(seq, "cbacbccbacbc");
});

test("round robin: equal weights cycle in order", () => {
  const picker = roundRobin([backend("a"), backend("b"), backend("c"), backend("d")]);
  const seq = Array.from({ length: 12 }, () => picker.pick(REQ, NOW)!.id).join("");
  assert.is(seq, "abcdabcdabcd");
});

test("round robin: same sequence of calls gives the same picks", () => {
  const make = () => roundRobin([backend("a", 3), backend("b", 5), backend("c", 7)]);
  const p1 = make();
  const p2 = make();
  for (let i = 0; i < 500; i++) assert.is(p1.pick(REQ, NOW + i)!.id, p2.pick(REQ, NOW + i)!.id);
});

test("round robin: slow start gives a warming backend a growing share", () => {
  const warmupMs = 10_000;
  const start = NOW;
  const steady = backend("steady");
  const warming = backend("warming", 1, start + warmupMs, warmupMs);
  const picker = roundRobin([steady, warming]);
  // Effective weights 1 : 0.1, 1 : 0.5, 1 : 1 at the start, middle and end of the warm-up.
  const early = counts(picker, 1100, start).get("warming") ?? 0;
  const middle = counts(picker, 1500, start + warmupMs / 2).get("warming") ?? 0;
  const done = counts(picker, 1000, start + warmupMs).get("warming") ?? 0;
  assertWithin(early, 100, 0.02, "warming share at start (≈1/11)");
  assertWithin(middle, 500, 0.02, "warming share halfway (≈1/3)");
  assertWithin(done, 500, 0.01, "warming share when warm (1/2)");
  assert.ok(early / 1100 < middle / 1500 && middle / 1500 < done / 1000, "the share grows");
});

// ---------------------------------------------------------------------------------------------
// Least request

test("least request: prefers the backend with fewer active requests", () => {
  const busy = backend("busy");
  const idle = backend("idle");
  busy.active = 10;
  idle.active = 1;
  const picker = leastRequest([busy, idle], seeded(1));
  // With two candidates both are always drawn, so the less loaded one always wins.
  assert.equal(Object.fromEntries(counts(picker, 1000)), { idle: 1000 });
});

test("least request: loaded backend gets fewer picks among many", () => {
  const list = [backend("a"), backend("b"), backend("c"), backend("d")];
  list[0].active = 5;
  const picker = leastRequest(list, seeded(2));
  const c = counts(picker, 30_000);
  // Any draw that includes "a" pairs it with an idle backend, so "a" never wins.
  assert.is(c.get("a") ?? 0, 0);
  for (const id of ["b", "c", "d"]) assertWithin(c.get(id)!, 10_000, 0.1, id);
});

test("least request: spreads evenly when loads are equal (±10% over 30k picks)", () => {
  const list = [backend("a"), backend("b"), backend("c"), backend("d"), backend("e")];
  const picker = leastRequest(list, seeded(3));
  const c = counts(picker, 30_000);
  for (const b of list) assertWithin(c.get(b.id)!, 6000, 0.1, b.id);
});

test("least request: weights divide the load", () => {
  const light = backend("light", 1);
  const heavy = backend("heavy", 4);
  light.active = 2; // (2+1)/1 = 3
  heavy.active = 8; // (8+1)/4 = 2.25
  const picker = leastRequest([light, heavy], seeded(4));
  assert.is(picker.pick(REQ, NOW)!.id, "heavy");
});

test("least request: ties go to the first draw", () => {
  const a = backend("a");
  const b = backend("b");
  // random() = 0 draws index 0 first, then the other one.
  assert.is(leastRequest([a, b], () => 0).pick(REQ, NOW)!.id, "a");
  // random() = 0.99 draws index 1 first.
  assert.is(leastRequest([a, b], () => 0.99).pick(REQ, NOW)!.id, "b");
});

test("least request: one candidate is returned as is", () => {
  const only = backend("only");
  only.active = 100;
  assert.is(leastRequest([only], seeded(5)).pick(REQ, NOW), only);
});

// ---------------------------------------------------------------------------------------------
// Consistent hash

function fourBackends(): TestBackend[] {
  return [1, 2, 3, 4].map((n) => backend(`10.0.0.${n}:8080`));
}

function keys(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`172.16.${(i >> 8) & 0xff}.${i & 0xff}`);
  return out;
}

function assignments<B extends Candidate>(picker: Picker<B>, ks: readonly string[]): string[] {
  return ks.map((k) => picker.pick({ clientAddress: k, hashHeader: undefined }, NOW)!.id);
}

test("hash32: deterministic unsigned 32-bit values that differ for near inputs", () => {
  assert.is(hash32("abc"), hash32("abc"));
  for (const s of ["", "a", "ab", "abc", "10.0.0.1:8080#0", "ünïcödé"]) {
    const h = hash32(s);
    assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff, `${s} -> ${h}`);
  }
  assert.is.not(hash32("a#1"), hash32("a#2"));
  assert.is.not(hash32("ab"), hash32("ba"));
  assert.is.not(hash32("a"), hash32("a\u0000"));
  // Well distributed: the top 4 bits of 16k sequential keys fill 16 buckets evenly.
  const buckets = new Array(16).fill(0);
  for (let i = 0; i < 16_000; i++) buckets[hash32(`key-${i}`) >>> 28]++;
  for (const n of buckets) assertWithin(n, 1000, 0.15, "hash bucket");
});

test("consistent hash: the same key always maps to the same backend", () => {
  const list = fourBackends();
  const picker = consistentHash(list, CLIENT);
  const rebuilt = consistentHash(list.slice().reverse(), CLIENT);
  for (const k of keys(500)) {
    const req = { clientAddress: k, hashHeader: undefined };
    const first = picker.pick(req, NOW)!;
    for (let i = 0; i < 3; i++) assert.is(picker.pick(req, NOW + i * 1000), first);
    // The ring depends on the ids, not on the order of the list.
    assert.is(rebuilt.pick(req, NOW), first);
  }
});

test("consistent hash: 10k keys spread within ±25% of the mean over 4 backends", () => {
  const c = new Map<string, number>();
  for (const id of assignments(consistentHash(fourBackends(), CLIENT), keys(10_000))) {
    c.set(id, (c.get(id) ?? 0) + 1);
  }
  assert.is(c.size, 4);
  for (const [id, n] of c) assertWithin(n, 2500, 0.25, id);
});

test("consistent hash: weights scale a backend's share of the ring", () => {
  const list = [backend("10.0.0.1:8080", 1), backend("10.0.0.2:8080", 3)];
  const ids = assignments(consistentHash(list, CLIENT), keys(10_000));
  const heavy = ids.filter((id) => id === "10.0.0.2:8080").length;
  assertWithin(heavy, 7500, 0.1, "weight-3 backend share");
});

test("consistent hash: adding a 5th backend moves about 1/5 of keys, all onto the new one", () => {
  const ks = keys(10_000);
  const list = fourBackends();
  const before = assignments(consistentHash(list, CLIENT), ks);
  const added = backend("10.0.0.5:8080");
  const after = assignments(consistentHash([...list, added], CLIENT), ks);
  let moved = 0;
  for (let i = 0; i < ks.length; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    assert.is(after[i], added.id, `key ${ks[i]} moved from ${before[i]} to ${after[i]}`);
  }
  const fraction = moved / ks.length;
  assert.ok(fraction >= 0.12 && fraction <= 0.28, `moved fraction ${fraction}`);
});

test("consistent hash: removing a backend moves only the keys it had", () => {
  const ks = keys(10_000);
  const list = fourBackends();
  const before = assignments(consistentHash(list, CLIENT), ks);
  const removed = list[2];
  const after = assignments(consistentHash(list.filter((b) => b !== removed), CLIENT), ks);
  let moved = 0;
  for (let i = 0; i < ks.length; i++) {
    if (before[i] === removed.id) {
      moved++;
      assert.is.not(after[i], removed.id);
    } else {
      assert.is(after[i], before[i], `key ${ks[i]} should not move`);
    }
  }
  assert.ok(moved > 1500, `removed backend owned ${moved} keys`);
});

test("consistent hash: header key uses the header and falls back to the client address", () => {
  const list = fourBackends();
  const byHeader = consistentHash(list, { kind: "header", name: "x-user" });
  const byClient = consistentHash(list, CLIENT);
  let differs = 0;
  for (const k of keys(300)) {
    const user = `user-${k}`;
    // The header decides, whatever the client address.
    const a = byHeader.pick({ clientAddress: "198.51.100.1", hashHeader: user }, NOW)!;
    const b = byHeader.pick({ clientAddress: "198.51.100.2", hashHeader: user }, NOW)!;
    assert.is(a, b);
    assert.is(a, byClient.pick({ clientAddress: user, hashHeader: undefined }, NOW));
    // Without the header, the client address decides.
    const fallback = byHeader.pick({ clientAddress: k, hashHeader: undefined }, NOW)!;
    assert.is(fallback, byClient.pick({ clientAddress: k, hashHeader: undefined }, NOW));
    if (fallback !== a) differs++;
  }
  assert.ok(differs > 100, "header and address keys are not the same key");
  // A client-address pool ignores the header.
  const withHeader = byClient.pick({ clientAddress: "203.0.113.9", hashHeader: "user-1" }, NOW);
  assert.is(withHeader, byClient.pick({ clientAddress: "203.0.113.9", hashHeader: undefined }, NOW));
});

test("consistent hash: avoid walks to the next backend, where the key goes without it", () => {
  const list = fourBackends();
  const picker = consistentHash(list, CLIENT);
  for (const k of keys(1000)) {
    const req = { clientAddress: k, hashHeader: undefined };
    const owner = picker.pick(req, NOW)!;
    const next = picker.pick(req, NOW, owner)!;
    assert.is.not(next, owner);
    const without = consistentHash(list.filter((b) => b !== owner), CLIENT).pick(req, NOW)!;
    assert.is(next.id, without.id);
    // Avoiding some other backend changes nothing.
    const other = list.find((b) => b !== owner)!;
    assert.is(picker.pick(req, NOW, other), owner);
  }
});

// ---------------------------------------------------------------------------------------------
// Random

test("random: respects weights 1:2:7 within 5% over 50k picks", () => {
  const list = [backend("a", 1), backend("b", 2), backend("c", 7)];
  const c = counts(randomPick(list, seeded(6)), 50_000);
  assertWithin(c.get("a")!, 5000, 0.05, "a");
  assertWithin(c.get("b")!, 10_000, 0.05, "b");
  assertWithin(c.get("c")!, 35_000, 0.05, "c");
});

test("random: slow start shrinks a warming backend's share, then restores it", () => {
  const warmupMs = 10_000;
  const warming = backend("warming", 1, NOW + warmupMs, warmupMs);
  const picker = randomPick([backend("steady"), warming], seeded(7));
  const early = counts(picker, 22_000, NOW).get("warming")!; // 0.1 / 1.1
  const middle = counts(picker, 30_000, NOW + warmupMs / 2).get("warming")!; // 0.5 / 1.5
  const done = counts(picker, 20_000, NOW + warmupMs).get("warming")!; // 1 / 2
  assertWithin(early, 2000, 0.1, "early");
  assertWithin(middle, 10_000, 0.05, "middle");
  assertWithin(done, 10_000, 0.05, "done");
  // And it stays at full weight afterwards (the cached sums).
  assertWithin(counts(picker, 20_000, NOW + 10 * warmupMs).get("warming")!, 10_000, 0.05, "later");
});

test("random: uses the given random source at the edges", () => {
  const list = [backend("a", 1), backend("b", 1), backend("c", 2)];
  assert.is(randomPick(list, () => 0).pick(REQ, NOW)!.id, "a");
  assert.is(randomPick(list, () => 0.3).pick(REQ, NOW)!.id, "b");
  assert.is(randomPick(list, () => 0.999999).pick(REQ, NOW)!.id, "c");
  assert.is(randomPick(list, () => 1).pick(REQ, NOW)!.id, "c");
});

// ---------------------------------------------------------------------------------------------
// Shared behaviour

const POLICIES: PolicyName[] = ["round-robin", "least-request", "consistent-hash", "random"];

for (const policy of POLICIES) {
  test(`${policy}: avoid is never chosen while another candidate exists`, () => {
    const list = [backend("10.0.0.1:80", 1), backend("10.0.0.2:80", 2), backend("10.0.0.3:80", 3)];
    for (const avoid of list) {
      const picker = createPicker(policy, list, CLIENT);
      const seen = new Set<string>();
      for (let i = 0; i < 3000; i++) {
        const req = { clientAddress: `172.16.0.${i % 256}`, hashHeader: undefined };
        const b = picker.pick(req, NOW, avoid)!;
        assert.ok(b);
        assert.is.not(b, avoid, `${policy} chose the avoided ${avoid.id}`);
        seen.add(b.id);
      }
      // Least request with idle backends always prefers the heavier one, so only it shows up.
      if (policy !== "least-request") assert.is(seen.size, 2, `${policy} used both remaining backends`);
    }
    // Two candidates: avoiding one always gives the other.
    const pair = [backend("10.0.0.1:80"), backend("10.0.0.2:80")];
    const picker = createPicker(policy, pair, CLIENT);
    for (let i = 0; i < 200; i++) {
      assert.is(picker.pick({ clientAddress: `172.16.1.${i}`, hashHeader: undefined }, NOW, pair[0]), pair[1]);
    }
  });

  test(`${policy}: avoid is chosen when it is the only candidate`, () => {
    const only = backend("10.0.0.1:80");
    assert.is(createPicker(policy, [only], CLIENT).pick(REQ, NOW, only), only);
  });

  test(`${policy}: an empty candidate list returns undefined`, () => {
    const picker = createPicker<TestBackend>(policy, [], CLIENT);
    assert.is(picker.pick(REQ, NOW), undefined);
    assert.is(picker.pick(REQ, NOW, backend("10.0.0.1:80")), undefined);
  });
}

test("random: avoid splits the rest by weight", () => {
  const list = [backend("a", 1), backend("b", 2), backend("c", 3)];
  const c = counts(randomPick(list, seeded(8)), 30_000, NOW, list[1]);
  assert.is(c.get("b"), undefined);
  assertWithin(c.get("a")!, 7500, 0.05, "a");
  assertWithin(c.get("c")!, 22_500, 0.05, "c");
});

test("least request: avoid spreads over the rest when loads are equal", () => {
  const list = [backend("a"), backend("b"), backend("c"), backend("d")];
  for (const avoid of list) {
    const c = counts(leastRequest(list, seeded(9)), 30_000, NOW, avoid);
    assert.is(c.get(avoid.id), undefined);
    for (const b of list) if (b !== avoid) assertWithin(c.get(b.id)!, 10_000, 0.1, b.id);
  }
});

test("round robin: avoid keeps the rest in proportion", () => {
  const list = [backend("a", 1), backend("b", 2), backend("c", 3)];
  const c = counts(roundRobin(list), 400, NOW, list[2]);
  assert.equal(Object.fromEntries(c), { a: 133, b: 267 });
});

test("createPicker dispatches on the policy name", () => {
  const list = [backend("10.0.0.1:80"), backend("10.0.0.2:80"), backend("10.0.0.3:80")];
  const rr = createPicker("round-robin", list, CLIENT);
  assert.equal([1, 2, 3, 4].map(() => rr.pick(REQ, NOW)!.id), [list[0].id, list[1].id, list[2].id, list[0].id]);
  const ch = createPicker("consistent-hash", list, CLIENT);
  const owner = ch.pick(REQ, NOW);
  for (let i = 0; i < 10; i++) assert.is(ch.pick(REQ, NOW), owner);
  list[0].active = 50;
  assert.is(createPicker("least-request", list.slice(0, 2), CLIENT).pick(REQ, NOW), list[1]);
  assert.throws(() => createPicker("nope" as PolicyName, list, CLIENT), /unknown balancing policy/);
});

test.run();
