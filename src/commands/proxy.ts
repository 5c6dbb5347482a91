// `farmhand proxy --config FILE`: the balancer as a long-running service; `farmhand proxy --check
// FILE`: the file validated as `--config` would read it, every error in it printed (as `nginx -t`,
// `haproxy -c`), and nothing started. A bad file at start or at a reload (SIGHUP) is reported the
// same way, every error named.

import { readFileSync } from "node:fs";
import yaml from "yaml";
import { Balancer, loadConfigFile, type BalancerEvent } from "../../native-free-core/index.ts";
import type { ProxyConfig } from "../../native-free-core/config.ts";
import { normalizeConfig, parseConfigText } from "../../native-free-core/config-load.ts";
import { ConfigError } from "../../native-free-core/errors.ts";
import { formatHostPort } from "../../native-free-core/net/address.ts";

export async function runProxy(file: string): Promise<number> {
  let config: ProxyConfig;
  try {
    config = await loadConfigFile(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // As --check reports a file: every error in it, not only the first the loader met.
    for (const e of configErrors(file, error)) process.stderr.write(`${e}\n`);
    process.stderr.write(`farmhand proxy: ${file} is not a valid configuration; nothing was started\n`);
    return 1;
  }
  const balancer = await Balancer.start(config, { onEvent: logEvent });
  for (const l of balancer.listeners) {
    log(`listener ${l.name} (${l.protocol}) listening on ${formatHostPort({ host: l.address, port: l.port })}`);
  }
  if (balancer.adminUrl !== null) log(`admin API listening on ${balancer.adminUrl}`);
  log(`${config.workers} worker thread(s), pid ${process.pid}`);

  let reloading = Promise.resolve();
  process.on("SIGHUP", () => {
    reloading = reloading.then(async () => {
      try {
        await balancer.reload(await loadConfigFile(file));
        log(`reloaded ${file}`);
      } catch (error) {
        // A bad file leaves the running configuration untouched; every error in it is named.
        const errors = error instanceof ConfigError ? configErrors(file, error) : [(error as Error).message];
        log(`reload refused, keeping the running configuration: ${errors.join("; ")}`);
      }
    });
  });
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: draining (up to ${config.drainTimeoutMs} ms)`);
      balancer.shutdown().then(({ drained }) => {
        log(drained ? "drained, exiting" : "drain timeout reached, exiting");
        resolve(0);
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

function logEvent(event: BalancerEvent): void {
  switch (event.type) {
    case "worker-exit":
      return log(`worker ${event.index} exited (code ${event.code}${event.error === null ? "" : `: ${event.error}`}); replacing it${event.restartInMs === 0 ? "" : ` in ${event.restartInMs} ms`}`);
    case "backend-health":
      return log(`pool ${event.pool}: backend ${event.backend} is ${event.healthy ? "up" : "down"}`);
    case "backend-ejected":
      return log(`pool ${event.pool}: backend ${event.backend} ejected until ${new Date(event.until).toISOString()}`);
    case "backend-returned":
      return log(`pool ${event.pool}: backend ${event.backend} returned after ejection`);
    case "backend-drained":
      return log(`pool ${event.pool}: backend ${event.backend} drained`);
    case "accept-failed":
      return log(`listener ${event.listener}: ${event.count} connection(s) could not be accepted: ${event.code}${ACCEPT_HINTS[event.code] ?? ""}`);
    case "descriptors-exhausted":
      return log(`new connections cannot be accepted on any listener: ${event.code}${ACCEPT_HINTS[event.code]}`);
    case "descriptors-available":
      return log("file descriptors are available again: accepting connections");
    case "session-fault":
      return log(`worker ${event.index}: a connection handler failed ${event.count} time(s); the connection was closed and the worker serves on: ${event.error}`);
  }
}

const ACCEPT_HINTS: Record<string, string> = {
  EMFILE: " (out of file descriptors for this process: raise its limit, ulimit -n)",
  ENFILE: " (out of file descriptors system-wide)",
  ENOBUFS: " (out of socket buffers)",
  ENOMEM: " (out of memory)",
};

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} farmhand proxy: ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// --check

/** At most this many errors are looked for: a file that bad is best fixed from the top. */
const MAX_ERRORS = 50;

/**
 * Validates FILE and prints each error on a line of its own (file: field path: problem (got value)),
 * then a count; exits 1 when there is one, 0 with a one-line summary when there is none.
 *
 * The loader stops at the first problem, so the others are found by setting it aside and reading
 * again: the offending field is taken out (the loader then uses its default, or says it is
 * missing), a required one takes its enclosing object or list item out with it, and so on outwards.
 * What taking something out causes (a missing field, a listener's pool that went with its pool) is
 * not reported: only what the file itself says. Paths always name places in the file as written.
 */
export async function runProxyCheck(file: string): Promise<number> {
  const text = readFileSync(file, "utf8");
  try {
    const config = parseConfigText(text, file);
    const backends = config.pools.reduce((n, p) => n + p.backends.length, 0);
    process.stdout.write(
      `farmhand proxy --check: ${file} is valid: ${count(config.listeners.length, "listener")}, ${count(config.pools.length, "pool")}, ` +
        `${count(backends, "backend")}, ${config.workers} worker${config.workers === 1 ? "" : "s"}` +
        `${config.admin === null ? ", no admin API" : `, admin API on ${config.admin.address}:${config.admin.port}`}\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return report(file, configErrors(file, error, text));
  }
}

