// The simulated driver (control/sim/driver.ts) on virtual time: the Driver conformance suite, and
// what only a simulation has (boots that take virtual time, broken images).

import { test } from "uvu";
import * as assert from "uvu/assert";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Kernel } from "../control/sim/kernel.ts";
import { SimDriver } from "../control/sim/driver.ts";
import { driverConformance } from "./drivers/conformance.ts";

const images = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "images");
const PORT = 8080;
const OPTIONS = { bootMs: 1_000, stopMs: 200, port: PORT };

let clock = new Kernel();
/** The first driver of a test; the others attach to its simulated hypervisor. */
let first: SimDriver | null = null;
const world = () => {
  if (first === null) throw new Error("no driver made yet");
  return first;
};

driverConformance({
  name: "sim",
  async setup() {
    clock = new Kernel({ start: Date.UTC(2025, 0, 1) });
    first = null;
  },
  makeDriver() {
    if (first === null) return (first = new SimDriver(clock, OPTIONS));
    return first.attach();
  },
  image: (kind) => path.join(images, kind),
  pass: (ms) => clock.advance(ms),
  settle: (work) => clock.runUntil(work),
  async ask(address) {
    const found = world().guestAt(address.host);
    if (found === null || address.port !== PORT || found.guest !== "serving") return null;
    return { vm: found.spec.labels.vm, imports: found.spec.imports };
  },
  async crash(id) {
    world().crash(id);
  },
  async hangGuest(id) {
    world().setGuest(id, "hung");
  },
  async killGuest(id) {
    world().setGuest(id, "dead");
  },
}).run();

test("a boot takes bootMs of virtual time, a stop stopMs; nothing waits for the wall clock", async () => {
  const c = new Kernel();
  const d = new SimDriver(c, OPTIONS);
  const vm = await d.create({ labels: { farm: "f", role: "web", vm: "web-1" }, image: path.join(images, "echo"), imports: {} });
  let started = false;
  const start = d.start(vm.id).then((r) => ((started = true), r));
  await c.advance(999);
  assert.not.ok(started, "not booted before bootMs");
  assert.is((await d.status(vm.id))?.state, "starting");
  await c.advance(1);
  assert.ok(started);
  assert.is((await start).state, "running");
  await c.runUntil(d.stop(vm.id));
  assert.is(c.now(), 1_200);
  await d.close();
});

test("a broken image does not boot: start rejects, the VM is failed; mended, it starts", async () => {
  const c = new Kernel();
  const d = new SimDriver(c, OPTIONS);
  const image = path.join(images, "echo");
  d.brokenImages.add(image);
  const vm = await d.create({ labels: { farm: "f", role: "web", vm: "web-1" }, image, imports: {} });
  const err = await c.runUntil(d.start(vm.id)).then(() => null, (e: Error) => e);
  assert.match(err?.message ?? "", "is broken");
  assert.is((await d.status(vm.id))?.state, "failed");
  d.brokenImages.delete(image);
  assert.is((await c.runUntil(d.start(vm.id))).state, "running");
  await d.close();
});

test.run();
