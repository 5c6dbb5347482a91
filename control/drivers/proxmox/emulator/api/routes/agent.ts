// The guest agent, through the API: network-get-interfaces.

import { networkInterfaces } from "../../guest/agent.ts";
import { vmPath, type Route } from "../route.ts";
import type { RouteDeps } from "./deps.ts";

export function agentRoutes({ cluster, addressDelayMs }: RouteDeps): Route[] {
  return [
    {
      method: "GET",
      pattern: vmPath("/agent/network-get-interfaces"),
      params: [],
      handler: ({ match }) => networkInterfaces(cluster.vm(match[1], match[2]), cluster.time.monotonic(), addressDelayMs),
    },
  ];
}
