// Every error the control plane raises on purpose: one class per stable `code`.

export abstract class FarmError extends Error {
  abstract readonly code: string;
}

/** A VM's image does not serve what its role's metadata promises (the runtime guard). */
export class GuardMismatchError extends FarmError {
  readonly code = "FARMHAND_GUARD_MISMATCH";
  readonly vm: string;
  readonly expected: Readonly<Record<string, string>>;
  readonly actual: unknown;
  constructor(vm: string, expected: Readonly<Record<string, string>>, actual: unknown) {
    super(`VM ${vm}: its image claims to provide ${JSON.stringify(expected)} but /.well-known/farmhand says ${JSON.stringify(actual)}`);
    this.name = "GuardMismatchError";
    this.vm = vm;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A VM could not be created or started; nothing of it is left behind. */
export class VmStartError extends FarmError {
  readonly code = "FARMHAND_VM_START_FAILED";
  readonly vm: string;
  constructor(vm: string, cause: unknown) {
    super(`VM ${vm}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "VmStartError";
    this.vm = vm;
  }
}

/** A balancer VM refused or failed a reconfiguration. */
export class BalancerCallError extends FarmError {
  readonly code = "FARMHAND_BALANCER_CALL_FAILED";
  readonly balancer: string;
  constructor(balancer: string, what: string, detail: string) {
    super(`balancer ${balancer}: ${what}: ${detail}`);
    this.name = "BalancerCallError";
    this.balancer = balancer;
  }
}

/**
 * An endpoint or VM handle given to a combinator is not one this farm made: built by hand, copied,
 * or taken from another farm. `where` says which argument it was.
 */
export class UnknownEndpointError extends FarmError {
  readonly code = "FARMHAND_UNKNOWN_ENDPOINT";
  readonly where: string;
  constructor(what: string, where = "") {
    super(`${where === "" ? "" : `${where}: `}${what.startsWith("VM handle") ? what : `endpoint ${what}`} was not made by this farm`);
    this.name = "UnknownEndpointError";
    this.where = where;
  }
}

/**
 * Wiring that the types should have refused, found when the script runs (before anything is made):
 * an import missing, extra or of another contract, a balancer over two contracts, an empty pool, a
 * route prefix that is not a path. `node` is the VM or combinator, `field` the import or argument.
 */
export class WiringError extends FarmError {
  readonly code = "FARMHAND_WIRING";
  readonly node: string;
  readonly field: string;
  /** What is wrong with it ("wants payments@1"). */
  readonly problem: string;
  readonly got: unknown;
  constructor(node: string, field: string, problem: string, got: unknown) {
    super(`${node}: ${field}: ${problem}${got === undefined ? "" : ` (got ${describeValue(got)})`}`);
    this.name = "WiringError";
    this.node = node;
    this.field = field;
    this.problem = problem;
    this.got = got;
  }
}

/** A farm script threw while it ran; what it had made is removed again. */
export class ScriptFailedError extends FarmError {
  readonly code = "FARMHAND_SCRIPT_FAILED";
  readonly script: string;
  constructor(script: string, cause: unknown) {
    super(`${script} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "ScriptFailedError";
    this.script = script;
  }
}

/** A value as an error message shows it: a string as is, anything else as JSON. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A driver was asked to change a VM that must be stopped first. */
export class VmRunningError extends FarmError {
  readonly code = "FARMHAND_VM_RUNNING";
  constructor(driver: string, vm: string, id: string, state: string) {
    super(`${driver} driver: VM ${vm} (${id}) is ${state}; stop it before changing its imports`);
    this.name = "VmRunningError";
  }
}

/** An image's metadata (its farmhand.json) is missing, malformed, or disagrees with another image's. */
export class MetadataError extends FarmError {
  readonly code = "FARMHAND_METADATA_INVALID";
  constructor(message: string) {
    super(message);
    this.name = "MetadataError";
  }
}

/** The local driver could not start a VM: the VM exited first or did not answer in time. `output` is its output tail. */
export class LocalVmStartError extends FarmError {
  readonly code = "FARMHAND_LOCAL_VM_START_FAILED";
  readonly id: string;
  readonly vm: string;
  readonly output: string;
  constructor(message: string, id: string, vm: string, output: string) {
    super(message);
    this.name = "LocalVmStartError";
    this.id = id;
    this.vm = vm;
    this.output = output;
  }
}

/**
 * The local driver's record of a VM (`<state dir>/<id>.json`) cannot be used: unreadable, not JSON,
 * not shaped as a record, or naming another VM. Such a VM can only be destroyed.
 */
export class LocalVmDamagedError extends FarmError {
  readonly code = "FARMHAND_LOCAL_VM_DAMAGED";
  readonly id: string;
  readonly file: string;
  /** Why the record cannot be used. */
  readonly problem: string;
  constructor(id: string, file: string, problem: string) {
    super(`local driver: the record of VM ${id} is damaged: ${file} ${problem}; only destroying it (farmhand down) is possible`);
    this.name = "LocalVmDamagedError";
    this.id = id;
    this.file = file;
    this.problem = problem;
  }
}

/**
 * The local driver could not wholly remove a VM. `problems` names each process that would not end
 * and each file it could not remove, with why; what is left stays recorded, so a later destroy retries.
 */
export class LocalVmCleanupError extends FarmError {
  readonly code = "FARMHAND_LOCAL_VM_CLEANUP_FAILED";
  readonly id: string;
  readonly problems: readonly string[];
  constructor(id: string, vm: string, problems: readonly string[]) {
    super(`local driver: VM ${vm} (${id}) is not wholly removed: ${problems.join("; ")}`);
    this.name = "LocalVmCleanupError";
    this.id = id;
    this.problems = problems;
  }
}
