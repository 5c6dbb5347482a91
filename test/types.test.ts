// The wiring corpus (test/types): correct farm scripts compile, each mis-wired one reports exactly the
// errors it marks with "// @expect TSxxxx", and the checker itself notices a fail case that compiles.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { summarize } from "../control/check/diagnostics.ts";
import { WiringError } from "../control/errors.ts";
import { planFarm } from "../control/model/recorder.ts";
import { PaymentService } from "./types/fixtures.ts";
import { checkFail, checkPass, corpusFiles, failDir, formatReport, parseDiagnostics, parseExpectations, root, typecheck, typesDir, type CorpusReport } from "./types/check.ts";

const fail = checkFail();
const fixturesImport = path.join(typesDir, "fixtures.ts");

function problems(report: CorpusReport): string {
  return formatReport("report", report);
}

test("the pass corpus compiles with no error", () => {
  const report = checkPass();
  assert.ok(report.files.length >= 28, `only ${report.files.length} pass scripts`);
  assert.ok(report.ok, problems(report));
});

test("the fail corpus has at least 100 cases and nothing wrong outside them", () => {
  assert.ok(fail.files.length >= 100, `only ${fail.files.length} fail scripts`);
  assert.equal(fail.global, [], problems(fail));
});

for (const file of corpusFiles(failDir)) {
  const name = path.relative(root, file);
  test(`fail: ${path.basename(file, ".ts")} reports exactly its expected errors`, () => {
    const report = fail.files.find((f) => f.file === name);
    assert.ok(report !== undefined, `${name} was not checked`);
    assert.ok(report.ok, report.problems.join("\n"));
  });
}

