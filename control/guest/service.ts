// The service kit (`farmhand/service`): what runs inside a VM. A server's entry module does
//
//   import { service, start, reply, HttpError } from "farmhand/service";
//   const svc = service(OrderService);                   // env + manifest checked against the role; exit 78 on a mistake
//   svc.provide("api", { place: async ({ body }) => ..., get: ..., list: ... });
//   await start(svc);                                    // listen; exit 78 if the address cannot be taken
//
// and calls its imports through typed clients: `(await svc.imports.payments.charge({...})).body`.
//
// For every service it reads the guest contract (the FARMHAND_* environment and the image's
// farmhand.json, control/guest/contract.ts) and checks that they and the role agree; serves
// GET /.well-known/farmhand and GET /healthz; serves its Prometheus metrics at GET /metrics to the
// farm's metrics token, or only on loopback when it was given none (metrics.ts); routes each
// contract operation to its handler with the body validated (server.ts); calls imports with timeouts
// and validation (client.ts); logs one line per request, each with an ISO timestamp (FARMHAND_LOG=0
// silences them); and on SIGTERM/SIGINT finishes what is in flight, then exits 0.

import type { AnyContract, AnyRole } from "../contracts/index.ts";
import { MetadataError } from "../errors.ts";
import { announcementBody, metricsTokenDigest, readGuestEnv, readManifestSync, roleDisagreements, type GuestConfig, type ImageManifest } from "./contract.ts";
import { client, type Client } from "./client.ts";
import { GuestEnvError, ServiceConfigError } from "./errors.ts";
import { serviceLog, type ServiceLog } from "./log.ts";
import { ServiceServer, type Handlers } from "./server.ts";

export { client, type CallOptions, type Called, type Client, type ClientOptions } from "./client.ts";
export { DependencyError, GuestEnvError, HttpError, ServiceConfigError } from "./errors.ts";
export { describeFields, fieldErrors, type FieldError } from "./fields.ts";
export { serviceLog, type ServiceLog } from "./log.ts";
export { reply, type Handler, type Handlers, type Incoming, type Reply } from "./server.ts";
export { GUEST_VARIABLES, readGuestEnv, readManifestSync, type GuestConfig, type ImageManifest } from "./contract.ts";
export { MetadataError } from "../errors.ts";

export interface ServiceOptions {
  /** Environment to read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Largest request body accepted, in bytes (default 64 KiB). */
  readonly maxBodyBytes?: number;
  /** Time a handler gets before the request is answered 503 (default 10 s). */
  readonly handlerTimeoutMs?: number;
  /** Time to receive a whole request (default 15 s). */
  readonly requestTimeoutMs?: number;
  /** Timeout of calls to imports (default 5 s). */
  readonly importTimeoutMs?: number;
  /** Time given to in-flight requests on SIGTERM before connections are cut (default 5 s). */
  readonly shutdownGraceMs?: number;
  /** Log one line per request (default true unless FARMHAND_LOG=0). */
  readonly log?: boolean;
  /** Install SIGTERM/SIGINT handlers that close the server and exit 0 (default true). */
  readonly handleSignals?: boolean;
}

export interface Service<R extends AnyRole> {
  readonly role: R;
  /** The VM's wiring, from its FARMHAND_* environment. */
  readonly env: GuestConfig;
  readonly manifest: ImageManifest;
  /** NODE_ENV is not "production": requests to imports and responses are validated too. */
  readonly development: boolean;
  /** Lines with an ISO timestamp and the VM's name. */
  readonly log: ServiceLog;
  /** A typed client per import the role requires, wired to FARMHAND_IMPORTS. */
  readonly imports: { readonly [K in keyof R["requires"]]: Client<R["requires"][K]> };
  /** Serves the provided endpoint `name` with one handler per operation of its contract. */
  provide<K extends keyof R["provides"] & string>(name: K, handlers: Handlers<R["provides"][K]>): Service<R>;
  /** Starts serving; every provided endpoint must have its handlers by then. */
  listen(): Promise<{ readonly host: string; readonly port: number; readonly url: string }>;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes. */
  close(): Promise<void>;
}

/**
 * Whether the role's code says what the image's manifest says: its name, what it provides and
 * requires, and (when the manifest defines them) the contracts' operations and schemas, which are
 * what `farmhand gen` would generate for scripts. The first disagreement is refused.
 */
