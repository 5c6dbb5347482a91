// The Proxmox VE API emulator, seen only through plain HTTP (undici), the way a driver sees it.

import { test } from "uvu";
import * as assert from "uvu/assert";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { startEmulator, type Emulator, type EmulatorOptions } from "../control/drivers/proxmox/emulator/index.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const echo = path.join(here, "fixtures", "images", "echo");
const VM_PORT = 20_000 + ((process.pid + 7) % 20_000);

interface Answer {
  status: number;
  reason: string;
  contentType: string | undefined;
  body: any;
}

interface CallOptions {
  auth?: "token" | "none" | { ticket: string; csrf?: string } | string;
  form?: Record<string, string | number>;
  json?: unknown;
  query?: Record<string, string | number>;
}

async function call(em: Emulator, method: string, p: string, o: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const auth = o.auth ?? "token";
  if (auth === "token") headers.authorization = em.token.header;
  else if (typeof auth === "string" && auth !== "none") headers.authorization = auth;
  else if (typeof auth === "object") {
    headers.cookie = `PVEAuthCookie=${encodeURIComponent(auth.ticket)}`;
    if (auth.csrf !== undefined) headers.csrfpreventiontoken = auth.csrf;
  }
  let body: string | undefined;
  if (o.form !== undefined) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(Object.entries(o.form).map(([k, v]): [string, string] => [k, String(v)])).toString();
  } else if (o.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(o.json);
  }
  const qs = o.query ? `?${new URLSearchParams(Object.entries(o.query).map(([k, v]): [string, string] => [k, String(v)]))}` : "";
  const res = await request(`${em.url}${p}${qs}`, { method: method as "GET", headers, body });
  const text = await res.body.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.statusCode, reason: res.statusText, contentType: res.headers["content-type"] as string | undefined, body: parsed };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitTask(em: Emulator, node: string, upid: string, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(em, "GET", `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`);
    assert.is(r.status, 200, `task status: ${r.status} ${r.reason}`);
    if (r.body.data.status === "stopped") return r.body.data;
    if (Date.now() > deadline) throw new Error(`task ${upid} still running`);
    await sleep(10);
  }
}

async function withEmulator(fn: (em: Emulator, clock: { t: number }) => Promise<void>, options: EmulatorOptions = {}): Promise<void> {
  const clock = { t: Date.UTC(2025, 0, 1) };
  const em = await startEmulator({
    nodes: [{ name: "pve1", memory: 32 * 1024 ** 3 }, "pve2"],
    templates: { 9000: { name: "echo-tpl", node: "pve1", image: echo, tags: "farmhand;Template" } },
    taskDelayMs: 20,
    bootDelayMs: 150,
    addressDelayMs: 50,
    vmPort: VM_PORT,
    now: () => clock.t,
    ...options,
  });
  try {
    await fn(em, clock);
  } finally {
    await em.close();
    for (const vm of em.state.vms.values()) assert.ok(vm.proc === null || vm.proc.exited, `VM ${vm.vmid} process left running`);
  }
}

async function cloneAndWait(em: Emulator, newid: number, name: string, extra: Record<string, string | number> = {}) {
  const r = await call(em, "POST", "/nodes/pve1/qemu/9000/clone", { form: { newid, name, full: 0, ...extra } });
  assert.is(r.status, 200, `clone: ${r.reason}`);
  const task = await waitTask(em, "pve1", r.body.data);
  assert.is(task.exitstatus, "OK");
}

function httpGet(host: string, port: number, p: string): Promise<{ status: number; body: any }> {
  return request(`http://${host}:${port}${p}`).then(async (res) => ({ status: res.statusCode, body: await res.body.json() }));
}

