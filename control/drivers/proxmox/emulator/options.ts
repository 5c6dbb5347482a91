// The emulator's options, and the same with every default filled in (what the rest of it reads).

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
  /** The port every guest process listens on (on its VM's own address). Default 8080. */
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

export interface EmulatedNode {
  readonly name: string;
  readonly maxmem: number;
  readonly maxcpu: number;
}

/** The options with every default filled in. */
export interface EmulatorSettings {
  readonly nodes: readonly EmulatedNode[];
  readonly templates: Readonly<Record<number, EmulatorTemplate>>;
  readonly user: string;
  readonly password: string;
  readonly tokenName: string;
  readonly host: string;
  readonly port: number;
  readonly taskDelayMs: number;
  readonly bootDelayMs: number;
  readonly addressDelayMs: number;
  readonly shutdownTimeoutMs: number;
  readonly vmPort: number;
  readonly addressPrefix: string;
  readonly now: () => number;
  readonly tls: boolean;
  readonly keepAlive: boolean;
}

const GIB = 1024 ** 3;

export const EMULATOR_DEFAULTS = {
  nodes: [{ name: "pve", maxmem: 64 * GIB, maxcpu: 16 }],
  templates: {},
  user: "root@pam",
  password: "farmhand",
  tokenName: "farmhand",
  host: "127.0.0.1",
  port: 0,
  taskDelayMs: 20,
  bootDelayMs: 200,
  addressDelayMs: 100,
  shutdownTimeoutMs: 10_000,
  vmPort: 8080,
  // Two emulators of different test processes on one machine get different address ranges.
  addressPrefix: `127.${100 + (process.pid % 150)}`,
  now: () => Date.now(),
  tls: false,
  keepAlive: true,
} as const satisfies EmulatorSettings;

export function resolveOptions(options: EmulatorOptions): EmulatorSettings {
  const d = EMULATOR_DEFAULTS;
  const nodes = options.nodes?.map((n): EmulatedNode => {
    const o = typeof n === "string" ? { name: n } : n;
    return { name: o.name, maxmem: o.memory ?? 64 * GIB, maxcpu: o.cpus ?? 16 };
  });
  return {
    nodes: nodes ?? d.nodes,
    templates: options.templates ?? d.templates,
    user: options.user ?? d.user,
    password: options.password ?? d.password,
    tokenName: options.tokenName ?? d.tokenName,
    host: options.host ?? d.host,
    port: options.port ?? d.port,
    taskDelayMs: options.taskDelayMs ?? d.taskDelayMs,
    bootDelayMs: options.bootDelayMs ?? d.bootDelayMs,
    addressDelayMs: options.addressDelayMs ?? d.addressDelayMs,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? d.shutdownTimeoutMs,
    vmPort: options.vmPort ?? d.vmPort,
    addressPrefix: options.addressPrefix ?? d.addressPrefix,
    now: options.now ?? d.now,
    tls: options.tls ?? d.tls,
    keepAlive: options.keepAlive ?? d.keepAlive,
  };
}
