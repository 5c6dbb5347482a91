// The Proxmox VE driver: a VM is a linked (or full) clone of a template, configured through its
// `description` (the farm metadata as JSON, which cloud-init / the guest turns into its FARMHAND_*
// environment) and its `tags` (so a restarted controller finds what it made). Talks to the API
// through the `proxmox-api` package's ProxmoxEngine, with a `fetch` of our own (undici, so TLS
// trust is per driver, never process-wide).

import type { TLSSocket } from "node:tls";
import http from "node:http";
import path from "node:path";
import { ProxmoxEngine } from "proxmox-api";
import { Agent, buildConnector, fetch as undiciFetch, Response } from "undici";
import type { Driver, DriverEvent, VmLabels, VmRecord, VmSpec, VmState } from "../driver.ts";
import { DriverEvents } from "../events.ts";
import { KeyedSerializer } from "../serialize.ts";
import { MetadataError, VmRunningError } from "../../errors.ts";
import {
  ProxmoxApiError,
  ProxmoxAuthError,
  ProxmoxNoNodeError,
  ProxmoxPermissionError,
  ProxmoxTaskError,
  ProxmoxTemplateNotFoundError,
  ProxmoxTimeoutError,
  ProxmoxVmNotFoundError,
  ProxmoxVmStartError,
} from "./errors.ts";

export * from "./errors.ts";

export type ProxmoxAuth = { readonly tokenId: string; readonly tokenSecret: string } | { readonly username: string; readonly password: string };

export interface ProxmoxDriverOptions {
  readonly host: string;
  /** Default 8006. */
  readonly port?: number;
  /** Default "https". */
  readonly schema?: "https" | "http";
  readonly auth: ProxmoxAuth;
  /** TLS trust (verification is always on): a CA (PEM) and/or the server certificate's SHA-256 fingerprint. */
  readonly tls?: { readonly ca?: string | Buffer; readonly fingerprint?: string };
  /** Nodes VMs may be placed on. Default: every online node. */
  readonly nodes?: readonly string[];
  /** VmSpec.image (or the image folder's name) -> template VMID or template name. An image not listed is looked up as a template name. */
  readonly templates?: Readonly<Record<string, number | string>>;
  /** Full clones instead of linked ones. Default false. */
  readonly full?: boolean;
  /** The port the guest serves /.well-known/farmhand on. Default 8080. */
  readonly servicePort?: number;
  /** How many write calls run at once. Default 4. */
  readonly writeConcurrency?: number;
  /** How often `events` polls /cluster/resources. Default 2 000 ms. */
  readonly pollIntervalMs?: number;
  /** How often a task's status is polled. Default 250 ms. */
  readonly taskPollMs?: number;
  /** cloud-init user. Default "farmhand". */
  readonly ciuser?: string;
  /** Public SSH keys (one per line) for cloud-init. */
  readonly sshKeys?: string;
  /** A static ipconfig0 for a VM (e.g. "ip=10.0.0.5/24,gw=10.0.0.1"); undefined: DHCP / the agent tells. */
  readonly ipConfig?: (spec: VmSpec, vmid: number) => string | undefined;
  readonly timeouts?: {
    /** A task to end. Default 300 000 ms. */
    readonly taskMs?: number;
    /** A clone's lock to go. Default 120 000 ms. */
    readonly lockMs?: number;
    /** Start: the agent to report an address and the service to answer. Default 180 000 ms. */
    readonly startMs?: number;
    /** A graceful shutdown before a forced stop. Default 60 000 ms. */
    readonly shutdownMs?: number;
  };
  /** Retries of transient failures (lock timeouts, 595/596/599, connection errors). */
  readonly retry?: { readonly attempts?: number; readonly baseMs?: number; readonly maxMs?: number };
  /** The clock ticket age is measured with (injectable for tests). Default Date.now. */
  readonly now?: () => number;
  /** Re-login this long after a ticket was issued (tickets live 2 h). Default 110 min. */
  readonly ticketRenewMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const TAG_OK = /[^a-z0-9_\-+.]/g;

/** Tags as Proxmox stores them: lower-case, sorted, de-duplicated, ";"-joined. */
export function normalizeTags(tags: readonly string[]): string {
  return [...new Set(tags.map((t) => t.toLowerCase()).filter((t) => t !== ""))].sort().join(";");
}

/** The tags a farmhand VM carries. */
export function farmTags(labels: VmLabels): string {
  const clean = (s: string) => s.toLowerCase().replace(TAG_OK, "_");
  return normalizeTags(["farmhand", `farm-${clean(labels.farm)}`, `role-${clean(labels.role)}`]);
}

/** sshkeys as Proxmox wants them: URL-encoded, spaces as %20. */
export function encodeSshKeys(keys: string): string {
  return encodeURIComponent(keys).replace(/\+/g, "%2B");
}

/** The first usable IPv4 from agent/network-get-interfaces (not lo, not 127.0.0.1, not link-local). */
export function pickAddress(result: unknown): string | null {
  const list = Array.isArray(result) ? result : (result as { result?: unknown } | null)?.result;
  if (!Array.isArray(list)) return null;
  for (const iface of list as { name?: string; "ip-addresses"?: { "ip-address-type"?: string; "ip-address"?: string }[] }[]) {
    if (iface?.name === "lo" || !Array.isArray(iface?.["ip-addresses"])) continue;
    for (const a of iface["ip-addresses"]) {
      const ip = a?.["ip-address"];
      if (a?.["ip-address-type"] !== "ipv4" || typeof ip !== "string") continue;
      if (ip === "127.0.0.1" || ip.startsWith("169.254.")) continue;
      return ip;
    }
  }
  return null;
}

/** The farm metadata a VM carries in its `description` (which the guest turns into its FARMHAND_* environment). */
function describeSpec(spec: VmSpec): string {
  const { labels, imports, settings, image } = spec;
  return JSON.stringify({ farm: labels.farm, role: labels.role, vm: labels.vm, imports: { ...imports }, settings: { ...(settings ?? {}) }, image });
}

/** Reads the farm metadata a driver wrote into `description`. */
function parseDescription(description: unknown): { spec: VmSpec; image: string | null } | null {
  if (typeof description !== "string") return null;
  try {
    const o = JSON.parse(description) as Record<string, unknown>;
    const m = (typeof o.farmhand === "object" && o.farmhand !== null ? o.farmhand : o) as Record<string, unknown>;
    if (typeof m.farm !== "string" || typeof m.role !== "string" || typeof m.vm !== "string") return null;
    const image = typeof m.image === "string" ? m.image : null;
    return {
      image,
      spec: {
        labels: { farm: m.farm, role: m.role, vm: m.vm },
        image: image ?? "",
        imports: (m.imports ?? {}) as Record<string, string>,
        settings: (m.settings ?? {}) as Record<string, string>,
      },
    };
  } catch {
    return null;
  }
}

/** A DNS-valid VM name from the farm's VM name. */
const vmName = (name: string) =>
  name.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63) || "farmhand-vm";

