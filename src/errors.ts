// The command line's own errors: a mistake in how a command was called. Each exits 2, as for any bad
// argument, before anything was created or written.

export abstract class UsageError extends Error {
  abstract readonly code: string;
}

/** A bad --driver or Proxmox setting. */
export class DriverChoiceError extends UsageError {
  readonly code = "FARMHAND_DRIVER_CHOICE";
}

/** A file `init` or `new-image` would write is there already, or a name is no name. */
export class ScaffoldError extends UsageError {
  readonly code = "FARMHAND_SCAFFOLD";
}
