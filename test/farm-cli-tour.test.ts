// `farmhand start --tour`: load through the order balancer, a killed order VM healed under load,
// nothing left afterwards.

import { rmSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EXAMPLE, farmhand, newHome, processesOf } from "./helpers/farm-cli.ts";

test("start --tour: load, a killed order VM healed, nothing left afterwards", async () => {
  const home = newHome();
  try {
    const tour = farmhand(home, ["start", EXAMPLE, "--tour", "--farm", "cli-tour"], { timeoutMs: 170_000 });
    assert.is(tour.code, 0, `${tour.stdout}\n${tour.stderr}`);
    assert.match(tour.stdout, /tour summary: orders-\d+ killed under load; healed in [\d.]+ s/);
    assert.match(tour.stderr, /healed orders-\d+ \(restarted\), serving at 127\.0\.\d+\.\d+:\d+/);
    assert.equal(await processesOf(home, "cli-tour"), []);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
