// Farm scripts: a module whose default export takes a Farm and builds on it. The CLI type-checks a
// script before running it, so a wiring mistake stops it before anything is created.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { AnyEndpoint } from "../contracts/index.ts";
import type { Farm } from "./farm.ts";

/** What a script may return: the endpoints worth showing (e.g. the front URL). */
export type ScriptResult = Readonly<Record<string, AnyEndpoint>> | void;
export type FarmScript = (farm: Farm) => Promise<ScriptResult>;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface CheckResult {
  readonly ok: boolean;
  /** tsc's messages, as it printed them. */
  readonly output: string;
}

/** Type-checks a script (and what it imports) with the project's compiler settings. */
export function checkScript(script: string): CheckResult {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-check-"));
  try {
    const config = path.join(dir, "tsconfig.json");
    writeFileSync(config, JSON.stringify({
      extends: path.join(root, "tsconfig.json"),
      compilerOptions: { noEmit: true, types: ["node"], typeRoots: [path.join(root, "node_modules/@types")] },
      files: [path.resolve(script)],
      include: [],
      exclude: [],
    }));
    const tsc = path.join(root, "node_modules/.bin/tsc");
    const run = spawnSync(tsc, ["-p", config, "--pretty", "false"], { encoding: "utf8", cwd: root });
    const output = `${run.stdout ?? ""}${run.stderr ?? ""}`.trim();
    return { ok: run.status === 0, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function loadScript(script: string): Promise<FarmScript> {
  const mod = (await import(pathToFileURL(path.resolve(script)).href)) as { default?: unknown };
  if (typeof mod.default !== "function") {
    throw new TypeError(`${script}: the default export must be a function (farm) => ... (found ${typeof mod.default})`);
  }
  return mod.default as FarmScript;
}

/** The farm a script makes is named after the folder it lives in, unless told otherwise. */
export function farmNameFor(script: string): string {
  return path.basename(path.dirname(path.resolve(script))).toLowerCase().replace(/[^a-z0-9-]/g, "-");
}
