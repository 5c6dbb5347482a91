// A simulated VM's guest: the service inside it, apart from the VM's power state. As on a real
// hypervisor, the service can die or hang while the VM stays "running"; only probes notice.

import { readManifestSync } from "../guest/manifest.ts";
import { isBalancerSettings } from "../images/balancer/settings.ts";
import type { VmSpec } from "../drivers/driver.ts";

export type GuestState = "serving" | "dead" | "hung";

/** Manifests by image folder: read once per process, as every probe of every VM of a role asks. */
const provided = new Map<string, Readonly<Record<string, string>>>();

/** What the service announces at /.well-known/farmhand: from the image's manifest, or a balancer's settings. */
export function announcedBy(spec: VmSpec): Readonly<Record<string, string>> {
  if (isBalancerSettings(spec.settings)) return { api: spec.settings.contract };
  let provides = provided.get(spec.image);
  if (provides === undefined) {
    provides = Object.freeze({ ...readManifestSync(spec.image).provides });
    provided.set(spec.image, provides);
  }
  return provides;
}
