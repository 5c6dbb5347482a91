// Holds many idle keep-alive connections open against an HTTP proxy. Each connection sends one
// request, reads the whole response, then stays open doing nothing, like a browser or an SDK
// keeping a connection around. Run as a child process:
//   node bench/idle/client.ts --port P --count N [--concurrency C]
// Prints one JSON line {"event":"ready",...} when every connection is settled; afterwards each
// "check" line on stdin is answered with {"event":"check","open":N}. SIGTERM closes everything.

import net from "node:net";
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    count: { type: "string" },
    concurrency: { type: "string", default: "200" },
  },
});
const port = Number(values.port);
const count = Number(values.count);
// Bounded so the proxy's accept backlog never overflows; overflowed SYNs retry after a second.
const concurrency = Number(values.concurrency);

const REQUEST = Buffer.from("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: farmhand-bench-idle\r\n\r\n", "latin1");
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");

const sockets: net.Socket[] = [];
let ok = 0;
let failed = 0;
let open = 0;
let firstError = "";
let launched = 0;

function fail(why: string): void {
  failed++;
  if (firstError === "") firstError = why;
}

function openOne(): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    let buf: Buffer = Buffer.alloc(0);
    let connected = false;
    const done = (err: string | null) => {
      if (settled) return;
      settled = true;
      if (err === null) ok++;
      else {
        fail(err);
        sock.destroy();
      }
      resolve();
    };
    const sock = net.connect({ host: "127.0.0.1", port }, () => {
      connected = true;
      open++;
      sock.write(REQUEST);
    });
    sock.setTimeout(30_000, () => done("timeout waiting for the response"));
    sock.on("data", (d: Buffer) => {
      if (settled) return;
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      const end = buf.indexOf(HEAD_END);
      if (end < 0) return;
      const head = buf.subarray(0, end).toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (status === null || status[1] !== "200") return done(`bad response: ${head.split("\r\n")[0]}`);
      if (len === null) return done("response without content-length");
      if (buf.length - end - 4 >= Number(len[1])) {
        sock.setTimeout(0);
        buf = Buffer.alloc(0);
        done(null);
      }
    });
    sock.on("error", (e) => done(e.message));
    sock.on("close", () => {
      if (connected) {
        connected = false;
        open--;
      }
      done("closed by the proxy before the response");
    });
    sockets.push(sock);
  });
}

async function worker(): Promise<void> {
  while (launched < count) {
    launched++;
    await openOne();
  }
}

await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => worker()));
process.stdout.write(`${JSON.stringify({ event: "ready", ok, failed, open, firstError })}\n`);

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "check") process.stdout.write(`${JSON.stringify({ event: "check", open })}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.once("SIGTERM", () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
