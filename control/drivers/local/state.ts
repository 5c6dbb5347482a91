// The local driver's state directory: one JSON file per VM (written atomically and durably: temp
// file, fsync, rename, fsync of the directory), one log file per VM; and one reservation file per
// handed-out loopback address, in a directory that every state directory of this user on this
// machine shares. Everything here is private to the user: directories 0700, files 0600 (a record
// holds a VM's settings, a log whatever the VM prints).
//
//   <stateDir>/<id>.json          the VM's record (StoredVm)
//   <stateDir>/<id>.log           the VM's stdout+stderr (its own file descriptors point here)
//   <stateDir>/<id>.log.1         the previous log segment, after a rotation
//   <stateDir>/<id>.json.tmp-*    a record being written (left only by a crash; destroy removes it)
//   <addressDir>/<host>           reservation of 127.0.x.y: the owner's state dir and id, a line each
//
// Reservations are machine-wide because loopback addresses are: two farms recorded in different
// state dirs (a test run beside `npm start`) must never be handed one address, or one farm's
// balancer would send traffic to the other's VM. A bind probe alone leaves a window between the
// probe and the VM's own bind.

import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { LocalVmDamagedError } from "../../errors.ts";
import type { VmSpec, VmState } from "../driver.ts";
import type { ImageManifest } from "./manifest.ts";

export interface StoredVm {
  readonly version: 1;
  readonly id: string;
  /** The spec as given, with `image` resolved to an absolute folder. */
  readonly spec: VmSpec;
  /** The manifest as read at create. */
  readonly manifest: ImageManifest;
  /** The VM's loopback address, reserved at create and held until destroy. */
  readonly address: { readonly host: string; readonly port: number };
  /** The VM process (also its process group id), or null when none runs. */
  readonly pid: number | null;
  readonly state: VmState;
  /** Set while a controller stops or destroys the VM, so its death is not taken for a failure. */
  readonly stopRequested: boolean;
  /** Why the VM last stopped running unasked (exit code or signal), if it did. */
  readonly reason: string | null;
  readonly updatedAt: number;
}

/** What reading a VM's record found. */
export type RecordRead =
  | { readonly kind: "missing" }
  | { readonly kind: "ok"; readonly vm: StoredVm }
  /** The file exists but cannot be used; `problem` says why, after the file's name. */
  | { readonly kind: "damaged"; readonly file: string; readonly problem: string };

const RECORD_STATES: readonly string[] = ["created", "starting", "running", "stopped", "failed"] satisfies readonly VmState[];

/** Why `raw` is not the record of VM `id` (the first thing wrong), or null when it is. */
function recordProblem(raw: unknown, id: string): string | null {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const isName = (v: unknown) => typeof v === "string" && v !== "";
  const isTable = (v: unknown) => isObject(v) && Object.values(v).every((x) => typeof x === "string");
  if (!isObject(raw)) return "is not a VM record (not a JSON object)";
  if (raw.id !== id) return `names VM ${JSON.stringify(raw.id)}, not ${id} as its file name does`;
  const spec = raw.spec;
  const labels = isObject(spec) ? spec.labels : undefined;
  const manifest = raw.manifest;
  const address = raw.address;
  const checks: [boolean, string][] = [
    [raw.version === 1, "version"],
    [isObject(labels) && isName(labels.farm) && isName(labels.role) && isName(labels.vm), "spec.labels"],
    [isObject(spec) && isName(spec.image) && isTable(spec.imports) && (spec.settings === undefined || isObject(spec.settings)), "spec"],
    [isObject(manifest) && isName(manifest.name) && isName(manifest.entry) && isTable(manifest.provides) && isTable(manifest.requires), "manifest"],
    [isObject(address) && typeof address.host === "string" && /^127\.\d+\.\d+\.\d+$/.test(address.host) &&
      Number.isInteger(address.port) && (address.port as number) >= 1 && (address.port as number) <= 65535, "address"],
    [raw.pid === null || (Number.isInteger(raw.pid) && (raw.pid as number) > 1), "pid"],
    [typeof raw.state === "string" && RECORD_STATES.includes(raw.state), "state"],
    [typeof raw.stopRequested === "boolean", "stopRequested"],
    [raw.reason === null || typeof raw.reason === "string", "reason"],
    [Number.isFinite(raw.updatedAt), "updatedAt"],
  ];
  const bad = checks.find(([ok]) => !ok);
  return bad === undefined ? null : `is not a VM record (field "${bad[1]}" is missing or malformed)`;
}

const ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function isValidId(id: string): boolean {
  return typeof id === "string" && ID_PATTERN.test(id) && id.length <= 200;
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[.-]+/, "").slice(0, 60) || "x";
const ID_SUFFIX = /-[0-9a-f]{8}$/;

export function newId(farm: string, vm: string): string {
  return `${slug(farm)}-${slug(vm)}-${randomBytes(4).toString("hex")}`;
}

/**
 * What an id (made by newId) tells of the labels, for a VM known by nothing else: whether it can be
 * of a VM with `farm` and `vm`, and then the VM's name as far as the id keeps it. An id does not
 * tell the role, and with no farm given not where the farm's part ends: then the name is the id.
 * Nor does it tell "shop" from "shop-eu": a damaged record of "shop-eu" with no process left may be
 * taken for one of "shop" (and removed with it), which costs nothing that still runs.
 */
export function labelsFromId(id: string, farm: string | undefined, vm: string | undefined): { farm: string; vm: string } | null {
  if (farm === undefined && vm === undefined) return { farm: "", vm: id };
  if (!ID_SUFFIX.test(id)) return null;
  const rest = id.replace(ID_SUFFIX, "");
  if (farm === undefined) return rest.endsWith(`-${slug(vm!)}`) ? { farm: "", vm: vm! } : null;
  const prefix = `${slug(farm)}-`;
  if (!rest.startsWith(prefix) || rest.length === prefix.length) return null;
  const name = rest.slice(prefix.length);
  if (vm !== undefined && name !== slug(vm)) return null;
  return { farm, vm: vm ?? name };
}

function recordFile(dir: string, id: string): string {
  return path.join(dir, `${id}.json`);
}

/** Where this user's local VMs reserve their addresses, whatever their state dir. */
export function defaultAddressDir(): string {
  return path.join(os.tmpdir(), `farmhand-addresses-${os.userInfo().uid}`);
}

export class StateDir {
  readonly dir: string;
  readonly addressDir: string;

  constructor(dir: string, addressDir = defaultAddressDir()) {
    this.dir = path.resolve(dir);
    this.addressDir = path.resolve(addressDir);
  }

  async ensure(): Promise<void> {
    await privateDir(this.dir, false);
    // Under the machine's temp dir, where another user may have made it first to read or forge
    // reservations: it must be this user's own directory.
    await privateDir(this.addressDir, true);
  }

