// The emulator's errors. PveError is what the emulated API answers when a call fails, as pveproxy
// does: a status, the message as the HTTP reason phrase (where Proxmox puts it), and for 400 the
// per-parameter errors in the body; the cluster model throws it too, as a PVE handler's `die` does
// (its message becomes a 500). It is the emulated server's answer, not a farmhand error, so it has no
// FARMHAND_* code; EmulatorUsageError is the emulator's own.

import { FarmError } from "../../../errors.ts";

export class PveError extends Error {
  readonly status: number;
  /** Parameter name -> what is wrong with it (400 answers only). */
  readonly errors: Readonly<Record<string, string>> | undefined;
  constructor(status: number, message: string, errors?: Readonly<Record<string, string>>) {
    super(message);
    this.name = "PveError";
    this.status = status;
    this.errors = errors;
  }
}

/** 400 "Parameter verification failed.", with what is wrong with each parameter. */
export const paramError = (errors: Readonly<Record<string, string>>): PveError => new PveError(400, "Parameter verification failed.", errors);

/** What `die "..."` in a PVE API handler becomes: 500 with the message as the reason phrase. */
export const fail = (message: string): PveError => new PveError(500, message);

/** The emulator was set up or driven wrongly (a template on a node it does not have, a VMID it does not know). */
export class EmulatorUsageError extends FarmError {
  readonly code = "FARMHAND_PVE_EMULATOR_USAGE";
  constructor(message: string) {
    super(`pve emulator: ${message}`);
    this.name = "EmulatorUsageError";
  }
}
