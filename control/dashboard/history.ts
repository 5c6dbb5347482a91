// What the dashboard's chart draws: per balancer pool, the request rate, the error rate and the
// number of members (the replicas taking traffic) over the last minutes, one point per look. Kept in
// the controller's memory only, as a ring: a controller that starts over starts a new chart.

import type { FarmView } from "../ops/farm-view.ts";

export interface PoolPoint {
  readonly requestsPerSecond: number | null;
  readonly errorsPerSecond: number | null;
  /** Backends taking new requests. */
  readonly members: number;
  /** Backends in the pool, whatever their state. */
  readonly backends: number;
  /** The autoscaler's latest demand reading for the balancer, when it scales one (farm.autoscale). */
  readonly demand?: number | null;
}

export interface HistoryPoint {
  /** ms since the epoch. */
  readonly t: number;
  /** "balancer/pool" -> its figures then. */
  readonly pools: Readonly<Record<string, PoolPoint>>;
}

export class History {
  readonly #points: HistoryPoint[] = [];
  readonly #keepMs: number;

  constructor(keepMs: number) {
    this.#keepMs = keepMs;
  }

  /** `demand`: the autoscaler's latest reading per group, a group being named after its balancer. */
  add(view: FarmView, demand: ReadonlyMap<string, number | null> = new Map()): HistoryPoint {
    const t = Date.parse(view.at);
    const pools: Record<string, PoolPoint> = {};
    for (const b of view.balancers) {
      for (const p of b.pools) {
        pools[`${b.name}/${p.name}`] = {
          requestsPerSecond: p.traffic?.requestsPerSecond ?? null,
          errorsPerSecond: p.traffic?.errorsPerSecond ?? null,
          members: p.members,
          backends: p.backends.length,
          ...(demand.has(b.name) ? { demand: demand.get(b.name)! } : {}),
        };
      }
    }
    const point = { t, pools };
    this.#points.push(point);
    while (this.#points.length > 0 && this.#points[0].t < t - this.#keepMs) this.#points.shift();
    return point;
  }

  points(): readonly HistoryPoint[] {
    return this.#points;
  }
}
