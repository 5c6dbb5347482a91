// What the reconciler would do to bring what exists in line with a model, without doing any of it:
// `farmhand plan`, in the manner of `terraform plan`. A pure function of the model and the driver's
// records, deciding each node the way the reconciler's pass does (adopt, start, rewire, make anew).

import { httpUrl, type HostPort } from "../../native-free-core/net/address.ts";
import type { VmRecord, VmSpec } from "../drivers/driver.ts";
import { dependencyOrder, type FarmModelView } from "../model/farm-model.ts";
import type { FarmSecrets } from "../state/secrets.ts";
import { desiredSpec, imageInModel, NotYetWired, sameIdentity, sameImports, type Whereabouts } from "./desired.ts";

export type Change =
  | { readonly kind: "create"; readonly node: string; readonly role: string }
  | { readonly kind: "adopt"; readonly node: string; readonly role: string; readonly id: string }
  /** It exists but does not run: started again in place. */
  | { readonly kind: "restart"; readonly node: string; readonly role: string; readonly id: string; readonly state: string }
  /** It runs with other imports: stopped, given the new ones, started again (same VM, same address). */
  | { readonly kind: "rewire"; readonly node: string; readonly role: string; readonly id: string; readonly imports: Readonly<Record<string, { readonly from: string | null; readonly to: string }>> }
  /** It exists as another image or with other settings: removed and made anew. */
  | { readonly kind: "replace"; readonly node: string; readonly role: string; readonly id: string }
  /** It exists and the model does not ask for it (or it is a duplicate, or its record is damaged). */
  | { readonly kind: "remove"; readonly node: string; readonly role: string; readonly id: string; readonly why: string };

export function previewChanges(model: FarmModelView, records: readonly VmRecord[], secrets: FarmSecrets): Change[] {
  const changes: Change[] = [];
  /** Where each node will serve once applied: where it serves now, unless it is made anew. */
  const planned = new Map<string, HostPort | null>();
  const claimed = new Set<string>();
  const where: Whereabouts = {
    addressOf: (node) => planned.get(node) ?? null,
    serving: (node) => (planned.get(node) ?? null) !== null,
    // The reconciler's own answer, so a plan compares with the very specs an apply would write.
    imageOf: (node) => imageInModel(model, node),
  };
  for (const node of dependencyOrder(model)) {
    const existing = records.filter((r) => r.spec.labels.vm === node.name && r.state !== "damaged");
    const role = node.kind === "vm" ? node.role.name : node.kind;
    let wanted: VmSpec | undefined;
    let waitsFor: string | null = null;
    try {
      wanted = desiredSpec(model.name, node, where, secrets);
    } catch (error) {
      if (!(error instanceof NotYetWired)) throw error;
      waitsFor = error.missing;
    }
    const match = wanted === undefined
      ? existing.find((r) => r.state === "running") ?? existing[0]
      : existing.find((r) => sameIdentity(r.spec, wanted));
    if (match === undefined) {
      for (const r of existing) {
        changes.push({ kind: "replace", node: node.name, role, id: r.id });
        claimed.add(r.id);
      }
      if (existing.length === 0) changes.push({ kind: "create", node: node.name, role });
      planned.set(node.name, null);
      continue;
    }
    claimed.add(match.id);
    const at = match.address;
    planned.set(node.name, match.state === "running" && at !== null ? at : null);
    if (waitsFor !== null || (wanted !== undefined && !sameImports(match.spec.imports, wanted.imports))) {
      const imports: Record<string, { from: string | null; to: string }> = {};
      if (wanted !== undefined) {
        for (const [k, url] of Object.entries(wanted.imports)) if (match.spec.imports[k] !== url) imports[k] = { from: match.spec.imports[k] ?? null, to: url };
      } else if (node.kind === "vm") {
        for (const [k, ref] of Object.entries(node.imports)) {
          const dep = planned.get(ref.node);
          imports[k] = { from: match.spec.imports[k] ?? null, to: dep == null ? `the new ${ref.node}` : httpUrl(dep) };
        }
      }
      changes.push({ kind: "rewire", node: node.name, role, id: match.id, imports });
    } else if (match.state !== "running") {
      changes.push({ kind: "restart", node: node.name, role, id: match.id, state: match.state });
    } else {
      changes.push({ kind: "adopt", node: node.name, role, id: match.id });
    }
    if (match.state !== "running" && at !== null) planned.set(node.name, at);
  }
  for (const r of records) {
    if (claimed.has(r.id)) continue;
    const why = r.state === "damaged" ? `its record is damaged (${r.problem ?? "unreadable"})`
      : model.node(r.spec.labels.vm) === undefined ? "the script does not ask for it" : "a duplicate";
    changes.push({ kind: "remove", node: r.spec.labels.vm, role: r.spec.labels.role, id: r.id, why });
  }
  return changes;
}

/** "create 2, adopt 5, restart 0, rewire 1, replace 0, remove 1". */
export function describeChanges(changes: readonly Change[]): string {
  const count = (kind: Change["kind"]) => changes.filter((c) => c.kind === kind).length;
  return (["create", "adopt", "restart", "rewire", "replace", "remove"] as const).map((k) => `${k} ${count(k)}`).join(", ");
}

/** One line per change, for a terminal. */
export function renderChange(c: Change): string {
  switch (c.kind) {
    case "create": return `+ create  ${c.node} (${c.role})`;
    case "adopt": return `= adopt   ${c.node} (${c.role}) ${c.id}`;
    case "restart": return `~ restart ${c.node} (${c.role}) ${c.id}, now ${c.state}`;
    case "rewire": return `~ rewire  ${c.node} (${c.role}) ${c.id}: ${Object.entries(c.imports).map(([k, i]) => `${k} ${i.from ?? "-"} -> ${i.to}`).join(", ")}`;
    case "replace": return `! replace ${c.node} (${c.role}) ${c.id}: another image or settings`;
    case "remove": return `- remove  ${c.node} (${c.role}) ${c.id}: ${c.why}`;
  }
}
