// A Proxmox VE REST API emulator: the stand-in for a Proxmox host in tests (and behind
// `farmhand pve-emulator`). It serves the part of /api2/json a farmhand driver uses, with the real
// API's envelopes, status codes, reason-phrase errors, async tasks (UPIDs), locks and guest agent.
// A started VM runs its template's image as a real local process on its own loopback address, so
// traffic really flows.
//
// Guest metadata (how a VM's FARMHAND_* environment is derived): the VM's `description` config
// key holds either
//   - a JSON object, `{"farm": "...", "role": "...", "vm": "...", "imports": {...}, "settings": {...}}`
//     (the fields may also sit under a top-level "farmhand" key), or
//   - key=value lines: `farm=shop`, `role=web`, `vm=web-1`, `imports={"api":"http://..."}`,
//     `settings={...}` (imports and settings as JSON; other lines are ignored; a `farmhand.` prefix
//     on the keys is allowed).
// FARMHAND_VM defaults to the VM's `name`, FARMHAND_IMPORTS and FARMHAND_SETTINGS to `{}`.
// FARMHAND_LISTEN is `<address>:<vmPort>`, where the address is the VM's own 127.a.b.c (given at
// clone time, or taken from `ipconfig0: ip=127.x.y.z/N` when that names a loopback address).
// FARMHAND_VM_ID is the VMID; FARMHAND_OWNER is passed through from the emulator's environment.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import type { AddressInfo } from "node:net";
import path from "node:path";

// ---------------------------------------------------------------------------------------------
// Public types

export interface EmulatorNodeOptions {
  readonly name: string;
  /** Total memory in bytes. Default 64 GiB. */
  readonly memory?: number;
  readonly cpus?: number;
}

export interface EmulatorTemplate {
  /** The template VM's name. */
  readonly name: string;
  readonly node: string;
  /** The image folder (farmhand.json + entry) a VM cloned from it runs. */
  readonly image: string;
  /** MiB. Default 512. */
  readonly memory?: number;
  readonly cores?: number;
  readonly tags?: string;
}

export interface EmulatorOptions {
  /** Default [{ name: "pve" }]. */
  readonly nodes?: readonly (string | EmulatorNodeOptions)[];
  /** VMID -> template. */
  readonly templates?: Readonly<Record<number, EmulatorTemplate>>;
  /** Default "root@pam". */
  readonly user?: string;
  /** Default "farmhand". */
  readonly password?: string;
  /** The API token's id (after the "!"). Default "farmhand". */
  readonly tokenName?: string;
  /** Default "127.0.0.1". */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** How long a task takes. Default 20 ms. */
  readonly taskDelayMs?: number;
  /** From a finished start task until the guest agent answers. Default 200 ms. */
  readonly bootDelayMs?: number;
  /** From the agent answering until eth0 reports its addresses (before: no "ip-addresses"). Default 100 ms. */
  readonly addressDelayMs?: number;
  /** Default shutdown timeout when the request gives none. Default 10 000 ms. */
  readonly shutdownTimeoutMs?: number;
  /** The port every VM process listens on (on its own address). Default 8080. */
  readonly vmPort?: number;
  /** The first two octets of VM addresses, e.g. "127.77". Default derived from the pid. */
  readonly addressPrefix?: string;
  /** The emulated clock (ms since the epoch): ticket expiry and task start times. Default Date.now. */
  readonly now?: () => number;
  /** Serve HTTPS with a fresh self-signed certificate (needs the openssl binary). Default false. */
  readonly tls?: boolean;
  /**
   * Keep connections open between requests. Default true; false closes each after its answer, so
   * every call of a client opens a new connection (and, over TLS, a new handshake).
   */
  readonly keepAlive?: boolean;
}

export interface TaskFault {
  /** Task type ("qmclone", "qmstart", "qmstop", "qmshutdown", "qmdestroy", "qmconfig") or "*". */
  type: string;
  count: number;
}

/** Mutable: tests change it between requests. */
export interface Faults {
  /** The next `count` tasks of `type` end with exitstatus `message` (and do nothing). */
  failTasks: (TaskFault & { message?: string })[];
  /** The next `count` tasks of `type` succeed but end with "WARNINGS: n". */
  warnTasks: (TaskFault & { warnings?: number })[];
  /**
   * The next `count` operations that lock VM `vmid`'s config fail with "can't lock file
   * '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout": at once (500) for those that lock
   * before forking (config updates, clone), in the task for the others (start, stop, shutdown, delete).
   */
  lockTimeouts: { vmid: number; count: number }[];
  /** The next `count` requests answer 596 with `message` (a broken pveproxy connection). */
  proxyErrors: { count: number; message?: string };
  /** Tasks of `type` take `extraMs` longer. */
  slowTasks: { type: string; extraMs: number }[];
  /** Nodes that are offline: their API answers 595, /nodes shows them offline. */
  offlineNodes: Set<string>;
  /** Requests whose path (after /api2/json) starts with `prefix` answer 403. */
  denied: { prefix: string; methods?: string[]; message?: string }[];
  /** Requests of these methods are answered `ms` later (a busy pveproxy). */
  slowAnswers: { methods: string[]; ms: number }[];
}

export interface RecordedRequest {
  readonly method: string;
  /** The path after /api2/json, without the query. */
  readonly path: string;
  readonly query: Record<string, string>;
  /** Body parameters (form or JSON), as received. */
  readonly body: Record<string, unknown>;
  readonly contentType: string | null;
  readonly auth: "token" | "ticket" | "none";
  /** The answer's status (set once answered). */
  status: number;
}

export interface EmulatedVmProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  exited: boolean;
  readonly exit: Promise<void>;
}

export interface EmulatedVm {
  readonly vmid: number;
  node: string;
  config: Record<string, string | number>;
  /** The image folder its processes run. */
  readonly image: string;
  /** Its own loopback address. */
  address: string;
  proc: EmulatedVmProcess | null;
  /** performance.now() when the agent starts answering, or null while stopped. */
  agentAt: number | null;
  startedAt: number | null;
  /** The tail of its processes' output. */
  output: string;
}

export interface EmulatedTask {
  readonly upid: string;
  readonly node: string;
  readonly type: string;
  readonly id: string;
  readonly user: string;
  readonly pid: number;
  readonly pstart: number;
  readonly starttime: number;
  status: "running" | "stopped";
  exitstatus?: string;
  endtime?: number;
  readonly log: string[];
  readonly done: Promise<void>;
}

