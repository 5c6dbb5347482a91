// The type checker's shared incremental record (control/check/compile.ts) under checks run at once:
// several processes compiling into one shared folder at the same time each get their own verdict,
// the record is never half-written or half-read, the next checks start from it and still see a file
// that changed, and a damaged record, a killed check's folder or a folder others may write to do no
// harm.

import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compile, RECORD } from "../control/check/compile.ts";
import { ROOT } from "./helpers/farm-cli.ts";

interface ChildVerdict {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly ok: boolean;
  readonly warm: boolean;
  readonly errors: readonly string[];
}

const compileModule = pathToFileURL(path.join(ROOT, "control/check/compile.ts")).href;

/** One `compile` in a process of its own, as a `farmhand check` in another terminal would run it. */
function compileInChild(cacheDir: string, file: string, generated: Record<string, string>): Promise<ChildVerdict> {
  const program = [
    `import { compile } from ${JSON.stringify(compileModule)};`,
    "const [cacheDir, file, generated] = JSON.parse(process.argv[1]);",
    "const startedAt = Date.now();",
    "const c = compile({ files: [file], generated, cacheDir });",
    "const errors = c.diagnostics.map((d) => `${d.file.split('/').pop()}:${d.line} ${d.code}`);",
    "process.stdout.write(JSON.stringify({ startedAt, endedAt: Date.now(), ok: c.ok, warm: c.warm, errors }));",
  ].join("\n");
  const child = spawn(process.execPath, ["--input-type=module", "-e", program, JSON.stringify([cacheDir, file, generated])], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  return new Promise((resolve, reject) => child.on("close", (code) => {
    try {
      resolve(JSON.parse(out) as ChildVerdict);
    } catch {
      reject(new Error(`compile in a child exited ${code}:\n${out}\n${err}`));
    }
  }));
}

/** A scratch "type": "module" package with a script that compiles and one that does not. */
function scratch(): { dir: string; good: string; bad: string; cache: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-check-cache-"));
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
  const good = path.join(dir, "good.ts");
  const bad = path.join(dir, "bad.ts");
  writeFileSync(good, 'export const port: number = 8080;\nexport const host: string = "127.0.0.1";\n');
  writeFileSync(bad, 'export const port: number = 8080;\nexport const host: number = "127.0.0.1";\n');
  return { dir, good, bad, cache: path.join(dir, "cache") };
}

/** The generated source beside a script: it imports the script, so a change there reaches it. */
const wrapper = (file: string, type: string) => ({ "uses.ts": `import { port } from ${JSON.stringify(file)};\nexport const p: ${type} = port;\n` });

/** The shared folder holds the record, whole, and nothing else once no check runs. */
function assertTidy(cache: string): void {
  assert.equal(readdirSync(cache), [RECORD]);
  const record = JSON.parse(readFileSync(path.join(cache, RECORD), "utf8")) as { version?: unknown };
  assert.type(record.version, "string");
}

test("checks run at once each get their verdict, and leave one whole record the next ones start from", async () => {
  const { dir, good, bad, cache } = scratch();
  try {
    const round = () => Promise.all([
      compileInChild(cache, good, wrapper(good, "number")),
      compileInChild(cache, bad, wrapper(bad, "number")),
      compileInChild(cache, good, wrapper(good, "string")),
      compileInChild(cache, bad, wrapper(bad, "number")),
    ]);
    const expected = [[], ["bad.ts:2 TS2322"], ["uses.ts:2 TS2322"], ["bad.ts:2 TS2322"]];

    const first = await round();
    assert.equal(first.map((v) => v.errors), expected);
    assert.equal(first.map((v) => v.ok), [true, false, false, false]);
    // They did run at once: each started before any had finished.
    assert.ok(Math.max(...first.map((v) => v.startedAt)) < Math.min(...first.map((v) => v.endedAt)), JSON.stringify(first));
    assertTidy(cache);

    const second = await round();
    assert.equal(second.map((v) => v.errors), expected);
    assert.ok(second.every((v) => v.warm), "the second round starts from the record");
    assertTidy(cache);

    // A file that changed is read again, record or not: the good script now fails, the bad one passes.
    writeFileSync(good, 'export const port: number = "8080";\n');
    writeFileSync(bad, "export const port: number = 8080;\n");
    const third = await Promise.all([compileInChild(cache, good, wrapper(good, "number")), compileInChild(cache, bad, wrapper(bad, "number"))]);
    assert.equal(third.map((v) => v.errors), [["good.ts:1 TS2322"], []]);
    assert.ok(third.every((v) => v.warm));
    assertTidy(cache);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a damaged record, a killed check's folder and an older farmhand's files do no harm and go", () => {
  const { dir, good, bad, cache } = scratch();
  try {
    mkdirSync(cache, { mode: 0o700 });
    // Half a record, as a writer killed mid-write would leave it (were it written in place).
    writeFileSync(path.join(cache, RECORD), '{"version":"7.0.2","root":[1,');
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    const killed = path.join(cache, `run-${dead}-0123456789ab`);
    const running = path.join(cache, `run-${process.pid}-ba9876543210`);
    for (const d of [killed, running, path.join(cache, "lock")]) mkdirSync(d);
    writeFileSync(path.join(cache, "tsconfig.json"), "{}");

    const c = compile({ files: [bad], cacheDir: cache });
    assert.equal(c.diagnostics.map((d) => `${path.basename(d.file)}:${d.line} ${d.code}`), ["bad.ts:2 TS2322"]);
    assert.ok(c.warm, "it started from what was there, and the compiler set it aside");
    // The folder of this (running) process stays; the rest goes, and the record is whole again.
    assert.equal(readdirSync(cache).sort(), [RECORD, path.basename(running)].sort());
    rmSync(running, { recursive: true });
    assertTidy(cache);
    assert.ok(compile({ files: [good], cacheDir: cache }).ok);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a shared folder that others may write to is not used", () => {
  const { dir, good, bad, cache } = scratch();
  try {
    mkdirSync(cache);
    chmodSync(cache, 0o777);
    const c = compile({ files: [bad], cacheDir: cache });
    assert.not.ok(c.ok);
    assert.not.ok(c.warm);
    assert.equal(readdirSync(cache), []);
    // Without a cache, nothing is left anywhere either: the run folder is the check's alone.
    assert.ok(compile({ files: [good], cache: false }).ok);
    assert.not.ok(existsSync(path.join(cache, RECORD)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
