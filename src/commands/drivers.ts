// Which Driver a farm command uses: the embedded local one by default, or a Proxmox VE cluster whose
// connection comes from the environment (secrets never go on the command line, where `ps` shows them).

import { readFileSync } from "node:fs";
import type { Driver } from "../../control/drivers/driver.ts";
import { localDriver } from "../../control/drivers/local/index.ts";
import { proxmoxDriver, type ProxmoxAuth, type ProxmoxDriverOptions } from "../../control/drivers/proxmox/index.ts";
import { localStateDir } from "../../control/state/home.ts";
import type { DriverChoice } from "../../control/state/farm-records.ts";
import { DriverChoiceError } from "../errors.ts";

/** The driver a farm is on: local VMs recorded under the farmhand home, or a Proxmox VE cluster from the environment. */
export function chooseDriver(choice: DriverChoice, home: string, env: NodeJS.ProcessEnv = process.env): Driver {
  if (choice.kind === "local") return localDriver({ stateDir: localStateDir(home) });
  return proxmoxDriver(proxmoxOptions(choice, env));
}

/**
 * The Proxmox driver's settings from the environment and the templates file; throws
 * DriverChoiceError naming what is missing or wrong. Connects to nothing, so the command line
 * checks a choice with it before any work.
 */
export function proxmoxOptions(choice: DriverChoice, env: NodeJS.ProcessEnv = process.env): ProxmoxDriverOptions {
  const rawUrl = required(env, "FARMHAND_PVE_URL");
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new DriverChoiceError(`FARMHAND_PVE_URL: not a URL (got ${JSON.stringify(rawUrl)})`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new DriverChoiceError(`FARMHAND_PVE_URL: expected http(s):// (got ${JSON.stringify(rawUrl)})`);
  return {
    host: url.hostname,
    port: url.port === "" ? 8006 : Number(url.port),
    schema: url.protocol === "https:" ? "https" : "http",
    auth: auth(env),
    tls: env.FARMHAND_PVE_CA !== undefined ? { ca: readCa(env.FARMHAND_PVE_CA) }
      : env.FARMHAND_PVE_FINGERPRINT !== undefined ? { fingerprint: env.FARMHAND_PVE_FINGERPRINT } : undefined,
    nodes: env.FARMHAND_PVE_NODES?.split(",").map((n) => n.trim()).filter((n) => n !== ""),
    templates: choice.templates === undefined ? undefined : templatesFrom(choice.templates),
    writeConcurrency: env.FARMHAND_PVE_WRITES === undefined ? undefined : positiveInteger(env, "FARMHAND_PVE_WRITES"),
  };
}

function auth(env: NodeJS.ProcessEnv): ProxmoxAuth {
  const token = env.FARMHAND_PVE_TOKEN;
  if (token !== undefined) {
    const eq = token.lastIndexOf("=");
    if (eq <= 0) throw new DriverChoiceError("FARMHAND_PVE_TOKEN: expected USER@REALM!TOKENID=SECRET");
    return { tokenId: token.slice(0, eq), tokenSecret: token.slice(eq + 1) };
  }
  return { username: required(env, "FARMHAND_PVE_USER"), password: required(env, "FARMHAND_PVE_PASSWORD") };
}

function positiveInteger(env: NodeJS.ProcessEnv, name: string): number {
  const text = env[name] ?? "";
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new DriverChoiceError(`${name}: expected a positive integer (got ${JSON.stringify(text)})`);
  return n;
}

function templatesFrom(file: string): Record<string, number | string> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new DriverChoiceError(`--templates ${file}: ${(error as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new DriverChoiceError(`--templates ${file}: expected an object of image -> template`);
  for (const [image, ref] of Object.entries(raw)) {
    if (typeof ref !== "number" && typeof ref !== "string") {
      throw new DriverChoiceError(`--templates ${file}: ${JSON.stringify(image)}: expected a template VMID or name (got ${JSON.stringify(ref)})`);
    }
  }
  return raw as Record<string, number | string>;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") throw new DriverChoiceError(`--driver proxmox needs ${name} in the environment`);
  return value;
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new DriverChoiceError(`FARMHAND_PVE_CA: ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
