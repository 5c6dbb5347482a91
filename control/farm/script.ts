// Farm scripts: a module whose default export takes a Farm and builds on it. The CLI checks a script
// before running it (control/check/), so a wiring mistake stops it before anything is created.

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { AnyEndpoint } from "../contracts/index.ts";
import type { Farm } from "./farm.ts";
import type { IsAny } from "./refuse.ts";

/** What a script may return: the endpoints worth showing (e.g. the front URL). */
export type ScriptResult = Readonly<Record<string, AnyEndpoint>> | void;
/** A farm script's default export: an async function of the farm. */
export type FarmScript = (farm: Farm) => Promise<ScriptResult>;

/**
 * The default export as `farmhand check` holds it: a FarmScript that takes its farm, typed. With the
 * farm typed `any`, nothing the script does with it would be checked; a script that takes no farm
 * builds on none (or on a farm of its own, which a check must not run).
 */
export type CheckedScript<S> =
  IsAny<S> extends true ? "farmhand: the default export is typed any, so it is not checked; a farm script's default export is an async function (farm: Farm) => ..."
  : S extends (...args: infer A) => unknown
    ? A extends [] ? "farmhand: the default export takes no farm; a farm script builds on the farm it is given: (farm: Farm) => ..."
      : IsAny<A[0]> extends true ? "farmhand: the default export takes its farm typed any, so nothing the script does with it is checked: (farm: Farm) => ..."
      : FarmScript
    : FarmScript;

let instances = 0;

/**
 * Imports a script and returns its default export. `fresh` imports a new instance of the script's own
 * module (what it imports is shared), so that checking a script leaves the instance a deployment runs
 * as it was.
 */
export async function loadScript(script: string, options: { readonly fresh?: boolean } = {}): Promise<FarmScript> {
  const url = pathToFileURL(path.resolve(script));
  if (options.fresh === true) url.searchParams.set("farmhand-check", String(++instances));
  const mod = (await import(url.href)) as { default?: unknown };
  if (typeof mod.default !== "function") {
    throw new TypeError(`${script}: the default export must be a function (farm) => ... (found ${typeof mod.default})`);
  }
  return mod.default as FarmScript;
}

/** The farm a script makes is named after the folder it lives in, unless told otherwise. */
export function farmNameFor(script: string): string {
  return path.basename(path.dirname(path.resolve(script))).toLowerCase().replace(/[^a-z0-9-]/g, "-");
}

/**
 * How Node and the compiler read a script: as an ES module when its name says so (.mts, .mjs) or the
 * nearest package.json has "type": "module", otherwise as CommonJS, which a farm script cannot be.
 */
export function moduleFormatOf(script: string): { readonly format: "module" | "commonjs"; readonly packageJson: string | null } {
  const file = path.resolve(script);
  if (/\.m[tj]s$/.test(file)) return { format: "module", packageJson: null };
  if (/\.c[tj]s$/.test(file)) return { format: "commonjs", packageJson: null };
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "package.json");
    if (existsSync(candidate)) {
      let type: unknown;
      try {
        type = (JSON.parse(readFileSync(candidate, "utf8")) as { type?: unknown }).type;
      } catch {
        type = undefined;
      }
      return { format: type === "module" ? "module" : "commonjs", packageJson: candidate };
    }
    if (path.dirname(dir) === dir) return { format: "commonjs", packageJson: null };
  }
}
