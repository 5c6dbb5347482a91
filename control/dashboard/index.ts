// The farm's live dashboard, served by its controller while it runs (`farmhand up`, `npm start`):
// the topology with each VM's health and address, every balancer's pools with request and error
// rates, in-flight requests and latency per backend, the farm's events as they happen, and request
// rate and pool members over the last minutes. The page updates itself from a server-sent event
// stream; nothing is polled from the browser.
//
// It listens on 127.0.0.1 only, and wants the farm's dashboard token (control/dashboard/link.ts) on
// every request but GET /healthz: as a bearer token, or the cookie the link sets. Every look at the
// farm goes through the ports the reconciler uses (the driver, the VMs' own announcements, the typed
// balancer admin client), never a driver's internals. It never keeps the controller's process alive:
// the controller decides how long it runs.
//
// The controller also writes the farm's journal here (control/ops/journal.ts): every event, with its
// time, for `farmhand status` to show from any process.

import { fstatSync, writeFileSync } from "node:fs";
import type { Driver } from "../drivers/driver.ts";
import type { FarmEvent } from "../farm/farm.ts";
import type { FarmHandle } from "../farm/open-farm.ts";
import { graphOf } from "../graph/from-model.ts";
import { withEntries } from "../graph/graph.ts";
import { layoutSvg } from "../graph/svg.ts";
import { appendJournal } from "../ops/journal.ts";
import { FarmObserver, type FarmView } from "../ops/farm-view.ts";
import { processStartTicks } from "../state/farm-records.ts";
import { farmDir } from "../state/home.ts";
import { fileSecrets, type FarmSecrets } from "../state/secrets.ts";
import { History } from "./history.ts";
import { dashboardLink, dashboardRecordFile, dashboardToken, removeDashboardRecord, type DashboardRecord } from "./link.ts";
import { ControllerMetrics } from "./metrics.ts";
import { serveDashboard, type DashboardServer, type Feed } from "./server.ts";

export { dashboardLink, dashboardToken, readDashboardRecord } from "./link.ts";

export interface DashboardOptions {
  /** The farm's name. */
  readonly name: string;
  /** The farmhand home: the farm's key, its records and journal. */
  readonly home: string;
  readonly driver: Driver;
  /** Default $FARMHAND_DASHBOARD_PORT, else any free port. */
  readonly port?: number;
  /** How often the farm is looked at. Default 2 000 ms. */
  readonly intervalMs?: number;
  /** How much the chart keeps. Default 15 minutes. */
  readonly historyMs?: number;
  /** Default: the farm's key in its folder. */
  readonly secrets?: FarmSecrets;
  /** An event in words, as the page lists it (the command line's words: describeEvent). */
  readonly describe?: (event: FarmEvent) => string;
}

export interface Dashboard {
  /** "http://127.0.0.1:PORT", without the token; null when it could not listen (see problem). */
  readonly url: string | null;
  /** The link that opens it (with the token). */
  readonly link: string | null;
  /** Why there is no dashboard (the port was taken): the controller runs on without one. */
  readonly problem: string | null;
  /** A farm event: journaled, counted, and sent to every open page at once. */
  event(event: FarmEvent): void;
  /** The farm the script built: its topology is drawn from its model, its state looked at through it. */
  attach(farm: FarmHandle, result?: unknown): void;
  close(): Promise<void>;
}

