// A contract's `pattern`, matched against an ASCII string's bytes where they lie, so that a scan
// need not make a string of every value it tests. Contracts' patterns are mostly a run of character
// classes with counts (`^[a-z][a-z0-9-]{0,31}$`, `^[A-Z]{3}-[0-9]{4}$`); those compile here. Any
// other pattern (groups, alternation, lookaround, backreferences, flags' subtleties) compiles to
// null and is left to RegExp, as is any string that is not plain ASCII.
//
// Semantics are RegExp's with the `u` flag, as TypeBox builds it, restricted to ASCII input: a
// match may start and end anywhere unless anchored by ^ and $, and `.` is any character but \n
// and \r.

/** One step of a pattern: a set of ASCII bytes, repeated between `min` and `max` times. */
interface Step {
  /** Byte b is in the set when bit (b & 31) of set[b >> 5] is on. */
  readonly set: Uint32Array;
  readonly min: number;
  readonly max: number;
}

/** Backtracking steps allowed before a match is handed to RegExp (a pathological pattern stays linear). */
const STEP_BUDGET = 4096;

export class AsciiPattern {
  readonly #steps: readonly Step[];
  #budget = 0;

  private constructor(steps: readonly Step[]) {
    this.#steps = steps;
  }

  /** The byte matcher of `source`, or null when the pattern is outside what it implements. */
  static compile(source: string): AsciiPattern | null {
    const steps = parse(source);
    return steps === null ? null : new AsciiPattern(steps);
  }

  /**
   * Whether `bytes[start..end)` (ASCII, each byte one character) matches: true or false, or
   * undefined when the match took more steps than it is allowed, for RegExp to decide.
   */
  matches(bytes: Uint8Array, start: number, end: number): boolean | undefined {
    this.#budget = STEP_BUDGET;
    const found = this.#from(0, bytes, start, end);
    return this.#budget < 0 ? undefined : found;
  }

