// Validation errors that name the field, from TypeBox's error list: one shape for the balancer's
// contract checks (400 bodies) and the service kit's (a service's 400s, a caller's log lines).

export interface FieldError {
  /** JSON pointer of the offending field, e.g. "/quantity" ("" for the body itself). */
  readonly path: string;
  readonly message: string;
}

/** What this module reads of a TypeBox validation error. */
export interface SchemaError {
  readonly keyword: string;
  readonly params: unknown;
  readonly instancePath: string;
  readonly schemaPath: string;
  readonly message: string;
}

/**
 * One error per field, at most `max`: a missing or unknown property by its own name rather than as
 * the object that lacks or carries it.
 */
export function namedFieldErrors(errors: Iterable<SchemaError>, max = Infinity): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const params = e.params as { requiredProperties?: string[]; additionalProperties?: string[] };
    if (e.keyword === "required" && params.requiredProperties) {
      for (const p of params.requiredProperties) out.push({ path: `${e.instancePath}/${p}`, message: "is required" });
    } else if (e.keyword === "additionalProperties" && params.additionalProperties) {
      for (const p of params.additionalProperties) out.push({ path: `${e.instancePath}/${p}`, message: "is not allowed" });
    } else if (e.keyword === "boolean" && e.schemaPath.endsWith("additionalProperties")) {
      continue; // named above
    } else {
      out.push({ path: e.instancePath, message: e.message });
    }
    if (out.length >= max) break;
  }
  return out.slice(0, max);
}

/** "quantity must be >= 1; currency is not allowed" ("body ..." for the body itself). */
export function describeFields(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path === "" ? "body" : e.path.slice(1)} ${e.message}`).join("; ");
}
