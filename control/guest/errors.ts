// What the guest side raises on purpose: the guest contract (a VM's FARMHAND_* environment) and the
// service kit that runs inside a VM. One class per stable `code`; a manifest that cannot be used is
// control's MetadataError, the same for a driver, for `farmhand gen` and for a service.

import { FarmError } from "../errors.ts";

/**
 * A FARMHAND_* variable is missing or malformed, or disagrees with the image it starts: the service
 * cannot start. `variable` names it, and the message starts with it.
 */
export class GuestEnvError extends FarmError {
  readonly code = "FARMHAND_GUEST_ENV_INVALID";
  /** The variable at fault, e.g. "FARMHAND_IMPORTS". */
  readonly variable: string;
  /** What is wrong with it (the message without the variable's name). */
  readonly problem: string;
  constructor(variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.name = "GuestEnvError";
    this.variable = variable;
    this.problem = problem;
  }
}

/**
 * A service cannot serve as it is set up: its code and its image's manifest disagree, an endpoint
 * has no handlers, or its address cannot be taken.
 */
export class ServiceConfigError extends FarmError {
  readonly code = "FARMHAND_SERVICE_CONFIG_INVALID";
  constructor(message: string) {
    super(message);
    this.name = "ServiceConfigError";
  }
}

/** Thrown by a handler to answer with `status` and `{ error: message, ...extra }`. */
export class HttpError extends FarmError {
  readonly code = "FARMHAND_SERVICE_HTTP_ERROR";
  readonly status: number;
  readonly extra: Readonly<Record<string, unknown>>;
  constructor(status: number, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.extra = extra;
  }
}

/** A call to an import failed: unreachable, timed out, answered non-2xx, or answered off-contract. */
export class DependencyError extends FarmError {
  readonly code = "FARMHAND_SERVICE_DEPENDENCY_FAILED";
  /** The import's name, e.g. "payments". */
  readonly importName: string;
  /** The dependency's HTTP status, or null when there was no answer. */
  readonly status: number | null;
  /** The dependency's (parsed) answer, when there was one. */
  readonly body: unknown;
  constructor(importName: string, status: number | null, message: string, body?: unknown) {
    super(message);
    this.name = "DependencyError";
    this.importName = importName;
    this.status = status;
    this.body = body;
  }
  /**
   * The `error` text the dependency answered with, if it answered in the kit's error shape. It is
   * the dependency's message to its caller: pass it on only for refusals the caller can act on.
   */
  get remoteError(): string | undefined {
    const b = this.body as { error?: unknown } | undefined;
    return typeof b?.error === "string" ? b.error : undefined;
  }
}
