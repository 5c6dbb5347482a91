// One request to the emulated API, in pveproxy's order: read the body, authenticate, record it; then
// the armed faults (a slow or broken proxy, a denied path, an offline node), the route, its
// parameters, and the answer in the api2/json envelope.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Cluster } from "../cluster/cluster.ts";
import { answerDelayMs, denialOf, takeProxyError } from "../cluster/faults.ts";
import { PveError } from "../errors.ts";
import type { Auth, AuthKind } from "./auth.ts";
import { parseBody, send } from "./envelope.ts";
import { mergeParams } from "./params.ts";
import type { Route } from "./route.ts";

export interface RecordedRequest {
  readonly method: string;
  /** The path after /api2/json, without the query. */
  readonly path: string;
  readonly query: Record<string, string>;
  /** Body parameters (form or JSON), as received. */
  readonly body: Record<string, unknown>;
  readonly contentType: string | null;
  readonly auth: AuthKind;
  /** The answer's status (set once answered). */
  status: number;
}

export interface ApiHandlerDeps {
  readonly cluster: Cluster;
  readonly auth: Auth;
  readonly routes: readonly Route[];
  /** Every request, in the order they came. */
  readonly requests: RecordedRequest[];
}

const PREFIX = "/api2/json";
const NOT_IN_SCHEMA = "property is not defined in schema and the schema does not allow additional properties";

export function apiHandler({ cluster, auth, routes, requests }: ApiHandlerDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const faults = cluster.faults;
  return async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", "http://emulator");
    const full = url.pathname;
    const path = full.startsWith(PREFIX) ? full.slice(PREFIX.length) || "/" : full;
    const query = Object.fromEntries(url.searchParams);
    const contentType = req.headers["content-type"] ?? null;
    let body: Record<string, unknown> = {};
    let bodyError = false;
    try {
      body = parseBody(Buffer.concat(chunks).toString("utf8"), contentType);
    } catch {
      bodyError = true;
    }
    const who = auth.authenticate(req.headers, method);
    const record: RecordedRequest = { method, path, query, body, contentType, auth: who.kind, status: 0 };
    requests.push(record);
    const answer = (status: number, reason: string, data: unknown, errors?: Readonly<Record<string, string>>) => {
      record.status = status;
      send(res, status, reason, errors !== undefined ? { errors, data: null } : { data });
    };
    const notImplemented = () => answer(501, `Method '${method} ${path}' not implemented`, null);

    const delay = answerDelayMs(faults, method);
    if (delay > 0) await cluster.time.sleep(delay);
    const broken = takeProxyError(faults);
    if (broken !== null) return answer(596, broken, null);
    if (!full.startsWith(`${PREFIX}/`) && full !== PREFIX) return notImplemented();
    if (bodyError) return answer(400, "Parameter verification failed.", null, { body: "unable to parse request body" });

    const route = routes.find((r) => r.method === method && r.pattern.test(path));
    if ((route === undefined || !route.public) && who.error !== null) return answer(401, who.error, null);
    if (route === undefined) return notImplemented();
    const match = route.pattern.exec(path)!;

    const deny = denialOf(faults, method, path);
    if (deny !== undefined) return answer(403, deny.message ?? "Permission check failed", null);

    const node = /^\/nodes\/([^/]+)/.exec(path)?.[1];
    if (node !== undefined) {
      if (!cluster.nodes.has(node)) return answer(500, `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`, null);
      if (faults.offlineNodes.has(node)) return answer(595, "Connection timed out", null);
    }

    const params = mergeParams(query, body);
    if (route.params !== undefined) {
      const errors: Record<string, string> = {};
      for (const k of Object.keys(params)) if (!route.params.includes(k)) errors[k] = NOT_IN_SCHEMA;
      if (Object.keys(errors).length > 0) return answer(400, "Parameter verification failed.", null, errors);
    }
    try {
      // A token acts as its user (tasks record "user@realm", not the token).
      const user = who.user === null ? auth.user : who.user.split("!")[0];
      const data = await route.handler({ method, path, params, match, user });
      answer(200, "OK", data ?? null);
    } catch (err) {
      if (err instanceof PveError) answer(err.status, err.message, null, err.errors);
      else answer(500, (err as Error).message ?? String(err), null);
    }
  };
}
