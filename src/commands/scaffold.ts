// What `farmhand init` and `farmhand new-image` write: the files of a farm project that lives
// outside this repository and depends on farmhand as a package. Everything they import is a package
// path (farmhand, farmhand/service, farmhand/typebox...) or a file of the project itself, so the
// project works wherever it and farmhand are.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pascal } from "../../control/metadata/generate.ts";
import { ScaffoldError } from "../errors.ts";

export const FARMHAND_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Image and role names: what a manifest's "name" allows. */
export const IMAGE_NAME = /^[a-z][a-z0-9-]{0,40}$/;

/** The contract of a new image: one operation, GET /NAME/{who}, answering a greeting and the VM that served it. */
export function imageManifest(name: string, contractId: string, schemaPath: string): object {
  return {
    $schema: schemaPath,
    name,
    entry: "server.ts",
    provides: { api: contractId },
    requires: {},
    contracts: {
      [contractId]: {
        operations: {
          greet: {
            method: "GET",
            path: `/${name}/{who}`,
            request: { type: "null" },
            response: {
              type: "object",
              required: ["greeting", "servedBy"],
              properties: {
                greeting: { type: "string", description: "what the service says" },
                servedBy: { type: "string", description: "the VM that answered" },
              },
              additionalProperties: false,
            },
          },
        },
      },
    },
  };
}

/** The image's server: the service kit serving its role, typed by the generated environment. */
export function imageServer(name: string, environmentImport: string): string {
  const role = pascal(name);
  return `// The ${name} image: what each of its VMs runs (node server.ts). The service kit reads the VM's
// FARMHAND_* environment and this folder's farmhand.json, checks both against the role, and serves
// the contract's operations with validated bodies. Change the contract in farmhand.json, then run
// farmhand gen (npm run gen) and the handlers below are type-checked against it.

import { service, start } from "farmhand/service";
import { ${role} } from ${JSON.stringify(environmentImport)};

const svc = service(${role});

svc.provide("api", {
  greet: ({ params }) => ({ greeting: \`hello, \${params.who}\`, servedBy: svc.env.vm }),
});

await start(svc);
`;
}

/** Writes `files` (path -> content) under `dir`, refusing to overwrite anything. */
export function writeNew(dir: string, files: Readonly<Record<string, string>>): void {
  for (const file of Object.keys(files)) {
    if (existsSync(path.join(dir, file))) throw new ScaffoldError(`${path.join(dir, file)} already exists; nothing was written`);
  }
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), content);
  }
}


export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
