// The bench's round order and its round-by-round ratios (bench/measure/pairing.ts): each reference
// runs next to the rows compared with it, and a ratio is taken within rounds, never across them.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { pairedRatio, roundOrder } from "../bench/measure/pairing.ts";
import { largeBodiesLine } from "../bench/report/summary.ts";
import type { Target } from "../bench/peers/types.ts";
import type { RoundSample, TargetResult } from "../bench/report/model.ts";

const target = (id: string, mode: "http" | "tcp", reference?: string): Target => ({ id, label: id, mode, port: 1, pid: 1, reference });
const TARGETS = [
  target("haproxy-http", "http"),
  target("farmhand-http", "http"),
  target("haproxy-tcp", "tcp"),
  target("farmhand-tcp", "tcp"),
  target("farmhand-small", "http", "farmhand-small"),
  target("farmhand-small-large", "http", "farmhand-small"),
  target("farmhand-farm", "http", "haproxy-http-farm"),
  target("haproxy-post", "http"),
  target("farmhand-post", "http", "haproxy-post"),
  target("farmhand-post-checked", "http", "haproxy-post"),
];

test("each round runs a reference and its rows back to back; groups rotate, and alternate direction", () => {
  const ids = (round: number) => roundOrder(TARGETS, round).map((t) => t.id);
  // HAProxy's POST row is compared with its GET row, but leads the rows compared with it.
  assert.equal(ids(1), ["haproxy-http", "farmhand-http", "haproxy-tcp", "farmhand-tcp", "farmhand-small", "farmhand-small-large", "farmhand-farm", "haproxy-post", "farmhand-post", "farmhand-post-checked"]);
  assert.equal(ids(2), ["farmhand-tcp", "haproxy-tcp", "farmhand-small-large", "farmhand-small", "farmhand-farm", "farmhand-post-checked", "farmhand-post", "haproxy-post", "farmhand-http", "haproxy-http"]);
  assert.equal(ids(3), ["farmhand-small", "farmhand-small-large", "farmhand-farm", "haproxy-post", "farmhand-post", "farmhand-post-checked", "haproxy-http", "farmhand-http", "haproxy-tcp", "farmhand-tcp"]);
  for (let round = 1; round <= 8; round++) assert.is(new Set(ids(round)).size, TARGETS.length);
});

test("a ratio is the median of the rounds' own ratios, over the rounds both rows ran", () => {
  const sample = (round: number, cpu: number): RoundSample =>
    ({ round, cpuUsPerRequest: cpu, load: { rps: 1 } }) as unknown as RoundSample;
  // Round 2 ran the row while the machine was busier than for its reference: the ratio of medians
  // would be 30 / 20 = 1.5; within rounds the row costs 1.1x, 1.5x and 1.0x its reference. Round 4
  // has no reference to pair with.
  const reference = [sample(1, 10), sample(2, 20), sample(3, 40)];
  const row = [sample(1, 11), sample(2, 30), sample(3, 40), sample(4, 5)];
  assert.ok(Math.abs(pairedRatio(row, reference, (s) => s.cpuUsPerRequest)! - 1.1) < 1e-9);
  assert.is(pairedRatio(row, [], (s) => s.cpuUsPerRequest), null);
  assert.is(pairedRatio(row, [sample(1, 0)], (s) => s.cpuUsPerRequest), null);
});

test("the large-bodies line compares checked with unchecked, and each with the small requests alone, round by round; HAProxy's the same way", () => {
  const row = (id: string, p99s: number[]) =>
    ({ id, rounds: p99s.map((p99Ms, i) => ({ round: i + 1, load: { p99Ms } })) }) as unknown as TargetResult;
  const farmhand = [row("farmhand-small", [4, 4, 8]), row("farmhand-small-large-unchecked", [8, 9, 16]), row("farmhand-small-large-checked", [8, 18, 17.6])];
  const line = largeBodiesLine([...farmhand, row("haproxy-http", [2, 3, 4]), row("haproxy-small-large", [3, 6, 7])]);
  assert.is(line, "large bodies: small-request p99 1.10x while checked over unchecked; over alone 2.00x unchecked, 2.20x checked, 1.75x through HAProxy");
  assert.is(largeBodiesLine(farmhand), "large bodies: small-request p99 1.10x while checked over unchecked; over alone 2.00x unchecked, 2.20x checked, n/a through HAProxy");
  assert.is(largeBodiesLine([row("farmhand-small", [4])]), null);
});

test.run();
