// The farm's own Prometheus: the Debian `prometheus` binary, run on loopback by the controller with a
// configuration it writes, scraping exactly the farm's balancers, its VMs and its controller (a
// file_sd targets file the controller keeps current) with the farm's read-only metrics token. Also the targets file alone, for
// a Prometheus the user runs (FARMHAND_PROMETHEUS_URL): point a file_sd job at it.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { request } from "undici";
import { formatHostPort, type HostPort } from "../../native-free-core/net/address.ts";
import { writePrivateFile } from "../state/private-file.ts";

/**
 * One scrape target: an address serving /metrics to the farm's metrics token (a balancer's admin API,
 * a VM's service, the controller's dashboard), and labels naming it (farmhand_farm, and
 * farmhand_balancer, farmhand_role and farmhand_vm, or farmhand_component). Prefixed, as every
 * target label is added to each series scraped from it: a bare `role` or `vm` could be a label of
 * a service's own metrics, which Prometheus would then rename.
 */
export interface ScrapeTarget {
  readonly address: HostPort;
  readonly labels: Readonly<Record<string, string>>;
}

export const PROMETHEUS_BINARY = "prometheus";

/** Where the Debian package puts it, when it is installed; null otherwise. */
export function findPrometheus(): string | null {
  for (const candidate of ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]) if (existsSync(candidate)) return candidate;
  const which = spawnSync("which", [PROMETHEUS_BINARY], { encoding: "utf8" });
  return which.status === 0 && which.stdout.trim() !== "" ? which.stdout.trim() : null;
}

/** Writes the file_sd targets file whole (temp, fsync, rename): Prometheus never reads half of one. */
export function writeTargets(file: string, targets: readonly ScrapeTarget[]): void {
  const groups = targets.map((t) => ({ targets: [formatHostPort(t.address)], labels: t.labels }));
  writePrivateFile(file, JSON.stringify(groups, null, 2) + "\n");
}

export interface EmbeddedPrometheus {
  /** e.g. "http://127.0.0.1:41234" */
  readonly url: string;
  readonly targetsFile: string;
  readonly pid: number;
  setTargets(targets: readonly ScrapeTarget[]): void;
  close(): Promise<void>;
}

export interface EmbeddedPrometheusOptions {
  /** Its folder: configuration, targets, token, data. */
  readonly dir: string;
  readonly binary: string;
  /** The farm's read-only metrics token (written 0600 in `dir` for Prometheus to send). */
  readonly metricsToken: string;
  /** Default 1 000 ms: a spike shows within a second or two. */
  readonly scrapeIntervalMs?: number;
  /** Default 60 000 ms. */
  readonly readyTimeoutMs?: number;
}

export async function startPrometheus(options: EmbeddedPrometheusOptions): Promise<EmbeddedPrometheus> {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const interval = `${Math.max(1, Math.round((options.scrapeIntervalMs ?? 1000) / 1000))}s`;
  const targetsFile = path.join(options.dir, "targets.json");
  const tokenFile = path.join(options.dir, "metrics.token");
  const configFile = path.join(options.dir, "prometheus.yml");
  writeTargets(targetsFile, []);
  writePrivateFile(tokenFile, options.metricsToken);
  writePrivateFile(configFile, [
    "# Written by farmhand for its farm: the farm's balancers, VMs and controller, found in targets.json.",
    "global:",
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    "scrape_configs:",
    "  - job_name: farmhand",
    `    scrape_interval: ${interval}`,
    `    scrape_timeout: ${interval}`,
    "    metrics_path: /metrics",
    "    authorization:",
    "      type: Bearer",
    `      credentials_file: ${JSON.stringify(tokenFile)}`,
    "    file_sd_configs:",
    `      - files: [${JSON.stringify(targetsFile)}]`,
    `        refresh_interval: ${interval}`,
    "",
  ].join("\n"));
  let lastError = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn("/bin/sh", ["-c", WATCHDOG, options.binary,
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(options.dir, "data")}`,
      "--storage.tsdb.retention.time=2h",
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ], { stdio: ["ignore", "ignore", "pipe"], detached: true, env: { ...process.env, FARMHAND_PROMETHEUS_PARENT: String(process.pid) } });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    if (await ready(url, child, options.readyTimeoutMs ?? 60_000)) {
      return {
        url,
        targetsFile,
        pid: child.pid!,
        setTargets: (targets) => writeTargets(targetsFile, targets),
        close: () => stop(child),
      };
    }
    lastError = stderr.trim().split("\n").slice(-3).join(" / ");
    await stop(child);
    // A port taken between the probe and Prometheus's own bind: another try on another port.
    if (!/address already in use/i.test(stderr)) break;
  }
  throw new Error(`prometheus did not start: ${lastError || "no output"}`);
}

async function ready(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      const r = await request(`${url}/-/ready`, { headersTimeout: 1000, bodyTimeout: 1000 });
      await r.body.dump();
      if (r.statusCode === 200) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * Prometheus under a small shell that stays with it: under umask 077 (everything it writes, data and
 * lock, is its owner's alone, as farmhand's is), and ending it when the controller that started it is
 * gone, even killed outright, so no Prometheus outlives its farm's controller by more than a second.
 */
const WATCHDOG = [
  "umask 077",
  '"$0" "$@" &',
  "p=$!",
  "trap 'kill $p 2>/dev/null; wait $p; exit 0' TERM INT",
  'while kill -0 "$FARMHAND_PROMETHEUS_PARENT" 2>/dev/null && kill -0 $p 2>/dev/null; do sleep 1; done',
  "kill $p 2>/dev/null",
  "wait $p",
].join("\n");

/** Ends the shell and Prometheus with it (its process group), SIGKILL after 5 s. */
function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {}
    };
    const timer = setTimeout(() => group("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      // Whatever of the group is left (a sleep of the watchdog) goes too.
      group("SIGKILL");
      resolve();
    });
    group("SIGTERM");
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
