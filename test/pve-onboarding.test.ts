// Proxmox onboarding as the README walks it, against `farmhand pve-emulator`: the emulator prints
// export lines ready to paste and writes a templates file for the images it was given, the balancer's
// included; `up --driver proxmox` with nothing else deploys the example farm, says it is on the
// proxmox driver, and `status` shows each VM's VMID and node. A cluster without an image's template
// gets an error that names the templates file's missing key.

import { rmSync, readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { freePorts } from "../bench/lib/net.ts";
import { EXAMPLE, ROOT, Running, farmhand, newHome } from "./helpers/farm-cli.ts";
import { waitFor } from "./helpers/proxy.ts";

let home = "";
const emulators: Running[] = [];

test.before(() => {
  home = newHome();
});
test.after(async () => {
  for (const e of emulators) await e.stop();
  rmSync(home, { recursive: true, force: true });
});

/** Starts `farmhand pve-emulator ARGS` and returns the environment its export lines set. */
async function emulator(args: readonly string[]): Promise<{ env: Record<string, string>; stdout: string }> {
  const [port] = await freePorts(1);
  const e = new Running(home, ["pve-emulator", "--port", String(port), "--task-delay", "20", "--boot-delay", "100", ...args]);
  emulators.push(e);
  assert.ok(await waitFor(() => /^# \(password login/m.test(e.stdout) || e.child.exitCode !== null, 30_000, 50), e.stdout + e.stderr);
  const env: Record<string, string> = {};
  for (const m of e.stdout.matchAll(/^export (FARMHAND_PVE_\w+)=(.*)$/gm)) env[m[1]] = m[2].replace(/^'(.*)'$/, "$1");
  return { env, stdout: e.stdout };
}

test("the emulator's export lines and templates file are all up --driver proxmox needs; status shows VMID and node", async () => {
  const { env, stdout } = await emulator(["--images-root", "examples/order-processing"]);
  assert.equal(Object.keys(env).sort(), ["FARMHAND_PVE_TEMPLATES", "FARMHAND_PVE_TOKEN", "FARMHAND_PVE_URL"]);
  assert.match(env.FARMHAND_PVE_URL, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(env.FARMHAND_PVE_TOKEN, /^root@pam!farmhand=\S+$/);
  const templates = JSON.parse(readFileSync(env.FARMHAND_PVE_TEMPLATES, "utf8")) as Record<string, number>;
  assert.equal(Object.keys(templates).sort(), ["balancer", "inventory", "orders", "payments", "web"]);
  assert.match(stdout, /^# then, for instance: npx farmhand up examples\/order-processing\/farm\.ts --driver proxmox$/m);

  const farm = ["--farm", "pve-onboard"];
  try {
    const up = farmhand(home, ["up", "--detach", EXAMPLE, "--driver", "proxmox", ...farm], { env, cwd: ROOT, timeoutMs: 170_000 });
    assert.is(up.code, 0, `${up.stdout}\n${up.stderr}`);
    assert.match(up.stdout, /up: farm pve-onboard: created 6, adopted 0/);
    const log = farmhand(home, ["logs", ...farm], { env });
    assert.match(log.stdout, /deploying farm pve-onboard from .* on the proxmox driver/);

    const status = farmhand(home, ["status", ...farm], { env });
    assert.is(status.code, 0, status.stderr);
    assert.match(status.stdout, /^farm pve-onboard \(proxmox driver\)/m);
    assert.match(status.stdout, /^VM +ROLE +STATE +HEALTH +VMID +NODE +UPTIME +ADDRESS /m);
    assert.match(status.stdout, /^orders-1 +orders +running +healthy +\d{3,} +pve[12] +\d+s +127\.\d+\.\d+\.\d+:8080 /m, status.stdout);
  } finally {
    const down = farmhand(home, ["down", ...farm], { env, timeoutMs: 120_000 });
    assert.is(down.code, 0, down.stderr);
  }
});

test("a cluster with no template for an image: the error names the templates file's missing key", async () => {
  const { env } = await emulator(["--template", "payments=examples/order-processing/payments"]);
  const templates = JSON.parse(readFileSync(env.FARMHAND_PVE_TEMPLATES, "utf8")) as Record<string, number>;
  assert.equal(Object.keys(templates).sort(), ["balancer", "payments"], "the balancer's template is always made");
  const up = farmhand(home, ["up", EXAMPLE, "--driver", "proxmox", "--farm", "pve-missing"], { env, cwd: ROOT, timeoutMs: 120_000 });
  assert.is(up.code, 1);
  assert.match(up.stderr, /no template for image "inventory" \(.*inventory\): the templates file has no key "inventory", and the cluster has no template named "inventory"; add "inventory": <template VMID or name>/);
  farmhand(home, ["down", "--farm", "pve-missing"], { env });
});

test.run();
