// `farmhand graph SCRIPT [--out FILE.svg] [--mermaid]`: draws the farm a script would build, without
// building it. The script is type-checked first (a mis-wired one is refused with tsc's messages), then
// run against a farm that only records (control/model/recorder.ts): the model of VMs, intermediaries
// and wiring, from which the graph is drawn (control/graph/from-model.ts); nothing is created. The SVG goes to --out, by default next to the script (farm.ts -> farm.svg). The
// Mermaid flowchart goes to stdout with --mermaid only; without it stdout stays empty and the
// progress lines go to stderr, as for the other farm commands.

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { graphOf } from "../../control/graph/from-model.ts";
import { planFarm } from "../../control/model/recorder.ts";
import { checkScript, farmNameFor, loadScript } from "../../control/farm/script.ts";
import type { FarmGraph } from "../../control/graph/graph.ts";
import { toMermaid } from "../../control/graph/mermaid.ts";
import { toSvg } from "../../control/graph/svg.ts";

export interface GraphCommandOptions {
  /** Where to write the SVG; default `<script dir>/<script name>.svg`. */
  readonly out?: string;
  /** Print the Mermaid flowchart to stdout. */
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
  progress(`type-checking ${script}`);
  const check = checkScript(script);
  if (!check.ok) {
    stderr(`${check.output}\nfarmhand graph: ${script} does not type-check; nothing was drawn\n`);
    return { code: 1, graph: null, svgPath: null };
  }
  const name = options.farm ?? farmNameFor(script);
  const run = await loadScript(script);
  const farm = planFarm(name);
  try {
    await run(farm);
  } catch (error) {
    stderr(`farmhand graph: ${script} failed while planning: ${(error as Error).message}\n`);
    return { code: 1, graph: null, svgPath: null };
  }
  const graph = graphOf(farm.model);
  const parsed = path.parse(path.resolve(script));
  const svgPath = path.resolve(options.out ?? path.join(parsed.dir, `${parsed.name}.svg`));
  mkdirSync(path.dirname(svgPath), { recursive: true });
  writeFileSync(svgPath, toSvg(graph, `farm ${name}`));
  progress(`planned ${graph.nodes.length} node(s), ${graph.edges.length} edge(s); nothing was created`);
  progress(`wrote ${svgPath}`);
  if (options.mermaid === true) stdout(toMermaid(graph));
  return { code: 0, graph, svgPath };
}
