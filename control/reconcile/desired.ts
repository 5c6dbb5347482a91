// What a node of the model asks of the driver, given where the nodes it uses serve now: its VmSpec.
// And when an existing VM already is that VM (sameIdentity), needing at most new imports.

import type { BackendSpec, OperationSpec } from "../../native-free-core/config.ts";
import { httpUrl, type HostPort } from "../../native-free-core/net/address.ts";
import type { VmSpec } from "../drivers/driver.ts";
import {
  BALANCER_ADMIN_PORT,
  BALANCER_IMAGE,
  BALANCER_ROLE,
  balancerIdentity,
  isBalancerSettings,
  type BalancerPoolSettings,
  type BalancerSettings,
} from "../images/balancer/settings.ts";
import type { AnyContract } from "../contracts/index.ts";
import { METRICS_DIGEST_SETTING } from "../guest/env.ts";
import { readManifestSync, type TransportHints } from "../guest/manifest.ts";
import type { FarmModelView, FarmNode, IntermediaryNode } from "../model/farm-model.ts";
import { tokenSha256, type FarmSecrets } from "../state/secrets.ts";

/** Where the nodes a node uses are: the last address each served on, and whether it serves now. */
export interface Whereabouts {
  /** The address a node serves (or last served) on; null when it never has. */
  addressOf(node: string): HostPort | null;
  /** Whether it takes traffic now: running, guarded, not failed. */
  serving(node: string): boolean;
  /**
   * The image a VM node runs (its role's image), for what its manifest declares about its HTTP
   * server (a balancer's transport hints come from it); null for an intermediary or an unknown node.
   * Required: an implementer that left it out would silently deploy every balancer on defaults.
   */
  imageOf(node: string): string | null;
}

