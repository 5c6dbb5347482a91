// The Proxmox driver against the Proxmox VE API emulator, with real guest processes (the echo image):
// the Driver conformance suite first, then what only this driver has: the exact calls and payloads,
// faults and retries, tickets, placement, static addresses, TLS, a VM stopped behind its back.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { X509Certificate } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { startEmulator, type Emulator, type EmulatorOptions } from "../control/drivers/proxmox/emulator/index.ts";
import {
  farmTags,
  pickAddress,
  ProxmoxPermissionError,
  ProxmoxTaskError,
  ProxmoxTemplateNotFoundError,
  proxmoxDriver,
  type ProxmoxDriverOptions,
} from "../control/drivers/proxmox/index.ts";
import type { Driver, DriverEvent, VmSpec } from "../control/drivers/driver.ts";
import { driverConformance } from "./drivers/conformance.ts";
import { askOverHttp } from "./drivers/http-guest.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const echo = path.join(here, "fixtures", "images", "echo");
const VM_PORT = 20_000 + ((process.pid + 11) % 20_000);
const GIB = 1024 ** 3;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const spec = (vm: string, farm = "shop", role = "web", imports: Record<string, string> = {}): VmSpec => ({
  labels: { farm, role, vm },
  image: "echo",
  imports,
  settings: { mode: "test" },
});

async function withEmulator(fn: (em: Emulator, clock: { t: number }) => Promise<void>, options: EmulatorOptions = {}): Promise<void> {
  const clock = { t: Date.UTC(2025, 0, 1) };
  const em = await startEmulator({
    nodes: ["pve"],
    templates: { 9000: { name: "echo-tpl", node: "pve", image: echo } },
    taskDelayMs: 10,
    bootDelayMs: 60,
    addressDelayMs: 30,
    vmPort: VM_PORT,
    now: () => clock.t,
    ...options,
  });
  try {
    await fn(em, clock);
  } finally {
    await em.close();
  }
}

function driverFor(em: Emulator, extra: Partial<ProxmoxDriverOptions> = {}): Driver {
  const url = new URL(em.origin);
  return proxmoxDriver({
    host: url.hostname,
    port: Number(url.port),
    schema: "http",
    auth: { tokenId: em.token.id, tokenSecret: em.token.secret },
    templates: { echo: 9000 },
    servicePort: VM_PORT,
    taskPollMs: 10,
    pollIntervalMs: 50,
    retry: { attempts: 6, baseMs: 10, maxMs: 100 },
    timeouts: { startMs: 15_000, shutdownMs: 3_000 },
    ...extra,
  });
}

let conformanceEmulator: Emulator | null = null;
const emulatorNow = () => {
  if (conformanceEmulator === null) throw new Error("no emulator: setup did not run");
  return conformanceEmulator;
};

driverConformance({
  name: "proxmox",
  async setup() {
    conformanceEmulator = await startEmulator({
      nodes: ["pve"],
      templates: { 9000: { name: "echo-tpl", node: "pve", image: echo } },
      taskDelayMs: 10,
      bootDelayMs: 60,
      addressDelayMs: 30,
      vmPort: VM_PORT,
    });
  },
  async teardown() {
    await conformanceEmulator?.close();
    conformanceEmulator = null;
  },
  // A short shutdown timeout: a hung guest is force-stopped after it.
  makeDriver: () => driverFor(emulatorNow(), { timeouts: { startMs: 15_000, shutdownMs: 1_000 } }),
  image: () => "echo",
  pass: sleep,
  settle: (work) => work,
  ask: askOverHttp,
  async crash(id) {
    await emulatorNow().outside.qmStop(Number(id));
  },
  async hangGuest(id) {
    emulatorNow().outside.signalGuest(Number(id), "SIGSTOP");
  },
  async killGuest(id) {
    emulatorNow().outside.signalGuest(Number(id), "SIGKILL");
  },
}).run();

const clones = (em: Emulator) => [...em.state.vms.keys()].filter((id) => id !== 9000);

