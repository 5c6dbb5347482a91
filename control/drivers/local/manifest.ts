// What the local driver takes from an image's manifest at create, read by the one manifest reader
// (control/guest/manifest.ts). It keeps only what it runs by in the VM's record: the contracts stay
// in the image, where gen and the service read them.

import { readManifest as readImageManifest, type ImageManifest as FullManifest } from "../../guest/contract.ts";

export { MANIFEST_FILE } from "../../guest/contract.ts";

export type ImageManifest = Pick<FullManifest, "name" | "entry" | "provides" | "requires">;

/** Reads and checks `<imageDir>/farmhand.json`; a MetadataError names the file, the field and the value. */
export async function readManifest(imageDir: string): Promise<ImageManifest> {
  const { name, entry, provides, requires } = await readImageManifest(imageDir);
  return { name, entry, provides, requires };
}
