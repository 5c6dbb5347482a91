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

/** An endpoint handed to a combinator is not one this farm knows (it did not come from this farm). */
export class UnknownEndpointError extends FarmError {
  readonly code = "FARMHAND_UNKNOWN_ENDPOINT";
  constructor(url: string) {
    super(`endpoint ${url} was not made by this farm`);
    this.name = "UnknownEndpointError";
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