async function getJson(host: string, port: number, p: string): Promise<any> {
  const res = await request(`http://${host}:${port}${p}`);
  return res.body.json();
}

test("helpers: tags normalised, first non-loopback IPv4 from the agent", () => {
  assert.is(farmTags({ farm: "Shop", role: "Web", vm: "x" }), "farm-shop;farmhand;role-web");
  assert.is(
    pickAddress({
      result: [
        { name: "lo", "ip-addresses": [{ "ip-address-type": "ipv4", "ip-address": "127.0.0.1" }] },
        { name: "eth1" },
        { name: "eth0", "ip-addresses": [{ "ip-address-type": "ipv4", "ip-address": "169.254.1.1" }, { "ip-address-type": "ipv6", "ip-address": "fe80::1" }, { "ip-address-type": "ipv4", "ip-address": "127.9.0.5" }] },
      ],
    }),
    "127.9.0.5",
  );
  assert.is(pickAddress({ result: [{ name: "eth0" }] }), null);
});

test("create + start: the VM answers with its imports; the exact calls and payloads; stop; reconfigure; destroy", async () => {
  await withEmulator(async (em) => {
    const d = driverFor(em, { sshKeys: "ssh-ed25519 AAAAC3Nza user@host" });
    try {
      const events: DriverEvent[] = [];
      d.events((e) => events.push(e));
      const created = await d.create(spec("web-1", "shop", "web", { api: "http://127.0.0.1:1/x" }));
      assert.is(created.state, "created");
      assert.is(created.address, null);
      const vmid = Number(created.id);
      assert.ok(em.state.vms.has(vmid));

      const clone = em.requests.find((r) => r.method === "POST" && r.path === "/nodes/pve/qemu/9000/clone")!;
      assert.ok(clone, "clone request");
      assert.equal(clone.body, { newid: String(vmid), name: "web-1", full: "0", target: "pve" });
      const cfg = em.requests.find((r) => (r.method === "PUT" || r.method === "POST") && r.path === `/nodes/pve/qemu/${vmid}/config`)!;
      assert.ok(cfg, "config request");
      assert.is(cfg.body.tags, "farm-shop;farmhand;role-web");
      assert.is(cfg.body.ciuser, "farmhand");
      assert.is(cfg.body.sshkeys, "ssh-ed25519%20AAAAC3Nza%20user%40host");
      const desc = JSON.parse(String(cfg.body.description));
      assert.equal({ farm: desc.farm, role: desc.role, vm: desc.vm, imports: desc.imports, settings: desc.settings }, {
        farm: "shop", role: "web", vm: "web-1", imports: { api: "http://127.0.0.1:1/x" }, settings: { mode: "test" },
      });
      assert.is(em.state.vms.get(vmid)!.config.tags, "farm-shop;farmhand;role-web");

      const rec = await d.start(created.id);
      assert.is(rec.state, "running");
      assert.ok(rec.address !== null);
      assert.is(rec.address!.port, VM_PORT);
      assert.is(rec.address!.host, em.state.vms.get(vmid)!.address);
      assert.ok(rec.address!.host !== "127.0.0.1");
      const body = await getJson(rec.address!.host, rec.address!.port, "/hello");
      assert.equal(body, { vm: "web-1", imports: { api: "http://127.0.0.1:1/x" }, path: "/hello" });
      assert.ok(em.requests.some((r) => r.method === "POST" && r.path === `/nodes/pve/qemu/${vmid}/status/start`));
      const agent = em.requests.filter((r) => r.path === `/nodes/pve/qemu/${vmid}/agent/network-get-interfaces`);
      assert.ok(agent.length >= 2, `agent polled until it answered (${agent.length})`);
      assert.is(agent[agent.length - 1].status, 200);
      assert.ok(agent.some((r) => r.status === 500));

      const st = await d.status(created.id);
      assert.is(st!.state, "running");
      assert.equal(st!.spec.labels, { farm: "shop", role: "web", vm: "web-1" });
      assert.match(await d.output(created.id), /TASK OK/);

      const refused = await d.reconfigure(created.id, { api: "http://127.0.0.1:2/y" }).then(() => null, (e: { code?: string }) => e);
      assert.is(refused?.code, "FARMHAND_VM_RUNNING", "a running VM is not rewired under its feet");

      await d.stop(created.id);
      assert.ok(em.requests.some((r) => r.method === "POST" && r.path === `/nodes/pve/qemu/${vmid}/status/shutdown`));
      assert.is((await d.status(created.id))!.state, "stopped");

      // reconfigure: only the description changes; the same VM serves the new imports after its
      // next start, on its address.
      const rewired = await d.reconfigure(created.id, { api: "http://127.0.0.1:2/y" });
      assert.equal(rewired.spec.imports, { api: "http://127.0.0.1:2/y" });
      const put = em.requests.filter((r) => r.method === "PUT" && r.path === `/nodes/pve/qemu/${vmid}/config`).at(-1)!;
      assert.equal(Object.keys(put.body), ["description"]);
      const rewiredDesc = JSON.parse(String(put.body.description));
      assert.equal([rewiredDesc.vm, rewiredDesc.imports, rewiredDesc.settings], ["web-1", { api: "http://127.0.0.1:2/y" }, { mode: "test" }]);
      const again = await d.start(created.id);
      assert.equal(again.address, rec.address);
      assert.equal((await getJson(again.address!.host, again.address!.port, "/hello")).imports, { api: "http://127.0.0.1:2/y" });
      assert.equal((await d.status(created.id))!.spec.imports, { api: "http://127.0.0.1:2/y" });
      await d.stop(created.id);

      await d.destroy(created.id);
      const del = em.requests.find((r) => r.method === "DELETE" && r.path === `/nodes/pve/qemu/${vmid}`)!;
      assert.ok(del, "delete request");
      assert.is(del.query.purge, "1");
      assert.is(del.query["destroy-unreferenced-disks"], "1");
      assert.equal(clones(em), []);
      assert.is(await d.status(created.id), null);
      assert.ok(events.some((e) => e.type === "vm-running" && e.id === created.id));
      assert.ok(events.some((e) => e.type === "vm-stopped" && e.id === created.id));
      assert.not.ok(events.some((e) => e.type === "vm-failed"));
    } finally {
      await d.close();
    }
    // The guest boots for longer than the driver takes to ask its agent first, even on a loaded
    // machine, so the agent is seen answering 500 before it answers.
  }, { bootDelayMs: 500 });
});

