// Asking a real guest (the echo image) what it was started as, over HTTP: what the local and Proxmox
// drivers' conformance factories answer `ask` with.

import http from "node:http";
import type { Address, GuestAnswer } from "./conformance.ts";

/** How long a guest may take to answer before it counts as not answering (a hung one never does). */
const ANSWER_TIMEOUT_MS = 1_000;

export function askOverHttp(address: Address): Promise<GuestAnswer | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: address.host, port: address.port, path: "/conformance", agent: false, timeout: ANSWER_TIMEOUT_MS }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("error", () => resolve(null));
      res.on("end", () => {
        try {
          const body = JSON.parse(text) as { vm?: unknown; imports?: unknown };
          resolve(res.statusCode === 200 ? { vm: String(body.vm), imports: (body.imports ?? {}) as Record<string, string> } : null);
        } catch {
          resolve(null);
        }
      });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(null));
  });
}
