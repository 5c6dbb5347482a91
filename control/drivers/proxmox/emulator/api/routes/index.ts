// Every route of the emulated API, in the order they are matched.

import type { Route } from "../route.ts";
import { accessRoutes } from "./access.ts";
import { agentRoutes } from "./agent.ts";
import { clusterRoutes } from "./cluster.ts";
import type { RouteDeps } from "./deps.ts";
import { powerRoutes } from "./power.ts";
import { qemuRoutes } from "./qemu.ts";
import { taskRoutes } from "./tasks.ts";

export type { RouteDeps } from "./deps.ts";

export function allRoutes(deps: RouteDeps): Route[] {
  return [...accessRoutes(deps), ...clusterRoutes(deps), ...qemuRoutes(deps), ...powerRoutes(deps), ...agentRoutes(deps), ...taskRoutes(deps)];
}
