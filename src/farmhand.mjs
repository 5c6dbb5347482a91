#!/usr/bin/env node
// The `farmhand` executable. Plain JavaScript on purpose: it turns on Node's compile cache before any
// TypeScript is loaded, so that cached modules (the CLI's, and every worker thread's) skip type
// stripping and its memory. Everything else lives in cli.ts.
import module from "node:module";

module.enableCompileCache?.();
await import("./cli.ts");
