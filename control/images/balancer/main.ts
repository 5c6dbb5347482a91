// The balancer image: what runs in the VM that `farm.balance`, `route` and `failover` create. It is
// native-free-core's balancer with one HTTP listener on the VM's address, announcing the balanced
// contract at /.well-known/farmhand, and its admin API on the VM's admin port behind a token whose
// SHA-256 is all the VM is told. Its pools start as its settings say; the farm keeps them current
// through the admin API, and checks every backend actively, so a dead VM leaves the pools even
// before the farm hears of it.

import { startBalancer } from "../../../native-free-core/index.ts";
import { parseHostPort } from "../../../native-free-core/net/address.ts";
import { readBalancerSettings } from "./settings.ts";

/** Farm backends answer this themselves; a balancer checks it often, so a dead one leaves within seconds. */
const HEALTH_CHECK = { path: "/.well-known/farmhand", intervalMs: 1000, timeoutMs: 800, rise: 1, fall: 2 };
/**
 * In a farm an empty pool is a passing state (a group scaled to zero, its only replica healing, the
 * first replicas starting), so requests wait for the first backend rather than fail at once.
 */
const EMPTY_POOL_HOLD = { emptyPoolHold: 1024, emptyPoolHoldMs: 30_000 };

const listen = parseHostPort(process.env.FARMHAND_LISTEN ?? "");
if (listen === null) fail(`FARMHAND_LISTEN must be host:port (got ${JSON.stringify(process.env.FARMHAND_LISTEN ?? "")})`);
let settings: ReturnType<typeof readBalancerSettings>;
try {
  settings = readBalancerSettings(JSON.parse(process.env.FARMHAND_SETTINGS ?? "null"));
} catch (error) {
  fail(`FARMHAND_SETTINGS: ${(error as Error).message}`);
}

const balancer = await startBalancer({
  workers: 1,
  listeners: [{
    name: "front",
    protocol: "http",
    address: listen!.host,
    port: listen!.port,
    pool: "main",
    contract: settings!.contract,
    routes: settings!.routes,
    ...(settings!.validate ? { validate: { operations: settings!.validate.operations } } : {}),
  }],
  pools: settings!.pools.map((p) => ({
    name: p.name,
    policy: settings!.policy,
    backends: p.backends,
    healthCheck: HEALTH_CHECK,
    outlierDetection: { consecutiveConnectFailures: 2, baseEjectionMs: 2000 },
    // What the members' images say they handle (pipelining, keep-alive limits), when they say it.
    upstream: { ...EMPTY_POOL_HOLD, ...p.upstream },
  })),
  admin: { address: listen!.host, port: settings!.admin.port, tokenSha256: settings!.admin.tokenSha256, metricsTokenSha256: settings!.admin.metricsTokenSha256 ?? null },
  drainTimeoutMs: 5000,
});
const checks = settings!.validate ? `, checking requests against ${settings!.validate.operations.length} operation(s)` : "";
const pipelined = settings!.pools.filter((p) => (p.upstream?.pipelining ?? 1) > 1).map((p) => `${p.name} (${p.upstream!.pipelining})`);
process.stdout.write(`${new Date().toISOString()} balancer for ${settings!.contract} on ${process.env.FARMHAND_LISTEN}, admin ${balancer.adminUrl}` +
  `${checks}${pipelined.length === 0 ? "" : `, pipelining to ${pipelined.join(", ")}`}\n`);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    balancer.shutdown().then(() => process.exit(0));
  });
}

function fail(message: string): never {
  process.stderr.write(`${new Date().toISOString()} balancer: ${message}\n`);
  process.exit(2);
}
