// Every client of ours that reads an answer from the network reads a bounded amount of it: a VM, a
// balancer or a Prometheus server that sends without end gets a clear error, never the controller's
// memory. Real sockets; the peer is a server that streams far past each client's limit.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import Type from "typebox";
import { contract } from "../control/contracts/index.ts";
import { client } from "../control/guest/client.ts";
import { DependencyError } from "../control/guest/errors.ts";
import { httpProber } from "../control/guest/prober.ts";
import { prometheusSource } from "../control/metrics/prometheus-source.ts";
import { adminClient } from "../native-free-core/admin/client.ts";
import { AdminCallError } from "../native-free-core/errors.ts";

/** A server whose every answer is a 200 of `bytes` bytes, sent in 64 KiB chunks; counts what it sent. */
async function flood(bytes: number, type = "application/json"): Promise<{ url: string; port: number; sent: () => number; close: () => Promise<void> }> {
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": type });
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        sent += n;
        if (!res.write(chunk.subarray(0, n))) return void res.once("drain", pump);
      }
      res.end();
    };
    res.on("error", () => {});
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    sent: () => sent,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const HUGE = 256 * 1024 * 1024;

test("the prober: an endless announcement is a problem, not a VM that serves", async () => {
  const peer = await flood(HUGE);
  try {
    const said = await httpProber.announce({ host: "127.0.0.1", port: peer.port }, 10_000);
    assert.is(said.ok, false);
    assert.match(!said.ok ? said.problem : "", /larger than 65536 bytes/);
    assert.ok(peer.sent() < HUGE, "the prober stopped reading");
  } finally {
    await peer.close();
  }
});

test("the service kit's client: an endless answer of an import is a DependencyError naming the call", async () => {
  const peer = await flood(HUGE);
  try {
    const c = contract("echo@1", { echo: { method: "POST", path: "/echo", request: Type.Object({}), response: Type.Object({}) } });
    const echo = client(c, peer.url, { name: "echo", maxResponseBytes: 1024 * 1024 });
    const error = await echo.echo({}).then(() => null, (e: unknown) => e);
    assert.instance(error, DependencyError);
    assert.match((error as Error).message, /echo \(echo@1\) echo: POST http:\/\/127\.0\.0\.1:\d+\/echo: the answer is larger than 1048576 bytes/);
  } finally {
    await peer.close();
  }
});

test("the admin client: an endless answer is an AdminCallError naming the call", async () => {
  const peer = await flood(HUGE, "text/plain");
  try {
    const error = await adminClient(peer.url, { token: "t", timeoutMs: 30_000 }).metrics().then(() => null, (e: unknown) => e);
    assert.instance(error, AdminCallError);
    assert.match((error as Error).message, /GET http:\/\/127\.0\.0\.1:\d+\/metrics: .*larger than 16777216 bytes/);
  } finally {
    await peer.close();
  }
});

test("the Prometheus source: an endless answer is a failed read (which never scales down), not a number", async () => {
  const peer = await flood(HUGE);
  try {
    const reading = await prometheusSource({ url: peer.url }).read(
      { farm: "f", balancer: "b", pool: "main" } as Parameters<ReturnType<typeof prometheusSource>["read"]>[0],
      { kind: "request-rate" },
      0,
    );
    assert.is(reading.value, null);
    assert.match(reading.value === null ? reading.error : "", /larger than 1048576 bytes/);
  } finally {
    await peer.close();
  }
});

test.run();
