// `farmhand simulate` from the command line: a demand trace (CSV) drives the autoscaler, --fail
// injects failures by name and time, --svg draws the timeline; bad input is refused before anything
// runs, naming what is wrong and where (file:line of a trace, the VM a failure names).

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EXAMPLE, farmhand, newHome } from "./helpers/farm-cli.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-sim-"));
const home = newHome();
const file = (name: string, text: string) => {
  const at = path.join(dir, name);
  writeFileSync(at, text);
  return at;
};
const simulate = (...args: string[]) => farmhand(home, ["simulate", EXAMPLE, ...args]);

test("a demand trace drives the autoscaler: up to three replicas under 150 rps, back to two when it falls", () => {
  const trace = file("step.csv", "# a step\nseconds,rps\n0,0\n60,150\n300,10\n");
  const run = simulate("--duration", "10m", "--trace", trace);
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stdout, /autoscale orders-balancer-1: 2 -> 3 replicas \(demand 150/);
  assert.match(run.stdout, /started orders-3 \(orders\)/);
  assert.match(run.stdout, /autoscale orders-balancer-1: 3 -> 2 replicas/);
  assert.match(run.stdout, /removed orders-3/);
  // Demand stepped up at 60 s: nothing grew before it.
  const grew = /^\+0:(\d\d):(\d\d)\.\d+ +autoscale orders-balancer-1: 2 -> 3/m.exec(run.stdout)!;
  assert.ok(Number(grew[1]) * 60 + Number(grew[2]) >= 60, grew[0]);
  assert.match(run.stdout, /0 invariant violation\(s\)/);
});

test("--fail crashes a VM at a virtual time, and the farm heals it; a hang is found by probes", () => {
  const run = simulate("--duration", "5m", "--fail", "orders-2@2m", "--fail", "inventory-1@3m:hang");
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stdout, /^\+0:02:00\.000 +fault \(turn \d+\): orders-2 crashes$/m);
  assert.match(run.stdout, /^\+0:02:00\.000 +FAILED orders-2 \(orders\): crashed \(simulated\)$/m);
  assert.match(run.stdout, /healed orders-2 \(restarted\)/);
  assert.match(run.stdout, /fault \(turn \d+\): the service of inventory-1 hangs/);
  assert.match(run.stdout, /FAILED inventory-1 \(inventory\): not answering .*3 probes in a row/);
  assert.match(run.stdout, /healed inventory-1 \(restarted\)/);
});

test("a VM that fails before the script names it in heal() is healed once it is", () => {
  // payments-1 runs at 1.5 s; heal() comes at the script's end, seconds later.
  const run = simulate("--duration", "2m", "--fail", "payments-1@1500ms");
  assert.is(run.code, 0, run.stdout + run.stderr);
  const failed = run.stdout.indexOf("FAILED payments-1");
  const done = run.stdout.indexOf("the script has finished");
  const healed = run.stdout.indexOf("healed payments-1");
  assert.ok(failed >= 0 && failed < done && done < healed, run.stdout);
  assert.match(run.stdout, /0 invariant violation\(s\)/);
});

test("--svg draws the timeline: VMs serving, the group's size, demand, failures", () => {
  const svg = path.join(dir, "day.svg");
  const run = simulate("--duration", "10m", "--trace", file("svg.csv", "0,0\n60,150\n"), "--fail", "orders-1@2m", "--svg", svg);
  assert.is(run.code, 0, run.stderr);
  const picture = readFileSync(svg, "utf8");
  assert.match(picture, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  for (const legend of ["VMs serving", "orders-balancer-1 replicas", "demand (req/s)", "failure injected"]) assert.ok(picture.includes(legend), legend);
  assert.match(picture, /1 failure\(s\) injected/);
});

test("a bad trace line is named by file and line; a missing trace file is named too", () => {
  const bad = file("bad.csv", "seconds,rps\n0,10\n\n60,lots\n");
  let run = simulate("--trace", bad);
  assert.is(run.code, 2);
  assert.is(run.stdout, "");
  assert.match(run.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:4: expected requests per second .*"60,lots"`));
  run = simulate("--trace", file("three.csv", "0,10,3\n"));
  assert.is(run.code, 2);
  assert.match(run.stderr, /three\.csv:1: expected two fields/);
  run = simulate("--trace", file("order.csv", "0,10\n60,20\n30,5\n"));
  assert.is(run.code, 2);
  assert.match(run.stderr, /order\.csv:3: expected times in order/);
  run = simulate("--trace", path.join(dir, "none.csv"));
  assert.is(run.code, 2);
  assert.match(run.stderr, /--trace: .*ENOENT.*none\.csv/);
});

test("a failure of a VM the farm never had is refused, naming it and the VMs it had", () => {
  const run = simulate("--duration", "2m", "--fail", "orders-9@1m");
  assert.is(run.code, 2);
  assert.match(run.stderr, /--fail orders-9@1m: the farm had no VM named "orders-9" at any time \(it had inventory-1, orders-1, orders-2, orders-balancer-1, payments-1, web-1\)/);
});

test("malformed flags are refused before anything runs", () => {
  const cases: [string[], RegExp][] = [
    [["--fail", "orders-1"], /--fail: expected VM@TIME/],
    [["--fail", "orders-1@soon"], /--fail: expected a time such as 30m/],
    [["--fail", "orders-1@1m:melts"], /--fail: expected a kind of failure after ":" \(crash, hang, dies\)/],
    [["--duration", "10"], /--duration: expected a duration such as 24h/],
    [["--seed", "x"], /--seed: expected a whole number/],
    [["--svg", path.join(dir, "no-such-folder", "t.svg")], /--svg: expected a file in a folder that exists/],
  ];
  for (const [args, message] of cases) {
    const run = simulate(...args);
    assert.is(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.is(run.stdout, "", args.join(" "));
    assert.match(run.stderr, message);
  }
  assert.not.ok(existsSync(path.join(dir, "no-such-folder")));
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

test.run();