async function waitAddress(em: Emulator, node: string, vmid: number): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const r = await call(em, "GET", `/nodes/${node}/qemu/${vmid}/agent/network-get-interfaces`);
    if (r.status === 200) {
      const eth0 = r.body.data.result.find((i: any) => i.name === "eth0");
      const v4 = eth0?.["ip-addresses"]?.find((a: any) => a["ip-address-type"] === "ipv4");
      if (v4 !== undefined) return v4["ip-address"];
    } else {
      assert.is(r.status, 500);
      assert.is(r.reason, "QEMU guest agent is not running");
    }
    await sleep(20);
  }
  throw new Error("no address");
}

async function waitHttp(host: string, port: number): Promise<any> {
  for (let i = 0; i < 200; i++) {
    try {
      return await httpGet(host, port, "/hello");
    } catch {
      await sleep(25);
    }
  }
  throw new Error(`${host}:${port} never answered`);
}

// ---------------------------------------------------------------------------------------------

test("envelopes, content type, reason-phrase errors, 400 errors and 501", async () => {
  await withEmulator(async (em) => {
    const ok = await call(em, "GET", "/version");
    assert.is(ok.status, 200);
    assert.is(ok.contentType, "application/json;charset=UTF-8");
    assert.is(typeof ok.body.data.version, "string");

    const missing = await call(em, "GET", "/nodes/pve1/qemu/555/config");
    assert.is(missing.status, 500);
    assert.is(missing.reason, "Configuration file 'nodes/pve1/qemu-server/555.conf' does not exist");
    assert.equal(missing.body, { data: null });
    assert.is(missing.contentType, "application/json;charset=UTF-8");

    const bogus = await call(em, "GET", "/nodes/x/bogus");
    assert.is(bogus.status, 501);
    assert.is(bogus.reason, "Method 'GET /nodes/x/bogus' not implemented");
    assert.equal(bogus.body, { data: null });

    const bad = await call(em, "POST", "/nodes/pve1/qemu/9000/clone", { form: { name: "x" } });
    assert.is(bad.status, 400);
    assert.is(bad.reason, "Parameter verification failed.");
    assert.equal(bad.body, { errors: { newid: "property is missing and it is not optional" }, data: null });
    const extra = await call(em, "POST", "/nodes/pve1/qemu/9000/clone", { form: { newid: 101, bogus: 1 } });
    assert.is(extra.status, 400);
    assert.ok(extra.body.errors.bogus.includes("not defined in schema"));
  });
});

test("API token auth: missing or wrong credentials are 401", async () => {
  await withEmulator(async (em) => {
    assert.match(em.token.header, /^PVEAPIToken=root@pam!farmhand=[0-9a-f-]{36}$/);
    const none = await call(em, "GET", "/nodes", { auth: "none" });
    assert.is(none.status, 401);
    assert.is(none.reason, "No ticket");
    assert.equal(none.body, { data: null });
    const wrong = await call(em, "GET", "/nodes", { auth: `PVEAPIToken=${em.token.id}=00000000-0000-0000-0000-000000000000` });
    assert.is(wrong.status, 401);
    const good = await call(em, "GET", "/nodes");
    assert.is(good.status, 200);
  });
});

