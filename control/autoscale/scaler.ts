// The autoscaler of one group: every syncMs it reads demand, decides (decide.ts, pure), and resizes
// the group through the model and the reconciler, the same way a script's calls do.
//
// Growing: new replicas of the group's role, wired as the group is, are added to the model and to the
// balancer's pool; the reconciler makes them and lets them into the pool once they serve (guarded).
// Shrinking: the replicas to retire are chosen (fewest requests in flight, then newest), taken out of
// the pool (the balancer drains them: no new requests, those in flight finish), and stopped and
// destroyed once drained or after drain.timeoutMs. Nothing is lost in flight.
// Both run beside the evaluations, never in their way: a spike that comes while replicas start or
// drain is read and answered at the next sync, not after the slowest VM or the drain timeout.

import type { Clock } from "../drivers/driver.ts";
import type { Autoscaled } from "../farm/farm.ts";
import type { AutoscaleDesire, FarmModel, VmNode } from "../model/farm-model.ts";
import type { MetricsSource } from "../metrics/source.ts";
import type { Reconciler } from "../reconcile/reconciler.ts";
import { decide, EMPTY_HISTORY, type Decision, type History } from "./decide.ts";

const KEPT_DECISIONS = 100;
const DRAIN_POLL_MS = 100;

export class GroupScaler implements Autoscaled {
  readonly group: string;
  readonly #model: FarmModel;
  readonly #reconciler: Reconciler;
  readonly #clock: Clock;
  readonly #metrics: MetricsSource;
  readonly #stop = new AbortController();
  #history: History = EMPTY_HISTORY;
  readonly #decisions: Decision[] = [];
  /** Replicas made by a growth still in progress: never chosen to retire while they start. */
  readonly #starting = new Set<string>();
  #running = false;

  constructor(model: FarmModel, group: string, reconciler: Reconciler, clock: Clock, metrics: MetricsSource) {
    this.group = group;
    this.#model = model;
    this.#reconciler = reconciler;
    this.#clock = clock;
    this.#metrics = metrics;
  }

  get replicas(): number {
    return this.#members().length;
  }

  get decisions(): readonly Decision[] {
    return this.#decisions;
  }

  /** Evaluates the group every syncMs until stop(). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void (async () => {
      while (!this.#stop.signal.aborted) {
        const desire = this.#desire();
        if (desire === undefined) return;
        await this.#clock.sleep(desire.policy.syncMs, this.#stop.signal, true);
        if (this.#stop.signal.aborted) return;
        await this.step().catch((error: unknown) => this.#reconciler.report("autoscale", this.group, error));
      }
    })();
  }

  stop(): void {
    this.#stop.abort();
  }

  /** One evaluation: read, decide, resize. */
  async step(): Promise<Decision | null> {
    const desire = this.#desire();
    if (desire === undefined) return null;
    const members = this.#members();
    const ready = members.filter((m) => this.#reconciler.serving(m)).length;
    const admin = this.#reconciler.adminOf(desire.balancer);
    const now = this.#clock.now();
    const readings = await Promise.all(desire.policy.demand.map((d) => admin === null
      ? Promise.resolve({ value: null, error: `balancer ${desire.balancer} does not serve` } as const)
      : this.#metrics.read({ farm: this.#model.name, balancer: desire.balancer, pool: desire.pool, admin }, d.metric, now)));
    const { decision, history } = decide(desire.policy, this.#history, { current: members.length, ready, readings }, now);
    this.#history = history;
    this.#decisions.push(decision);
    if (this.#decisions.length > KEPT_DECISIONS) this.#decisions.shift();
    this.#reconciler.emit({
      type: "autoscale",
      group: this.group,
      role: desire.role.name,
      demand: decision.metrics.map((m) => m.demand),
      ratio: decision.ratio,
      recommendation: decision.recommendation,
      rule: decision.limitedBy,
      from: decision.current,
      to: decision.desired,
      ready,
      errors: decision.metrics.flatMap((m) => (m.error === undefined ? [] : [m.error])),
    });
    // The model changes now (the next evaluation counts the new size); the VMs follow in the background.
    if (decision.desired > members.length) void this.#grow(desire, decision.desired - members.length);
    else if (decision.desired < members.length) await this.#shrink(desire, members.length - decision.desired);
    return decision;
  }

  #desire(): AutoscaleDesire | undefined {
    return this.#model.autoscalers.find((a) => a.balancer === this.group);
  }

  /** The group's replicas: the VMs in its pool. */
  #members(): string[] {
    const desire = this.#desire();
    const balancer = desire === undefined ? undefined : this.#model.node(desire.balancer);
    if (balancer === undefined || balancer.kind === "vm") return [];
    return balancer.pools.find((p) => p.name === desire!.pool)?.members.map((m) => m.ref.node) ?? [];
  }

  async #grow(desire: AutoscaleDesire, count: number): Promise<void> {
    // New replicas are kept alive when the group's are (heal may have been asked after autoscale).
    const heal = this.#members().some((m) => (this.#model.node(m) as VmNode | undefined)?.heal === true);
    const nodes: VmNode[] = Array.from({ length: count }, () => ({
      kind: "vm", name: this.#model.nextName(desire.role.name), role: desire.role, imports: desire.imports, heal,
    }));
    for (const node of nodes) {
      this.#starting.add(node.name);
      this.#model.add(node);
      this.#model.addPoolMember(desire.balancer, desire.pool, { ref: { node: node.name, endpoint: desire.endpoint }, backup: false });
    }
    // Each joins the pool as soon as it serves, not when the slowest of them does. What could not be
    // made leaves the model again; the next evaluation decides afresh.
    await Promise.all(nodes.map(async (node) => {
      try {
        await this.#reconciler.realize([node.name]);
      } catch {
        this.#model.removePoolMember(desire.balancer, desire.pool, node.name);
        this.#model.remove(node.name);
        await this.#reconciler.syncPoolsOf(desire.balancer).catch(() => {});
      } finally {
        this.#starting.delete(node.name);
      }
    }));
  }

