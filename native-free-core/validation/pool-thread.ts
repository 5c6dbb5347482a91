// What runs inside a validation thread (a piscina worker): a large body is checked in place, in the
// memory the I/O thread gathered it in (scanned, and parsed only when the scan cannot vouch for it).
// Compiled schemas are kept per contract and operation, so each is compiled once per snapshot, not
// per request.

import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { checkBody, type BodyRefusal } from "./body.ts";
import { BodySchema } from "./body-schema.ts";
import type { ValidationTask } from "./pool.ts";

// Checking a 10 MB body takes tens of milliseconds of CPU (parsing one, a hundred) that the I/O
// threads may need at the same moment: this thread takes only what they leave (nice 19, the lowest
// priority), so small requests are not slowed by large ones; a large body that cannot be checked
// within bodyTimeoutMs gets 503. /proc/thread-self names this thread's own id, which setpriority
// takes for one thread on Linux; anywhere else the priority simply stays as it is.
try {
  const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
} catch {}

/** Compiled schemas by ValidationTask.key; a changed contract has new keys, so old ones are only dropped wholesale. */
const schemas = new Map<string, BodySchema>();
const MAX_SCHEMAS = 4096;

export default function validate(task: ValidationTask): BodyRefusal | null {
  let schema = schemas.get(task.key);
  if (schema === undefined) {
    if (schemas.size >= MAX_SCHEMAS) schemas.clear();
    schema = new BodySchema(task.schema);
    schemas.set(task.key, schema);
  }
  return checkBody(schema, task.media, Buffer.from(task.body, 0, task.length), task.label);
}
