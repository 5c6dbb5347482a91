// The type checker, run once over a farm script and whatever `farmhand check` adds to it (the check of
// its default export, the images' code and their agreement with their metadata), with the project's
// compiler settings.
//
// Cold, the compiler takes seconds (the service kit's types in the images' code most of them), so it
// keeps what it learnt, its incremental record, in one folder per user and checkout under the
// system's temporary directory, and the next check reads again only what changed, whichever script it
// is. Checks run at once (two `farmhand check` in two terminals, an `up` beside a `check`) share that
// folder without a lock and without waiting:
//
// - each check works in a folder of its own beside the record (`run-<pid>-<random>`): its
//   configuration, its generated sources and the record the compiler writes are nobody else's;
// - it starts from a copy of the shared record, and the record is only ever replaced by a rename of
//   a complete one, so a check reads either the previous record or the next, never half of one;
// - when it is done, its record (once it parses) is renamed over the shared one: the last check to
//   finish wins, and either record is a good start for the next.
//
// The compiler stores paths in its record relative to the record's folder, and every run folder is
// at the same depth beside it, so a record made in one run folder is valid in the next: a generated
// source keeps its name, and the compiler knows it again by its text's hash.

import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseDiagnostics, type Diagnostic } from "./diagnostics.ts";

export const farmhandRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface CompileOptions {
  /** Files to check (absolute or relative to the current directory), with what they import. */
  readonly files: readonly string[];
  /** Sources to check beside them: file name -> text. */
  readonly generated?: Readonly<Record<string, string>>;
  /** Start from the shared record and leave the new one for the next check (default true). */
  readonly cache?: boolean;
  /** The shared folder (default: one per user and farmhand checkout under the temporary directory). */
  readonly cacheDir?: string;
}

export interface Compilation {
  readonly ok: boolean;
  /** What tsc printed, paths relative to the farmhand folder. */
  readonly output: string;
  readonly diagnostics: readonly Diagnostic[];
  /** Where each generated source was while it was checked: name -> absolute path (gone afterwards). */
  readonly generatedPaths: Readonly<Record<string, string>>;
  /** Whether the check started from a shared record. */
  readonly warm: boolean;
}

/** The compiler's incremental record, in the shared folder and in each run folder. */
export const RECORD = "check.tsbuildinfo";
const RUN_PREFIX = "run-";
const RUN = /^run-(\d+)-[0-9a-f]+$/;

/** The default shared folder: per user (the temporary directory is shared) and per checkout (each has its own settings and sources). */
export function defaultCacheDir(): string {
  const user = typeof process.getuid === "function" ? String(process.getuid()) : os.userInfo().username;
  return path.join(os.tmpdir(), `farmhand-check-${user}`, createHash("sha256").update(farmhandRoot).digest("hex").slice(0, 16));
}

/**
 * The shared folder when it is safe to use: made if missing, and refused unless this user owns it
 * and nobody else may write there. Another user could otherwise plant a record telling the compiler
 * that a script it never read has no error.
 */
function sharedFolder(dir: string): string | null {
  const mine = (at: string, { sticky }: { readonly sticky: boolean }): boolean => {
    const stat = lstatSync(at);
    if (!stat.isDirectory()) return false;
    // A sticky folder (the temporary directory itself) lets nobody move what is ours inside it.
    if (sticky && (stat.mode & 0o1000) !== 0) return true;
    return (typeof process.getuid !== "function" || stat.uid === process.getuid()) && (stat.mode & 0o022) === 0;
  };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return mine(dir, { sticky: false }) && mine(path.dirname(dir), { sticky: true }) ? dir : null;
  } catch {
    return null;
  }
}

/** Whether a process is there (or might be: one of another user's answers EPERM). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Keeps the shared folder to the record and the run folders of checks still running: one of a check
 * that was killed goes, and so does anything else (what an older farmhand kept there).
 */
function removeAbandoned(shared: string): void {
  let names: string[];
  try {
    names = readdirSync(shared);
  } catch {
    return;
  }
  for (const name of names) {
    if (name === RECORD) continue;
    const owner = RUN.exec(name);
    if (owner === null || !alive(Number(owner[1]))) rmSync(path.join(shared, name), { recursive: true, force: true });
  }
}

/** A record the compiler finished writing: it parses, and says which compiler wrote it. */
function completeRecord(file: string): boolean {
  try {
    const record = JSON.parse(readFileSync(file, "utf8")) as { version?: unknown };
    return typeof record.version === "string";
  } catch {
    return false;
  }
}

export function compile(options: CompileOptions): Compilation {
  const files = options.files.map((f) => path.resolve(f));
  const shared = options.cache === false ? null : sharedFolder(options.cacheDir ?? defaultCacheDir());
  if (shared !== null) removeAbandoned(shared);
  // Beside the shared record (same depth, so the record's relative paths hold), or alone when there is none.
  const work = shared === null
    ? path.join(os.tmpdir(), `farmhand-check-${process.pid}-${randomBytes(6).toString("hex")}`)
    : path.join(shared, `${RUN_PREFIX}${process.pid}-${randomBytes(6).toString("hex")}`);
  mkdirSync(work, { mode: 0o700 });
  try {
    let warm = false;
    if (shared !== null) {
      try {
        // The shared record is replaced only by rename: this copy is one whole record.
        copyFileSync(path.join(shared, RECORD), path.join(work, RECORD));
        warm = true;
      } catch {}
    }
    const generatedPaths: Record<string, string> = {};
    writeFileSync(path.join(work, "package.json"), JSON.stringify({ type: "module" }));
    for (const [name, text] of Object.entries(options.generated ?? {})) {
      generatedPaths[name] = path.join(work, name);
      writeFileSync(generatedPaths[name], text);
    }
    const config = path.join(work, "tsconfig.json");
    writeFileSync(config, JSON.stringify({
      extends: path.join(farmhandRoot, "tsconfig.json"),
      compilerOptions: {
        noEmit: true,
        // Type roots are pinned: the folder has no node_modules of its own.
        types: ["node"],
        typeRoots: [path.join(farmhandRoot, "node_modules/@types")],
        ...(shared === null ? {} : { incremental: true, tsBuildInfoFile: path.join(work, RECORD) }),
      },
      files: [...files, ...Object.values(generatedPaths)],
      include: [],
      exclude: [],
    }));
    const tsc = path.join(farmhandRoot, "node_modules/.bin/tsc");
    const run = spawnSync(tsc, ["-p", config, "--pretty", "false"], { encoding: "utf8", cwd: farmhandRoot, maxBuffer: 64 << 20 });
    const output = `${run.stdout ?? ""}${run.stderr ?? ""}${run.error === undefined ? "" : String(run.error)}`.trim();
    // Only a compiler that ran to its end leaves a record worth keeping; the rename makes it whole at once.
    if (shared !== null && run.status !== null && completeRecord(path.join(work, RECORD))) {
      try {
        renameSync(path.join(work, RECORD), path.join(shared, RECORD));
      } catch {}
    }
    return { ok: run.status === 0, output, diagnostics: parseDiagnostics(output, farmhandRoot), generatedPaths, warm };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
