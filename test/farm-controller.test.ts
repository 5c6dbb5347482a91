// A controller that stays: `farmhand up` in the foreground keeps the farm healed, a VM that crashes
// and a VM whose service hangs (SIGSTOP: the process lives, the driver says running, only probes
// notice) alike; Ctrl-C stops the controller and leaves the farm. What runs is what `graph` drew.
// No secret is readable where it should not be. Commands without a farm name act on the only farm,
// or refuse with the list.

import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { localDriver } from "../control/drivers/local/index.ts";
import { findVmPids } from "../control/drivers/local/proc.ts";
import { graphOf } from "../control/graph/from-model.ts";
import { planFarm } from "../control/model/recorder.ts";
import { loadScript } from "../control/farm/script.ts";
import { farmDir, farmhandHome, localStateDir } from "../control/state/home.ts";
import { fileSecrets } from "../control/state/secrets.ts";
import { readDashboardRecord } from "../control/dashboard/index.ts";
import { request } from "undici";
import { EXAMPLE, EXAMPLE_VMS, Running, farmhand, newHome } from "./helpers/farm-cli.ts";
import { waitFor } from "./helpers/proxy.ts";
import { edgesOf, observedEdges } from "./helpers/topology.ts";

/** Every file under `dir`, with its mode. */
function walk(dir: string): { file: string; mode: number; isDir: boolean }[] {
  const out: { file: string; mode: number; isDir: boolean }[] = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const st = statSync(file);
    out.push({ file, mode: st.mode & 0o777, isDir: st.isDirectory() });
    if (st.isDirectory()) out.push(...walk(file));
  }
  return out;
}

