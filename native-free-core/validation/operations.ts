// Which operation of a contract a request is: its method and path against the operations' method and
// path templates ("/orders/{id}": a "{name}" stands for one non-empty segment), as the service kit
// routes them, so the balancer and the VM behind it never disagree on what a request is. Literal
// paths are found with one map lookup; templates are compared segment by segment.

import type { OperationSpec } from "../config.ts";

/** No operation has the path. */
export const NO_PATH = -1;
/** Operations have the path, none with the request's method (the caller answers 405 with Allow). */
export const NO_METHOD = -2;

interface Template {
  /** Literal segments, and null where a parameter stands. */
  readonly segments: readonly (string | null)[];
  readonly index: number;
}

export class OperationRouter {
  readonly #operations: readonly OperationSpec[];
  /** "POST /orders" -> operation index, for operations without parameters. */
  readonly #literal = new Map<string, number>();
  /** Paths without parameters -> the methods that have them (for 405's Allow). */
  readonly #literalPaths = new Map<string, string[]>();
  /** By segment count, fewest parameters first: a literal segment wins over a parameter. */
  readonly #templates = new Map<number, Template[]>();

  constructor(operations: readonly OperationSpec[]) {
    this.#operations = operations;
    operations.forEach((op, index) => {
      if (!op.path.includes("{")) {
        this.#literal.set(`${op.method} ${op.path}`, index);
        const methods = this.#literalPaths.get(op.path) ?? [];
        methods.push(op.method);
        this.#literalPaths.set(op.path, methods);
        return;
      }
      const segments = op.path.split("/").map((s) => (s.startsWith("{") && s.endsWith("}") ? null : s));
      const list = this.#templates.get(segments.length) ?? [];
      list.push({ segments, index });
      this.#templates.set(segments.length, list);
    });
    for (const list of this.#templates.values()) {
      list.sort((a, b) => params(a) - params(b));
    }
  }

  /** The operation `method` `target` is (the target's query aside), or NO_PATH / NO_METHOD. */
  match(method: string, target: string): number {
    const q = target.indexOf("?");
    let path = q < 0 ? target : target.slice(0, q);
    // The service kit accepts one trailing slash on any operation path.
    if (path.length > 1 && path.charCodeAt(path.length - 1) === 0x2f) path = path.slice(0, -1);
    const exact = this.#literal.get(`${method} ${path}`);
    if (exact !== undefined) return exact;
    let pathKnown = this.#literalPaths.has(path);
    if (this.#templates.size > 0) {
      const segments = path.split("/");
      const list = this.#templates.get(segments.length);
      if (list !== undefined) {
        for (const t of list) {
          if (!fits(t.segments, segments)) continue;
          if (this.#operations[t.index].method === method) return t.index;
          pathKnown = true;
        }
      }
    }
    return pathKnown ? NO_METHOD : NO_PATH;
  }

  /** The methods operations accept on `target`'s path (for a 405's Allow field). */
  allowed(target: string): string[] {
    const methods = new Set<string>();
    for (const m of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
      if (this.match(m, target) >= 0) methods.add(m);
    }
    return [...methods];
  }

  operation(index: number): OperationSpec {
    return this.#operations[index];
  }
}

function params(t: Template): number {
  return t.segments.filter((s) => s === null).length;
}

function fits(template: readonly (string | null)[], segments: readonly string[]): boolean {
  for (let i = 0; i < template.length; i++) {
    const want = template[i];
    if (want === null ? segments[i] === "" : want !== segments[i]) return false;
  }
  return true;
}
