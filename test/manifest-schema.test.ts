// schema/farmhand.schema.json, the published JSON Schema of farmhand.json that editors complete and
// check with (a manifest's "$schema" names it), agrees with the one manifest reader: every manifest
// in the repository that the reader accepts, the schema accepts; the mistakes an editor can see
// without reading other files (a bad name, method or schema keyword, a misspelt field), it refuses.
// The package exports it as farmhand/schema/farmhand.schema.json.

import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Compile } from "typebox/schema";
import { readManifest } from "../control/guest/manifest.ts";
import { ROOT } from "./helpers/farm-cli.ts";

const schema = JSON.parse(readFileSync(path.join(ROOT, "schema/farmhand.schema.json"), "utf8"));
const validator = Compile(schema);

/** Every folder holding a farmhand.json under these roots. */
function imageFolders(...roots: string[]): string[] {
  return roots.flatMap((r) => readdirSync(path.join(ROOT, r), { recursive: true }).map(String).filter((f) => path.basename(f) === "farmhand.json").map((f) => path.join(ROOT, r, path.dirname(f))));
}

test("every manifest the reader accepts, the schema accepts", async () => {
  const folders = imageFolders("examples", "control/images", "test/fixtures");
  let accepted = 0;
  for (const dir of folders) {
    const ok = await readManifest(dir, { requireContracts: false }).then(() => true, () => false);
    if (!ok) continue;
    accepted++;
    const manifest = JSON.parse(readFileSync(path.join(dir, "farmhand.json"), "utf8"));
    assert.ok(validator.Check(manifest), `${dir}: ${JSON.stringify([...validator.Errors(manifest)].slice(0, 3))}`);
  }
  assert.ok(accepted >= 8, `${accepted} manifests`);
});

test("the mistakes an editor can see, the schema refuses", () => {
  const good = JSON.parse(readFileSync(path.join(ROOT, "examples/order-processing/payments/farmhand.json"), "utf8")) as Record<string, any>;
  assert.ok(validator.Check(good));
  const op = good.contracts["payments@1"].operations.charge;
  const bad: [string, unknown][] = [
    ["a role name with a capital", { ...good, name: "Payments" }],
    ["no entry", { name: good.name, provides: good.provides }],
    ["a misspelt field", { ...good, requries: {} }],
    ["a contract id without a version", { ...good, provides: { api: "payments" } }],
    ["a reserved endpoint name", { ...good, provides: { id: "payments@1" } }],
    ["an unknown method", { ...good, contracts: { "payments@1": { operations: { charge: { ...op, method: "FETCH" } } } } }],
    ["a path without its slash", { ...good, contracts: { "payments@1": { operations: { charge: { ...op, path: "payments" } } } } }],
    ["a schema type farmhand cannot turn into TypeBox", { ...good, contracts: { "payments@1": { operations: { charge: { ...op, request: { type: "nul" } } } } } }],
  ];
  for (const [why, manifest] of bad) assert.not.ok(validator.Check(manifest), why);
  for (const f of ["bad-method", "bad-name", "unsupported-keyword"]) {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, "test/fixtures/gen", f, "farmhand.json"), "utf8"));
    assert.not.ok(validator.Check(manifest), f);
  }
});

test("the package exports it, and the manifests farmhand new-image writes point at it", () => {
  const require = createRequire(path.join(ROOT, "package.json"));
  assert.is(require.resolve("farmhand/schema/farmhand.schema.json"), path.join(ROOT, "schema/farmhand.schema.json"));
  assert.is(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.ok(typeof schema.properties.name.description === "string", "fields are described, for editors' hints");
});

test.run();
