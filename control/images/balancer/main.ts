// The balancer image: what runs in the VM that `farm.balance(...)` creates. It is native-free-core's
// balancer with one HTTP listener on the VM's address (announcing the balanced contract at
// /.well-known/farmhand) and its admin API on the port named in its settings, behind a token the
// farm holds. Backends arrive as imports named "backend-N"; the farm changes them at run time through
// the admin API. With a "routes" setting ([{prefix, backend}]) it is a router instead: each prefix
// goes to its own pool of the one import it names, and the main pool stays empty (404s become 503s).

import { startBalancer, type BackendSpec } from "../../../native-free-core/index.ts";

const listen = required("FARMHAND_LISTEN");
const settings = JSON.parse(process.env.FARMHAND_SETTINGS ?? "{}") as Record<string, string>;
const imports = JSON.parse(process.env.FARMHAND_IMPORTS ?? "{}") as Record<string, string>;
const [host, portText] = splitHostPort(listen);
const contract = setting("contract");
const toBackend = (name: string, url: string): BackendSpec => {
  const u = new URL(url);
  return { address: u.hostname, port: Number(u.port), backup: settings[`${name}.backup`] === "true" };
};
const routes = JSON.parse(settings.routes ?? "[]") as { prefix: string; backend: string }[];
const backends: BackendSpec[] = routes.length > 0
  ? []
  : Object.entries(imports).filter(([name]) => name.startsWith("backend-")).map(([name, url]) => toBackend(name, url));
const routePools = routes.map((r, i) => {
  const url = imports[r.backend];
  if (url === undefined) {
    process.stderr.write(`balancer: route ${r.prefix} names import ${r.backend}, which is not given\n`);
    process.exit(2);
  }
  return { name: `route-${i}`, backends: [toBackend(r.backend, url)] };
});

const balancer = await startBalancer({
  workers: Number(settings.workers ?? "1"),
  listeners: [{
    name: "front",
    protocol: "http",
    address: host,
    port: Number(portText),
    pool: "main",
    contract,
    routes: routes.map((r, i) => ({ prefix: r.prefix, pool: `route-${i}` })),
  }],
  pools: [
    { name: "main", policy: settings.policy ?? "round-robin", backends, outlierDetection: { consecutiveConnectFailures: 2, baseEjectionMs: 2000 } },
    ...routePools,
  ],
  // The digest is preferred: then the token itself is never in this VM's settings.
  admin: {
    address: host,
    port: Number(setting("adminPort")),
    ...(settings.adminTokenSha256 !== undefined ? { tokenSha256: settings.adminTokenSha256 } : { token: setting("adminToken") }),
  },
  drainTimeoutMs: 5000,
});
process.stdout.write(`balancer for ${contract} on ${listen}, admin ${balancer.adminUrl}\n`);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    balancer.shutdown().then(() => process.exit(0));
  });
}

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    process.stderr.write(`balancer: environment variable ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

function setting(name: string): string {
  const value = settings[name];
  if (value === undefined) {
    process.stderr.write(`balancer: setting ${JSON.stringify(name)} is required in FARMHAND_SETTINGS\n`);
    process.exit(2);
  }
  return value;
}

function splitHostPort(text: string): [string, string] {
  const i = text.lastIndexOf(":");
  return [text.slice(0, i).replace(/^\[|\]$/g, ""), text.slice(i + 1)];
}
