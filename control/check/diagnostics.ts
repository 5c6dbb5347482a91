// The compiler's diagnostics, read and said in one line. tsc prints each error as a head line with a
// position and a chain of indented lines, and names types in full, so that a wrong import can take a
// page (`Endpoint<Contract<"payments@1", { readonly pay: { readonly method: "POST"; ... } }>>`). The
// first stage of `farmhand check` shows a line per error that says what is wrong in farmhand's terms
// (the import, the contract ids, the missing `await`), and the compiler's own text after all of them.

import path from "node:path";

/** One error as `tsc --pretty false` prints it. */
export interface Diagnostic {
  /** Absolute path, or "" for an error that names no file (a configuration error). */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** "TS2322". */
  readonly code: string;
  /** The head line's message. */
  readonly message: string;
  /** The indented lines that follow it (the chain, and related information), as printed. */
  readonly detail: readonly string[];
}

/** Parses `tsc --pretty false` output: "file(line,col): error TSxxxx: message" plus indented follow-up lines. */
export function parseDiagnostics(output: string, cwd: string): Diagnostic[] {
  const diagnostics: { file: string; line: number; column: number; code: string; message: string; detail: string[] }[] = [];
  for (const line of output.split(/\r?\n/)) {
    const located = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line);
    if (located !== null) {
      diagnostics.push({ file: path.resolve(cwd, located[1]), line: Number(located[2]), column: Number(located[3]), code: located[4], message: located[5], detail: [] });
      continue;
    }
    const unlocated = /^error (TS\d+): (.*)$/.exec(line);
    if (unlocated !== null) {
      diagnostics.push({ file: "", line: 0, column: 0, code: unlocated[1], message: unlocated[2], detail: [] });
      continue;
    }
    if (/^\s+\S/.test(line) && diagnostics.length > 0) diagnostics[diagnostics.length - 1].detail.push(line.trim());
  }
  return diagnostics;
}

/** The diagnostic as tsc printed it (head line and chain), its path relative to `cwd`. */
export function formatDiagnostic(d: Diagnostic, cwd: string): string {
  const where = d.file === "" ? "" : `${relativePath(d.file, cwd)}(${d.line},${d.column}): `;
  return [`${where}error ${d.code}: ${d.message}`, ...d.detail.map((l) => `  ${l}`)].join("\n");
}

/** A path as a message shows it: relative to `cwd` when it lies below it. */
export function relativePath(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

// ---- types, shortened ------------------------------------------------------------------------------

/** The index of the `>` that closes the `<` at `open`, or -1; brackets and quotes inside are skipped. */
function closing(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return -1;
      i = end;
    } else if (c === "<" || c === "{" || c === "(" || c === "[") depth++;
    else if (c === ">" || c === "}" || c === ")" || c === "]") {
      if (--depth === 0) return c === ">" ? i : -1;
    }
  }
  return -1;
}

/**
 * Types as a reader wants them: `Contract<"payments@1", {...}>` as `payments@1`, `Role<"orders", ...>`
 * as `orders`, `ImportsOf<orders>` as `the imports of orders`, TypeBox schemas dropped with their contract.
 */
export function shortenTypes(text: string): string {
  let out = text;
  for (const head of ["Contract", "Role", "RoutedContract"]) {
    for (let guard = 0; guard < 200; guard++) {
      const at = out.search(new RegExp(`\\b${head}<`));
      if (at < 0) break;
      const open = at + head.length;
      const close = closing(out, open);
      const inner = close < 0 ? out.slice(open + 1) : out.slice(open + 1, close);
      const id = /^\s*"([^"]*)"/.exec(inner)?.[1] ?? head.toLowerCase();
      out = `${out.slice(0, at)}${id}${close < 0 ? "" : out.slice(close + 1)}`;
    }
  }
  return out
    .replace(/\bImportsOf<([^<>]*)>/g, "the imports of $1")
    .replace(/\s+/g, " ");
}

