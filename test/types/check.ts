// Type-checks the wiring corpus. pass/ must compile with no error at all. In fail/, every file marks
// each line that must not compile with a comment on the line before it:
//
//   // @expect TS2322            (or several codes: // @expect TS2322 TS2322)
//   await farm.vm(WebFrontend, { orders: pay.api });
//
// and the file must report exactly those errors: each marked code on the line after its marker, and no
// other error anywhere in the file. A fail file without a marker is itself a mistake.
//
//   node test/types/check.ts            checks both corpora, prints a report, exits 1 on a mismatch
//   node test/types/check.ts DIR        checks DIR as a fail corpus

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseDiagnostics as parseTscOutput, type Diagnostic } from "../../control/check/diagnostics.ts";

export type { Diagnostic };

export const typesDir = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(typesDir, "../..");
export const passDir = path.join(typesDir, "pass");
export const failDir = path.join(typesDir, "fail");
const fixtures = path.join(typesDir, "fixtures.ts");
const baseConfig = path.join(typesDir, "tsconfig.json");
const tscBin = path.join(root, "node_modules/typescript/bin/tsc");

export interface FileReport {
  /** Path relative to the repository root. */
  readonly file: string;
  readonly ok: boolean;
  /** One line per problem, "file:line: ...". */
  readonly problems: readonly string[];
}

export interface CorpusReport {
  readonly dir: string;
  readonly ok: boolean;
  readonly files: readonly FileReport[];
  /** Problems outside the corpus files: errors in the fixtures or elsewhere, tsc failing to run. */
  readonly global: readonly string[];
}

const rel = (file: string): string => (file === "" ? "(no file)" : path.relative(root, file));

