// When the proxy answers for a backend (502, 503, 504), it says why: a stable X-Farmhand-Reason and a
// short body, and never an internal address.

import { test } from "uvu";
import * as assert from "uvu/assert";
import net from "node:net";
import { startBackend, startRawServer } from "./helpers/backends.ts";
import { startProxy, waitFor } from "./helpers/proxy.ts";
import { parseResponses, rawRequest } from "./helpers/raw-client.ts";

const NO_OUTLIERS = { outlierDetection: { consecutive5xx: 0, consecutiveConnectFailures: 0 } };
const GET = "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The answer, checked to carry `reason` and to name no address or port of a backend. */
function answered(text: string, status: number, reason: string, backendPorts: readonly number[]): void {
  const [r] = parseResponses(text);
  assert.ok(r !== undefined, text);
  assert.is(r.status, status, text);
  assert.is(r.headers["x-farmhand-reason"], reason);
  assert.match(r.body, new RegExp(`^${status} [A-Za-z ]+: [a-z' ]+`));
  assert.not.match(text, "127.0.0.1");
  for (const port of backendPorts) assert.not.match(text, String(port));
}

test("503 with no routable backend: X-Farmhand-Reason no-routable-backend and a short body", async () => {
  const proxy = await startProxy([]);
  try {
    const r = await rawRequest(proxy.port, GET, { waitMs: 3000 });
    answered(r.text, 503, "no-routable-backend", []);
    assert.match(parseResponses(r.text)[0].body, "no backend is available");
  } finally {
    await proxy.stop();
  }
});

test("502 when the backend cannot be reached: upstream-connect-failed", async () => {
  const port = await closedPort();
  const proxy = await startProxy([{ address: "127.0.0.1", port } as never], NO_OUTLIERS);
  try {
    const r = await rawRequest(proxy.port, GET, { waitMs: 5000 });
    answered(r.text, 502, "upstream-connect-failed", [port]);
  } finally {
    await proxy.stop();
  }
});

test("502 when the backend closes without answering, or answers garbage", async () => {
  const silent = await startRawServer((socket) => socket.once("data", () => socket.destroy()));
  const garbage = await startRawServer((socket) => socket.once("data", () => socket.end("HTTP/1.1 2OO OK\r\n\r\n")));
  const proxy = await startProxy([{ address: "127.0.0.1", port: silent.port } as never], NO_OUTLIERS, {
    listeners: [
      { name: "silent", port: 0, pool: "p" },
      { name: "garbage", port: 0, pool: "g" },
    ],
    pools: [
      { name: "p", backends: [`127.0.0.1:${silent.port}`], ...NO_OUTLIERS },
      { name: "g", backends: [`127.0.0.1:${garbage.port}`], ...NO_OUTLIERS },
    ],
  });
  try {
    const [first, second] = proxy.balancer.listeners;
    answered((await rawRequest(first.port, GET, { waitMs: 5000 })).text, 502, "upstream-reset", [silent.port]);
    answered((await rawRequest(second.port, GET, { waitMs: 5000 })).text, 502, "upstream-malformed-response", [garbage.port]);
  } finally {
    await proxy.stop();
    await silent.close();
    await garbage.close();
  }
});

test("504 when the backend does not answer in time: upstream-timeout", async () => {
  const a = await startBackend("a");
  a.handle = () => {};
  const proxy = await startProxy([a], { ...NO_OUTLIERS, upstream: { responseTimeoutMs: 300 } });
  try {
    answered((await rawRequest(proxy.port, GET, { waitMs: 5000 })).text, 504, "upstream-timeout", [a.port]);
  } finally {
    await proxy.stop();
    await a.close();
  }
});

test("503 when every connection is busy and the queue is full (queue-full) or the wait runs out (queue-timeout)", async () => {
  const a = await startBackend("a");
  const parked: (() => void)[] = [];
  a.handle = (_req, res) => parked.push(() => res.end("late"));
  const proxy = await startProxy([a], { upstream: { maxConnectionsPerBackend: 1, maxQueue: 0 } }, { workers: 1 });
  const waiting = await startProxy([a], { upstream: { maxConnectionsPerBackend: 1, maxQueue: 4, queueTimeoutMs: 300 } }, { workers: 1 });
  try {
    const first = rawRequest(proxy.port, GET, { waitMs: 10_000 });
    assert.ok(await waitFor(() => parked.length === 1));
    answered((await rawRequest(proxy.port, GET, { waitMs: 5000 })).text, 503, "queue-full", [a.port]);
    const held = rawRequest(waiting.port, GET, { waitMs: 10_000 });
    assert.ok(await waitFor(() => parked.length === 2));
    answered((await rawRequest(waiting.port, GET, { waitMs: 5000 })).text, 503, "queue-timeout", [a.port]);
    for (const release of parked.splice(0)) release();
    await first;
    await held;
  } finally {
    for (const release of parked) release();
    await proxy.stop();
    await waiting.stop();
    await a.close();
  }
});

test.run();
