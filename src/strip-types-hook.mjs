// Preloaded (node --import) when farmhand runs from under node_modules, where Node refuses to strip
// TypeScript types (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING): strips the types of farmhand's own
// .ts files itself, with the same stripper Node uses, and hands Node the JavaScript. Only farmhand's
// files are touched; a user's files lie outside node_modules and Node strips them as usual.
// src/farmhand.mjs puts this in NODE_OPTIONS, so worker threads and VM processes get it too.

import { readFileSync, realpathSync } from "node:fs";
import module from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.dirname(path.dirname(realpathSync(fileURLToPath(import.meta.url))));
const prefix = pathToFileURL(root + path.sep).href;

// module.stripTypeScriptTypes is marked experimental and says so once per process; that line would
// land in every VM's log. What it strips is what Node's own type stripping strips.
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  const text = typeof warning === "string" ? warning : warning?.message;
  if (typeof text === "string" && text.startsWith("stripTypeScriptTypes is an experimental")) return;
  return emitWarning.call(process, warning, ...rest);
};

module.registerHooks({
  load(url, context, nextLoad) {
    if (url.startsWith(prefix) && url.endsWith(".ts") && url.includes("/node_modules/")) {
      const source = readFileSync(fileURLToPath(url), "utf8");
      // farmhand is "type": "module": every .ts file of it is an ES module.
      return { format: "module", source: module.stripTypeScriptTypes(source, { mode: "strip", sourceUrl: url }), shortCircuit: true };
    }
    return nextLoad(url, context);
  },
});
