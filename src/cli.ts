// farmhand's command line, on commander: every command has --help, the program has --version, a
// mistyped command or option gets a suggestion, and options are checked (choices, files that must
// exist, names) before any work starts. Each command's work lives in a file under src/commands/,
// loaded only when it runs, so that `farmhand proxy` (a long-lived service) carries none of the
// control plane. src/farmhand.mjs makes sure Node 24 runs this, and calls main().

import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { DRIVER_HELP } from "./commands/driver-options.ts";
import { DriverChoiceError, UsageError } from "./errors.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const VERSION = (JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }).version;
const FARM_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

const FARM_HELP = `
A farm is named after its script's folder (or --farm NAME); status, logs, down and dashboard
without either act on the only farm there is. Farms are recorded under $FARMHAND_HOME (default
~/.local/state/farmhand), whatever the current directory.

${DRIVER_HELP}`;

const EXAMPLES = `
Start here:
  npx farmhand init my-farm && cd my-farm && npm install     a farm project of your own
  npx farmhand up farm.ts                                    run it; prints its dashboard first
  npx farmhand status                                        what runs, with rates and errors
  npx farmhand down                                          remove it

In a clone of farmhand: npm ci && npm start (the example farm, its dashboard, until Ctrl-C).
Every command has --help: farmhand up --help.
`;

// ----- argument checks: each runs while parsing, so a bad argument stops before any work

function existingFile(what: string) {
  return (value: string): string => {
    if (!existsSync(value)) throw new InvalidArgumentError(`${what} ${value} does not exist`);
    if (!statSync(value).isFile()) throw new InvalidArgumentError(`${what} ${value} is not a file`);
    return value;
  };
}

const farmScript = (value: string): string => {
  existingFile("the farm script")(value);
  if (!/\.(m?ts|m?js)$/.test(value)) throw new InvalidArgumentError(`the farm script ${value} is not a .ts or .js module`);
  return value;
};

const farmName = (value: string): string => {
  if (!FARM_NAME.test(value)) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a farm name (lower-case letters, digits and "-", at most 63)`);
  return value;
};

const templatesFile = (value: string): string => {
  existingFile("the templates file")(value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(value, "utf8"));
  } catch (error) {
    throw new InvalidArgumentError(`${value} is not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`${value} must hold a JSON object: image folder name -> template VMID or name`);
  }
  return value;
};

const seconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.5 || n > 3600) throw new InvalidArgumentError(`expected seconds between 0.5 and 3600 (got ${JSON.stringify(value)})`);
  return n;
};

const eventCount = (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 1000) throw new InvalidArgumentError(`expected a count of events, 0 to 1000 (got ${JSON.stringify(value)})`);
  return n;
};

const port = (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`expected a port, 0 to 65535 (got ${JSON.stringify(value)})`);
  return n;
};

interface FarmOptions {
  readonly farm?: string;
  readonly driver?: string;
  readonly templates?: string;
}

function farmOptions(command: Command, options: { readonly driver?: boolean } = {}): Command {
  command.addOption(new Option("--farm <name>", "the farm (default: named after the script's folder, or the only farm)").argParser(farmName));
  if (options.driver !== false) {
    command.addOption(new Option("--driver <kind>", "where VMs run").choices(["local", "proxmox"]));
    command.addOption(new Option("--templates <file>", "Proxmox: JSON of image folder name -> template VMID or name").env("FARMHAND_PVE_TEMPLATES").argParser(templatesFile));
  }
  return command;
}

/** The farm arguments as the commands take them; a Proxmox choice is checked against the environment now. */
async function farmArgs(options: FarmOptions, script?: string) {
  const args = { farm: options.farm, driver: options.driver, templates: options.templates, script };
  const { driverChoiceOf } = await import("./commands/farm-common.ts");
  driverChoiceOf(args, { checkEnvironment: true });
  return args;
}