/** Whereabouts.imageOf for a model: the image of a VM node's role. */
export function imageInModel(model: FarmModelView, node: string): string | null {
  const n = model.node(node);
  return n?.kind === "vm" ? n.role.image : null;
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
    // Only the digest: a VM (its description on Proxmox, its process's environment) never holds the token.
    const settings = { [METRICS_DIGEST_SETTING]: tokenSha256(secrets.metricsToken()) };
    return { labels: { farm, role: node.role.name, vm: node.name }, image: node.role.image, imports, settings };
  }
  return {
    labels: { farm, role: BALANCER_ROLE, vm: node.name },
    image: BALANCER_IMAGE,
    imports: {},
    settings: balancerSettings(node, where, secrets.adminToken(node.name), secrets.metricsToken()) as unknown as VmSpec["settings"],
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

export function balancerSettings(node: IntermediaryNode, where: Whereabouts, token: string, metricsToken?: string): BalancerSettings {
  const hints = poolHints(node, where);
  const validate = node.validate === true;
  return {
    kind: "balancer",
    contract: node.contract.id,
    policy: node.policy,
    admin: { port: BALANCER_ADMIN_PORT, tokenSha256: tokenSha256(token), ...(metricsToken === undefined ? {} : { metricsTokenSha256: tokenSha256(metricsToken) }) },
    routes: node.routes,
    pools: desiredPools(node, where).map((p) => {
      const upstream = hints.get(p.name);
      return upstream === undefined ? p : { ...p, upstream };
    }),
    ...(validate ? { validate: { operations: contractOperations(node) } } : {}),
  };
}

/**
 * How the balancer should speak to each pool, from what its members' images declare (their
 * manifests' `transport`): pipelining when every member pipelines (the shallowest depth), idle
 * connections closed before the backend's own keep-alive timeout would close them under a request,
 * and no more requests per connection than the backend serves. A pool whose members say nothing
 * gets the balancer's defaults.
 */
function poolHints(node: IntermediaryNode, where: Whereabouts): Map<string, NonNullable<BalancerPoolSettings["upstream"]>> {
  const out = new Map<string, NonNullable<BalancerPoolSettings["upstream"]>>();
  for (const pool of node.pools) {
    const hints = pool.members.map((m) => transportOf(where.imageOf(m.ref.node)));
    if (hints.length === 0 || hints.some((h) => h === null)) continue;
    const known = hints as TransportHints[];
    const upstream: { pipelining?: number; idleTimeoutMs?: number; maxRequestsPerConnection?: number } = {};
    const depth = Math.min(...known.map((h) => h.pipelining));
    if (depth > 1) upstream.pipelining = depth;
    const keepAlive = known.map((h) => h.keepAliveTimeoutMs).filter((t): t is number => t !== null);
    if (keepAlive.length > 0) {
      const shortest = Math.min(...keepAlive);
      // A margin of a fifth, at least a second (the balancer closes idle connections on a 250 ms
      // sweep); a backend that keeps connections for two seconds or less gets half its time.
      upstream.idleTimeoutMs = shortest > 2000 ? shortest - Math.max(1000, Math.floor(shortest / 5)) : Math.max(1, Math.floor(shortest / 2));
    }
    const limits = known.map((h) => h.maxRequestsPerConnection).filter((n) => n > 0);
    if (limits.length > 0) upstream.maxRequestsPerConnection = Math.min(...limits);
    if (Object.keys(upstream).length > 0) out.set(pool.name, upstream);
  }
  return out;
}

/** Manifests read once per image folder: an image does not change under a running controller. */
const transportCache = new Map<string, TransportHints | null>();

function transportOf(image: string | null): TransportHints | null {
  if (image === null) return null;
  let hints = transportCache.get(image);
  if (hints === undefined) {
    try {
      hints = readManifestSync(image).transport;
    } catch {
      // A Proxmox template name, or an image whose manifest the driver refuses anyway: no hints.
      hints = null;
    }
    transportCache.set(image, hints);
  }
  return hints;
}

/**
 * The operations a balancer checks requests against, request schemas as JSON Schema. A router's
 * contract is the union of its parts' operations, each part's only where its prefix is the one that
 * routes the operation's path (the longest that matches), since that is where such a request goes.
 */
function contractOperations(node: IntermediaryNode): OperationSpec[] {
  const schema = (s: unknown) => JSON.parse(JSON.stringify(s ?? { type: "null" })) as OperationSpec["request"];
  const parts = (node.contract as { readonly parts?: Readonly<Record<string, AnyContract>> }).parts;
  if (parts === undefined) {
    return Object.entries(node.contract.operations).map(([name, op]) => ({ name, method: op.method, path: op.path, request: schema(op.request) }));
  }
  const prefixes = Object.keys(parts).sort((a, b) => b.length - a.length);
  const out: OperationSpec[] = [];
  for (const [prefix, contract] of Object.entries(parts)) {
    for (const [name, op] of Object.entries(contract.operations)) {
      if (prefixes.find((p) => op.path.startsWith(p)) !== prefix) continue;
      out.push({ name: `${contract.name}-${name}`, method: op.method, path: op.path, request: schema(op.request) });
    }
  }
  return out;
}

/**
 * Whether an existing VM is the one `wanted` describes, imports aside (those change in place): the
 * same image and role, and settings that make the same VM (a balancer's pools change at run time).
 *
 * A VM made before VMs were given the metrics token's digest is still that VM: replacing every VM
 * of a farm to hand it a scrape credential would cost more than it gives (such a VM serves its metrics
 * on loopback only, and the scrape targets leave it out until it is made anew). One given another
 * digest is not: the farm's key was made anew, and its balancers are replaced for the same reason.
 */
export function sameIdentity(existing: VmSpec, wanted: VmSpec): boolean {
  return existing.image === wanted.image && existing.labels.role === wanted.labels.role &&
    settingsIdentity(existing.settings) === settingsIdentity(asMadeBefore(wanted.settings, existing.settings));
}

/** `wanted` without the metrics digest when `existing` has none: see sameIdentity. */
function asMadeBefore(wanted: VmSpec["settings"], existing: VmSpec["settings"]): VmSpec["settings"] {
  if (wanted === undefined || isBalancerSettings(wanted) || !Object.hasOwn(wanted, METRICS_DIGEST_SETTING)) return wanted;
  if (existing !== undefined && Object.hasOwn(existing, METRICS_DIGEST_SETTING)) return wanted;
  const { [METRICS_DIGEST_SETTING]: _digest, ...rest } = wanted;
  return rest;
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