test("ticket auth: form and JSON login, CSRF on writes, expiry after 2 h of emulated time", async () => {
  await withEmulator(async (em, clock) => {
    const badLogin = await call(em, "POST", "/access/ticket", { auth: "none", form: { username: "root@pam", password: "nope" } });
    assert.is(badLogin.status, 401);
    assert.is(badLogin.reason, "authentication failure");

    const login = await call(em, "POST", "/access/ticket", { auth: "none", form: { username: em.user, password: em.password } });
    assert.is(login.status, 200);
    const { ticket, CSRFPreventionToken, username } = login.body.data;
    assert.is(username, "root@pam");
    assert.match(ticket, /^PVE:root@pam:[0-9A-F]{8}::/);
    const jsonLogin = await call(em, "POST", "/access/ticket", { auth: "none", json: { username: em.user, password: em.password } });
    assert.is(jsonLogin.status, 200);

    assert.is((await call(em, "GET", "/nodes", { auth: { ticket } })).status, 200);
    const noCsrf = await call(em, "PUT", "/nodes/pve1/qemu/9000/config", { auth: { ticket }, form: { cores: 2 } });
    assert.is(noCsrf.status, 401);
    assert.is(noCsrf.reason, "Permission denied - invalid csrf token");
    const withCsrf = await call(em, "PUT", "/nodes/pve1/qemu/9000/config", { auth: { ticket, csrf: CSRFPreventionToken }, form: { cores: 2 } });
    assert.is(withCsrf.status, 200);
    assert.equal(withCsrf.body, { data: null });

    clock.t += 2 * 60 * 60 * 1000 - 1000;
    assert.is((await call(em, "GET", "/nodes", { auth: { ticket } })).status, 200);
    clock.t += 2000;
    const expired = await call(em, "GET", "/nodes", { auth: { ticket } });
    assert.is(expired.status, 401);
    assert.is(expired.reason, "invalid PVE ticket");
    assert.is((await call(em, "GET", "/nodes")).status, 200, "tokens do not expire");
  });
});

test("nodes, nextid as a string without reservation, cluster resources", async () => {
  await withEmulator(async (em) => {
    const nodes = (await call(em, "GET", "/nodes")).body.data;
    assert.equal(nodes.map((n: any) => [n.node, n.status]), [["pve1", "online"], ["pve2", "online"]]);
    assert.is(nodes[0].maxmem, 32 * 1024 ** 3);
    assert.is(typeof nodes[0].mem, "number");

    const a = (await call(em, "GET", "/cluster/nextid")).body.data;
    const b = (await call(em, "GET", "/cluster/nextid")).body.data;
    assert.is(a, "100");
    assert.is(b, "100");
    const taken = await call(em, "GET", "/cluster/nextid", { query: { vmid: 9000 } });
    assert.is(taken.status, 400);
    assert.equal(taken.body.errors, { vmid: "VM 9000 already exists" });

    const res = (await call(em, "GET", "/cluster/resources", { query: { type: "vm" } })).body.data;
    assert.is(res.length, 1);
    assert.equal(
      { id: res[0].id, vmid: res[0].vmid, node: res[0].node, name: res[0].name, status: res[0].status, template: res[0].template, tags: res[0].tags },
      { id: "qemu/9000", vmid: 9000, node: "pve1", name: "echo-tpl", status: "stopped", template: 1, tags: "farmhand;template" },
    );
    assert.is(typeof res[0].maxmem, "number");
  });
});