/** Runs the command line; resolves with the exit status (2 for a usage mistake). */
export async function main(argv: readonly string[]): Promise<number> {
  let code = 0;
  const done = (c: number) => {
    code = c;
  };
  const program = new Command("farmhand");
  program
    .description("Typed farm scripts over service combinators: VMs, their wiring, load balancers, healing.")
    .version(VERSION, "-V, --version", "print farmhand's version")
    .helpOption("-h, --help", "show help (every command has its own: farmhand COMMAND --help)")
    .helpCommand("help [command]", "show help for a command")
    .showSuggestionAfterError(true)
    .showHelpAfterError("(farmhand --help lists the commands)")
    .configureHelp({ sortSubcommands: false, subcommandTerm: (c) => `${c.name()} ${c.usage()}`.trim() })
    .addHelpText("after", `${EXAMPLES}${FARM_HELP}`)
    .exitOverride();
  program.configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, "farmhand: ")) });

  /** A subcommand: its own error prefix and help hint, inherited settings. */
  const sub = (name: string, description: string, hidden = false): Command => {
    const c = program.command(name, { hidden }).description(description).helpOption("-h, --help", "show this help").exitOverride().showSuggestionAfterError(true);
    // An argument's own message names the value already ("the farm script x.ts does not exist"): said plainly.
    c.configureOutput({
      outputError: (text, write) => write(text.replace(/^error: /, `farmhand ${name}: `).replace(/command-argument value '[^']*' is invalid for argument '[^']*'\. /, "")),
    });
    c.showHelpAfterError(`(farmhand ${name} --help shows its usage)`);
    return c;
  };

  // ----- making a farm project

  sub("init", "make a farm project: package.json, tsconfig.json, one image, one farm script, wired to this farmhand")
    .argument("[dir]", "the folder to make (default: the current folder, which must be empty)", ".")
    .option("--image <name>", "the first image's name", "hello")
    .option("--farmhand <spec>", "the farmhand the project depends on: a path to a checkout or packed tarball (written as file:PATH), or a version or git URL for npm to resolve (default: file: this farmhand; it is not on the npm registry)")
    .addHelpText("after", "\nThen: cd DIR && npm install && npx farmhand up farm.ts")
    .action(async (dir: string, o: { image: string; farmhand?: string }) =>
      done(await (await import("./commands/init.ts")).runInit({ dir, image: o.image, farmhand: o.farmhand })));

  sub("new-image", "add an image to a farm project: a folder with farmhand.json and a server.ts")
    .argument("<name>", "the image (and role) name: lower-case letters, digits and \"-\"")
    .option("--dir <dir>", "where image folders live", "images")
    .option("--contract <id>", "the contract it provides (default NAME@1)")
    .addHelpText("after", "\nThen: farmhand gen --images-root images --out generated/environment.ts")
    .action(async (name: string, o: { dir: string; contract?: string }) =>
      done(await (await import("./commands/new-image.ts")).runNewImage({ name, dir: o.dir, contract: o.contract })));

  sub("gen", "generate typed contracts and roles from the images' farmhand.json")
    .argument("[image_dirs...]", "image folders")
    .option("-o, --out <file>", "the TypeScript module to write (*.ts)")
    .option("--images-root <dir>", "take every subfolder of DIR that holds a farmhand.json")
    .option("--check", "write nothing; exit 1 if FILE is not what gen would write")
    .action(async (dirs: string[], o: { out?: string; imagesRoot?: string; check?: boolean }) =>
      done(await (await import("./commands/gen.ts")).runGenWith({ dirs, out: o.out, imagesRoot: o.imagesRoot, check: o.check === true })));

  // ----- farm commands

  sub("check", "type-check a farm script against its roles and contracts")
    .argument("<script>", "the farm script", farmScript)
    .action(async (script: string) => {
      const { runCheck } = await import("./commands/check.ts");
      done(await runCheck(script));
    });

  farmOptions(sub("plan", "what up would create, adopt, restart, rewire and remove; changes nothing"))
    .argument("<script>", "the farm script", farmScript)
    .action(async (script: string, o: FarmOptions) => {
      const args = await farmArgs(o, script);
      done(await (await import("./commands/plan.ts")).runPlan({ ...args, script }));
    });

  farmOptions(sub("up", "check, deploy, then keep the farm healed until Ctrl-C (the farm keeps running after)"))
    .argument("<script>", "the farm script", farmScript)
    .option("-d, --detach", "leave the controller running in the background")
    .addHelpText("after", "\nThe controller serves the farm's dashboard on 127.0.0.1; farmhand dashboard prints its link.")
    .action(async (script: string, o: FarmOptions & { detach?: boolean }) => {
      const args = await farmArgs(o, script);
      done(await (await import("./commands/up.ts")).runUp({ ...args, script, detach: o.detach }));
    });

  farmOptions(sub("start", "up, serve until Ctrl-C, then remove the farm"))
    .argument("<script>", "the farm script", farmScript)
    .option("--tour", "drive load, kill a VM, show the recovery, and exit")
    .action(async (script: string, o: FarmOptions & { tour?: boolean }) => {
      const args = await farmArgs(o, script);
      done(await (await import("./commands/up.ts")).runStart({ ...args, script, tour: o.tour }));
    });

  farmOptions(sub("status", "the farm as it runs: controller, VMs, balancers, request rates, errors, recent events"))
    .argument("[script]", "the farm's script (or --farm NAME)")
    .option("--json", "print it as JSON")
    .addOption(new Option("-w, --watch [seconds]", "show it again every SECONDS (default 2) until Ctrl-C").argParser(seconds).preset(2))
    .addOption(new Option("--events <count>", "how many of the latest events to show").argParser(eventCount).default(10))
    .action(async (script: string | undefined, o: FarmOptions & { json?: boolean; watch?: number; events: number }) => {
      const args = await farmArgs(o, script);
      done(await (await import("./commands/status.ts")).runStatus({ ...args, json: o.json === true, watch: o.watch, events: o.events }));
    });

  sub("ls", "every farm: driver, VMs running, controller, script")
    .action(async () => done(await (await import("./commands/status.ts")).runLs({})));

  farmOptions(sub("logs", "what the farm's controller did, or what a VM printed"))
    .argument("[vm]", "a VM's name (default: the controller's log)")
    .option("-f, --follow", "keep printing what comes")
    .action(async (vm: string | undefined, o: FarmOptions & { follow?: boolean }) => {
      const args = await farmArgs(o);
      done(await (await import("./commands/logs.ts")).runLogs({ ...args, vm, follow: o.follow }));
    });

  farmOptions(sub("dashboard", "print the link to the farm's live dashboard (served by its controller)"), { driver: false })
    .argument("[script]", "the farm's script (or --farm NAME)")
    .action(async (script: string | undefined, o: FarmOptions) => {
      done(await (await import("./commands/status.ts")).runDashboardLink({ farm: o.farm, script }));
    });

  farmOptions(sub("token", "print a bearer token: the dashboard's, a balancer's admin API's, or the farm's read-only metrics token"), { driver: false })
    .argument("[vm]", "a balancer VM: its admin token, which can change its pools (default: the dashboard's)")
    .option("--metrics", "the farm's read-only metrics token: reads /metrics of every balancer and of the controller, changes nothing")
    .addHelpText("after", "\nFor Prometheus: farmhand token --metrics > farmhand.token (docs/metrics.md). Keep it private.")
    .action(async (vm: string | undefined, o: FarmOptions & { metrics?: boolean }) => {
      done(await (await import("./commands/status.ts")).runToken({ farm: o.farm, vm, metrics: o.metrics === true }));
    });

  farmOptions(sub("down", "stop the controller and remove every VM of the farm"))
    .argument("[script]", "the farm's script (or --farm NAME)")
    .action(async (script: string | undefined, o: FarmOptions) => {
      const args = await farmArgs(o, script);
      done(await (await import("./commands/down.ts")).runDown({ ...args, script }));
    });

  sub("graph", "draw the farm a script would build (SVG or Mermaid), creating nothing")
    .argument("<script>", "the farm script", farmScript)
    .option("-o, --out <file>", "write the SVG to FILE (default: stdout)")
    .option("--mermaid", "print a Mermaid flowchart instead of SVG")
    .addOption(new Option("--farm <name>", "the title's farm name").argParser(farmName))
    .addHelpText("after", "\nExample: farmhand graph farm.ts > farm.svg")
    .action(async (script: string, o: { out?: string; mermaid?: boolean; farm?: string }) => {
      done(await (await import("./commands/graph.ts")).runGraph(script, { out: o.out, mermaid: o.mermaid, farm: o.farm }));
    });

  // ----- the simulator: the same script and reconciler in virtual time (control/sim/)

  const repeat = (value: string, previous: string[] = []): string[] => [...previous, value];

  sub("simulate", "run a farm script in virtual time on a simulated hypervisor: the event log and the topology it ends with")
    .argument("<script>", "the farm script", farmScript)
    .option("--seed <n>", "seeds every random choice (boot times, picks); the same seed gives the same log")
    .option("--duration <time>", "virtual time to run, e.g. 24h, 30m, 1h30m (default 1h)")
    .option("--trace <file>", 'demand at every balancer: CSV of "seconds,requests per second" lines')
    .option("--fail <vm@time>", "fail a VM (named as the log names it) at a virtual time: orders-2@30m, payments-1@90s:hang (repeatable)", repeat)
    .option("--bound <time>", "how long an invariant may stay broken after a failure (default 30s)")
    .option("--replay <file>", "play a schedule that farmhand verify wrote (it holds seed, duration, demand and failures)")
    .option("--svg <file>", "draw the timeline (VMs serving, group sizes, demand, failures) to FILE")
    .option("--json", "print the log and topology as JSON")
    .addOption(new Option("--farm <name>", "the farm's name (default: the script's folder)").argParser(farmName))
    .addHelpText("after", "\nExamples:\n  farmhand simulate farm.ts --duration 24h --trace demand.csv --fail orders-2@30m --svg day.svg\n  farmhand simulate farm.ts --replay counterexample.json")
    .action(async (script: string, o: { seed?: string; duration?: string; trace?: string; fail?: string[]; bound?: string; replay?: string; svg?: string; json?: boolean; farm?: string }) => {
      done(await (await import("./commands/simulate.ts")).runSimulate({ script, ...o }));
    });

  sub("verify", "explore every placement of up to K VM failures in simulation and check the farm's invariants")
    .argument("<script>", "the farm script", farmScript)
    .requiredOption("--failures <k>", "the most failures in one run (0, 1, 2, ...)")
    .option("--threads <n>", "worker threads exploring in parallel (default: available parallelism)")
    .option("--bound <time>", "how long an invariant may stay broken after a failure (default 30s)")
    .option("--trace <file>", 'demand at every balancer: CSV of "seconds,requests per second" lines')
    .option("--seed <n>", "seeds every random choice of the runs")
    .option("-o, --out <file>", "where to write the shortest counterexample's schedule (default: counterexample.json)")
    .addOption(new Option("--farm <name>", "the farm's name (default: the script's folder)").argParser(farmName))
    .addHelpText("after", "\nA violation prints the shortest counterexample and writes it as a schedule: farmhand simulate SCRIPT --replay FILE plays it.")
    .action(async (script: string, o: { failures: string; threads?: string; bound?: string; trace?: string; seed?: string; out?: string; farm?: string }) => {
      done(await (await import("./commands/verify.ts")).runVerify({ script, ...o }));
    });

  sub("controller", "a farm's controller, as up --detach starts it", true)
    .addOption(new Option("--farm <name>").argParser(farmName).makeOptionMandatory())
    .action(async (o: { farm: string }) => done(await (await import("./commands/up.ts")).runController(o.farm)));

  // ----- other commands

  sub("proxy", "run the load-balancing proxy from a JSON or YAML config (SIGHUP reloads, SIGTERM drains)")
    .addOption(new Option("-c, --config <file>", "the configuration to run").argParser(existingFile("the configuration file")).conflicts("check"))
    .addOption(new Option("--check <file>", "validate FILE, print every error in it, and exit (1 if any)").argParser(existingFile("the configuration file")))
    .action(async (o: { config?: string; check?: string }) => {
      const proxy = await import("./commands/proxy.ts");
      if (o.check !== undefined) return done(await proxy.runProxyCheck(o.check));
      if (o.config === undefined) throw new DriverChoiceError("farmhand proxy: --config FILE (or --check FILE) is required");
      done(await proxy.runProxy(o.config));
    });

  sub("pve-emulator", "a Proxmox VE API emulator (VMs run images locally) until Ctrl-C; prints the settings to use it")
    .addOption(new Option("-p, --port <n>", "the API's port").argParser(port).default(8006))
    .option("--nodes <names>", "comma-separated node names", "pve1,pve2")
    .option("-t, --template <name=dir...>", "a template running the image in DIR (repeatable)")
    .option("--images-root <dir>", "a template for every image folder under DIR")
    .option("--first-vmid <n>", "the first template's VMID", "9000")
    .option("--task-delay <ms>", "how long a task takes", "200")
    .option("--boot-delay <ms>", "from start until the guest agent answers", "1000")
    .option("--tls", "serve HTTPS with a self-signed certificate")
    .addHelpText("after", "\nThe balancer's template is always made (every farm with balance() needs it).")
    .action(async (o: Record<string, unknown>) => done(await (await import("./commands/pve-emulator.ts")).runPveEmulator(o as never)));

  sub("demo", "the proxy alone in front of two demo backends")
    .option("--once", "send four requests through it and exit")
    .action(async (o: { once?: boolean }) => done(await (await import("./commands/demo.ts")).runDemo(o.once === true ? ["--once"] : [])));

  if (argv.length === 0) {
    program.outputHelp();
    return 2;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help" ? 0 : 2;
    }
    throw error;
  }
  return code;
}

/** Runs the command line in this process and sets its exit status. */
export async function run(argv: readonly string[]): Promise<void> {
  // A reader that goes away (`farmhand status | head`) ends the command quietly, as for any Unix tool.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") throw error;
      process.exit(process.exitCode ?? 0);
    });
  }
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    process.stderr.write(`farmhand: ${error instanceof Error ? error.message : String(error)}\n`);
    // A mistake in what was asked (a driver setting, a name, a file in the way) is a usage error.
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}

// Run as a file (`node src/cli.ts ...`, as some tests do), the module runs the command line itself.
if (import.meta.main) await run(process.argv.slice(2));