/**
 * Starts the dashboard. Never rejects: one that cannot listen says why in `problem`, and the
 * controller goes on without it (the farm matters more than its picture).
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { name, home, driver } = options;
  const secrets = options.secrets ?? fileSecrets(name, farmDir(name, home));
  const token = dashboardToken(secrets);
  const intervalMs = options.intervalMs ?? 2_000;
  const history = new History(options.historyMs ?? 15 * 60_000);
  const startedAt = Date.now();
  const metrics = new ControllerMetrics(name, startedAt);
  let farm: FarmHandle | null = null;
  let entryHosts = new Set<string>();
  let observer: FarmObserver | null = null;
  let view: FarmView | null = null;
  let graph: { svg: string; key: string } | null = null;
  const events: { at: string; event: FarmEvent; text: string }[] = [];
  const describe = options.describe ?? ((event: FarmEvent) => event.type);
  /** The autoscaler's latest demand reading per group (a balancer's name), for the chart. */
  const demand = new Map<string, number | null>();
  const autoscaleTrouble = new Map<string, string>();

  const feed: Feed = {
    current: () => ({ view, svg: graph?.svg ?? null, history: history.points(), events }),
    metrics: () => metrics.text(),
  };
  const envPort = process.env.FARMHAND_DASHBOARD_PORT;
  const port = options.port ?? (envPort === undefined || envPort === "" ? 0 : Number(envPort));
  let server: DashboardServer;
  try {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`FARMHAND_DASHBOARD_PORT: expected a port (got ${JSON.stringify(envPort)})`);
    server = await serveDashboard({ farm: name, token, metricsToken: secrets.metricsToken(), port, feed });
  } catch (error) {
    return withoutDashboard(name, home, `the dashboard could not listen on 127.0.0.1:${port}: ${(error as Error).message}`);
  }
  const record: DashboardRecord = { url: server.url, pid: process.pid, startTicks: processStartTicks(process.pid), startedAt: new Date(startedAt).toISOString() };
  writeFileSync(dashboardRecordFile(name, home), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });

  const drawGraph = (): void => {
    if (farm === null) return;
    const entries = (view?.vms ?? []).filter((v) => v.address !== null && entryHosts.has(v.address)).map((v) => v.name);
    const g = withEntries(graphOf(farm.model), entries);
    const key = JSON.stringify(g);
    if (graph?.key === key) return;
    graph = { svg: layoutSvg(g, { live: true }).svg, key };
    server.send("graph", { svg: graph.svg });
  };

  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const look = async (): Promise<void> => {
    if (observer === null) return;
    try {
      view = await observer.view();
      metrics.look(view);
      drawGraph();
      server.send("view", view);
      server.send("point", history.add(view, demand));
    } catch (error) {
      server.send("problem", { message: (error as Error).message });
    }
  };
  const loop = async (): Promise<void> => {
    await look();
    if (!stopped) {
      timer = setTimeout(() => void loop(), intervalMs);
      timer.unref();
    }
  };

  return {
    url: server.url,
    link: dashboardLink(server.url, token),
    problem: null,
    event(event) {
      // After close the farm may be gone with its folder (start removes it): nothing is written then.
      if (stopped) return;
      metrics.event(event);
      if (event.type === "autoscale") {
        // Each evaluation feeds the chart; only one that changes the group, or how its metrics read, is news.
        demand.set(event.group, event.demand[0] ?? null);
        const trouble = event.errors.join("; ");
        const same = event.to === event.from && trouble === (autoscaleTrouble.get(event.group) ?? "");
        autoscaleTrouble.set(event.group, trouble);
        if (same) return;
      }
      const entry = { at: new Date().toISOString(), event, text: describe(event) };
      try {
        appendJournal(name, { at: entry.at, event }, home);
      } catch {
        // The journal is for reading later; a full disk must not stop the controller.
      }
      events.push(entry);
      if (events.length > 200) events.shift();
      server.send("farm-event", entry);
    },
    attach(handle, result) {
      farm = handle;
      entryHosts = returnedHosts(result);
      if (observer === null) {
        observer = new FarmObserver({ name, driver, status: () => handle.status(), secrets, home, events: 0 });
        void loop();
      }
    },
    async close() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      removeDashboardRecord(name, home);
      await server.close();
    },
  };
}

/** "host:port" of each endpoint a script returned: where its clients come in. */
function returnedHosts(result: unknown): Set<string> {
  const hosts = new Set<string>();
  if (typeof result !== "object" || result === null) return hosts;
  for (const value of Object.values(result)) {
    const url = (value as { url?: unknown } | null)?.url;
    if (typeof url !== "string") continue;
    try {
      hosts.add(new URL(url).host);
    } catch {}
  }
  return hosts;
}

/** The controller's dashboard line: its link, except into a file (a detached controller's log keeps no token). */
export function announceDashboard(dashboard: Dashboard, farm: string, fd = 1): string {
  if (dashboard.url === null) return `dashboard: none (${dashboard.problem})`;
  let toFile = false;
  try {
    toFile = fstatSync(fd).isFile();
  } catch {}
  return toFile ? `dashboard: ${dashboard.url} (farmhand dashboard --farm ${farm} prints the link that opens it)` : `dashboard: ${dashboard.link}`;
}

/** A dashboard that could not start: the journal is still kept. */
function withoutDashboard(name: string, home: string, problem: string): Dashboard {
  return {
    url: null,
    link: null,
    problem,
    event(event) {
      try {
        appendJournal(name, { at: new Date().toISOString(), event }, home);
      } catch {}
    },
    attach() {},
    close: async () => {},
  };
}
