// `farmhand proxy --check FILE`, like `nginx -t` and `haproxy -c`: a valid file gets a one-line
// summary and exit 0; an invalid one gets every error in it, each with the field's path as the file
// has it and the value found, and exit 1; nothing is started either way. `--config` with a bad file
// names the same errors.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ROOT, farmhand, newHome } from "./helpers/farm-cli.ts";

let dir = "";
let home = "";
test.before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "farmhand-proxy-check-"));
  home = newHome();
});
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

test("a valid file: a summary, exit 0", () => {
  const r = farmhand(home, ["proxy", "--check", path.join(ROOT, "examples/proxy-demo/proxy.yaml")]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^farmhand proxy --check: .*proxy\.yaml is valid: 2 listeners, 1 pool, 2 backends, 2 workers, admin API on 127\.0\.0\.1:\d+\n$/);
});

test("an invalid file: every error, with the paths the file has, then a count; exit 1", () => {
  const file = path.join(dir, "bad.yaml");
  writeFileSync(file, [
    "workers: 0",
    "listeners:",
    "  - { name: web, protocol: htp, address: 127.0.0.1, port: 8080, pool: web }",
    "  - { name: raw, protocol: tcp, port: 70000, pool: nowhere }",
    "pools:",
    "  - name: web",
    "    polcy: least-request",
    "    backends: [127.0.0.1:9001, { address: 127.0.0.1, port: 0 }]",
    "  - name: bad name!",
    "    backends: [127.0.0.1:9003]",
    "  - name: last",
    "    backends: [127.0.0.1:9004]",
    "    slowStartMs: -1",
    "admin: { address: 127.0.0.1, port: 9901, token: short }",
    "",
  ].join("\n"));
  const r = farmhand(home, ["proxy", "--check", file]);
  assert.is(r.code, 1);
  assert.is(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  const expected = [
    `${file}: workers: expected an integer between 1 and 256 (got 0)`,
    `${file}: pools[0].polcy: unknown field; did you mean "policy"? (got "least-request")`,
    `${file}: pools[0].backends[1].port: expected an integer between 1 and 65535 (got 0)`,
    `${file}: pools[1].name: expected 1 to 64 letters, digits, '_', '.' or '-' (got "bad name!")`,
    // After pools[1] is set aside, the next pool is still named as the file has it.
    `${file}: pools[2].slowStartMs:`,
    `${file}: listeners[0].protocol: expected one of "http", "tcp"; did you mean "http"? (got "htp")`,
    `${file}: listeners[1].port: expected an integer between 0 and 65535 (got 70000)`,
    `${file}: listeners[1].pool: no pool named "nowhere"`,
    `${file}: admin.token: the token must be at least 16 characters long`,
  ];
  for (const e of expected) assert.ok(lines.some((l) => l.startsWith(e)), `${e}\nin:\n${r.stderr}`);
  assert.is(lines.length, expected.length + 1, r.stderr);
  assert.is(lines.at(-1), `farmhand proxy --check: ${file} has ${expected.length} errors`);
  // What setting an error aside causes is not reported: no "is required", no "non-empty".
  assert.not.match(r.stderr, /is required|non-empty/);

  // Started with it, the proxy names the same errors, and starts nothing.
  const started = farmhand(home, ["proxy", "--config", file]);
  assert.is(started.code, 1);
  assert.is(started.stdout, "");
  assert.equal(started.stderr.trimEnd().split("\n").slice(0, -1), lines.slice(0, -1));
  assert.is(started.stderr.trimEnd().split("\n").at(-1), `farmhand proxy: ${file} is not a valid configuration; nothing was started`);
});

test("a file that does not parse: its one syntax error; --check and --config together: a usage error", () => {
  const r = farmhand(home, ["proxy", "--check", path.join(ROOT, "test/fixtures/cli/bad-yaml-syntax.yaml")]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /bad-yaml-syntax\.yaml: \(root\): invalid YAML at line 7, column 11/);
  assert.match(r.stderr, /has 1 error\n$/);
  const both = farmhand(home, ["proxy", "--check", path.join(ROOT, "examples/proxy-demo/proxy.yaml"), "--config", path.join(ROOT, "examples/proxy-demo/proxy.yaml")]);
  assert.is(both.code, 2);
  assert.match(both.stderr, /cannot be used with option '--check/);
});

test.run();
