// The local driver with real processes and real sockets: VMs are Node children on their own
// loopback addresses, recorded in a (temporary) state directory.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Driver, DriverEvent, VmSpec } from "../control/drivers/driver.ts";
import { localDriver } from "../control/drivers/local/index.ts";
import { findVmPids } from "../control/drivers/local/proc.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const images = path.join(here, "fixtures", "images");
const driverUrl = pathToFileURL(path.join(here, "..", "control", "drivers", "local", "index.ts")).href;
// A port of our own, so that a concurrent run elsewhere on the machine does not collide.
const PORT = 20_000 + (process.pid % 20_000);

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

/** A driver on a fresh temp state dir, torn down (every VM destroyed, dir removed) afterwards. */
async function withDriver(fn: (driver: Driver, stateDir: string) => Promise<void>): Promise<void> {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "farmhand-local-"));
  const driver = localDriver({ stateDir, port: PORT, stopGraceMs: 2_000, watchIntervalMs: 200 });
  try {
    await fn(driver, stateDir);
  } finally {
    const cleanup = localDriver({ stateDir, port: PORT, stopGraceMs: 2_000 });
    for (const vm of await cleanup.list({})) await cleanup.destroy(vm.id);
    await cleanup.close();
    await driver.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

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

test("create + start two VMs: own addresses, both answer, imports reach the process, list by labels", async () => {
  await withDriver(async (driver) => {
    const ev = recorder(driver);
    const a = await driver.create(spec("web-1", "echo", "web", { upstream: "http://127.0.9.9:1234" }));
    const b = await driver.create(spec("db-1", "echo", "db"));
    assert.is(a.state, "created");
    assert.is(a.address, null);
    const ra = await driver.start(a.id);
    const rb = await driver.start(b.id);
    assert.is(ra.state, "running");
    assert.ok(ra.address !== null && rb.address !== null);
    assert.match(ra.address!.host, /^127\.0\.\d+\.\d+$/);
    assert.is.not(ra.address!.host, "127.0.0.1");
    assert.is.not(ra.address!.host, rb.address!.host);
    assert.is(ra.address!.port, PORT);
    assert.is(rb.address!.port, PORT);

    const wa = await get(ra.address!.host, PORT, "/.well-known/farmhand");
    assert.equal(wa, { status: 200, body: { vm: "web-1", provides: { api: "echo@1" } } });
    const ea = await get(ra.address!.host, PORT, "/hello");
    assert.equal(ea.body, { vm: "web-1", imports: { upstream: "http://127.0.9.9:1234" }, path: "/hello" });
    const eb = await get(rb.address!.host, PORT, "/x");
    assert.equal(eb.body, { vm: "db-1", imports: {}, path: "/x" });

    const all = await driver.list({ farm: "testfarm" });
    assert.equal(all.map((v) => v.spec.labels.vm).sort(), ["db-1", "web-1"]);
    assert.ok(all.every((v) => v.state === "running"));
    const web = await driver.list({ farm: "testfarm", role: "web" });
    assert.equal(web.map((v) => v.id), [a.id]);
    assert.equal(await driver.list({ farm: "other" }), []);
    assert.equal((await driver.status(a.id))?.address, ra.address);

    await ev.next((e) => e.type === "vm-running" && e.id === a.id);
    await ev.next((e) => e.type === "vm-running" && e.id === b.id);
    assert.match(await driver.output(a.id), "echo web-1 listening on");
    // VMs share Node's compile cache, so a restarted one skips type stripping.
    assert.match(await driver.output(a.id), /compile cache \/\S+/);
  });
});

test("stop emits vm-stopped, ends the process; a stopped VM starts again on its address, and can be rewired first", async () => {
  await withDriver(async (driver) => {
    const ev = recorder(driver);
    const vm = await driver.create(spec("web-1", "echo"));
    const running = await driver.start(vm.id);
    assert.is(findVmPids(vm.id).length, 1);
    await driver.stop(vm.id);
    await ev.next((e) => e.type === "vm-stopped" && e.id === vm.id);
    assert.equal(findVmPids(vm.id), []);
    const stopped = await driver.status(vm.id);
    assert.is(stopped?.state, "stopped");
    assert.is(stopped?.address, null);
    const again = await driver.start(vm.id);
    assert.equal(again.address, running.address);
    assert.is((await get(again.address!.host, PORT, "/.well-known/farmhand")).status, 200);

    // reconfigure: refused while it runs; once stopped, its next start gets the new imports, same address.
    const refused = await driver.reconfigure(vm.id, { peer: "http://127.0.9.9:1" }).then(() => null, (e: { code?: string }) => e);
    assert.is(refused?.code, "FARMHAND_VM_RUNNING");
    await driver.stop(vm.id);
    assert.equal((await driver.reconfigure(vm.id, { peer: "http://127.0.9.9:1" })).spec.imports, { peer: "http://127.0.9.9:1" });
    const rewired = await driver.start(vm.id);
    assert.equal(rewired.address, running.address);
    assert.equal((await get(rewired.address!.host, PORT, "/x")).body, { vm: "web-1", imports: { peer: "http://127.0.9.9:1" }, path: "/x" });
  });
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

test("a second driver instance on the same state dir lists and destroys the first one's VMs", async () => {
  await withDriver(async (first, stateDir) => {
    const a = await first.create(spec("web-1", "echo"));
    const b = await first.create(spec("web-2", "echo"));
    const ra = await first.start(a.id);
    await first.start(b.id);
    await first.close();

    const second = localDriver({ stateDir, port: PORT, stopGraceMs: 2_000, watchIntervalMs: 200 });
    try {
      const ev = recorder(second);
      const seen = await second.list({ farm: "testfarm" });
      assert.equal(seen.map((v) => v.id).sort(), [a.id, b.id].sort());
      assert.ok(seen.every((v) => v.state === "running"));
      assert.equal(seen.find((v) => v.id === a.id)?.address, ra.address);
      // A new VM from the second instance never takes an address a recorded VM holds.
      const c = await second.create(spec("web-3", "echo"));
      const rc = await second.start(c.id);
      assert.not.ok(seen.some((v) => v.address?.host === rc.address!.host));
      await second.destroy(a.id);
      await ev.next((e) => e.type === "vm-stopped" && e.id === a.id);
      assert.equal(findVmPids(a.id), []);
      assert.is(await second.status(a.id), null);
      // An adopted VM (not a child of this instance) that dies is still reported.
      const [pid] = findVmPids(b.id);
      process.kill(pid, "SIGKILL");
      const failed = await ev.next((e) => e.type === "vm-failed" && e.id === b.id);
      assert.match(failed.type === "vm-failed" ? failed.output : "", "echo web-2 listening on");
      assert.equal(findVmPids(b.id), []);
      await second.stop(c.id);
      await ev.next((e) => e.type === "vm-stopped" && e.id === c.id);
      assert.equal(findVmPids(c.id), []);
      assert.equal((await second.list({ farm: "testfarm" })).map((v) => `${v.spec.labels.vm}:${v.state}`).sort(), ["web-2:failed", "web-3:stopped"]);
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

test("destroying an unknown id succeeds; stopping or starting one fails", async () => {
  await withDriver(async (driver) => {
    await driver.destroy("no-such-vm");
    await driver.destroy("../../etc/passwd");
    assert.is(await driver.status("no-such-vm"), null);
    try {
      await driver.start("no-such-vm");
      assert.unreachable("start of an unknown VM must fail");
    } catch (err) {
      assert.match((err as Error).message, "unknown VM");
    }
    const vm = await driver.create(spec("web-1", "echo"));
    await driver.destroy(vm.id);
    await driver.destroy(vm.id);
    assert.is(await driver.status(vm.id), null);
  });
});

test.run();
