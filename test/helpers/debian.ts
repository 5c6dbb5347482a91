// Debian packages a test needs: found, or installed with apt-get (the tests run as root), or the test
// fails saying so. A test never skips for want of a component.

import { spawnSync } from "node:child_process";
import { which } from "../../bench/lib/tools.ts";

/** The path of `binary`, installing `pkg` when it is missing. Throws when it cannot be had. */
export function requireDebianPackage(binary: string, pkg = binary): string {
  const found = which(binary);
  if (found !== null) return found;
  const apt = (args: string[]) => spawnSync("apt-get", args, { stdio: "ignore", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).status === 0;
  if (!apt(["install", "-y", pkg])) {
    apt(["update"]);
    apt(["install", "-y", pkg]);
  }
  const installed = which(binary);
  if (installed === null) throw new Error(`the test needs ${binary} (Debian package ${pkg}); apt-get install -y ${pkg} did not provide it`);
  return installed;
}
