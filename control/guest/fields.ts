// Validation errors that name the field: how a service tells a caller (400) and a caller tells its
// log (an import answered off-contract) what exactly was wrong with a body.

import type { TSchema } from "typebox";
import Value from "typebox/value";

export interface FieldError {
  /** JSON pointer of the offending field, e.g. "/quantity" ("" for the body itself). */
  readonly path: string;
  readonly message: string;
}

/** Validation errors of `value` against `schema`, one per field, each naming the field. */
export function fieldErrors(schema: TSchema, value: unknown): FieldError[] {
  const out: FieldError[] = [];
  for (const e of Value.Errors(schema, value)) {
    const params = e.params as { requiredProperties?: string[]; additionalProperties?: string[] };
    if (e.keyword === "required" && params.requiredProperties) {
      for (const p of params.requiredProperties) out.push({ path: `${e.instancePath}/${p}`, message: "is required" });
    } else if (e.keyword === "additionalProperties" && params.additionalProperties) {
      for (const p of params.additionalProperties) out.push({ path: `${e.instancePath}/${p}`, message: "is not allowed" });
    } else if (e.keyword === "boolean" && e.schemaPath.endsWith("additionalProperties")) {
      continue; // reported above, by name
    } else {
      out.push({ path: e.instancePath, message: e.message });
    }
  }
  return out;
}

/** "quantity must be >= 1; currency is not allowed" ("body ..." for the body itself). */
export function describeFields(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path === "" ? "body" : e.path.slice(1)} ${e.message}`).join("; ");
}
