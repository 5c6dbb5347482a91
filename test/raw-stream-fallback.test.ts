// The data plane's fallback I/O: where Node does not offer the stream_wrap binding (or with
// FARMHAND_RAW_STREAMS=off), every connection reads through 'data' events and writes through
// socket.write. The proxy's own test files run again on it, whole, and must pass as they do on
// the raw path: one suite, both implementations.

import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";

const here = import.meta.dirname;
const RAW_STREAM = path.join(here, "..", "native-free-core", "net", "raw-stream.ts");

function run(args: readonly string[], env: Record<string, string>) {
  return spawnSync(process.execPath, args, { env: { ...process.env, ...env }, encoding: "utf8", timeout: 120_000 });
}

test("FARMHAND_RAW_STREAMS=off turns the raw path off; without it, this Node has the raw path", () => {
  const probe = ["--input-type=module", "-e", `import { RAW_STREAMS } from ${JSON.stringify(RAW_STREAM)}; console.log(RAW_STREAMS);`];
  assert.is(run(probe, { FARMHAND_RAW_STREAMS: "off" }).stdout.trim(), "false");
  assert.is(run(probe, { FARMHAND_RAW_STREAMS: "" }).stdout.trim(), "true");
});

for (const file of ["proxy-http.test.ts", "proxy-smuggling.test.ts", "proxy-validation.test.ts", "proxy-slow-clients.test.ts"]) {
  test(`${file} passes on the fallback`, () => {
    const r = run([path.join(here, file)], { FARMHAND_RAW_STREAMS: "off" });
    assert.is(r.status, 0, `${file} on the fallback:\n${(r.stdout + r.stderr).slice(-3000)}`);
  });
}

test.run();
