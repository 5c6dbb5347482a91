// The local driver with real processes and real sockets: VMs are Node children on their own
// loopback addresses, recorded in a (temporary) state directory. The Driver conformance suite first,
// then what only this driver has: addresses and reservations, output, manifests, damaged records,
// cleanup, permissions.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Driver, DriverEvent, VmSpec } from "../control/drivers/driver.ts";
import { localDriver } from "../control/drivers/local/index.ts";
import { findVmPids, signalGroup, vmGroups } from "../control/drivers/local/proc.ts";
import { driverConformance } from "./drivers/conformance.ts";
import { askOverHttp } from "./drivers/http-guest.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const images = path.join(here, "fixtures", "images");
const driverUrl = pathToFileURL(path.join(here, "..", "control", "drivers", "local", "index.ts")).href;
// A port of our own, so that a concurrent run elsewhere on the machine does not collide.
const PORT = 20_000 + (process.pid % 20_000);

let conformanceDir = "";
const conformanceDriver = () => localDriver({ stateDir: conformanceDir, port: PORT, stopGraceMs: 2_000, watchIntervalMs: 200 });
const signalVm = (id: string, signal: NodeJS.Signals) => {
  for (const group of vmGroups(id)) signalGroup(group, signal);
};

driverConformance({
  name: "local",
  async setup() {
    conformanceDir = await mkdtemp(path.join(os.tmpdir(), "farmhand-local-conform-"));
  },
  async teardown() {
    const cleanup = conformanceDriver();
    for (const vm of await cleanup.list({})) await cleanup.destroy(vm.id).catch(() => {});
    await cleanup.close();
    await rm(conformanceDir, { recursive: true, force: true });
  },
  makeDriver: conformanceDriver,
  image: (kind) => path.join(images, kind),
  pass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  settle: (work) => work,
  ask: askOverHttp,
  // The local hypervisor is the process table: a VM whose processes are killed has crashed.
  async crash(id) {
    signalVm(id, "SIGKILL");
  },
  async hangGuest(id) {
    signalVm(id, "SIGSTOP");
  },
}).run();

function spec(vm: string, image: string, role = "web", imports: Record<string, string> = {}): VmSpec {
  return { labels: { farm: "testfarm", role, vm }, image: path.join(images, image), imports };
}

