// A simulated VM's guest: the service inside it, apart from the VM's power state. As on a real
// hypervisor, the service can die or hang while the VM stays "running"; only probes notice.

import { readFileSync } from "node:fs";
import path from "node:path";
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
    const manifest = JSON.parse(readFileSync(path.join(spec.image, "farmhand.json"), "utf8")) as { provides?: Record<string, string> };
    provides = Object.freeze({ ...(manifest.provides ?? {}) });
    provided.set(spec.image, provides);
  }
  return provides;
}
