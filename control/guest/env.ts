// The guest contract's environment: the FARMHAND_* variables a VM's program starts with. A driver
// writes them (writeGuestEnv: the local driver into its child's environment; on Proxmox the guest
// turns its VM's description into the same variables), a service reads them (readGuestEnv, which the
// service kit calls). Both sides go through this file, so a variable means one thing everywhere.

import { formatHostPort, parseHostPort, type HostPort } from "../../native-free-core/net/address.ts";
import type { VmSpec } from "../drivers/driver.ts";
import { GuestEnvError } from "./errors.ts";

/** Every variable of the guest contract and what it means. */
export const GUEST_VARIABLES = {
  FARMHAND_LISTEN: "where the service listens: host:port, the VM's own address and the farm's service port (e.g. 127.0.1.2:8080, [fd00::2]:8080). Required.",
  FARMHAND_VM: "the VM's name in its farm (e.g. orders-2). Required.",
  FARMHAND_ROLE: "the role the VM runs, which is its image's manifest name (e.g. orders). Optional: a service knows its own role.",
  FARMHAND_FARM: "the farm the VM belongs to. Empty or unset for a service started by hand.",
  FARMHAND_IMPORTS: 'JSON object, import name -> base URL of the endpoint it is wired to (e.g. {"payments":"http://127.0.1.3:8080"}). Every import the image requires must be there; {} when unset.',
  FARMHAND_SETTINGS: `JSON object of image-specific settings (a balancer's contract, policy and pools). {} when unset. One key is the service kit's own: "metricsTokenSha256", the SHA-256 (64 hex digits) of the farm's read-only metrics token, which its GET /metrics then asks for.`,
  FARMHAND_VM_ID: "the driver's own id of the VM (a local process key, a Proxmox VMID): how a driver recognises the VM's processes. Empty or unset by hand.",
} as const;

export type GuestVariable = keyof typeof GUEST_VARIABLES;

/**
 * The key of FARMHAND_SETTINGS under which a VM is given the SHA-256 of its farm's metrics token: in
 * settings, not a variable of its own, because settings already reach every guest the same way
 * (a local process's environment, a Proxmox VM's description), and a digest may travel where a
 * token may not.
 */
export const METRICS_DIGEST_SETTING = "metricsTokenSha256";

/** The metrics token digest a VM was given (64 hex digits), or null: none, a service run by hand. */
export function metricsTokenDigest(config: Pick<GuestConfig, "settings">): string | null {
  const digest = config.settings[METRICS_DIGEST_SETTING];
  return typeof digest === "string" ? digest : null;
}

/** A VM's wiring, as its driver writes it and its service reads it. */
export interface GuestConfig {
  readonly listen: HostPort;
  readonly vm: string;
  /** "" when not given (a service started by hand). */
  readonly role: string;
  /** "" when not given. */
  readonly farm: string;
  /** "" when not given. */
  readonly vmId: string;
  /** Import name -> base URL, without a trailing slash ("http://127.0.1.3:8080"). */
  readonly imports: Readonly<Record<string, string>>;
  readonly settings: Readonly<Record<string, unknown>>;
}

/** The guest config of a VM made from `spec`, once its driver knows its id and address. */
export function guestConfig(spec: VmSpec, vm: { readonly id: string; readonly address: HostPort }): GuestConfig {
  return {
    listen: { host: vm.address.host, port: vm.address.port },
    vm: spec.labels.vm,
    role: spec.labels.role,
    farm: spec.labels.farm,
    vmId: vm.id,
    imports: { ...spec.imports },
    settings: { ...(spec.settings ?? {}) },
  };
}

/**
 * The FARMHAND_* variables of `config`, every one of them. What the guest would refuse is refused
 * here (GuestEnvError naming the variable), where the driver can still say which VM it was.
 */
export function writeGuestEnv(config: GuestConfig): Record<GuestVariable, string> {
  const env: Record<GuestVariable, string> = {
    FARMHAND_LISTEN: formatHostPort(config.listen),
    FARMHAND_VM: config.vm,
    FARMHAND_ROLE: config.role,
    FARMHAND_FARM: config.farm,
    FARMHAND_IMPORTS: JSON.stringify(config.imports),
    FARMHAND_SETTINGS: JSON.stringify(config.settings),
    FARMHAND_VM_ID: config.vmId,
  };
  // The reader holds the rules; writing with them twice would let the two drift apart.
  readGuestEnv(env);
  return env;
}

