// The answers to requests a contract check refuses: each with X-Farmhand-Reason and a short JSON
// body ({ error, fields? }), as the service kit answers the same mistakes. Kept apart from the
// compiled checks so that the connection handler can import them without loading TypeBox.

import { jsonResponse } from "../http/canned-responses.ts";
import type { BodyRefusal } from "./body.ts";

/** The answer to a refused body: 400 or 415, naming the fields at fault. Well framed, so the connection may stay. */
export function refusedBody(refusal: BodyRefusal, close: boolean): Buffer {
  const body = refusal.fields.length === 0 ? { error: refusal.message } : { error: refusal.message, fields: refusal.fields };
  return jsonResponse(refusal.status, refusal.reason, body, close);
}

/** 404: no operation has the path. */
export function noOperation(method: string, path: string, close: boolean): Buffer {
  return jsonResponse(404, "no-operation", { error: `no operation at ${method} ${shortPath(path)}` }, close);
}

/** 405: operations have the path, not with this method. */
export function methodNotAllowed(method: string, path: string, allowed: readonly string[], close: boolean): Buffer {
  return jsonResponse(405, "method-not-allowed", { error: `${method} is not allowed on ${shortPath(path)}` }, close, `Allow: ${allowed.join(", ")}\r\n`);
}

/** 413: the body is larger than the listener checks. */
export function bodyTooLarge(limit: number): Buffer {
  return jsonResponse(413, "body-too-large", { error: `request body is larger than ${limit} bytes` }, true);
}

/** 400: a path the contract's operations cannot be told apart on (dot segments, encoded slashes). */
export function unplainPath(): Buffer {
  return jsonResponse(400, "path-not-plain", { error: "the path has dot segments or encoded slashes, dots or backslashes" }, false);
}

/** Paths are echoed to the client that sent them; long ones are cut. */
function shortPath(path: string): string {
  const q = path.indexOf("?");
  const p = q < 0 ? path : path.slice(0, q);
  return p.length > 200 ? `${p.slice(0, 200)}...` : p;
}
