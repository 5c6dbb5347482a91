// What a node of the model asks of the driver, given where the nodes it uses serve now: its VmSpec.
// And when an existing VM already is that VM (sameIdentity), needing at most new imports.

import type { BackendSpec } from "../../native-free-core/config.ts";
import { httpUrl, type HostPort } from "../../native-free-core/net/address.ts";
import type { VmSpec } from "../drivers/driver.ts";
import {
  BALANCER_ADMIN_PORT,
  BALANCER_IMAGE,
  BALANCER_ROLE,
  balancerIdentity,
  isBalancerSettings,
  type BalancerSettings,
} from "../images/balancer/settings.ts";
import type { FarmNode, IntermediaryNode } from "../model/farm-model.ts";
import { tokenSha256, type FarmSecrets } from "../state/secrets.ts";

/** Where the nodes a node uses are: the last address each served on, and whether it serves now. */
export interface Whereabouts {
  /** The address a node serves (or last served) on; null when it never has. */
  addressOf(node: string): HostPort | null;
  /** Whether it takes traffic now: running, guarded, not failed. */
  serving(node: string): boolean;
}

/** A node whose spec cannot be written yet: it imports something that has never served. */
export class NotYetWired extends Error {
  readonly missing: string;
  constructor(node: string, missing: string) {
    super(`${node} imports ${missing}, which has no address yet`);
    this.missing = missing;
  }
}

export function desiredSpec(farm: string, node: FarmNode, where: Whereabouts, secrets: FarmSecrets): VmSpec {
  if (node.kind === "vm") {
    const imports: Record<string, string> = {};
    for (const [key, ref] of Object.entries(node.imports)) {
      const at = where.addressOf(ref.node);
      if (at === null) throw new NotYetWired(node.name, ref.node);
      imports[key] = httpUrl(at);
    }
    return { labels: { farm, role: node.role.name, vm: node.name }, image: node.role.image, imports, settings: {} };
  }
  return {
    labels: { farm, role: BALANCER_ROLE, vm: node.name },
    image: BALANCER_IMAGE,
    imports: {},
    settings: balancerSettings(node, where, secrets.adminToken(node.name)) as unknown as VmSpec["settings"],
  };
}

/** The backends each pool of an intermediary should hold now: its members that serve. */
export function desiredPools(node: IntermediaryNode, where: Whereabouts): { name: string; backends: BackendSpec[] }[] {
  return node.pools.map((pool) => ({
    name: pool.name,
    backends: pool.members.flatMap((m) => {
      const at = where.serving(m.ref.node) ? where.addressOf(m.ref.node) : null;
      return at === null ? [] : [{ address: at.host, port: at.port, backup: m.backup }];
    }),
  }));
}

function balancerSettings(node: IntermediaryNode, where: Whereabouts, token: string): BalancerSettings {
  return {
    kind: "balancer",
    contract: node.contract.id,
    policy: node.policy,
    admin: { port: BALANCER_ADMIN_PORT, tokenSha256: tokenSha256(token) },
    routes: node.routes,
    pools: desiredPools(node, where),
  };
}

/**
 * Whether an existing VM is the one `wanted` describes, imports aside (those change in place): the
 * same image and role, and settings that make the same VM (a balancer's pools change at run time).
 */
export function sameIdentity(existing: VmSpec, wanted: VmSpec): boolean {
  return existing.image === wanted.image && existing.labels.role === wanted.labels.role &&
    settingsIdentity(existing.settings) === settingsIdentity(wanted.settings);
}

export function sameImports(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function settingsIdentity(settings: VmSpec["settings"]): string {
  if (isBalancerSettings(settings)) return balancerIdentity(settings);
  return canonical(settings ?? {});
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
