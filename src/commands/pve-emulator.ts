// `farmhand pve-emulator`: the Proxmox VE API emulator (control/drivers/proxmox/emulator) on
// 127.0.0.1, with templates made from image folders, until Ctrl-C; every guest process is killed on exit.

import path from "node:path";
import { parseArgs } from "node:util";
import { startEmulator, type EmulatorTemplate } from "../../control/drivers/proxmox/emulator/index.ts";

const USAGE = `usage: farmhand pve-emulator [--port N] [--nodes pve1,pve2] [--template NAME=DIR]... [--first-vmid 9000]
                             [--task-delay MS] [--boot-delay MS] [--tls]
`;

export async function runPveEmulator(args: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        port: { type: "string", short: "p" },
        nodes: { type: "string" },
        template: { type: "string", multiple: true, short: "t" },
        "first-vmid": { type: "string" },
        "task-delay": { type: "string" },
        "boot-delay": { type: "string" },
        tls: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`farmhand pve-emulator: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const num = (v: string | undefined, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  };
  const port = num(values.port, "port", 8006);
  const nodes = (values.nodes ?? "pve1,pve2").split(",").map((n) => n.trim()).filter((n) => n !== "");
  if (nodes.length === 0) throw new Error("--nodes needs at least one node name");
  let vmid = num(values["first-vmid"], "first-vmid", 9000);
  const templates: Record<number, EmulatorTemplate> = {};
  for (const spec of values.template ?? []) {
    const eq = spec.indexOf("=");
    if (eq <= 0) {
      process.stderr.write(`farmhand pve-emulator: --template wants NAME=DIR, got ${JSON.stringify(spec)}\n`);
      return 2;
    }
    templates[vmid++] = { name: spec.slice(0, eq), node: nodes[0], image: path.resolve(spec.slice(eq + 1)) };
  }

  const emulator = await startEmulator({
    host: "127.0.0.1",
    port,
    nodes,
    templates,
    taskDelayMs: num(values["task-delay"], "task-delay", 200),
    bootDelayMs: num(values["boot-delay"], "boot-delay", 1000),
    tls: values.tls === true,
  });
  process.stdout.write(`Proxmox VE API emulator: ${emulator.url}\n`);
  process.stdout.write(`  nodes: ${nodes.join(", ")}\n`);
  for (const [id, t] of Object.entries(templates)) process.stdout.write(`  template ${id} ${t.name} on ${t.node}: ${t.image}\n`);
  process.stdout.write(`  API token: ${emulator.token.id}=${emulator.token.secret}\n`);
  process.stdout.write(`  header:    Authorization: ${emulator.token.header}\n`);
  process.stdout.write(`  login:     ${emulator.user} / ${emulator.password} (POST ${emulator.url}/access/ticket)\n`);
  process.stdout.write("serving; Ctrl-C to stop\n");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
    process.once("SIGHUP", resolve);
  });
  await emulator.close();
  process.stdout.write("stopped (every emulated VM process killed)\n");
  return 0;
}
