// Validation errors that name the field: how a service tells a caller (400) and a caller tells its
// log (an import answered off-contract) what exactly was wrong with a body. The naming is the
// balancer's own (native-free-core/validation/field-errors.ts), so a request refused at the balancer
// and one refused by the service read alike.

import type { TSchema } from "typebox";
import Value from "typebox/value";
import { namedFieldErrors, type FieldError } from "../../native-free-core/validation/field-errors.ts";

export { describeFields, type FieldError } from "../../native-free-core/validation/field-errors.ts";

/** Validation errors of `value` against `schema`, one per field, each naming the field. */
export function fieldErrors(schema: TSchema, value: unknown): FieldError[] {
  return namedFieldErrors(Value.Errors(schema, value));
}