interface ParsedError {
  status: number | null;
  reason: string;
  detail: string;
}

/** ProxmoxEngine throws plain Errors; the status and reason phrase are in the message. */
function parseEngineError(err: unknown): ParsedError {
  const msg = String((err as Error)?.message ?? err);
  let m = /return Error (\d{3}) ([\s\S]*?): (\{[\s\S]*\})$/.exec(msg);
  if (m !== null) return { status: Number(m[1]), reason: m[2], detail: m[3] };
  m = /connection failed with (\d{3}) ([\s\S]*?) return: ([\s\S]*)$/.exec(msg);
  if (m !== null) return { status: Number(m[1]), reason: m[2], detail: m[3] };
  const cause = (err as { cause?: { message?: string } })?.cause?.message;
  return { status: null, reason: cause !== undefined ? `${msg} (${cause})` : msg, detail: "" };
}

const CONNECT_FAILED = "connection failed: ";
/** Connection failures that retrying does not cure: the server's certificate is not trusted. */
const TLS_TRUST_RE = /certificate|fingerprint|self[- ]signed|unable to verify|CERT_|ERR_TLS/i;
const LOCK_RE = /can't lock file .*got timeout|VM is locked/i;
const EXISTS_RE = /already exists/i;
const MISSING_RE = /does not exist/i;

/** Worth retrying: lock timeouts, proxy/connection errors. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ProxmoxPermissionError) return false;
  if (err instanceof ProxmoxApiError) {
    if (err.status === null) return true;
    if (err.status === 599 && err.reason.startsWith(CONNECT_FAILED) && TLS_TRUST_RE.test(err.reason)) return false;
    if (err.status === 595 || err.status === 596 || err.status === 599) return true;
    return err.status >= 500 && LOCK_RE.test(err.reason);
  }
  if (err instanceof ProxmoxTaskError) return LOCK_RE.test(err.exitStatus);
  return false;
}

/**
 * What the cluster's answers may cost: the largest (a busy node's task list, a cluster's resources)
 * are well under a megabyte; a deadline on every head and body, below the engine's own 60 s abort.
 */
