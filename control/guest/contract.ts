// The guest contract: everything the control plane and a VM's program agree on, in one module.
//
//   - the image manifest, <image>/farmhand.json (manifest.ts: its one reader and its types);
//   - the FARMHAND_* environment a VM starts with (env.ts: what each variable means, the writer a
//     driver uses, the reader a service uses);
//   - the answer at GET /.well-known/farmhand (below: the body a service serves; prober.ts: how
//     the farm asks for it and reads it);
//   - who may read a service's GET /metrics: the holder of the token whose SHA-256 the VM is given
//     in FARMHAND_SETTINGS (env.ts: METRICS_DIGEST_SETTING; metrics.ts: how the kit checks it).
//
// Drivers, `farmhand gen` and the service kit (service.ts) import it from here.

import type { GuestConfig } from "./env.ts";
import type { ImageManifest } from "./manifest.ts";

export {
  GUEST_VARIABLES,
  guestConfig,
  METRICS_DIGEST_SETTING,
  metricsTokenDigest,
  readGuestEnv,
  writeGuestEnv,
  type GuestConfig,
  type GuestVariable,
  type ReadGuestEnvOptions,
} from "./env.ts";
export {
  firstDifference,
  MANIFEST_FILE,
  readManifest,
  readManifestSync,
  roleDisagreements,
  type ContractMetadata,
  type Disagreement,
  type ImageManifest,
  type OperationMetadata,
  type ReadManifestOptions,
} from "./manifest.ts";
export { readAnnouncement, WELL_KNOWN_PATH, type Announcement } from "./prober.ts";
export { GuestEnvError } from "./errors.ts";

/**
 * What a service answers at GET /.well-known/farmhand. The farm reads `provides` (readAnnouncement)
 * and routes to the VM only when it is what the VM's role promises; `vm` and `role` tell a person
 * which VM answered.
 */
export interface AnnouncementBody {
  readonly vm: string;
  readonly role: string;
  /** Endpoint name -> contract id: the image manifest's `provides`. */
  readonly provides: Readonly<Record<string, string>>;
}

/** The body a service serves at GET /.well-known/farmhand: who it is, and its manifest's `provides`. */
export function announcementBody(guest: Pick<GuestConfig, "vm" | "role">, manifest: Pick<ImageManifest, "provides">): AnnouncementBody {
  return { vm: guest.vm, role: guest.role, provides: { ...manifest.provides } };
}