test("clone is async: the VM exists at once with lock clone, unlocked when the task ends; locked config refused", async () => {
  await withEmulator(async (em) => {
    const r = await call(em, "POST", "/nodes/pve1/qemu/9000/clone", { form: { newid: 100, name: "web-1", full: 0, target: "pve2" } });
    assert.is(r.status, 200);
    const upid: string = r.body.data;
    assert.match(upid, /^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmclone:9000:root@pam:$/);

    const cfg = await call(em, "GET", "/nodes/pve2/qemu/100/config");
    assert.is(cfg.status, 200);
    assert.is(cfg.body.data.lock, "clone");
    assert.is(cfg.body.data.name, "web-1");
    assert.match(cfg.body.data.digest, /^[0-9a-f]{40}$/);
    const res = (await call(em, "GET", "/cluster/resources", { query: { type: "vm" } })).body.data;
    assert.is(res.find((v: any) => v.vmid === 100).lock, "clone");

    const put = await call(em, "PUT", "/nodes/pve2/qemu/100/config", { form: { cores: 2 } });
    assert.is(put.status, 500);
    assert.is(put.reason, "VM is locked (clone)");
    const post = await call(em, "POST", "/nodes/pve2/qemu/100/config", { form: { cores: 2 } });
    assert.is(post.status, 500);
    assert.is(post.reason, "VM is locked (clone)");
    const again = await call(em, "POST", "/nodes/pve1/qemu/9000/clone", { form: { newid: 100, name: "web-2" } });
    assert.is(again.status, 500);
    assert.is(again.reason, "VM 100 already exists on node 'pve2'");

    assert.is((await call(em, "GET", "/nodes/pve1/tasks/" + encodeURIComponent(upid) + "/status")).body.data.status, "running");
    const elsewhere = await call(em, "GET", "/nodes/pve2/tasks/" + encodeURIComponent(upid) + "/status");
    assert.is(elsewhere.status, 400);
    assert.equal(elsewhere.body.errors, { upid: "no such task" });
    const task = await waitTask(em, "pve1", upid);
    assert.is(task.exitstatus, "OK");
    assert.is(task.type, "qmclone");
    assert.is(task.id, "9000");
    assert.is(task.node, "pve1");
    assert.is(task.upid, upid);
    assert.is(typeof task.starttime, "number");
    const log = (await call(em, "GET", `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log`)).body.data;
    assert.equal(log[log.length - 1], { n: log.length, t: "TASK OK" });

    const after = (await call(em, "GET", "/nodes/pve2/qemu/100/config")).body.data;
    assert.is(after.lock, undefined);
    assert.is((await call(em, "GET", "/cluster/nextid")).body.data, "101");

    // Config: sync PUT, async POST, tags normalised, sshkeys stored as given, digest checked.
    const keys = encodeURIComponent("ssh-ed25519 AAAAC3Nza test@host");
    const put2 = await call(em, "PUT", "/nodes/pve2/qemu/100/config", {
      form: { tags: "Farmhand;role-web,FARM-shop farmhand", sshkeys: keys, ciuser: "farmhand", ipconfig0: "ip=dhcp", memory: 256, cores: 2 },
    });
    assert.is(put2.status, 200, put2.reason);
    const c2 = (await call(em, "GET", "/nodes/pve2/qemu/100/config")).body.data;
    assert.is(c2.tags, "farm-shop;farmhand;role-web");
    assert.is(c2.sshkeys, keys);
    assert.is(c2.cores, 2);
    assert.is(c2.memory, "256");
    const stale = await call(em, "PUT", "/nodes/pve2/qemu/100/config", { form: { cores: 1, digest: after.digest } });
    assert.is(stale.status, 500);
    assert.match(stale.reason, /detected modified configuration/);
    const post2 = await call(em, "POST", "/nodes/pve2/qemu/100/config", { form: { description: "role=web", delete: "ciuser" } });
    assert.is(post2.status, 200);
    assert.match(post2.body.data, /:qmconfig:100:/);
    assert.is((await waitTask(em, "pve2", post2.body.data)).exitstatus, "OK");
    const c3 = (await call(em, "GET", "/nodes/pve2/qemu/100/config")).body.data;
    assert.is(c3.description, "role=web");
    assert.is(c3.ciuser, undefined);
    const badTag = await call(em, "PUT", "/nodes/pve2/qemu/100/config", { form: { tags: "ok;not/ok" } });
    assert.is(badTag.status, 400);
    assert.ok(badTag.body.errors.tags);
  }, { taskDelayMs: 400 });
});

