// A simulated VM's guest: the service inside it, apart from the VM's power state. As on a real
// hypervisor, the service can die or hang while the VM stays "running"; only probes notice.

import { readFileSync } from "node:fs";
import path from "node:path";
import { isBalancerSettings } from "../images/balancer/settings.ts";
import type { VmSpec } from "../drivers/driver.ts";

export type GuestState = "serving" | "dead" | "hung";

/** What the service announces at /.well-known/farmhand: from the image's manifest, or a balancer's settings. */
export function announcedBy(spec: VmSpec): Readonly<Record<string, string>> {
  if (isBalancerSettings(spec.settings)) return { api: spec.settings.contract };
  const manifest = JSON.parse(readFileSync(path.join(spec.image, "farmhand.json"), "utf8")) as { provides?: Record<string, string> };
  return manifest.provides ?? {};
}
