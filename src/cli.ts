// farmhand's command line: one subcommand per file under src/commands/, each loaded only when it
// runs, so that `farmhand proxy` (a long-lived service) carries none of the control plane.

import { parseArgs } from "node:util";
import { DRIVER_HELP, DriverChoiceError } from "./commands/driver-options.ts";

const USAGE = `usage: farmhand <command> [options]

commands:
  check SCRIPT          type-check a farm script against its roles and contracts
  up SCRIPT             type-check, then run the script on the local driver (VMs stay up)
  down [SCRIPT]         remove every VM of the farm (also after a crashed controller)
  status [SCRIPT]       VMs, balancers, pools and health as tables
  graph SCRIPT [--out FILE.svg] [--mermaid]
                        draw the farm a script would build, creating nothing: an SVG next
                        to the script (or --out); --mermaid also prints a Mermaid flowchart
  gen IMAGE_DIR... --out FILE | gen --images-root DIR --out FILE
                        generate typed contracts and roles from the images' farmhand.json
  start SCRIPT [--tour] up, print the front URL, serve until Ctrl-C, then down;
                        --tour drives load, kills a VM, shows the recovery and exits
  proxy --config FILE   run the load-balancing proxy from a JSON or YAML config
                        (SIGHUP reloads the file, SIGTERM drains and exits)
  pve-emulator [--port N] [--nodes pve1,pve2] [--template NAME=DIR]... [--tls]
                        a Proxmox VE API emulator (VMs run images locally) until Ctrl-C
  demo                  the proxy alone in front of two demo backends
  help                  show this text

farm options: --farm NAME (default: the script's folder name)
${DRIVER_HELP}`;

const FARM_OPTIONS = {
  farm: { type: "string" },
  state: { type: "string" },
  tour: { type: "boolean" },
  driver: { type: "string" },
  templates: { type: "string" },
} as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "proxy": {
      const { values } = parseArgs({ args: rest, options: { config: { type: "string", short: "c" } }, strict: true });
      if (values.config === undefined) {
        process.stderr.write("farmhand proxy: --config FILE is required\n");
        return 2;
      }
      const { runProxy } = await import("./commands/proxy.ts");
      return runProxy(values.config);
    }
    case "demo":
      return (await import("./commands/demo.ts")).runDemo(rest);
    case "gen":
      return (await import("./commands/gen.ts")).runGen(rest);
    case "pve-emulator":
      return (await import("./commands/pve-emulator.ts")).runPveEmulator(rest);
    case "graph": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { out: { type: "string", short: "o" }, mermaid: { type: "boolean" }, farm: { type: "string" } },
        allowPositionals: true,
        strict: true,
      });
      const script = positionals[0];
      if (script === undefined) {
        process.stderr.write("farmhand graph: a farm script is required (e.g. examples/order-processing/farm.ts)\n");
        return 2;
      }
      const { runGraph } = await import("./commands/graph.ts");
      return runGraph(script, { out: values.out, mermaid: values.mermaid, farm: values.farm });
    }
    case "check":
    case "up":
    case "down":
    case "status":
    case "start": {
      const { values, positionals } = parseArgs({ args: rest, options: FARM_OPTIONS, allowPositionals: true, strict: true });
      const script = positionals[0];
      const options = { farm: values.farm, stateDir: values.state, driver: values.driver, templates: values.templates, script };
      if (script === undefined && (command === "check" || command === "up" || command === "start")) {
        process.stderr.write(`farmhand ${command}: a farm script is required (e.g. examples/order-processing/farm.ts)\n`);
        return 2;
      }
      const { runCheck, runDown, runStart, runStatus, runUp } = await import("./commands/farm.ts");
      if (command === "check") return runCheck(script!);
      if (command === "up") return runUp(script!, options);
      if (command === "start") return runStart(script!, { ...options, tour: values.tour });
      if (command === "down") return runDown(options);
      return runStatus(options);
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`farmhand: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`farmhand: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = error instanceof DriverChoiceError ? 2 : 1;
  },
);
