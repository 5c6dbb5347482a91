// farmhand's command line: one subcommand per file under src/commands/.

import { parseArgs } from "node:util";
import { runDemo } from "./commands/demo.ts";
import { runProxy } from "./commands/proxy.ts";

const USAGE = `usage: farmhand <command> [options]

commands:
  proxy --config FILE   run the load-balancing proxy from a JSON or YAML config
                        (SIGHUP reloads the file, SIGTERM drains and exits)
  demo                  start two demo backends and the proxy in front of them
  help                  show this text
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "proxy": {
      const { values } = parseArgs({ args: rest, options: { config: { type: "string", short: "c" } }, strict: true });
      if (values.config === undefined) {
        process.stderr.write("farmhand proxy: --config FILE is required\n");
        return 2;
      }
      return runProxy(values.config);
    }
    case "demo":
      return runDemo(rest);
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
    process.exitCode = 1;
  },
);
