// The differential framing fuzzer (test/helpers/framing-fuzzer.ts) against two real balancers, one
// that reads small bodies whole and one that streams every body, in front of a strict backend.
// Bounded for CI: a fixed seed for a few seconds. Longer, or with another seed:
//
//   FARMHAND_FUZZ_SECONDS=600 FARMHAND_FUZZ_SEED=7 npx node test/proxy-framing-fuzz.test.ts
//
// It fails on any desync (a request the backend parsed that its client was not answered, an answer
// given to the wrong client, a canary read as something else), a request with no case's address (a
// smuggled one), bytes the backend could not parse, a hung connection, or a worker that died or
// faulted. It prints the counts, and the first problems with the bytes that caused them.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { startBalancer, type Balancer, type BalancerEvent } from "../native-free-core/index.ts";
import { caseSource, judge, mutate, Rng, runCase, startStrictBackend, validRequest, type CaseOutcome } from "./helpers/framing-fuzzer.ts";

const SECONDS = Number(process.env.FARMHAND_FUZZ_SECONDS ?? 4);
const SEED = Number(process.env.FARMHAND_FUZZ_SEED ?? 20261202);
const LANES = 24;

test(`framing fuzzer: proxy and strict backend agree on every mutated request (seed ${SEED}, ${SECONDS} s)`, async () => {
  const backend = await startStrictBackend();
  const events: BalancerEvent[] = [];
  // Short enough that cases waiting for bytes that never come end quickly, long enough that a loaded
  // machine's pauses are not taken for a slow client.
  const limits = { headTimeoutMs: 1500, bodyTimeoutMs: 1500, keepAliveTimeoutMs: 10_000 };
  const proxyConfig = (bufferBodyBytes: number) => ({
    workers: 2,
    listeners: [{ port: 0, pool: "main", routes: [{ prefix: "/api/", pool: "api" }] }],
    pools: [
      { name: "main", backends: [`127.0.0.1:${backend.port}`], outlierDetection: { consecutive5xx: 0, consecutiveConnectFailures: 0 } },
      { name: "api", backends: [`127.0.0.1:${backend.port}`], outlierDetection: { consecutive5xx: 0, consecutiveConnectFailures: 0 } },
    ],
    http: { ...limits, bufferBodyBytes },
  });
  const proxies: Balancer[] = [
    await startBalancer(proxyConfig(64 * 1024), { onEvent: (e) => events.push(e) }),
    await startBalancer(proxyConfig(0), { onEvent: (e) => events.push(e) }),
  ];
  const outcomes: CaseOutcome[] = [];
  try {
    const deadline = Date.now() + SECONDS * 1000;
    let next = 0;
    await Promise.all(Array.from({ length: LANES }, async () => {
      while (Date.now() < deadline) {
        const n = next++;
        // Each case draws from its own stream, so its bytes do not depend on how lanes interleave.
        const rng = new Rng(SEED ^ Math.imul(n + 1, 0x9e3779b1));
        const base = validRequest(rng);
        const { bytes, mutated } = mutate(rng, base.bytes);
        const port = proxies[n % 2].listeners[0].port;
        outcomes.push(await runCase(rng, port, caseSource(n), { bytes, mutated }, `/canary-${n}`, { quietMs: 2500, hangMs: 6000 }));
      }
    }));
    // Answers still on their way belong to their cases; give them a moment before judging.
    await new Promise((r) => setTimeout(r, 500));

    const problems: string[] = [];
    const sources = new Set(outcomes.map((o) => o.source));
    for (const o of outcomes) {
      for (const p of judge(o, backend.byCase.get(o.source) ?? [])) problems.push(`${o.source} ${JSON.stringify(o.request.toString("latin1"))}: ${p}`);
    }
    for (const [from, list] of backend.byCase) {
      if (!sources.has(from)) problems.push(`smuggled: the backend parsed ${list.map((p) => `${p.method} ${p.url}`).join(", ")} with X-Forwarded-For ${from}`);
    }
    for (const e of backend.parseErrors) problems.push(`the backend could not parse what the proxy forwarded: ${e}`);
    for (const e of events) {
      if (e.type === "worker-exit" || e.type === "session-fault") problems.push(`balancer event ${JSON.stringify(e)}`);
    }

    const endings = new Map<string, number>();
    const statuses = new Map<number, number>();
    for (const o of outcomes) {
      endings.set(o.ending, (endings.get(o.ending) ?? 0) + 1);
      for (const r of o.responses) if (r.parsed === null) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
    const parsed = [...backend.byCase.values()].reduce((n, l) => n + l.length, 0);
    process.stdout.write(
      `fuzz: seed ${SEED}, ${outcomes.length} cases (${outcomes.filter((o) => o.mutated).length} mutated) in ${SECONDS} s; ` +
        `${parsed} requests parsed by the backend; endings ${JSON.stringify(Object.fromEntries(endings))}; ` +
        `proxy answers ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; ` +
        `${problems.length} problems\n`,
    );
    for (const p of problems.slice(0, 15)) process.stdout.write(`  ${p}\n`);
    assert.ok(outcomes.length > LANES, "the fuzzer ran cases");
    assert.is(problems.length, 0, `${problems.length} problems, the first: ${problems[0]}`);

    // Both balancers still serve, with every worker they started with.
    for (const proxy of proxies) {
      const r = await runCase(new Rng(1), proxy.listeners[0].port, "127.0.0.1", { bytes: Buffer.from("GET /after HTTP/1.1\r\nHost: x\r\n\r\n"), mutated: false }, "/canary-after", { quietMs: 1000, hangMs: 3000 });
      assert.is(r.ending, "canary");
      assert.equal(proxy.workers().map((w) => w.restarts), [0, 0]);
    }
  } finally {
    await Promise.all(proxies.map((p) => p.shutdown(1000)));
    await backend.close();
  }
});

test.run();