const API_LIMITS = { maxResponseSize: 32 * 1024 * 1024, headersTimeout: 50_000, bodyTimeout: 50_000 } as const;

function makeFetch(tls: ProxmoxDriverOptions["tls"]) {
  let dispatcher: Agent;
  if (tls?.fingerprint !== undefined) {
    const want = tls.fingerprint.replace(/[^0-9a-f]/gi, "").toUpperCase();
    // Trust exactly that certificate: chain verification is replaced by the pin (never disabled without it).
    // No TLS session is cached: a resumed session carries no peer certificate, so the pin could not
    // be checked on any connection after the first (and must never be skipped there).
    const base = buildConnector({ rejectUnauthorized: false, maxCachedSessions: 0, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) });
    dispatcher = new Agent({
      ...API_LIMITS,
      connect: (opts, cb) =>
        base(opts, (err, socket) => {
          if (err !== null) return cb(err, null);
          const cert = (socket as TLSSocket).getPeerCertificate?.();
          const got = (cert?.fingerprint256 ?? "").replace(/:/g, "").toUpperCase();
          if (got !== want) {
            socket.destroy();
            return cb(new Error(`proxmox: server certificate fingerprint ${cert?.fingerprint256 ?? "(none)"} does not match the pinned one`), null);
          }
          cb(null, socket);
        }),
    });
  } else if (tls?.ca !== undefined) {
    dispatcher = new Agent({ ...API_LIMITS, connect: { ca: tls.ca, rejectUnauthorized: true } });
  } else {
    dispatcher = new Agent(API_LIMITS);
  }
  // A fetch that throws leaves ProxmoxEngine's 60 s abort timer armed (it clears it only on an
  // answer), which keeps the process alive: a connection failure becomes a synthetic 599 answer
  // (the status pveproxy itself uses for "no connection"), which the engine reports as an error.
  const f = async (url: string | URL, init?: unknown) => {
    try {
      return await undiciFetch(url, { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1]);
    } catch (err) {
      if ((init as { signal?: AbortSignal } | undefined)?.signal?.aborted) throw err;
      const e = err as { message?: string; cause?: { message?: string; code?: string } };
      const why = `${CONNECT_FAILED}${e.cause?.message ?? e.message ?? String(err)}${e.cause?.code ? ` (${e.cause.code})` : ""}`;
      return new Response(JSON.stringify({ data: null }), {
        status: 599,
        statusText: why.replace(/[^\x20-\x7e]+/g, " ").slice(0, 300),
        headers: { "content-type": "application/json;charset=UTF-8" },
      });
    }
  };
  return { fetch: f, close: () => (dispatcher.closed || dispatcher.destroyed ? Promise.resolve() : dispatcher.close()) };
}

interface Known {
  node: string;
  spec: VmSpec | null;
  state: VmState;
  address: { host: string; port: number } | null;
  stopRequested: boolean;
  lastStartUpid: string | null;
}

