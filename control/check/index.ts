// `farmhand check`, both stages, and what `up` runs before it creates anything:
//
//   1. the type checker over the script, a statement that its default export is a farm script, the
//      images' own code and their agreement with their metadata (compile.ts, images.ts), and no
//      comment in the script that silences it (suppressions.ts);
//   2. the script run against the plan, a farm that only records (evaluate.ts), and the roles it used
//      checked against their images' metadata (images.ts).
//
// The check passes when neither finds a mistake. Each mistake is one line, "file:line:col what", the
// script's first; the compiler's own messages follow for detail. A mistake both stages see at the same
// call is said once, in the run's words, which name the role, the import and both contracts.

import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { moduleFormatOf } from "../farm/script.ts";
import { compile, farmhandRoot } from "./compile.ts";
import { COMMONJS_CODES, formatDiagnostic, summarize, type Diagnostic, type SourceAt } from "./diagnostics.ts";
import { defaultExportLocation, evaluateScript } from "./evaluate.ts";
import { checkImages, rolesOf, type ImagesCheck } from "./images.ts";
import { orderMistakes, type Location, type Mistake } from "./mistakes.ts";
import { suppressions } from "./suppressions.ts";

export { formatMistake, type Mistake } from "./mistakes.ts";

export interface CheckOptions {
  /** The farm's name, as the plan names things (default: the script's folder's). */
  readonly name?: string;
  /** How long the run against the plan may take (default 10 s). */
  readonly timeoutMs?: number;
}

export interface CheckReport {
  readonly ok: boolean;
  /** The script, as an absolute path. */
  readonly script: string;
  /** Every mistake, in order: one line each. */
  readonly mistakes: readonly Mistake[];
  /** The compiler's own messages, as it printed them (paths as given), for detail. */
  readonly compilerDetail: readonly string[];
  /** Nodes the run recorded (VMs and intermediaries), or null when it did not run. */
  readonly planned: number | null;
  /** Images whose code was type-checked. */
  readonly images: number;
}

const NO_IMAGES: ImagesCheck = { mistakes: [], entries: [], generated: {}, generatedAt: {}, imageOf: {} };
const WRAPPER = "default-export.ts";

