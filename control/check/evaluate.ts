// The second stage of `farmhand check`: the script run against a farm that only records
// (control/model/recorder.ts, the same combinators a deployment runs), told to report each wiring
// mistake and go on rather than stop at the first. It sees what the types cannot: an import too many
// or too few however the object was built, contracts at run time, an endpoint or VM handle the farm
// did not make (copied, merged, hand-built), an empty pool, a route prefix, a replica count, a group
// to autoscale, a balancer's name and policy, a combinator not awaited or called apart from the farm,
// what the script returns, a script that throws. Nothing is created: no driver, no process, no socket.

import { readFileSync } from "node:fs";
import path from "node:path";
import { describeValue, UnknownEndpointError, WiringError } from "../errors.ts";
import type { Farm } from "../farm/farm.ts";
import type { FarmModel } from "../model/farm-model.ts";
import { planFarm, type RecordingFarm } from "../model/recorder.ts";
import { farmNameFor, loadScript, type FarmScript } from "../farm/script.ts";
import { locationInStack, type Location, type Mistake } from "./mistakes.ts";

export interface EvaluateOptions {
  /** The farm's name (default: the script's folder's). */
  readonly name?: string;
  /** How long the script may take; it only records, so anything longer is waiting for what never comes. */
  readonly timeoutMs?: number;
}

export interface Evaluation {
  readonly mistakes: readonly Mistake[];
  /** What the script recorded (also when it failed half-way), or null when it could not be run. */
  readonly farm: RecordingFarm | null;
  /** The script could not be loaded (a syntax error, a missing module): the type checker says why better. */
  readonly loadFailed: boolean;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export async function evaluateScript(script: string, options: EvaluateOptions = {}): Promise<Evaluation> {
  const mistakes: Mistake[] = [];
  const exportLine = defaultExportLocation(script);
  let run: FarmScript;
  const limit = Error.stackTraceLimit;
  // The script's frame can be deep below a combinator (helpers, array callbacks, async steps).
  Error.stackTraceLimit = Math.max(limit, 50);
  try {
    try {
      run = await loadScript(script, { fresh: true });
    } catch (error) {
      const notAFunction = error instanceof TypeError && /the default export must be a function/.test(error.message);
      if (notAFunction) {
        mistakes.push({ ...exportLine, stage: "run", text: "the default export is not a function: a farm script's default export is an async function (farm: Farm) => ..." });
        return { mistakes, farm: null, loadFailed: false };
      }
      mistakes.push(fromThrown(error, script, "the script could not be loaded"));
      return { mistakes, farm: null, loadFailed: true };
    }

    // Wiring mistakes are said once the run is over, when the model knows each VM's role: their
    // subject reads best by role ("orders", not "orders-1", "orders-2", "orders-3").
    const wiring: { readonly at: number; readonly error: WiringError | UnknownEndpointError }[] = [];
    const farm = planFarm(options.name ?? farmNameFor(script), { onMistake: (error) => wiring.push({ at: mistakes.length, error }) });
    const watched = watchAwaits(farm);
    // A combinator called without await that fails, or a promise the script drops, rejects unheard.
    const unheard = (reason: unknown) => mistakes.push(fromThrown(reason, script, "a promise the script did not await failed"));
    process.on("unhandledRejection", unheard);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      const outcome = await Promise.race([
        Promise.resolve().then(() => run(watched.farm)).then((value) => ({ value }), (error: unknown) => ({ error })),
        new Promise<{ timedOut: true }>((resolve) => (timer = setTimeout(() => resolve({ timedOut: true }), timeoutMs))),
      ]);
      if ("timedOut" in outcome) {
        mistakes.push({ ...exportLine, stage: "run", text: `the script did not finish within ${timeoutMs / 1000} s against the plan: does it wait for something only a running farm does?` });
      } else if ("error" in outcome) {
        if (outcome.error instanceof WiringError || outcome.error instanceof UnknownEndpointError) wiring.push({ at: mistakes.length, error: outcome.error });
        else mistakes.push(fromThrown(outcome.error, script, "the script failed"));
      } else {
        mistakes.push(...resultMistakes(outcome.value, farm, exportLine));
      }
      // Let rejections of promises the script dropped arrive before listening stops.
      await new Promise((resolve) => setImmediate(resolve));
      // Only a script that ran to its end had the chance to await what it started.
      if ("value" in outcome) mistakes.push(...watched.unawaited());
    } finally {
      clearTimeout(timer);
      process.off("unhandledRejection", unheard);
    }
    // Each wiring mistake where it came among the others.
    for (const { at, error } of [...wiring].reverse()) mistakes.splice(at, 0, fromWiring(error, farm.model));
    return { mistakes, farm, loadFailed: false };
  } finally {
    Error.stackTraceLimit = limit;
  }
}

