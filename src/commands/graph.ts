// `farmhand graph SCRIPT [--out FILE.svg] [--mermaid]`: draws the farm a script would build, without
// building it. The script is checked first, as `farmhand check` does it (a mis-wired one is refused
// with check's one-line mistakes, then the compiler's detail), then run against a farm that only records (control/model/recorder.ts): the model of VMs, intermediaries
// and wiring, from which the graph is drawn (control/graph/from-model.ts); nothing is created. What
// the script returns marks the entry points. Like `terraform graph`, the drawing goes to stdout (SVG,
// or a Mermaid flowchart with --mermaid), so nothing lands in the source tree unasked; --out FILE
// writes the SVG there instead. Progress lines go to stderr, as for the other farm commands.

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { graphOf } from "../../control/graph/from-model.ts";
import { planFarm } from "../../control/model/recorder.ts";
import { checkFarmScript } from "../../control/check/index.ts";
import { farmNameFor, loadScript } from "../../control/farm/script.ts";
import { renderReport } from "./check.ts";
import { withEntries, type FarmGraph } from "../../control/graph/graph.ts";
import { toMermaid } from "../../control/graph/mermaid.ts";
import { toSvg } from "../../control/graph/svg.ts";

export interface GraphCommandOptions {
  /** Where to write the SVG; default: stdout (unless --mermaid). */
  readonly out?: string;
  /** Print the Mermaid flowchart to stdout (instead of the SVG, unless --out takes that). */
  readonly mermaid?: boolean;
  /** The farm's name (only shown as the drawing's title); default: the script's folder name. */
  readonly farm?: string;
  /** Where output goes (tests capture it); default process.stdout / process.stderr. */
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
}

export interface GraphResult {
  readonly code: number;
  readonly graph: FarmGraph | null;
  /** Where the SVG was written, or null (stdout, or none). */
  readonly svgPath: string | null;
}

export async function runGraph(script: string, options: GraphCommandOptions = {}): Promise<number> {
  return (await graphScript(script, options)).code;
}

/** runGraph, also returning what it planned and where the SVG went. */
export async function graphScript(script: string, options: GraphCommandOptions = {}): Promise<GraphResult> {
  const stdout = options.stdout ?? ((text: string) => void process.stdout.write(text));
  const stderr = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const progress = (line: string) => stderr(`[farmhand] ${line}\n`);
  const name = options.farm ?? farmNameFor(script);
  // The same two stages as `farmhand check`: a graph is drawn only of a script that check passes.
  progress(`checking ${script}: the type checker, then a run against the plan`);
  const report = await checkFarmScript(script, { name });
  if (!report.ok) {
    stderr(renderReport(report, process.cwd(), "graph", "nothing was drawn"));
    return { code: 1, graph: null, svgPath: null };
  }
  const run = await loadScript(script);
  const farm = planFarm(name);
  let result: unknown;
  try {
    result = await run(farm);
  } catch (error) {
    stderr(`farmhand graph: ${script} failed while planning: ${(error as Error).message}\n`);
    return { code: 1, graph: null, svgPath: null };
  }
  const graph = withEntries(graphOf(farm.model), returnedNodes(result));
  progress(`planned ${graph.nodes.length} node(s), ${graph.edges.length} edge(s); nothing was created`);
  const svg = toSvg(graph, `farm ${name}`);
  let svgPath: string | null = null;
  if (options.out !== undefined) {
    svgPath = path.resolve(options.out);
    mkdirSync(path.dirname(svgPath), { recursive: true });
    writeFileSync(svgPath, svg);
    progress(`wrote ${svgPath}`);
  }
  if (options.mermaid === true) stdout(toMermaid(graph));
  else if (svgPath === null) stdout(svg);
  return { code: 0, graph, svgPath };
}

/** The nodes behind the endpoints a planned script returns (plan://NODE/ENDPOINT). */
function returnedNodes(result: unknown): string[] {
  if (typeof result !== "object" || result === null) return [];
  const nodes: string[] = [];
  for (const value of Object.values(result)) {
    const url = (value as { url?: unknown } | null)?.url;
    const m = typeof url === "string" ? /^plan:\/\/([^/]+)\//.exec(url) : null;
    if (m !== null) nodes.push(m[1]);
  }
  return nodes;
}
