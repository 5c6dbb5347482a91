// System tools the bench depends on. HAProxy and nginx are peers (nginx is also the backend), so
// without them the bench cannot say anything and stops; wrk is only the preferred load generator.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");

const SEARCH_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** Absolute path of an executable; sbin is searched too because haproxy and nginx live there. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(":").filter((d) => d !== ""), ...SEARCH_PATH];
  for (const dir of dirs) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

export interface Tools {
  readonly haproxy: string;
  readonly nginx: string;
  /** null: not installed and could not be installed; autocannon is used instead. */
  readonly wrk: string | null;
  /** Major.minor, for labels: "2.6". */
  readonly haproxyVersion: string;
  readonly nginxVersion: string;
  readonly notes: readonly string[];
}

function apt(args: readonly string[]): boolean {
  process.stderr.write(`bench: apt-get ${args.join(" ")}\n`);
  const r = spawnSync("apt-get", args, {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return r.status === 0;
}

/** The path of `binary` (Debian package `pkg`), installed with apt-get when missing; throws when it cannot be had. */
export function ensurePackage(binary: string, pkg = binary): string {
  const found = which(binary);
  if (found !== null) return found;
  if (!apt(["install", "-y", pkg])) {
    apt(["update"]);
    apt(["install", "-y", pkg]);
  }
  const installed = which(binary);
  if (installed === null) throw new Error(`bench: ${binary} is required (Debian package ${pkg}); apt-get install -y ${pkg} did not provide it`);
  return installed;
}

/**
 * Finds haproxy, nginx and (when wanted) wrk, installing the missing ones with apt-get when running
 * as root. Throws when haproxy or nginx remain missing.
 */
export function ensureTools(wantWrk: boolean): Tools {
  const notes: string[] = [];
  const want = ["haproxy", "nginx", ...(wantWrk ? ["wrk"] : [])];
  let missing = want.filter((t) => which(t) === null);
  if (missing.length > 0) {
    const isRoot = process.getuid?.() === 0;
    if (!isRoot) {
      notes.push(`not root: cannot apt-get install ${missing.join(" ")}`);
    } else if (which("apt-get") === null) {
      notes.push(`no apt-get: cannot install ${missing.join(" ")}`);
    } else {
      // Only the missing ones, so an installed peer is never upgraded under a running bench.
      if (!apt(["install", "-y", ...missing])) {
        apt(["update"]);
        apt(["install", "-y", ...missing]);
      }
      missing = want.filter((t) => which(t) === null);
      if (missing.length > 0) notes.push(`apt-get install failed for ${missing.join(" ")}`);
    }
  }
  const haproxy = which("haproxy");
  const nginx = which("nginx");
  if (haproxy === null || nginx === null) {
    const lacking = [haproxy === null ? "haproxy" : "", nginx === null ? "nginx" : ""].filter((x) => x !== "");
    throw new Error(
      `bench: ${lacking.join(" and ")} required but not installed (${notes.join("; ")}).\n` +
        `Install them (as root: apt-get update && apt-get install -y haproxy nginx wrk) and run again.`,
    );
  }
  const wrk = wantWrk ? which("wrk") : null;
  if (wantWrk && wrk === null) notes.push("wrk unavailable: falling back to autocannon");
  const short = (banner: string) => /(\d+\.\d+)/.exec(banner)?.[1] ?? "?";
  return {
    haproxy,
    nginx,
    wrk,
    haproxyVersion: short(versionOf(haproxy, ["-v"])),
    nginxVersion: short(versionOf(nginx, ["-v"])),
    notes,
  };
}

/** The Node 24 binary of the repository: the system node may be older and lack type stripping. */
export function nodeBinary(): string {
  const local = path.join(REPO_ROOT, "node_modules", ".bin", "node");
  if (existsSync(local)) return local;
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 24) return process.execPath;
  throw new Error(`bench: Node >= 24 needed (node_modules/.bin/node missing, running ${process.version})`);
}

/** First line of a tool's version banner, for the report. */
export function versionOf(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  const text = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  return text.split("\n")[0] ?? "";
}

export function nodeVersion(node: string): string {
  return execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
}
