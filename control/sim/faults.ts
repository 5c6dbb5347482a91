// Failures a simulation injects. A VM is named as the event log and `status` name it ("orders-2");
// a failure happens at a virtual time (`--fail orders-2@30m`) or between two turns of the kernel (what
// `verify` places, and a schedule file replays). Three kinds, as the hypervisor can see them or not:
//   crash  the VM stops unasked; its hypervisor sees it (the driver reports vm-failed)
//   hang   its service stops answering while the VM runs on (only probes notice)
//   dies   its service exits while the VM runs on (only probes notice; connections are refused)

import { parseDuration } from "./durations.ts";
import { SimFlagError } from "./errors.ts";

export type FaultKind = "crash" | "hang" | "dies";
export const FAULT_KINDS: readonly FaultKind[] = ["crash", "hang", "dies"];

export type Fault =
  | { readonly vm: string; readonly kind: FaultKind; readonly at: number }
  | { readonly vm: string; readonly kind: FaultKind; readonly turn: number };

const VM_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** `--fail VM@TIME[:KIND]`: "orders-2@30m", "payments-1@90s:hang". */
export function parseFaultFlag(text: string, flag = "--fail"): Fault {
  const m = /^([^@]+)@([^:]+)(?::(.+))?$/.exec(text.trim());
  const expected = `VM@TIME or VM@TIME:KIND (e.g. orders-2@30m, payments-1@90s:hang; KIND is ${FAULT_KINDS.join(", ")})`;
  if (m === null) throw new SimFlagError(flag, text, expected);
  const [, vm, time, kind = "crash"] = m;
  if (!VM_NAME.test(vm)) throw new SimFlagError(flag, text, `a VM name as the event log shows it (lower-case letters, digits and "-"), in ${expected}`);
  const at = parseDuration(time);
  if (at === null) throw new SimFlagError(flag, text, `a time such as 30m, 90s, 1h30m or 1500ms after "@", in ${expected}`);
  if (!FAULT_KINDS.includes(kind as FaultKind)) throw new SimFlagError(flag, text, `a kind of failure after ":" (${FAULT_KINDS.join(", ")})`);
  return { vm, kind: kind as FaultKind, at };
}

export function describeFault(f: Fault): string {
  return `${f.vm} ${f.kind === "crash" ? "crashes" : f.kind === "hang" ? "hangs" : "dies inside"}`;
}
