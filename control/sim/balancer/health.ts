// Active health checking in a simulated balancer, as the data plane's checker does it
// (native-free-core/health/active-checker.ts): a new backend starts healthy and is first checked
// after a short stagger, then every intervalMs from there; `fall` failed checks in a row take it
// down, `rise` passes bring it back. A check of a dead guest fails at once, of a hung one when its
// timeout runs out.
//
// The simulation only checks while a check could change something: a healthy backend whose guest
// serves, or a down one whose guest does not, would pass or fail every check to no effect. So a
// backend is checked from a change of its guest (the hypervisor's channel) until it is stable again,
// on the same phase its checker would keep; a farm of thousands of quiet backends costs nothing.

import type { HealthCheckOptions } from "../../../native-free-core/config.ts";
import type { GuestState } from "../guest.ts";

export interface HealthState {
  healthy: boolean;
  passes: number;
  failures: number;
  /** When its checks run: this, plus any whole number of intervals. */
  readonly phase: number;
  /** A check process is running for it. */
  checking: boolean;
}

/** A backend as its first check will find it: healthy, checked `stagger` ms from `now`. */
export function newHealth(now: number, stagger: number): HealthState {
  return { healthy: true, passes: 0, failures: 0, phase: now + stagger, checking: false };
}

/** When the next check after `now` starts (at `now` itself when one is due then). */
export function nextCheckAt(health: HealthState, now: number, options: HealthCheckOptions): number {
  const interval = Math.max(1, options.intervalMs);
  if (now <= health.phase) return health.phase;
  return health.phase + Math.ceil((now - health.phase) / interval) * interval;
}

/** How long a check of a guest in this state takes to fail, or 0 when it ends at once. */
export function checkTakes(guest: GuestState | null, options: HealthCheckOptions): number {
  return guest === "hung" ? Math.max(1, options.timeoutMs) : 0;
}

/** Records one check's outcome; returns the new health when it flipped, else null. */
export function recordCheck(health: HealthState, passed: boolean, options: HealthCheckOptions): boolean | null {
  if (passed) {
    health.failures = 0;
    health.passes++;
    if (!health.healthy && health.passes >= Math.max(1, options.rise)) return (health.healthy = true);
  } else {
    health.passes = 0;
    health.failures++;
    if (health.healthy && health.failures >= Math.max(1, options.fall)) return (health.healthy = false);
  }
  return null;
}

/** Checks could change nothing: it is up and its guest serves, or down and its guest does not. */
export function isStable(health: HealthState, serving: boolean): boolean {
  return health.healthy === serving;
}
