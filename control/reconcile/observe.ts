// What the farm looks like from outside, through the same ports the reconciler uses: the VMs the
// driver lists under the farm's label, what each says it serves, and each balancer's pools as it
// reports them. Works from any process: a controller that made none of it, `farmhand status`.

import type { AdminPool } from "../../native-free-core/admin/client.ts";
import { formatHostPort } from "../../native-free-core/net/address.ts";
import type { VmRecord } from "../drivers/driver.ts";
import { BALANCER_ADMIN_PORT, isBalancerSettings } from "../images/balancer/settings.ts";
import type { FarmPorts } from "./ports.ts";

export interface FarmStatus {
  readonly vms: readonly VmStatus[];
  readonly balancers: readonly BalancerStatus[];
}

export interface VmStatus {
  readonly name: string;
  readonly role: string;
  readonly id: string;
  readonly state: string;
  readonly address: string | null;
  /** Endpoint name -> contract id, as the VM itself announces them; a string when it could not be asked. */
  readonly provides: Readonly<Record<string, string>> | string;
  /** The driver's own words when its record of the VM is damaged. */
  readonly problem?: string;
}

export interface BalancerStatus {
  readonly name: string;
  readonly contract: string;
  /** Its admin API and metrics (GET <admin>/metrics); null while it does not run. */
  readonly admin: string | null;
  /** Each backend as the balancer itself reports it; empty when it could not be asked. */
  readonly backends: readonly {
    readonly id: string;
    readonly pool: string;
    readonly routable: boolean;
    readonly healthy: boolean;
    readonly lifecycle: string;
    readonly inFlight: number;
  }[];
  readonly error: string | null;
}

const PROBE_MS = 2_000;

export async function observeFarm(farm: string, ports: FarmPorts): Promise<FarmStatus> {
  const records = await ports.driver.list({ farm });
  const vms = await Promise.all(records.map((r) => vmStatus(r, ports)));
  const balancers = await Promise.all(records.filter((r) => isBalancerSettings(r.spec.settings)).map((r) => balancerStatus(r, ports)));
  return { vms, balancers };
}

async function vmStatus(r: VmRecord, ports: FarmPorts): Promise<VmStatus> {
  let provides: VmStatus["provides"] = "-";
  if (r.state === "running" && r.address !== null) {
    const said = await ports.prober.announce(r.address, PROBE_MS);
    provides = said.ok ? said.provides : said.problem;
  }
  return {
    name: r.spec.labels.vm,
    role: r.spec.labels.role,
    id: r.id,
    state: r.state,
    address: r.address === null ? null : formatHostPort(r.address),
    provides,
    ...(r.problem === undefined ? {} : { problem: r.problem }),
  };
}

async function balancerStatus(r: VmRecord, ports: FarmPorts): Promise<BalancerStatus> {
  const settings = r.spec.settings as unknown as { contract: string; admin: { port: number } };
  const base = { name: r.spec.labels.vm, contract: settings.contract };
  if (r.address === null) return { ...base, admin: null, backends: [], error: "not running" };
  const adminAt = { host: r.address.host, port: settings.admin?.port ?? BALANCER_ADMIN_PORT };
  const admin = ports.balancers(adminAt, ports.secrets.adminToken(r.spec.labels.vm));
  let pools: readonly AdminPool[];
  try {
    pools = await admin.pools();
  } catch (error) {
    return { ...base, admin: `http://${formatHostPort(adminAt)}`, backends: [], error: (error as Error).message };
  }
  const backends = pools.flatMap((p) => p.backends.map((b) => ({
    id: b.id, pool: p.name, routable: b.routable, healthy: b.healthy, lifecycle: b.lifecycle, inFlight: b.inFlight,
  })));
  return { ...base, admin: `http://${formatHostPort(adminAt)}`, backends, error: null };
}
