// What a piscina worker of the explorer loads. Node's compile cache belongs to a thread: the CLI's
// main thread turns it on, and a worker does not inherit it. Turned on here, before the simulator's
// modules are imported, a thread loads them from the cache instead of type-stripping them again
// (about half a second of every thread's start), and writes the cache for the next verify.

import module from "node:module";

module.enableCompileCache?.();
const { exploreSlice } = await import("./task.ts");
module.flushCompileCache?.();

export default exploreSlice;