export async function checkFarmScript(scriptPath: string, options: CheckOptions = {}): Promise<CheckReport> {
  const script = path.resolve(scriptPath);
  const report = (mistakes: Mistake[], detail: string[] = [], planned: number | null = null, images = 0): CheckReport =>
    ({ ok: mistakes.length === 0, script, mistakes: orderMistakes(mistakes, script), compilerDetail: detail, planned, images });

  if (!existsSync(script)) return report([{ file: null, line: 0, column: 0, stage: "run", text: `${scriptPath}: no such file` }]);
  if (!statSync(script).isFile()) return report([{ file: null, line: 0, column: 0, stage: "run", text: `${scriptPath}: not a file` }]);

  const mistakes: Mistake[] = [];
  const format = moduleFormatOf(script);
  if (format.format === "commonjs") {
    const where = format.packageJson === null ? "no package.json above it" : `${path.relative(process.cwd(), format.packageJson) || format.packageJson} has no "type": "module"`;
    mistakes.push({
      file: script, line: 1, column: 1, stage: "types",
      text: `the script is read as CommonJS (${where}); a farm script is an ES module: put a package.json with {"type": "module"} beside it, or name it .mts`,
    });
  }

  mistakes.push(...suppressions(script));

  // Stage 2 first: it names the images whose code the compiler is to read as well.
  const evaluation = await evaluateScript(script, { name: options.name, timeoutMs: options.timeoutMs });
  const images = evaluation.farm === null ? NO_IMAGES : await checkImages(rolesOf(evaluation.farm.model));

  const wrapper = [
    `import type { CheckedScript } from ${JSON.stringify(path.join(farmhandRoot, "control/farm/script.ts"))};`,
    `import script from ${JSON.stringify(script)};`,
    "export const checked: CheckedScript<typeof script> = script;",
    "",
  ].join("\n");
  const compilation = compile({ files: [script, ...images.entries], generated: { [WRAPPER]: wrapper, ...images.generated } });

  // Diagnostics in generated sources belong where what they state is: the default export, an entry's service().
  const exportAt = defaultExportLocation(script);
  const generatedAt = new Map<string, { name: string; at: Location }>();
  for (const [name, file] of Object.entries(compilation.generatedPaths)) {
    generatedAt.set(file, { name, at: name === WRAPPER ? exportAt : images.generatedAt[name] });
  }
  const sources = new SourceCache();
  const typeMistakes: Mistake[] = [];
  const detail: string[] = [];
  for (const d of compilation.diagnostics) {
    const generated = generatedAt.get(d.file);
    const placed: Diagnostic = generated === undefined ? d : { ...d, ...generated.at };
    // Read as CommonJS, the script gets one compiler error per import and export, and the wrapper sees
    // no default export in it: the plain sentence above says all of that once, so none is repeated.
    if (format.format === "commonjs" && d.file === script && COMMONJS_CODES.has(d.code)) continue;
    if (format.format === "commonjs" && generated?.name === WRAPPER) continue;
    detail.push(formatDiagnostic(placed, process.cwd()));
    if (generated !== undefined && generated.name === WRAPPER) {
      typeMistakes.push({ ...exportAt, stage: "types", code: d.code, text: defaultExportProblem(d) });
      continue;
    }
    const image = images.imageOf[d.file];
    const text = summarize(d, sources.at(d));
    typeMistakes.push({
      file: placed.file === "" ? null : placed.file, line: placed.line, column: placed.column, stage: "types", code: d.code,
      text: image !== undefined && !text.startsWith("image ") ? `image ${image}: ${text}` : text,
    });
  }
  if (!compilation.ok && compilation.diagnostics.length === 0) {
    typeMistakes.push({ file: null, line: 0, column: 0, stage: "types", text: `the type checker failed: ${compilation.output.split("\n")[0] || "no output"}` });
  }

  // One mistake, one line: the run's words where both stages saw a wiring mistake at the same call;
  // the compiler's where the script failed on a line it already explains (a misspelt name), or could
  // not even be loaded (a syntax error, a missing module).
  const wiring = (m: Mistake) => m.code !== undefined && m.code.startsWith("FARMHAND_");
  const runMistakes = evaluation.mistakes.filter((m) =>
    !(evaluation.loadFailed && typeMistakes.some((t) => t.file === script)) &&
    (wiring(m) || !typeMistakes.some((t) => t.file === m.file && t.line === m.line)));
  const spans = runMistakes.filter((m) => m.file !== null && wiring(m)).map((m) => ({ span: sources.callSpan(m), imported: importNamed(m.text) }));
  // Within a call the run refused, a compiler error about one import is the run's only when the run
  // said something of that import too: another import's mistake there (typed any) is the compiler's.
  const covered = (t: Mistake): boolean => {
    const at = sources.offset(t);
    const around = spans.filter(({ span: s }) => s !== null && s.file === t.file && at >= s.start && at <= s.end);
    const name = importNamed(t.text);
    return around.length > 0 && (name === null || around.some((r) => r.imported === name));
  };
  // A missing await is the one mistake of its line: what else the compiler says there follows from it
  // (a parameter typed any in `pays.map((p) => ...)`, a list of promises taken for copies).
  const awaitLines = new Set(typeMistakes.filter((t) => /an await is missing/.test(t.text)).map((t) => `${t.file}:${t.line}`));
  const uncovered = typeMistakes.filter((t) => /an await is missing/.test(t.text) || (!awaitLines.has(`${t.file}:${t.line}`) && !covered(t)));

  // A missing await explains what the run then saw on that line (an `undefined` endpoint).
  const awaits = uncovered.filter((t) => /an await is missing/.test(t.text));
  const explained = (m: Mistake) => awaits.some((t) => t.file === m.file && t.line === m.line);
  mistakes.push(...uncovered, ...runMistakes.filter((m) => !explained(m)), ...images.mistakes);
  return report(mistakes, detail, evaluation.farm?.model.nodes.length ?? null, images.entries.length);
}