test("write operations are bounded: never more in flight at the API than writeConcurrency", async () => {
  await withEmulator(async (em) => {
    // Every write is answered 40 ms late, so concurrent creates pile up behind the limit.
    em.faults.slowAnswers.push({ methods: ["POST", "PUT", "DELETE"], ms: 40 });
    for (const limit of [1, 3]) {
      const d = driverFor(em, { writeConcurrency: limit });
      em.writes.peak = 0;
      try {
        const recs = await Promise.all(Array.from({ length: 6 }, (_, i) => d.create(spec(`b${limit}-${i}`))));
        await Promise.all(recs.map((r) => d.destroy(r.id)));
        assert.is(em.writes.peak, limit, `writeConcurrency ${limit}`);
      } finally {
        await d.close();
      }
    }
    assert.equal(clones(em), []);
  });
});

test("faults: 596 and lock timeouts are retried; WARNINGS: 1 is success", async () => {
  await withEmulator(async (em) => {
    const d = driverFor(em);
    try {
      em.faults.proxyErrors.count = 3;
      em.faults.lockTimeouts.push({ vmid: 9000, count: 2 });
      em.faults.warnTasks.push({ type: "qmclone", count: 1 });
      const r = await d.create(spec("f-1"));
      assert.is(em.requests.filter((q) => q.status === 596).length, 3);
      assert.ok(em.requests.filter((q) => q.path.endsWith("/clone") && q.status === 500).length === 2, "lock timeouts seen");
      em.faults.lockTimeouts.push({ vmid: Number(r.id), count: 1 }); // fails the start task
      const rec = await d.start(r.id);
      assert.is(rec.state, "running");
      const exits = [...em.state.tasks.values()].filter((t) => t.type === "qmstart").map((t) => t.exitstatus);
      assert.ok(exits.some((e) => /can't lock file/.test(e ?? "")) && exits.includes("OK"));
      assert.ok([...em.state.tasks.values()].some((t) => t.type === "qmclone" && t.exitstatus === "WARNINGS: 1"));
      await d.destroy(r.id);
      assert.equal(clones(em), []);
    } finally {
      await d.close();
    }
  });
});

test("faults reported clearly with no VM leaked: task failure with log tail, 403, missing template, failure after clone", async () => {
  await withEmulator(async (em) => {
    const d = driverFor(em);
    try {
      em.faults.failTasks.push({ type: "qmclone", count: 1, message: "clone failed: storage full" });
      const e1 = await d.create(spec("t-1")).then(() => null, (e: unknown) => e);
      assert.instance(e1, ProxmoxTaskError);
      assert.is((e1 as ProxmoxTaskError).code, "FARMHAND_PROXMOX_TASK_FAILED");
      assert.is((e1 as ProxmoxTaskError).exitStatus, "clone failed: storage full");
      assert.match((e1 as ProxmoxTaskError).logTail, /TASK ERROR: clone failed: storage full/);
      assert.equal(clones(em), []);

      em.faults.denied.push({ prefix: "/nodes/pve/qemu/9000/clone", message: "Permission check failed (/vms/9000, VM.Clone)" });
      const e2 = await d.create(spec("t-2")).then(() => null, (e: unknown) => e);
      assert.instance(e2, ProxmoxPermissionError);
      assert.is((e2 as ProxmoxPermissionError).code, "FARMHAND_PROXMOX_PERMISSION_DENIED");
      assert.match((e2 as Error).message, /\/nodes\/pve\/qemu\/9000\/clone/);
      assert.is(em.requests.filter((q) => q.status === 403).length, 1, "403 not retried");
      em.faults.denied.length = 0;
      assert.equal(clones(em), []);

      const e3 = await d.create({ ...spec("t-3"), image: "nope" }).then(() => null, (e: unknown) => e);
      assert.instance(e3, ProxmoxTemplateNotFoundError);
      assert.match((e3 as Error).message, /nope/);

      // A failure after the clone: the half-made VM is destroyed.
      // (new VMIDs are 100..199 here; the template 9000 is not matched)
      em.faults.denied.push({ prefix: "/nodes/pve/qemu/1", methods: ["PUT", "POST"], message: "Permission check failed (VM.Config.Options)" });
      const e4 = await d.create(spec("t-4")).then(() => null, (e: unknown) => e);
      em.faults.denied.length = 0;
      assert.instance(e4, ProxmoxPermissionError);
      const put = em.requests.find((q) => q.method === "PUT" && q.status === 403)!;
      assert.ok(put, "config PUT was denied");
      assert.ok(em.requests.some((q) => q.method === "DELETE" && q.path === put.path.replace(/\/config$/, "")), "half-made VM deleted");
      await em.idle();
      assert.equal(clones(em), []);

      // A template found by name in /cluster/resources.
      const byName = await d.create({ ...spec("t-5"), image: "echo-tpl" });
      await d.destroy(byName.id);
      assert.equal(clones(em), []);
    } finally {
      await d.close();
    }
  });
});

test("an expired ticket is renewed (password auth, emulated clock jumps 2 h)", async () => {
  await withEmulator(async (em, clock) => {
    const url = new URL(em.origin);
    const d = driverFor(em, { auth: { username: em.user, password: em.password }, now: () => clock.t, host: url.hostname });
    try {
      const r = await d.create(spec("tk-1"));
      const logins = () => em.requests.filter((q) => q.path === "/access/ticket").length;
      assert.is(logins(), 1);
      assert.ok(em.requests.every((q) => q.path === "/access/ticket" || q.auth === "ticket"));
      clock.t += 2 * 60 * 60 * 1000;
      const before = em.requests.length;
      assert.is((await d.status(r.id))!.id, r.id);
      assert.is(logins(), 2);
      assert.not.ok(em.requests.slice(before).some((q) => q.status === 401), "renewed before expiry, no 401");
      await d.destroy(r.id);
      assert.equal(clones(em), []);
    } finally {
      await d.close();
    }
  });
});

test("node placement picks the online node with the most free memory; allowed nodes respected", async () => {
  await withEmulator(
    async (em) => {
      const d = driverFor(em);
      const only = driverFor(em, { nodes: ["small"] });
      try {
        const r = await d.create(spec("n-1"));
        assert.is(em.state.vms.get(Number(r.id))!.node, "big");
        const clone = em.requests.find((q) => q.path.endsWith("/clone"))!;
        assert.is(clone.path, "/nodes/small/qemu/9000/clone");
        assert.is(clone.body.target, "big");
        const s = await only.create(spec("n-2"));
        assert.is(em.state.vms.get(Number(s.id))!.node, "small");
        await d.destroy(r.id);
        await d.destroy(s.id);
        assert.equal(clones(em), []);
      } finally {
        await d.close();
        await only.close();
      }
    },
    { nodes: [{ name: "small", memory: 8 * GIB }, { name: "big", memory: 32 * GIB }, { name: "mid", memory: 16 * GIB }], templates: { 9000: { name: "echo-tpl", node: "small", image: echo } } },
  );
});

test("faults: an offline node is left out of placement; slow tasks are waited for", async () => {
  await withEmulator(
    async (em) => {
      const d = driverFor(em, { timeouts: { startMs: 15_000, shutdownMs: 3_000, taskMs: 10_000 } });
      try {
        em.faults.offlineNodes.add("big");
        em.faults.slowTasks.push({ type: "qmclone", extraMs: 400 }, { type: "qmstart", extraMs: 400 });
        const r = await d.create(spec("slow-1"));
        // The node with the most memory is offline: the VM lands on the one that answers.
        assert.is(em.state.vms.get(Number(r.id))!.node, "small");
        const running = await d.start(r.id);
        assert.is(running.state, "running");
        const answer = await getJson(running.address!.host, running.address!.port, "/hello");
        assert.is(answer.vm, "slow-1");
        await d.destroy(r.id);
        assert.equal(clones(em), []);
      } finally {
        await d.close();
      }
    },
    { nodes: [{ name: "small", memory: 8 * GIB }, { name: "big", memory: 32 * GIB }], templates: { 9000: { name: "echo-tpl", node: "small", image: echo } } },
  );
});

test("a VM stopped at the hypervisor, not by the driver (qm stop on its node, QEMU dying), is vm-failed with its task log", async () => {
  await withEmulator(async (em) => {
    const d = driverFor(em);
    try {
      const events: DriverEvent[] = [];
      d.events((e) => events.push(e));
      const a = await d.start((await d.create(spec("die-1"))).id);
      const b = await d.start((await d.create(spec("die-2"))).id);
      assert.is(await em.outside.qmStop(Number(a.id)), "OK");
      await em.outside.qemuDied(Number(b.id));
      for (let i = 0; i < 200 && events.filter((e) => e.type === "vm-failed").length < 2; i++) await sleep(20);
      const failed = events.filter((e) => e.type === "vm-failed");
      assert.equal(failed.map((e) => e.id).sort(), [a.id, b.id].sort());
      assert.match(failed[0].type === "vm-failed" ? failed[0].reason : "", "without a stop from this driver");
      // Whoever stopped it, the task is on the node for an operator to see.
      const stops = [...em.state.tasks.values()].filter((t) => t.type === "qmstop" && t.id === a.id);
      assert.equal(stops.map((t) => [t.user, t.exitstatus]), [["root@pam", "OK"]]);
      for (const r of [a, b]) {
        assert.is((await d.status(r.id))!.state, "failed");
        await d.destroy(r.id);
      }
      assert.equal(clones(em), []);
    } finally {
      await d.close();
    }
  });
});

test("a dead or hung guest: the VM runs on at the API and for the driver, no vm-failed; stop ends a hung one by a forced stop after the shutdown timeout", async () => {
  await withEmulator(async (em) => {
    const d = driverFor(em, { timeouts: { startMs: 15_000, shutdownMs: 1_000 } });
    try {
      const events: DriverEvent[] = [];
      d.events((e) => events.push(e));
      const dead = await d.start((await d.create(spec("dead-1"))).id);
      const hung = await d.start((await d.create(spec("hung-1"))).id);
      const deadPid = em.state.vms.get(Number(dead.id))!.proc!.pid;
      process.kill(-deadPid, "SIGKILL");
      process.kill(-em.state.vms.get(Number(hung.id))!.proc!.pid, "SIGSTOP");
      await sleep(300); // several of the driver's polls
      for (const r of [dead, hung]) {
        const current = await request(`${em.url}/nodes/pve/qemu/${r.id}/status/current`, { headers: { authorization: em.token.header } });
        assert.is(((await current.body.json()) as any).data.status, "running", `VM ${r.id} at the API`);
        const listed = await d.status(r.id);
        assert.equal([listed!.state, listed!.address], ["running", r.address], `VM ${r.id} for the driver`);
        const answered = await request(`http://${r.address!.host}:${r.address!.port}/x`, { headersTimeout: 500 }).then(() => true, () => false);
        assert.not.ok(answered, `VM ${r.id}'s guest does not answer`);
      }
      assert.ok(em.state.vms.get(Number(dead.id))!.proc!.exited, "the dead guest's process is gone");
      assert.not.ok(events.some((e) => e.type === "vm-failed"));

      await d.stop(hung.id);
      const calls = em.requests.filter((q) => q.method === "POST" && q.path.startsWith(`/nodes/pve/qemu/${hung.id}/status/`));
      assert.equal(calls.map((q) => [q.path.split("/").pop(), q.body.timeout]), [["start", undefined], ["shutdown", "1"], ["stop", undefined]]);
      const tasks = [...em.state.tasks.values()].filter((t) => t.id === hung.id && t.type === "qmshutdown");
      assert.is(tasks[0].exitstatus, "VM quit/powerdown failed - got timeout");
      assert.is(em.state.vms.get(Number(hung.id))!.proc, null, "its guest is gone with it");
      assert.is((await d.status(hung.id))!.state, "stopped");
      for (const r of [dead, hung]) await d.destroy(r.id);
      assert.equal(clones(em), []);
    } finally {
      await d.close();
    }
  });
});

test("stop: a failed shutdown falls back to a forced stop", async () => {
  await withEmulator(async (em) => {
    const d = driverFor(em);
    try {
      const r = await d.start((await d.create(spec("s-1"))).id);
      em.faults.failTasks.push({ type: "qmshutdown", count: 1, message: "VM quit/powerdown failed - got timeout" });
      await d.stop(r.id);
      const vmid = Number(r.id);
      assert.ok(em.requests.some((q) => q.method === "POST" && q.path === `/nodes/pve/qemu/${vmid}/status/stop`), "forced stop");
      assert.is((await d.status(r.id))!.state, "stopped");
      await d.destroy(r.id);
      assert.equal(clones(em), []);
    } finally {
      await d.close();
    }
  });
});

test("static ipconfig0: its address is used without waiting for the agent; a failed start task is reported", async () => {
  await withEmulator(async (em) => {
    const ip = `127.251.${process.pid % 200}.${7 + (process.pid % 100)}`;
    const d = driverFor(em, { ipConfig: (s) => (s.labels.vm === "st-1" ? `ip=${ip}/8,gw=127.0.0.1` : undefined) });
    try {
      const c = await d.create(spec("st-1"));
      const cfg = em.requests.find((q) => q.method === "PUT" && q.path === `/nodes/pve/qemu/${c.id}/config`)!;
      assert.is(cfg.body.ipconfig0, `ip=${ip}/8,gw=127.0.0.1`);
      const r = await d.start(c.id);
      assert.equal(r.address, { host: ip, port: VM_PORT });
      assert.is((await getJson(ip, VM_PORT, "/x")).vm, "st-1");
      assert.not.ok(em.requests.some((q) => q.path.endsWith("/agent/network-get-interfaces")));

      const f = await d.create(spec("st-2"));
      em.faults.failTasks.push({ type: "qmstart", count: 1, message: "start failed: QEMU exited with code 1" });
      const e = await d.start(f.id).then(() => null, (x: unknown) => x);
      assert.instance(e, ProxmoxTaskError);
      assert.match((e as Error).message, /start failed: QEMU exited with code 1/);
      assert.is((await d.status(f.id))!.state, "failed");
      assert.match(await d.output(f.id), /TASK ERROR: start failed/);
      await d.destroy(c.id);
      await d.destroy(f.id);
      assert.equal(clones(em), []);
    } finally {
      await d.close();
    }
  });
});

test("tls: verification on; a given CA or a SHA-256 fingerprint is trusted; a wrong pin is refused", async () => {
  await withEmulator(
    async (em) => {
      const fp = new X509Certificate(em.certificate!).fingerprint256;
      const withCa = driverFor(em, { schema: "https", tls: { ca: em.certificate! } });
      const pinned = driverFor(em, { schema: "https", tls: { fingerprint: fp } });
      const wrong = driverFor(em, { schema: "https", tls: { fingerprint: fp.replace(/^../, fp.startsWith("00") ? "11" : "00") } });
      const plain = driverFor(em, { schema: "https" });
      try {
        assert.equal(await withCa.list({}), []);
        assert.equal(await pinned.list({}), []);
        const before = em.requests.length;
        const failsClearly = (e: Error) => {
          assert.match(e.message, /cluster\/resources/);
          assert.match(e.message, /fingerprint|certificate/i);
        };
        await wrong.list({}).then(() => assert.unreachable("wrong pin accepted"), failsClearly);
        await plain.list({}).then(() => assert.unreachable("self-signed accepted"), failsClearly);
        assert.is(em.requests.length, before, "no request got through an untrusted connection");
      } finally {
        for (const d of [withCa, pinned, wrong, plain]) await d.close();
      }
    },
    { tls: true },
  );
});

test("tls: a pinned fingerprint is checked on every new connection, and a wrong one on every call", async () => {
  await withEmulator(
    async (em) => {
      const fp = new X509Certificate(em.certificate!).fingerprint256;
      const withCa = driverFor(em, { schema: "https", tls: { ca: em.certificate! } });
      const pinned = driverFor(em, { schema: "https", tls: { fingerprint: fp } });
      const wrong = driverFor(em, { schema: "https", tls: { fingerprint: fp.replace(/^../, fp.startsWith("00") ? "11" : "00") } });
      try {
        // The emulator closes each connection after its answer: every call below shakes hands anew.
        // A client that caches sessions resumes them, so this setup does reach resumed connections.
        for (let i = 0; i < 3; i++) assert.equal(await withCa.list({}), []);
        assert.ok(em.handshakes.resumed >= 1, `the CA-trusting client resumed a session: ${JSON.stringify(em.handshakes)}`);

        const before = { ...em.handshakes };
        for (let i = 0; i < 3; i++) assert.equal(await pinned.list({}), [], `pinned call ${i + 1}`);
        assert.equal(em.handshakes, { full: before.full + 3, resumed: before.resumed }, "three fresh connections, each checked against the pin");

        const requests = em.requests.length;
        for (let i = 0; i < 3; i++) {
          await wrong.list({}).then(
            () => assert.unreachable(`wrong pin accepted on call ${i + 1}`),
            (e: Error) => assert.match(e.message, /fingerprint [0-9A-F:]{95} does not match/),
          );
        }
        assert.is(em.requests.length, requests, "no request got through a connection with the wrong certificate");
      } finally {
        for (const d of [withCa, pinned, wrong]) await d.close();
      }
    },
    { tls: true, keepAlive: false },
  );
});

test.run();
