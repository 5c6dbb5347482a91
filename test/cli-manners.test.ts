// The command line's manners, as a user meets them: help on every command (and `demo --help` does
// not start the demo), --version, a suggestion for a mistyped command or option, options checked
// before any work (a bad --driver, a missing script, a missing Proxmox setting: no type-check runs),
// the executable under an old Node (it runs the project's Node 24, or says how to get one, and passes
// Ctrl-C on exactly once), and `logs` of a VM.

import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CLI, EXAMPLE, ROOT, farmhand, newHome } from "./helpers/farm-cli.ts";
import { waitFor } from "./helpers/proxy.ts";

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const COMMANDS = ["init", "new-image", "gen", "check", "plan", "up", "start", "status", "ls", "logs", "dashboard", "token", "down", "graph", "proxy", "pve-emulator", "demo"];

let home = "";
test.before(() => {
  home = newHome();
});
test.after(() => rmSync(home, { recursive: true, force: true }));

test("every command has --help (exit 0, its usage, no work done); the program has --version and help", () => {
  const top = farmhand(home, ["--help"]);
  assert.is(top.code, 0, top.stderr);
  for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`^  ${c} `, "m"), c);
  assert.match(top.stdout, /npx farmhand init my-farm/);
  for (const c of COMMANDS) {
    const r = farmhand(home, [c, "--help"], { timeoutMs: 20_000 });
    assert.is(r.code, 0, `${c}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: farmhand ${c} `, "m"), c);
    assert.is(r.stderr, "", c);
  }
  // `demo --help` prints its help and starts nothing (it used to start the demo).
  const demo = farmhand(home, ["demo", "--help"], { timeoutMs: 10_000 });
  assert.not.match(demo.stdout, /farmhand proxy: http/);
  assert.match(farmhand(home, ["help", "status"]).stdout, /^Usage: farmhand status /m);
  const version = farmhand(home, ["--version"]);
  assert.is(version.code, 0);
  assert.is(version.stdout, `${VERSION}\n`);
  const bare = farmhand(home, []);
  assert.is(bare.code, 2, "no command is a usage error");
  assert.match(bare.stdout, /^Usage: farmhand /);
});

test("a mistyped command or option gets a suggestion and exit 2", () => {
  const command = farmhand(home, ["stauts"]);
  assert.is(command.code, 2);
  assert.match(command.stderr, /farmhand: unknown command 'stauts'\n\(Did you mean status\?\)/);
  const option = farmhand(home, ["status", "--jsn"]);
  assert.is(option.code, 2);
  assert.match(option.stderr, /farmhand status: unknown option '--jsn'\n\(Did you mean --json\?\)/);
  const up = farmhand(home, ["up", EXAMPLE, "--detatch"]);
  assert.is(up.code, 2);
  assert.match(up.stderr, /\(Did you mean --detach\?\)/);
});

test("options are checked before any work: no type-check runs, nothing is recorded", () => {
  const driver = farmhand(home, ["up", EXAMPLE, "--driver", "proxmx"]);
  assert.is(driver.code, 2);
  assert.match(driver.stderr, /farmhand up: option '--driver <kind>' argument 'proxmx' is invalid\. Allowed choices are local, proxmox\./);
  assert.not.match(driver.stderr, /type-checking/);

  const missing = farmhand(home, ["check", "examples/nowhere/farm.ts"]);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /the farm script examples\/nowhere\/farm\.ts does not exist/);
  assert.not.match(missing.stderr, /TS6053|tsconfig/);

  const env = { FARMHAND_PVE_URL: "", FARMHAND_PVE_TOKEN: "", FARMHAND_PVE_USER: "", FARMHAND_PVE_PASSWORD: "" };
  const proxmox = farmhand(home, ["plan", EXAMPLE, "--driver", "proxmox"], { env });
  assert.is(proxmox.code, 2);
  assert.match(proxmox.stderr, /--driver proxmox needs FARMHAND_PVE_URL in the environment/);
  assert.not.match(proxmox.stderr, /type-checking/);

  const templates = farmhand(home, ["up", EXAMPLE, "--driver", "proxmox", "--templates", "nope.json"]);
  assert.is(templates.code, 2);
  assert.match(templates.stderr, /the templates file nope\.json does not exist/);

  const farm = farmhand(home, ["status", "--farm", "Bad Name"]);
  assert.is(farm.code, 2);
  assert.match(farm.stderr, /"Bad Name" is not a farm name/);

  const events = farmhand(home, ["status", "--events", "many"]);
  assert.is(events.code, 2);
  assert.match(events.stderr, /--events <count>.*expected a count of events, 0 to 1000 \(got "many"\)/);
  assert.is(farmhand(home, ["ls"]).stdout, `no farms in ${home}\n`, "nothing was recorded");
});

/** A Node older than 24 on the PATH (the system's), which cannot run farmhand's TypeScript itself. */
function oldNode(): string {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir.includes("node_modules")) continue;
    const candidate = path.join(dir, "node");
    const r = spawnSync(candidate, ["-p", "process.versions.node"], { encoding: "utf8" });
    if (r.status === 0 && Number(r.stdout.split(".")[0]) < 24) return candidate;
  }
  throw new Error("no Node older than 24 on the PATH (npm itself runs on one here)");
}

test("under an old Node, the executable runs the project's Node 24, or says how to get one", async () => {
  const node = oldNode();
  const version = spawnSync(node, [CLI, "--version"], { encoding: "utf8", cwd: ROOT, env: { ...process.env, FARMHAND_HOME: home } });
  assert.is(version.status, 0, version.stderr);
  assert.is(version.stdout, `${VERSION}\n`);
  assert.not.match(version.stderr, /ERR_UNKNOWN_FILE_EXTENSION/);

  // Ctrl-C reaches farmhand once, through the executable: the demo stops cleanly.
  const demo = spawn(node, [CLI, "demo"], { cwd: ROOT, env: { ...process.env, FARMHAND_HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  demo.stdout!.on("data", (d) => (out += d));
  demo.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => demo.on("exit", (code) => resolve(code)));
  assert.ok(await waitFor(() => out.includes("serving; Ctrl-C to stop"), 30_000, 50), out);
  demo.kill("SIGINT");
  assert.is(await exited, 0, out);
  assert.match(out, /stopped\n/);

  // A copy of the executable with no Node 24 anywhere near it says what to do.
  const lone = mkdtempSync(path.join(os.tmpdir(), "farmhand-lone-"));
  try {
    mkdirSync(path.join(lone, "src"));
    copyFileSync(CLI, path.join(lone, "src/farmhand.mjs"));
    const r = spawnSync(node, [path.join(lone, "src/farmhand.mjs"), "status"], { encoding: "utf8", cwd: lone });
    assert.is(r.status, 1);
    assert.match(r.stderr, /^farmhand needs Node\.js 24 or newer .*this is Node v\d+/);
    assert.match(r.stderr, /npm ci/);
    assert.match(r.stderr, /npm install -D node@24/);
    assert.not.match(r.stderr, /ERR_UNKNOWN_FILE_EXTENSION|at /);
  } finally {
    rmSync(lone, { recursive: true, force: true });
  }
});

test.run();
