// The images a script's VMs run, checked against what the script says of them before anything runs.
// For each role the plan uses: its image folder has a farmhand.json the driver can run; the manifest
// and the role agree (name, contract ids and versions, operations and schemas: the service kit would
// refuse to start otherwise); and the image's own code is given to the type checker, with a statement
// that the role its entry serves agrees with the manifest too (control/check/image-agreement.ts), so
// that an operation the metadata names without a handler is found without starting anything.

import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { roleSite, type AnyRole } from "../contracts/index.ts";
import { MetadataError } from "../errors.ts";
import { readManifest, roleDisagreements, type Disagreement, type ImageManifest } from "../guest/contract.ts";
import type { FarmModelView } from "../model/farm-model.ts";
import { farmhandRoot } from "./compile.ts";
import { locationInStack, type Location, type Mistake } from "./mistakes.ts";

export interface ImagesCheck {
  readonly mistakes: readonly Mistake[];
  /** The images' entry files, for the type checker. */
  readonly entries: readonly string[];
  /** Sources for the type checker (name -> text), each stating that an image's code agrees with its manifest. */
  readonly generated: Readonly<Record<string, string>>;
  /** Where a diagnostic in a generated source belongs: the entry's `service(...)` call. */
  readonly generatedAt: Readonly<Record<string, Location>>;
  /** Entry file -> the role name of its image, to say whose code an error is in. */
  readonly imageOf: Readonly<Record<string, string>>;
}

/** The roles of the VMs in a plan, each once, in the order the script first used them. */
export function rolesOf(model: FarmModelView): AnyRole[] {
  const seen = new Set<AnyRole>();
  for (const node of model.nodes) if (node.kind === "vm") seen.add(node.role);
  return [...seen];
}

function describeDisagreement(d: Disagreement, role: AnyRole, manifest: ImageManifest): string {
  const file = path.relative(process.cwd(), manifest.file) || manifest.file;
  switch (d.kind) {
    case "name":
      return `role ${role.name}: its image ${file} is the image of role ${d.manifest}`;
    case "provides":
    case "requires":
      return `role ${role.name}: ${d.kind} ${d.key}: ${d.role ?? "nothing"} here, ${d.manifest ?? "nothing"} in ${file}`;
    case "operations":
      return `role ${role.name}: contract ${d.id} differs from ${file} at ${d.at}`;
  }
}

/** Where a role was made, as the stack of its role() call tells it. */
function siteOf(role: AnyRole): Location | null {
  return locationInStack(roleSite(role));
}

/**
 * The role an image's entry serves: `service(Name)` (or createService), where Name is imported from a
 * module of the image's code. Found by reading the source, not by running it.
 */
function servedRole(entry: string): { readonly module: string; readonly exported: string; readonly at: Location } | null {
  let text: string;
  try {
    text = readFileSync(entry, "utf8");
  } catch {
    return null;
  }
  const call = /\b(?:service|createService)\s*\(\s*([A-Za-z_$][\w$]*)\s*[,)]/.exec(text);
  if (call === null) return null;
  const local = call[1];
  for (const m of text.matchAll(/import\s*(?:type\s+)?\{([^}]*)\}\s*from\s*["']([^"']+)["']/g)) {
    for (const spec of m[1].split(",")) {
      const parts = spec.trim().replace(/^type\s+/, "").split(/\s+as\s+/);
      if (parts.length === 0 || (parts[1] ?? parts[0]).trim() !== local) continue;
      if (!m[2].startsWith(".")) return null; // a package's role: not the image's own code
      const before = text.slice(0, call.index + call[0].indexOf(local));
      const line = before.split("\n").length;
      const column = before.length - before.lastIndexOf("\n");
      return { module: path.resolve(path.dirname(entry), m[2]), exported: parts[0].trim(), at: { file: entry, line, column } };
    }
  }
  return null;
}

/** An image's metadata as a type literal for ImageAgrees. */
function metadataType(manifest: ImageManifest): string {
  const provides = Object.entries(manifest.provides).map(([k, id]) => {
    const ops = Object.entries(manifest.contracts[id]?.operations ?? {}).map(([op, o]) => `${JSON.stringify(op)}: [${JSON.stringify(o.method)}, ${JSON.stringify(o.path)}]`);
    return `${JSON.stringify(k)}: [${JSON.stringify(id)}, { ${ops.join("; ")} }]`;
  });
  const requires = Object.entries(manifest.requires).map(([k, id]) => `${JSON.stringify(k)}: ${JSON.stringify(id)}`);
  return `{ name: ${JSON.stringify(manifest.name)}; provides: { ${provides.join("; ")} }; requires: { ${requires.join("; ")} } }`;
}

export async function checkImages(roles: readonly AnyRole[]): Promise<ImagesCheck> {
  const mistakes: Mistake[] = [];
  const entries: string[] = [];
  const generated: Record<string, string> = {};
  const generatedAt: Record<string, Location> = {};
  const imageOf: Record<string, string> = {};
  const checked = new Set<string>();
  for (const role of roles) {
    const at = siteOf(role) ?? { file: null, line: 0, column: 0 };
    const dir = path.resolve(role.image);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      // A bare name may be a Proxmox template (mapped by --templates): there is nothing here to read.
      if (path.isAbsolute(role.image) || role.image.includes("/")) {
        mistakes.push({ ...at, stage: "metadata", text: `role ${role.name}: its image folder ${role.image} does not exist` });
      }
      continue;
    }
    let manifest: ImageManifest;
    try {
      manifest = await readManifest(dir);
    } catch (error) {
      if (!(error instanceof MetadataError)) throw error;
      mistakes.push({ ...at, stage: "metadata", code: error.code, text: `role ${role.name}: ${error.message}` });
      continue;
    }
    for (const d of roleDisagreements(role, manifest)) mistakes.push({ ...at, stage: "metadata", text: describeDisagreement(d, role, manifest) });
    if (checked.has(dir)) continue;
    checked.add(dir);
    const entry = path.resolve(dir, manifest.entry);
    entries.push(entry);
    imageOf[entry] = manifest.name;
    // The role the entry serves, when it is another object than the script's (the script may use roles
    // generated from the metadata while the image's code has its own): stated to agree with the metadata.
    const served = servedRole(entry);
    if (served === null || served.module === at.file) continue;
    const name = `image-${Object.keys(generated).length}-${manifest.name}.ts`;
    generated[name] = [
      `import type { ImageAgrees } from ${JSON.stringify(path.join(farmhandRoot, "control/check/image-agreement.ts"))};`,
      `import { ${served.exported} as Served } from ${JSON.stringify(served.module)};`,
      `export const agrees: ImageAgrees<typeof Served, ${metadataType(manifest)}> = true;`,
      "",
    ].join("\n");
    generatedAt[name] = served.at;
  }
  return { mistakes, entries, generated, generatedAt, imageOf };
}