  /**
   * Retires `count` replicas: those with the fewest requests in flight, the newest among equals. Each
   * leaves the pool first and is destroyed once the balancer has drained it.
   */
  async #shrink(desire: AutoscaleDesire, count: number): Promise<void> {
    const admin = this.#reconciler.adminOf(desire.balancer);
    const inFlight = new Map<string, number>();
    const pool = admin === null ? null : await admin.pool(desire.pool).catch(() => null);
    const members = this.#members();
    for (const m of members) {
      const at = this.#reconciler.addressOf(m);
      const b = at === null ? undefined : pool?.backends.find((x) => x.address === at.host && x.port === at.port);
      inFlight.set(m, b?.inFlight ?? 0);
    }
    const victims = members.filter((m) => !this.#starting.has(m))
      .sort((a, b) => inFlight.get(a)! - inFlight.get(b)! || ordinal(b) - ordinal(a))
      .slice(0, count);
    for (const v of victims) this.#model.removePoolMember(desire.balancer, desire.pool, v);
    // Pools that cannot be set now are set by the next resync; the drain below waits for it (drain.timeoutMs at most).
    await this.#reconciler.syncPoolsOf(desire.balancer).catch((error: unknown) => this.#reconciler.report("sync-pools", desire.balancer, error));
    void this.#drainAndDestroy(desire, admin, victims).catch((error: unknown) => this.#reconciler.report("destroy", victims.join(", "), error));
  }

  /** Once the balancer has drained the retired replicas (or after drain.timeoutMs), stops and destroys them. */
  async #drainAndDestroy(desire: AutoscaleDesire, admin: ReturnType<Reconciler["adminOf"]>, victims: readonly string[]): Promise<void> {
    const deadline = this.#clock.now() + desire.policy.drain.timeoutMs;
    const addresses = new Map(victims.map((v) => [v, this.#reconciler.addressOf(v)]));
    while (admin !== null && this.#clock.now() < deadline && !this.#stop.signal.aborted) {
      const now = await admin.pool(desire.pool).catch(() => null);
      const busy = now?.backends.some((b) => [...addresses.values()].some((a) => a !== null && a.host === b.address && a.port === b.port && b.lifecycle !== "drained" && b.inFlight > 0));
      if (now !== null && !busy) break;
      await this.#clock.sleep(DRAIN_POLL_MS, this.#stop.signal);
    }
    // All leave the model first: one whose destroy fails is the reconciler's to destroy again, and
    // must not hold up the others.
    for (const v of victims) this.#model.remove(v);
    await Promise.allSettled(victims.map((v) => this.#reconciler.destroyNode(v)));
  }
}

/** "orders-12" -> 12: higher is newer. */
function ordinal(name: string): number {
  const m = /-(\d+)$/.exec(name);
  return m === null ? 0 : Number(m[1]);
}
