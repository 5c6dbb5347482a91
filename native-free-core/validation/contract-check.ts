// A listener's contract, compiled for an I/O thread: the operation router and one TypeBox validator
// per operation. Compiled once per distinct contract (snapshots that repeat it, which is every pool
// change, find it in the cache), never per request. Loaded only by a worker with a contract to check
// (worker.ts requires it lazily): TypeBox's compiler costs memory a plain proxy never needs.

import { createHash } from "node:crypto";
import type { ValidationConfig } from "../config.ts";
import { checkBody, type BodyRefusal, type Media } from "./body.ts";
import { BodySchema } from "./body-schema.ts";
import { OperationRouter } from "./operations.ts";


export class ContractCheck {
  readonly config: ValidationConfig;
  readonly router: OperationRouter;
  /** Per operation: its compiled schema, the key naming it to validation threads, and its label in messages. */
  readonly schemas: readonly BodySchema[];
  readonly keys: readonly string[];
  readonly labels: readonly string[];

  constructor(config: ValidationConfig, contract: string | null, digest: string) {
    this.config = config;
    this.router = new OperationRouter(config.operations);
    this.schemas = config.operations.map((op) => new BodySchema(op.request));
    this.keys = config.operations.map((_, i) => `${digest}:${i}`);
    this.labels = config.operations.map((op) => (contract === null ? op.name : `${contract} ${op.name}`));
  }

  /** Checks a body (all of it, empty for none) on this thread. */
  check(operation: number, media: Media, body: Buffer): BodyRefusal | null {
    return checkBody(this.schemas[operation], media, body, this.labels[operation]);
  }
}

const cache = new Map<string, ContractCheck>();

/** The compiled form of `config`, from the cache when this thread has compiled the same contract before. */
export function contractCheck(config: ValidationConfig, contract: string | null): ContractCheck {
  const text = JSON.stringify([contract, config]);
  const digest = createHash("sha256").update(text).digest("hex").slice(0, 16);
  let found = cache.get(digest);
  if (found === undefined) {
    // A contract no listener uses any more is not worth keeping: the cache holds what is in use.
    if (cache.size >= 64) cache.clear();
    found = new ContractCheck(config, contract, digest);
    cache.set(digest, found);
  }
  return found;
}
