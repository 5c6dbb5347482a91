// A VM's power: status/current, and the start, stop, shutdown and reset tasks.

import { boolParam, intParam } from "../params.ts";
import { vmPath, type Route } from "../route.ts";
import { vmStatus } from "../views.ts";
import type { RouteDeps } from "./deps.ts";

const STOP_PARAMS = ["skiplock", "timeout", "forceStop", "keepActive", "migratedfrom", "overrule-shutdown"];

export function powerRoutes({ cluster, qm }: RouteDeps): Route[] {
  return [
    {
      method: "GET",
      pattern: vmPath("/status/current"),
      params: [],
      handler: ({ match }) => vmStatus(cluster, cluster.vm(match[1], match[2])),
    },
    {
      method: "POST",
      pattern: vmPath("/status/start"),
      params: ["skiplock", "timeout", "machine", "migratedfrom", "migration_type", "migration_network", "stateuri", "targetstorage", "force-cpu"],
      handler: ({ match, params, user }) => {
        const vm = cluster.vm(match[1], match[2]);
        return qm.start(vm, boolParam(params, "skiplock"), user);
      },
    },
    {
      method: "POST",
      pattern: vmPath("/status/stop"),
      params: STOP_PARAMS,
      handler: ({ match, params, user }) => {
        const vm = cluster.vm(match[1], match[2]);
        const skiplock = boolParam(params, "skiplock");
        boolParam(params, "forceStop");
        intParam(params, "timeout", 0, 100_000, false);
        return qm.stop(vm, skiplock, user);
      },
    },
    {
      method: "POST",
      pattern: vmPath("/status/shutdown"),
      params: STOP_PARAMS,
      handler: ({ match, params, user }) => {
        const vm = cluster.vm(match[1], match[2]);
        const skiplock = boolParam(params, "skiplock");
        const forceStop = boolParam(params, "forceStop");
        const timeoutS = intParam(params, "timeout", 0, 100_000, false);
        return qm.shutdown(vm, { skiplock, forceStop, timeoutS }, user);
      },
    },
    {
      method: "POST",
      pattern: vmPath("/status/reset"),
      params: ["skiplock"],
      handler: ({ match, params, user }) => {
        const vm = cluster.vm(match[1], match[2]);
        return qm.reset(vm, boolParam(params, "skiplock"), user);
      },
    },
  ];
}
