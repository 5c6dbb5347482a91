// What runs inside a validation thread (a piscina worker): a large body, read in place from the
// memory the I/O thread gathered it in, is decoded, parsed and checked. Compiled validators are kept
// per contract and operation, so each is compiled once per snapshot, not per request.

import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { Compile, type Validator } from "typebox/compile";
import { checkBody, type BodyRefusal } from "./body.ts";
import type { ValidationTask } from "./pool.ts";

// Parsing a 10 MB body takes a hundred milliseconds of CPU that the I/O threads may need at the
// same moment: this thread takes only what they leave (nice 19, the lowest priority), so small
// requests are not slowed by large ones; a large body that cannot be checked within bodyTimeoutMs
// gets 503. /proc/thread-self names this thread's own id, which setpriority takes for one thread on
// Linux; anywhere else the priority simply stays as it is.
try {
  const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
} catch {}

/** Validators by ValidationTask.key; a changed contract has new keys, so old ones are only dropped wholesale. */
const validators = new Map<string, Validator>();
const MAX_VALIDATORS = 4096;

export default function validate(task: ValidationTask): BodyRefusal | null {
  let validator = validators.get(task.key);
  if (validator === undefined) {
    if (validators.size >= MAX_VALIDATORS) validators.clear();
    validator = Compile(task.schema as never) as Validator;
    validators.set(task.key, validator);
  }
  const text = Buffer.from(task.body, 0, task.length).toString("utf8");
  return checkBody(validator, task.media, text, task.label);
}
