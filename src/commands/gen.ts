// `farmhand gen IMAGE_DIR... --out FILE` and `farmhand gen --images-root DIR --out FILE`: generate the
// typed environment (contracts and roles) of a set of images from their farmhand.json metadata.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { generateEnvironment, renderEnvironment } from "../../control/metadata/generate.ts";
import { MetadataError } from "../../control/errors.ts";
import { MANIFEST_FILE } from "../../control/metadata/manifest.ts";

export const GEN_USAGE = `usage: farmhand gen IMAGE_DIR... --out FILE
       farmhand gen --images-root DIR --out FILE
  generates a TypeScript module with a contract per contract id and a role per image from the images'
  ${MANIFEST_FILE} metadata; --images-root takes every subfolder of DIR that holds a ${MANIFEST_FILE}.
  --check: write nothing, exit 1 if FILE is not what gen would write
`;

function usageError(message: string): number {
  process.stderr.write(`farmhand gen: ${message}\n\n${GEN_USAGE}`);
  return 2;
}

/** The image folders under `root`: every subfolder with a manifest, sorted. */
export function imagesUnder(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(root, e.name, MANIFEST_FILE)))
    .map((e) => path.join(root, e.name))
    .sort();
}

export async function runGen(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { out: { type: "string", short: "o" }, "images-root": { type: "string" }, check: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const out = values.out;
  if (out === undefined || out === "") return usageError("--out FILE is required");
  if (!out.endsWith(".ts")) return usageError(`--out ${out}: the environment is a TypeScript module; name it *.ts`);

  const dirs = [...positionals];
  const root = values["images-root"];
  if (root !== undefined) {
    if (!existsSync(root) || !statSync(root).isDirectory()) return usageError(`--images-root ${root}: not a folder`);
    const found = imagesUnder(root);
    if (found.length === 0) return usageError(`--images-root ${root}: no subfolder holds a ${MANIFEST_FILE}`);
    dirs.push(...found);
  }
  if (dirs.length === 0) return usageError("give image folders, or --images-root DIR");
  for (const dir of dirs) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return usageError(`${dir}: not an image folder`);
  }

  try {
    if (values.check === true) {
      const generated = await renderEnvironment(dirs, out);
      const current = existsSync(out) ? readFileSync(out, "utf8") : null;
      if (current === generated.code) {
        process.stdout.write(`${out} is up to date (${dirs.length} image${dirs.length === 1 ? "" : "s"})\n`);
        return 0;
      }
      process.stderr.write(`farmhand gen: ${out} is ${current === null ? "missing" : "stale"}; run farmhand gen without --check\n`);
      return 1;
    }
    const result = await generateEnvironment(dirs, out);
    process.stdout.write(
      `${result.changed ? "wrote" : "unchanged:"} ${out}\n` +
        `  contracts: ${result.contracts.map((c) => `${c.constName} (${c.id})`).join(", ")}\n` +
        `  roles:     ${result.roles.map((r) => `${r.constName} (${r.name}, image ${r.dir})`).join(", ")}\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof MetadataError) {
      process.stderr.write(`farmhand gen: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