/** A message cut to one readable line. */
function oneLine(text: string, max = 200): string {
  const s = shortenTypes(text).trim();
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

// ---- one line per diagnostic ------------------------------------------------------------------------

/** The source line a diagnostic points into, and the text from its column on. */
export interface SourceAt {
  readonly lineText: string;
  readonly fromColumn: string;
}

const FARMHAND_SENTENCE = /"farmhand: ((?:[^"\\]|\\.)*)"/;
const ID = String.raw`(route\([^"]*\)|[a-z][a-z0-9-]*@\d+)`;
const ID_MISMATCH = new RegExp(`Type '"${ID}"' is not assignable to type '"${ID}"'`, "g");
/** The errors a script gets when the compiler reads it as CommonJS (it is outside a "type": "module" package). */
export const COMMONJS_CODES = new Set(["TS1295", "TS1287", "TS1470", "TS1309", "TS1479", "TS1343", "TS1378", "TS1323", "TS2823"]);

/** The bracket that encloses a position on its line ("{", "(", "["), or null. */
function enclosing(source: SourceAt): string | null {
  const before = source.lineText.slice(0, source.lineText.length - source.fromColumn.length);
  let depth = 0;
  for (let i = before.length - 1; i >= 0; i--) {
    const c = before[i];
    if (c === "}" || c === ")" || c === "]") depth++;
    else if (c === "{" || c === "(" || c === "[") {
      if (depth === 0) return c;
      depth--;
    }
  }
  return null;
}

/** The object-literal key at a position (`payments: x` -> "payments", or a shorthand `{ orders }`), if the position is one. */
function keyAt(source: SourceAt | null): string | null {
  if (source === null) return null;
  const m = /^(?:"([^"]+)"|'([^']+)'|([A-Za-z_$][\w$]*))\s*(:|(?=[,}]))/.exec(source.fromColumn);
  if (m === null || (m[4] !== ":" && enclosing(source) !== "{")) return null;
  return m[1] ?? m[2] ?? m[3];
}

