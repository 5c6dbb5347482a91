import { test } from "uvu";
import * as assert from "uvu/assert";
import type { OutlierDetectionOptions } from "../native-free-core/config.ts";
import { OutlierDetector } from "../native-free-core/health/outlier-detector.ts";

const BASE = 1_000;

function options(over: Partial<OutlierDetectionOptions> = {}): OutlierDetectionOptions {
  return {
    consecutive5xx: 5,
    consecutiveConnectFailures: 3,
    baseEjectionMs: BASE,
    maxEjectionMs: 3_500,
    maxEjectedPercent: 50,
    ...over,
  };
}

function detector(ids: string[], over: Partial<OutlierDetectionOptions> = {}): OutlierDetector {
  const d = new OutlierDetector(options(over));
  d.setBackends(ids);
  return d;
}

test("a report ejects for the base time and tick releases it", () => {
  const d = detector(["a", "b", "c", "d"]);
  assert.is(d.nextDeadline(), Infinity);
  assert.ok(d.report("a", "5xx", 100));
  assert.ok(d.isEjected("a"));
  assert.not.ok(d.isEjected("b"));
  assert.is(d.ejectedUntil("a"), 100 + BASE);
  assert.is(d.ejectedUntil("b"), 0);
  assert.is(d.ejectionCount("a"), 1);
  assert.equal(d.ejectedIds(), ["a"]);
  assert.is(d.nextDeadline(), 100 + BASE);

  assert.equal(d.tick(100 + BASE - 1), []);
  assert.ok(d.isEjected("a"));
  assert.equal(d.tick(100 + BASE), ["a"]);
  assert.not.ok(d.isEjected("a"));
  assert.is(d.ejectedUntil("a"), 0);
  assert.is(d.nextDeadline(), Infinity);
  assert.equal(d.tick(100 + BASE + 1), []);
  assert.is(d.ejectionCount("a"), 1);
});

test("connect failures eject too", () => {
  const d = detector(["a", "b"]);
  assert.ok(d.report("b", "connect-failure", 0));
  assert.ok(d.isEjected("b"));
});

test("a report about an ejected or unknown backend returns false", () => {
  const d = detector(["a", "b", "c", "d"]);
  assert.ok(d.report("a", "5xx", 0));
  assert.not.ok(d.report("a", "5xx", 10));
  assert.not.ok(d.report("a", "connect-failure", 10));
  assert.is(d.ejectedUntil("a"), BASE, "a repeated report does not extend the ejection");
  assert.is(d.ejectionCount("a"), 1);
  // Still ejected past its end until tick() releases it.
  assert.not.ok(d.report("a", "5xx", BASE + 5));
  assert.not.ok(d.report("nobody", "5xx", 0));
  assert.is(d.ejectionCount("nobody"), 0);
  assert.not.ok(d.isEjected("nobody"));
});

test("repeated ejections grow by one base each, capped at maxEjectionMs", () => {
  const d = detector(["a", "b"]);
  let now = 0;
  const lengths: number[] = [];
  for (let i = 0; i < 6; i++) {
    assert.ok(d.report("a", "5xx", now));
    lengths.push(d.ejectedUntil("a") - now);
    now = d.ejectedUntil("a");
    assert.equal(d.tick(now), ["a"]);
  }
  assert.equal(lengths, [BASE, 2 * BASE, 3 * BASE, 3_500, 3_500, 3_500]);
  assert.is(d.ejectionCount("a"), 6);
});

test("the multiplier decays by one per full base time un-ejected", () => {
  const d = detector(["a", "b"], { maxEjectionMs: 100_000 });
  let now = 0;
  for (let i = 0; i < 3; i++) {
    d.report("a", "5xx", now);
    now = d.ejectedUntil("a");
    d.tick(now);
  }
  // Multiplier is 3 now. Less than one base un-ejected: no decay, the next ejection is 4 bases.
  now += BASE - 1;
  d.tick(now);
  d.report("a", "5xx", now);
  assert.is(d.ejectedUntil("a") - now, 4 * BASE);
  now = d.ejectedUntil("a");
  d.tick(now);

  // Multiplier 4; two full bases un-ejected (with ticks in between): 4 - 2 + 1 = 3 bases.
  d.tick(now + BASE / 2);
  d.tick(now + BASE + 1);
  now += 2 * BASE + BASE / 2;
  d.tick(now);
  d.report("a", "5xx", now);
  assert.is(d.ejectedUntil("a") - now, 3 * BASE);
  now = d.ejectedUntil("a");
  d.tick(now);

  // Multiplier 3; long good behaviour with no tick at all (decay is applied on report too): back to base.
  now += 50 * BASE;
  assert.ok(d.report("a", "5xx", now));
  assert.is(d.ejectedUntil("a") - now, BASE);
  assert.is(d.ejectionCount("a"), 6);
});

