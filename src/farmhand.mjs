#!/usr/bin/env node
// The `farmhand` executable. Plain JavaScript that any Node can read, on purpose: farmhand itself is
// TypeScript run by Node 24's type stripping, and this file makes sure that is what runs it.
//
// - On an older Node (the system's Node 20, say), it looks for a Node 24 that the project brought
//   (`npm ci` installs one into node_modules through the `node` devDependency; a project made by
//   `farmhand init` has one too) and runs farmhand under it; without one it says how to get one,
//   instead of dying with ERR_UNKNOWN_FILE_EXTENSION ".ts".
// - Installed as a package (under node_modules), Node refuses to strip the types of farmhand's own
//   files (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING): it then runs itself again with
//   strip-types-hook.mjs preloaded through NODE_OPTIONS, so this process, its worker threads and
//   every VM it starts (they inherit the environment) can load farmhand's modules.
// - It turns on Node's compile cache before any TypeScript is loaded, so that cached modules (the
//   CLI's, and every worker thread's) skip type stripping and its memory.
// Everything else lives in cli.ts.

import { spawn } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import module from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const NEEDED_MAJOR = 24;
const self = realpathSync(fileURLToPath(import.meta.url));
const root = path.dirname(path.dirname(self));
const hookUrl = pathToFileURL(path.join(root, "src", "strip-types-hook.mjs")).href;
const args = process.argv.slice(2);

const major = (version) => Number(String(version).replace(/^v/, "").split(".")[0]);

/** A Node of at least NEEDED_MAJOR that a project brought with it (the `node` package), or null. */
function broughtNode() {
  const places = [];
  for (let dir = root; ; dir = path.dirname(dir)) {
    places.push(path.join(dir, "node_modules", "node"));
    if (path.dirname(dir) === dir) break;
  }
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    places.push(path.join(dir, "node_modules", "node"));
    if (path.dirname(dir) === dir) break;
  }
  for (const place of places) {
    const binary = path.join(place, "bin", "node");
    try {
      const version = JSON.parse(readFileSync(path.join(place, "package.json"), "utf8")).version;
      if (major(version) >= NEEDED_MAJOR && existsSync(binary)) return binary;
    } catch {}
  }
  return null;
}

/** NODE_OPTIONS with the hook preloaded (once). */
function withHook(options = "") {
  return options.includes(hookUrl) ? options : `${options} --import=${hookUrl}`.trim();
}

const underNodeModules = root.split(path.sep).includes("node_modules");
const hooked = (process.env.NODE_OPTIONS ?? "").includes(hookUrl);

if (major(process.versions.node) < NEEDED_MAJOR) {
  const node = broughtNode();
  if (node === null) {
    process.stderr.write(
      `farmhand needs Node.js ${NEEDED_MAJOR} or newer (it runs its TypeScript with Node's type stripping); ` +
        `this is Node ${process.version} (${process.execPath}).\n` +
        `  in a clone of farmhand:  npm ci   (brings Node ${NEEDED_MAJOR} into node_modules), then npx farmhand ${args.join(" ")}\n` +
        `  in your own project:     npm install -D node@${NEEDED_MAJOR}   (farmhand then runs under it)\n` +
        `  or install Node ${NEEDED_MAJOR} itself: https://nodejs.org/ (or nvm install ${NEEDED_MAJOR})\n`,
    );
    process.exit(1);
  }
  // This Node cannot replace itself with another (process.execve is newer than it), so farmhand runs
  // as a child. The child gets a process group of its own: a Ctrl-C from the terminal then reaches
  // only this process, which passes each signal on exactly once (a second SIGINT would cut short
  // what the first one started, such as `start` removing its farm).
  const env = { ...process.env, ...(underNodeModules ? { NODE_OPTIONS: withHook(process.env.NODE_OPTIONS) } : {}) };
  const child = spawn(node, [self, ...args], { stdio: "inherit", env, detached: true });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]) {
    process.on(signal, () => {
      try {
        child.kill(signal);
      } catch {}
    });
  }
  child.on("error", (error) => {
    process.stderr.write(`farmhand: could not run ${node}: ${error.message}\n`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128 + (os.constants.signals[signal] ?? 15))));
} else if (underNodeModules && !hooked) {
  // The same process, started again with the hook: same pid, same terminal, nothing to forward.
  process.execve(process.execPath, [process.execPath, ...process.execArgv, self, ...args], {
    ...process.env,
    NODE_OPTIONS: withHook(process.env.NODE_OPTIONS),
  });
} else {
  module.enableCompileCache?.();
  const { run } = await import("./cli.ts");
  await run(args);
}