test("up in the foreground heals a crashed VM and a hung one, keeps tokens unreadable, matches its graph; Ctrl-C leaves the farm", async () => {
  const home = newHome();
  const farm = "shop";
  const up = new Running(home, ["up", EXAMPLE, "--farm", farm]);
  const driver = localDriver({ stateDir: localStateDir(home) });
  try {
    await up.until(/Ctrl-C stops this controller/);
    assert.match(up.stdout, /up: farm shop: created 6, adopted 0, restarted 0, rewired 0, removed 0/);
    const secrets = fileSecrets(farm, farmDir(farm, home));

    // What runs is what the plan draws: the same VMs, the same imports, the same pools.
    const plan = planFarm(farm);
    await (await loadScript(EXAMPLE))(plan);
    const planned = graphOf(plan.model);
    const observed = await observedEdges(driver, farm, secrets);
    assert.equal(observed.nodes, planned.nodes.map((n) => n.id).sort());
    assert.equal(observed.edges, edgesOf(planned));

    // A crash the driver sees: healed in place.
    const id = async (vm: string) => (await driver.list({ farm, vm }))[0].id;
    driver.signal(await id("payments-1"), "SIGKILL");
    await up.until(/FAILED payments-1 \(payments\): killed by SIGKILL/, 20_000);
    await up.until(/healed payments-1 \(restarted\)/, 30_000);
    // A hang only probes see: the process lives on, stopped; the controller finds it unresponsive
    // and restarts it (a stop that ends in SIGKILL, then a start) on the same address.
    const hung = await id("inventory-1");
    const address = (await driver.list({ farm, vm: "inventory-1" }))[0].address;
    driver.signal(hung, "SIGSTOP");
    await up.until(/FAILED inventory-1 \(inventory\): not answering at .*3 probes in a row/, 30_000);
    await up.until(/healed inventory-1 \(restarted\)/, 40_000);
    const after = (await driver.list({ farm, vm: "inventory-1" }))[0];
    assert.equal([after.id, after.state, after.address], [hung, "running", address]);

    // Autoscaling as status shows it, and the controller's metrics: its dashboard's /metrics takes the
    // farm's read-only metrics token (nothing else but the dashboard's), and the farm's own
    // Prometheus scrapes the controller beside the balancer and the VMs.
    const shown = await waitFor(() => /autoscaled groups/.test(farmhand(home, ["status", "--farm", farm]).stdout), 20_000);
    const status1 = farmhand(home, ["status", "--farm", farm]).stdout;
    assert.ok(shown, status1);
    assert.match(status1, /demand: +prometheus at http:\/\/127\.0\.0\.1:\d+ \(the farm's own\)/);
    assert.match(status1, /orders-balancer-1 +2 +2 /);
    const dashboardUrl = readDashboardRecord(farm, home)!.url;
    const scrape = await request(`${dashboardUrl}/metrics`, { headers: { authorization: `Bearer ${secrets.metricsToken()}` } });
    const exposition = await scrape.body.text();
    assert.is(scrape.statusCode, 200);
    assert.match(exposition, /farmhand_autoscale_current_replicas\{group="orders-balancer-1",farm="shop"\} 2/);
    const refused = await request(`${dashboardUrl}/api/view`, { headers: { authorization: `Bearer ${secrets.metricsToken()}` } });
    await refused.body.dump();
    assert.is(refused.statusCode, 401, "the metrics token reads metrics, nothing else");
    const prometheusUrl = /prometheus at (http:\/\/127\.0\.0\.1:\d+)/.exec(status1)![1];
    const up1 = async (selector: string) => {
      const r = await request(`${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: `up{${selector}}` })}`);
      const body = (await r.body.json()) as { data: { result: { value: [number, string] }[] } };
      return body.data.result.length === 1 && body.data.result[0].value[1] === "1";
    };
    assert.ok(await waitFor(() => up1(`farmhand_farm="shop",farmhand_component="controller"`), 15_000), "Prometheus scrapes the controller");
    assert.ok(await up1(`farmhand_farm="shop",farmhand_balancer="orders-balancer-1"`), "and the balancer");
    // And every VM of the farm, on its own address, with the same token: what is up is what runs.
    const services = async () => (await driver.list({ farm })).filter((r) => r.state === "running" && r.spec.labels.role !== "balancer").map((r) => r.spec.labels.vm).sort();
    const vmsUp = async () => {
      const r = await request(`${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: `up{farmhand_farm="shop",farmhand_vm!=""} == 1` })}`);
      const body = (await r.body.json()) as { data: { result: { metric: Record<string, string> }[] } };
      return body.data.result.map((s) => s.metric.farmhand_vm).sort();
    };
    assert.ok(await waitFor(async () => JSON.stringify(await vmsUp()) === JSON.stringify(await services()), 15_000), `VMs up in Prometheus: ${await vmsUp()}`);
    assert.equal(await vmsUp(), EXAMPLE_VMS.filter((vm) => !vm.includes("balancer")));

    // Secrets: no admin token anywhere but in memory, and everything recorded is private. The metrics
    // token is in Prometheus's token file alone, never with a VM.
    const tokens = ["orders-balancer-1"].map((vm) => secrets.adminToken(vm));
    const files = walk(farmhandHome({ FARMHAND_HOME: home }));
    for (const f of files) {
      if (f.isDir) assert.is(f.mode, 0o700, `${f.file} is ${f.mode.toString(8)}`);
      else {
        assert.is(f.mode, 0o600, `${f.file} is ${f.mode.toString(8)}`);
        const text = readFileSync(f.file, "latin1");
        for (const t of tokens) assert.not.ok(text.includes(t), `${f.file} holds a token`);
      }
    }
    const pids = (await driver.list({ farm })).flatMap((r) => findVmPids(r.id));
    for (const pid of [...pids, up.child.pid!]) {
      const seen = readFileSync(`/proc/${pid}/environ`, "latin1") + readFileSync(`/proc/${pid}/cmdline`, "latin1");
      for (const t of tokens) assert.not.ok(seen.includes(t), `process ${pid} carries a token`);
      if (pid !== up.child.pid) assert.not.ok(seen.includes(secrets.metricsToken()), `VM process ${pid} carries the metrics token`);
    }
    for (const t of tokens) assert.not.ok(up.stdout.includes(t) || up.stderr.includes(t), "a token was printed");

    // Ctrl-C: the controller stops, the farm stays.
    assert.is(await up.stop("SIGINT"), 0);
    assert.match(up.stderr, /the farm keeps running/);
    const records = await driver.list({ farm });
    assert.equal(records.filter((r) => r.state === "running").map((r) => r.spec.labels.vm).sort(), EXAMPLE_VMS);
    const status = farmhand(home, ["status"]);
    assert.match(status.stdout, /controller: not running/);

    // A second farm: commands without a name now refuse, naming both.
    const other = farmhand(home, ["up", "--detach", EXAMPLE, "--farm", "other"]);
    assert.is(other.code, 0, other.stderr);
    const ambiguous = farmhand(home, ["status"]);
    assert.is(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /there are 2 farms \(other, shop\): say which with --farm NAME or the script/);
    assert.is(farmhand(home, ["down", "--farm", "other"]).code, 0);
    assert.is(farmhand(home, ["down"]).code, 0, "one farm left: down needs no name");
    assert.equal(await driver.list({ farm }), []);
  } finally {
    await up.stop("SIGKILL");
    for (const f of ["shop", "other"]) farmhand(home, ["down", "--farm", f]);
    await driver.close();
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
