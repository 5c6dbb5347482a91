// Reading and checking one request body against an operation's compiled schema: the same code on
// the I/O thread (small bodies) and on a validation thread (large ones). The body is read as the
// service kit reads it (JSON, or a browser's form converted to the schema's types), so that what the
// balancer lets through is exactly what the VM would accept, and what it refuses the VM would refuse.

import type { BodySchema } from "./body-schema.ts";
import { describeFields, namedFieldErrors, type FieldError } from "./field-errors.ts";

/** How the body is to be read, from its Content-Type. */
export const MEDIA_JSON = 0;
export const MEDIA_FORM = 1;
export const MEDIA_OTHER = 2;
export type Media = typeof MEDIA_JSON | typeof MEDIA_FORM | typeof MEDIA_OTHER;

/** At most this many fields are named in a refusal: enough to fix a request, short to send. */
const MAX_FIELDS = 5;

/** Why a body was refused: 400 (unreadable or off-contract) or 415 (a media type neither JSON nor a form). */
export interface BodyRefusal {
  readonly status: 400 | 415;
  /** Stable, for X-Farmhand-Reason. */
  readonly reason: "invalid-json" | "invalid-body" | "unsupported-media-type";
  readonly message: string;
  readonly fields: readonly FieldError[];
}

/** Content-Type's media type: absent counts as JSON, as the service kit reads it. */
export function mediaOf(contentType: string | null): Media {
  if (contentType === null) return MEDIA_JSON;
  const semi = contentType.indexOf(";");
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type === "application/json" || type.endsWith("+json")) return MEDIA_JSON;
  if (type === "application/x-www-form-urlencoded") return MEDIA_FORM;
  return MEDIA_OTHER;
}

/**
 * Checks `body` (all of it; empty for none) against `schema`. Returns null when the body is valid.
 * `label` names the operation in the message ("orders@1 place").
 */
export function checkBody(schema: BodySchema, media: Media, body: Buffer, label: string): BodyRefusal | null {
  // Most bodies are valid: the scan vouches for those without building the document. Whatever it
  // does not vouch for is parsed and checked below, which decides, and words the refusal.
  if (media === MEDIA_JSON && body.length > 0 && schema.scan?.vouches(body)) return null;
  const validator = schema.validator;
  const text = body.toString("utf8");
  let value: unknown;
  if (text === "") {
    // An empty body is "no value": undefined where the schema takes it, else null (GET's {"type":"null"}).
    value = validator.Check(undefined) ? undefined : null;
  } else if (media === MEDIA_JSON) {
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { status: 400, reason: "invalid-json", message: `request body is not JSON: ${(error as Error).message}`, fields: [] };
    }
  } else if (media === MEDIA_FORM) {
    if (/^\s*[{[]/.test(text)) {
      return { status: 415, reason: "unsupported-media-type", message: "the body looks like JSON but is sent as a form; send content-type: application/json", fields: [] };
    }
    value = fromForm(validator.Type(), new URLSearchParams(text));
  } else {
    return { status: 415, reason: "unsupported-media-type", message: "content-type is not accepted; send application/json or a form", fields: [] };
  }
  let fields;
  try {
    if (validator.Check(value)) return null;
    fields = namedFieldErrors(validator.Errors(value), MAX_FIELDS);
  } catch (error) {
    // A recursive schema walks a value as deep as it is nested: past the stack, the body is refused
    // (the service kit answers such a body the same way) rather than failing the session.
    if (error instanceof RangeError) return tooDeep(label);
    throw error;
  }
  return {
    status: 400,
    reason: "invalid-body",
    message: `invalid request body for ${label}: ${describeFields(fields)}`,
    fields,
  };
}

/**
 * A form's fields as the schema's types: a browser sends every value as a string, and the service kit
 * converts those that the schema declares numbers or booleans (and only when the text is one).
 */
function fromForm(schema: unknown, form: URLSearchParams): Record<string, unknown> {
  const properties = typeof schema === "object" && schema !== null ? (schema as { properties?: Record<string, { type?: unknown }> }).properties : undefined;
  const out: Record<string, unknown> = {};
  for (const [key, text] of form) {
    const type = properties !== undefined && Object.hasOwn(properties, key) ? properties[key]?.type : undefined;
    if ((type === "integer" || type === "number") && text.trim() !== "" && Number.isFinite(Number(text))) out[key] = Number(text);
    else if (type === "boolean" && (text === "true" || text === "false")) out[key] = text === "true";
    else out[key] = text;
  }
  return out;
}

/** The answer to a body nested deeper than a recursive schema can be checked on the stack. */
function tooDeep(label: string): BodyRefusal {
  return { status: 400, reason: "invalid-body", message: `invalid request body for ${label}: nested too deeply to check`, fields: [] };
}