test("start runs the image as a real process; agent after boot; already running; stop kills it; delete", async () => {
  await withEmulator(async (em) => {
    const description = JSON.stringify({ farmhand: { farm: "shop", role: "web", vm: "web-1", imports: { upstream: "http://127.0.0.1:1" } } });
    await cloneAndWait(em, 100, "web-1", { description });

    const notRunning = await call(em, "GET", "/nodes/pve1/qemu/100/agent/network-get-interfaces");
    assert.is(notRunning.status, 500);
    assert.is(notRunning.reason, "VM 100 is not running");

    const start = await call(em, "POST", "/nodes/pve1/qemu/100/status/start");
    assert.is(start.status, 200);
    assert.match(start.body.data, /:qmstart:100:root@pam:$/);
    assert.is((await waitTask(em, "pve1", start.body.data)).exitstatus, "OK");
    const cur = (await call(em, "GET", "/nodes/pve1/qemu/100/status/current")).body.data;
    assert.is(cur.status, "running");
    assert.is(cur.qmpstatus, "running");
    assert.is(cur.vmid, 100);
    assert.is(cur.name, "web-1");

    const early = await call(em, "GET", "/nodes/pve1/qemu/100/agent/network-get-interfaces");
    assert.is(early.status, 500);
    assert.is(early.reason, "QEMU guest agent is not running");
    const address = await waitAddress(em, "pve1", 100);
    assert.match(address, /^127\.\d+\.\d+\.\d+$/);
    const ifaces = (await call(em, "GET", "/nodes/pve1/qemu/100/agent/network-get-interfaces")).body.data.result;
    assert.equal(ifaces[0]["ip-addresses"][0], { "ip-address-type": "ipv4", "ip-address": "127.0.0.1", prefix: 8 });

    const served = await waitHttp(address, VM_PORT);
    assert.is(served.status, 200);
    assert.equal(served.body, { vm: "web-1", imports: { upstream: "http://127.0.0.1:1" }, path: "/hello" });
    const pid = em.state.vms.get(100)!.proc!.pid;

    const twice = await call(em, "POST", "/nodes/pve1/qemu/100/status/start");
    assert.is(twice.status, 200);
    const t2 = await waitTask(em, "pve1", twice.body.data);
    assert.is(t2.exitstatus, "VM 100 already running");
    const log = (await call(em, "GET", `/nodes/pve1/tasks/${encodeURIComponent(twice.body.data)}/log`)).body.data;
    assert.is(log[log.length - 1].t, "TASK ERROR: VM 100 already running");

    const delRunning = await call(em, "DELETE", "/nodes/pve1/qemu/100", { query: { purge: 1, "destroy-unreferenced-disks": 1 } });
    assert.is(delRunning.status, 500);
    assert.is(delRunning.reason, "VM 100 is running - destroy failed");

    const stop = await call(em, "POST", "/nodes/pve1/qemu/100/status/stop");
    assert.is((await waitTask(em, "pve1", stop.body.data)).exitstatus, "OK");
    assert.is((await call(em, "GET", "/nodes/pve1/qemu/100/status/current")).body.data.status, "stopped");
    assert.throws(() => process.kill(pid, 0));
    let refused = false;
    try {
      await httpGet(address, VM_PORT, "/");
    } catch {
      refused = true;
    }
    assert.ok(refused, "the VM's address no longer answers");

    const del = await call(em, "DELETE", "/nodes/pve1/qemu/100", { query: { purge: 1, "destroy-unreferenced-disks": 1 } });
    assert.is(del.status, 200);
    assert.match(del.body.data, /:qmdestroy:100:/);
    assert.is((await waitTask(em, "pve1", del.body.data)).exitstatus, "OK");
    const gone = await call(em, "GET", "/nodes/pve1/qemu/100/config");
    assert.is(gone.status, 500);
    const delMissing = await call(em, "DELETE", "/nodes/pve1/qemu/100", { query: { purge: 1 } });
    assert.is(delMissing.status, 500);
    assert.is(delMissing.reason, "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist");
  }, { bootDelayMs: 1_000 }); // room for "not running yet" to be seen on a loaded machine
});

