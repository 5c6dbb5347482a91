// The local driver's state directory: one JSON file per VM (written atomically: temp + rename),
// one log file per VM; and one reservation file per handed-out loopback address, in a directory
// that every state directory of this user on this machine shares.
//
//   <stateDir>/<id>.json          the VM's record (StoredVm)
//   <stateDir>/<id>.log           the VM's stdout+stderr (its own file descriptors point here)
//   <stateDir>/<id>.log.1         the previous log segment, after a rotation
//   <addressDir>/<host>           reservation of 127.0.x.y: the owner's state dir and id, a line each
//
// Reservations are machine-wide because loopback addresses are: two farms recorded in different
// state dirs (a test run beside `npm start`) must never be handed one address, or one farm's
// balancer would send traffic to the other's VM. A bind probe alone leaves a window between the
// probe and the VM's own bind.

import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
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

const ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function isValidId(id: string): boolean {
  return typeof id === "string" && ID_PATTERN.test(id) && id.length <= 200;
}

export function newId(farm: string, vm: string): string {
  const slug = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[.-]+/, "").slice(0, 60) || "x";
  return `${slug(farm)}-${slug(vm)}-${randomBytes(4).toString("hex")}`;
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
    await mkdir(this.dir, { recursive: true });
    await mkdir(this.addressDir, { recursive: true, mode: 0o700 });
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

  async write(vm: StoredVm): Promise<void> {
    const target = this.file(vm.id);
    const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    await writeFile(tmp, JSON.stringify(vm, null, 2) + "\n");
    await rename(tmp, target);
  }

  async read(id: string): Promise<StoredVm | null> {
    if (!isValidId(id)) return null;
    let text: string;
    try {
      text = await readFile(this.file(id), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    try {
      const vm = JSON.parse(text) as StoredVm;
      return vm.id === id ? vm : null;
    } catch {
      return null; // not ours or half-written by a foreign tool; the renames keep ours whole
    }
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

  async remove(vm: { id: string; address: { host: string } | null }): Promise<void> {
    await rm(this.file(vm.id), { force: true });
    await rm(this.logFile(vm.id), { force: true });
    await rm(`${this.logFile(vm.id)}.1`, { force: true });
    if (vm.address !== null) await this.release(vm.address.host, vm.id);
  }

  /** Frees a reservation if `id` of this state dir holds it. */
  async release(host: string, id: string): Promise<void> {
    const file = path.join(this.addressDir, host);
    const owner = await readFile(file, "utf8").catch(() => null);
    if (owner === this.#owner(id)) await unlink(file).catch(() => {});
  }

  /** Frees every reservation `id` holds (for a VM whose record is already gone). */
  async releaseAll(id: string): Promise<void> {
    const names = await readdir(this.addressDir).catch(() => [] as string[]);
    for (const host of names) await this.release(host, id);
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
          const fh = await open(file, "wx");
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

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
