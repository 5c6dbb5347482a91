// `farmhand init [DIR]`: a farm project of one's own, outside this repository. It writes
//
//   package.json              "type": "module", farmhand as a dependency, scripts for gen/check/up/status/down
//   tsconfig.json             Node 24 type stripping settings (what farmhand check uses too)
//   images/NAME/farmhand.json the image's manifest, with $schema for editors
//   images/NAME/server.ts     its server, on the service kit (farmhand/service)
//   generated/environment.ts  its typed contracts and roles (farmhand gen)
//   farm.ts                   two replicas behind a balancer, healed
//   .gitignore, README.md
//
// and nothing else: `npm install` then brings farmhand (and Node 24, for machines whose Node is
// older). farmhand is not on the npm registry (a package there by that name is someone else's), so by
// default it is a `file:` dependency on the farmhand running this command, which npm links; --farmhand
// names another: a path (another checkout, a packed tarball), or a version or git URL for npm to find.

import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { generateEnvironment, pascal } from "../../control/metadata/generate.ts";
import { ScaffoldError } from "../errors.ts";
import { FARMHAND_ROOT, IMAGE_NAME, imageManifest, imageServer, json, writeNew } from "./scaffold.ts";

export interface InitOptions {
  readonly dir: string;
  readonly image: string;
  /**
   * How package.json names farmhand: a path (written as `file:` and the absolute path), or anything
   * npm takes as a dependency (a version, a git URL), written as given. Default: `file:` this farmhand.
   */
  readonly farmhand?: string;
}

/** Where the new project's farmhand comes from: what package.json says, and the folder or file it is, if local. */
interface FarmhandSource {
  readonly dependency: string;
  readonly local: string | null;
}

/** The versions a new project pins for its development tools: those this farmhand is developed with. */
const TOOLS = { typescript: "^7.0.2", "@types/node": "^24.19.2", node: "^24.21.0" };

export async function runInit(options: InitOptions): Promise<number> {
  const dir = path.resolve(options.dir);
  const name = path.basename(dir).toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/^-+/, "") || "farm";
  if (!IMAGE_NAME.test(options.image)) throw new ScaffoldError(`--image ${JSON.stringify(options.image)}: lower-case letters, digits and "-", starting with a letter`);
  if (existsSync(dir) && readdirSync(dir).some((f) => f !== ".git")) {
    process.stderr.write(`farmhand init: ${dir} is not empty; give a new folder (farmhand init my-farm)\n`);
    return 2;
  }
  const image = options.image;
  const role = pascal(image);
  const source = farmhandSource(options.farmhand);
  const dependency = source.dependency;
  const files: Record<string, string> = {
    "package.json": json({
      name,
      private: true,
      type: "module",
      description: `farm ${name}: farmhand images and a farm script`,
      scripts: {
        gen: "farmhand gen --images-root images --out generated/environment.ts",
        check: "farmhand check farm.ts",
        up: "farmhand up farm.ts",
        status: "farmhand status",
        dashboard: "farmhand dashboard",
        down: "farmhand down",
      },
      dependencies: { farmhand: dependency },
      devDependencies: TOOLS,
      allowScripts: { node: true },
    }),
    "tsconfig.json": json({
      compilerOptions: {
        target: "es2024",
        module: "nodenext",
        moduleResolution: "nodenext",
        lib: ["es2024"],
        types: ["node"],
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        erasableSyntaxOnly: true,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
      },
      include: ["farm.ts", "images", "generated"],
    }),
    ".gitignore": "node_modules/\n",
    [`images/${image}/farmhand.json`]: json(imageManifest(image, `${image}@1`, "../../node_modules/farmhand/schema/farmhand.schema.json")),
    [`images/${image}/server.ts`]: imageServer(image, "../../generated/environment.ts"),
    "farm.ts": `// The farm: two ${image} VMs behind a balancer, each kept alive. \`npx farmhand check farm.ts\`
// type-checks the wiring, \`npx farmhand up farm.ts\` runs it (with its dashboard) until Ctrl-C.

import type { Farm } from "farmhand";
import { ${role} } from "./generated/environment.ts";

export default async function farm(farm: Farm) {
  const replicas = await farm.replicate(2, ${role}, {});
  const front = await farm.balance(replicas.map((r) => r.api), { policy: "round-robin" });
  farm.heal(replicas);
  return { ${camel(image)}: front };
}
`,
    "README.md": `# ${name}

A farm of farmhand images: the VMs \`farm.ts\` makes of the images in \`images/\`, their wiring and
their balancers.

${readmeSource(source)}

\`\`\`sh
npm install                 # farmhand, and Node 24 for machines whose Node is older
npx farmhand up farm.ts     # check, deploy, print the dashboard's link; Ctrl-C leaves the farm running
npx farmhand status         # what runs: VMs, balancers, request rates, errors
npx farmhand down           # remove it
\`\`\`

- \`images/${image}/\`: an image (\`farmhand.json\` says what it provides; \`server.ts\` serves it).
  \`npx farmhand new-image NAME\` adds another.
- \`generated/environment.ts\`: typed contracts and roles made from the images' \`farmhand.json\`
  (\`npm run gen\` after changing one).
- \`farm.ts\`: the farm script; \`npx farmhand check farm.ts\` type-checks its wiring.
`,
  };
  writeNew(dir, files);
  await generateEnvironment([path.join(dir, "images", image)], path.join(dir, "generated", "environment.ts"));
  const rel = path.relative(process.cwd(), dir) || ".";
  process.stdout.write(
    `made farm project ${name} in ${dir}:\n` +
      Object.keys(files).concat("generated/environment.ts").sort().map((f) => `  ${f}\n`).join("") +
      `farmhand: ${dependency}${source.local === null ? " (for npm to resolve: farmhand is not on the public npm registry)" : ""}\n\nnext:\n` +
      (rel === "." ? "" : `  cd ${rel}\n`) +
      "  npm install\n  npx farmhand up farm.ts\n",
  );
  return 0;
}