function get(host: string, port: number, p: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: p, agent: false, timeout: 5_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        let body: any = text;
        try {
          body = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/**
 * A driver on a fresh temp state dir, torn down (every VM destroyed, dir removed) afterwards. With
 * `addressDir`, the driver reserves its addresses there (a dir the test can look into).
 */
async function withDriver(
  fn: (driver: Driver, stateDir: string) => Promise<void>,
  extra: { addressDir?: string; stateDir?: string; outputBytes?: number; maxLogBytes?: number } = {},
): Promise<void> {
  const stateDir = extra.stateDir ?? (await mkdtemp(path.join(os.tmpdir(), "farmhand-local-")));
  const options = { stateDir, port: PORT, stopGraceMs: 2_000, addressDir: extra.addressDir };
  const driver = localDriver({ ...options, watchIntervalMs: 200, outputBytes: extra.outputBytes, maxLogBytes: extra.maxLogBytes });
  try {
    await fn(driver, stateDir);
  } finally {
    const cleanup = localDriver(options);
    for (const vm of await cleanup.list({})) await cleanup.destroy(vm.id).catch(() => {});
    await cleanup.close();
    await driver.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** Whether /proc shows the process alive (a zombie is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZXx]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

/** The reservations in `addressDir` held by VMs of `stateDir`: host -> id. */
async function reservations(addressDir: string, stateDir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const host of await readdir(addressDir).catch(() => [] as string[])) {
    const [dir, id] = (await readFile(path.join(addressDir, host), "utf8")).split("\n");
    if (dir === path.resolve(stateDir)) out[host] = id;
  }
  return out;
}

const mode = async (file: string) => (await stat(file)).mode & 0o777;

function recorder(driver: Driver) {
  const events: DriverEvent[] = [];
  const waiters: { pred: (e: DriverEvent) => boolean; resolve: (e: DriverEvent) => void }[] = [];
  driver.events((e) => {
    events.push(e);
    for (const w of [...waiters]) if (w.pred(e)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(e);
    }
  });
  const next = (pred: (e: DriverEvent) => boolean, ms = 10_000): Promise<DriverEvent> => {
    const seen = events.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching event within ${ms} ms; saw ${JSON.stringify(events)}`)), ms);
      waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  };
  return { events, next };
}

test("a VM runs on its own loopback address 127.0.x.y at the driver's port; its output is kept; VMs share the compile cache", async () => {
  await withDriver(async (driver) => {
    const vm = await driver.create(spec("web-1", "echo"));
    const running = await driver.start(vm.id);
    assert.match(running.address!.host, /^127\.0\.\d+\.\d+$/);
    assert.is.not(running.address!.host, "127.0.0.1");
    assert.is(running.address!.port, PORT);
    assert.equal(await get(running.address!.host, PORT, "/.well-known/farmhand"), { status: 200, body: { vm: "web-1", provides: { api: "echo@1" } } });
    assert.is(findVmPids(vm.id).length, 1);
    assert.match(await driver.output(vm.id), "echo web-1 listening on");
    // VMs share Node's compile cache, so a restarted one skips type stripping.
    assert.match(await driver.output(vm.id), /compile cache \/\S+/);
    await driver.stop(vm.id);
    assert.equal(findVmPids(vm.id), [], "stop leaves no process of the VM");
  });
});

test("a VM's output cut to the last outputBytes starts at a whole line", async () => {
  await withDriver(async (driver, stateDir) => {
    const vm = await driver.create(spec("web-1", "echo"));
    await driver.start(vm.id);
    // Its last line ("echo web-1 listening on ..., compile cache ...") is longer than the 24 bytes
    // kept: rather than the end of that line, the tail is empty.
    const reader = localDriver({ stateDir, port: PORT });
    const whole = await reader.output(vm.id);
    await reader.close();
    assert.match(whole, /echo web-1 listening on .{24,}\n$/);
    assert.is(await driver.output(vm.id), "");
    await driver.stop(vm.id);
  }, { outputBytes: 24 });
});

test("a crash emits vm-failed with the reason and the output tail", async () => {
  await withDriver(async (driver) => {
    const ev = recorder(driver);
    const vm = await driver.create(spec("crashy-1", "crashy"));
    const rec = await driver.start(vm.id);
    await get(rec.address!.host, PORT, "/crash");
    const failed = await ev.next((e) => e.type === "vm-failed" && e.id === vm.id);
    assert.ok(failed.type === "vm-failed");
    if (failed.type !== "vm-failed") return;
    assert.match(failed.reason, "code 3");
    assert.match(failed.output, "crashy crashy-1: crashing on request");
    assert.is((await driver.status(vm.id))?.state, "failed");
    assert.equal(findVmPids(vm.id), []);
    assert.not.ok(ev.events.some((e) => e.type === "vm-stopped"));
  });
});

test("a broken image: start rejects with its stderr, the VM is failed and no process is left", async () => {
  await withDriver(async (driver) => {
    const vm = await driver.create(spec("broken-1", "broken"));
    let error: Error | null = null;
    try {
      await driver.start(vm.id);
    } catch (err) {
      error = err as Error;
    }
    assert.ok(error !== null, "start must reject");
    assert.match(error!.message, "broken-1");
    assert.match(error!.message, "boom: missing config");
    assert.match(error!.message, "code 1");
    assert.is((await driver.status(vm.id))?.state, "failed");
    assert.equal(findVmPids(vm.id), []);
    assert.match(await driver.output(vm.id), "boom: missing config");
  });
});

test("a missing or malformed manifest is refused at create, naming the folder and the field", async () => {
  await withDriver(async (driver, stateDir) => {
    const message = async (image: string) => {
      try {
        await driver.create(spec("x-1", image));
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error(`create of ${image} did not fail`);
    };
    const missing = await message("no-manifest");
    assert.match(missing, path.join(images, "no-manifest"));
    assert.match(missing, "farmhand.json");
    const bad = await message("bad-manifest");
    assert.match(bad, path.join(images, "bad-manifest"));
    assert.match(bad, `"entry"`);
    const nowhere = await message("does-not-exist");
    assert.match(nowhere, "does-not-exist");
    assert.equal(await driver.list({}), []);
    const left = await readdir(stateDir).catch(() => [] as string[]);
    assert.not.ok(left.some((f) => f.endsWith(".json")), `no record for a refused VM: ${left}`);
  });
});

test("drivers recording in different state dirs never share an address: reservations are machine-wide", async () => {
  const dirs = await Promise.all(["farmhand-local-a-", "farmhand-local-b-", "farmhand-addr-"].map((p) => mkdtemp(path.join(os.tmpdir(), p))));
  const [a, b] = dirs.slice(0, 2).map((stateDir) => localDriver({ stateDir, addressDir: dirs[2], port: PORT }));
  try {
    // Created, not started: nothing binds yet, so only the reservations keep the addresses apart.
    const made = await Promise.all([a, b].flatMap((d, i) => [1, 2, 3].map((n) => d.create(spec(`vm-${i}-${n}`, "echo")))));
    assert.is(made.length, 6);
    // One reservation file per address: six files, six distinct addresses.
    assert.is((await readdir(dirs[2])).length, 6);
    await Promise.all([...(await a.list({})).map((r) => a.destroy(r.id)), ...(await b.list({})).map((r) => b.destroy(r.id))]);
    assert.equal(await readdir(dirs[2]), [], "destroy gives the addresses back");
  } finally {
    await Promise.all([a.close(), b.close()]);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
});

test("a second instance never hands out an address a recorded VM holds; an adopted VM's death is reported with its output", async () => {
  await withDriver(async (first, stateDir) => {
    const a = await first.create(spec("web-1", "echo"));
    const ra = await first.start(a.id);
    await first.close();

    const second = localDriver({ stateDir, port: PORT, stopGraceMs: 2_000, watchIntervalMs: 200 });
    try {
      const ev = recorder(second);
      const [seen] = await second.list({ farm: "testfarm" });
      assert.equal(seen.address, ra.address);
      const b = await second.create(spec("web-2", "echo"));
      const rb = await second.start(b.id);
      assert.is.not(rb.address!.host, ra.address!.host);
      // An adopted VM (not a child of this instance) that dies is reported, with what it printed.
      const [pid] = findVmPids(a.id);
      process.kill(pid, "SIGKILL");
      const failed = await ev.next((e) => e.type === "vm-failed" && e.id === a.id);
      assert.match(failed.type === "vm-failed" ? failed.output : "", "echo web-1 listening on");
      assert.equal(findVmPids(a.id), []);
    } finally {
      await second.close();
    }
  });
});

test("a controller killed mid-flight: its VM survives, a new instance lists it as running and destroys it", async () => {
  await withDriver(async (_driver, stateDir) => {
    const code = `
      const { localDriver } = await import(process.env.DRIVER_URL);
      const d = localDriver({ stateDir: process.env.STATE_DIR, port: Number(process.env.PORT) });
      const vm = await d.create({ labels: { farm: "testfarm", role: "web", vm: "survivor-1" }, image: process.env.IMAGE, imports: {} });
      await d.start(vm.id);
      console.log("started " + vm.id);
      setInterval(() => {}, 1000);
    `;
    const controller = spawn(process.execPath, ["--input-type=module", "-e", code], {
      env: { ...process.env, DRIVER_URL: driverUrl, STATE_DIR: stateDir, PORT: String(PORT), IMAGE: path.join(images, "echo") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    controller.stdout.on("data", (d) => (out += d));
    controller.stderr.on("data", (d) => (out += d));
    const closed = new Promise((r) => controller.once("close", r));
    try {
      const id = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`controller did not start its VM: ${out}`)), 20_000);
        controller.stdout.on("data", () => {
          const m = /started (\S+)/.exec(out);
          if (m) (clearTimeout(timer), resolve(m[1]));
        });
        controller.once("exit", () => (clearTimeout(timer), reject(new Error(`controller exited: ${out}`))));
      });
      controller.kill("SIGKILL");
      await closed;

      const next = localDriver({ stateDir, port: PORT, stopGraceMs: 2_000 });
      try {
        const [vm, ...rest] = await next.list({ farm: "testfarm" });
        assert.is(rest.length, 0);
        assert.is(vm.id, id);
        assert.is(vm.state, "running");
        assert.is((await get(vm.address!.host, PORT, "/.well-known/farmhand")).body.vm, "survivor-1");
        assert.is(findVmPids(id).length, 1);
        await next.destroy(id);
        assert.equal(findVmPids(id), []);
        assert.equal(await next.list({}), []);
      } finally {
        await next.close();
      }
    } finally {
      controller.kill("SIGKILL");
      await closed;
    }
  });
});

test("records that cannot be read are listed as damaged, by file and why; destroy still ends their processes, files and addresses", async () => {
  const addressDir = await mkdtemp(path.join(os.tmpdir(), "farmhand-addr-"));
  try {
    await withDriver(async (driver, stateDir) => {
      const [a, b, c] = await Promise.all(["web-1", "web-2", "web-3"].map((vm) => driver.create(spec(vm, "echo"))));
      for (const vm of [a, b, c]) await driver.start(vm.id);
      const d = await driver.create(spec("web-4", "echo"));
      const e = await driver.create(spec("web-5", "echo"));
      const pids = { a: findVmPids(a.id), b: findVmPids(b.id) };
      assert.is(pids.a.length, 1);
      assert.is(pids.b.length, 1);
      const file = (id: string) => path.join(stateDir, `${id}.json`);

      // Two running VMs: one record cut short, one overwritten with garbage. Two that never ran: one
      // of another shape, one naming another VM.
      await truncate(file(a.id), Math.floor((await stat(file(a.id))).size / 2));
      await writeFile(file(b.id), Buffer.concat([Buffer.from("\x1b]0;owned\x07\x1b[2J"), randomBytes(256)]));
      await writeFile(file(d.id), JSON.stringify({ version: 1, id: d.id }));
      await writeFile(`${file(d.id)}.tmp-1-0badf00d`, "{"); // a write a crash cut off
      await writeFile(file(e.id), (await readFile(file(e.id), "utf8")).replace(`"id": "${e.id}"`, `"id": "someone-else"`));

      const listed = await driver.list({ farm: "testfarm" });
      const by = Object.fromEntries(listed.map((r) => [r.id, r]));
      assert.equal(Object.keys(by).sort(), [a.id, b.id, c.id, d.id, e.id].sort());
      assert.is(by[c.id].state, "running");
      for (const [vm, name] of [[a, "web-1"], [b, "web-2"]] as const) {
        const r = by[vm.id];
        assert.is(r.state, "damaged");
        assert.is(r.address, null);
        // Labels recovered from the process, which still runs.
        assert.equal(r.spec.labels, { farm: "testfarm", role: "web", vm: name });
        assert.ok(r.problem?.startsWith(`${file(vm.id)} is not valid JSON (`), r.problem);
        assert.match(r.problem!, `still runs`);
        // The bytes JSON.parse quotes from a garbled file reach no terminal as control sequences.
        assert.not.match(r.problem!, /[\u0000-\u001f\u007f-\u009f]/);
      }
      // No process: labelled as far as the id tells (no role).
      assert.equal(by[d.id].spec.labels, { farm: "testfarm", role: "", vm: "web-4" });
      assert.is(by[d.id].problem, `${file(d.id)} is not a VM record (field "spec.labels" is missing or malformed); no process of it runs`);
      assert.is(by[e.id].problem, `${file(e.id)} names VM "someone-else", not ${e.id} as its file name does; no process of it runs`);

      assert.equal(await driver.list({ farm: "other" }), []);
      assert.equal((await driver.list({ farm: "testfarm", vm: "web-1" })).map((r) => r.id), [a.id]);
      assert.equal((await driver.list({ farm: "testfarm", vm: "web-4" })).map((r) => r.id), [d.id]);
      assert.equal((await driver.list({ role: "web" })).map((r) => r.id).sort(), [a.id, b.id, c.id].sort());
      assert.is((await driver.status(b.id))?.state, "damaged");

      for (const op of [() => driver.start(a.id), () => driver.stop(b.id), () => driver.reconfigure(d.id, {})]) {
        const err = await op().then(() => null, (x: { code?: string; message: string }) => x);
        assert.is(err?.code, "FARMHAND_LOCAL_VM_DAMAGED");
      }

      for (const vm of [a, b, d, e]) await driver.destroy(vm.id);
      for (const pid of [...pids.a, ...pids.b]) assert.not.ok(alive(pid), `process ${pid} is gone`);
      assert.equal([...findVmPids(a.id), ...findVmPids(b.id)], []);
      const left = (await readdir(stateDir)).filter((f) => !f.startsWith(c.id));
      assert.equal(left, [], "no file of a destroyed VM is left");
      assert.equal(Object.values(await reservations(addressDir, stateDir)), [c.id], "only the healthy VM holds an address");
      assert.equal((await driver.list({})).map((r) => `${r.id}:${r.state}`), [`${c.id}:running`]);
    }, { addressDir });
  } finally {
    await rm(addressDir, { recursive: true, force: true });
  }
});

test("what destroy cannot remove is named with why, and stays recorded for a later destroy", async () => {
  const addressDir = await mkdtemp(path.join(os.tmpdir(), "farmhand-addr-"));
  try {
    await withDriver(async (driver, stateDir) => {
      const vm = await driver.create(spec("web-1", "echo"));
      await driver.start(vm.id);
      const [pid] = findVmPids(vm.id);
      await writeFile(path.join(stateDir, `${vm.id}.json`), "{ not json");
      // Something in the way: a directory where the previous log segment goes.
      const stuck = path.join(stateDir, `${vm.id}.log.1`);
      await mkdir(stuck);
      await writeFile(path.join(stuck, "x"), "x");

      const err = await driver.destroy(vm.id).then(() => null, (x: { code?: string; message: string }) => x);
      assert.is(err?.code, "FARMHAND_LOCAL_VM_CLEANUP_FAILED");
      assert.match(err!.message, `could not remove ${stuck}: EISDIR`);
      assert.not.ok(alive(pid), "its process is ended all the same");
      // Still recorded, address still held: a later destroy finds it.
      const [left] = await driver.list({ farm: "testfarm" });
      assert.is(left.state, "damaged");
      assert.match(left.problem!, "no process of it runs");
      assert.equal(Object.values(await reservations(addressDir, stateDir)), [vm.id]);

      await rm(stuck, { recursive: true });
      await driver.destroy(vm.id);
      assert.equal(await readdir(stateDir), []);
      assert.equal(await reservations(addressDir, stateDir), {});
    }, { addressDir });
  } finally {
    await rm(addressDir, { recursive: true, force: true });
  }
});

test("everything the driver writes is private: directories 0700 (existing ones tightened), files 0600", async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), "farmhand-perm-"));
  const stateDir = path.join(root, "state");
  const addressDir = path.join(root, "addresses");
  try {
    for (const dir of [stateDir, addressDir]) {
      await mkdir(dir);
      await chmod(dir, 0o755);
    }
    await withDriver(async (driver) => {
      const vm = await driver.create(spec("web-1", "echo"));
      await driver.start(vm.id);
      const logFile = path.join(stateDir, `${vm.id}.log`);
      // The log outgrows the (tiny) limit: it is rotated on the next watch.
      for (let i = 0; ; i++) {
        if ((await readdir(stateDir)).includes(`${vm.id}.log.1`)) break;
        if (i > 200) assert.unreachable("the log was not rotated");
        await new Promise((r) => setTimeout(r, 50));
      }
      const [host] = Object.keys(await reservations(addressDir, stateDir));
      assert.equal(
        {
          stateDir: await mode(stateDir),
          addressDir: await mode(addressDir),
          record: await mode(path.join(stateDir, `${vm.id}.json`)),
          log: await mode(logFile),
          previousLog: await mode(`${logFile}.1`),
          reservation: await mode(path.join(addressDir, host)),
        },
        { stateDir: 0o700, addressDir: 0o700, record: 0o600, log: 0o600, previousLog: 0o600, reservation: 0o600 },
      );
      // A record rewritten (stop) keeps its mode and leaves no temp file behind.
      await driver.stop(vm.id);
      assert.is(await mode(path.join(stateDir, `${vm.id}.json`)), 0o600);
      assert.equal((await readdir(stateDir)).filter((f) => f.includes(".tmp-")), []);
    }, { stateDir, addressDir, outputBytes: 8, maxLogBytes: 8 });

    // A fresh state dir (and its missing parents) is made 0700.
    const nested = path.join(root, "a", "b", "state");
    await withDriver(async (driver) => {
      await driver.create(spec("web-1", "echo"));
      assert.is(await mode(nested), 0o700);
      assert.is(await mode(path.join(root, "a")), 0o700);
    }, { stateDir: nested, addressDir });

    // An address dir of another user (made first in the shared temp dir) is refused.
    if (process.getuid?.() === 0) {
      const foreign = path.join(root, "foreign");
      await mkdir(foreign, { mode: 0o777 });
      await chown(foreign, 4242, 4242);
      await withDriver(async (driver) => {
        const err = await driver.create(spec("web-1", "echo")).then(() => null, (x: Error) => x);
        assert.match(err?.message ?? "", `${foreign} belongs to uid 4242`);
      }, { stateDir: path.join(root, "state-2"), addressDir: foreign });
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("an id that names no record (a path, say) is unknown: status null, destroy succeeds, start fails naming it", async () => {
  await withDriver(async (driver) => {
    await driver.destroy("../../etc/passwd");
    assert.is(await driver.status("../../etc/passwd"), null);
    const err = await driver.start("no-such-vm").then(() => null, (e: Error) => e);
    assert.match(err?.message ?? "", "unknown VM");
  });
});

test.run();
