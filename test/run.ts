// Runs every test file in its own Node process (a file's servers, workers and timers cannot leak
// into the next), checks that none left a child process behind, and prints one closing line:
// "N passed, N failed".

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;
const files = readdirSync(here, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith(".test.ts") && !f.startsWith("types/"))
  .filter((f) => filter === null || filter.test(f))
  .sort();

const FILE_TIMEOUT_MS = 180_000;
let passed = 0;
let failed = 0;
const failures: string[] = [];

// Processes whose environment carries `FARMHAND_OWNER=<owner>`: what a test file started (or had
// started, e.g. detached VMs in their own process groups) and left running.
function ownedBy(owner: string): { pid: number; cmdline: string }[] {
  const marker = `FARMHAND_OWNER=${owner}`;
  const found: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${name}/environ`, "latin1").split("\0").includes(marker)) continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "latin1").split("\0").join(" ").trim();
      found.push({ pid: Number(name), cmdline });
    } catch {}
  }
  return found;
}


let fileIndex = 0;
for (const file of files) {
  const started = Date.now();
  const owner = `test-${process.pid}-${++fileIndex}`;
  // Each file records farms in a home of its own, never the user's.
  const home = mkdtempSync(path.join(os.tmpdir(), "farmhand-test-home-"));
  const child = spawn(process.execPath, [path.join(here, file)], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    env: { ...process.env, FARMHAND_OWNER: owner, FARMHAND_HOME: home },
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const timer = setTimeout(() => {
    output += `\n(test file exceeded ${FILE_TIMEOUT_MS} ms; killed)\n`;
    try { process.kill(-child.pid!, "SIGKILL"); } catch {}
  }, FILE_TIMEOUT_MS);
  const code: number = await new Promise((resolve) => child.on("close", (c) => resolve(c ?? 1)));
  clearTimeout(timer);
  // uvu prints "Total: N / Passed: N / Skipped: N" for the file.
  const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
  let fileFailed = total - ok - skipped;
  let note = "";
  // A process group that outlived its test file is an orphan.
  let orphans = "";
  try {
    orphans = execFileSync("ps", ["-e", "-o", "pgid=,pid=,args="], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.trim().split(/\s+/)[0] === String(child.pid))
      .join("\n");
  } catch {}
  if (orphans !== "") {
    note += `\n  left processes behind:\n${orphans}`;
    try { process.kill(-child.pid!, "SIGKILL"); } catch {}
    fileFailed = Math.max(fileFailed, 1);
  }
  // A process that still carries the file's owner mark is an orphan, whatever its process group.
  const owned = ownedBy(owner);
  if (owned.length > 0) {
    note += `\n  left orphan processes (FARMHAND_OWNER=${owner}):\n${owned.map((p) => `    ${p.pid} ${p.cmdline}`).join("\n")}`;
    for (const p of owned) {
      try { process.kill(p.pid, "SIGKILL"); } catch {}
    }
    fileFailed = Math.max(fileFailed, 1);
  }
  rmSync(home, { recursive: true, force: true });
  if (code !== 0 && fileFailed === 0) fileFailed = 1;
  if (total === 0) fileFailed = Math.max(fileFailed, 1);
  if (skipped > 0) {
    note += `\n  ${skipped} skipped test(s): skipping is not allowed here`;
    fileFailed += skipped;
  }
  passed += ok;
  failed += fileFailed;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`${fileFailed === 0 ? "ok  " : "FAIL"} ${file} (${ok}/${total}, ${seconds} s)\n`);
  if (fileFailed > 0) {
    failures.push(file);
    process.stdout.write(output.split("\n").map((l) => `    ${l}`).join("\n") + note + "\n");
  }
}

if (failures.length > 0) process.stdout.write(`\nfailed files: ${failures.join(", ")}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed === 0 && files.length > 0 ? 0 : 1;
