// A farm's balancer takes a dead backend out by itself. The example farm is deployed with `up` in the
// foreground and its controller stopped (Ctrl-C leaves the farm), so nothing heals or rewires it; then
// an order VM is killed, with no request sent its way. The balancer's own active health check marks
// it down and no longer routable, as `farmhand status` and the balancer's admin API both say, and the
// balancer serves on through the other replica.

import { rmSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { adminClient } from "../native-free-core/admin/client.ts";
import { localDriver } from "../control/drivers/local/index.ts";
import type { BackendView, FarmView } from "../control/ops/farm-view.ts";
import { farmDir, localStateDir } from "../control/state/home.ts";
import { fileSecrets } from "../control/state/secrets.ts";
import { EXAMPLE, farmhand, idsOf, newHome, upUnwatched } from "./helpers/farm-cli.ts";
import { waitFor } from "./helpers/proxy.ts";

const FARM = "unwatched";

test("with no controller running, the balancer's health check marks a killed backend VM down and routes around it", async () => {
  const home = newHome();
  const args = ["--farm", FARM];
  try {
    const up = await upUnwatched(home, [EXAMPLE, ...args]);
    assert.match(up.stderr, /the farm keeps running/);
    const view = (): FarmView => {
      const r = farmhand(home, ["status", "--json", ...args]);
      assert.is(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as FarmView;
    };
    const backends = (v: FarmView): BackendView[] => v.balancers.flatMap((b) => b.pools.flatMap((p) => p.backends));

    const before = view();
    assert.is(before.controller?.running, false, "the controller is stopped");
    const victim = before.vms.find((v) => v.name === "orders-2")!;
    const id = victim.address!;
    assert.ok(await waitFor(() => backends(view()).some((x) => x.id === id && x.healthy && x.routable), 30_000, 250), `${id} never served`);

    const driver = localDriver({ stateDir: localStateDir(home) });
    driver.signal((await idsOf(home, FARM))["orders-2"], "SIGKILL");
    await driver.close();

    // Down by the health check alone: nothing was sent to it, so outlier detection never ejected it.
    let seen: BackendView | undefined;
    const down = await waitFor(() => {
      seen = backends(view()).find((x) => x.id === id);
      return seen !== undefined && !seen.healthy && !seen.routable;
    }, 30_000, 250);
    assert.ok(down, JSON.stringify(seen));
    const text = farmhand(home, ["status", ...args]).stdout;
    assert.match(text, new RegExp(`^  ${id.replace(/\./g, "\\.")} +\\S+ +down +no +active `, "m"), text);
    assert.match(text, /^controller: not running/m, text);

    // The balancer's admin API, through its typed client, says the same, and why.
    const balancer = before.balancers.find((b) => b.name === "orders-balancer-1")!;
    const admin = adminClient(balancer.admin!, { token: fileSecrets(FARM, farmDir(FARM, home)).adminToken(balancer.name) });
    const pool = await admin.pool("main");
    const dead = pool.backends.find((x) => x.id === id)!;
    assert.equal([dead.healthy, dead.routable, dead.ejections, dead.ejectedUntil, dead.lifecycle], [false, false, 0, null, "active"]);
    assert.ok(pool.backends.some((x) => x.id !== id && x.healthy && x.routable), JSON.stringify(pool.backends));

    // Nothing healed it: the VM is still dead, and every request goes to the other replica.
    assert.is.not(view().vms.find((v) => v.name === "orders-2")!.health, "healthy");
    const front = before.vms.find((v) => v.name === "orders-balancer-1")!.address!;
    for (let i = 0; i < 10; i++) {
      const r = await request(`http://${front}/orders`, { reset: true });
      assert.is(r.statusCode, 200);
      assert.is(r.headers["x-served-by"], "orders-1");
      await r.body.dump();
    }
  } finally {
    farmhand(home, ["down", ...args]);
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
