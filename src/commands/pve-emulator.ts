// `farmhand pve-emulator`: the Proxmox VE API emulator (control/drivers/proxmox/emulator) on
// 127.0.0.1, with templates made from image folders, until Ctrl-C; every guest process is killed on
// exit. For onboarding, it prints what a shell needs to use it, ready to paste: the FARMHAND_PVE_*
// export lines and a templates file for every image it was given, the balancer's included (any farm
// with `balance` needs it).

import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startEmulator, type EmulatorTemplate } from "../../control/drivers/proxmox/emulator/index.ts";
import { BALANCER_IMAGE } from "../../control/images/balancer/settings.ts";
import { DriverChoiceError } from "../errors.ts";
import { imagesUnder } from "./gen.ts";

export interface PveEmulatorOptions {
  readonly port: number;
  readonly nodes: string;
  readonly template?: readonly string[];
  readonly imagesRoot?: string;
  readonly firstVmid: string;
  readonly taskDelay: string;
  readonly bootDelay: string;
  readonly tls?: boolean;
}

export async function runPveEmulator(options: PveEmulatorOptions): Promise<number> {
  const num = (v: string, name: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v)) throw new DriverChoiceError(`farmhand pve-emulator: --${name} must be a non-negative integer (got ${JSON.stringify(v)})`);
    return n;
  };
  const nodes = options.nodes.split(",").map((n) => n.trim()).filter((n) => n !== "");
  if (nodes.length === 0) throw new DriverChoiceError("farmhand pve-emulator: --nodes needs at least one node name");
  const images = new Map<string, string>();
  for (const spec of options.template ?? []) {
    const eq = spec.indexOf("=");
    if (eq <= 0) throw new DriverChoiceError(`farmhand pve-emulator: --template wants NAME=DIR (got ${JSON.stringify(spec)})`);
    images.set(spec.slice(0, eq), path.resolve(spec.slice(eq + 1)));
  }
  if (options.imagesRoot !== undefined) for (const dir of imagesUnder(options.imagesRoot)) images.set(path.basename(dir), path.resolve(dir));
  if (![...images.values()].some((dir) => dir === BALANCER_IMAGE)) images.set("balancer", BALANCER_IMAGE);

  let vmid = num(options.firstVmid, "first-vmid");
  const templates: Record<number, EmulatorTemplate> = {};
  /** What the driver's --templates file maps: an image folder's name -> its template's VMID. */
  const mapping: Record<string, number> = {};
  for (const [name, dir] of images) {
    templates[vmid] = { name, node: nodes[0], image: dir };
    mapping[path.basename(dir)] = vmid;
    vmid++;
  }

  const emulator = await startEmulator({
    host: "127.0.0.1",
    port: options.port,
    nodes,
    templates,
    taskDelayMs: num(options.taskDelay, "task-delay"),
    bootDelayMs: num(options.bootDelay, "boot-delay"),
    tls: options.tls === true,
  });
  const dir = path.join(os.tmpdir(), `farmhand-pve-emulator-${new URL(emulator.origin).port}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const templatesFile = path.join(dir, "templates.json");
  writeFileSync(templatesFile, `${JSON.stringify(mapping, null, 2)}\n`, { mode: 0o600 });
  let caLine = "";
  if (emulator.certificate !== null) {
    const ca = path.join(dir, "ca.pem");
    writeFileSync(ca, emulator.certificate, { mode: 0o600 });
    caLine = `export FARMHAND_PVE_CA=${ca}\n`;
  }
  const shell = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  process.stdout.write(
    `# farmhand pve-emulator: a Proxmox VE API emulator at ${emulator.url} (nodes ${nodes.join(", ")}); Ctrl-C stops it\n` +
      "# Paste these lines into the shell that runs farmhand:\n" +
      `export FARMHAND_PVE_URL=${emulator.origin}\n` +
      `export FARMHAND_PVE_TOKEN=${shell(`${emulator.token.id}=${emulator.token.secret}`)}\n` +
      caLine +
      `export FARMHAND_PVE_TEMPLATES=${templatesFile}\n` +
      `# then, for instance: npx farmhand up examples/order-processing/farm.ts --driver proxmox\n` +
      `#\n# ${templatesFile} (image folder name -> template VMID; --templates FILE or FARMHAND_PVE_TEMPLATES):\n` +
      JSON.stringify(mapping, null, 2).split("\n").map((l) => `#   ${l}`).join("\n") + "\n" +
      Object.entries(templates).map(([id, t]) => `# template ${id} "${t.name}" on ${t.node}: ${t.image}`).join("\n") + "\n" +
      `# (password login instead of the token: ${emulator.user} / ${emulator.password})\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
    process.once("SIGHUP", resolve);
  });
  await emulator.close();
  process.stderr.write("farmhand pve-emulator: stopped (every emulated VM process killed)\n");
  return 0;
}