export interface EmulatorState {
  readonly nodes: Map<string, { name: string; maxmem: number; maxcpu: number }>;
  readonly vms: Map<number, EmulatedVm>;
  readonly tasks: Map<string, EmulatedTask>;
}

export interface Emulator {
  /** Base URL, e.g. "http://127.0.0.1:34567/api2/json". */
  readonly url: string;
  /** The origin, e.g. "http://127.0.0.1:34567". */
  readonly origin: string;
  readonly token: { readonly id: string; readonly secret: string; readonly header: string };
  readonly user: string;
  readonly password: string;
  readonly state: EmulatorState;
  readonly faults: Faults;
  readonly requests: RecordedRequest[];
  /** Write requests (anything but GET) being handled now, and the most there were at once. */
  readonly writes: { inFlight: number; peak: number };
  /** PEM of the self-signed certificate when tls is on. */
  readonly certificate: string | null;
  /** TLS handshakes so far when tls is on: full ones, and those that resumed an earlier session. */
  readonly handshakes: { full: number; resumed: number };
  /** Resolves once every task now running has ended. */
  idle(): Promise<void>;
  /** Stops the server and kills every emulated VM process. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Errors

class ApiError extends Error {
  readonly status: number;
  readonly errors: Record<string, string> | undefined;
  constructor(status: number, message: string, errors?: Record<string, string>) {
    super(message);
    this.status = status;
    this.errors = errors;
  }
}

const paramError = (errors: Record<string, string>) => new ApiError(400, "Parameter verification failed.", errors);
const fail = (message: string) => new ApiError(500, message);

// ---------------------------------------------------------------------------------------------
// Helpers

const TICKET_LIFETIME_MS = 2 * 60 * 60 * 1000;
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const OUTPUT_LIMIT = 64 * 1024;

const hex8 = (n: number) => Math.floor(n).toString(16).toUpperCase().padStart(8, "0");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for `work`, or `ms` at most, leaving no timer behind when `work` wins. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** Tags as Proxmox stores them: split on ; , or spaces, lower-cased, sorted, de-duplicated, ";"-joined. */
export function normalizeTags(value: string): string {
  const tags = value.split(/[;,\s]+/).filter((t) => t !== "");
  const sorted = [...tags].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));
  const seen = new Set<string>();
  const out: string[] = [];
  for (const t of sorted) {
    const l = t.toLowerCase();
    if (seen.has(l)) continue;
    seen.add(l);
    out.push(l);
  }
  return out.join(";");
}

export interface GuestMetadata {
  farm?: string;
  role?: string;
  vm?: string;
  imports?: Record<string, string>;
  settings?: Record<string, string>;
}

/** Reads the farmhand metadata from a VM description (see the header comment for the format). */
export function parseGuestMetadata(description: string | undefined): GuestMetadata {
  if (description === undefined || description.trim() === "") return {};
  const pick = (o: Record<string, unknown>): GuestMetadata => {
    const m: GuestMetadata = {};
    for (const k of ["farm", "role", "vm"] as const) if (typeof o[k] === "string") m[k] = o[k] as string;
    for (const k of ["imports", "settings"] as const) {
      const v = o[k];
      if (typeof v === "object" && v !== null && !Array.isArray(v)) m[k] = v as Record<string, string>;
    }
    return m;
  };
  try {
    const raw = JSON.parse(description) as unknown;
    if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
      const o = raw as Record<string, unknown>;
      const inner = o.farmhand;
      return pick(typeof inner === "object" && inner !== null ? (inner as Record<string, unknown>) : o);
    }
  } catch {}
  const o: Record<string, unknown> = {};
  for (const line of description.split(/\r?\n/)) {
    const m = /^\s*(?:farmhand[.-])?(farm|role|vm|imports|settings)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (m === null) continue;
    if (m[1] === "imports" || m[1] === "settings") {
      try {
        o[m[1]] = JSON.parse(m[2]);
      } catch {}
    } else o[m[1]] = m[2];
  }
  return pick(o);
}

function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {}
}

/** A valid-looking MAC for a new net0. */
const newMac = () =>
  "BC:24:11:" + [0, 0, 0].map(() => randomBytes(1)[0].toString(16).toUpperCase().padStart(2, "0")).join(":");

