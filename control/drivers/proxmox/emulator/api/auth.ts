// Who may call the emulated API, as pveproxy decides it: an API token in the Authorization header
// (PVEAPIToken=USER@REALM!TOKENID=SECRET), or a ticket cookie from POST /access/ticket, which expires
// after 2 h of the cluster's clock and needs its CSRFPreventionToken on every write.

import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { ClusterTime } from "../cluster/time.ts";
import { PveError } from "../errors.ts";

const TICKET_LIFETIME_MS = 2 * 60 * 60 * 1000;
/** How far ahead of the cluster's clock a ticket may have been issued (clock skew between nodes). */
const TICKET_SKEW_MS = 5 * 60 * 1000;

export type AuthKind = "token" | "ticket" | "none";

export interface Authentication {
  readonly kind: AuthKind;
  /** Who is calling ("user@realm", or "user@realm!token"), or null when refused. */
  readonly user: string | null;
  /** Why it is refused (the 401 reason phrase), or null. */
  readonly error: string | null;
}

export interface Login {
  readonly ticket: string;
  readonly CSRFPreventionToken: string;
  readonly username: string;
}

const hex8 = (n: number) => Math.floor(n).toString(16).toUpperCase().padStart(8, "0");

export class Auth {
  readonly user: string;
  readonly password: string;
  /** USER@REALM!TOKENID */
  readonly tokenId: string;
  readonly tokenSecret = randomUUID();
  readonly #time: ClusterTime;
  readonly #tickets = new Map<string, { user: string; issued: number }>();
  readonly #csrfTokens = new Map<string, { user: string; issued: number }>();

  constructor(settings: { readonly user: string; readonly password: string; readonly tokenName: string }, time: ClusterTime) {
    this.user = settings.user;
    this.password = settings.password;
    this.tokenId = `${settings.user}!${settings.tokenName}`;
    this.#time = time;
  }

  get tokenHeader(): string {
    return `PVEAPIToken=${this.tokenId}=${this.tokenSecret}`;
  }

  /** Issues a ticket and its CSRF token; 401 for a wrong user or password. */
  login(name: string, password: string): Login {
    if (name !== this.user || password !== this.password) throw new PveError(401, "authentication failure");
    const issued = this.#time.now();
    const ticket = `PVE:${this.user}:${hex8(issued / 1000)}::${randomBytes(48).toString("base64")}`;
    const csrf = `${hex8(issued / 1000)}:${randomBytes(32).toString("base64").replace(/=+$/, "")}`;
    this.#tickets.set(ticket, { user: this.user, issued });
    this.#csrfTokens.set(csrf, { user: this.user, issued });
    return { ticket, CSRFPreventionToken: csrf, username: this.user };
  }

  authenticate(headers: IncomingHttpHeaders, method: string): Authentication {
    const authz = headers.authorization;
    if (typeof authz === "string" && authz.startsWith("PVEAPIToken")) {
      const m = /^PVEAPIToken[= ]([^!=\s]+@[^!=\s]+)!([^=\s]+)[=:]\s*(\S+)$/.exec(authz.trim());
      if (m === null || `${m[1]}!${m[2]}` !== this.tokenId || m[3] !== this.tokenSecret) return { kind: "token", user: null, error: "invalid token value!" };
      return { kind: "token", user: this.tokenId, error: null };
    }
    const c = /(?:^|;\s*)PVEAuthCookie=([^;]*)/.exec(headers.cookie ?? "");
    if (c === null) return { kind: "none", user: null, error: "No ticket" };
    let ticket = c[1];
    try {
      ticket = decodeURIComponent(ticket);
    } catch {}
    const now = this.#time.now();
    const t = this.#tickets.get(ticket);
    if (t === undefined || now - t.issued > TICKET_LIFETIME_MS || now < t.issued - TICKET_SKEW_MS) {
      return { kind: "ticket", user: null, error: "invalid PVE ticket" };
    }
    if (method !== "GET") {
      const csrf = headers.csrfpreventiontoken;
      const ok = typeof csrf === "string" ? this.#csrfTokens.get(csrf) : undefined;
      if (ok === undefined || ok.user !== t.user || now - ok.issued > TICKET_LIFETIME_MS) {
        return { kind: "ticket", user: null, error: "Permission denied - invalid csrf token" };
      }
    }
    return { kind: "ticket", user: t.user, error: null };
  }
}
