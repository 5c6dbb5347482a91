// One operation's request schema, compiled both ways: TypeBox's validator, which decides and names
// what is wrong, and the byte scan (json-scan.ts), which vouches for a valid JSON body without
// parsing it. A module of its own so that only threads that check contracts load TypeBox's
// compiler: the I/O thread's session code needs body.ts, and a plain proxy never compiles a schema.

import { Compile, type Validator } from "typebox/compile";
import type { JsonSchema } from "../config.ts";
import { JsonScan } from "./json-scan.ts";

export class BodySchema {
  readonly validator: Validator;
  /** null for a schema the scan cannot walk (references across the document, and the like). */
  readonly scan: JsonScan | null;

  constructor(schema: JsonSchema) {
    this.validator = Compile(schema as never) as Validator;
    this.scan = JsonScan.compile(schema);
  }
}