// ---- combinators the script did not await ------------------------------------------------------------

/** The combinators that return a promise; a deployment goes on as soon as the script returns. */
const ASYNC_COMBINATORS = new Set(["vm", "replicate", "balance", "route", "failover", "rewire", "teardown"]);

/**
 * A combinator's promise that knows whether anything waited for it: `await`, Promise.all, `.then`
 * and a return from an async function all call its `then`. What it derives is a plain Promise.
 */
class WatchedPromise<T> extends Promise<T> {
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  observed = false;

  override then<A = T, B = never>(onFulfilled?: ((value: T) => A | PromiseLike<A>) | null, onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    this.observed = true;
    return super.then(onFulfilled, onRejected);
  }
}

/**
 * The farm as the script gets it: the same combinators, each promise watched. A combinator called
 * without an await (`farm.vm(...)` on a line of its own) records its node at once, so the plan looks
 * whole; in a deployment the script would return before the VM is made, and a failure would reach
 * nobody. One that failed unheard is reported as such already (an unhandled rejection).
 */
function watchAwaits(farm: RecordingFarm): { readonly farm: Farm; readonly unawaited: () => Mistake[] } {
  const calls: { readonly combinator: string; readonly site: Error; readonly promise: WatchedPromise<unknown>; failed: boolean }[] = [];
  const watchedFarm: RecordingFarm = new Proxy(farm, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const combinator = String(property);
      // Called on the farm, a method runs on the recorder itself (its private fields are reached
      // through `this`). Called apart (`const { vm } = farm`) it would fail in a deployment: said so.
      const own = function (this: unknown, args: unknown[]): unknown {
        if (this !== watchedFarm && this !== target) {
          throw new TypeError(`farm.${combinator} was called apart from the farm (taken out of it, as by \`const { ${combinator} } = farm\`): call it as farm.${combinator}(...)`);
        }
        return value.apply(target, args);
      };
      if (!ASYNC_COMBINATORS.has(combinator)) return function (this: unknown, ...args: unknown[]) { return own.call(this, args); };
      return function (this: unknown, ...args: unknown[]) {
        const site = new Error(`farm.${combinator}`);
        const call = { combinator, site, promise: null as unknown as WatchedPromise<unknown>, failed: false };
        let made: Promise<unknown>;
        try {
          made = Promise.resolve(own.call(this, args));
        } catch (error) {
          made = Promise.reject(error);
        }
        call.promise = new WatchedPromise((resolve, reject) => made.then(resolve, (error: unknown) => {
          call.failed = true;
          reject(error);
        }));
        calls.push(call);
        return call.promise;
      };
    },
  });
  const unawaited = (): Mistake[] => calls.filter((c) => !c.promise.observed && !c.failed).map((c) => ({
    ...(locationInStack(c.site.stack) ?? { file: null, line: 0, column: 0 }),
    stage: "run" as const,
    text: `farm.${c.combinator}(...) is not awaited: an await is missing (a deployment would go on before it is done, and not hear if it failed)`,
  }));
  return { farm: watchedFarm, unawaited };
}

// ---- mistakes from errors -------------------------------------------------------------------------

/** A VM node's role name, the subject a reader knows; other subjects as they are. */
function subjectOf(node: string, model: FarmModel): string {
  const found = model.node(node);
  return found !== undefined && found.kind === "vm" ? found.role.name : node;
}

