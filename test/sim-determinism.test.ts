// The same seed gives the same event log, byte for byte: `farmhand simulate` run twice, each time in
// a process of its own, with a demand trace and failures of every kind. Another seed gives another
// log (so the comparison has something to catch).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EXAMPLE, farmhand, newHome } from "./helpers/farm-cli.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-sim-"));
const home = newHome();
const trace = path.join(dir, "demand.csv");
writeFileSync(trace, "seconds,rps\n0,20\n600,160\n1800,40\n3000,400\n3300,10\n");
const args = (seed: string, ...more: string[]) => [
  "simulate", EXAMPLE, "--seed", seed, "--duration", "90m", "--trace", trace,
  "--fail", "orders-2@20m", "--fail", "payments-1@25m:hang", "--fail", "web-1@40m:dies", "--fail", "orders-balancer-1@50m", ...more,
];

test("the same seed, twice, in two processes: the same log and topology, to the byte (text and JSON)", () => {
  const text = [farmhand(home, args("42")), farmhand(home, args("42"))];
  for (const run of text) assert.is(run.code, 0, run.stderr);
  assert.is(text[1].stdout, text[0].stdout);
  // Something happened worth repeating: the failures were injected and healed, the group resized.
  const log = text[0].stdout;
  for (const line of [/FAILED orders-2 \(orders\): crashed \(simulated\)/, /healed payments-1/, /healed web-1/, /healed orders-balancer-1/, /autoscale orders-balancer-1: \d -> [3-8] replicas/, /teardown: nothing is left/]) {
    assert.match(log, line);
  }

  // The JSON log holds every autoscale evaluation (one a second): a shorter run keeps it small.
  const json = [farmhand(home, args("42", "--json", "--duration", "21m")), farmhand(home, args("42", "--json", "--duration", "21m"))];
  for (const run of json) assert.is(run.code, 0, run.stderr);
  assert.is(json[1].stdout, json[0].stdout);
  const parsed = JSON.parse(json[0].stdout) as { seed: number; log: { kind: string }[] };
  assert.is(parsed.seed, 42);
  assert.is(parsed.log.filter((e) => e.kind === "fault").length, 1, "one failure falls within 21m");
});

test("another seed, another log: boot times and picks come from the seed", () => {
  const a = farmhand(home, args("1"));
  const b = farmhand(home, args("2"));
  assert.is(a.code, 0, a.stderr);
  assert.is(b.code, 0, b.stderr);
  assert.is.not(a.stdout, b.stdout);
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

test.run();