/** The import a mistake is about ("orders: import payments wants ..." -> "payments"), if it names one. */
function importNamed(text: string): string | null {
  return /\bimport ([A-Za-z_$][\w$-]*)/.exec(text)?.[1] ?? null;
}

/** The wrapper's diagnostic, about the script's default export, as a plain sentence. */
function defaultExportProblem(d: Diagnostic): string {
  const script = "a farm script's default export is an async function (farm: Farm) => { ...endpoints to show } or nothing";
  if (/has no default export/.test(d.message)) return `the script has no default export: ${script}`;
  const chain = [d.message, ...d.detail].join("\n");
  const refusal = /'"farmhand: ((?:[^"\\]|\\.)*)"'/.exec(chain);
  if (refusal !== null) return refusal[1];
  const property = /Propert(?:y|ies) '([^']+)' (?:is|are) incompatible with index signature/.exec(chain);
  const why = property !== null ? `it returns ${property[1]}, which is no endpoint`
    : /provides no match for the signature/.test(chain) ? "it is no function"
    : /Target signature provides too few arguments/.test(chain) ? "it takes more than the farm"
    : /Types of parameters/.test(chain) ? "its parameter is not the Farm"
    : /is not assignable to type 'Promise<ScriptResult>'/.test(chain) && !/Type 'Promise</.test(chain.split("\n").find((l) => l.includes("Promise<ScriptResult>")) ?? "") ? "it is not async"
    : /is not assignable to type 'Promise<ScriptResult>'/.test(chain) ? "what it returns is neither endpoints nor nothing"
    : summarize(d, null);
  return `the default export is not a farm script: ${why}; ${script}`;
}

/** Sources read once, for positions and the text at them. */
class SourceCache {
  readonly #texts = new Map<string, string | null>();

  text(file: string): string | null {
    if (!this.#texts.has(file)) {
      let text: string | null = null;
      try {
        text = readFileSync(file, "utf8");
      } catch {}
      this.#texts.set(file, text);
    }
    return this.#texts.get(file) ?? null;
  }

  /** The offset of a 1-based line and column, or -1. */
  offset(at: { readonly file: string | null; readonly line: number; readonly column: number }): number {
    const text = at.file === null ? null : this.text(at.file);
    if (text === null || at.line < 1) return -1;
    let offset = 0;
    for (let line = 1; line < at.line; line++) {
      const next = text.indexOf("\n", offset);
      if (next < 0) return -1;
      offset = next + 1;
    }
    return offset + at.column - 1;
  }

  at(d: Diagnostic): SourceAt | null {
    const text = d.file === "" ? null : this.text(d.file);
    if (text === null) return null;
    const lineText = text.split(/\r?\n/)[d.line - 1] ?? "";
    return { lineText, fromColumn: lineText.slice(d.column - 1) };
  }

  /**
   * The call a run mistake points at (`farm.vm(...)`, from the combinator's name to its closing
   * parenthesis), so that the compiler's errors inside it are known for the same mistake.
   */
  callSpan(m: Mistake): { readonly file: string; readonly start: number; readonly end: number } | null {
    const text = m.file === null ? null : this.text(m.file);
    const start = this.offset(m);
    if (text === null || start < 0) return null;
    const open = text.indexOf("(", start);
    if (open < 0) return null;
    let depth = 0;
    for (let i = open; i < text.length; i++) {
      const c = text[i];
      if (c === '"' || c === "'" || c === "`") {
        const close = text.indexOf(c, i + 1);
        if (close < 0) break;
        i = close;
      } else if (c === "(" || c === "[" || c === "{") depth++;
      else if (c === ")" || c === "]" || c === "}") {
        if (--depth === 0) return { file: m.file!, start, end: i };
      }
    }
    return { file: m.file!, start, end: text.length };
  }
}