/** The combinator called last before a position on its line (`farm.vm(`, `.balance<C>(`), if any. */
function combinatorAt(source: SourceAt | null): string | null {
  if (source === null) return null;
  const before = source.lineText.slice(0, source.lineText.length - source.fromColumn.length + 1);
  const calls = [...before.matchAll(/\.(vm|replicate|balance|failover|route|rewire|heal|autoscale)\s*[<(]/g)];
  return calls.length === 0 ? null : calls[calls.length - 1][1];
}

/** The roles a type names (`ImportsOf<Role<"orders", ...>>`), in order. */
function rolesIn(text: string): string[] {
  return [...new Set([...text.matchAll(/Role<"([^"]+)"/g)].map((m) => m[1]))];
}

const RESERVED = new Set(["id", "role", "name", "address", "labels"]);

/**
 * One line saying what a diagnostic means, without its position: a refusal of farmhand's types by its
 * own sentence, a contract mismatch as "wants payments@1, got inventory@1" (with the import's name
 * when the error points at one), a Promise where a VM or endpoint is wanted as a missing await, and
 * anything else as the compiler's first line with its types shortened.
 */
export function summarize(d: Diagnostic, source: SourceAt | null): string {
  const all = [d.message, ...d.detail].join("\n");
  const sentence = FARMHAND_SENTENCE.exec(all);
  // A Promise given where a farmhand refusal stands is refused for what it is: the await is missing.
  if (sentence !== null && !/^(?:Argument of type|Type) 'Promise</m.test(all)) return sentence[1].replace(/\\"/g, '"');

  const call = combinatorAt(source);
  if (call === "autoscale" || (/^No overload matches this call/.test(d.message) && /\[policyRole\]|AutoscaleOptions/.test(all))) {
    const madeFor = /Types of property '\[policyRole\]' are incompatible\.\s*Type '"([^"]+)"' is not assignable/.exec(all);
    if (madeFor !== null) return `autoscale: the policy was made for role ${madeFor[1]}'s groups, not for this group's role`;
    if (/Argument of type '\{[^']*\bmin: number;[^']*' is not assignable to parameter of type 'never'/.test(all)) return "autoscale: min is above max";
  }
  // At a property of an object literal, or (for an object built beforehand) named by the chain.
  const key = keyAt(source) ?? (call === "vm" || call === "replicate" ? /Types of property '([^']+)' are incompatible/.exec(all)?.[1] ?? null : null);
  const roles = rolesIn(all);
  const imported = key !== null && (call === "vm" || call === "replicate");
  // Who the error is about: "orders: import payments", "import payments", "route part "/x"", or a key.
  const subject = imported ? `${roles.length === 1 ? `${roles[0]}: ` : ""}import ${key}`
    : key !== null && call === "route" ? `route: part ${JSON.stringify(key)}`
    : key;
  const about = (s: string) => (subject === null ? `${call === null ? "" : `${call}: `}this ${s}` : `${subject} ${s}`);

  if (/(?:Type|Argument of type|on type) 'Promise<(?:Vm|Endpoint|AnyVm)/.test(all) || /\bPromise<(?:Vm|Endpoint)<[^']*' is (?:not assignable|missing)/.test(all)) {
    // `pay.api` where pay is a Promise: the error is at `api`; the Promise is what comes before it.
    const before = source === null ? null : /([A-Za-z_$][\w$]*)\s*\??\.\s*$/.exec(source.lineText.slice(0, source.lineText.length - source.fromColumn.length));
    if (before !== null && d.code === "TS2339") return `${before[1]} is a Promise: an await is missing where it is made`;
    return about("is a Promise where a VM or an endpoint is wanted: an await is missing where it is made");
  }
  if (/^Argument of type 'any' is not assignable to parameter of type 'never'/.test(d.message)) {
    return about("is typed any, so it cannot be checked: give it its type (an endpoint of one contract, the role's imports)");
  }
  const otherRole = /Type 'Vm<Role<"([^"]+)"[^']*' is not assignable to type 'Vm<AnyRole & Role<"([^"]+)"/.exec(all);
  if (otherRole !== null) {
    const [, got, wanted] = otherRole;
    if (call === "autoscale") return `autoscale: a VM of role ${got} among VMs of role ${wanted}; a group is replicas of one role`;
    if (call === "rewire") return `rewire: the VM is of one of several roles (${wanted}, ${got}); give a VM of one role`;
    return about(`is a VM of role ${got}, where one of role ${wanted} is wanted`);
  }
  if (/^Type '(?:Endpoint<|AnyEndpoint)[^]*' is missing the following properties from type '(?:AnyVm|Vm<)/.test(d.message)) {
    return about("is an endpoint, where a VM handle is wanted");
  }
  const unknownContract = /Type 'AnyContract' is not assignable to type 'Contract<"([^"]+)"/.exec(all);
  if (unknownContract !== null) return about(`has no contract the type checker knows (typed AnyEndpoint or Endpoint), where ${unknownContract[1]} is wanted`);
  if (/Type 'undefined' is not assignable to type 'Endpoint</.test(all)) return about("may be undefined (optional, Partial, or from a condition); every import needs an endpoint");
  const names = /^Argument of type 'string' is not assignable to parameter of type '((?:"[^"]+"(?: \| )?)+)'/.exec(d.message);
  if (names !== null && call === "rewire") return `rewire: the import's name is a string the type checker cannot tell; name one of ${names[1].replace(/"/g, "").split(" | ").join(", ")}`;
  const mismatches = [...all.matchAll(ID_MISMATCH)];
  if (mismatches.length > 0) {
    const [, got, wanted] = mismatches[mismatches.length - 1];
    if (call === "balance" && !imported) return `balance: an endpoint of ${got} among endpoints of ${wanted}; a balancer serves one contract`;
    if (call === "failover" && !imported) return `failover: the backup serves ${got}, the primary ${wanted}; they serve one contract`;
    if (call === "rewire" && !imported) return `rewire: the import wants ${wanted}, got ${got}`;
    return about(`wants ${wanted}, got ${got}`);
  }
  if (d.code === "TS2322" && key !== null && RESERVED.has(key) && /is not assignable to type 'undefined'/.test(d.message)) {
    return `provides ${key}: a name a VM handle uses itself (${[...RESERVED].join(", ")}); give the endpoint another`;
  }
  const contractGiven = /^Type 'Contract<"([^"]+)"[^]*' is not assignable to type '(?:AnyEndpoint|Endpoint<)/.exec(d.message);
  if (contractGiven !== null) return about(`is the contract ${contractGiven[1]}, where an endpoint is wanted: give an endpoint that serves it`);
  const missing = /^Property '([^']+)' is missing in type '(.*)' but required in type '(.*)'\.?$/.exec(d.message);
  if (missing !== null) {
    const [, name, from, to] = missing;
    if (name === "#contract" || /^\[/.test(name)) {
      // The type as tsc cut it ("...") says less than nothing; whole, it shows what was built.
      const shown = from.includes("...") ? "" : ` (${oneLine(from, 80)})`;
      return about(`is not ${name === "#contract" ? "an endpoint" : "a VM handle"} the farm made: built by hand or copied${shown}`);
    }
    if (/^ImportsOf</.test(to)) return `${rolesIn(to)[0] ?? "the role"}: import ${name} is missing`;
    // An image's code: the service kit wants a handler per operation of the contract it provides.
    const handlers = /^Handlers<Contract<"([^"]+)"/.exec(to);
    if (handlers !== null) return `no handler for operation ${name} of ${handlers[1]}`;
    return oneLine(`${name} is missing (${to} requires it)`);
  }
  const missingHandlers = /is missing the following properties from type 'Handlers<Contract<"([^"]+)"[^']*': (.*)$/m.exec(all);
  if (missingHandlers !== null) return `no handlers for operations ${missingHandlers[2].replace(/\.$/, "")} of ${missingHandlers[1]}`;
  const missingImports = /is missing the following properties from type 'ImportsOf<Role<"([^"]+)"[^']*': (.*)$/m.exec(all);
  if (missingImports !== null) return `${missingImports[1]}: imports ${missingImports[2]} are missing`;
  const several = /^Type '(.*)' is missing the following properties from type '(Endpoint<.*)': (.*)$/.exec(d.message);
  if (several !== null) {
    const what = /^Vm</.test(several[1]) ? "is a VM, where an endpoint is wanted: give one of its endpoints (vm.api)"
      : /^Contract</.test(several[1]) ? "is a contract, where an endpoint is wanted: give an endpoint that serves it"
      : `is not an endpoint (${oneLine(several[1], 80)})`;
    return about(what);
  }
  const excess = /^Object literal may only specify known properties,(?: but| and) '([^']+)' does not exist in type '(.*?)'(?:\. Did you mean to write '([^']+)'\?)?\.?$/.exec(d.message);
  if (excess !== null && /^ImportsOf</.test(excess[2])) {
    const named = rolesIn(excess[2]);
    if (/\| Role</.test(excess[2]) || named.length > 1) return `${excess[1]}: the role here is one of several, whose imports differ: give imports that fit each`;
    const suggestion = excess[3] === undefined ? "" : ` (did you mean ${excess[3]}?)`;
    return `${named[0] ?? "the role"}: ${excess[1]} is not one of its imports${suggestion}`;
  }
  const name = /^Argument of type '"([^"]+)"' is not assignable to parameter of type '(never|"[^']*)'/.exec(d.message);
  if (name !== null && call === "rewire") {
    return name[2] === "never" ? `rewire: the VM's role has no imports, so none named ${name[1]}` : `rewire: ${name[1]} is not an import of the VM's role (it has ${name[2].replace(/"/g, "")})`;
  }
  const operation = /^Property '([^']+)' does not exist on type '\{ readonly [^']*method: /.exec(d.message);
  if (operation !== null) return `${operation[1]} is not an operation of this contract`;
  const module = /^Cannot find module '([^']+)'/.exec(d.message);
  if (module !== null) return `cannot find module ${module[1]}: no such file, or no package of that name`;
  return oneLine(d.message);
}
