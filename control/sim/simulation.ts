// One simulated run of a farm script: the script, unchanged, against the combinators and reconciler
// every real farm has, on a simulated world; then the farm left to run for the rest of the duration,
// with its demand and the failures asked for; then torn down. Between every two turns of the kernel
// the invariants are checked (invariants.ts), and whoever watches the run (the explorer) may look at
// its state, stop it, or tear the farm down there.
//
// The order of a run: the script (its calls are the farm's first steps), the rest of the duration,
// the farm's topology as `status` would show it, teardown, and everything still under way settled,
// so that what teardown left (or what a heal in flight made after it) is seen.

import type { FarmEvent } from "../farm/farm.ts";
import type { FarmScript } from "../farm/script.ts";
import { FarmModel } from "../model/farm-model.ts";
import { RecordingFarm } from "../model/recorder.ts";
import { observeFarm, type FarmStatus } from "../reconcile/observe.ts";
import { Reconciler, type ReconcilerOptions } from "../reconcile/reconciler.ts";
import { DemandTrace, simDemandSource } from "./demand.ts";
import { SimulationStalledError } from "./errors.ts";
import type { LogEntry } from "./event-log.ts";
import type { Fault } from "./faults.ts";
import { describeState, fingerprint, stepKey } from "./fingerprint.ts";
import { InvariantChecker, type Violation } from "./invariants.ts";
import { simWorld, type SimWorld } from "./ports.ts";

export interface SimulationOptions {
  /** The farm's name (its VMs' farm label). */
  readonly farm: string;
  readonly seed?: number;
  /** Virtual time the run lasts from its start (longer when the script takes longer). */
  readonly durationMs: number;
  /** Requests per second reaching every balancer over time; none when absent. */
  readonly demand?: DemandTrace | null;
  readonly faults?: readonly Fault[];
  /** How long an invariant may stay broken after a failure. Default 30 s. */
  readonly boundMs?: number;
  readonly reconciler?: ReconcilerOptions;
  /** A VM's boot and stop; a boot varies by +-jitter. Default 1 000 ms, 200 ms, 0.1. */
  readonly bootMs?: number;
  readonly stopMs?: number;
  readonly jitter?: number;
  /** Tear the farm down between this turn and the next (a schedule's teardown), instead of at the end. */
  readonly teardownAtTurn?: number;
  /** Check the invariants between turns. Default true. */
  readonly check?: boolean;
  /** Between turns, after the checks and before this turn's failures: "stop" ends the run there, "teardown" tears the farm down there. */
  readonly observe?: (run: RunView) => "stop" | "teardown" | void;
}

/** What the explorer sees of a run between two turns. */
export interface RunView {
  readonly turn: number;
  readonly now: number;
  /** The script has finished. */
  readonly scripted: boolean;
  /** The digest of the state now (fingerprint.ts). */
  fingerprint(): string;
  /** The state now, as text. */
  describe(): string;
  /** The state now with time left out, line by line (fingerprint.ts): it changes at the run's steps. */
  stepKey(): readonly string[];
  /** Names of the farm's VMs that run now: what can crash. */
  running(): string[];
  readonly violations: readonly Violation[];
}

export interface SimulationResult {
  readonly log: readonly LogEntry[];
  /** The farm as `status` shows it at the end of the duration (null when the run was stopped before). */
  readonly topology: FarmStatus | null;
  readonly violations: readonly Violation[];
  readonly scriptError: unknown;
  /** The run was stopped by its observer before its end. */
  readonly stopped: boolean;
  readonly turns: number;
  readonly endedAt: number;
  /** Names of every VM the farm had at some time. */
  readonly vmNames: readonly string[];
  /** Processes of the simulation that failed (a bug of the simulator or the reconciler, not of the farm). */
  readonly crashedProcesses: readonly { readonly name: string; readonly error: string }[];
}

/** How much longer than the duration a script may take before it is given up (as still running). */
const SCRIPT_GRACE_MS = 7 * 24 * 3600_000;
/** How long teardown and what is still under way after it may take, in virtual time. */
const SETTLE_MS = 10 * 60_000;
const ZERO = new DemandTrace([{ at: 0, rps: 0 }]);