export function proxmoxDriver(options: ProxmoxDriverOptions): Driver {
  const servicePort = options.servicePort ?? 8080;
  const taskMs = options.timeouts?.taskMs ?? 300_000;
  const lockMs = options.timeouts?.lockMs ?? 120_000;
  const startMs = options.timeouts?.startMs ?? 180_000;
  const shutdownMs = options.timeouts?.shutdownMs ?? 60_000;
  const attempts = options.retry?.attempts ?? 8;
  const baseMs = options.retry?.baseMs ?? 200;
  const maxMs = options.retry?.maxMs ?? 5_000;
  const taskPollMs = options.taskPollMs ?? 250;
  const pollIntervalMs = options.pollIntervalMs ?? 2_000;
  const writeConcurrency = options.writeConcurrency ?? 4;
  if (!Number.isInteger(writeConcurrency) || writeConcurrency < 1) {
    throw new RangeError(`proxmox driver: writeConcurrency must be a positive integer (got ${writeConcurrency})`);
  }
  const now = options.now ?? (() => Date.now());
  const ticketRenewMs = options.ticketRenewMs ?? 110 * 60 * 1000;
  const full = options.full ?? false;
  const templates = options.templates ?? {};

  const tlsFetch = makeFetch(options.tls);
  const common = {
    host: options.host,
    port: options.port ?? 8006,
    schema: options.schema ?? "https",
    fetch: tlsFetch.fetch as never,
  };
  const passwordAuth = "username" in options.auth;
  const engine =
    "tokenId" in options.auth
      ? new ProxmoxEngine({ ...common, tokenID: options.auth.tokenId, tokenSecret: options.auth.tokenSecret })
      : new ProxmoxEngine({ ...common, username: options.auth.username, password: options.auth.password });

  // ----- tickets: track the age of the engine's ticket, drop it before it expires
  let seenTicket: string | undefined;
  let ticketIssued = 0;
  const noteTicket = () => {
    if (!passwordAuth) return;
    if (engine.ticket !== undefined && engine.ticket !== seenTicket) {
      seenTicket = engine.ticket;
      ticketIssued = now();
    }
  };
  const renewIfOld = () => {
    if (!passwordAuth || engine.ticket === undefined) return;
    if (engine.ticket === seenTicket && now() - ticketIssued >= ticketRenewMs) {
      engine.ticket = undefined;
      engine.CSRFPreventionToken = undefined;
    }
  };

  // ----- the write limiter
  let active = 0;
  const waiting: (() => void)[] = [];
  const limit = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= writeConcurrency) await new Promise<void>((r) => waiting.push(r));
    else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next !== undefined) next();
      else active--;
    }
  };

  const backoff = (attempt: number) => Math.min(maxMs, baseMs * 2 ** attempt) * (0.75 + Math.random() * 0.5);

  /** Runs `fn`, retrying transient failures with capped exponential backoff. */
  const retrying = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isTransient(err) || attempt + 1 >= attempts) throw err;
        await sleep(backoff(attempt));
      }
    }
  };

  /** One API call (path after /api2/json), classified errors, transient ones retried. */
  const api = <T = any>(method: "GET" | "POST" | "PUT" | "DELETE", path: string, params?: Record<string, unknown>): Promise<T> => {
    const once = async (): Promise<T> => {
      let reauthed = false;
      for (;;) {
        renewIfOld();
        try {
          const data = (await engine.doRequest(method, `/api2/json${path}`, path, params === undefined ? undefined : { ...params })) as T;
          noteTicket();
          return data;
        } catch (err) {
          noteTicket();
          const msg = String((err as Error)?.message ?? err);
          if (/^Auth .* Failed!$/.test(msg)) {
            const cause = String((err as { cause?: Error }).cause?.message ?? "");
            if (/login failed with 401/.test(cause)) throw new ProxmoxAuthError(`proxmox: login as ${(options.auth as { username: string }).username} failed: ${cause}`, err);
            throw new ProxmoxApiError("POST", "/access/ticket", null, cause || msg, undefined, err);
          }
          const p = parseEngineError(err);
          if (p.status === 401 && passwordAuth && !reauthed) {
            reauthed = true;
            engine.ticket = undefined;
            engine.CSRFPreventionToken = undefined;
            continue;
          }
          if (p.status === 403) throw new ProxmoxPermissionError(method, path, p.reason);
          throw new ProxmoxApiError(method, path, p.status, p.reason, p.detail, err);
        }
      }
    };
    const run = () => retrying(once);
    return method === "GET" ? run() : limit(run);
  };

  // ----- tasks

  const taskLogTail = async (node: string, upid: string, lines = 20): Promise<string> => {
    try {
      const log = await api<{ n: number; t: string }[]>("GET", `/nodes/${node}/tasks/${encodeURIComponent(upid)}/log`, { start: 0, limit: 100_000 });
      return log.slice(-lines).map((l) => l.t).join("\n");
    } catch (err) {
      return `(task log unavailable: ${(err as Error).message})`;
    }
  };

  /** Waits for a task to stop; OK and WARNINGS: n are success. */
  const waitTask = async (node: string, upid: string, what: string, timeoutMs = taskMs): Promise<string> => {
    if (typeof upid !== "string" || !upid.startsWith("UPID:")) return "OK"; // a synchronous answer
    const taskNode = upid.split(":")[1] || node;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await api<{ status: string; exitstatus?: string }>("GET", `/nodes/${taskNode}/tasks/${encodeURIComponent(upid)}/status`);
      if (st.status === "stopped") {
        const exit = st.exitstatus ?? "unknown";
        if (exit === "OK" || /^WARNINGS: \d+$/.test(exit)) return exit;
        throw new ProxmoxTaskError(what, upid, exit, await taskLogTail(taskNode, upid));
      }
      if (Date.now() >= deadline) throw new ProxmoxTimeoutError(`proxmox: ${what} (task ${upid}) did not end within ${timeoutMs} ms`);
      await sleep(taskPollMs);
    }
  };

  /** POST/DELETE that starts a task, then waits for it; the whole is retried when transient. */
  const runTask = (method: "POST" | "DELETE", node: string, path: string, params: Record<string, unknown> | undefined, what: string, timeoutMs?: number) =>
    retrying(async () => {
      const upid = await api<string>(method, path, params);
      return waitTask(node, upid, what, timeoutMs);
    });

  // ----- cluster lookups

  interface Resource {
    vmid: number;
    node: string;
    name?: string;
    status: string;
    template?: number;
    tags?: string;
    lock?: string;
    /** Seconds since it started, while it runs. */
    uptime?: number;
  }
  const resources = async (): Promise<Resource[]> =>
    (await api<Resource[]>("GET", "/cluster/resources", { type: "vm" })).filter((r) => r && typeof r.vmid === "number");

  const find = async (id: string): Promise<Resource | null> => {
    const vmid = Number(id);
    if (!/^\d+$/.test(id)) return null;
    return (await resources()).find((r) => r.vmid === vmid && r.template !== 1) ?? null;
  };

  const findTemplate = async (image: string): Promise<Resource> => {
    // A role's image is a folder path on the controller; a cluster knows it by the folder's name.
    // Unmapped, it is looked up as a template of the folder's name (the error then names the key to add).
    const key = Object.hasOwn(templates, image) ? image : path.basename(image);
    const mapped = Object.hasOwn(templates, key);
    const ref = mapped ? templates[key] : key;
    const all = await resources();
    const t = typeof ref === "number" || /^\d+$/.test(ref)
      ? all.find((r) => r.vmid === Number(ref) && r.template === 1)
      : all.find((r) => r.template === 1 && r.name === ref);
    if (t === undefined) throw new ProxmoxTemplateNotFoundError(image, ref, key, mapped);
    return t;
  };

  const chooseNode = async (): Promise<string> => {
    const nodes = await api<{ node: string; status: string; maxmem?: number; mem?: number }[]>("GET", "/nodes");
    const allowed = nodes.filter((n) => n.status === "online" && (options.nodes === undefined || options.nodes.includes(n.node)));
    if (allowed.length === 0) {
      throw new ProxmoxNoNodeError(`proxmox: no allowed node is online (allowed: ${options.nodes?.join(", ") ?? "any"}; nodes: ${nodes.map((n) => `${n.node}=${n.status}`).join(", ")})`);
    }
    allowed.sort((a, b) => (b.maxmem ?? 0) - (b.mem ?? 0) - ((a.maxmem ?? 0) - (a.mem ?? 0)));
    return allowed[0].node;
  };

  // ----- VMID allocation: /cluster/nextid reserves nothing
  const reserved = new Set<number>();
  let allocChain: Promise<unknown> = Promise.resolve();
  const allocate = (): Promise<number> => {
    const next = allocChain.then(async () => {
      let id = Number(await api<string | number>("GET", "/cluster/nextid"));
      while (reserved.has(id)) id++;
      reserved.add(id);
      return id;
    });
    allocChain = next.catch(() => {});
    return next;
  };

  // ----- state this instance knows

  const known = new Map<string, Known>();
  /** Specs read from VM descriptions (this driver changes a description only through `reconfigure`, which updates both). */
  const specs = new Map<string, VmSpec>();
  const events = new DriverEvents();
  const emit = (event: DriverEvent) => events.emit(event);
  const remember = (id: string, patch: Partial<Known> & { node: string }): Known => {
    const cur = known.get(id) ?? { node: patch.node, spec: null, state: "created" as VmState, address: null, stopRequested: false, lastStartUpid: null };
    Object.assign(cur, patch);
    known.set(id, cur);
    return cur;
  };

  const serializer = new KeyedSerializer();
  const serialize = <T>(id: string, fn: () => Promise<T>): Promise<T> => serializer.run(id, fn);

  const config = (node: string, id: string) => api<Record<string, unknown>>("GET", `/nodes/${node}/qemu/${id}/config`);

  const specOf = async (id: string, node: string): Promise<VmSpec | null> => {
    const cached = known.get(id)?.spec ?? specs.get(id);
    if (cached) return cached;
    const parsed = parseDescription((await config(node, id)).description);
    if (parsed === null) return null;
    specs.set(id, parsed.spec);
    return parsed.spec;
  };

  const staticAddress = (cfg: Record<string, unknown>): string | null => {
    const m = /(?:^|,)ip=(\d+\.\d+\.\d+\.\d+)\/\d+/.exec(String(cfg.ipconfig0 ?? ""));
    return m === null ? null : m[1];
  };

  const probe = (host: string): Promise<boolean> =>
    new Promise((resolve) => {
      const req = http.get({ host, port: servicePort, path: "/.well-known/farmhand", agent: false, timeout: 2_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(false));
    });

  /** The VM's address: the static ipconfig0 one, else the agent's first usable IPv4 (polled with backoff). */
  const addressOf = async (id: string, node: string, deadline: number, once = false): Promise<string | null> => {
    const stat = staticAddress(await config(node, id));
    if (stat !== null) return stat;
    let delay = 100;
    for (;;) {
      try {
        const ip = pickAddress(await api("GET", `/nodes/${node}/qemu/${id}/agent/network-get-interfaces`));
        if (ip !== null) return ip;
      } catch (err) {
        if (err instanceof ProxmoxPermissionError) throw err;
      }
      if (once || Date.now() >= deadline) return null;
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
      delay = Math.min(delay * 2, 2_000);
    }
  };

  const output = async (id: string): Promise<string> => {
    const r = await find(id).catch(() => null);
    const k = known.get(id);
    const node = r?.node ?? k?.node;
    if (node === undefined) return "";
    let upid = k?.lastStartUpid ?? null;
    if (upid === null) {
      const tasks = await api<{ upid: string; type: string; starttime: number }[]>("GET", `/nodes/${node}/tasks`, { vmid: id, typefilter: "qmstart", limit: 50 }).catch(() => []);
      const starts = tasks.filter((t) => t.type === "qmstart").sort((a, b) => b.starttime - a.starttime);
      upid = starts[0]?.upid ?? null;
    }
    return upid === null ? "" : taskLogTail(node, upid, 200);
  };

  /**
   * A VM this instance knows running that the cluster shows not running or gone, with no stop from this
   * driver and no operation of it in flight, has failed: marked so at once, and reported once,
   * whichever notices first (the poll, or a status or list that looks before it).
   */
  const noticeStopped = (id: string, k: Known, r: Resource | undefined): void => {
    if (k.state !== "running" || k.stopRequested || serializer.busy(id)) return;
    k.state = "failed";
    k.address = null;
    const reason = r === undefined ? "the VM disappeared from the cluster" : `the VM is ${r.status} without a stop from this driver`;
    void output(id).catch(() => "").then((out) => emit({ type: "vm-failed", id, reason, output: out }));
  };

  /** The record of a VM on the cluster (r), as this instance sees it. */
  const recordOf = async (r: Resource, spec: VmSpec): Promise<VmRecord> => {
    const id = String(r.vmid);
    // A VM this instance did not create (adopted): "stopped" when not running, whether it ever ran or not.
    const k = known.has(id) ? remember(id, { node: r.node, spec }) : remember(id, { node: r.node, spec, state: r.status === "running" ? "starting" : "stopped" });
    let state: VmState;
    if (r.status === "running") {
      if (k.state !== "running" || k.address === null) {
        const host = await addressOf(id, r.node, 0, true).catch(() => null);
        if (host !== null && !serializer.busy(id)) {
          k.address = { host, port: servicePort };
          k.state = "running";
        }
      }
      state = k.address !== null && k.state === "running" ? "running" : "starting";
    } else if (r.status === "stopped") {
      noticeStopped(id, k, r);
      state = k.state === "created" || k.state === "failed" ? k.state : "stopped";
      if (k.state === "running" || k.state === "starting") k.state = "stopped";
      k.address = null;
    } else state = k.state;
    const details = { node: r.node, ...(r.status === "running" && typeof r.uptime === "number" && r.uptime > 0 ? { startedAt: Date.now() - r.uptime * 1000 } : {}) };
    return { id, spec, state, address: state === "running" ? k.address : null, details };
  };

  // ----- operations

  const destroyVm = async (id: string): Promise<void> => {
    const r = await find(id);
    if (r === null) {
      known.delete(id);
      return;
    }
    const wasRunning = r.status === "running";
    if (wasRunning) await stopVm(id, r);
    try {
      await runTask("DELETE", r.node, `/nodes/${r.node}/qemu/${id}`, { purge: 1, "destroy-unreferenced-disks": 1 }, `destroying VM ${id}`);
    } catch (err) {
      const text = err instanceof ProxmoxTaskError ? err.exitStatus : err instanceof ProxmoxApiError ? err.reason : "";
      if (!MISSING_RE.test(text)) throw err;
    }
    known.delete(id);
    specs.delete(id);
    if (wasRunning) emit({ type: "vm-stopped", id });
  };

  /** A shutdown the guest is asked for, forced after shutdownMs; `force`: the hard stop at once (a hung guest ignores the ask). */
  const stopVm = async (id: string, r: Resource, force = false): Promise<boolean> => {
    const k = remember(id, { node: r.node, stopRequested: true });
    if (r.status !== "running") return false;
    const base = `/nodes/${r.node}/qemu/${id}/status`;
    try {
      if (force) throw new Error("forced");
      await runTask("POST", r.node, `${base}/shutdown`, { timeout: Math.max(1, Math.ceil(shutdownMs / 1000)) }, `shutting down VM ${id}`, shutdownMs + 10_000);
    } catch (err) {
      if (err instanceof ProxmoxPermissionError) throw err;
      await runTask("POST", r.node, `${base}/stop`, {}, `stopping VM ${id}`);
    }
    k.state = "stopped";
    k.address = null;
    return true;
  };

  const create = async (spec: VmSpec): Promise<VmRecord> => {
    for (const key of ["farm", "role", "vm"] as const) {
      if (typeof spec.labels?.[key] !== "string" || spec.labels[key] === "") throw new Error(`proxmox driver: spec.labels.${key} must be a non-empty string`);
    }
    const template = await findTemplate(spec.image);
    const node = await chooseNode();
    const held: number[] = [];
    let vmid = -1;
    try {
      // Clone under a fresh VMID; another client may take the same one: then the next.
      for (let tries = 0; ; tries++) {
        vmid = await allocate();
        held.push(vmid);
        try {
          await runTask("POST", template.node, `/nodes/${template.node}/qemu/${template.vmid}/clone`,
            { newid: vmid, name: vmName(spec.labels.vm), full: full ? 1 : 0, target: node }, `cloning template ${template.vmid} to VM ${vmid}`);
          break;
        } catch (err) {
          const text = err instanceof ProxmoxTaskError ? err.exitStatus : err instanceof ProxmoxApiError ? err.reason : "";
          if (EXISTS_RE.test(text) && tries < 20) continue;
          throw err;
        }
      }
    } finally {
      for (const h of held) reserved.delete(h);
    }
    const id = String(vmid);
    try {
      // A clone holds its config lock until it is done.
      const deadline = Date.now() + lockMs;
      for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
        const cfg = await config(node, id);
        if (cfg.lock === undefined) break;
        if (Date.now() >= deadline) throw new ProxmoxTimeoutError(`proxmox: VM ${id} is still locked (${String(cfg.lock)}) ${lockMs} ms after its clone`);
        await sleep(delay);
      }
      const params: Record<string, unknown> = {
        description: describeSpec(spec),
        tags: farmTags(spec.labels),
        ciuser: options.ciuser ?? "farmhand",
      };
      if (options.sshKeys !== undefined && options.sshKeys.trim() !== "") params.sshkeys = encodeSshKeys(options.sshKeys.trim());
      const ip = options.ipConfig?.(spec, vmid);
      if (ip !== undefined) params.ipconfig0 = ip;
      await api("PUT", `/nodes/${node}/qemu/${id}/config`, params);
    } catch (err) {
      await destroyVm(id).catch(() => {});
      throw err;
    }
    const fresh: VmSpec = { labels: { ...spec.labels }, image: spec.image, imports: { ...spec.imports }, settings: { ...(spec.settings ?? {}) } };
    remember(id, { node, spec: fresh, state: "created", address: null, stopRequested: false });
    return { id, spec: fresh, state: "created", address: null };
  };

  const start = async (id: string): Promise<VmRecord> => {
    const r = await find(id);
    if (r === null) throw new ProxmoxVmNotFoundError(id);
    const spec = await specOf(id, r.node);
    const k = remember(id, { node: r.node, stopRequested: false, state: "starting", address: null });
    const deadline = Date.now() + startMs;
    try {
      if (r.status !== "running") {
        const upid = await retrying(async () => {
          const u = await api<string>("POST", `/nodes/${r.node}/qemu/${id}/status/start`, {});
          k.lastStartUpid = u;
          await waitTask(r.node, u, `starting VM ${id}`);
          return u;
        });
        k.lastStartUpid = upid;
      }
      const host = await addressOf(id, r.node, deadline);
      if (host === null) throw new ProxmoxTimeoutError(`proxmox: VM ${id} reported no IPv4 address through its guest agent within ${startMs} ms`);
      while (!(await probe(host))) {
        if (Date.now() >= deadline) throw new ProxmoxTimeoutError(`proxmox: VM ${id} did not answer GET http://${host}:${servicePort}/.well-known/farmhand within ${startMs} ms`);
        await sleep(100);
      }
      k.state = "running";
      k.address = { host, port: servicePort };
    } catch (err) {
      k.state = "failed";
      k.stopRequested = true;
      const out = await output(id).catch(() => "");
      const cur = await find(id).catch(() => null);
      if (cur !== null && cur.status === "running") {
        await runTask("POST", cur.node, `/nodes/${cur.node}/qemu/${id}/status/stop`, {}, `stopping VM ${id}`).catch(() => {});
      }
      if (err instanceof ProxmoxPermissionError || err instanceof ProxmoxTaskError) throw err;
      throw new ProxmoxVmStartError(`VM ${spec?.labels.vm ?? id} (${id}): ${(err as Error).message}`, id, out);
    }
    emit({ type: "vm-running", id });
    return { id, spec: spec ?? { labels: { farm: "", role: "", vm: String(r.name ?? id) }, image: "", imports: {} }, state: "running", address: k.address };
  };

  // ----- events: poll the cluster for VMs that stopped without being asked to

  let timer: NodeJS.Timeout | null = null;
  let polling = false;
  const poll = async () => {
    const all = await resources();
    const byId = new Map(all.map((r) => [String(r.vmid), r]));
    for (const [id, k] of known) {
      const r = byId.get(id);
      if (r === undefined || r.status !== "running") noticeStopped(id, k, r);
    }
  };
  const ensurePolling = () => {
    if (timer !== null || events.closed) return;
    timer = setInterval(() => {
      if (polling) return;
      polling = true;
      void poll().catch(() => {}).finally(() => (polling = false));
    }, pollIntervalMs);
    timer.unref();
  };

  return {
    name: "proxmox",
    create,
    start: (id) => serialize(id, () => start(id)),
    stop: (id, options = {}) =>
      serialize(id, async () => {
        const r = await find(id);
        if (r === null) throw new ProxmoxVmNotFoundError(id);
        if (await stopVm(id, r, options.force === true)) emit({ type: "vm-stopped", id });
      }),
    reconfigure: (id, imports) =>
      serialize(id, async () => {
        const r = await find(id);
        if (r === null) throw new ProxmoxVmNotFoundError(id);
        const spec = await specOf(id, r.node);
        if (spec === null) throw new MetadataError(`proxmox: VM ${id} carries no farm metadata in its description`);
        if (r.status === "running") throw new VmRunningError("proxmox", spec.labels.vm, id, "running");
        const fresh: VmSpec = { ...spec, imports: { ...imports } };
        await api("PUT", `/nodes/${r.node}/qemu/${id}/config`, { description: describeSpec(fresh) });
        specs.set(id, fresh);
        const k = remember(id, { node: r.node, spec: fresh });
        return { id, spec: fresh, state: k.state === "running" ? "stopped" : k.state, address: null };
      }),
    destroy: (id) => serialize(id, () => destroyVm(id)),
    async status(id) {
      const r = await find(id);
      if (r === null) return null;
      const spec = await specOf(id, r.node);
      if (spec === null) return null;
      return recordOf(r, spec);
    },
    async list(labels) {
      const out: VmRecord[] = [];
      for (const r of await resources()) {
        if (r.template === 1 || !(r.tags ?? "").split(/[;,\s]+/).includes("farmhand")) continue;
        const id = String(r.vmid);
        const spec = await specOf(id, r.node).catch(() => null);
        if (spec === null) continue;
        const match = (Object.keys(labels) as (keyof VmLabels)[]).every((k) => labels[k] === undefined || spec.labels[k] === labels[k]);
        if (match) out.push(await recordOf(r, spec));
      }
      return out;
    },
    output,
    events(listener) {
      const unsubscribe = events.subscribe(listener);
      ensurePolling();
      return unsubscribe;
    },
    async close() {
      events.close();
      if (timer !== null) clearInterval(timer);
      timer = null;
      await tlsFetch.close();
    },
  };
}