test("shutdown ends the process gracefully; key=value metadata; ipconfig0 loopback address is used", async () => {
  await withEmulator(async (em) => {
    await cloneAndWait(em, 100, "web-2", { description: "farm=shop\nrole=api\nvm=api-7\nimports={}" });
    await call(em, "PUT", "/nodes/pve1/qemu/100/config", { form: { ipconfig0: `ip=${em.state.vms.get(100)!.address}/8` } });
    const start = await call(em, "POST", "/nodes/pve1/qemu/100/status/start");
    await waitTask(em, "pve1", start.body.data);
    const address = await waitAddress(em, "pve1", 100);
    const served = await waitHttp(address, VM_PORT);
    assert.is(served.body.vm, "api-7");
    const sd = await call(em, "POST", "/nodes/pve1/qemu/100/status/shutdown", { form: { timeout: 5 } });
    assert.match(sd.body.data, /:qmshutdown:100:/);
    assert.is((await waitTask(em, "pve1", sd.body.data)).exitstatus, "OK");
    assert.is((await call(em, "GET", "/nodes/pve1/qemu/100/status/current")).body.data.status, "stopped");
  });
});

test("a guest that dies or hangs leaves its VM running at the API, only its service stops answering; reset boots it again; shutdown of a hung guest times out", async () => {
  await withEmulator(async (em) => {
    await cloneAndWait(em, 100, "web-1", { description: JSON.stringify({ farm: "shop", role: "web", vm: "web-1" }) });
    await waitTask(em, "pve1", (await call(em, "POST", "/nodes/pve1/qemu/100/status/start")).body.data);
    const address = await waitAddress(em, "pve1", 100);
    assert.is((await waitHttp(address, VM_PORT)).body.vm, "web-1");
    const vm = em.state.vms.get(100)!;
    const atApi = async () => {
      const current = (await call(em, "GET", "/nodes/pve1/qemu/100/status/current")).body.data;
      const listed = (await call(em, "GET", "/cluster/resources", { query: { type: "vm" } })).body.data.find((r: any) => r.vmid === 100);
      const agent = await call(em, "GET", "/nodes/pve1/qemu/100/agent/network-get-interfaces");
      return [current.status, current.qmpstatus, listed.status, agent.status];
    };
    const answers = () => request(`http://${address}:${VM_PORT}/x`, { headersTimeout: 300, bodyTimeout: 300 }).then((r) => r.body.json().then(() => true), () => false);

    // Killed: the process is gone, the VM is not.
    const first = vm.proc!;
    assert.ok(em.outside.signalGuest(100, "SIGKILL"));
    await first.exit;
    assert.equal(await atApi(), ["running", "running", "running", 200], "a dead guest's VM runs on, its agent answers");
    assert.not.ok(await answers(), "a dead guest does not answer");
    const twice = await call(em, "POST", "/nodes/pve1/qemu/100/status/start");
    assert.is((await waitTask(em, "pve1", twice.body.data)).exitstatus, "VM 100 already running");

    // Reset: the VM stays up, its guest boots again (a new process).
    const reset = await call(em, "POST", "/nodes/pve1/qemu/100/status/reset");
    assert.match(reset.body.data, /:qmreset:100:root@pam:$/);
    assert.is((await waitTask(em, "pve1", reset.body.data)).exitstatus, "OK");
    assert.is.not(vm.proc, first);
    assert.is((await waitHttp(address, VM_PORT)).body.vm, "web-1");
    // The agent is a daemon of its own: it may answer after the service does, as on a real guest.
    assert.is(await waitAddress(em, "pve1", 100), address);

    // Hung: alive but silent; a graceful shutdown times out, a forced one ends it.
    assert.ok(em.outside.signalGuest(100, "SIGSTOP"));
    assert.equal(await atApi(), ["running", "running", "running", 200], "a hung guest's VM runs on");
    assert.not.ok(await answers(), "a hung guest does not answer");
    const polite = await call(em, "POST", "/nodes/pve1/qemu/100/status/shutdown", { form: { timeout: 1 } });
    assert.is((await waitTask(em, "pve1", polite.body.data)).exitstatus, "VM quit/powerdown failed - got timeout");
    assert.is((await atApi())[0], "running");
    const forced = await call(em, "POST", "/nodes/pve1/qemu/100/status/shutdown", { form: { timeout: 1, forceStop: 1 } });
    assert.is((await waitTask(em, "pve1", forced.body.data)).exitstatus, "WARNINGS: 1");
    const log = (await call(em, "GET", `/nodes/pve1/tasks/${encodeURIComponent(forced.body.data)}/log`)).body.data;
    assert.ok(log.some((l: any) => l.t === "VM still running - terminating now with SIGKILL"));
    assert.is((await call(em, "GET", "/nodes/pve1/qemu/100/status/current")).body.data.status, "stopped");
    assert.is(vm.proc, null);
    assert.not.ok(em.outside.signalGuest(100, "SIGCONT"), "no guest runs in a stopped VM");
    const resetStopped = await call(em, "POST", "/nodes/pve1/qemu/100/status/reset");
    assert.is((await waitTask(em, "pve1", resetStopped.body.data)).exitstatus, "VM 100 not running");
  });
});