export async function runSimulation(script: FarmScript, options: SimulationOptions): Promise<SimulationResult> {
  const run = new SimulatedRun(options);
  // An error nobody handles would end a real controller: here it is a violation, and the run goes on.
  process.on("unhandledRejection", run.unhandled);
  try {
    return await run.play(script);
  } finally {
    process.off("unhandledRejection", run.unhandled);
  }
}

/** One run's world, farm, checks and log, and the order of its phases. */
class SimulatedRun {
  readonly #o: SimulationOptions;
  readonly #world: SimWorld;
  readonly #model: FarmModel;
  readonly #reconciler: Reconciler;
  readonly #farm: RecordingFarm;
  readonly #checker: InvariantChecker;
  readonly #demand: DemandTrace | null;
  readonly #log: LogEntry[] = [];
  readonly #violations: Violation[] = [];
  /** Every VM name the farm had, for a failure that names one it never had. */
  readonly #names = new Set<string>();
  readonly #byTurn = new Map<number, Fault[]>();
  #scripted = false;
  #halt: "stop" | "teardown" | null = null;
  /** The run's duration is over: no failure is injected any more. */
  #over = false;

  constructor(o: SimulationOptions) {
    this.#o = o;
    const demand = (this.#demand = o.demand ?? null);
    this.#world = simWorld(o.farm, {
      seed: o.seed ?? 0,
      driver: { bootMs: o.bootMs ?? 1_000, stopMs: o.stopMs ?? 200, jitter: o.jitter ?? 0.1 },
      balancers: { demand: (_balancer, t) => demand?.rpsAt(t) ?? 0 },
      metrics: (kernel) => simDemandSource(kernel, () => demand ?? ZERO),
    });
    const { kernel, driver, balancers } = this.#world;
    this.#model = new FarmModel(o.farm);
    this.#reconciler = new Reconciler(this.#model, this.#world.ports, o.reconciler ?? {});
    this.#farm = new RecordingFarm(this.#model, this.#reconciler);
    this.#reconciler.watch();
    this.#checker = new InvariantChecker({ farm: o.farm, driver, balancers, model: this.#model, reconciler: this.#reconciler, boundMs: o.boundMs ?? 30_000 });
    this.#farm.on((event: FarmEvent) => {
      this.#log.push({ kind: "event", at: kernel.now(), event });
      if (o.check === false) return;
      this.#checker.noteEvent(event);
      this.#violated(this.#checker.autoscaled(event, kernel.now()));
    });
    for (const f of o.faults ?? []) {
      if ("turn" in f) this.#byTurn.set(f.turn, [...(this.#byTurn.get(f.turn) ?? []), f]);
      // A failure yet to come is nothing under way (a background wait): one due after the run's end
      // neither keeps its teardown from settling nor strikes what teardown left.
      else kernel.spawn(`fault ${f.vm}@${f.at}`, async () => {
        await kernel.sleep(f.at - kernel.now(), undefined, true);
        if (!this.#over) this.#inject(f);
      });
    }
    kernel.onTurn((turn) => this.#between(turn));
  }

  readonly unhandled = (reason: unknown): void => {
    const text = reason instanceof Error ? (reason.stack ?? reason.message).split("\n").slice(0, 3).join(" / ") : String(reason);
    this.#violated([{ invariant: "controller", at: this.#world.kernel.now(), subject: "unhandled error", message: `the controller failed with an error nobody handles: ${text}` }]);
  };

  async play(script: FarmScript): Promise<SimulationResult> {
    const { kernel, driver } = this.#world;
    const o = this.#o;
    // The script: the farm's first steps. Its failure is its own (a combinator refused, or could not
    // make a VM), not the simulator's; a script that takes longer than the duration is let finish.
    let scriptError: unknown = null;
    const run = kernel.spawn("farm script", async () => {
      try {
        await script(this.#farm);
      } catch (error) {
        scriptError = error ?? new Error("the script threw nothing");
      }
    });
    const ran = await kernel.runWhile(() => run.state === "running" && this.#halt === null, o.durationMs + SCRIPT_GRACE_MS);
    if (run.state === "running" && this.#halt === null && ran === "idle") throw new SimulationStalledError("the farm script", kernel.now());
    this.#scripted = run.state !== "running";
    if (scriptError !== null) this.#log.push({ kind: "script", at: kernel.now(), outcome: "failed", error: (scriptError as Error)?.message ?? String(scriptError) });
    else if (this.#scripted) this.#log.push({ kind: "script", at: kernel.now(), outcome: "done" });

    // The rest of the duration: the farm on its own, with its demand and failures.
    if (this.#halt === null && scriptError === null) await kernel.runWhile(() => this.#halt === null, o.durationMs);
    if (!this.#scripted && this.#halt === null) this.#log.push({ kind: "script", at: kernel.now(), outcome: "still running" });
    this.#noteNames();

    this.#over = true;
    let topology: FarmStatus | null = null;
    if (this.#halt !== "stop") {
      if (this.#halt === null) topology = await kernel.runUntil(observeFarm(o.farm, this.#world.ports), "the farm's status");
      await this.#tearDown();
    }
    return {
      log: this.#log,
      topology,
      violations: this.#violations,
      scriptError,
      stopped: this.#halt === "stop",
      turns: kernel.turn,
      endedAt: kernel.now(),
      vmNames: [...this.#names].sort(),
      crashedProcesses: kernel.failedTasks.map((t) => ({ name: t.name, error: (t.error as Error)?.stack ?? String(t.error) })),
    };
  }

  /** Between two turns: the checks, the observer's look, this turn's failures. */
  #between(turn: number): boolean {
    if (this.#halt !== null) return false;
    const kernel = this.#world.kernel;
    if (this.#o.check !== false) this.#violated(this.#checker.check(kernel.now()));
    const verdict = turn === this.#o.teardownAtTurn ? "teardown" : this.#o.observe?.(this.#view);
    if (verdict === "stop" || verdict === "teardown") {
      this.#halt = verdict;
      return false;
    }
    const due = this.#byTurn.get(turn);
    if (due === undefined || this.#over) return false;
    for (const f of due) this.#inject(f);
    return true;
  }

  #inject(f: Fault): void {
    const { kernel, driver } = this.#world;
    this.#noteNames();
    const vms = driver.named(this.#o.farm, f.vm);
    const target = vms.find((vm) => vm.state === "running");
    this.#log.push({ kind: "fault", at: kernel.now(), turn: kernel.turn, vm: f.vm, fault: f.kind, outcome: target !== undefined ? "injected" : vms.length === 0 ? "no such VM" : "not running" });
    if (target === undefined) return;
    if (f.kind === "crash") driver.crash(target.id);
    else driver.setGuest(target.id, f.kind === "hang" ? "hung" : "dead");
  }

  /** Teardown, then everything still under way settled, then what is left. */
  async #tearDown(): Promise<void> {
    const kernel = this.#world.kernel;
    let failure: unknown = null;
    let done = false;
    const teardown = this.#farm.teardown().catch((error: unknown) => {
      failure = error;
    }).finally(() => (done = true));
    await kernel.runWhile(() => !done, kernel.now() + SETTLE_MS);
    await teardown;
    await kernel.runWhile(() => !kernel.settled, kernel.now() + SETTLE_MS);
    const left = this.#checker.leftovers(kernel.now());
    this.#log.push({ kind: "teardown", at: kernel.now(), left: left.map((v) => v.subject), ...(failure === null ? {} : { error: (failure as Error).message }) });
    if (this.#o.check !== false) this.#violated(left);
  }

  #violated(found: readonly Violation[]): void {
    for (const v of found) {
      this.#violations.push(v);
      this.#log.push({ kind: "violation", at: v.at, violation: v });
    }
  }

  #noteNames(): void {
    for (const vm of this.#world.driver.vms()) if (vm.spec.labels.farm === this.#o.farm) this.#names.add(vm.spec.labels.vm);
  }

  /** What the explorer sees between turns. */
  readonly #view: RunView = ((run: SimulatedRun) => {
    const parts = () => ({
      farm: run.#o.farm, kernel: run.#world.kernel, driver: run.#world.driver, balancers: run.#world.balancers,
      model: run.#model, reconciler: run.#reconciler, checker: run.#checker, demand: run.#demand ?? ZERO,
    });
    return {
      get turn() { return run.#world.kernel.turn; },
      get now() { return run.#world.kernel.now(); },
      get scripted() { return run.#scripted; },
      fingerprint: () => fingerprint(parts()),
      describe: () => describeState(parts()),
      stepKey: () => stepKey(parts()),
      running: () => [...run.#world.driver.vms()].filter((vm) => vm.spec.labels.farm === run.#o.farm && vm.state === "running").map((vm) => vm.spec.labels.vm),
      get violations() { return run.#violations; },
    };
  })(this);
}