function checkAgreement(role: AnyRole, manifest: ImageManifest): void {
  const d = roleDisagreements(role, manifest)[0];
  if (d === undefined) return;
  const where = manifest.file;
  switch (d.kind) {
    case "name":
      throw new ServiceConfigError(`${where} name: ${d.manifest}, but this server implements role ${d.role}`);
    case "provides":
    case "requires":
      throw new ServiceConfigError(`${where} ${d.kind} ${d.key}: ${d.manifest ?? "nothing"}, but role ${role.name} ${d.kind} ${d.key}: ${d.role ?? "nothing"}`);
    case "operations":
      throw new ServiceConfigError(`${where} ${d.at} differs from contract ${d.id} in the code of role ${role.name}; the two must define the same contract`);
  }
}

/**
 * Creates the service of `role`: reads the role's manifest and the environment, checks they agree
 * with the role, and makes the import clients. Throws GuestEnvError (naming the variable),
 * MetadataError (naming the manifest's field) or ServiceConfigError on a mistake.
 */
export function createService<R extends AnyRole>(role: R, options: ServiceOptions = {}): Service<R> {
  const vars = options.env ?? process.env;
  const manifest = readManifestSync(role.image);
  checkAgreement(role, manifest);
  const env = readGuestEnv(vars, { image: manifest });
  const development = vars.NODE_ENV !== "production";
  const log = serviceLog(env.vm);
  for (const name of Object.keys(env.imports)) {
    if (!(name in role.requires)) log.info(`warning: FARMHAND_IMPORTS entry ${JSON.stringify(name)} is not an import of role ${role.name}; ignored`);
  }
  const imports = Object.fromEntries(
    Object.entries(role.requires).map(([name, c]) => [
      name,
      client(c, env.imports[name], { name, timeoutMs: options.importTimeoutMs ?? 5000, validateRequests: development, caller: env.vm }),
    ]),
  ) as Service<R>["imports"];

  const server = new ServiceServer({
    vm: env.vm,
    announcement: announcementBody(env, manifest),
    log,
    logRequests: options.log ?? vars.FARMHAND_LOG !== "0",
    development,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    handlerTimeoutMs: options.handlerTimeoutMs ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
    shutdownGraceMs: options.shutdownGraceMs ?? 5000,
    metricsTokenSha256: metricsTokenDigest(env),
  });
  const provided = new Set<string>();

  const svc: Service<R> = {
    role,
    env,
    manifest,
    development,
    log,
    imports,
    provide(name, handlers) {
      const contract = role.provides[name] as AnyContract | undefined;
      if (contract === undefined) throw new ServiceConfigError(`role ${role.name} provides no endpoint ${JSON.stringify(name)}`);
      if (provided.has(name)) throw new ServiceConfigError(`endpoint ${name} is provided twice`);
      server.serve(contract, handlers as Readonly<Record<string, unknown>>, name);
      provided.add(name);
      return svc;
    },
    async listen() {
      const notProvided = Object.keys(role.provides).filter((n) => !provided.has(n));
      if (notProvided.length > 0) throw new ServiceConfigError(`no handlers for endpoint ${notProvided.join(", ")}`);
      const at = await server.listen(env.listen.host, env.listen.port);
      log.info(`(${role.name}) listening on ${at.url}`);
      return at;
    },
    close() {
      return server.close();
    },
  };

  if (options.handleSignals ?? true) {
    const stop = (signal: string) => {
      if (server.stopping) return;
      log.info(`${signal}: stopping`);
      svc.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  }
  return svc;
}

/**
 * createService for a server's entry module: on a configuration mistake prints
 * `<time> <role>: configuration error: <message>` to stderr and exits 78 (EX_CONFIG).
 */
export function service<R extends AnyRole>(role: R, options: ServiceOptions = {}): Service<R> {
  try {
    return createService(role, options);
  } catch (err) {
    return exitOnConfigError(role.name, err);
  }
}

/** Awaits `svc.listen()`, exiting 78 with a clear message when the address cannot be taken. */
export async function start<R extends AnyRole>(svc: Service<R>): Promise<void> {
  try {
    await svc.listen();
  } catch (err) {
    exitOnConfigError(svc.role.name, err);
  }
}

/** Whether `err` is a mistake in how the service is set up (environment, manifest, code), not a bug. */
export function isConfigError(err: unknown): err is GuestEnvError | MetadataError | ServiceConfigError {
  return err instanceof GuestEnvError || err instanceof MetadataError || err instanceof ServiceConfigError;
}

function exitOnConfigError(who: string, err: unknown): never {
  if (isConfigError(err)) {
    process.stderr.write(`${new Date().toISOString()} ${who}: configuration error: ${err.message}\n`);
    process.exit(78);
  }
  throw err;
}

