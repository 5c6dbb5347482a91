// The client half of the service kit: a typed client of a contract, which is how a service calls its
// imports. JSON in and out over undici, a timeout on every call, the answer validated against the
// operation's response schema; anything short of a 2xx on contract is a DependencyError.

import { request } from "undici";
import type { AnyContract, RequestOf, ResponseOf } from "../contracts/index.ts";
import { readLimitedText } from "../../native-free-core/net/read-limited.ts";
import { DependencyError } from "./errors.ts";
import { describeFields, fieldErrors } from "./fields.ts";

export interface CallOptions {
  /** Path parameters, e.g. { id } for /orders/{id}. */
  readonly params?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface Called<Body> {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Body;
}

/** One method per operation of the contract. Rejects with DependencyError unless the answer is a 2xx on contract. */
export type Client<C extends AnyContract> = {
  readonly [Op in keyof C["operations"]]: (body: RequestOf<C, Op>, options?: CallOptions) => Promise<Called<ResponseOf<C, Op>>>;
};

export interface ClientOptions {
  /** The import's name, for error messages (default: the contract's name). */
  readonly name?: string;
  /** Default 5 000 ms; a call can ask for its own. */
  readonly timeoutMs?: number;
  /** Validate outgoing request bodies too (responses are always validated). */
  readonly validateRequests?: boolean;
  /** Sent as x-farmhand-caller. */
  readonly caller?: string;
  /** The largest answer read (default 8 MiB): a larger one is a DependencyError, not a lost process. */
  readonly maxResponseBytes?: number;
}

const RESPONSE_LIMIT = 8 * 1024 * 1024;

const fillPath = (template: string, params: Readonly<Record<string, string>> = {}): string =>
  template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw new TypeError(`path ${template}: no value for parameter ${name}`);
    return encodeURIComponent(v);
  });

/** A typed client of `contract` served at `baseUrl`. */
export function client<C extends AnyContract>(contract: C, baseUrl: string, options: ClientOptions = {}): Client<C> {
  const name = options.name ?? contract.name;
  const base = baseUrl.replace(/\/$/, "");
  const out: Record<string, unknown> = {};
  for (const [opName, op] of Object.entries(contract.operations)) {
    out[opName] = async (body: unknown, call: CallOptions = {}): Promise<Called<unknown>> => {
      const url = base + fillPath(op.path, call.params);
      const what = `${name} (${contract.id}) ${opName}: ${op.method} ${url}`;
      if (options.validateRequests) {
        const errors = fieldErrors(op.request, body);
        if (errors.length > 0) throw new DependencyError(name, null, `${what}: request does not match the contract: ${describeFields(errors)}`);
      }
      const timeoutMs = call.timeoutMs ?? options.timeoutMs ?? 5000;
      const signals = [AbortSignal.timeout(timeoutMs), ...(call.signal ? [call.signal] : [])];
      const hasBody = body !== null && body !== undefined;
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, {
          method: op.method,
          headers: {
            accept: "application/json",
            ...(hasBody ? { "content-type": "application/json" } : {}),
            ...(options.caller ? { "x-farmhand-caller": options.caller } : {}),
          },
          body: hasBody ? JSON.stringify(body) : undefined,
          signal: AbortSignal.any(signals),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
      } catch (err) {
        const e = err as Error;
        const reason = e.name === "TimeoutError" || signals[0].aborted ? `no answer within ${timeoutMs} ms` : e.message;
        throw new DependencyError(name, null, `${what}: ${reason}`);
      }
      let text: string;
      try {
        text = await readLimitedText(res.body, options.maxResponseBytes ?? RESPONSE_LIMIT, what);
      } catch (err) {
        throw new DependencyError(name, res.statusCode, (err as Error).message);
      }
      let parsed: unknown = text;
      try {
        parsed = text === "" ? null : JSON.parse(text);
      } catch {
        /* keep the text */
      }
      if (res.statusCode < 200 || res.statusCode > 299) {
        const detail = typeof (parsed as { error?: unknown })?.error === "string" ? (parsed as { error: string }).error : text.slice(0, 200);
        throw new DependencyError(name, res.statusCode, `${what} answered ${res.statusCode}: ${detail}`, parsed);
      }
      const errors = fieldErrors(op.response, parsed);
      if (errors.length > 0) {
        throw new DependencyError(name, res.statusCode, `${what}: response does not match the contract: ${describeFields(errors)}`, parsed);
      }
      return { status: res.statusCode, headers: res.headers, body: parsed };
    };
  }
  return out as Client<C>;
}