/** `orders: import payments wants payments@1, got inventory@1`, at the script's line that asked. */
function fromWiring(error: WiringError | UnknownEndpointError, model: FarmModel): Mistake {
  const at = locationInStack(error.stack) ?? { file: null, line: 0, column: 0 };
  if (error instanceof WiringError) {
    const got = error.got === undefined ? "" : `, got ${describeValue(error.got)}`;
    return { ...at, stage: "run", code: error.code, text: `${subjectOf(error.node, model)}: ${error.field} ${error.problem}${got}` };
  }
  // where: "orders-1: import payments"; message: "<where>: endpoint ... was not made by this farm".
  const [node, ...field] = error.where.split(": ");
  const what = error.message.slice(error.where.length + 2);
  return { ...at, stage: "run", code: error.code, text: `${subjectOf(node, model)}: ${[...field, what].join(": ")} (a copy, built by hand, or from another farm)` };
}

/** A thrown error (or a rejection's reason) as a mistake, where the script was when it was thrown. */
function fromThrown(error: unknown, script: string, what: string): Mistake {
  const err = error instanceof Error ? error : new Error(describeValue(error));
  const at = locationInStack(err.stack) ?? { file: script, line: 1, column: 1 };
  const code = (err as { code?: unknown }).code;
  return { ...at, stage: "run", code: typeof code === "string" ? code : undefined, text: `${what}: ${err.message.split("\n")[0]}` };
}

// ---- what the script returns ------------------------------------------------------------------------

/**
 * What a script returns is shown after a deployment (the front URL): nothing, or an object of
 * endpoints this farm made.
 */
function resultMistakes(value: unknown, farm: RecordingFarm, at: Location): Mistake[] {
  if (value === undefined || value === null) return [];
  const whole = typeof value !== "object" || Array.isArray(value) || farm.refOf(value as never) !== undefined ||
    farm.vmNameOf(value) !== undefined || isThenable(value);
  if (whole) {
    return [{ ...at, stage: "run", text: `the script returns ${whatIs(value, farm)}: a farm script returns nothing, or an object of endpoints to show ({ site: web.site })` }];
  }
  const mistakes: Mistake[] = [];
  for (const [key, e] of Object.entries(value)) {
    if (farm.refOf(e as never) !== undefined) continue;
    mistakes.push({ ...at, stage: "run", text: `the script returns ${key}: ${whatIs(e, farm)}; it returns endpoints to show` });
  }
  return mistakes;
}

function isThenable(value: unknown): boolean {
  return (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/** A value the script returned, as a reader knows it. */
function whatIs(value: unknown, farm: RecordingFarm): string {
  if (isThenable(value)) return "a Promise (an await is missing)";
  if (Array.isArray(value)) return "a list";
  const ref = farm.refOf(value as never);
  if (ref !== undefined) return `one endpoint (${(value as { label: string }).label}), not an object of them`;
  const vm = farm.vmNameOf(value);
  if (vm !== undefined) return `the VM ${vm} (return one of its endpoints, e.g. vm.api)`;
  if (typeof value === "object" && value !== null && typeof (value as { url?: unknown }).url === "string") return "an endpoint this farm did not make (built by hand or copied)";
  if (typeof value === "string") return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)})`;
  const said = describeValue(value);
  return said.length > 60 ? `${said.slice(0, 57)}...` : said;
}

// ---- where the default export is ---------------------------------------------------------------------

/** The line of the script's `export default`, where mistakes about the script as a whole are reported. */
export function defaultExportLocation(script: string): Location {
  const file = path.resolve(script);
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return { file, line: 1, column: 1 };
  }
  const lines = text.split(/\r?\n/);
  const i = lines.findIndex((l) => /^\s*export\s+default\b/.test(l));
  if (i >= 0) return { file, line: i + 1, column: lines[i].search(/\S/) + 1 };
  const j = lines.findIndex((l) => /\bexport\s*\{[^}]*\bdefault\b/.test(l));
  return j >= 0 ? { file, line: j + 1, column: lines[j].search(/\S/) + 1 } : { file, line: 1, column: 1 };
}
