// Active health checking, run on the supervisor thread: every target is probed with `GET <path>` over
// a fresh HTTP/1.1 connection every intervalMs. `fall` consecutive failures take an up target down,
// `rise` consecutive passes bring a down target back up; the owner hears only about transitions.
// Independent of outlier detection (Envoy's split): this module knows nothing about live traffic.

import * as http from "node:http";
import type { HealthCheckOptions } from "../config.ts";
import { formatHostPort } from "../net/address.ts";

export interface HealthCheckTarget {
  /** Stable identity, normally "address:port". */
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

/** At most this much of a check's response body is read (and thrown away). */
export const MAX_CHECK_BODY_BYTES = 64 * 1024;

/** First checks of newly added targets are spread over up to this long (and at most a tenth of intervalMs). */
const MAX_FIRST_CHECK_STAGGER_MS = 250;

interface Target {
  readonly id: string;
  address: string;
  port: number;
  healthy: boolean;
  passes: number;
  failures: number;
  /** Set when the target is removed or the checker closed: no more checks, results ignored. */
  stopped: boolean;
  /** The pending wait before the next check, when no check is in flight. */
  timer: NodeJS.Timeout | undefined;
  /** The check in flight, if any. */
  inFlight: { readonly abort: AbortController; readonly deadline: NodeJS.Timeout } | undefined;
}

export class ActiveHealthChecker {
  readonly #options: HealthCheckOptions;
  readonly #onChange: (backendId: string, healthy: boolean) => void;
  readonly #targets = new Map<string, Target>();
  #closed = false;

  constructor(options: HealthCheckOptions, onChange: (backendId: string, healthy: boolean) => void) {
    this.#options = options;
    this.#onChange = onChange;
  }

  /**
   * Makes the checked set exactly `backends`. A new target starts healthy (optimistic) and is checked
   * almost at once; a removed one is stopped (its check in flight aborted, no callback for it ever
   * again); a kept one keeps its state (its address and port are refreshed for the next check).
   */
  setBackends(backends: readonly HealthCheckTarget[]): void {
    if (this.#closed) return;
    const wanted = new Map<string, HealthCheckTarget>();
    for (const b of backends) wanted.set(b.id, b);

    for (const [id, target] of this.#targets) {
      if (!wanted.has(id)) {
        this.#stop(target);
        this.#targets.delete(id);
      }
    }

    const stagger = Math.min(MAX_FIRST_CHECK_STAGGER_MS, Math.floor(this.#interval() / 10));
    for (const b of wanted.values()) {
      const existing = this.#targets.get(b.id);
      if (existing) {
        existing.address = b.address;
        existing.port = b.port;
        continue;
      }
      const target: Target = {
        id: b.id,
        address: b.address,
        port: b.port,
        healthy: true,
        passes: 0,
        failures: 0,
        stopped: false,
        timer: undefined,
        inFlight: undefined,
      };
      this.#targets.set(b.id, target);
      this.#schedule(target, stagger > 0 ? Math.floor(Math.random() * stagger) : 0);
    }
  }

  /** Whether the target is up; true for an id that is not (or no longer) checked. */
  isHealthy(id: string): boolean {
    return this.#targets.get(id)?.healthy ?? true;
  }

  /** Stops every timer and aborts every check in flight; after it no callback fires. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const target of this.#targets.values()) this.#stop(target);
    this.#targets.clear();
  }

  #interval(): number {
    return Math.max(1, this.#options.intervalMs);
  }

  #stop(target: Target): void {
    target.stopped = true;
    if (target.timer) clearTimeout(target.timer);
    target.timer = undefined;
    const flight = target.inFlight;
    target.inFlight = undefined;
    if (flight) {
      clearTimeout(flight.deadline);
      flight.abort.abort();
    }
  }

  #schedule(target: Target, delayMs: number): void {
    if (target.stopped) return;
    const timer = setTimeout(() => {
      target.timer = undefined;
      this.#check(target);
    }, Math.max(0, delayMs));
    timer.unref();
    target.timer = timer;
  }

  #check(target: Target): void {
    if (target.stopped) return;
    const startedAt = performance.now();
    const abort = new AbortController();
    let settled = false;

    const finish = (passed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      // Removed, replaced or closed meanwhile: the result belongs to nobody.
      if (target.stopped || target.inFlight?.abort !== abort) return;
      target.inFlight = undefined;
      // The next check starts intervalMs after this one started (at once when this one overran).
      this.#schedule(target, this.#interval() - (performance.now() - startedAt));
      this.#record(target, passed);
    };

    const deadline = setTimeout(() => {
      finish(false);
      abort.abort();
    }, Math.max(1, this.#options.timeoutMs));
    deadline.unref();
    target.inFlight = { abort, deadline };

    const host = formatHostPort({ host: target.address, port: target.port });
    let req: http.ClientRequest;
    try {
      req = http.request({
        host: target.address,
        port: target.port,
        method: "GET",
        path: this.#options.path,
        agent: false,
        signal: abort.signal,
        headers: { Host: host, Connection: "close", "User-Agent": "farmhand-health-check" },
      });
    } catch {
      // e.g. an invalid path or address: counts as a failed check.
      finish(false);
      return;
    }
    // A check never keeps the process alive on its own.
    req.on("socket", (socket) => socket.unref());
    req.on("error", () => finish(false));
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 400) {
        finish(false);
        res.destroy();
        return;
      }
      let received = 0;
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received >= MAX_CHECK_BODY_BYTES) {
          // The status already passed; no need to read an oversized body to its end.
          finish(true);
          res.destroy();
        }
      });
      res.on("end", () => finish(true));
      res.on("error", () => finish(false));
      res.on("close", () => finish(res.complete));
    });
    req.end();
  }

  #record(target: Target, passed: boolean): void {
    if (passed) {
      target.failures = 0;
      target.passes += 1;
      if (!target.healthy && target.passes >= Math.max(1, this.#options.rise)) {
        target.healthy = true;
        this.#onChange(target.id, true);
      }
    } else {
      target.passes = 0;
      target.failures += 1;
      if (target.healthy && target.failures >= Math.max(1, this.#options.fall)) {
        target.healthy = false;
        this.#onChange(target.id, false);
      }
    }
  }
}