export interface ReadGuestEnvOptions {
  /**
   * The image the service runs (its manifest's name and requires): FARMHAND_ROLE defaults to its
   * name and must equal it when set, and each import it requires must be in FARMHAND_IMPORTS.
   */
  readonly image?: { readonly name: string; readonly requires: Readonly<Record<string, string>> };
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads the FARMHAND_* variables; throws GuestEnvError naming the variable when one is missing or bad. */
export function readGuestEnv(env: Env = process.env, options: ReadGuestEnvOptions = {}): GuestConfig {
  const fail = (variable: GuestVariable, problem: string): never => {
    throw new GuestEnvError(variable, problem);
  };
  const given = (variable: GuestVariable): string | undefined => {
    const v = env[variable];
    return v === undefined || v === "" ? undefined : v;
  };

  const listenText = given("FARMHAND_LISTEN") ?? fail("FARMHAND_LISTEN", "is not set (expected host:port, e.g. 127.0.1.2:8080)");
  const listen = parseHostPort(listenText) ?? fail("FARMHAND_LISTEN", `${JSON.stringify(listenText)} is not host:port with a port 1-65535 (e.g. 127.0.1.2:8080)`);
  const vm = given("FARMHAND_VM") ?? fail("FARMHAND_VM", "is not set (the VM's name, e.g. orders-1)");

  const image = options.image;
  const role = given("FARMHAND_ROLE") ?? image?.name ?? "";
  if (image !== undefined && role !== image.name) {
    fail("FARMHAND_ROLE", `is ${JSON.stringify(role)}, but this image is role ${image.name} (the name in its farmhand.json)`);
  }

  const imports: Record<string, string> = {};
  const importsText = given("FARMHAND_IMPORTS");
  for (const [name, url] of Object.entries(jsonObject("FARMHAND_IMPORTS", importsText, 'import name -> base URL, e.g. {"payments":"http://127.0.1.3:8080"}'))) {
    if (typeof url !== "string" || !/^https?:\/\/[^/\s]+\/?$/.test(url)) {
      fail("FARMHAND_IMPORTS", `entry ${JSON.stringify(name)} is ${JSON.stringify(url)}, not a base URL like http://127.0.1.3:8080`);
    }
    imports[name] = (url as string).replace(/\/$/, "");
  }
  if (image !== undefined) {
    const missing = Object.entries(image.requires).filter(([name]) => !Object.hasOwn(imports, name));
    if (missing.length > 0) {
      const list = missing.map(([name, id]) => `"${name}" (${id})`).join(", ");
      if (importsText === undefined) fail("FARMHAND_IMPORTS", `is not set; role ${image.name} requires import ${list}`);
      fail("FARMHAND_IMPORTS", `has no entry for import ${list}; role ${image.name} requires it`);
    }
  }

  const settings = jsonObject("FARMHAND_SETTINGS", given("FARMHAND_SETTINGS"), "settings, e.g. {}");
  const digest = settings[METRICS_DIGEST_SETTING];
  if (digest !== undefined && (typeof digest !== "string" || !/^[0-9a-f]{64}$/.test(digest))) {
    // The value is a digest, not a secret, but a mistyped one would lock every scraper out unseen.
    fail("FARMHAND_SETTINGS", `${METRICS_DIGEST_SETTING}: expected the metrics token's SHA-256, 64 lowercase hex digits (got ${typeof digest === "string" ? `${digest.length} characters` : JSON.stringify(digest)})`);
  }
  return { listen, vm, role, farm: given("FARMHAND_FARM") ?? "", vmId: given("FARMHAND_VM_ID") ?? "", imports, settings };
}

/** A variable that holds a JSON object ({} when unset). */
function jsonObject(variable: GuestVariable, text: string | undefined, what: string): Record<string, unknown> {
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new GuestEnvError(variable, `is not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
    throw new GuestEnvError(variable, `must be a JSON object of ${what} (got ${shown})`);
  }
  return parsed as Record<string, unknown>;
}