/**
 * The --farmhand option read: a path (as `file:PATH`, or starting with ".", "/" or "~/") must be a
 * farmhand checkout or a packed tarball, and is written absolute, since the project need not stay
 * where init ran; anything else goes to package.json as it is.
 */
function farmhandSource(spec: string | undefined): FarmhandSource {
  if (spec === undefined) {
    const root = realpathSync(FARMHAND_ROOT);
    return { dependency: `file:${root}`, local: root };
  }
  const given = spec.startsWith("file:") ? spec.slice("file:".length) : /^(?:\.\.?(?:\/|$)|\/|~\/)/.test(spec) ? spec : null;
  if (given === null) {
    if (spec.trim() === "") throw new ScaffoldError("--farmhand: give a path to a farmhand checkout, or a version or git URL for npm");
    return { dependency: spec, local: null };
  }
  const resolved = path.resolve(given.startsWith("~/") ? path.join(os.homedir(), given.slice(2)) : given);
  if (!existsSync(resolved)) throw new ScaffoldError(`--farmhand ${spec}: ${resolved} does not exist; give a farmhand checkout or a packed tarball`);
  const local = realpathSync(resolved);
  if (statSync(local).isDirectory()) {
    let named: unknown;
    try {
      named = (JSON.parse(readFileSync(path.join(local, "package.json"), "utf8")) as { name?: unknown }).name;
    } catch {
      named = undefined;
    }
    if (named !== "farmhand") throw new ScaffoldError(`--farmhand ${spec}: ${local} is not a farmhand checkout (no package.json naming farmhand)`);
  }
  return { dependency: `file:${local}`, local };
}

/** The README's word on where farmhand comes from, and how to point the project elsewhere. */
function readmeSource(source: FarmhandSource): string {
  const where = source.local === null
    ? `farmhand comes from \`${source.dependency}\` (\`dependencies.farmhand\` in package.json), which npm resolves
from the registry it is set up with. farmhand is not on the public npm registry, and a package there
by that name may be another project.`
    : `farmhand comes from \`${source.local}\`: a \`file:\` dependency in package.json, which npm installs as
a link, so changes there show here at once. (farmhand is not on the npm registry.)`;
  return `${where}\nTo use another farmhand: \`npm install /path/to/farmhand\` (a checkout or a packed tarball).`;
}

function camel(name: string): string {
  const p = pascal(name);
  return p[0].toLowerCase() + p.slice(1);
}
