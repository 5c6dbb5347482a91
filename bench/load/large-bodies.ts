// Background load for the "small requests while large bodies are checked" rows: a child process that
// keeps POSTing one large JSON body (valid for the bench contract's bulk operation) over keep-alive
// connections, back to back or at a set rate, until SIGTERM; then prints what it did as one JSON line.
//
//   node large-bodies.ts PORT PATH BYTES CONNECTIONS [BODIES_PER_SECOND]
//
// With a rate, each connection starts its next body no sooner than CONNECTIONS / BODIES_PER_SECOND
// seconds after its last one started: the rows that compare checked and unchecked bodies then put
// the same load on the proxy and the backend, instead of whatever each path can be pushed to.

import net from "node:net";

const [port, path, bytes, connections] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4]), Number(process.argv[5] ?? 1)];
const perSecond = Number(process.argv[6] ?? 0);
/** Between the starts of two bodies on one connection (0: back to back). */
const spacingMs = perSecond > 0 ? (1000 * connections) / perSecond : 0;

/** A JSON array of small orders, as close to `size` bytes as whole elements allow. */
export function bulkBody(size: number): Buffer {
  const element = '{"item":"widget","quantity":5}';
  const n = Math.max(1, Math.floor((size - 2) / (element.length + 1)));
  return Buffer.from(`[${Array.from({ length: n }, () => element).join(",")}]`);
}

if (process.argv[1]?.endsWith("large-bodies.ts") && Number.isInteger(port)) {
  const body = bulkBody(bytes);
  const head = Buffer.from(`POST ${path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  const stats = { completed: 0, non2xx: 0, errors: 0, bodyBytes: body.length };
  let stopping = false;
  /** Connections not yet closed: each ends once its body in flight is answered. */
  let open = 0;

  /** When each connection's last body started (kept across reconnections, so they keep the pace too). */
  const startedAt = new Array<number>(connections).fill(0);
  const loop = (slot: number): void => {
    if (stopping) return;
    open++;
    const socket = net.connect({ host: "127.0.0.1", port, noDelay: true });
    let text = "";
    const send = () => {
      startedAt[slot] = Date.now();
      socket.write(head);
      socket.write(body);
    };
    const next = () => {
      const wait = startedAt[slot] + spacingMs - Date.now();
      if (wait <= 0) send();
      else setTimeout(() => (stopping ? socket.end() : send()), wait);
    };
    socket.on("connect", send);
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      for (;;) {
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (text.length < end + 4 + length) return;
        const status = Number(text.slice(9, 12));
        if (status >= 200 && status < 400) stats.completed++;
        else stats.non2xx++;
        const closing = /\r\nconnection: *close/i.test(text.slice(0, end));
        text = text.slice(end + 4 + length);
        // An answer that ends the connection (one given before the body was all read): the next body
        // goes on a new connection, at the same pace.
        if (stopping || closing) return void socket.end();
        next();
      }
    });
    socket.on("error", () => stats.errors++);
    socket.on("close", () => {
      open--;
      // A body answered before it was all sent ends its connection (the proxy closes after it).
      setTimeout(() => loop(slot), Math.max(10, startedAt[slot] + spacingMs - Date.now()));
    });
  };
  for (let i = 0; i < connections; i++) loop(i);
  // Stops after the body in flight is answered (or two seconds pass): a body cut off halfway would
  // leave the proxy holding a request whose client it cannot hear go away while it is not reading.
  const done = () => {
    process.stdout.write(`${JSON.stringify(stats)}\n`);
    process.exit(0);
  };
  process.on("SIGTERM", () => {
    stopping = true;
    setTimeout(done, 2000).unref();
    const check = setInterval(() => {
      if (open === 0) {
        clearInterval(check);
        done();
      }
    }, 20);
  });
}
