// `farmhand new-image NAME [--dir images] [--contract ID]`: a new image folder in a farm project:
// its farmhand.json (one contract, one operation, $schema for editors) and a server.ts on the service
// kit. The role it implements comes from the generated environment, so `farmhand gen` follows.

import { existsSync } from "node:fs";
import path from "node:path";
import { pascal } from "../../control/metadata/generate.ts";
import { ScaffoldError } from "../errors.ts";
import { IMAGE_NAME, imageManifest, imageServer, json, writeNew } from "./scaffold.ts";

export interface NewImageOptions {
  readonly name: string;
  /** Where image folders live. */
  readonly dir: string;
  readonly contract?: string;
}

const CONTRACT_ID = /^[a-z][a-z0-9-]{0,62}@[1-9][0-9]{0,5}$/;

export async function runNewImage(options: NewImageOptions): Promise<number> {
  const { name } = options;
  if (!IMAGE_NAME.test(name)) throw new ScaffoldError(`${JSON.stringify(name)} is no image name: lower-case letters, digits and "-", starting with a letter`);
  const contract = options.contract ?? `${name}@1`;
  if (!CONTRACT_ID.test(contract)) throw new ScaffoldError(`--contract ${JSON.stringify(contract)}: a contract id is "name@version", e.g. "${name}@1"`);
  const images = path.resolve(options.dir);
  const folder = path.join(images, name);
  // The manifest's $schema and the server's import are relative: to the project's node_modules and
  // generated/ (beside the images folder), as farmhand init lays a project out.
  const project = path.dirname(images);
  const toSchema = path.relative(folder, path.join(project, "node_modules/farmhand/schema/farmhand.schema.json")).split(path.sep).join("/");
  const toEnvironment = path.relative(folder, path.join(project, "generated/environment.ts")).split(path.sep).join("/");
  writeNew(folder, {
    "farmhand.json": json(imageManifest(name, contract, toSchema)),
    "server.ts": imageServer(name, toEnvironment.startsWith(".") ? toEnvironment : `./${toEnvironment}`),
  });
  const hasGenScript = existsSync(path.join(project, "package.json"));
  process.stdout.write(
    `made image ${name} in ${folder}: farmhand.json (provides api: ${contract}) and server.ts\n` +
      `next: ${hasGenScript ? "npm run gen" : `npx farmhand gen --images-root ${path.relative(process.cwd(), images) || "."} --out generated/environment.ts`}` +
      `, then use ${pascal(name)} in your farm script: farm.vm(${pascal(name)}, {})\n`,
  );
  return 0;
}
