// The image manifest (farmhand.json) the local driver reads at create.

import { readFile, stat } from "node:fs/promises";
import path from "node:path";

export interface ImageManifest {
  readonly name: string;
  /** Entry file, relative to the image folder; run as `node <entry>`. */
  readonly entry: string;
  /** Endpoint name -> contract id. */
  readonly provides: Readonly<Record<string, string>>;
  /** Import name -> contract id. */
  readonly requires: Readonly<Record<string, string>>;
}

export const MANIFEST_FILE = "farmhand.json";

/** Reads and checks `<imageDir>/farmhand.json`; every error names the folder and the field. */
export async function readManifest(imageDir: string): Promise<ImageManifest> {
  const file = path.join(imageDir, MANIFEST_FILE);
  const fail = (what: string): never => {
    throw new Error(`image ${imageDir}: ${MANIFEST_FILE} ${what}`);
  };
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code === "ENOENT" ? "is missing (no manifest in the image folder)" : `cannot be read (${code ?? String(err)})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`is not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return fail("must hold a JSON object");
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== "string" || m.name === "") fail(`field "name" is missing or not a non-empty string`);
  if (typeof m.entry !== "string" || m.entry === "") fail(`field "entry" is missing or not a non-empty string`);
  const entry = m.entry as string;
  const entryPath = path.resolve(imageDir, entry);
  if (path.isAbsolute(entry) || !entryPath.startsWith(path.resolve(imageDir) + path.sep)) {
    fail(`field "entry" (${entry}) must be a path inside the image folder`);
  }
  const isFile = await stat(entryPath).then((s) => s.isFile(), () => false);
  if (!isFile) fail(`field "entry" names ${entry}, which is not a file in the image folder`);
  const table = (field: "provides" | "requires"): Record<string, string> => {
    const v = m[field];
    if (v === undefined) return {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) return fail(`field "${field}" must be an object of name -> contract id`);
    for (const [k, id] of Object.entries(v)) {
      if (typeof id !== "string" || id === "") fail(`field "${field}.${k}" must be a contract id string`);
    }
    return { ...(v as Record<string, string>) };
  };
  return { name: m.name as string, entry, provides: table("provides"), requires: table("requires") };
}
