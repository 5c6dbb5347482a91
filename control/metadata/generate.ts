// Images -> a typed environment: a TypeScript module with one contract constant per contract id and one
// role constant per image, generated from the images' farmhand.json metadata alone. Farm scripts import
// it instead of hand-written roles and are type-checked against it.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { keyCode, schemaToCode } from "./schema-to-code.ts";
import { MetadataError } from "../errors.ts";
import { readEnvironment, type ContractMetadata, type Environment, type ImageMetadata } from "./manifest.ts";

/**
 * What a generated module imports, by package path: it works the same in this repository (a
 * package may import itself by name) and in a project that installed farmhand, and it never breaks
 * when the module or farmhand moves.
 */
const CONTRACTS_MODULE = "farmhand/contracts";
const TYPEBOX_MODULE = "farmhand/typebox";

/** "order-items" -> "OrderItems". */
export function pascal(name: string): string {
  return name
    .split("-")
    .filter((p) => p !== "")
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join("");
}

/** The exported constant of a contract: "orders@1" -> "Orders1". */
export function contractConstName(contract: Pick<ContractMetadata, "name" | "version">): string {
  return `${pascal(contract.name)}${contract.version}`;
}

/** The exported constant of a role: "web" -> "Web". */
export function roleConstName(image: Pick<ImageMetadata, "name">): string {
  return pascal(image.name);
}

/** Names the module itself uses. */
const TAKEN = new Set(["Type", "contract", "role", "fileURLToPath", "image", "contracts", "roles"]);

function posix(p: string): string {
  return p.split(path.sep).join("/");
}

/** A relative module specifier/folder from the generated file's folder, always starting with "." */
function relativeFrom(outDir: string, target: string): string {
  const rel = posix(path.relative(outDir, target));
  if (rel === "") return ".";
  return rel.startsWith("../") || rel === ".." ? rel : `./${rel}`;
}

function byName<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

export interface Generated {
  /** The module's source. */
  readonly code: string;
  /** Contract constant name -> contract id, in output order. */
  readonly contracts: readonly { readonly constName: string; readonly id: string }[];
  /** Role constant name -> role name and image folder, in output order. */
  readonly roles: readonly { readonly constName: string; readonly name: string; readonly dir: string }[];
}

/** Renders the environment module for `outFile` without writing it. */
export async function renderEnvironment(imageDirs: readonly string[], outFile: string): Promise<Generated> {
  const env = await readEnvironment(imageDirs);
  return renderFrom(env, path.dirname(path.resolve(outFile)));
}

function renderFrom(env: Environment, outDir: string): Generated {
  const owners = new Map<string, string>();
  const claim = (constName: string, by: string): void => {
    if (TAKEN.has(constName)) throw new MetadataError(`${by}: its generated constant ${constName} clashes with a name the environment module uses`);
    const other = owners.get(constName);
    if (other !== undefined) throw new MetadataError(`${other} and ${by} would both be generated as ${constName}`);
    owners.set(constName, by);
  };

  const contractConsts = new Map<string, string>();
  const contractBlocks: string[] = [];
  for (const { contract, definedBy } of env.contracts) {
    const constName = contractConstName(contract);
    claim(constName, `contract ${JSON.stringify(contract.id)} (${definedBy[0]})`);
    contractConsts.set(contract.id, constName);
    const ops = Object.entries(contract.operations).sort(byName);
    const lines = [`export const ${constName} = contract(${JSON.stringify(contract.id)}, {`];
    for (const [opName, op] of ops) {
      lines.push(`  ${keyCode(opName)}: {`);
      lines.push(`    method: ${JSON.stringify(op.method)},`);
      lines.push(`    path: ${JSON.stringify(op.path)},`);
      lines.push(`    request: ${schemaToCode(op.request, `contracts[${JSON.stringify(contract.id)}].operations.${opName}.request`, 4, 13)},`);
      lines.push(`    response: ${schemaToCode(op.response, `contracts[${JSON.stringify(contract.id)}].operations.${opName}.response`, 4, 14)},`);
      lines.push("  },");
    }
    lines.push("});");
    contractBlocks.push(`/** ${contract.id}, from ${definedBy.map((f) => posix(path.relative(outDir, path.resolve(f)))).join(", ")}. */\n${lines.join("\n")}`);
  }

  const roleBlocks: string[] = [];
  const roles: { constName: string; name: string; dir: string }[] = [];
  for (const image of env.images) {
    const constName = roleConstName(image);
    claim(constName, `role ${JSON.stringify(image.name)} (${image.file})`);
    const table = (t: Readonly<Record<string, string>>): string => {
      const entries = Object.entries(t).sort(byName);
      return entries.length === 0 ? "{}" : `{ ${entries.map(([k, id]) => `${keyCode(k)}: ${contractConsts.get(id)!}`).join(", ")} }`;
    };
    const folder = relativeFrom(outDir, path.resolve(image.dir));
    roles.push({ constName, name: image.name, dir: folder });
    roleBlocks.push(
      [
        `export const ${constName} = role(${JSON.stringify(image.name)}, {`,
        `  image: image(${JSON.stringify(folder)}),`,
        `  provides: ${table(image.provides)},`,
        `  requires: ${table(image.requires)},`,
        "});",
      ].join("\n"),
    );
  }

  const folders = roles.map((r) => r.dir);
  const contractList = [...contractConsts.values()];
  const code = [
    `// generated by farmhand gen from ${folders.join(", ")} — do not edit.`,
    "// Regenerate after changing an image's farmhand.json: farmhand gen IMAGE_DIR... --out FILE",
    "",
    'import { fileURLToPath } from "node:url";',
    `import { Type } from ${JSON.stringify(TYPEBOX_MODULE)};`,
    `import { contract, role } from ${JSON.stringify(CONTRACTS_MODULE)};`,
    "",
    "/** An image folder, relative to this module. */",
    'const image = (folder: string): string => fileURLToPath(new URL(`${folder}/`, import.meta.url)).replace(/\\/$/, "");',
    "",
    "// Contracts",
    "",
    contractBlocks.join("\n\n"),
    "",
    "// Roles",
    "",
    roleBlocks.join("\n\n"),
    "",
    `export const contracts = [${contractList.join(", ")}] as const;`,
    "",
    `export const roles = [${roles.map((r) => r.constName).join(", ")}] as const;`,
    "",
  ].join("\n");
  return { code, contracts: [...contractConsts].map(([id, constName]) => ({ constName, id })), roles };
}

export interface GenerateResult extends Generated {
  readonly outFile: string;
  /** False when the file already held exactly this code. */
  readonly changed: boolean;
}

/** Generates the environment module from `imageDirs` and writes it to `outFile` (only if it changed). */
export async function generateEnvironment(imageDirs: readonly string[], outFile: string): Promise<GenerateResult> {
  const generated = await renderEnvironment(imageDirs, outFile);
  const before = await readFile(outFile, "utf8").catch(() => null);
  const changed = before !== generated.code;
  if (changed) {
    await mkdir(path.dirname(path.resolve(outFile)), { recursive: true });
    await writeFile(outFile, generated.code);
  }
  return { ...generated, outFile, changed };
}
