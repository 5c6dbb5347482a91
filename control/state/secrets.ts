// The farm's secrets. A balancer VM's admin token is never written anywhere: it is derived, when
// needed, from the farm's key (HMAC-SHA256 over the farm and the VM's name), and the VM is given
// only the token's SHA-256, which is enough to check a token and useless to present one. So no
// state file, VM description, log line, process argument or environment carries a usable token;
// the key itself lives in one file only its owner can read.

import { createHash, createHmac, randomBytes } from "node:crypto";
import { openSync, readFileSync, writeSync, closeSync, fsyncSync } from "node:fs";
import path from "node:path";
import { privateDir } from "./home.ts";

export interface FarmSecrets {
  /** The bearer token of the balancer VM `vm`'s admin API. */
  adminToken(vm: string): string;
  /**
   * The farm's read-only token for its balancers' metrics: what a Prometheus server scrapes with.
   * It can read numbers, and change nothing.
   */
  metricsToken(): string;
}

/** The digest a balancer checks tokens against. */
export function tokenSha256(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Secrets from a key made once and kept in `<dir>/farm.key` (0600). */
export function fileSecrets(farm: string, dir: string): FarmSecrets {
  let key: Buffer | null = null;
  return {
    adminToken(vm) {
      key ??= loadOrMakeKey(path.join(privateDir(dir), "farm.key"));
      return derive(key, farm, vm);
    },
    metricsToken() {
      key ??= loadOrMakeKey(path.join(privateDir(dir), "farm.key"));
      return derive(key, farm, METRICS);
    },
  };
}

/** What the metrics token is derived for: no VM name can be it (names are [a-z0-9-]). */
const METRICS = "metrics:read";

/** Secrets that live as long as the process (simulations, tests): `key` shares them between farms. */
export function memorySecrets(farm: string, key: Buffer = randomBytes(32)): FarmSecrets {
  return { adminToken: (vm) => derive(key, farm, vm), metricsToken: () => derive(key, farm, METRICS) };
}

function derive(key: Buffer, farm: string, vm: string): string {
  return createHmac("sha256", key).update(`farmhand admin token\0${farm}\0${vm}`).digest("hex");
}

function loadOrMakeKey(file: string): Buffer {
  try {
    const text = readFileSync(file, "utf8").trim();
    if (/^[0-9a-f]{64}$/.test(text)) return Buffer.from(text, "hex");
    throw new Error(`${file}: not a farm key (64 hex digits); remove it to make a new one (balancers of the farm are then restarted with new tokens)`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = randomBytes(32);
  // O_EXCL: two controllers starting at once agree on whichever key was written first.
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return loadOrMakeKey(file);
    throw error;
  }
  try {
    writeSync(fd, `${key.toString("hex")}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return key;
}