test("farmhand check says each of the corpus's errors in one short line, without expanded types", () => {
  const { diagnostics } = typecheck(failDir);
  assert.ok(diagnostics.length >= 100);
  for (const d of diagnostics) {
    const lineText = readFileSync(d.file, "utf8").split("\n")[d.line - 1] ?? "";
    const said = summarize(d, { lineText, fromColumn: lineText.slice(d.column - 1) });
    const where = `${path.relative(root, d.file)}:${d.line}`;
    assert.ok(said.length <= 200 && !said.includes("\n"), `${where}: ${said}`);
    assert.not.match(said, /TObject<|readonly method|Contract<"/, `${where}: ${said}`);
    // The compiler's own openings say nothing of farmhand's terms: each is said in its words instead.
    assert.not.match(said, /^(?:No overload matches|Argument of type|Type ')/, `${where}: ${said}`);
  }
});

test("route prefixes: the types refuse a character exactly when the run against the plan does", async () => {
  // Each printable ASCII character, and a few beyond, inside a prefix; a type error on a line is the
  // types refusing it, a WiringError for it the run refusing it.
  const characters = [...Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)), "\t", "é", "€"];
  const prefixes = characters.map((c) => `/a${c}b`);
  const dir = mkdtempSync(path.join(tmpdir(), "farmhand-types-prefixes-"));
  try {
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
    const header = [
      `import { farm, PaymentService } from ${JSON.stringify(fixturesImport)};`,
      "const pay = await farm.vm(PaymentService, {});",
    ];
    writeFileSync(path.join(dir, "prefixes.ts"), [...header, ...prefixes.map((p) => `await farm.route({ ${JSON.stringify(p)}: pay.api });`), ""].join("\n"));
    const { diagnostics, output } = typecheck(dir);
    const refusedByTypes = new Set(diagnostics.filter((d) => d.file.endsWith("prefixes.ts")).map((d) => prefixes[d.line - header.length - 1]));
    assert.ok(!refusedByTypes.has(undefined as unknown as string), output);

    const refusedByRun = new Set<string>();
    const farm = planFarm("prefixes", { onMistake: (m) => { if (m instanceof WiringError) refusedByRun.add(JSON.parse(m.field.replace(/^prefix /, ""))); } });
    const payments = await farm.vm(PaymentService, {});
    for (const p of prefixes) await (farm as unknown as { route(parts: object): Promise<unknown> }).route({ [p]: payments.api });

    assert.equal([...refusedByTypes].sort(), [...refusedByRun].sort());
    for (const ok of ["/a:b", "/a@b", "/a%b", "/a~b"]) assert.not.ok(refusedByRun.has(ok), ok);
    for (const bad of ["/a b", "/a?b", "/a#b", "/aéb"]) assert.ok(refusedByRun.has(bad), bad);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("markers and tsc output are parsed as documented", () => {
  const expected = parseExpectations("a\n// @expect TS2322\nb\n  //   @expect TS2345 TS2322\nc\n// @expect\nd\n");
  assert.equal([...expected], [[3, ["TS2322"]], [5, ["TS2345", "TS2322"]], [7, ["(no code)"]]]);
  const diagnostics = parseDiagnostics("test/x.ts(3,7): error TS2322: Type 'a' is not assignable to type 'b'.\n  Type 'a' ...\nerror TS5083: Cannot read file 'x'.\n");
  assert.is(diagnostics.length, 2);
  assert.equal({ ...diagnostics[0], message: "" }, { file: path.join(root, "test/x.ts"), line: 3, column: 7, code: "TS2322", message: "", detail: ["Type 'a' ..."] });
  assert.equal(diagnostics[1].file, "");
});

test("the checker catches a mistake: a missing error, a wrong code, an unmarked error, a marker-less file", () => {
  // A scratch corpus outside the repository (a "type": "module" package, as the repository is).
  const dir = mkdtempSync(path.join(tmpdir(), "farmhand-types-scratch-"));
  try {
    mkdirSync(path.join(dir, "cases"));
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
    const header = `import { farm, InventoryService, OrderService, PaymentService, WebFrontend } from ${JSON.stringify(fixturesImport)};\n` +
      `const pay = await farm.vm(PaymentService, {});\nconst inv = await farm.vm(InventoryService, {});\n`;
    // Line 5 is correct wiring, so its marker names an error that never comes.
    writeFileSync(path.join(dir, "cases", "no-error.ts"), `${header}// @expect TS2322\nawait farm.vm(OrderService, { payments: pay.api, inventory: inv.api });\n`);
    // The right line, the wrong code (a missing import is TS2741).
    writeFileSync(path.join(dir, "cases", "wrong-code.ts"), `${header}// @expect TS2322\nawait farm.vm(OrderService, { payments: pay.api });\n`);
    // A second, unmarked mistake on line 6.
    writeFileSync(path.join(dir, "cases", "unmarked.ts"), `${header}// @expect TS2322\nawait farm.vm(WebFrontend, { orders: pay.api });\nawait farm.vm(WebFrontend, { orders: inv.api });\n`);
    // No marker at all.
    writeFileSync(path.join(dir, "cases", "no-marker.ts"), `${header}await farm.vm(WebFrontend, { orders: pay.api });\n`);
    // And one that is right, to see the checker accept it.
    writeFileSync(path.join(dir, "cases", "right.ts"), `${header}// @expect TS2322\nawait farm.vm(WebFrontend, { orders: pay.api });\n`);

    const report = checkFail(path.join(dir, "cases"));
    const text = formatReport("scratch", report);
    const of = (base: string) => report.files.find((f) => f.file.endsWith(`${base}.ts`))!;
    assert.not.ok(report.ok, text);
    assert.equal(report.global, [], text);
    assert.ok(of("right").ok, text);
    assert.match(of("no-error").problems.join("\n"), /no-error\.ts:5: expected error TS2322 not reported \(expected TS2322, got none\)/);
    assert.match(of("wrong-code").problems.join("\n"), /wrong-code\.ts:5: expected error TS2322 not reported \(expected TS2322, got TS2741\)/);
    assert.match(of("wrong-code").problems.join("\n"), /wrong-code\.ts:5:\d+: unexpected error TS2741 \(expected TS2322\)/);
    assert.match(of("unmarked").problems.join("\n"), /unmarked\.ts:6:\d+: unexpected error TS2322 \(no error expected here\)/);
    assert.is(of("unmarked").problems.length, 1, text);
    assert.match(of("no-marker").problems.join("\n"), /no "\/\/ @expect TSxxxx" marker/);

    // And the pass check reports an error in a script that should compile.
    const passReport = checkPass(path.join(dir, "cases"));
    assert.not.ok(passReport.ok);
    assert.match(formatReport("scratch", passReport), /unexpected error TS2322/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