function makeSelfSigned(host: string): { key: string; cert: string } {
  // openssl is the only easy way to a certificate in Node without dependencies.
  const dir = mkdtempSync(path.join(os.tmpdir(), "pve-emulator-tls-"));
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-subj", `/CN=${host}`, "-addext", `subjectAltName=IP:${host}`,
      "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    return { key: readFileSync(path.join(dir, "key.pem"), "utf8"), cert: readFileSync(path.join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Which config keys a client may set (and their types in GET /config answers).
const NUMERIC_KEYS = new Set(["cores", "sockets", "template", "onboot", "protection", "balloon", "vcpus"]);
const CONFIG_KEY = /^(name|description|tags|memory|cores|sockets|vcpus|cpu|balloon|agent|onboot|protection|ostype|boot|ciuser|cipassword|citype|ciupgrade|sshkeys|nameserver|searchdomain|ipconfig\d+|net\d+|scsi\d+|virtio\d+|ide\d+|sata\d+|scsihw|serial\d+|vga|machine|bios|cicustom|startup|hotplug|numa|kvm|localtime|tablet)$/;
const DNS_NAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*$/;

// ---------------------------------------------------------------------------------------------
// The emulator

interface Ctx {
  method: string;
  path: string;
  params: Record<string, string>;
  match: RegExpExecArray;
  user: string;
}

interface Route {
  method: string;
  pattern: RegExp;
  /** Allowed parameters (besides path parameters); undefined: not checked. */
  params?: readonly string[];
  configParams?: boolean;
  public?: boolean;
  handler: (ctx: Ctx) => unknown | Promise<unknown>;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const now = options.now ?? (() => Date.now());
  const user = options.user ?? "root@pam";
  const password = options.password ?? "farmhand";
  const tokenId = `${user}!${options.tokenName ?? "farmhand"}`;
  const tokenSecret = randomUUID();
  const taskDelayMs = options.taskDelayMs ?? 20;
  const bootDelayMs = options.bootDelayMs ?? 200;
  const addressDelayMs = options.addressDelayMs ?? 100;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  const vmPort = options.vmPort ?? 8080;
  const addressPrefix = options.addressPrefix ?? `127.${100 + (process.pid % 150)}`;
  const host = options.host ?? "127.0.0.1";

  const state: EmulatorState = { nodes: new Map(), vms: new Map(), tasks: new Map() };
  for (const n of options.nodes ?? ["pve"]) {
    const o = typeof n === "string" ? { name: n } : n;
    state.nodes.set(o.name, { name: o.name, maxmem: o.memory ?? 64 * GIB, maxcpu: o.cpus ?? 16 });
  }
  const faults: Faults = {
    failTasks: [],
    warnTasks: [],
    lockTimeouts: [],
    proxyErrors: { count: 0 },
    slowTasks: [],
    offlineNodes: new Set(),
    denied: [],
    slowAnswers: [],
  };
  // Write requests (anything but GET) being handled now, and the most there ever were at once.
  const writes = { inFlight: 0, peak: 0 };
  const requests: RecordedRequest[] = [];
  const tickets = new Map<string, { user: string; issued: number }>();
  const csrfTokens = new Map<string, { user: string; issued: number }>();
  let closed = false;
  let addressCounter = 0;
  const usedAddresses = new Set<string>();
  const allocateAddress = (): string => {
    for (;;) {
      addressCounter++;
      const a = `${addressPrefix}.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
      if ((addressCounter & 255) === 0 || usedAddresses.has(a)) continue;
      usedAddresses.add(a);
      return a;
    }
  };

  for (const [id, t] of Object.entries(options.templates ?? {})) {
    const vmid = Number(id);
    if (!state.nodes.has(t.node)) throw new Error(`pve emulator: template ${vmid} is on unknown node ${t.node}`);
    const config: Record<string, string | number> = {
      name: t.name,
      template: 1,
      memory: String(t.memory ?? 512),
      cores: t.cores ?? 1,
      sockets: 1,
      agent: "1",
      ostype: "l26",
      scsihw: "virtio-scsi-pci",
      scsi0: `local-lvm:base-${vmid}-disk-0,size=8G`,
      ide2: `local-lvm:vm-${vmid}-cloudinit,media=cdrom`,
      net0: `virtio=${newMac()},bridge=vmbr0`,
      boot: "order=scsi0",
    };
    if (t.tags !== undefined) config.tags = normalizeTags(t.tags);
    state.vms.set(vmid, {
      vmid, node: t.node, config, image: path.resolve(t.image), address: allocateAddress(),
      proc: null, agentAt: null, startedAt: null, output: "",
    });
  }

  // ----- locks and digests

  const lockName = (vmid: number) => `/var/lock/qemu-server/lock-${vmid}.conf`;
  /** Consumes a lock-timeout fault for `vmid`, if one is armed. */
  const lockTimedOut = (vmid: number): string | null => {
    const f = faults.lockTimeouts.find((l) => l.vmid === vmid && l.count > 0);
    if (f === undefined) return null;
    f.count--;
    return `can't lock file '${lockName(vmid)}' - got timeout`;
  };
  const digest = (config: Record<string, string | number>) =>
    createHash("sha1").update(Object.keys(config).sort().map((k) => `${k}: ${config[k]}\n`).join("")).digest("hex");
  const confPath = (node: string, vmid: number) => `nodes/${node}/qemu-server/${vmid}.conf`;

  const findVm = (node: string, vmidText: string): EmulatedVm => {
    const vmid = Number(vmidText);
    const vm = state.vms.get(vmid);
    if (vm === undefined || vm.node !== node) throw fail(`Configuration file '${confPath(node, vmid)}' does not exist`);
    return vm;
  };
  const checkLock = (vm: EmulatedVm) => {
    if (vm.config.lock !== undefined) throw fail(`VM is locked (${vm.config.lock})`);
  };
  const isRunning = (vm: EmulatedVm) => vm.proc !== null && !vm.proc.exited;

  // ----- tasks

  let pidCounter = 1000 + (process.pid % 50_000);
  const pstart = Math.floor(process.uptime() * 100) + 1_000_000;
  const pending = new Set<Promise<void>>();

  /** The task's work: returns the number of warnings (or nothing); throws for a failure. */
  type Work = (log: (line: string) => void) => Promise<number | void>;

  const startTask = (node: string, type: string, id: string, taskUser: string, work: Work, onFail?: () => void): string => {
    const pid = ++pidCounter;
    const starttime = Math.floor(now() / 1000);
    const upid = `UPID:${node}:${hex8(pid)}:${hex8(pstart)}:${hex8(starttime)}:${type}:${id}:${taskUser}:`;
    const log: string[] = [];
    const consume = <T extends TaskFault>(list: T[]): T | undefined => {
      const f = list.find((x) => x.count > 0 && (x.type === type || x.type === "*"));
      if (f !== undefined) f.count--;
      return f;
    };
    const failure = consume(faults.failTasks);
    const warning = failure === undefined ? consume(faults.warnTasks) : undefined;
    const extra = faults.slowTasks.filter((s) => s.type === type || s.type === "*").reduce((a, s) => a + s.extraMs, 0);
    const task: EmulatedTask = {
      upid, node, type, id, user: taskUser, pid, pstart, starttime, status: "running", log,
      done: Promise.resolve(),
    };
    const run = (async () => {
      let exit = "OK";
      try {
        if (failure !== undefined) {
          await sleep(taskDelayMs + extra);
          throw new Error(failure.message ?? `${type} failed (injected fault)`);
        }
        let warnings = (await work((line) => log.push(line))) ?? 0;
        await sleep(extra);
        if (warning !== undefined) {
          const n = warning.warnings ?? 1;
          for (let i = 0; i < n; i++) log.push("WARN: injected warning");
          warnings += n;
        }
        if (warnings > 0) exit = `WARNINGS: ${warnings}`;
      } catch (err) {
        exit = (err as Error).message.replace(/\n+$/, "");
        try {
          onFail?.();
        } catch {}
      }
      log.push(exit === "OK" ? "TASK OK" : exit.startsWith("WARNINGS") ? `TASK ${exit}` : `TASK ERROR: ${exit}`);
      task.exitstatus = exit;
      task.endtime = Math.floor(now() / 1000);
      task.status = "stopped";
    })();
    (task as { done: Promise<void> }).done = run;
    pending.add(run);
    void run.finally(() => pending.delete(run));
    state.tasks.set(upid, task);
    return upid;
  };

  // ----- VM processes

  const spawnVm = (vm: EmulatedVm) => {
    const manifest = JSON.parse(readFileSync(path.join(vm.image, "farmhand.json"), "utf8")) as { entry?: unknown };
    if (typeof manifest.entry !== "string") throw new Error(`image ${vm.image}: farmhand.json has no entry`);
    const meta = parseGuestMetadata(typeof vm.config.description === "string" ? vm.config.description : undefined);
    const ip = /(?:^|,)ip=(127\.\d+\.\d+\.\d+)\/\d+/.exec(String(vm.config.ipconfig0 ?? ""));
    if (ip !== null) vm.address = ip[1];
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("FARMHAND_")) env[k] = v;
    env.FARMHAND_LISTEN = `${vm.address}:${vmPort}`;
    env.FARMHAND_VM = meta.vm ?? String(vm.config.name ?? `VM${vm.vmid}`);
    env.FARMHAND_ROLE = meta.role ?? "";
    env.FARMHAND_FARM = meta.farm ?? "";
    env.FARMHAND_IMPORTS = JSON.stringify(meta.imports ?? {});
    env.FARMHAND_SETTINGS = JSON.stringify(meta.settings ?? {});
    env.FARMHAND_VM_ID = String(vm.vmid);
    if (process.env.FARMHAND_OWNER !== undefined) env.FARMHAND_OWNER = process.env.FARMHAND_OWNER;
    const child = spawn(process.execPath, [path.resolve(vm.image, manifest.entry)], {
      cwd: vm.image, env, detached: true, stdio: ["ignore", "pipe", "pipe"],
    });
    const append = (d: Buffer) => {
      vm.output = (vm.output + d.toString("utf8")).slice(-OUTPUT_LIMIT);
    };
    child.stdout!.on("data", append);
    child.stderr!.on("data", append);
    let resolveExit!: () => void;
    const proc: EmulatedVmProcess = {
      child, pid: child.pid ?? -1, exited: false, exit: new Promise<void>((r) => (resolveExit = r)),
    };
    const onEnd = () => {
      if (proc.exited) return;
      proc.exited = true;
      if (proc.pid > 0) signalGroup(proc.pid, "SIGKILL"); // whatever it left in its group
      if (vm.proc === proc) {
        vm.proc = null;
        vm.agentAt = null;
        vm.startedAt = null;
      }
      resolveExit();
    };
    child.once("exit", onEnd);
    child.once("error", onEnd);
    vm.proc = proc;
    vm.startedAt = performance.now();
    vm.agentAt = performance.now() + taskDelayMs + bootDelayMs;
  };

  const killVm = async (vm: EmulatedVm, graceMs: number): Promise<boolean> => {
    const proc = vm.proc;
    if (proc === null || proc.exited) return true;
    if (graceMs > 0) {
      signalGroup(proc.pid, "SIGTERM");
      await within(proc.exit, graceMs);
      return proc.exited;
    }
    signalGroup(proc.pid, "SIGKILL");
    await within(proc.exit, 5_000);
    return proc.exited;
  };

  // ----- parameters

  const bool = (v: string | undefined) => v === "1" || v === "true" || v === "on" || v === "yes";
  const intParam = (params: Record<string, string>, name: string, min: number, max: number, required: boolean): number | undefined => {
    const v = params[name];
    if (v === undefined || v === "") {
      if (required) throw paramError({ [name]: "property is missing and it is not optional" });
      return undefined;
    }
    if (!/^-?\d+$/.test(v)) throw paramError({ [name]: `type check ('integer') failed - got '${v}'` });
    const n = Number(v);
    if (n < min) throw paramError({ [name]: `value must have a minimum value of ${min}` });
    if (n > max) throw paramError({ [name]: `value may not exceed ${max}` });
    return n;
  };
  const boolParam = (params: Record<string, string>, name: string) => {
    const v = params[name];
    if (v !== undefined && !/^(0|1|true|false|on|off|yes|no)$/i.test(v)) {
      throw paramError({ [name]: `type check ('boolean') failed - got '${v}'` });
    }
    return bool(v?.toLowerCase());
  };
  const nodeParam = (params: Record<string, string>, name: string): string | undefined => {
    const v = params[name];
    if (v === undefined) return undefined;
    if (!state.nodes.has(v)) throw paramError({ [name]: `no such cluster node '${v}'` });
    return v;
  };

  /** Validates and applies config changes (the part of update_vm shared by POST and PUT). */
  const prepareConfigUpdate = (vm: EmulatedVm, params: Record<string, string>) => {
    const errors: Record<string, string> = {};
    const set: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(params)) {
      if (k === "digest" || k === "delete" || k === "skiplock" || k === "revert" || k === "background_delay") continue;
      if (!CONFIG_KEY.test(k)) {
        errors[k] = "property is not defined in schema and the schema does not allow additional properties";
        continue;
      }
      if (k === "name" && !DNS_NAME.test(v)) errors[k] = "value does not look like a valid DNS name";
      else if (k === "tags") {
        const list = v.split(/[;,\s]+/).filter((t) => t !== "");
        const bad = list.find((t) => !TAG.test(t));
        if (bad !== undefined) errors[k] = `invalid format - invalid characters in tag '${bad}'`;
        else set[k] = normalizeTags(v);
      } else if (k === "memory" && !/^(current=)?\d+$/.test(v)) errors[k] = `invalid format - value '${v}' does not look like a valid memory size`;
      else if (NUMERIC_KEYS.has(k)) {
        if (!/^\d+$/.test(v)) errors[k] = `type check ('integer') failed - got '${v}'`;
        else set[k] = Number(v);
      } else if (k === "sshkeys" && /[\s]/.test(v) ) {
        errors[k] = "invalid urlencoded string: " + v.slice(0, 40);
      } else set[k] = k === "memory" ? v.replace(/^current=/, "") : v;
    }
    const del = (params.delete ?? "").split(/[,;\s]+/).filter((d) => d !== "");
    for (const d of del) if (!CONFIG_KEY.test(d)) errors.delete = `invalid format - '${d}' is not a valid config key`;
    if (Object.keys(errors).length > 0) throw paramError(errors);
    if (params.digest !== undefined && params.digest !== digest(vm.config)) {
      throw fail("detected modified configuration - file changed by other user? Try again.");
    }
    return () => {
      for (const d of del) delete vm.config[d];
      Object.assign(vm.config, set);
    };
  };

  // ----- resources

  const vmMem = (vm: EmulatedVm) => Number(String(vm.config.memory ?? "512")) * MIB;
  const nodeMem = (node: string) =>
    2 * GIB + [...state.vms.values()].filter((v) => v.node === node && isRunning(v)).reduce((a, v) => a + vmMem(v), 0);
  const uptime = (vm: EmulatedVm) => (vm.startedAt === null ? 0 : Math.floor((performance.now() - vm.startedAt) / 1000));
  const vmSummary = (vm: EmulatedVm) => {
    const running = isRunning(vm);
    const offline = faults.offlineNodes.has(vm.node);
    const r: Record<string, unknown> = {
      vmid: vm.vmid,
      name: vm.config.name,
      status: offline ? "unknown" : running ? "running" : "stopped",
      template: vm.config.template === 1 ? 1 : 0,
      mem: running ? Math.floor(vmMem(vm) / 2) : 0,
      maxmem: vmMem(vm),
      maxcpu: Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1),
      cpu: running ? 0.01 : 0,
      disk: 0,
      maxdisk: 8 * GIB,
      uptime: uptime(vm),
      netin: 0,
      netout: 0,
      diskread: 0,
      diskwrite: 0,
    };
    if (vm.config.tags !== undefined) r.tags = vm.config.tags;
    if (vm.config.lock !== undefined) r.lock = vm.config.lock;
    if (running) r.pid = vm.proc!.pid;
    return r;
  };

  // ----- routes

  const vmPath = (rest: string) => new RegExp(`^/nodes/([^/]+)/qemu/(\\d+)${rest}$`);
  const routes: Route[] = [
    {
      method: "POST",
      pattern: /^\/access\/ticket$/,
      public: true,
      params: ["username", "password", "realm", "otp", "path", "privs", "new-format", "tfa-challenge"],
      handler: ({ params }) => {
        let name = params.username;
        if (name !== undefined && params.realm !== undefined && !name.includes("@")) name = `${name}@${params.realm}`;
        if (name === undefined || params.password === undefined) {
          const errors: Record<string, string> = {};
          if (params.username === undefined) errors.username = "property is missing and it is not optional";
          if (params.password === undefined) errors.password = "property is missing and it is not optional";
          throw paramError(errors);
        }
        if (name !== user || params.password !== password) throw new ApiError(401, "authentication failure");
        const issued = now();
        const ticket = `PVE:${user}:${hex8(issued / 1000)}::${randomBytes(48).toString("base64")}`;
        const csrf = `${hex8(issued / 1000)}:${randomBytes(32).toString("base64").replace(/=+$/, "")}`;
        tickets.set(ticket, { user, issued });
        csrfTokens.set(csrf, { user, issued });
        return { ticket, CSRFPreventionToken: csrf, username: user, cap: { vms: {}, nodes: {}, access: {}, storage: {}, dc: {}, sdn: {}, mapping: {} } };
      },
    },
    {
      method: "GET",
      pattern: /^\/version$/,
      params: [],
      handler: () => ({ version: "8.2.4", release: "8.2", repoid: "faa83925c9641325" }),
    },
    {
      method: "GET",
      pattern: /^\/nodes$/,
      params: [],
      handler: () =>
        [...state.nodes.values()].map((n) =>
          faults.offlineNodes.has(n.name)
            ? { node: n.name, status: "offline", id: `node/${n.name}`, type: "node", level: "" }
            : {
                node: n.name, status: "online", id: `node/${n.name}`, type: "node", level: "",
                maxmem: n.maxmem, mem: nodeMem(n.name), maxcpu: n.maxcpu, cpu: 0.02,
                maxdisk: 100 * GIB, disk: 10 * GIB, uptime: Math.floor(process.uptime()),
                ssl_fingerprint: "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
              },
        ),
    },
    {
      method: "GET",
      pattern: /^\/cluster\/nextid$/,
      params: ["vmid"],
      handler: ({ params }) => {
        const want = intParam(params, "vmid", 100, 999_999_999, false);
        if (want !== undefined) {
          if (state.vms.has(want)) throw paramError({ vmid: `VM ${want} already exists` });
          return String(want);
        }
        let id = 100;
        while (state.vms.has(id)) id++;
        return String(id);
      },
    },
    {
      method: "GET",
      pattern: /^\/cluster\/resources$/,
      params: ["type"],
      handler: ({ params }) => {
        const type = params.type;
        if (type !== undefined && !["vm", "node", "storage", "sdn", "pool"].includes(type)) {
          throw paramError({ type: `value '${type}' does not have a value in the enumeration 'vm, storage, node, sdn'` });
        }
        const out: unknown[] = [];
        if (type === undefined || type === "node") {
          for (const n of state.nodes.values()) {
            const offline = faults.offlineNodes.has(n.name);
            out.push(offline
              ? { id: `node/${n.name}`, type: "node", node: n.name, status: "offline" }
              : { id: `node/${n.name}`, type: "node", node: n.name, status: "online", maxmem: n.maxmem, mem: nodeMem(n.name), maxcpu: n.maxcpu, cpu: 0.02, uptime: Math.floor(process.uptime()) });
          }
        }
        if (type === undefined || type === "vm") {
          for (const vm of [...state.vms.values()].sort((a, b) => a.vmid - b.vmid)) {
            out.push({ id: `qemu/${vm.vmid}`, type: "qemu", node: vm.node, ...vmSummary(vm) });
          }
        }
        return out;
      },
    },
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/qemu$/,
      params: ["full"],
      handler: ({ match }) => [...state.vms.values()].filter((v) => v.node === match[1]).map(vmSummary),
    },
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/status$/,
      params: [],
      handler: ({ match }) => {
        const n = state.nodes.get(match[1])!;
        return { memory: { total: n.maxmem, used: nodeMem(n.name), free: n.maxmem - nodeMem(n.name) }, cpu: 0.02, uptime: Math.floor(process.uptime()), pveversion: "pve-manager/8.2.4" };
      },
    },
    {
      method: "POST",
      pattern: vmPath("/clone"),
      params: ["newid", "name", "full", "target", "description", "pool", "snapname", "storage", "format", "bwlimit"],
      handler: ({ match, params, user: who }) => {
        const node = match[1];
        const src = findVm(node, match[2]);
        const newid = intParam(params, "newid", 100, 999_999_999, true)!;
        const errors: Record<string, string> = {};
        if (params.name !== undefined && !DNS_NAME.test(params.name)) errors.name = "value does not look like a valid DNS name";
        if (Object.keys(errors).length > 0) throw paramError(errors);
        const target = nodeParam(params, "target") ?? node;
        const full = params.full === undefined ? src.config.template !== 1 : boolParam(params, "full");
        if (!full && src.config.template !== 1) throw fail("parameter 'full' - linked clone feature is only available for templates");
        if (target !== node && faults.offlineNodes.has(target)) throw fail(`target node '${target}' is offline`);
        const existing = state.vms.get(newid);
        if (existing !== undefined) throw fail(`VM ${newid} already exists on node '${existing.node}'`);
        const lockErr = lockTimedOut(src.vmid);
        if (lockErr !== null) throw fail(lockErr);
        if (src.config.template !== 1 && src.config.lock !== undefined) checkLock(src);
        const config: Record<string, string | number> = { ...src.config };
        delete config.template;
        delete config.lock;
        config.name = params.name ?? `Copy-of-VM-${src.config.name ?? src.vmid}`;
        if (params.description !== undefined) config.description = params.description;
        config.net0 = String(config.net0 ?? "virtio=,bridge=vmbr0").replace(/=([0-9A-F]{2}:){5}[0-9A-F]{2}/i, `=${newMac()}`);
        for (const k of Object.keys(config)) {
          if (/^(scsi|virtio|ide|sata)\d+$/.test(k)) config[k] = String(config[k]).replace(/(base|vm)-\d+-/, `vm-${newid}-`);
        }
        config.lock = "clone";
        const vm: EmulatedVm = {
          vmid: newid, node: target, config, image: src.image, address: allocateAddress(),
          proc: null, agentAt: null, startedAt: null, output: "",
        };
        state.vms.set(newid, vm);
        const remove = () => {
          if (state.vms.get(newid) === vm) state.vms.delete(newid);
          usedAddresses.delete(vm.address);
        };
        return startTask(node, "qmclone", String(src.vmid), who, async (log) => {
          log(`create ${full ? "full" : "linked"} clone of drive scsi0 (${src.config.scsi0 ?? "none"})`);
          await sleep(taskDelayMs);
          if (state.vms.get(newid) !== vm) throw new Error(`unable to create VM ${newid}: config file already exists`);
          delete vm.config.lock;
        }, remove);
      },
    },
    {
      method: "GET",
      pattern: vmPath("/config"),
      params: ["current", "snapshot"],
      handler: ({ match }) => {
        const vm = findVm(match[1], match[2]);
        return { ...vm.config, digest: digest(vm.config) };
      },
    },
    {
      method: "PUT",
      pattern: vmPath("/config"),
      configParams: true,
      handler: ({ match, params }) => {
        const vm = findVm(match[1], match[2]);
        const lockErr = lockTimedOut(vm.vmid);
        if (lockErr !== null) throw fail(lockErr);
        if (!boolParam(params, "skiplock")) checkLock(vm);
        prepareConfigUpdate(vm, params)();
        return null;
      },
    },
    {
      method: "POST",
      pattern: vmPath("/config"),
      configParams: true,
      handler: ({ match, params, user: who }) => {
        const vm = findVm(match[1], match[2]);
        const lockErr = lockTimedOut(vm.vmid);
        if (lockErr !== null) throw fail(lockErr);
        if (!boolParam(params, "skiplock")) checkLock(vm);
        const apply = prepareConfigUpdate(vm, params);
        return startTask(vm.node, "qmconfig", String(vm.vmid), who, async (log) => {
          await sleep(taskDelayMs);
          log(`update VM ${vm.vmid}: ${Object.keys(params).filter((k) => k !== "digest").map((k) => `-${k}`).join(" ")}`);
          apply();
        });
      },
    },
    {
      method: "GET",
      pattern: vmPath("/status/current"),
      params: [],
      handler: ({ match }) => {
        const vm = findVm(match[1], match[2]);
        const running = isRunning(vm);
        const r: Record<string, unknown> = {
          ...vmSummary(vm),
          status: running ? "running" : "stopped",
          qmpstatus: running ? "running" : "stopped",
          cpus: Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1),
          agent: String(vm.config.agent ?? "0").startsWith("1") || /enabled=1/.test(String(vm.config.agent ?? "")) ? 1 : 0,
          ha: { managed: 0 },
        };
        if (running) {
          r["running-qemu"] = "9.0.2";
          r["running-machine"] = "pc-i440fx-9.0+pve0";
        }
        if (vm.config.template === 1) r.template = 1;
        else delete r.template;
        return r;
      },
    },
    {
      method: "POST",
      pattern: vmPath("/status/start"),
      params: ["skiplock", "timeout", "machine", "migratedfrom", "migration_type", "migration_network", "stateuri", "targetstorage", "force-cpu"],
      handler: ({ match, params, user: who }) => {
        const vm = findVm(match[1], match[2]);
        const skiplock = boolParam(params, "skiplock");
        return startTask(vm.node, "qmstart", String(vm.vmid), who, async (log) => {
          const lockErr = lockTimedOut(vm.vmid);
          if (lockErr !== null) {
            await sleep(taskDelayMs);
            throw new Error(lockErr);
          }
          if (state.vms.get(vm.vmid) !== vm) throw new Error(`Configuration file '${confPath(vm.node, vm.vmid)}' does not exist`);
          if (vm.config.template === 1) throw new Error("you can't start a vm if it's a template");
          if (!skiplock) checkLock(vm);
          if (isRunning(vm)) throw new Error(`VM ${vm.vmid} already running`);
          if (closed) throw new Error("emulator closed");
          log(`generating cloud-init ISO`);
          spawnVm(vm);
          await sleep(taskDelayMs);
          if (!isRunning(vm)) throw new Error(`start failed: QEMU exited early: ${vm.output.trim().split("\n").slice(-3).join(" | ")}`);
        });
      },
    },
    ...(["stop", "shutdown"] as const).map((kind): Route => ({
      method: "POST",
      pattern: vmPath(`/status/${kind}`),
      params: ["skiplock", "timeout", "forceStop", "keepActive", "migratedfrom", "overrule-shutdown"],
      handler: ({ match, params, user: who }) => {
        const vm = findVm(match[1], match[2]);
        const skiplock = boolParam(params, "skiplock");
        const forceStop = boolParam(params, "forceStop");
        const timeoutS = intParam(params, "timeout", 0, 100_000, false);
        return startTask(vm.node, kind === "stop" ? "qmstop" : "qmshutdown", String(vm.vmid), who, async (log) => {
          const lockErr = lockTimedOut(vm.vmid);
          if (lockErr !== null) {
            await sleep(taskDelayMs);
            throw new Error(lockErr);
          }
          if (!skiplock) checkLock(vm);
          await sleep(taskDelayMs);
          if (!isRunning(vm)) return;
          if (kind === "stop") {
            if (!(await killVm(vm, 0))) throw new Error(`VM ${vm.vmid} could not be stopped`);
            return;
          }
          const grace = timeoutS !== undefined ? timeoutS * 1000 : shutdownTimeoutMs;
          if (await killVm(vm, grace)) return;
          if (!forceStop) throw new Error("VM quit/powerdown failed - got timeout");
          log("VM still running - terminating now with SIGKILL");
          if (!(await killVm(vm, 0))) throw new Error("VM quit/powerdown failed - got timeout");
          return 1;
        });
      },
    })),
    {
      method: "DELETE",
      pattern: vmPath(""),
      params: ["purge", "destroy-unreferenced-disks", "skiplock"],
      handler: ({ match, params, user: who }) => {
        const vm = findVm(match[1], match[2]);
        const skiplock = boolParam(params, "skiplock");
        boolParam(params, "purge");
        boolParam(params, "destroy-unreferenced-disks");
        if (!skiplock) checkLock(vm);
        if (isRunning(vm)) throw fail(`VM ${vm.vmid} is running - destroy failed`);
        return startTask(vm.node, "qmdestroy", String(vm.vmid), who, async (log) => {
          const lockErr = lockTimedOut(vm.vmid);
          if (lockErr !== null) {
            await sleep(taskDelayMs);
            throw new Error(lockErr);
          }
          await sleep(taskDelayMs);
          if (state.vms.get(vm.vmid) !== vm) throw new Error(`Configuration file '${confPath(vm.node, vm.vmid)}' does not exist`);
          if (isRunning(vm)) throw new Error(`VM ${vm.vmid} is running - destroy failed`);
          log(`Removing image: 100% complete...done.`);
          state.vms.delete(vm.vmid);
          usedAddresses.delete(vm.address);
        });
      },
    },
    {
      method: "GET",
      pattern: vmPath("/agent/network-get-interfaces"),
      params: [],
      handler: ({ match }) => {
        const vm = findVm(match[1], match[2]);
        if (!isRunning(vm)) throw fail(`VM ${vm.vmid} is not running`);
        const agent = String(vm.config.agent ?? "0");
        if (!(agent.startsWith("1") || /enabled=1/.test(agent))) throw fail("No QEMU guest agent configured");
        const t = performance.now();
        if (vm.agentAt === null || t < vm.agentAt) throw fail("QEMU guest agent is not running");
        const mac = /=(([0-9A-F]{2}:){5}[0-9A-F]{2})/i.exec(String(vm.config.net0 ?? ""))?.[1]?.toLowerCase() ?? "bc:24:11:00:00:01";
        const eth0: Record<string, unknown> = { name: "eth0", "hardware-address": mac, statistics: { "rx-bytes": 0, "tx-bytes": 0, "rx-packets": 0, "tx-packets": 0, "rx-errs": 0, "tx-errs": 0, "rx-dropped": 0, "tx-dropped": 0 } };
        if (t >= vm.agentAt + addressDelayMs) {
          eth0["ip-addresses"] = [
            { "ip-address-type": "ipv4", "ip-address": vm.address, prefix: 8 },
            { "ip-address-type": "ipv6", "ip-address": `fe80::be24:11ff:fe00:${(vm.vmid % 65536).toString(16)}`, prefix: 64 },
          ];
        }
        return {
          result: [
            {
              name: "lo",
              "hardware-address": "00:00:00:00:00:00",
              "ip-addresses": [
                { "ip-address-type": "ipv4", "ip-address": "127.0.0.1", prefix: 8 },
                { "ip-address-type": "ipv6", "ip-address": "::1", prefix: 128 },
              ],
            },
            eth0,
          ],
        };
      },
    },
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/tasks\/([^/]+)\/status$/,
      params: [],
      handler: ({ match }) => {
        const task = findTask(match[1], match[2]);
        const r: Record<string, unknown> = {
          upid: task.upid, node: task.node, pid: task.pid, pstart: task.pstart, starttime: task.starttime,
          type: task.type, id: task.id, user: task.user, status: task.status,
        };
        if (task.status === "stopped") r.exitstatus = task.exitstatus;
        return r;
      },
    },
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/tasks\/([^/]+)\/log$/,
      params: ["start", "limit", "download"],
      handler: ({ match, params }) => {
        const task = findTask(match[1], match[2]);
        const start = intParam(params, "start", 0, Number.MAX_SAFE_INTEGER, false) ?? 0;
        const limit = intParam(params, "limit", 0, Number.MAX_SAFE_INTEGER, false) ?? 50;
        const lines = task.log.length === 0 ? [task.status === "running" ? "" : "no content"] : task.log;
        return lines.slice(start, start + limit).map((t, i) => ({ n: start + i + 1, t }));
      },
    },
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/tasks$/,
      params: ["vmid", "limit", "start", "source", "typefilter", "errors", "userfilter", "statusfilter", "since", "until"],
      handler: ({ match, params }) =>
        [...state.tasks.values()]
          .filter((t) => t.node === match[1] && (params.vmid === undefined || t.id === params.vmid))
          .reverse()
          .map((t) => ({ upid: t.upid, node: t.node, pid: t.pid, pstart: t.pstart, starttime: t.starttime, type: t.type, id: t.id, user: t.user, ...(t.status === "stopped" ? { status: t.exitstatus, endtime: t.endtime } : {}) })),
    },
  ];

  function findTask(node: string, upidText: string): EmulatedTask {
    const upid = decodeURIComponent(upidText);
    if (!/^UPID:[^:]+:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:[^:]+:[^:]*:[^:]+:$/.test(upid)) {
      throw paramError({ upid: "unable to parse worker upid" });
    }
    const task = state.tasks.get(upid);
    if (task === undefined || task.node !== node) throw paramError({ upid: "no such task" });
    return task;
  }

  // ----- HTTP

  const send = (res: http.ServerResponse, status: number, reason: string, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, reason.replace(/[^\x20-\x7e]+/g, " ").trim() || "OK", {
      "Content-Type": "application/json;charset=UTF-8",
      "Content-Length": Buffer.byteLength(text),
      Pragma: "no-cache",
      "Cache-Control": "max-age=0",
      Server: "pve-api-daemon/3.0",
      Date: new Date().toUTCString(),
      Expires: new Date().toUTCString(),
    });
    res.end(text);
  };

  const parseBody = (text: string, type: string | null): Record<string, unknown> => {
    if (text === "") return {};
    if (type !== null && /application\/json/i.test(type)) {
      const raw = JSON.parse(text) as unknown;
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error("not an object");
      return raw as Record<string, unknown>;
    }
    return Object.fromEntries(new URLSearchParams(text));
  };
  const stringify = (v: unknown): string =>
    typeof v === "boolean" ? (v ? "1" : "0") : typeof v === "string" ? v : typeof v === "number" ? String(v) : JSON.stringify(v);

  const authenticate = (req: http.IncomingMessage, method: string): { kind: "token" | "ticket" | "none"; user: string | null; error: string | null } => {
    const authz = req.headers.authorization;
    if (typeof authz === "string" && authz.startsWith("PVEAPIToken")) {
      const m = /^PVEAPIToken[= ]([^!=\s]+@[^!=\s]+)!([^=\s]+)[=:]\s*(\S+)$/.exec(authz.trim());
      if (m === null) return { kind: "token", user: null, error: "invalid token value!" };
      if (`${m[1]}!${m[2]}` !== tokenId || m[3] !== tokenSecret) return { kind: "token", user: null, error: "invalid token value!" };
      return { kind: "token", user: tokenId, error: null };
    }
    const cookie = req.headers.cookie ?? "";
    const c = /(?:^|;\s*)PVEAuthCookie=([^;]*)/.exec(cookie);
    if (c === null) return { kind: "none", user: null, error: "No ticket" };
    let ticket = c[1];
    try {
      ticket = decodeURIComponent(ticket);
    } catch {}
    const t = tickets.get(ticket);
    if (t === undefined || now() - t.issued > TICKET_LIFETIME_MS || now() < t.issued - 5 * 60 * 1000) {
      return { kind: "ticket", user: null, error: "invalid PVE ticket" };
    }
    if (method !== "GET") {
      const csrf = req.headers.csrfpreventiontoken;
      const ok = typeof csrf === "string" ? csrfTokens.get(csrf) : undefined;
      if (ok === undefined || ok.user !== t.user || now() - ok.issued > TICKET_LIFETIME_MS) {
        return { kind: "ticket", user: null, error: "Permission denied - invalid csrf token" };
      }
    }
    return { kind: "ticket", user: t.user, error: null };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", "http://emulator");
    const full = url.pathname;
    const rel = full.startsWith("/api2/json") ? full.slice("/api2/json".length) || "/" : full;
    const query = Object.fromEntries(url.searchParams);
    const contentType = req.headers["content-type"] ?? null;
    let body: Record<string, unknown> = {};
    let bodyError = false;
    try {
      body = parseBody(Buffer.concat(chunks).toString("utf8"), contentType);
    } catch {
      bodyError = true;
    }
    const auth = authenticate(req, method);
    const record: RecordedRequest = { method, path: rel, query, body, contentType, auth: auth.kind, status: 0 };
    requests.push(record);
    const answer = (status: number, reason: string, data: unknown, errors?: Record<string, string>) => {
      record.status = status;
      send(res, status, reason, errors !== undefined ? { errors, data: null } : { data });
    };

    const delay = faults.slowAnswers.filter((f) => f.methods.includes(method)).reduce((a, f) => a + f.ms, 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (faults.proxyErrors.count > 0) {
      faults.proxyErrors.count--;
      return answer(596, faults.proxyErrors.message ?? "Broken pipe", null);
    }
    if (!full.startsWith("/api2/json/") && full !== "/api2/json") return answer(501, `Method '${method} ${rel}' not implemented`, null);
    if (bodyError) return answer(400, "Parameter verification failed.", null, { body: "unable to parse request body" });

    const route = routes.find((r) => r.method === method && r.pattern.test(rel));
    if (route === undefined || !route.public) {
      if (auth.error !== null) return answer(401, auth.error, null);
    }
    if (route === undefined) return answer(501, `Method '${method} ${rel}' not implemented`, null);
    const match = route.pattern.exec(rel)!;

    const deny = faults.denied.find((d) => rel.startsWith(d.prefix) && (d.methods === undefined || d.methods.includes(method)));
    if (deny !== undefined) return answer(403, deny.message ?? "Permission check failed", null);

    const nodeMatch = /^\/nodes\/([^/]+)/.exec(rel);
    if (nodeMatch !== null) {
      const node = nodeMatch[1];
      if (!state.nodes.has(node)) {
        return answer(500, `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`, null);
      }
      if (faults.offlineNodes.has(node)) return answer(595, `Connection timed out`, null);
    }

    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(query)) params[k] = v;
    for (const [k, v] of Object.entries(body)) if (v !== null && v !== undefined) params[k] = stringify(v);
    if (route.params !== undefined) {
      const errors: Record<string, string> = {};
      for (const k of Object.keys(params)) {
        if (!route.params.includes(k)) errors[k] = "property is not defined in schema and the schema does not allow additional properties";
      }
      if (Object.keys(errors).length > 0) return answer(400, "Parameter verification failed.", null, errors);
    }
    try {
      const data = await route.handler({ method, path: rel, params, match, user: auth.user === null ? user : auth.user.split("!")[0] });
      answer(200, "OK", data ?? null);
    } catch (err) {
      if (err instanceof ApiError) answer(err.status, err.message, null, err.errors);
      else answer(500, (err as Error).message ?? String(err), null);
    }
  };

  let certificate: string | null = null;
  const handshakes = { full: 0, resumed: 0 };
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (options.keepAlive === false) res.setHeader("Connection", "close");
    if (req.method !== "GET") {
      writes.peak = Math.max(writes.peak, ++writes.inFlight);
      res.once("close", () => writes.inFlight--);
    }
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, String((err as Error)?.message ?? err), { data: null });
    });
  };
  let server: http.Server;
  if (options.tls === true) {
    const { key, cert } = makeSelfSigned(host);
    certificate = cert;
    const tlsServer = https.createServer({ key, cert }, listener);
    tlsServer.on("secureConnection", (socket) => (socket.isSessionReused() ? handshakes.resumed++ : handshakes.full++));
    server = tlsServer;
  } else server = http.createServer(listener);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `${options.tls === true ? "https" : "http"}://${host}:${port}`;

  const killAllSync = () => {
    for (const vm of state.vms.values()) if (vm.proc !== null && !vm.proc.exited && vm.proc.pid > 0) signalGroup(vm.proc.pid, "SIGKILL");
  };
  process.once("exit", killAllSync);

  return {
    url: `${origin}/api2/json`,
    origin,
    token: { id: tokenId, secret: tokenSecret, header: `PVEAPIToken=${tokenId}=${tokenSecret}` },
    user,
    password,
    state,
    faults,
    requests,
    writes,
    certificate,
    handshakes,
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.allSettled([...pending]);
      const procs = [...state.vms.values()].map((v) => v.proc).filter((p): p is EmulatedVmProcess => p !== null && !p.exited);
      for (const p of procs) if (p.pid > 0) signalGroup(p.pid, "SIGKILL");
      await within(Promise.all(procs.map((p) => p.exit)), 5_000);
      process.removeListener("exit", killAllSync);
    },
  };
}
