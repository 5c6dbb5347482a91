// What a balancer VM is told at start (its FARMHAND_SETTINGS): one typed object, written by the
// controller and read by the image, checked on the way in. The pools it starts with are only a
// starting point: the controller keeps them current through the admin API, so they are not part of
// what makes two balancer VMs the same one (balancerIdentity).

import path from "node:path";
import { fileURLToPath } from "node:url";
import type { BackendSpec, OperationSpec, PolicyName, UpstreamOptions } from "../../../native-free-core/config.ts";

/** The image folder the farm's intermediaries run. */
export const BALANCER_IMAGE = path.dirname(fileURLToPath(import.meta.url));
/** The role name balancer VMs carry in their labels. */
export const BALANCER_ROLE = "balancer";
/** A balancer VM serves its admin API on this port of its own address. */
export const BALANCER_ADMIN_PORT = 9901;

export interface BalancerSettings {
  readonly kind: "balancer";
  /** The contract its front endpoint serves (and announces at /.well-known/farmhand). */
  readonly contract: string;
  readonly policy: PolicyName;
  /** SHA-256 (hex) of the admin API's bearer token: the token itself never reaches the VM. */
  readonly admin: {
    readonly port: number;
    readonly tokenSha256: string;
    /** SHA-256 of the farm's read-only metrics token: a Prometheus server scrapes /metrics with it. */
    readonly metricsTokenSha256?: string;
  };
  /** Path prefixes, each to its own pool; requests matching none go to "main". */
  readonly routes: readonly { readonly prefix: string; readonly pool: string }[];
  /**
   * The pools it starts with: "main" and one per route. `upstream` is how it speaks to the pool's
   * members, from what their images declare they handle (their manifests' transport hints).
   */
  readonly pools: readonly BalancerPoolSettings[];
  /** Contract checks: the operations (with request schemas) that requests are matched and validated against; absent: none. */
  readonly validate?: { readonly operations: readonly OperationSpec[] } | null;
}

export interface BalancerPoolSettings {
  readonly name: string;
  readonly backends: readonly BackendSpec[];
  readonly upstream?: Partial<Pick<UpstreamOptions, "pipelining" | "idleTimeoutMs" | "maxRequestsPerConnection">>;
}

const POLICIES: readonly PolicyName[] = ["round-robin", "least-request", "consistent-hash", "random"];

/** Everything that makes a balancer VM what it is; two with equal identities are interchangeable. */
export function balancerIdentity(settings: BalancerSettings): string {
  const { pools, ...identity } = settings;
  return JSON.stringify({ ...identity, pools: pools.map((p) => p.name) });
}

export function isBalancerSettings(value: unknown): value is BalancerSettings {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "balancer";
}

/** Reads and checks settings; throws a message naming the field when they are not a balancer's. */
export function readBalancerSettings(value: unknown): BalancerSettings {
  const fail = (field: string, problem: string): never => {
    throw new TypeError(`balancer settings: ${field}: ${problem}`);
  };
  if (!isBalancerSettings(value)) fail("kind", 'expected "balancer"');
  const s = value as BalancerSettings;
  if (typeof s.contract !== "string" || s.contract === "") fail("contract", "expected a contract id");
  if (!POLICIES.includes(s.policy)) fail("policy", `expected one of ${POLICIES.join(", ")}`);
  if (typeof s.admin !== "object" || s.admin === null || !Number.isInteger(s.admin.port)) fail("admin.port", "expected a port");
  if (typeof s.admin.tokenSha256 !== "string" || !/^[0-9a-f]{64}$/.test(s.admin.tokenSha256)) fail("admin.tokenSha256", "expected 64 hex digits");
  if (s.admin.metricsTokenSha256 !== undefined && (typeof s.admin.metricsTokenSha256 !== "string" || !/^[0-9a-f]{64}$/.test(s.admin.metricsTokenSha256))) {
    fail("admin.metricsTokenSha256", "expected 64 hex digits");
  }
  if (!Array.isArray(s.routes)) fail("routes", "expected a list");
  if (!Array.isArray(s.pools) || !s.pools.some((p) => p?.name === "main")) fail("pools", 'expected a list with a "main" pool');
  for (const r of s.routes) {
    if (!s.pools.some((p) => p.name === r.pool)) fail(`routes ${JSON.stringify(r.prefix)}`, `pool ${JSON.stringify(r.pool)} is not among the pools`);
  }
  for (const p of s.pools) {
    if (p.upstream !== undefined && (typeof p.upstream !== "object" || p.upstream === null)) fail(`pools ${JSON.stringify(p.name)}.upstream`, "expected an object");
  }
  if (s.validate !== undefined && s.validate !== null && !Array.isArray(s.validate.operations)) fail("validate.operations", "expected a list of operations");
  // The balancer's own configuration checks the rest (ranges, schemas), naming the field.
  return s;
}