test("time spent ejected does not count as good behaviour", () => {
  const d = detector(["a", "b"], { maxEjectionMs: 100_000 });
  d.report("a", "5xx", 0);
  // Released late, long after the ejection's end: decay counts from the release.
  assert.equal(d.tick(10 * BASE), ["a"]);
  assert.ok(d.report("a", "5xx", 10 * BASE + 10));
  assert.is(d.ejectedUntil("a") - (10 * BASE + 10), 2 * BASE);
});

test("maxEjectedPercent: 4 backends at 50% eject two, the third is refused", () => {
  const d = detector(["a", "b", "c", "d"], { maxEjectedPercent: 50 });
  assert.ok(d.report("a", "5xx", 0));
  assert.ok(d.report("b", "5xx", 0));
  assert.not.ok(d.report("c", "5xx", 0));
  assert.not.ok(d.isEjected("c"));
  assert.is(d.ejectionCount("c"), 0);
  assert.equal(d.ejectedIds(), ["a", "b"]);
  // Once one is released there is room again.
  assert.equal(d.tick(BASE), ["a", "b"]);
  assert.ok(d.report("c", "5xx", BASE));
});

test("maxEjectedPercent: one ejection is always allowed in a pool of two or more", () => {
  const two = detector(["a", "b"], { maxEjectedPercent: 10 });
  assert.ok(two.report("a", "5xx", 0));
  assert.not.ok(two.report("b", "5xx", 0));

  const zero = detector(["a", "b", "c"], { maxEjectedPercent: 0 });
  assert.ok(zero.report("c", "connect-failure", 0));
  assert.not.ok(zero.report("a", "connect-failure", 0));

  const ten = detector(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"], { maxEjectedPercent: 20 });
  assert.ok(ten.report("a", "5xx", 0));
  assert.ok(ten.report("b", "5xx", 0));
  assert.not.ok(ten.report("c", "5xx", 0), "floor(11 * 20%) = 2");
});

test("a lone backend is never ejected below 100%", () => {
  const d = detector(["a"], { maxEjectedPercent: 50 });
  assert.not.ok(d.report("a", "5xx", 0));
  const all = detector(["a"], { maxEjectedPercent: 100 });
  assert.ok(all.report("a", "5xx", 0));
});

test("a reason whose threshold is 0 is disabled", () => {
  const d = detector(["a", "b"], { consecutive5xx: 0 });
  assert.not.ok(d.report("a", "5xx", 0));
  assert.ok(d.report("a", "connect-failure", 0));
  const e = detector(["a", "b"], { consecutiveConnectFailures: 0 });
  assert.not.ok(e.report("a", "connect-failure", 0));
  assert.ok(e.report("a", "5xx", 0));
});

test("setBackends forgets removed backends and keeps the state of kept ones", () => {
  const d = detector(["a", "b", "c", "d"], { maxEjectedPercent: 50 });
  assert.ok(d.report("a", "5xx", 0));
  d.tick(BASE);
  assert.ok(d.report("a", "5xx", BASE)); // second ejection: 2 bases
  assert.ok(d.report("b", "5xx", BASE));
  assert.is(d.ejectedUntil("a"), 3 * BASE);

  d.setBackends(["a", "c", "d", "e"]);
  assert.not.ok(d.isEjected("b"));
  assert.is(d.ejectedUntil("b"), 0);
  assert.is(d.ejectionCount("b"), 0);
  assert.ok(d.isEjected("a"), "a kept backend stays ejected");
  assert.is(d.ejectedUntil("a"), 3 * BASE);
  assert.is(d.ejectionCount("a"), 2);
  assert.is(d.nextDeadline(), 3 * BASE);

  // b's slot is free again: with a ejected, one more of four fits under 50%.
  assert.ok(d.report("e", "5xx", BASE + 1));
  assert.not.ok(d.report("c", "5xx", BASE + 1));

  // A removed ejected backend is never returned by tick.
  d.setBackends(["c", "d", "e"]);
  assert.equal(d.tick(10 * BASE), ["e"]);

  // Coming back, a backend starts from scratch.
  d.setBackends(["a", "c", "d", "e"]);
  assert.is(d.ejectionCount("a"), 0);
  assert.ok(d.report("a", "5xx", 10 * BASE));
  assert.is(d.ejectedUntil("a"), 11 * BASE);
});

test("nextDeadline is the earliest ejection end", () => {
  const d = detector(["a", "b", "c", "d"], { maxEjectedPercent: 100 });
  d.report("a", "5xx", 500);
  d.report("b", "5xx", 100);
  assert.is(d.nextDeadline(), 100 + BASE);
  assert.equal(d.tick(100 + BASE), ["b"]);
  assert.is(d.nextDeadline(), 500 + BASE);
  assert.equal(d.tick(500 + BASE), ["a"]);
  assert.is(d.nextDeadline(), Infinity);
});

test.run();
