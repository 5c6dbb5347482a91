// Every error the simulator raises on purpose: one class per stable `code`. Errors about what a user
// gave (a flag, a trace file, a schedule file) name where it came from and the value.

import { FarmError } from "../errors.ts";

/** A command-line value the simulator cannot use: `flag` and the `value` given, and what was expected. */
export class SimFlagError extends FarmError {
  readonly code = "FARMHAND_SIM_FLAG";
  readonly flag: string;
  readonly value: string;
  constructor(flag: string, value: string, expected: string) {
    super(`${flag}: expected ${expected} (got ${JSON.stringify(value)})`);
    this.name = "SimFlagError";
    this.flag = flag;
    this.value = value;
  }
}

/** A line of a demand trace that is not "seconds,requests per second": the file, its line number and text. */
export class TraceFormatError extends FarmError {
  readonly code = "FARMHAND_SIM_TRACE";
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, text: string, problem: string) {
    super(`${file}:${line}: ${problem} (got ${JSON.stringify(text)})`);
    this.name = "TraceFormatError";
    this.file = file;
    this.line = line;
  }
}

/** A schedule file (what `verify` writes, `simulate --replay` reads) that is not one: the file, the field and its value. */
export class ScheduleFormatError extends FarmError {
  readonly code = "FARMHAND_SIM_SCHEDULE";
  readonly file: string;
  readonly field: string;
  constructor(file: string, field: string, problem: string, value: unknown) {
    super(`${file}: ${field}: ${problem}${value === undefined ? "" : ` (got ${JSON.stringify(value)})`}`);
    this.name = "ScheduleFormatError";
    this.file = file;
    this.field = field;
  }
}

/** A failure (`--fail` or a schedule's) names a VM that the farm never had while the simulation ran. */
export class FaultTargetError extends FarmError {
  readonly code = "FARMHAND_SIM_FAULT_TARGET";
  readonly vm: string;
  constructor(where: string, vm: string, known: readonly string[]) {
    super(`${where}: the farm had no VM named ${JSON.stringify(vm)} at any time (it had ${known.length === 0 ? "none" : known.join(", ")})`);
    this.name = "FaultTargetError";
    this.vm = vm;
  }
}

/**
 * The simulation cannot go on: something waits (the script, a teardown) while nothing is due to
 * happen in virtual time, so it would wait for ever.
 */
export class SimulationStalledError extends FarmError {
  readonly code = "FARMHAND_SIM_STALLED";
  readonly at: number;
  constructor(what: string, at: number) {
    super(`simulation: ${what} is still waiting at ${at} ms of virtual time, and nothing is due to happen`);
    this.name = "SimulationStalledError";
    this.at = at;
  }
}

/** A receive on a kernel channel that was closed and is empty. */
export class ChannelClosedError extends FarmError {
  readonly code = "FARMHAND_SIM_CHANNEL_CLOSED";
  readonly channel: string;
  constructor(channel: string) {
    super(`channel ${channel} is closed`);
    this.name = "ChannelClosedError";
    this.channel = channel;
  }
}

/** A replayed schedule does not fit the run: a failure's VM is not running at its step. */
export class ReplayMismatchError extends FarmError {
  readonly code = "FARMHAND_SIM_REPLAY";
  readonly file: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}: the schedule was made for another script, seed or farmhand`);
    this.name = "ReplayMismatchError";
    this.file = file;
  }
}