/** The .ts files of a corpus directory, sorted. */
export function corpusFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".ts"))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Runs tsc over the fixtures and `dir`; returns its diagnostics. */
export function typecheck(dir: string): { diagnostics: Diagnostic[]; output: string; status: number | null } {
  let project = baseConfig;
  let tmp: string | null = null;
  if (path.resolve(dir) !== passDir) {
    // Same options, another directory. The config lives outside the repository so that nothing is
    // left behind; type roots are pinned because the config's own folder has no node_modules.
    tmp = mkdtempSync(path.join(tmpdir(), "farmhand-types-"));
    project = path.join(tmp, "tsconfig.json");
    writeFileSync(project, JSON.stringify({
      extends: baseConfig,
      compilerOptions: { typeRoots: [path.join(root, "node_modules/@types")] },
      include: [fixtures, path.join(path.resolve(dir), "**/*.ts")],
    }));
  }
  try {
    const run = spawnSync(process.execPath, [tscBin, "--noEmit", "--pretty", "false", "-p", project], { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
    const output = `${run.stdout ?? ""}${run.stderr ?? ""}${run.error ? String(run.error) : ""}`;
    return { diagnostics: parseDiagnostics(output), output, status: run.status };
  } finally {
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
  }
}

/** Parses `tsc --pretty false` output (control/check/diagnostics.ts, which `farmhand check` reads it with). */
export function parseDiagnostics(output: string): Diagnostic[] {
  return parseTscOutput(output, root);
}

/** The `// @expect TSxxxx ...` markers of a source: line of the marked code (1-based) -> expected codes. */
export function parseExpectations(source: string): Map<number, string[]> {
  const expected = new Map<number, string[]>();
  source.split(/\r?\n/).forEach((text, index) => {
    const marker = /^\s*\/\/\s*@expect\b(.*)$/.exec(text);
    if (marker === null) return;
    const codes = marker[1].trim().split(/\s+/).filter((c) => c !== "");
    // A malformed marker is kept (as an impossible code) so that it is reported, not ignored.
    expected.set(index + 2, codes.length === 0 ? ["(no code)"] : codes);
  });
  return expected;
}

function short(message: string): string {
  return message.length > 160 ? `${message.slice(0, 157)}...` : message;
}

/** Sees to it that `dir` compiles with no error at all (the fixtures included). */
export function checkPass(dir: string = passDir): CorpusReport {
  const files = corpusFiles(dir);
  const { diagnostics, output, status } = typecheck(dir);
  const global: string[] = [];
  const reports: FileReport[] = files.map((file) => {
    const problems = diagnostics.filter((d) => d.file === file).map((d) => `${rel(file)}:${d.line}:${d.column}: unexpected error ${d.code}: ${short(d.message)}`);
    return { file: rel(file), ok: problems.length === 0, problems };
  });
  for (const d of diagnostics) if (!files.includes(d.file)) global.push(`${rel(d.file)}:${d.line}:${d.column}: unexpected error ${d.code}: ${short(d.message)}`);
  if (files.length === 0) global.push(`${rel(dir)}: no .ts files`);
  if (diagnostics.length === 0 && status !== 0) global.push(`tsc exited with ${status} and reported no error:\n${output}`);
  return { dir: rel(dir), ok: global.length === 0 && reports.every((r) => r.ok), files: reports, global };
}

/** Sees to it that each file of `dir` reports exactly the errors its `// @expect` markers name. */
export function checkFail(dir: string = failDir): CorpusReport {
  const files = corpusFiles(dir);
  const { diagnostics, output, status } = typecheck(dir);
  const global: string[] = [];
  const reports: FileReport[] = files.map((file) => {
    const name = rel(file);
    const expected = parseExpectations(readFileSync(file, "utf8"));
    const actual = new Map<number, Diagnostic[]>();
    for (const d of diagnostics.filter((d) => d.file === file)) actual.set(d.line, [...(actual.get(d.line) ?? []), d]);
    const problems: string[] = [];
    if (expected.size === 0) problems.push(`${name}: no "// @expect TSxxxx" marker: a fail case must say which error it expects`);
    const lines = [...new Set([...expected.keys(), ...actual.keys()])].sort((a, b) => a - b);
    for (const line of lines) {
      const want = [...(expected.get(line) ?? [])];
      const got = actual.get(line) ?? [];
      const unexpected: Diagnostic[] = [];
      for (const d of got) {
        const i = want.indexOf(d.code);
        if (i >= 0) want.splice(i, 1);
        else unexpected.push(d);
      }
      const gotCodes = got.map((d) => d.code).join(" ") || "none";
      for (const code of want) problems.push(`${name}:${line}: expected error ${code} not reported (expected ${(expected.get(line) ?? []).join(" ")}, got ${gotCodes})`);
      for (const d of unexpected) {
        const wanted = expected.has(line) ? `expected ${expected.get(line)!.join(" ")}` : "no error expected here";
        problems.push(`${name}:${d.line}:${d.column}: unexpected error ${d.code} (${wanted}): ${short(d.message)}`);
      }
    }
    return { file: name, ok: problems.length === 0, problems };
  });
  for (const d of diagnostics) if (!files.includes(d.file)) global.push(`${rel(d.file)}:${d.line}:${d.column}: unexpected error ${d.code} outside the corpus: ${short(d.message)}`);
  if (files.length === 0) global.push(`${rel(dir)}: no .ts files`);
  if (status !== 0 && status !== 2 && status !== 1) global.push(`tsc exited with ${status}:\n${output}`);
  return { dir: rel(dir), ok: global.length === 0 && reports.every((r) => r.ok), files: reports, global };
}

/** A readable report: one line per file, then each problem indented. */
export function formatReport(title: string, report: CorpusReport): string {
  const lines = [`${title} (${report.dir}): ${report.ok ? "ok" : "MISMATCH"}, ${report.files.filter((f) => f.ok).length}/${report.files.length} files ok`];
  for (const f of report.files) {
    lines.push(`  ${f.ok ? "ok  " : "FAIL"} ${f.file}`);
    for (const p of f.problems) lines.push(`         ${p}`);
  }
  for (const p of report.global) lines.push(`  FAIL ${p}`);
  return lines.join("\n");
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const reports = process.argv[2] !== undefined
    ? [formatReportPair("fail corpus", checkFail(path.resolve(process.argv[2])))]
    : [formatReportPair("pass corpus", checkPass()), formatReportPair("fail corpus", checkFail())];
  for (const [text] of reports) console.log(text);
  process.exitCode = reports.every(([, ok]) => ok) ? 0 : 1;
}

function formatReportPair(title: string, report: CorpusReport): [string, boolean] {
  return [formatReport(title, report), report.ok];
}
