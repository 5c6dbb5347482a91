// A VM's existence and configuration: clone, GET/PUT/POST config, DELETE.

import { configDigest, DNS_NAME } from "../../cluster/config.ts";
import { paramError } from "../../errors.ts";
import { boolParam, intParam, nodeParam } from "../params.ts";
import { vmPath, type Route } from "../route.ts";
import type { RouteDeps } from "./deps.ts";

export function qemuRoutes({ cluster, qm }: RouteDeps): Route[] {
  return [
    {
      method: "POST",
      pattern: vmPath("/clone"),
      params: ["newid", "name", "full", "target", "description", "pool", "snapname", "storage", "format", "bwlimit"],
      handler: ({ match, params, user }) => {
        const node = match[1];
        const src = cluster.vm(node, match[2]);
        const newid = intParam(params, "newid", 100, 999_999_999, true);
        if (params.name !== undefined && !DNS_NAME.test(params.name)) throw paramError({ name: "value does not look like a valid DNS name" });
        const target = nodeParam(params, "target", cluster.nodes) ?? node;
        const full = params.full === undefined ? undefined : boolParam(params, "full");
        return qm.clone(node, src, { newid, name: params.name, full, target, description: params.description }, user);
      },
    },
    {
      method: "GET",
      pattern: vmPath("/config"),
      params: ["current", "snapshot"],
      handler: ({ match }) => {
        const vm = cluster.vm(match[1], match[2]);
        return { ...vm.config, digest: configDigest(vm.config) };
      },
    },
    {
      // Config keys are checked by the update itself (which names every bad one).
      method: "PUT",
      pattern: vmPath("/config"),
      handler: ({ match, params }) => {
        qm.updateConfig(cluster.vm(match[1], match[2]), params, boolParam(params, "skiplock"));
        return null;
      },
    },
    {
      method: "POST",
      pattern: vmPath("/config"),
      handler: ({ match, params, user }) => qm.updateConfigTask(cluster.vm(match[1], match[2]), params, boolParam(params, "skiplock"), user),
    },
    {
      method: "DELETE",
      pattern: vmPath(""),
      params: ["purge", "destroy-unreferenced-disks", "skiplock"],
      handler: ({ match, params, user }) => {
        const vm = cluster.vm(match[1], match[2]);
        const skiplock = boolParam(params, "skiplock");
        boolParam(params, "purge");
        boolParam(params, "destroy-unreferenced-disks");
        return qm.destroy(vm, skiplock, user);
      },
    },
  ];
}