/**
 * Every error in FILE (its `text` as the loader read it, or read again), found by setting each aside;
 * a file that does not parse has nothing more to say than `first` until it does, and `first` is all
 * when the file no longer reads as it did.
 */
function configErrors(file: string, first: ConfigError, text?: string): string[] {
  if (first.field === "(root)") return [first.message];
  try {
    const errors = everyError(yaml.parse((text ?? readFileSync(file, "utf8")).replace(/^\uFEFF/, "")) as unknown, file);
    return errors.length > 0 ? errors : [first.message];
  } catch {
    return [first.message];
  }
}

function report(file: string, errors: readonly string[]): number {
  for (const e of errors) process.stderr.write(`${e}\n`);
  process.stderr.write(`farmhand proxy --check: ${file} has ${count(errors.length, "error")}${errors.length >= MAX_ERRORS ? " (or more)" : ""}\n`);
  return 1;
}

type Step = string | number;

function everyError(raw: unknown, file: string): string[] {
  const errors: string[] = [];
  /** Paths this check took out itself: an error there is its own doing. */
  const removed = new Set<string>();
  /** Names of list items taken out (a pool's name): a reference to one is not the file's error. */
  const goneNames = new Set<string>();
  /** List path in the file -> the file's indices of the items still in the working copy. */
  const survivors = new Map<string, number[]>();
  const seen = new Set<string>();
  for (let round = 0; errors.length < MAX_ERRORS && round < 4 * MAX_ERRORS; round++) {
    let error: ConfigError;
    try {
      normalizeConfig(raw, file);
      break;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      error = e;
    }
    let steps = parsePath(error.field);
    const where = originalPath(steps, survivors, raw);
    const consequence = removed.has(where) || (typeof error.value === "string" && goneNames.has(error.value));
    const message = error.message.replace(`${file}: ${error.field}: `, `${file}: ${where}: `);
    if (!consequence && !seen.has(message)) {
      errors.push(message);
      seen.add(message);
    }
    // A required number taken out gets the least value it may have, so the rest of its item is still read.
    const least = /is required: expected an integer between (\d+) and/.exec(error.message);
    const holder = valueAt(raw, steps.slice(0, -1));
    const last = steps[steps.length - 1];
    if (least !== null && consequence && isObject(holder) && typeof last === "string" && !Object.hasOwn(holder, last)) {
      holder[last] = Number(least[1]);
      continue;
    }
    // Take the field out; when it is already out (a required field), its container goes, and so on.
    for (;;) {
      if (steps.length === 0) return errors;
      const parent = valueAt(raw, steps.slice(0, -1));
      const key = steps[steps.length - 1];
      const at = originalPath(steps, survivors, raw);
      if (Array.isArray(parent) && typeof key === "number" && key < parent.length) {
        const name = (parent[key] as { name?: unknown } | null)?.name;
        if (typeof name === "string") goneNames.add(name);
        const listPath = originalPath(steps.slice(0, -1), survivors, raw);
        const kept = survivors.get(listPath) ?? parent.map((_, i) => i);
        kept.splice(key, 1);
        survivors.set(listPath, kept);
        parent.splice(key, 1);
        removed.add(at);
        if (parent.length === 0) removed.add(listPath); // "expected a non-empty list" would be this check's doing
        break;
      }
      if (isObject(parent) && typeof key === "string" && Object.hasOwn(parent, key) && !removed.has(at)) {
        delete parent[key];
        removed.add(at);
        break;
      }
      removed.add(at);
      steps = steps.slice(0, -1);
    }
  }
  return errors;
}

/** "pools[0].backends[2].port" -> ["pools", 0, "backends", 2, "port"]. */
function parsePath(field: string): Step[] {
  if (field === "(root)" || field === "") return [];
  const steps: Step[] = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) steps.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  return steps;
}

/** The path in the file as written, for steps into the working copy (list items taken out shift indices). */
function originalPath(steps: readonly Step[], survivors: ReadonlyMap<string, number[]>, _raw: unknown): string {
  let out = "";
  for (const step of steps) {
    if (typeof step === "number") {
      const kept = survivors.get(out);
      out += `[${kept === undefined ? step : kept[step] ?? step}]`;
    } else out = out === "" ? step : `${out}.${step}`;
  }
  return out;
}

function valueAt(root: unknown, steps: readonly Step[]): unknown {
  let v = root;
  for (const s of steps) v = (v as Record<string | number, unknown> | null | undefined)?.[s];
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}
