// Asking a VM what it serves: GET /.well-known/farmhand on its address, within a deadline. The farm
// uses the answer twice: as the runtime guard (a VM must serve exactly what its role promises) and
// as liveness (a VM that stops answering has failed, whatever its hypervisor says).

import { request } from "undici";
import { formatHostPort, type HostPort } from "../../native-free-core/net/address.ts";
import { readLimitedText } from "../../native-free-core/net/read-limited.ts";

export const WELL_KNOWN_PATH = "/.well-known/farmhand";
/** An announcement names a few endpoints: anything near this size is not one. */
const ANNOUNCEMENT_LIMIT = 64 * 1024;

/** What a VM said: the endpoints it provides (name -> contract id), or why it said nothing usable. */
export type Announcement =
  | { readonly ok: true; readonly provides: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly problem: string };

export interface Prober {
  announce(address: HostPort, timeoutMs: number): Promise<Announcement>;
}

/** The prober over real HTTP (undici): one request per call, no connection kept. */
export const httpProber: Prober = {
  async announce(address, timeoutMs) {
    try {
      const response = await request(`http://${formatHostPort(address)}${WELL_KNOWN_PATH}`, {
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        reset: true,
      });
      const text = await readLimitedText(response.body, ANNOUNCEMENT_LIMIT, `${WELL_KNOWN_PATH} of ${formatHostPort(address)}`);
      if (response.statusCode !== 200) return { ok: false, problem: `HTTP ${response.statusCode}` };
      return readAnnouncement(text);
    } catch (error) {
      return { ok: false, problem: `no answer (${(error as Error).message})` };
    }
  },
};

/** The body of /.well-known/farmhand: `{ "provides": { name: "contract@version" } }`, and maybe more. */
export function readAnnouncement(text: string): Announcement {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, problem: "not JSON" };
  }
  const provides = (body as { provides?: unknown } | null)?.provides;
  if (typeof provides !== "object" || provides === null || Array.isArray(provides) ||
    !Object.values(provides).every((v) => typeof v === "string")) {
    return { ok: false, problem: `malformed answer ${text.slice(0, 120)}` };
  }
  return { ok: true, provides: provides as Record<string, string> };
}
