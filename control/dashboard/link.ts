// Where a farm's dashboard is, and the link that opens it. The controller serving it records its
// address (never its token) in the farm's folder; the token is derived from the farm's key like a
// balancer's admin token (control/state/secrets.ts), so any process of the farm's owner can make the
// link again (`farmhand dashboard`, `farmhand status`) and nothing on disk holds a usable token.

import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { farmDir } from "../state/home.ts";
import { processStartTicks } from "../state/farm-records.ts";
import type { FarmSecrets } from "../state/secrets.ts";

export const DASHBOARD_RECORD = "dashboard.json";

export interface DashboardRecord {
  /** "http://127.0.0.1:PORT", without the token. */
  readonly url: string;
  readonly pid: number;
  /** Tells the controller from a later process with its pid (see processStartTicks). */
  readonly startTicks: number;
  readonly startedAt: string;
}

/**
 * The dashboard's bearer token. A VM name never holds a NUL, so this derivation can never be a
 * balancer's admin token, while it comes from the same key.
 */
export function dashboardToken(secrets: FarmSecrets): string {
  return secrets.adminToken("\0dashboard");
}

/** The link that opens the dashboard: the page takes the token once, keeps it in a cookie, and drops it from the address bar. */
export function dashboardLink(url: string, token: string): string {
  return `${url}/?token=${token}`;
}

export function dashboardRecordFile(farm: string, home?: string): string {
  return path.join(farmDir(farm, home), DASHBOARD_RECORD);
}

/** The dashboard of a running controller, or null (none recorded, or its controller is gone). */
export function readDashboardRecord(farm: string, home?: string): DashboardRecord | null {
  try {
    const record = JSON.parse(readFileSync(dashboardRecordFile(farm, home), "utf8")) as DashboardRecord;
    return processStartTicks(record.pid) === record.startTicks ? record : null;
  } catch {
    return null;
  }
}

export function removeDashboardRecord(farm: string, home?: string): void {
  rmSync(dashboardRecordFile(farm, home), { force: true });
}
