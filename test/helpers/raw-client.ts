// Speaks HTTP/1.1 over a plain socket, byte for byte, so tests can send what no well-behaved client
// would (smuggling attempts, pipelines, half-written heads) and see exactly what comes back.

import net from "node:net";

export interface RawExchange {
  /** Everything the proxy sent back, as latin1 text. */
  readonly text: string;
  /** The proxy closed the connection (within the wait). */
  readonly closed: boolean;
}

/**
 * Sends `data` (string or pieces written one after another with `gapMs` between) and collects the
 * reply until the connection closes or `waitMs` pass, or until `until(text)` is true.
 */
export async function rawRequest(
  port: number,
  data: string | readonly (string | Buffer)[],
  options: { waitMs?: number; gapMs?: number; until?: (text: string) => boolean; end?: boolean } = {},
): Promise<RawExchange> {
  const { waitMs = 2000, gapMs = 0, until, end = false } = options;
  const socket = await connect(port);
  let text = "";
  let closed = false;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (until?.(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      clearTimeout(timer);
      resolve();
    });
  });
  const pieces = typeof data === "string" ? [data] : data;
  for (const [i, piece] of pieces.entries()) {
    if (socket.destroyed) break;
    socket.write(typeof piece === "string" ? Buffer.from(piece, "latin1") : piece);
    if (gapMs > 0 && i < pieces.length - 1) await new Promise((r) => setTimeout(r, gapMs));
  }
  if (end) socket.end();
  await done;
  socket.destroy();
  return { text, closed };
}

/** Splits a stream of HTTP/1.1 responses (Content-Length or chunked framed) into status codes and bodies. */
export function parseResponses(text: string): { status: number; headers: Record<string, string>; body: string }[] {
  const out: { status: number; headers: Record<string, string>; body: string }[] = [];
  let rest = text;
  while (rest.length > 0) {
    const headEnd = rest.indexOf("\r\n\r\n");
    if (headEnd < 0) break;
    const [statusLine, ...lines] = rest.slice(0, headEnd).split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    rest = rest.slice(headEnd + 4);
    let body = "";
    if (headers["content-length"] !== undefined) {
      const n = Number(headers["content-length"]);
      if (rest.length < n) break; // not all here yet: only whole responses count
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else if (headers["transfer-encoding"]?.toLowerCase().endsWith("chunked")) {
      const chunked = readChunked(rest);
      if (chunked === null) break;
      body = chunked.body;
      rest = rest.slice(chunked.length);
    }
    out.push({ status: Number(statusLine.split(" ")[1]), headers, body });
  }
  return out;
}

/** A whole chunked body at the start of `text` (chunks, last chunk, trailers), or null while it is not all here. */
function readChunked(text: string): { body: string; length: number } | null {
  let body = "";
  let at = 0;
  for (;;) {
    const lineEnd = text.indexOf("\r\n", at);
    if (lineEnd < 0) return null;
    const size = parseInt(text.slice(at, lineEnd), 16);
    if (Number.isNaN(size)) throw new Error(`not a chunk size: ${JSON.stringify(text.slice(at, lineEnd))}`);
    at = lineEnd + 2;
    if (size === 0) break;
    if (text.length < at + size + 2) return null;
    body += text.slice(at, at + size);
    at += size + 2;
  }
  // Trailer lines up to the empty one.
  for (;;) {
    const lineEnd = text.indexOf("\r\n", at);
    if (lineEnd < 0) return null;
    const empty = lineEnd === at;
    at = lineEnd + 2;
    if (empty) return { body, length: at };
  }
}

/** A client connection kept open across several exchanges, for keep-alive, pipelining and tunnels. */
export interface RawConnection {
  /** Everything received so far, as latin1 text. */
  readonly text: string;
  /** The peer closed the connection (or it failed). */
  readonly closed: boolean;
  write(data: string | Buffer): void;
  /** Resolves true once `check(text)` holds, false if `timeoutMs` pass first (or the connection closes without it holding). */
  waitFor(check: (text: string) => boolean, timeoutMs?: number): Promise<boolean>;
  /** Resolves true once the peer closed the connection, false after `timeoutMs`. */
  waitClosed(timeoutMs?: number): Promise<boolean>;
  destroy(): void;
}

export async function openRaw(port: number): Promise<RawConnection> {
  const socket = await connect(port);
  let text = "";
  let closed = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  socket.on("data", (d: Buffer) => {
    text += d.toString("latin1");
    notify();
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closed = true;
    notify();
  });
  const waitUntil = (ready: () => boolean, timeoutMs: number) =>
    new Promise<boolean>((resolve) => {
      const finish = (value: boolean) => {
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(value);
      };
      const listener = () => {
        if (ready()) finish(true);
        else if (closed) finish(false);
      };
      const timer = setTimeout(() => finish(ready()), timeoutMs);
      listeners.add(listener);
      listener();
    });
  return {
    get text() {
      return text;
    },
    get closed() {
      return closed;
    },
    write(data) {
      socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
    },
    waitFor(check, timeoutMs = 5000) {
      return waitUntil(() => check(text), timeoutMs);
    },
    waitClosed(timeoutMs = 5000) {
      return waitUntil(() => closed, timeoutMs);
    },
    destroy() {
      socket.destroy();
    },
  };
}

/** A connected socket to 127.0.0.1:port. */
function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: "127.0.0.1", port });
  return new Promise<net.Socket>((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}
