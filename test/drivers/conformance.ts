// The Driver contract, as one uvu suite every driver must pass (local, Proxmox against the emulator,
// the simulation). A driver file supplies a factory: how to make a driver on a fresh world, the image
// to run, and the hooks only it can give: how its time passes, how to ask a guest what it runs, and
// how a VM crashes or its guest hangs there. The suite never reads the wall clock: it lets time pass
// through the factory, so the simulation runs it on virtual time.

import { suite, type Test } from "uvu";
import * as assert from "uvu/assert";
import type { Driver, DriverEvent, VmRecord, VmSpec } from "../../control/drivers/driver.ts";
import { VmRunningError } from "../../control/errors.ts";

/** The images the suite runs: "echo" serves and answers every path with who it is and its imports. */
export type ImageKind = "echo";

export interface Address {
  readonly host: string;
  readonly port: number;
}

/** What a guest says it was started as. */
export interface GuestAnswer {
  readonly vm: string;
  readonly imports: Readonly<Record<string, string>>;
}

export interface DriverFactory {
  readonly name: string;
  /** Makes a fresh world for one test: a state dir, a cluster, a simulation. */
  setup?(): Promise<void>;
  /** Removes the world and whatever still runs in it (the suite has closed its drivers). */
  teardown?(): Promise<void>;
  /** A driver instance on the current world; a second one is what a restarted controller opens. */
  makeDriver(): Driver;
  /** The VmSpec.image that runs an image of `kind`. */
  image(kind: ImageKind): string;
  /** Lets `ms` of the driver's time pass: a real wait, or the simulated clock moving on. */
  pass(ms: number): Promise<void>;
  /** Waits for `work`, letting the driver's time pass as it needs (in simulation, the clock runs until it settles). */
  settle<T>(work: Promise<T>): Promise<T>;
  /** What the guest serving at `address` answers, or null when nothing answers there (promptly). */
  ask(address: Address): Promise<GuestAnswer | null>;
  /** The VM stops unasked in a way its hypervisor sees (a crash, a kill, a `qm stop` from elsewhere). */
  crash(id: string): Promise<void>;
  /** The VM's guest hangs (SIGSTOP) while the VM runs on. */
  hangGuest(id: string): Promise<void>;
  /** The VM's guest dies while the VM runs on; absent where the guest is the VM (the local driver). */
  killGuest?(id: string): Promise<void>;
}

/** How long the suite waits for something to happen, in the driver's time, and in what steps. */
const PATIENCE_MS = 20_000;
const STEP_MS = 50;
/** Long enough for every driver's watcher to have looked a few times (local: 200 ms, Proxmox: 50 ms in these tests). */
const QUIET_MS = 1_000;

