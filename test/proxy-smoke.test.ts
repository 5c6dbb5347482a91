import { test } from "uvu";
import * as assert from "uvu/assert";
import { request } from "undici";
import { startBackend } from "./helpers/backends.ts";
import { startProxy } from "./helpers/proxy.ts";
import { rawRequest, parseResponses } from "./helpers/raw-client.ts";

test("forwards GET and POST through HTTP and TCP listeners", async () => {
  const a = await startBackend("a");
  const proxy = await startProxy([a]);
  try {
    const r = await request(`${proxy.url}/hello`);
    assert.is(r.statusCode, 200);
    assert.is(await r.body.text(), "a GET /hello 0");
    const p = await request(`${proxy.url}/post`, { method: "POST", body: "x".repeat(100_000) });
    assert.is(await p.body.text(), "a POST /post 100000");
    const t = await rawRequest(proxy.tcpPort, "GET /tcp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.is(parseResponses(t.text)[0].body, "a GET /tcp 0");
  } finally {
    await proxy.stop();
    await a.close();
  }
});

test.run();
