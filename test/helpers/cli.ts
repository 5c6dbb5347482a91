// `farmhand proxy --config FILE` as a child process, for the tests that drive it as an operator
// would: a YAML file on free ports, signals, and its log lines.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "../../bench/lib/net.ts";
import type { TestBackend } from "./backends.ts";
import { waitFor } from "./proxy.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const DEADLINE_MS = 15_000;

export interface CliOptions {
  /** The CLI module to run (src/farmhand.mjs is the installed executable, with Node's compile cache on). */
  readonly entry?: string;
  readonly env?: Record<string, string>;
}

export class Cli {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(configFile: string, options: CliOptions = {}) {
    this.child = spawn(process.execPath, [options.entry ?? "src/cli.ts", "proxy", "--config", configFile], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get running(): boolean {
    return this.#exit === null;
  }

  /** Waits for a stdout line matching `re` (searching from `from` characters in); fails on exit or timeout. */
  async line(re: RegExp, from = 0, timeoutMs = DEADLINE_MS): Promise<RegExpExecArray> {
    const found = await waitFor(() => re.test(this.stdout.slice(from)) || !this.running, timeoutMs, 10);
    const m = re.exec(this.stdout.slice(from));
    if (!found || m === null) {
      throw new Error(`no line matching ${re} (exited: ${JSON.stringify(this.#exit)})\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
    }
    return m;
  }

  /** Sends SIGHUP and waits for the outcome: "reloaded" or "reload refused: <why>". */
  async reload(timeoutMs = DEADLINE_MS): Promise<string> {
    const mark = this.stdout.length;
    this.child.kill("SIGHUP");
    return (await this.line(/(reloaded .*|reload refused.*)$/m, mark, timeoutMs))[1];
  }

  async exit(timeoutMs = DEADLINE_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timeout = new Promise<null>((r) => setTimeout(() => r(null), timeoutMs).unref());
    const result = await Promise.race([this.exited, timeout]);
    if (result === null) throw new Error(`the process did not exit within ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
    return result;
  }

  /** Always called in a finally: nothing outlives its test. */
  async kill(): Promise<void> {
    if (this.running) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}

// ---- configuration files -----------------------------------------------------------------------------

/** Ports that were free a moment ago, from one allocation so that no two are the same. */
export interface Ports {
  readonly http: number;
  readonly tcp: number;
  readonly admin: number;
  /** For a test's own use, e.g. a port it keeps busy. */
  readonly spare: number;
}

async function configPorts(): Promise<Ports> {
  const [http, tcp, admin, spare] = await freePorts(4);
  return { http: http!, tcp: tcp!, admin: admin!, spare: spare! };
}

export interface ProxyYaml {
  readonly listeners: readonly { readonly name: string; readonly protocol: "http" | "tcp"; readonly port: number }[];
  readonly backends: readonly TestBackend[];
  readonly admin?: { readonly port: number; readonly token: string };
}

/** A configuration file: two workers, the listeners on 127.0.0.1, all on one round-robin pool "main". */
export function proxyYaml(c: ProxyYaml): string {
  return [
    "# written by a test (test/helpers/cli.ts)",
    "workers: 2",
    "drainTimeoutMs: 20000",
    "listeners:",
    ...c.listeners.flatMap((l) => [
      `  - name: ${l.name}`,
      `    protocol: ${l.protocol}`,
      "    address: 127.0.0.1",
      `    port: ${l.port}`,
      "    pool: main",
    ]),
    "pools:",
    "  - name: main",
    "    policy: round-robin",
    "    backends:",
    ...c.backends.map((b) => `      - ${b.address}:${b.port}`),
    ...(c.admin === undefined ? [] : [`admin: { address: 127.0.0.1, port: ${c.admin.port}, token: "${c.admin.token}" }`]),
    "",
  ].join("\n");
}

/** Listeners "web" (http) and "raw" (tcp) in front of `backends`. */
export function yamlConfig(ports: Ports, backends: readonly TestBackend[]): string {
  return proxyYaml({
    listeners: [
      { name: "web", protocol: "http", port: ports.http },
      { name: "raw", protocol: "tcp", port: ports.tcp },
    ],
    backends,
  });
}

export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "farmhand-cli-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `farmhand proxy` on a fresh YAML config (by default listeners "web" and "raw" on free ports) in
 * front of `backends`; the process is killed afterwards, whatever happened.
 */
export async function withCli(
  backends: readonly TestBackend[],
  body: (ctx: { cli: Cli; ports: Ports; file: string; dir: string }) => Promise<void>,
  options?: CliOptions & { readonly config?: (ports: Ports) => string },
): Promise<void> {
  await withTempDir(async (dir) => {
    const ports = await configPorts();
    const file = path.join(dir, "proxy.yaml");
    await writeFile(file, options?.config?.(ports) ?? yamlConfig(ports, backends));
    const cli = new Cli(file, options);
    try {
      await body({ cli, ports, file, dir });
    } finally {
      await cli.kill();
    }
  });
}

export const LISTENING = (name: string, protocol: string) => new RegExp(`listener ${name} \\(${protocol}\\) listening on 127\\.0\\.0\\.1:(\\d+)`);

/** "refused": the connection was refused; "accepted": the proxy took it (even if it then closed it). */
export function tryConnect(port: number): Promise<"refused" | "accepted" | "other"> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("accepted");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(error.code === "ECONNREFUSED" ? "refused" : "other");
    });
  });
}