/** Registers the conformance suite of `factory`'s driver; the caller runs it. */
export function driverConformance(factory: DriverFactory): Test {
  const test = suite(`${factory.name} driver conformance`);
  const drivers: Driver[] = [];

  test.before.each(async () => {
    await factory.setup?.();
  });
  test.after.each(async () => {
    for (const d of drivers.splice(0)) await d.close();
    await factory.teardown?.();
  });

  const open = (): Driver => {
    const d = factory.makeDriver();
    drivers.push(d);
    return d;
  };
  const act = <T>(work: Promise<T>): Promise<T> => factory.settle(work);
  /** The error `work` rejects with; fails the test when it resolves. */
  const refusal = async (what: string, work: Promise<unknown>): Promise<Error & { code?: string }> => {
    const outcome = await act(work).then(() => null, (err: Error) => err);
    if (outcome === null) assert.unreachable(`${what} must reject`);
    return outcome!;
  };
  const eventually = async (what: string, check: () => boolean | Promise<boolean>): Promise<void> => {
    for (let waited = 0; !(await check()); waited += STEP_MS) {
      if (waited >= PATIENCE_MS) assert.unreachable(`${what}: not within ${PATIENCE_MS} ms`);
      await factory.pass(STEP_MS);
    }
  };
  const spec = (vm: string, more: { farm?: string; role?: string; imports?: Record<string, string> } = {}): VmSpec => ({
    labels: { farm: more.farm ?? "conform", role: more.role ?? "web", vm },
    image: factory.image("echo"),
    imports: more.imports ?? {},
    settings: { mode: "conformance" },
  });
  const watch = (d: Driver) => {
    const events: DriverEvent[] = [];
    d.events((e) => events.push(e));
    const of = (type: DriverEvent["type"], id: string) => events.filter((e) => e.type === type && e.id === id);
    return { events, of, saw: (type: DriverEvent["type"], id: string) => of(type, id).length > 0 };
  };
  const status = (d: Driver, id: string) => act(d.status(id));
  const where = (r: VmRecord | null) => (r?.address == null ? null : `${r.address.host}:${r.address.port}`);
  const answers = async (address: Address | null | undefined, vm: string, imports: Record<string, string>) => {
    assert.ok(address != null, `${vm} has an address`);
    assert.equal(await factory.ask(address!), { vm, imports }, `${vm} answers at ${address!.host}:${address!.port}`);
  };
  const silent = async (address: Address, what: string) => {
    assert.is(await factory.ask(address), null, `${what}: nothing answers at ${address.host}:${address.port}`);
  };

  test("create allocates a VM without starting it; status tells the same; a spec without a label is refused", async () => {
    const d = open();
    const imports = { peer: "http://127.0.9.9:1" };
    const vm = await act(d.create(spec("web-1", { imports })));
    assert.is(vm.state, "created");
    assert.is(vm.address, null);
    assert.equal(vm.spec.labels, { farm: "conform", role: "web", vm: "web-1" });
    assert.equal(vm.spec.imports, imports);
    assert.equal(vm.spec.settings, { mode: "conformance" });
    const seen = await status(d, vm.id);
    assert.equal([seen?.id, seen?.state, seen?.address, seen?.spec.labels, seen?.spec.imports], [vm.id, "created", null, vm.spec.labels, imports]);
    for (const key of ["farm", "role", "vm"] as const) {
      const bad = spec("web-x");
      await refusal(`create without ${key}`, d.create({ ...bad, labels: { ...bad.labels, [key]: "" } }));
    }
    assert.equal((await act(d.list({}))).map((r) => r.id), [vm.id], "only the VM made is there");
  });

  test("start: the VM serves on its own address with its imports; vm-running; status and list agree; starting it again changes nothing", async () => {
    const d = open();
    const ev = watch(d);
    const imports = { peer: "http://127.0.9.9:1" };
    const vm = await act(d.create(spec("web-1", { imports })));
    const running = await act(d.start(vm.id));
    assert.equal([running.id, running.state], [vm.id, "running"]);
    await answers(running.address, "web-1", imports);
    await eventually("vm-running", () => ev.saw("vm-running", vm.id));
    const seen = await status(d, vm.id);
    assert.equal([seen?.state, where(seen)], ["running", where(running)]);
    const listed = await act(d.list({ farm: "conform" }));
    assert.equal(listed.map((r) => [r.id, r.state, where(r)]), [[vm.id, "running", where(running)]]);
    const again = await act(d.start(vm.id));
    assert.equal([again.id, again.state, where(again)], [vm.id, "running", where(running)]);
    assert.is((await act(d.list({}))).length, 1, "still one VM");
  });

  test("two starts of one VM at once both resolve running, on one address", async () => {
    const d = open();
    const vm = await act(d.create(spec("web-1")));
    const [a, b] = await act(Promise.all([d.start(vm.id), d.start(vm.id)]));
    assert.equal([a.state, b.state], ["running", "running"]);
    assert.is(where(a), where(b));
    await answers(a.address, "web-1", {});
  });

  test("stop: vm-stopped; stopped, no address, nothing answers; stopping again changes nothing; it starts again on its address", async () => {
    const d = open();
    const ev = watch(d);
    const never = await act(d.create(spec("web-0")));
    await act(d.stop(never.id));
    assert.is((await status(d, never.id))?.state, "created", "stopping a VM never started leaves it created");
    const vm = await act(d.create(spec("web-1")));
    const running = await act(d.start(vm.id));
    await act(d.stop(vm.id));
    await eventually("vm-stopped", () => ev.saw("vm-stopped", vm.id));
    const seen = await status(d, vm.id);
    assert.equal([seen?.state, seen?.address], ["stopped", null]);
    await silent(running.address!, "after stop");
    await act(d.stop(vm.id));
    assert.is((await status(d, vm.id))?.state, "stopped");
    await factory.pass(QUIET_MS);
    assert.is(ev.of("vm-stopped", vm.id).length, 1, "one vm-stopped for one stop that did something");
    assert.not.ok(ev.saw("vm-stopped", never.id) || ev.events.some((e) => e.type === "vm-failed"));
    const again = await act(d.start(vm.id));
    assert.equal([again.id, again.state, where(again)], [vm.id, "running", where(running)]);
    await answers(again.address, "web-1", {});
  });

  test("reconfigure: refused while running (FARMHAND_VM_RUNNING); once stopped, the new imports reach the guest at its next start, same id and address", async () => {
    const d = open();
    const before = { peer: "http://127.0.9.9:1" };
    const after = { peer: "http://127.0.9.9:2", extra: "http://127.0.9.9:3" };
    const fresh = await act(d.create(spec("web-0")));
    const wired = await act(d.reconfigure(fresh.id, after));
    assert.equal([wired.id, wired.state, wired.address, wired.spec.imports], [fresh.id, "created", null, after], "a VM never started can be rewired");

    const vm = await act(d.create(spec("web-1", { imports: before })));
    const running = await act(d.start(vm.id));
    const refused = await refusal("reconfigure of a running VM", d.reconfigure(vm.id, after));
    assert.instance(refused, VmRunningError);
    assert.is(refused.code, "FARMHAND_VM_RUNNING");
    await answers(running.address, "web-1", before);
    assert.equal((await status(d, vm.id))?.spec.imports, before, "a refused rewiring changes nothing");

    await act(d.stop(vm.id));
    const rewired = await act(d.reconfigure(vm.id, after));
    assert.equal([rewired.id, rewired.state, rewired.address, rewired.spec.imports], [vm.id, "stopped", null, after]);
    assert.equal(rewired.spec.labels, vm.spec.labels);
    assert.equal((await status(d, vm.id))?.spec.imports, after);
    const again = await act(d.start(vm.id));
    assert.equal([again.id, where(again), again.spec.imports], [vm.id, where(running), after]);
    await answers(again.address, "web-1", after);
  });

  test("destroy: a running VM is stopped (vm-stopped) and gone; destroying again, or a VM never started, succeeds", async () => {
    const d = open();
    const ev = watch(d);
    const vm = await act(d.create(spec("web-1")));
    const running = await act(d.start(vm.id));
    const idle = await act(d.create(spec("web-2")));
    await act(d.destroy(vm.id));
    await eventually("vm-stopped", () => ev.saw("vm-stopped", vm.id));
    assert.is(await status(d, vm.id), null);
    await silent(running.address!, "after destroy");
    await act(d.destroy(vm.id));
    await act(d.destroy(idle.id));
    assert.is(await status(d, idle.id), null);
    assert.equal(await act(d.list({})), []);
    await factory.pass(QUIET_MS);
    assert.equal(ev.events.filter((e) => e.type !== "vm-running").map((e) => `${e.type} ${e.id}`), [`vm-stopped ${vm.id}`]);
  });

  test("a crash the hypervisor sees: vm-failed with a reason; the VM is failed, without an address; it starts again in place", async () => {
    const d = open();
    const ev = watch(d);
    const vm = await act(d.create(spec("web-1")));
    const running = await act(d.start(vm.id));
    await factory.crash(vm.id);
    // Asked before the driver's own watch has noticed, status says so too, and the event still comes.
    await eventually("status failed", async () => (await status(d, vm.id))?.state === "failed");
    await eventually("vm-failed", () => ev.saw("vm-failed", vm.id));
    const failed = ev.of("vm-failed", vm.id)[0];
    assert.ok(failed.type === "vm-failed" && failed.reason !== "", "a reason is given");
    const seen = await status(d, vm.id);
    assert.equal([seen?.state, seen?.address], ["failed", null]);
    assert.equal((await act(d.list({ farm: "conform" }))).map((r) => r.state), ["failed"]);
    assert.not.ok(ev.saw("vm-stopped", vm.id), "a crash is not a stop");
    const again = await act(d.start(vm.id));
    assert.equal([again.id, again.state, where(again)], [vm.id, "running", where(running)]);
    await answers(again.address, "web-1", {});
  });

  test("a hung guest: the VM still runs for the driver, nothing answers, no vm-failed; stop still ends it", async () => {
    const d = open();
    const ev = watch(d);
    const vm = await act(d.create(spec("web-1")));
    const running = await act(d.start(vm.id));
    await factory.hangGuest(vm.id);
    await factory.pass(QUIET_MS);
    const seen = await status(d, vm.id);
    assert.equal([seen?.state, where(seen)], ["running", where(running)]);
    await silent(running.address!, "a hung guest");
    assert.not.ok(ev.saw("vm-failed", vm.id), "a hung guest is not the driver's to see");
    await act(d.stop(vm.id));
    await eventually("vm-stopped", () => ev.saw("vm-stopped", vm.id));
    assert.is((await status(d, vm.id))?.state, "stopped");
    const again = await act(d.start(vm.id));
    await answers(again.address, "web-1", {});
  });

  test("a forced stop ends a hung guest at once, and it starts again on its address", async () => {
    const d = open();
    const ev = watch(d);
    const vm = await act(d.create(spec("web-1")));
    const running = await act(d.start(vm.id));
    await factory.hangGuest(vm.id);
    await act(d.stop(vm.id, { force: true }));
    await eventually("vm-stopped", () => ev.saw("vm-stopped", vm.id));
    assert.is((await status(d, vm.id))?.state, "stopped");
    assert.not.ok(ev.saw("vm-failed", vm.id), "a stop asked for is no failure");
    const again = await act(d.start(vm.id));
    assert.is(where(again), where(running));
    await answers(again.address, "web-1", {});
  });

  if (factory.killGuest !== undefined) {
    const killGuest = factory.killGuest;
    test("a guest that dies inside a running VM: the VM still runs for the driver, nothing answers, no vm-failed; stop and start bring it back", async () => {
      const d = open();
      const ev = watch(d);
      const vm = await act(d.create(spec("web-1")));
      const running = await act(d.start(vm.id));
      await killGuest(vm.id);
      await factory.pass(QUIET_MS);
      const seen = await status(d, vm.id);
      assert.equal([seen?.state, where(seen)], ["running", where(running)]);
      assert.equal((await act(d.list({}))).map((r) => r.state), ["running"]);
      await silent(running.address!, "a dead guest");
      assert.not.ok(ev.saw("vm-failed", vm.id), "a dead guest in a running VM is not the driver's to see");
      await act(d.stop(vm.id));
      assert.is((await status(d, vm.id))?.state, "stopped");
      const again = await act(d.start(vm.id));
      assert.is(where(again), where(running));
      await answers(again.address, "web-1", {});
    });
  }

  test("list: every VM whose labels include all those asked for", async () => {
    const d = open();
    const made = {
      web1: await act(d.create(spec("web-1", { farm: "shop", role: "web" }))),
      web2: await act(d.create(spec("web-2", { farm: "shop", role: "web" }))),
      db1: await act(d.create(spec("db-1", { farm: "shop", role: "db" }))),
      eu: await act(d.create(spec("web-1", { farm: "shop-eu", role: "web" }))),
    };
    await act(d.start(made.db1.id));
    const ids = async (labels: Parameters<Driver["list"]>[0]) => (await act(d.list(labels))).map((r) => r.id).sort();
    const sorted = (...rs: VmRecord[]) => rs.map((r) => r.id).sort();
    assert.equal(await ids({ farm: "shop" }), sorted(made.web1, made.web2, made.db1));
    assert.equal(await ids({ farm: "shop", role: "web" }), sorted(made.web1, made.web2));
    assert.equal(await ids({ farm: "shop", vm: "db-1" }), sorted(made.db1));
    assert.equal(await ids({ farm: "shop", vm: "web-1" }), sorted(made.web1));
    assert.equal(await ids({ role: "web" }), sorted(made.web1, made.web2, made.eu));
    assert.equal(await ids({ vm: "web-1" }), sorted(made.web1, made.eu));
    assert.equal(await ids({}), sorted(made.web1, made.web2, made.db1, made.eu));
    assert.equal(await ids({ farm: "nowhere" }), []);
    const [db] = await act(d.list({ farm: "shop", role: "db" }));
    assert.equal([db.state, db.spec.labels], ["running", { farm: "shop", role: "db", vm: "db-1" }]);
  });

  test("adoption: a second driver instance finds the first one's VMs by labels, with their state and address, and acts on them", async () => {
    const first = open();
    const imports = { peer: "http://127.0.9.9:1" };
    const a = await act(first.create(spec("web-1", { imports })));
    const b = await act(first.create(spec("web-2")));
    const c = await act(first.create(spec("db-1", { role: "db" })));
    const other = await act(first.create(spec("web-1", { farm: "elsewhere" })));
    const ra = await act(first.start(a.id));
    const rb = await act(first.start(b.id));
    await act(first.start(c.id));
    await act(first.stop(c.id));
    await first.close();

    const second = open();
    const ev = watch(second);
    const found = await act(second.list({ farm: "conform" }));
    const by = new Map(found.map((r) => [r.id, r]));
    assert.equal([...by.keys()].sort(), [a.id, b.id, c.id].sort());
    assert.equal([by.get(a.id)!.state, where(by.get(a.id)!)], ["running", where(ra)]);
    assert.equal([by.get(b.id)!.state, where(by.get(b.id)!)], ["running", where(rb)]);
    assert.equal([by.get(c.id)!.state, by.get(c.id)!.address], ["stopped", null]);
    assert.equal(by.get(a.id)!.spec.labels, a.spec.labels);
    assert.equal(by.get(a.id)!.spec.imports, imports);
    assert.equal(by.get(c.id)!.spec.labels, { farm: "conform", role: "db", vm: "db-1" });
    assert.equal((await act(second.list({ farm: "conform", role: "db" }))).map((r) => r.id), [c.id]);
    // Made and never started: created, or stopped where the hypervisor cannot tell the two apart.
    assert.ok(["created", "stopped"].includes((await status(second, other.id))!.state));

    // A crash of a VM it adopted is reported.
    await factory.crash(b.id);
    await eventually("vm-failed of an adopted VM", () => ev.saw("vm-failed", b.id));
    assert.is((await status(second, b.id))?.state, "failed");

    await act(second.stop(a.id));
    await eventually("vm-stopped", () => ev.saw("vm-stopped", a.id));
    const again = await act(second.start(a.id));
    assert.equal([again.state, where(again)], ["running", where(ra)]);
    await answers(again.address, "web-1", imports);
    for (const r of await act(second.list({}))) await act(second.destroy(r.id));
    assert.equal(await act(second.list({})), []);
  });

  test("unknown ids: status is null, destroy succeeds; start, stop and reconfigure reject", async () => {
    const d = open();
    const gone = await act(d.create(spec("web-1")));
    await act(d.destroy(gone.id));
    for (const id of ["no-such-vm", gone.id]) {
      assert.is(await status(d, id), null, `status of ${id}`);
      await act(d.destroy(id));
      await refusal(`start of ${id}`, d.start(id));
      await refusal(`stop of ${id}`, d.stop(id));
      await refusal(`reconfigure of ${id}`, d.reconfigure(id, {}));
    }
    assert.equal(await act(d.list({})), []);
  });

  test("concurrent creates get distinct ids; started together, distinct addresses, each serving itself", async () => {
    const d = open();
    const names = Array.from({ length: 8 }, (_, i) => `w-${i}`);
    const made = await act(Promise.all(names.map((n) => d.create(spec(n)))));
    assert.is(new Set(made.map((r) => r.id)).size, names.length);
    assert.is((await act(d.list({ farm: "conform" }))).length, names.length);
    const running = await act(Promise.all(made.map((r) => d.start(r.id))));
    assert.is(new Set(running.map(where)).size, names.length);
    for (const [i, r] of running.entries()) await answers(r.address, names[i], {});
  });

  return test;
}
