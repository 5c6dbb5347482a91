// What a guest learns from its VM's config, the way cloud-init or an agent inside a real guest would:
// the farm metadata in the VM's `description`, turned into the FARMHAND_* environment its service
// starts with.
//
// The `description` holds either
//   - a JSON object, `{"farm": "...", "role": "...", "vm": "...", "imports": {...}, "settings": {...}}`
//     (the fields may also sit under a top-level "farmhand" key), or
//   - key=value lines: `farm=shop`, `role=web`, `vm=web-1`, `imports={"api":"http://..."}`,
//     `settings={...}` (imports and settings as JSON; other lines are ignored; a `farmhand.` prefix
//     on the keys is allowed).
// FARMHAND_VM defaults to the VM's `name`, FARMHAND_IMPORTS and FARMHAND_SETTINGS to `{}`.
// FARMHAND_LISTEN is `<address>:<vmPort>`, the address being the VM's own 127.a.b.c.
// FARMHAND_VM_ID is the VMID; FARMHAND_OWNER is passed through from the emulator's environment.

export interface GuestMetadata {
  farm?: string;
  role?: string;
  vm?: string;
  imports?: Record<string, string>;
  settings?: Record<string, unknown>;
}

/** Reads the farmhand metadata from a VM description (see above for the formats). */
export function parseGuestMetadata(description: string | undefined): GuestMetadata {
  if (description === undefined || description.trim() === "") return {};
  const pick = (o: Record<string, unknown>): GuestMetadata => {
    const m: GuestMetadata = {};
    for (const k of ["farm", "role", "vm"] as const) if (typeof o[k] === "string") m[k] = o[k] as string;
    if (isObject(o.imports)) m.imports = o.imports as Record<string, string>;
    if (isObject(o.settings)) m.settings = o.settings;
    return m;
  };
  try {
    const raw = JSON.parse(description) as unknown;
    if (isObject(raw)) return pick(isObject(raw.farmhand) ? raw.farmhand : raw);
  } catch {}
  const o: Record<string, unknown> = {};
  for (const line of description.split(/\r?\n/)) {
    const m = /^\s*(?:farmhand[.-])?(farm|role|vm|imports|settings)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (m === null) continue;
    if (m[1] === "imports" || m[1] === "settings") {
      try {
        o[m[1]] = JSON.parse(m[2]);
      } catch {}
    } else o[m[1]] = m[2];
  }
  return pick(o);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export interface GuestIdentity {
  readonly vmid: number;
  /** The VM's `name` config key (FARMHAND_VM when the metadata names no VM). */
  readonly name: string;
  readonly description: string | undefined;
  /** host:port its service listens on. */
  readonly listen: string;
}

/** The environment a guest's service starts with: the emulator's own, without its FARMHAND_* keys, plus the VM's. */
export function guestEnvironment(guest: GuestIdentity): NodeJS.ProcessEnv {
  const meta = parseGuestMetadata(guest.description);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("FARMHAND_")) env[k] = v;
  env.FARMHAND_LISTEN = guest.listen;
  env.FARMHAND_VM = meta.vm ?? guest.name;
  env.FARMHAND_ROLE = meta.role ?? "";
  env.FARMHAND_FARM = meta.farm ?? "";
  env.FARMHAND_IMPORTS = JSON.stringify(meta.imports ?? {});
  env.FARMHAND_SETTINGS = JSON.stringify(meta.settings ?? {});
  env.FARMHAND_VM_ID = String(guest.vmid);
  // The test runner finds what a test file left running by this mark.
  if (process.env.FARMHAND_OWNER !== undefined) env.FARMHAND_OWNER = process.env.FARMHAND_OWNER;
  return env;
}
