// The balancer's public entry point: start one from a configuration, then steer it.

import { normalizeConfig } from "./config-load.ts";
import type { ProxyConfig } from "./config.ts";
import { Balancer, type BalancerOptions } from "./supervisor.ts";

export { Balancer, type BalancerEvent, type BalancerOptions, type ResolvedListener } from "./supervisor.ts";
export { loadConfigFile, normalizeConfig, parseConfigText } from "./config-load.ts";
export type * from "./config.ts";
export { backendId } from "./config.ts";
export type { BackendStatus, PoolStatus, WorkerStatus } from "./status.ts";
export * from "./errors.ts";
export { adminClient, type AdminClientOptions, type AdminPool, type AdminBackend, type BalancerAdmin } from "./admin/client.ts";

/**
 * Starts a balancer. `config` is either a normalized ProxyConfig (from loadConfigFile) or a plain
 * object in the configuration file's shape, which is validated first.
 */
export function startBalancer(config: ProxyConfig | Record<string, unknown>, options?: BalancerOptions): Promise<Balancer> {
  return Balancer.start(normalizeConfig(config, "<inline>"), options);
}