  /** The owner written in a reservation file: this state dir and the VM's id. */
  #owner(id: string): string {
    return `${this.dir}\n${id}\n`;
  }

  /** Whether the VM that owns a reservation is still recorded in its state dir. */
  async #ownerRecorded(text: string): Promise<boolean> {
    const [dir, id] = text.split("\n");
    if (dir === undefined || id === undefined || !isValidId(id)) return false;
    return stat(recordFile(dir, id)).then(() => true, () => false);
  }

  file(id: string): string {
    return recordFile(this.dir, id);
  }

  logFile(id: string): string {
    return path.join(this.dir, `${id}.log`);
  }

  /**
   * Replaces the VM's record. Readers see the old record or the new one, whole; after a crash or a
   * power cut, one of them is on disk: the data is synced before the rename (file systems may
   * commit a rename before the data it names), the directory after it (or the rename may be lost).
   */
  async write(vm: StoredVm): Promise<void> {
    const target = this.file(vm.id);
    const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(JSON.stringify(vm, null, 2) + "\n");
      await fh.sync();
      await fh.close();
      await rename(tmp, target);
    } catch (err) {
      await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await syncDir(this.dir);
  }

  /** The VM's record, or null when there is none; a record that cannot be used throws LocalVmDamagedError. */
  async read(id: string): Promise<StoredVm | null> {
    const found = await this.inspect(id);
    if (found.kind === "damaged") throw new LocalVmDamagedError(id, found.file, found.problem);
    return found.kind === "ok" ? found.vm : null;
  }

  /** Reads the VM's record and says what it found; never throws for a record that is there but unusable. */
  async inspect(id: string): Promise<RecordRead> {
    if (!isValidId(id)) return { kind: "missing" };
    const file = this.file(id);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "ENOENT") return { kind: "missing" };
      return { kind: "damaged", file, problem: `cannot be read (${e.code ?? e.message})` };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      // JSON.parse quotes the bytes it stopped at: those of a garbled file must not reach a terminal raw.
      return { kind: "damaged", file, problem: `is not valid JSON (${printable((err as Error).message)})` };
    }
    const problem = recordProblem(raw, id);
    return problem === null ? { kind: "ok", vm: raw as StoredVm } : { kind: "damaged", file, problem };
  }

  async ids(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    return names.filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -".json".length)).filter(isValidId).sort();
  }

  /**
   * Removes the VM's files and frees its reservation (`host`; null: whichever it holds). Returns
   * what could not be removed ("could not remove FILE: why"). The record goes only after its logs
   * and the reservation only after the record, so whatever is left stays reachable by a later try.
   */
  async remove(id: string, host: string | null): Promise<string[]> {
    const problems: string[] = [];
    // Temp files of record writes that a crash interrupted go too.
    const temps = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => n.startsWith(`${id}.json.tmp-`));
    for (const file of [this.logFile(id), `${this.logFile(id)}.1`, ...temps.map((n) => path.join(this.dir, n))]) {
      const problem = await removeFile(file);
      if (problem !== null) problems.push(problem);
    }
    if (problems.length > 0) return problems;
    const record = await removeFile(this.file(id));
    if (record !== null) return [record];
    if (host !== null) {
      const problem = await this.release(host, id);
      return problem === null ? [] : [problem];
    }
    return this.releaseAll(id);
  }

  /** Frees a reservation if `id` of this state dir holds it; returns what went wrong, if anything. */
  async release(host: string, id: string): Promise<string | null> {
    const file = path.join(this.addressDir, host);
    const owner = await readFile(file, "utf8").catch(() => null);
    return owner === this.#owner(id) ? removeFile(file) : null;
  }

  /** Frees every reservation `id` holds (for a VM whose address is not known, or not anymore). */
  async releaseAll(id: string): Promise<string[]> {
    const names = await readdir(this.addressDir).catch(() => [] as string[]);
    const problems: string[] = [];
    for (const host of names) {
      const problem = await this.release(host, id);
      if (problem !== null) problems.push(problem);
    }
    return problems;
  }

  /**
   * Reserves a loopback address 127.0.x.y (x from 1, y 1..254) that no recorded VM of any state
   * dir holds, and that `port` can be bound on right now. Reservation files are created with O_EXCL,
   * so two driver instances never get the same address.
   */
  async allocate(id: string, port: number): Promise<string> {
    await this.ensure();
    const held = new Set(await readdir(this.addressDir));
    // A reservation whose owner has no record (a controller died between reserving and recording)
    // is reclaimed once it is clearly not in flight.
    for (const host of held) {
      const file = path.join(this.addressDir, host);
      const owner = await readFile(file, "utf8").catch(() => "");
      const age = await stat(file).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 60_000 && !(await this.#ownerRecorded(owner))) {
        await unlink(file).catch(() => {});
        held.delete(host);
      }
    }
    for (let x = 1; x <= 254; x++) {
      for (let y = 1; y <= 254; y++) {
        const host = `127.0.${x}.${y}`;
        if (held.has(host)) continue;
        const file = path.join(this.addressDir, host);
        try {
          const fh = await open(file, "wx", 0o600);
          await fh.writeFile(this.#owner(id));
          await fh.close();
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
          throw err;
        }
        if (await canBind(host, port)) return host;
        await unlink(file).catch(() => {}); // held by something outside this state dir
      }
    }
    throw new Error(`local driver: no free loopback address left in 127.0.1.1-127.0.254.254 (state dir ${this.dir})`);
  }
}

/** `text` without control characters (nor undecodable bytes), each shown as "?". */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, "?");
}

/** Removes a file that may already be gone; returns "could not remove FILE: why" when it stays. */
async function removeFile(file: string): Promise<string | null> {
  try {
    await unlink(file);
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === "ENOENT" ? null : `could not remove ${file}: ${e.code ?? e.message}`;
  }
}

/**
 * Makes `dir` (and missing parents) 0700, and tightens an existing one this user owns. One owned
 * by another user is refused when `mustOwn`, else left as it is (writing there may still be allowed).
 */
async function privateDir(dir: string, mustOwn: boolean): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const s = mustOwn ? await lstat(dir) : await stat(dir);
  if (!s.isDirectory()) throw new Error(`local driver: ${dir} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && s.uid !== uid) {
    if (mustOwn) throw new Error(`local driver: ${dir} belongs to uid ${s.uid}, not to this user (uid ${uid}); remove it or choose another addressDir`);
    return;
  }
  if ((s.mode & 0o077) !== 0) await chmod(dir, 0o700);
}

/** Makes a rename in `dir` durable. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