test("outside the API: `qm stop` on the node (a task by root@pam) and QEMU dying (no task) stop the VM at the hypervisor", async () => {
  await withEmulator(async (em) => {
    await cloneAndWait(em, 100, "web-1");
    const running = async () => (await call(em, "GET", "/nodes/pve1/qemu/100/status/current")).body.data.status;
    await waitTask(em, "pve1", (await call(em, "POST", "/nodes/pve1/qemu/100/status/start")).body.data);
    assert.is(await em.outside.qmStop(100), "OK");
    assert.is(await running(), "stopped");
    const tasks = (await call(em, "GET", "/nodes/pve1/tasks", { query: { vmid: 100 } })).body.data;
    assert.equal([tasks[0].type, tasks[0].user, tasks[0].status], ["qmstop", "root@pam", "OK"]);

    await waitTask(em, "pve1", (await call(em, "POST", "/nodes/pve1/qemu/100/status/start")).body.data);
    const before = em.state.tasks.size;
    const guest = em.state.vms.get(100)!.proc!;
    await em.outside.qemuDied(100);
    assert.is(await running(), "stopped");
    assert.ok(guest.exited, "its guest went with it");
    assert.is(em.state.tasks.size, before, "no task tells of it");
  });
});

test("faults: failed tasks, warnings, lock timeouts, slow tasks", async () => {
  await withEmulator(async (em) => {
    em.faults.failTasks.push({ type: "qmclone", count: 1, message: "clone failed: storage full" });
    const r = await call(em, "POST", "/nodes/pve1/qemu/9000/clone", { form: { newid: 100, name: "a" } });
    assert.is(r.status, 200);
    assert.is((await waitTask(em, "pve1", r.body.data)).exitstatus, "clone failed: storage full");
    assert.is((await call(em, "GET", "/nodes/pve1/qemu/100/config")).status, 500, "a failed clone leaves no VM");

    await cloneAndWait(em, 100, "a");
    em.faults.warnTasks.push({ type: "qmstart", count: 1 });
    const s = await call(em, "POST", "/nodes/pve1/qemu/100/status/start");
    assert.is((await waitTask(em, "pve1", s.body.data)).exitstatus, "WARNINGS: 1");
    assert.is((await call(em, "GET", "/nodes/pve1/qemu/100/status/current")).body.data.status, "running");

    em.faults.lockTimeouts.push({ vmid: 100, count: 2 });
    const put = await call(em, "PUT", "/nodes/pve1/qemu/100/config", { form: { cores: 2 } });
    assert.is(put.status, 500);
    assert.is(put.reason, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout");
    const st = await call(em, "POST", "/nodes/pve1/qemu/100/status/stop");
    assert.is((await waitTask(em, "pve1", st.body.data)).exitstatus, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout");
    assert.is((await call(em, "GET", "/nodes/pve1/qemu/100/status/current")).body.data.status, "running");

    em.faults.slowTasks.push({ type: "qmstop", extraMs: 300 });
    const st2 = await call(em, "POST", "/nodes/pve1/qemu/100/status/stop");
    await sleep(150);
    assert.is((await call(em, "GET", `/nodes/pve1/tasks/${encodeURIComponent(st2.body.data)}/status`)).body.data.status, "running");
    assert.is((await waitTask(em, "pve1", st2.body.data)).exitstatus, "OK");
  });
});

test("faults: 596 proxy errors, offline node (595), permission denied (403)", async () => {
  await withEmulator(async (em) => {
    em.faults.proxyErrors = { count: 2 };
    assert.is((await call(em, "GET", "/nodes")).status, 596);
    const second = await call(em, "GET", "/version");
    assert.is(second.status, 596);
    assert.is(second.contentType, "application/json;charset=UTF-8");
    assert.is((await call(em, "GET", "/nodes")).status, 200);

    em.faults.offlineNodes.add("pve1");
    const nodes = (await call(em, "GET", "/nodes")).body.data;
    assert.is(nodes.find((n: any) => n.node === "pve1").status, "offline");
    assert.is(nodes.find((n: any) => n.node === "pve2").status, "online");
    const off = await call(em, "GET", "/nodes/pve1/qemu/9000/config");
    assert.is(off.status, 595);
    const res = (await call(em, "GET", "/cluster/resources", { query: { type: "vm" } })).body.data;
    assert.is(res[0].status, "unknown");
    em.faults.offlineNodes.delete("pve1");
    assert.is((await call(em, "GET", "/nodes/pve1/qemu/9000/config")).status, 200);
    const unknown = await call(em, "GET", "/nodes/nope/qemu/9000/config");
    assert.is(unknown.status, 500);

    em.faults.denied.push({ prefix: "/nodes/pve1/qemu/9000/clone" });
    const denied = await call(em, "POST", "/nodes/pve1/qemu/9000/clone", { form: { newid: 100 } });
    assert.is(denied.status, 403);
    assert.is(denied.reason, "Permission check failed");
    assert.equal(denied.body, { data: null });
    assert.is((await call(em, "GET", "/nodes/pve1/qemu/9000/config")).status, 200);
  });
});

test("the request log records method, path, query, body and auth kind", async () => {
  await withEmulator(async (em) => {
    await call(em, "GET", "/cluster/resources", { query: { type: "vm" } });
    await call(em, "POST", "/nodes/pve1/qemu/9000/clone", { json: { newid: 123, name: "logged", full: false } });
    await call(em, "GET", "/nodes", { auth: "none" });
    await em.idle();
    assert.equal(
      em.requests.map((r) => ({ method: r.method, path: r.path, query: r.query, body: r.body, auth: r.auth, status: r.status })),
      [
        { method: "GET", path: "/cluster/resources", query: { type: "vm" }, body: {}, auth: "token", status: 200 },
        { method: "POST", path: "/nodes/pve1/qemu/9000/clone", query: {}, body: { newid: 123, name: "logged", full: false }, auth: "token", status: 200 },
        { method: "GET", path: "/nodes", query: {}, body: {}, auth: "none", status: 401 },
      ],
    );
    assert.is(em.state.vms.get(123)!.config.name, "logged");
  });
});

test("tls: HTTPS with a self-signed certificate", async () => {
  const em = await startEmulator({ tls: true });
  const agent = new Agent({ connect: { ca: em.certificate! } });
  try {
    assert.match(em.url, /^https:\/\/127\.0\.0\.1:\d+\/api2\/json$/);
    const res = await request(`${em.url}/nodes`, { headers: { authorization: em.token.header }, dispatcher: agent });
    assert.is(res.statusCode, 200);
    assert.equal((await res.body.json() as any).data[0].node, "pve");
  } finally {
    await agent.close();
    await em.close();
  }
});

test.run();
