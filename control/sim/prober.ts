// Probes in simulation: what the guest at an address would answer at /.well-known/farmhand.

import type { Prober } from "../guest/prober.ts";
import type { SimDriver } from "./driver.ts";
import { announcedBy } from "./guest.ts";

export function simProber(driver: SimDriver): Prober {
  return {
    async announce(address) {
      const found = driver.guestAt(address.host);
      if (found === null || found.guest === "dead") return { ok: false, problem: "no answer (connect ECONNREFUSED, simulated)" };
      if (found.guest === "hung") return { ok: false, problem: "no answer (timeout, simulated)" };
      return { ok: true, provides: announcedBy(found.spec) };
    },
  };
}
