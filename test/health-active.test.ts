import { test } from "uvu";
import * as assert from "uvu/assert";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { HealthCheckOptions } from "../native-free-core/config.ts";
import { ActiveHealthChecker } from "../native-free-core/health/active-checker.ts";

type Mode = "ok" | "redirect" | "fail" | "hang";

interface TestServer {
  readonly port: number;
  readonly id: string;
  readonly target: { id: string; address: string; port: number };
  mode: Mode;
  /** Statuses to answer with, one per request, before falling back to `mode`. */
  script: number[];
  /** Responses sent, by status. */
  readonly sent: Map<number, number>;
  requests: number;
  readonly seen: { method: string; url: string; host: string | undefined; connection: string | undefined }[];
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

async function startServer(mode: Mode = "ok"): Promise<TestServer> {
  const sent = new Map<number, number>();
  const sockets = new Set<Socket>();
  const seen: TestServer["seen"] = [];
  let state: TestServer;
  const server = http.createServer((req, res) => {
    state.requests += 1;
    seen.push({ method: req.method ?? "", url: req.url ?? "", host: req.headers.host, connection: req.headers.connection });
    req.resume();
    const scripted = state.script.shift();
    if (scripted !== undefined) {
      sent.set(scripted, (sent.get(scripted) ?? 0) + 1);
      res.writeHead(scripted, scripted === 302 ? { Location: "/" } : {});
      return void res.end();
    }
    const reply = (status: number, body: string): void => {
      sent.set(status, (sent.get(status) ?? 0) + 1);
      res.writeHead(status, { "Content-Type": "text/plain", ...(status === 302 ? { Location: "/" } : {}) });
      res.end(body);
    };
    switch (state.mode) {
      case "ok":
        return reply(200, "ok\n".repeat(100));
      case "redirect":
        return reply(302, "");
      case "fail":
        return reply(500, "broken");
      case "hang":
        return; // never answers
    }
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const id = `127.0.0.1:${port}`;
  state = {
    port,
    id,
    target: { id, address: "127.0.0.1", port },
    mode,
    script: [],
    sent,
    requests: 0,
    seen,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return state;
}

function opts(over: Partial<HealthCheckOptions> = {}): HealthCheckOptions {
  return { path: "/healthz", intervalMs: 30, timeoutMs: 500, rise: 2, fall: 3, ...over };
}

interface Change {
  id: string;
  healthy: boolean;
}

/** Records onChange calls and lets a test wait for the next one. */
function recorder() {
  const changes: Change[] = [];
  let waiters: { pred: (c: Change) => boolean; resolve: (c: Change) => void }[] = [];
  const onChange = (id: string, healthy: boolean): void => {
    const c = { id, healthy };
    changes.push(c);
    const still: typeof waiters = [];
    for (const w of waiters) (w.pred(c) ? w.resolve(c) : still.push(w));
    waiters = still;
  };
  const next = (pred: (c: Change) => boolean, deadlineMs = 5_000): Promise<Change> =>
    new Promise<Change>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching change within ${deadlineMs} ms`)), deadlineMs);
      waiters.push({
        pred,
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
      });
    });
  return { changes, onChange, next };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(cond: () => boolean, deadlineMs = 5_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(5);
  }
}

test("a healthy server stays healthy, checked with GET <path>, Host and Connection: close", async () => {
  const ok = await startServer("ok");
  const redirect = await startServer("redirect");
  const rec = recorder();
  const checker = new ActiveHealthChecker(opts({ path: "/ready?x=1" }), rec.onChange);
  try {
    checker.setBackends([ok.target, redirect.target]);
    assert.ok(checker.isHealthy(ok.id), "a new target starts healthy");
    await until(() => ok.requests >= 5 && redirect.requests >= 5);
    assert.equal(rec.changes, []);
    assert.ok(checker.isHealthy(ok.id));
    assert.ok(checker.isHealthy(redirect.id), "3xx passes");
    const first = ok.seen[0];
    assert.is(first.method, "GET");
    assert.is(first.url, "/ready?x=1");
    assert.is(first.host, ok.id);
    assert.is(first.connection, "close");
  } finally {
    checker.close();
    await ok.close();
    await redirect.close();
  }
});

test("500 takes a server down after exactly `fall` checks; `rise` passes bring it back", async () => {
  const s = await startServer("ok");
  const rec = recorder();
  const checker = new ActiveHealthChecker(opts({ fall: 3, rise: 2 }), rec.onChange);
  try {
    checker.setBackends([s.target]);
    await until(() => s.requests >= 2);
    s.mode = "fail";
    const down = await rec.next((c) => c.id === s.id);
    assert.equal(down, { id: s.id, healthy: false });
    assert.is(s.sent.get(500), 3, "exactly `fall` failing checks");
    assert.not.ok(checker.isHealthy(s.id));

    // Still failing: no repeated callback.
    await until(() => (s.sent.get(500) ?? 0) >= 6);
    assert.is(rec.changes.length, 1);

    const okBefore = s.sent.get(200) ?? 0;
    s.mode = "ok";
    const up = await rec.next((c) => c.id === s.id);
    assert.equal(up, { id: s.id, healthy: true });
    assert.is((s.sent.get(200) ?? 0) - okBefore, 2, "exactly `rise` passing checks");
    assert.ok(checker.isHealthy(s.id));
    assert.is(rec.changes.length, 2);
  } finally {
    checker.close();
    await s.close();
  }
});

test("a pass in between resets the failure count", async () => {
  const s = await startServer("ok");
  // Two failures, a pass, two failures, a pass, then three failures in a row.
  s.script = [500, 500, 200, 500, 500, 302, 500, 500, 500];
  const rec = recorder();
  const checker = new ActiveHealthChecker(opts({ fall: 3 }), rec.onChange);
  try {
    checker.setBackends([s.target]);
    const down = await rec.next((c) => c.id === s.id);
    assert.equal(down, { id: s.id, healthy: false });
    assert.is(s.requests, 9, "down only at the third failure in a row");
  } finally {
    checker.close();
    await s.close();
  }
});

test("a closed server (connection refused) goes down", async () => {
  const s = await startServer("ok");
  await s.close();
  const rec = recorder();
  const checker = new ActiveHealthChecker(opts({ fall: 2 }), rec.onChange);
  try {
    checker.setBackends([s.target]);
    const down = await rec.next((c) => c.id === s.id);
    assert.equal(down, { id: s.id, healthy: false });
    assert.not.ok(checker.isHealthy(s.id));
  } finally {
    checker.close();
  }
});

test("a server that never answers fails after timeoutMs", async () => {
  const s = await startServer("hang");
  const rec = recorder();
  const checker = new ActiveHealthChecker(opts({ fall: 1, timeoutMs: 100 }), rec.onChange);
  try {
    checker.setBackends([s.target]);
    const down = await rec.next((c) => c.id === s.id);
    assert.equal(down, { id: s.id, healthy: false });
    assert.ok(s.requests >= 1);
    // The timed-out check's connection is aborted, not left open.
    await until(() => s.sockets.size <= 1);
  } finally {
    checker.close();
    await s.close();
  }
});

test("setBackends removes a target: no more checks or callbacks for it", async () => {
  const a = await startServer("ok");
  const b = await startServer("ok");
  const rec = recorder();
  const checker = new ActiveHealthChecker(opts({ fall: 2 }), rec.onChange);
  try {
    checker.setBackends([a.target, b.target]);
    await until(() => a.requests >= 2 && b.requests >= 2);
    checker.setBackends([b.target]);
    a.mode = "fail";
    const frozen = a.requests;
    // Meanwhile b keeps being checked.
    const bFrom = b.requests;
    await until(() => b.requests >= bFrom + 6);
    assert.ok(a.requests <= frozen + 1, "at most a check already in flight");
    assert.equal(rec.changes, []);
    assert.ok(checker.isHealthy(a.id), "an unknown id is reported healthy");

    // Re-adding it starts it fresh and checks it again.
    checker.setBackends([a.target, b.target]);
    const down = await rec.next((c) => c.id === a.id);
    assert.equal(down, { id: a.id, healthy: false });
    assert.equal(rec.changes, [{ id: a.id, healthy: false }]);
  } finally {
    checker.close();
    await a.close();
    await b.close();
  }
});

test("close() aborts checks in flight and stops everything", async () => {
  const hang = await startServer("hang");
  const ok = await startServer("ok");
  const rec = recorder();
  const checker = new ActiveHealthChecker(opts({ fall: 1, timeoutMs: 10_000 }), rec.onChange);
  checker.setBackends([hang.target, ok.target]);
  await until(() => hang.requests >= 1 && ok.requests >= 2);
  checker.close();
  checker.close(); // idempotent
  await until(() => hang.sockets.size === 0); // the in-flight check's connection was aborted
  const okRequests = ok.requests;
  await sleep(150);
  assert.is(ok.requests, okRequests, "no check after close");
  assert.equal(rec.changes, []);
  checker.setBackends([ok.target]); // ignored after close
  await sleep(100);
  assert.is(ok.requests, okRequests);
  await hang.close();
  await ok.close();
});

test("many targets with a callback that closes the checker", async () => {
  const servers = await Promise.all([1, 2, 3, 4, 5].map(() => startServer("fail")));
  let calls = 0;
  let checker: ActiveHealthChecker | undefined;
  const closed = new Promise<void>((resolve) => {
    checker = new ActiveHealthChecker(opts({ fall: 1 }), () => {
      calls += 1;
      checker?.close();
      resolve();
    });
  });
  checker!.setBackends(servers.map((s) => s.target));
  await closed;
  await sleep(150);
  assert.is(calls, 1, "no callback after close, even from checks that were in flight");
  await Promise.all(servers.map((s) => s.close()));
});

test.run();
