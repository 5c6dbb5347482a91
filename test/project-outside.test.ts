// A farm project written outside this repository, as a user makes one: `farmhand init`, then
// `farmhand new-image`, `gen`, `check`, `up`, traffic through its balancer, `status`, `down`. Farmhand
// is installed the way npm installs a package: a copy of its files in the project's
// node_modules/farmhand (its dependencies beside them), where Node refuses to strip TypeScript types
// by itself; the executable is node_modules/.bin/farmhand. A second project links farmhand instead
// (a `file:` dependency on this clone, as `farmhand init` writes by default, which npm installs as a
// link); `--farmhand PATH` names another checkout the same way.
// Nothing outside the project's folder and the test's farmhand home is written.

import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { Compile } from "typebox/schema";
import type { FarmView } from "../control/ops/farm-view.ts";
import { ROOT, newHome } from "./helpers/farm-cli.ts";

/** The files of the farmhand package (what npm pack puts in it that the tests need). */
const PACKAGE_FILES = ["package.json", "tsconfig.json", "LICENSE", "src", "control", "native-free-core", "schema"];

let base = "";
let home = "";

test.before(() => {
  base = mkdtempSync(path.join(os.tmpdir(), "farmhand-outside-"));
  home = newHome();
});
test.after(() => {
  rmSync(base, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The project's own `farmhand` executable (node_modules/.bin/farmhand), in the project's folder. */
function farmhandIn(project: string, args: readonly string[]): Run {
  const run = spawnSync(process.execPath, [path.join(project, "node_modules/.bin/farmhand"), ...args], {
    cwd: project,
    encoding: "utf8",
    timeout: 150_000,
    env: { ...process.env, FARMHAND_HOME: home },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** node_modules/farmhand as npm lays out an installed package, and its .bin link. */
function install(project: string, how: "copy" | "link"): void {
  const modules = path.join(project, "node_modules");
  mkdirSync(path.join(modules, ".bin"), { recursive: true });
  const target = path.join(modules, "farmhand");
  if (how === "link") symlinkSync(ROOT, target, "dir");
  else {
    mkdirSync(target);
    for (const f of PACKAGE_FILES) if (existsSync(path.join(ROOT, f))) cpSync(path.join(ROOT, f), path.join(target, f), { recursive: true });
    // Its dependencies, and the project's development tools (typescript, @types/node), where npm
    // would put them for a package whose versions differ from the project's: its own node_modules.
    symlinkSync(path.join(ROOT, "node_modules"), path.join(target, "node_modules"), "dir");
  }
  symlinkSync("../farmhand/src/farmhand.mjs", path.join(modules, ".bin/farmhand"));
}

test("init, new-image, gen, check, up, traffic, status and down, with farmhand installed under node_modules", async () => {
  const project = path.join(base, "shop");
  const init = spawnSync(process.execPath, [path.join(ROOT, "src/farmhand.mjs"), "init", project, "--farmhand", "^0.1.0"], { encoding: "utf8" });
  assert.is(init.status, 0, init.stderr);
  assert.match(init.stdout, /next:\n  cd .*shop\n  npm install\n  npx farmhand up farm\.ts\n/);
  const pkg = JSON.parse(readFileSync(path.join(project, "package.json"), "utf8"));
  assert.is(pkg.type, "module");
  // A version is written as given, with a word that npm finds it in whatever registry it uses.
  assert.is(pkg.dependencies.farmhand, "^0.1.0");
  assert.match(init.stdout, /^farmhand: \^0\.1\.0 \(for npm to resolve: farmhand is not on the public npm registry\)$/m);
  const readme = readFileSync(path.join(project, "README.md"), "utf8");
  assert.match(readme, /farmhand comes from `\^0\.1\.0`/);
  assert.not.match(readme, /npmjs/);
  assert.ok(pkg.devDependencies.node !== undefined, "Node 24 comes with the project");
  install(project, "copy");

  // The manifest points editors at the published schema, and the schema accepts it.
  const manifest = JSON.parse(readFileSync(path.join(project, "images/hello/farmhand.json"), "utf8"));
  const schemaFile = path.join(project, "images/hello", manifest.$schema);
  assert.ok(existsSync(schemaFile), schemaFile);
  assert.ok(Compile(JSON.parse(readFileSync(schemaFile, "utf8"))).Check(manifest));

  // A second image, then the environment again: every import is a package path.
  const image = farmhandIn(project, ["new-image", "greeter"]);
  assert.is(image.code, 0, image.stderr);
  assert.match(image.stdout, /next: npm run gen/);
  const gen = farmhandIn(project, ["gen", "--images-root", "images", "--out", "generated/environment.ts"]);
  assert.is(gen.code, 0, gen.stderr);
  assert.match(gen.stdout, /roles: +Greeter \(greeter, image \.\.\/images\/greeter\), Hello \(hello, image \.\.\/images\/hello\)/);
  const environment = readFileSync(path.join(project, "generated/environment.ts"), "utf8");
  assert.match(environment, /from "farmhand\/contracts";/);
  assert.not.match(environment, /from "\.\.?\//);

  const check = farmhandIn(project, ["check", "farm.ts"]);
  assert.is(check.code, 0, `${check.stdout}\n${check.stderr}`);

  const up = farmhandIn(project, ["up", "--detach", "farm.ts"]);
  assert.is(up.code, 0, `${up.stdout}\n${up.stderr}`);
  assert.match(up.stdout, /up: farm shop: created 3, adopted 0, restarted 0, rewired 0, removed 0/);

  // Traffic through the balancer reaches both replicas, each a VM running the project's server.
  const status = farmhandIn(project, ["status", "--json"]);
  assert.is(status.code, 0, status.stderr);
  const view = JSON.parse(status.stdout) as FarmView;
  const front = view.vms.find((v) => v.name === "hello-balancer-1")!.address!;
  const served = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const r = await request(`http://${front}/hello/world`);
    assert.is(r.statusCode, 200);
    const body = (await r.body.json()) as { greeting: string; servedBy: string };
    assert.is(body.greeting, "hello, world");
    served.add(body.servedBy);
  }
  assert.equal([...served].sort(), ["hello-1", "hello-2"]);
  const text = farmhandIn(project, ["status"]);
  assert.match(text.stdout, /^  127\.0\.\d+\.\d+:8080 +hello-\d +up +yes +active /m, text.stdout);

  const down = farmhandIn(project, ["down"]);
  assert.is(down.code, 0, down.stderr);
  assert.match(down.stderr, /farm shop removed/);
});

test("a project that links farmhand (a file: dependency) checks and generates the same way", () => {
  const project = path.join(base, "linked");
  const init = spawnSync(process.execPath, [path.join(ROOT, "src/farmhand.mjs"), "init", project], { encoding: "utf8" });
  assert.is(init.status, 0, init.stderr);
  // By default the project is wired to the clone init ran from, and its README says so: farmhand is
  // not on the npm registry, so nothing points there.
  const checkout = realpathSync(ROOT);
  assert.is(JSON.parse(readFileSync(path.join(project, "package.json"), "utf8")).dependencies.farmhand, `file:${checkout}`);
  assert.match(init.stdout, `farmhand: file:${checkout}\n`);
  const readme = readFileSync(path.join(project, "README.md"), "utf8");
  assert.match(readme, `farmhand comes from \`${checkout}\`: a \`file:\` dependency`);
  assert.not.match(readme, /npmjs|https?:/);
  install(project, "link");
  const gen = farmhandIn(project, ["gen", "--images-root", "images", "--out", "generated/environment.ts", "--check"]);
  assert.is(gen.code, 0, gen.stderr);
  const check = farmhandIn(project, ["check", "farm.ts"]);
  assert.is(check.code, 0, `${check.stdout}\n${check.stderr}`);
  // init refuses a folder that holds something; new-image refuses to overwrite.
  const again = spawnSync(process.execPath, [path.join(ROOT, "src/farmhand.mjs"), "init", project], { encoding: "utf8" });
  assert.is(again.status, 2);
  assert.match(again.stderr, /is not empty/);
  const twice = farmhandIn(project, ["new-image", "hello"]);
  assert.is(twice.code, 2);
  assert.match(twice.stderr, /already exists; nothing was written/);
});

test("init --farmhand PATH: another checkout, given relative or as file:, is written absolute; a folder that is none is refused", () => {
  const init = (dir: string, spec: string) => spawnSync(process.execPath, [path.join(ROOT, "src/farmhand.mjs"), "init", dir, "--farmhand", spec], { encoding: "utf8", cwd: base });
  const dependency = (dir: string) => JSON.parse(readFileSync(path.join(base, dir, "package.json"), "utf8")).dependencies.farmhand;
  const relative = path.relative(base, ROOT);
  for (const [dir, spec] of [["by-path", relative.startsWith(".") ? relative : `./${relative}`], ["by-file", `file:${relative}`]]) {
    const made = init(dir, spec);
    assert.is(made.status, 0, made.stderr);
    assert.is(dependency(dir), `file:${realpathSync(ROOT)}`, spec);
  }
  const none = init("refused", base);
  assert.is(none.status, 2, none.stderr);
  assert.match(none.stderr, /is not a farmhand checkout/);
  assert.not.ok(existsSync(path.join(base, "refused")), "nothing was written");
  const missing = init("missing", "./no-such-farmhand");
  assert.is(missing.status, 2, missing.stderr);
  assert.match(missing.stderr, /no-such-farmhand does not exist/);
});

test.run();