  #from(index: number, bytes: Uint8Array, p: number, end: number): boolean {
    const steps = this.#steps;
    if (index === steps.length) return p === end;
    const { set, min, max } = steps[index];
    let run = 0;
    while (run < max && p + run < end) {
      const b = bytes[p + run];
      if ((set[b >> 5] & (1 << (b & 31))) === 0) break;
      run++;
    }
    // The longest run first; shorter ones only when what follows cannot match after it.
    for (let take = run; take >= min; take--) {
      if (--this.#budget < 0) return false;
      if (this.#from(index + 1, bytes, p + take, end)) return true;
    }
    return false;
  }
}

function emptySet(): Uint32Array {
  return new Uint32Array(4);
}
function add(set: Uint32Array, from: number, to: number): void {
  for (let b = from; b <= to; b++) set[b >> 5] |= 1 << (b & 31);
}
function setOf(from: number, to: number): Uint32Array {
  const set = emptySet();
  add(set, from, to);
  return set;
}
const DIGITS = setOf(0x30, 0x39);
const WORD = (() => {
  const set = setOf(0x30, 0x39);
  add(set, 0x41, 0x5a);
  add(set, 0x61, 0x7a);
  add(set, 0x5f, 0x5f);
  return set;
})();
/** \s on ASCII: tab, line feed, vertical tab, form feed, carriage return, space. */
const SPACE = (() => {
  const set = setOf(0x09, 0x0d);
  add(set, 0x20, 0x20);
  return set;
})();
const ANY = setOf(0, 127);
const DOT = (() => {
  const set = setOf(0, 127);
  set[0] &= ~((1 << 0x0a) | (1 << 0x0d));
  return set;
})();
/** Characters that stand for themselves after a backslash, in a pattern with the `u` flag. */
const SYNTAX = new Set("^$\\.*+?()[]{}|/-");
/** Characters that stand for themselves unescaped outside a class. */
const PLAIN = /^[A-Za-z0-9 !"#%&',:;<=>@_`~-]$/;

function negate(set: Uint32Array): Uint32Array {
  const out = emptySet();
  for (let i = 0; i < 4; i++) out[i] = ~set[i];
  return out;
}

/** Class escapes (\d \w \s and their negations), or null. */
function classEscape(c: string): Uint32Array | null {
  switch (c) {
    case "d":
      return DIGITS;
    case "D":
      return negate(DIGITS);
    case "w":
      return WORD;
    case "W":
      return negate(WORD);
    case "s":
      return SPACE;
    case "S":
      return negate(SPACE);
    default:
      return null;
  }
}

function parse(source: string): Step[] | null {
  const steps: Step[] = [];
  let i = 0;
  const anchoredStart = source.startsWith("^");
  if (anchoredStart) i = 1;
  else steps.push({ set: ANY, min: 0, max: Infinity });
  let anchoredEnd = false;
  while (i < source.length) {
    const c = source[i];
    let set: Uint32Array | null;
    if (c === "$") {
      if (i !== source.length - 1) return null;
      anchoredEnd = true;
      i++;
      break;
    } else if (c === "[") {
      const parsed = parseClass(source, i + 1);
      if (parsed === null) return null;
      set = parsed.set;
      i = parsed.next;
    } else if (c === "\\") {
      const e = source[i + 1];
      if (e === undefined) return null;
      set = classEscape(e) ?? (SYNTAX.has(e) ? setOf(e.charCodeAt(0), e.charCodeAt(0)) : null);
      if (set === null) return null;
      i += 2;
    } else if (c === ".") {
      set = DOT;
      i++;
    } else if (PLAIN.test(c)) {
      set = setOf(c.charCodeAt(0), c.charCodeAt(0));
      i++;
    } else {
      return null;
    }
    const quantified = parseQuantifier(source, i);
    if (quantified === null) return null;
    steps.push({ set, min: quantified.min, max: quantified.max });
    i = quantified.next;
  }
  if (!anchoredEnd) steps.push({ set: ANY, min: 0, max: Infinity });
  return steps;
}

/** A quantifier at `i` (none is {1}); a lazy one (`?` after it) finds the same full matches. */
function parseQuantifier(source: string, i: number): { min: number; max: number; next: number } | null {
  const c = source[i];
  let min = 1;
  let max = 1;
  let next = i;
  if (c === "?" || c === "*" || c === "+") {
    min = c === "+" ? 1 : 0;
    max = c === "?" ? 1 : Infinity;
    next = i + 1;
  } else if (c === "{") {
    const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(source.slice(i));
    if (m === null) return null;
    min = Number(m[1]);
    max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
    if (max < min) return null;
    next = i + m[0].length;
  }
  if (source[next] === "?" && next !== i) next++;
  return { min, max, next };
}

/** A class whose contents start at `i` (after `[`): the set, and where the pattern goes on. */
function parseClass(source: string, i: number): { set: Uint32Array; next: number } | null {
  const set = emptySet();
  const negated = source[i] === "^";
  if (negated) i++;
  while (i < source.length) {
    const c = source[i];
    // `[]` is a class of nothing in JavaScript, not the start of one holding `]`.
    if (c === "]") return { set: negated ? negate(set) : set, next: i + 1 };
    let from: number;
    if (c === "\\") {
      const e = source[i + 1];
      if (e === undefined) return null;
      const escaped = classEscape(e);
      if (escaped !== null) {
        for (let k = 0; k < 4; k++) set[k] |= escaped[k];
        i += 2;
        continue;
      }
      if (!SYNTAX.has(e)) return null;
      from = e.charCodeAt(0);
      i += 2;
    } else if (c === "[") {
      return null;
    } else {
      from = c.charCodeAt(0);
      if (from > 127) return null;
      i++;
    }
    // A range a-z (a '-' first, last or after a range is itself).
    if (source[i] === "-" && source[i + 1] !== undefined && source[i + 1] !== "]") {
      const t = source[i + 1];
      if (t === "\\" || t === "[") return null;
      const to = t.charCodeAt(0);
      if (to > 127 || to < from) return null;
      add(set, from, to);
      i += 2;
    } else {
      add(set, from, from);
    }
  }
  return null;
}
