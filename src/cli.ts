// farmhand's command line: one subcommand per file under src/commands/, each loaded only when it
// runs, so that `farmhand proxy` (a long-lived service) carries none of the control plane.

import { parseArgs } from "node:util";
import { DRIVER_HELP, DriverChoiceError } from "./commands/driver-options.ts";

const USAGE = `usage: farmhand <command> [options]

farm commands (the farm is named after the script's folder, or --farm NAME; without either, the
only farm there is):
  check SCRIPT          type-check a farm script against its roles and contracts
  plan SCRIPT           what up would create, adopt, restart, rewire and remove; changes nothing
  up SCRIPT [--detach]  check, deploy, then keep the farm healed until Ctrl-C (the farm keeps
                        running after); --detach leaves the controller running in the background
  start SCRIPT [--tour] up, serve until Ctrl-C, then remove the farm; --tour drives load, kills a
                        VM, shows the recovery and exits
  status [SCRIPT]       the controller, VMs, balancers, pools and health
  ls                    every farm, its driver, VMs and controller
  logs [VM] [-f]        what the farm's controller did, or what a VM printed; -f follows
  down [SCRIPT]         stop the controller and remove every VM of the farm
  graph SCRIPT [--out FILE.svg] [--mermaid]
                        draw the farm a script would build, creating nothing
  gen IMAGE_DIR... --out FILE | gen --images-root DIR --out FILE
                        generate typed contracts and roles from the images' farmhand.json

other commands:
  proxy --config FILE   run the load-balancing proxy from a JSON or YAML config
                        (SIGHUP reloads the file, SIGTERM drains and exits)
  pve-emulator [--port N] [--nodes pve1,pve2] [--template NAME=DIR]... [--tls]
                        a Proxmox VE API emulator (VMs run images locally) until Ctrl-C
  demo                  the proxy alone in front of two demo backends
  help                  show this text

Farms are recorded under $FARMHAND_HOME (default ~/.local/state/farmhand), whatever the directory.
${DRIVER_HELP}`;

const FARM_OPTIONS = {
  farm: { type: "string" },
  driver: { type: "string" },
  templates: { type: "string" },
  detach: { type: "boolean", short: "d" },
  tour: { type: "boolean" },
  follow: { type: "boolean", short: "f" },
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
    case "plan":
    case "up":
    case "start":
    case "down":
    case "status":
    case "ls":
    case "logs":
    case "controller": {
      const { values, positionals } = parseArgs({ args: rest, options: FARM_OPTIONS, allowPositionals: true, strict: true });
      const args = { farm: values.farm, driver: values.driver, templates: values.templates };
      if (command === "logs") {
        const { runLogs } = await import("./commands/logs.ts");
        return runLogs({ ...args, vm: positionals[0], follow: values.follow });
      }
      const script = positionals[0];
      const needsScript = command === "check" || command === "plan" || command === "up" || command === "start";
      if (needsScript && script === undefined) {
        process.stderr.write(`farmhand ${command}: a farm script is required (e.g. examples/order-processing/farm.ts)\n`);
        return 2;
      }
      const { driverChoiceOf } = await import("./commands/farm-common.ts");
      driverChoiceOf(args); // a bad --driver is refused before any work
      switch (command) {
        case "check":
          return (await import("./commands/up.ts")).runCheck(script!);
        case "plan":
          return (await import("./commands/plan.ts")).runPlan({ ...args, script: script! });
        case "up":
          return (await import("./commands/up.ts")).runUp({ ...args, script: script!, detach: values.detach });
        case "start":
          return (await import("./commands/up.ts")).runStart({ ...args, script: script!, tour: values.tour });
        case "controller":
          if (values.farm === undefined) throw new DriverChoiceError("farmhand controller: --farm NAME is required");
          return (await import("./commands/up.ts")).runController(values.farm);
        case "down":
          return (await import("./commands/down.ts")).runDown({ ...args, script });
        case "status":
          return (await import("./commands/status.ts")).runStatus({ ...args, script });
        case "ls":
          return (await import("./commands/status.ts")).runLs(args);
      }
      return 2;
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
