// `farmhand check SCRIPT`, and the check `up`, `start` and `plan` run first: both stages of
// control/check/, a line per mistake, then the compiler's own messages. Exit 1 on any mistake;
// nothing is created either way.
//
//   farm.ts:12:5 orders: import payments wants payments@1, got inventory@1
//   farm.ts:14:9 farmhand: balance: the contract is one of several (ledger@1, payments@1); it must be one contract
//   farmhand check: 2 mistakes in farm.ts; nothing was created
//
//   the compiler's messages:
//   farm.ts(12,42): error TS2322: Type 'Endpoint<...>' is not assignable to ...

import path from "node:path";
import { checkFarmScript, formatMistake, type CheckReport } from "../../control/check/index.ts";
import { progress } from "./farm-common.ts";

export interface RunCheckOptions {
  /** The farm's name, as the plan names its nodes. */
  readonly farm?: string;
  /** Where the report goes (tests capture it); default process.stderr. */
  readonly write?: (text: string) => void;
}

/** The report as `farmhand check` prints it on failure. */
export function renderReport(report: CheckReport, cwd = process.cwd(), command = "check", outcome = "nothing was created"): string {
  const lines = report.mistakes.map((m) => formatMistake(m, cwd));
  const shown = path.relative(cwd, report.script) || report.script;
  const n = report.mistakes.length;
  lines.push(`farmhand ${command}: ${n} ${n === 1 ? "mistake" : "mistakes"} in ${shown.startsWith("..") ? report.script : shown}; ${outcome}`);
  if (report.compilerDetail.length > 0) lines.push("", "the compiler's messages:", ...report.compilerDetail);
  return `${lines.join("\n")}\n`;
}

export async function runCheck(script: string, options: RunCheckOptions = {}): Promise<number> {
  const write = options.write ?? ((text: string) => void process.stderr.write(text));
  progress(`checking ${script}: the type checker, then a run against the plan`);
  const report = await checkFarmScript(script, { name: options.farm });
  if (!report.ok) {
    write(renderReport(report));
    return 1;
  }
  const images = report.images === 0 ? "" : `, ${report.images} ${report.images === 1 ? "image's" : "images'"} code and metadata`;
  progress(`ok: the wiring type-checks, and the plan (${report.planned ?? 0} nodes${images}) holds`);
  return 0;
}
