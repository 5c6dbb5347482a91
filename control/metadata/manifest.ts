// Image metadata: what farmhand gen reads from images. The manifest itself (farmhand.json, with the
// `contracts` section gen needs) is read by control/guest/manifest.ts, the one reader drivers and the
// service kit use too; this module adds what only gen asks: that several images agree.

import path from "node:path";
import { MetadataError } from "../errors.ts";
import { firstDifference, readManifest, type ContractMetadata, type ImageManifest } from "../guest/contract.ts";
import { fieldPath, show } from "./schema-to-code.ts";

export { firstDifference, MANIFEST_FILE, type ContractMetadata, type OperationMetadata } from "../guest/contract.ts";

/** An image's manifest with its contracts section, which gen cannot do without. */
export type ImageMetadata = ImageManifest;

/** Reads and checks `<dir>/farmhand.json` with its contracts. */
export function readImageMetadata(dir: string): Promise<ImageMetadata> {
  return readManifest(dir, { requireContracts: true });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function valueAt(root: unknown, steps: readonly string[]): unknown {
  let v: unknown = root;
  for (const s of steps) v = isRecord(v) || Array.isArray(v) ? (v as Record<string, unknown>)[s] : undefined;
  return v;
}

export interface Environment {
  /** Sorted by role name. */
  readonly images: readonly ImageMetadata[];
  /** Sorted by contract id; each with the manifests that define it. */
  readonly contracts: readonly { readonly contract: ContractMetadata; readonly definedBy: readonly string[] }[];
}

/**
 * Reads several images and checks they agree: role names are distinct, and a contract id two images
 * define has the same definition in both (an error names both manifests and the first difference).
 */
export async function readEnvironment(dirs: readonly string[]): Promise<Environment> {
  if (dirs.length === 0) throw new MetadataError("no image folders given");
  const seenDirs = new Map<string, string>();
  for (const dir of dirs) {
    const key = path.resolve(dir);
    if (seenDirs.has(key)) throw new MetadataError(`image folder ${dir} is given twice`);
    seenDirs.set(key, dir);
  }
  const images = await Promise.all(dirs.map((d) => readImageMetadata(d)));
  images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < images.length; i++) {
    if (images[i].name === images[i - 1].name) {
      throw new MetadataError(`${images[i - 1].file} and ${images[i].file}: both name the role ${JSON.stringify(images[i].name)} (field "name")`);
    }
  }
  const byId = new Map<string, { contract: ContractMetadata; definedBy: string[] }>();
  for (const image of images) {
    for (const [id, contract] of Object.entries(image.contracts)) {
      const known = byId.get(id);
      if (known === undefined) {
        byId.set(id, { contract, definedBy: [image.file] });
        continue;
      }
      const at = fieldPath("contracts", id);
      const diff = firstDifference({ operations: known.contract.operations }, { operations: contract.operations }, at);
      if (diff !== null) {
        const steps = pathSteps(diff.slice(at.length));
        const mine = valueAt({ operations: known.contract.operations }, steps);
        const theirs = valueAt({ operations: contract.operations }, steps);
        throw new MetadataError(
          `contract ${JSON.stringify(id)} is defined differently by ${known.definedBy[0]} and ${image.file}: ` +
            `${diff} is ${show(mine)} in the first and ${show(theirs)} in the second`,
        );
      }
      known.definedBy.push(image.file);
    }
  }
  const contracts = [...byId.keys()].sort().map((id) => byId.get(id)!);
  return { images, contracts };
}

/** `.operations.place["x-y"][2]` -> ["operations", "place", "x-y", "2"]. */
function pathSteps(rest: string): string[] {
  const steps: string[] = [];
  const step = /\.([A-Za-z_$][A-Za-z0-9_$]*)|\[("(?:[^"\\]|\\.)*"|\d+)\]/g;
  for (const m of rest.matchAll(step)) steps.push(m[1] ?? (m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2]));
  return steps;
}
