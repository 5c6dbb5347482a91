// Which demand source a controller uses, in this order: a Prometheus server the user names
// (FARMHAND_PROMETHEUS_URL, with FARMHAND_PROMETHEUS_TOKEN or _USER/_PASSWORD), for which the farm
// writes a file_sd targets file of its balancers, VMs and controller; else its own Prometheus, when
// the Debian package is installed; else the balancers' /metrics read directly (built-in demand only).

import path from "node:path";
import type { HostPort } from "../../native-free-core/net/address.ts";
import type { Driver } from "../drivers/driver.ts";
import { metricsTokenDigest } from "../guest/env.ts";
import { BALANCER_ADMIN_PORT, isBalancerSettings } from "../images/balancer/settings.ts";
import { writePrivateFile } from "../state/private-file.ts";
import type { FarmSecrets } from "../state/secrets.ts";
import { balancerScrapeSource } from "./balancer-scrape.ts";
import { prometheusSource } from "./prometheus-source.ts";
import { findPrometheus, startPrometheus, writeTargets, type EmbeddedPrometheus, type ScrapeTarget } from "./prometheus-server.ts";
import type { MetricsSource } from "./source.ts";

export interface DemandSource {
  readonly source: MetricsSource;
  /** The farm's own Prometheus, when it runs one. */
  readonly prometheus: EmbeddedPrometheus | null;
  /** The file_sd targets file kept current for whichever Prometheus scrapes (null: no Prometheus). */
  readonly targetsFile: string | null;
  /** Rewrites the targets file from the VMs the driver lists (call whenever a VM starts, stops or moves). */
  refreshTargets(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A source whose targets file stops being written once closed (the farm's folder may be gone by
 * then), and is written by one refresh at a time: two that overlap could write the older list last.
 */
function closing(source: DemandSource): DemandSource {
  let closed = false;
  return {
    ...source,
    refreshTargets: oneAtATime(() => (closed ? Promise.resolve() : source.refreshTargets())),
    close: () => {
      closed = true;
      return source.close();
    },
  };
}

/**
 * `refresh` run one call at a time, each call answered by a run that starts after it: calls that come
 * while one waits share it, since it lists what is there when it starts.
 */
function oneAtATime(refresh: () => Promise<void>): () => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  let waiting: Promise<void> | null = null;
  return () => {
    if (waiting !== null) return waiting;
    const next = tail.catch(() => {}).then(() => {
      waiting = null;
      return refresh();
    });
    waiting = tail = next;
    return next;
  };
}

export interface DemandSourceOptions {
  /** Where FARMHAND_PROMETHEUS_* are read (default: this process's environment). */
  readonly env?: NodeJS.ProcessEnv;
  /** The controller's own /metrics (its dashboard), scraped beside the balancers when given. */
  readonly controller?: HostPort | null;
}

export async function chooseDemandSource(farm: string, dir: string, driver: Driver, secrets: FarmSecrets, options: DemandSourceOptions = {}): Promise<DemandSource> {
  return closing(await choose(farm, dir, driver, secrets, options.env ?? process.env, options.controller ?? null));
}

async function choose(farm: string, dir: string, driver: Driver, secrets: FarmSecrets, env: NodeJS.ProcessEnv, controller: HostPort | null): Promise<DemandSource> {
  const targets = async (): Promise<ScrapeTarget[]> => [
    ...(controller === null ? [] : [{ address: controller, labels: { farmhand_farm: farm, farmhand_component: "controller" } }]),
    ...(await driver.list({ farm })).flatMap((r): ScrapeTarget[] => {
      if (r.state !== "running" || r.address === null) return [];
      if (isBalancerSettings(r.spec.settings)) {
        return [{ address: { host: r.address.host, port: r.spec.settings.admin.port ?? BALANCER_ADMIN_PORT }, labels: { farmhand_farm: farm, farmhand_balancer: r.spec.labels.vm } }];
      }
      // A service serves /metrics on its own address, to the token whose digest it was given. A VM
      // made before VMs were given one (see sameIdentity) checks no token: it answers its own
      // machine's loopback only, which is no target for a scraper that may run anywhere.
      if (metricsTokenDigest({ settings: r.spec.settings ?? {} }) === null) return [];
      const { role, vm } = r.spec.labels;
      return [{ address: r.address, labels: { farmhand_farm: farm, farmhand_role: role, farmhand_vm: vm } }];
    }),
  ];
  const url = env.FARMHAND_PROMETHEUS_URL;
  if (url !== undefined && url !== "") {
    // The user's Prometheus scrapes with the farm's read-only metrics token: a file_sd job reads the
    // targets file, and `authorization.credentials_file` the token file beside it (both 0600).
    const targetsFile = path.join(dir, "prometheus-targets.json");
    writePrivateFile(path.join(dir, "prometheus-metrics.token"), secrets.metricsToken());
    const auth = env.FARMHAND_PROMETHEUS_TOKEN !== undefined ? { bearer: env.FARMHAND_PROMETHEUS_TOKEN }
      : env.FARMHAND_PROMETHEUS_USER !== undefined ? { username: env.FARMHAND_PROMETHEUS_USER, password: env.FARMHAND_PROMETHEUS_PASSWORD ?? "" }
      : undefined;
    return {
      source: prometheusSource({ url, auth }),
      prometheus: null,
      targetsFile,
      refreshTargets: async () => writeTargets(targetsFile, await targets()),
      close: async () => {},
    };
  }
  const binary = findPrometheus();
  if (binary !== null) {
    const prometheus = await startPrometheus({ dir: path.join(dir, "prometheus"), binary, metricsToken: secrets.metricsToken() });
    return {
      source: prometheusSource({ url: prometheus.url, rateWindow: "3s" }),
      prometheus,
      targetsFile: prometheus.targetsFile,
      refreshTargets: async () => prometheus.setTargets(await targets()),
      close: () => prometheus.close(),
    };
  }
  return { source: balancerScrapeSource(), prometheus: null, targetsFile: null, refreshTargets: async () => {}, close: async () => {} };
}
