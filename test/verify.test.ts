// `farmhand verify` explores every placement of up to K VM failures in simulation: the example farm
// keeps its invariants with two; a farm that leaves payments (which every order replica imports)
// unhealed does not with one, and the counterexample it writes replays to the same violation.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EXAMPLE, ROOT, farmhand, newHome } from "./helpers/farm-cli.ts";

const UNHEALED = path.join(ROOT, "test/fixtures/sim/payments-unhealed/farm.ts");
const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-verify-"));
const home = newHome();

test("the example farm keeps every invariant under every placement of up to two failures", () => {
  const out = path.join(dir, "none.json");
  const run = farmhand(home, ["verify", EXAMPLE, "--failures", "2", "--threads", "2", "--out", out]);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^verify: farm order-processing, up to 2 failure\(s\), invariants within 30s, 2 thread\(s\)$/m);
  assert.match(run.stdout, /^ {2}1 failure\(s\): \d+ run\(s\)/m);
  assert.match(run.stdout, /^ {2}2 failure\(s\): \d+ run\(s\), \d+ stopped at a state already explored$/m);
  assert.match(run.stdout, /verify: passed: every placement of up to 2 failure\(s\) keeps the invariants/);
  // Levels 1 and 2 explored something: a crash of every VM at least.
  const level1 = Number(/^ {2}1 failure\(s\): (\d+) run/m.exec(run.stdout)![1]);
  assert.ok(level1 >= 6, run.stdout);
});

test("payments unhealed: up to two failures give the shortest counterexample (one failure), written as a schedule that replays to the same violation", () => {
  const out = path.join(dir, "counterexample.json");
  const run = farmhand(home, ["verify", UNHEALED, "--failures", "2", "--out", out]);
  assert.is(run.code, 1, run.stdout + run.stderr);
  assert.match(run.stdout, /verify: FAILED after \d+ runs .*: imports: orders-\d import payments: points at http:\/\/[\d.]+:8080, where no VM runs, for more than 30s/);
  assert.match(run.stdout, /counterexample, 1 failure\(s\):\n {2}turn \d+: payments-1 crashes/);
  const schedule = JSON.parse(readFileSync(out, "utf8")) as { format: string; faults: { vm: string; kind: string; turn: number }[]; violation: { invariant: string; subject: string } };
  assert.is(schedule.format, "farmhand-schedule/1");
  assert.equal(schedule.faults.map((f) => [f.vm, f.kind]), [["payments-1", "crash"]]);
  assert.is(schedule.violation.invariant, "imports");
  assert.match(schedule.violation.subject, /^orders-\d import payments$/);

  const replay = farmhand(home, ["simulate", UNHEALED, "--replay", out]);
  assert.is(replay.code, 1, replay.stderr);
  assert.match(replay.stdout, /\(replaying a schedule\)/);
  assert.match(replay.stdout, new RegExp(`fault \\(turn ${schedule.faults[0].turn}\\): payments-1 crashes`));
  assert.match(replay.stdout, /VIOLATION imports: orders-\d import payments: points at .* where no VM runs/);
  assert.match(replay.stdout, /replay: the violation is reproduced: orders-\d import payments/);

  // The replay checks what it plays: without the failure, the violation does not come back, and it says so.
  const edited = path.join(dir, "no-failure.json");
  writeFileSync(edited, JSON.stringify({ ...schedule, faults: [] }));
  const again = farmhand(home, ["simulate", UNHEALED, "--replay", edited]);
  assert.is(again.code, 1, again.stderr);
  assert.match(again.stdout, /replay: the violation did NOT happen again/);
  assert.match(again.stdout, /0 invariant violation\(s\)/);
});

test("a schedule that is not one, or flags beside it, are refused", () => {
  const bad = path.join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({
    format: "farmhand-schedule/1", script: UNHEALED, farm: "payments-unhealed", seed: -1, durationMs: 60_000, boundMs: 30_000,
    world: { bootMs: 1000, stopMs: 200, jitter: 0 }, reconciler: {}, demand: null, faults: [], teardownTurn: null, violation: null,
  }));
  let run = farmhand(home, ["simulate", UNHEALED, "--replay", bad]);
  assert.is(run.code, 2);
  assert.match(run.stderr, /bad\.json: seed: expected a whole number, 0 or more \(got -1\)/);
  run = farmhand(home, ["simulate", UNHEALED, "--replay", bad, "--seed", "3"]);
  assert.is(run.code, 2);
  assert.match(run.stderr, /--replay: expected a schedule alone.*drop --seed/);
  run = farmhand(home, ["verify", UNHEALED, "--failures", "many"]);
  assert.is(run.code, 2);
  assert.match(run.stderr, /--failures: expected a whole number of failures/);
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

test.run();
