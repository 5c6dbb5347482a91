// `farmhand status` as an operations view, on the example farm run by a detached controller: each
// VM's process, uptime and request rate, each backend's rates, in-flight requests and latency, where
// the balancer's admin API and metrics are, why a VM failed (after it was healed too), the recent
// events; `--json` for scripts, `--watch` until Ctrl-C; `logs VM` with timestamps on every line, `logs -f`;
// `dashboard` prints the link while the controller runs.

import { rmSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { localDriver } from "../control/drivers/local/index.ts";
import type { FarmView } from "../control/ops/farm-view.ts";
import { localStateDir } from "../control/state/home.ts";
import { EXAMPLE, Running, farmhand, newHome } from "./helpers/farm-cli.ts";
import { waitFor } from "./helpers/proxy.ts";

const FARM = ["--farm", "ops"];
let home = "";

test.before(() => {
  home = newHome();
});
test.after(() => {
  farmhand(home, ["down", ...FARM]);
  rmSync(home, { recursive: true, force: true });
});

/** Requests to `url` for `ms`, a few at a time. */
async function traffic(url: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (Date.now() < until) await request(url).then((r) => r.body.dump());
  }));
}

test("status shows processes, uptimes, rates, latency, admin and metrics, failures and events; --json and --watch", async () => {
  const up = farmhand(home, ["up", "--detach", EXAMPLE, ...FARM]);
  assert.is(up.code, 0, up.stderr);
  const json = (): FarmView => {
    const r = farmhand(home, ["status", "--json", "--events", "200", ...FARM]);
    assert.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as FarmView;
  };
  const before = json();
  const front = before.vms.find((v) => v.name === "orders-balancer-1")!.address!;
  // Status runs beside the load (a child that does not block this process, which makes the load).
  let loading = true;
  const load = (async () => {
    while (loading) await traffic(`http://${front}/orders`, 500);
  })();
  await new Promise((r) => setTimeout(r, 500));
  const busy = new Running(home, ["status", ...FARM]);
  const code = await busy.exited;
  loading = false;
  await load;
  assert.is(code, 0, busy.stderr);
  const out = busy.stdout;
  assert.match(out, /^farm ops \(local driver\): \d+ VMs, \d+ healthy; at /, out);
  assert.match(out, /^controller: running \(pid \d+, up \d+/m, out);
  assert.match(out, /^dashboard: +http:\/\/127\.0\.0\.1:\d+ /m, out);
  assert.match(out, /^VM +ROLE +STATE +HEALTH +PID +UPTIME +ADDRESS +REQ\/S +ERR\/S +IN FLIGHT +PROVIDES$/m, out);
  // An order VM behind the balancer: its pid, its uptime, and requests per second over 0.
  assert.match(out, /^orders-1 +orders +running +healthy +\d+ +\d+s +127\.0\.\d+\.\d+:8080 +(?!0 )[\d.]+ +0 +\d+ +api=orders@1$/m, out);
  assert.match(out, /^  admin API: http:\/\/127\.0\.\d+\.\d+:9901 +metrics: http:\/\/127\.0\.\d+\.\d+:9901\/metrics/m, out);
  assert.match(out, /^  pool main: \d+ members?, [\d.]+ req\/s, 0 5xx\/s, 0 no-backend\/s, \d+ in flight, p50 [\d.]+ ms, p95 [\d.]+ ms$/m, out);
  assert.match(out, /^  BACKEND +VM +HEALTH +ROUTABLE +LIFECYCLE +REQ\/S +ERR\/S +IN FLIGHT +P50 MS +P95 MS$/m, out);
  assert.match(out, /^  127\.0\.\d+\.\d+:8080 +orders-1 +up +yes +active +(?!0 )[\d.]+ +0 +\d+ +[\d.]+ +[\d.]+$/m, out);
  assert.match(out, /^recent events:\n(  \S+  .+\n)+/m, out);
  assert.match(out, /^  \S+  (started|pool of) /m, out);
  assert.match(out, /^logs: farmhand logs \[VM\] \[-f\] .*\(VM logs under .*\/local\)$/m, out);

  // --json carries the same, for scripts.
  const view = json();
  const orders1 = view.vms.find((v) => v.name === "orders-1")!;
  assert.ok(orders1.pid !== null && orders1.uptimeSeconds !== null && orders1.log !== null, JSON.stringify(orders1));
  const pool = view.balancers[0].pools[0];
  assert.ok(pool.traffic !== null && pool.traffic.requests > 0, JSON.stringify(pool));

  // A VM killed: the controller heals it, and status says why it failed. The autoscaler may resize
  // the orders pool meanwhile, so status is asked for more than the latest ten events.
  const follow = new Running(home, ["logs", "-f", ...FARM]);
  // Following once it has printed the log so far: what comes after the kill is followed, not read back.
  assert.ok(await waitFor(() => follow.stdout.length > 0 || follow.child.exitCode !== null, 30_000, 50), follow.stderr);
  assert.not.match(follow.stdout, /FAILED payments-1|healed payments-1/);
  const driver = localDriver({ stateDir: localStateDir(home) });
  const [victim] = await driver.list({ farm: "ops", vm: "payments-1" });
  driver.signal(victim.id, "SIGKILL");
  await driver.close();
  assert.ok(await waitFor(() => json().events.some((e) => e.event.type === "vm-healed" && e.event.vm === "payments-1"), 30_000, 250), "healed");
  const after = farmhand(home, ["status", "--events", "200", ...FARM]).stdout;
  assert.match(after, /^  \S+  FAILED payments-1 \(payments\): killed by SIGKILL$/m, after);
  assert.match(after, /^  \S+  healed payments-1 \(restarted\), serving at 127\.0\.\d+\.\d+:8080$/m, after);
  // `logs -f` printed the controller's lines as they came, until Ctrl-C.
  assert.ok(await waitFor(() => /healed payments-1/.test(follow.stdout) || follow.child.exitCode !== null, 30_000, 100), follow.stdout + follow.stderr);
  assert.match(follow.stdout, /FAILED payments-1 \(payments\): killed by SIGKILL/);
  assert.is(await follow.stop("SIGINT"), 0);

  // --watch shows it again and again until Ctrl-C.
  const watch = new Running(home, ["status", "--watch", "0.5", ...FARM]);
  assert.ok(await waitFor(() => (watch.stdout.match(/^farm ops /gm) ?? []).length >= 2 || watch.child.exitCode !== null, 30_000, 50), watch.stdout + watch.stderr);
  assert.is(await watch.stop("SIGINT"), 0);

  // Every line a VM printed has a timestamp.
  const logs = farmhand(home, ["logs", "orders-1", ...FARM]);
  assert.is(logs.code, 0, logs.stderr);
  const lines = logs.stdout.trimEnd().split("\n");
  assert.ok(lines.length >= 2, logs.stdout);
  for (const line of lines) assert.match(line, /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/, line);

  const link = farmhand(home, ["dashboard", ...FARM]);
  assert.is(link.code, 0, link.stderr);
  assert.match(link.stdout, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}\n$/);

  // The read-only metrics token, for scrapers: it reads a balancer's metrics and changes nothing.
  const metricsToken = farmhand(home, ["token", "--metrics", ...FARM]);
  assert.is(metricsToken.code, 0, metricsToken.stderr);
  const bearer = { authorization: `Bearer ${metricsToken.stdout.trim()}` };
  const admin = view.balancers[0].admin!;
  const read = await request(`${admin}/metrics`, { headers: bearer });
  assert.is(read.statusCode, 200);
  assert.match(await read.body.text(), /farmhand_responses_total/);
  const write = await request(`${admin}/pools/main/backends`, { method: "PUT", headers: { ...bearer, "content-type": "application/json" }, body: "[]" });
  await write.body.dump();
  assert.ok(write.statusCode === 401 || write.statusCode === 403, `a pool change with the metrics token: ${write.statusCode}`);
  assert.is(farmhand(home, ["token", "--metrics", "orders-balancer-1", ...FARM]).code, 2);

  assert.is(farmhand(home, ["down", ...FARM]).code, 0);
  const gone = farmhand(home, ["dashboard", ...FARM]);
  assert.is(gone.code, 1);
  assert.match(gone.stderr, /has no controller serving a dashboard/);
});

test.run();
