// `farmhand gen IMAGE_DIR... --out FILE` and `farmhand gen --images-root DIR --out FILE`: generate the
// typed environment (contracts and roles) of a set of images from their farmhand.json metadata.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { generateEnvironment, renderEnvironment } from "../../control/metadata/generate.ts";
import { MetadataError } from "../../control/errors.ts";
import { MANIFEST_FILE } from "../../control/metadata/manifest.ts";

function usageError(message: string): number {
  process.stderr.write(`farmhand gen: ${message}\n(farmhand gen --help shows its usage)\n`);
  return 2;
}

/** The image folders under `root`: every subfolder with a manifest, sorted. */
export function imagesUnder(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(root, e.name, MANIFEST_FILE)))
    .map((e) => path.join(root, e.name))
    .sort();
}

/** `farmhand gen ...` with these arguments, through the command line's parser (what the tests call). */
export async function runGen(args: readonly string[]): Promise<number> {
  const { main } = await import("../cli.ts");
  return main(["gen", ...args]);
}

export interface GenOptions {
  readonly dirs: readonly string[];
  readonly out?: string;
  readonly imagesRoot?: string;
  readonly check?: boolean;
}

export async function runGenWith(options: GenOptions): Promise<number> {
  const out = options.out;
  if (out === undefined || out === "") return usageError("--out FILE is required");
  if (!out.endsWith(".ts")) return usageError(`--out ${out}: the environment is a TypeScript module; name it *.ts`);

  const dirs = [...options.dirs];
  const root = options.imagesRoot;
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
    if (options.check === true) {
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
