// `farmhand demo` (what `npm start` runs until the control plane takes over): two demo backends as
// child processes and the balancer in front of them, from examples/proxy-demo/proxy.yaml.

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Balancer, loadConfigFile } from "../../native-free-core/index.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const demoDir = path.join(root, "examples/proxy-demo");

export async function runDemo(args: readonly string[]): Promise<number> {
  const once_ = args.includes("--once");
  const config = await loadConfigFile(path.join(demoDir, "proxy.yaml"));
  const children: ChildProcess[] = [];
  const stopChildren = () => {
    for (const child of children) child.kill("SIGTERM");
  };
  process.once("exit", stopChildren);
  let balancer: Balancer | null = null;
  try {
    const ports = config.pools[0].backends.map((b) => b.port);
    for (const [i, port] of ports.entries()) {
      const child = spawn(process.execPath, [path.join(demoDir, "backend.ts"), `backend-${i + 1}`, String(port)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      children.push(child);
      const [line] = (await Promise.race([once(child.stdout!, "data"), once(child, "exit")])) as [Buffer | number];
      if (typeof line === "number" || line === null) throw new Error(`demo backend-${i + 1} did not start`);
      process.stdout.write(`  ${line.toString().trim()}\n`);
    }
    balancer = await Balancer.start(config);
    const web = balancer.listeners.find((l) => l.protocol === "http")!;
    const url = `http://${web.address}:${web.port}`;
    process.stdout.write(`farmhand proxy: ${url} (HTTP), tcp://127.0.0.1:${balancer.listeners.find((l) => l.protocol === "tcp")!.port} (TCP)\n`);
    process.stdout.write(`admin API: ${balancer.adminUrl} (token in examples/proxy-demo/demo-admin-token)\n`);
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`${url}/demo/${i}`);
      process.stdout.write(`  GET /demo/${i} -> ${response.status} ${(await response.text()).trim()}\n`);
    }
    if (once_) return 0;
    process.stdout.write("serving; Ctrl-C to stop\n");
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    return 0;
  } finally {
    await balancer?.shutdown(5000);
    stopChildren();
    process.stdout.write("stopped\n");
  }
}
