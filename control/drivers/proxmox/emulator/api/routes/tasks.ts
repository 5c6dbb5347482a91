// Tasks, through the API: a task's status and log, a node's task list.

import type { EmulatedTask } from "../../cluster/tasks.ts";
import { intParam } from "../params.ts";
import type { Route } from "../route.ts";
import type { RouteDeps } from "./deps.ts";

const identity = (t: EmulatedTask) => ({ upid: t.upid, node: t.node, pid: t.pid, pstart: t.pstart, starttime: t.starttime, type: t.type, id: t.id, user: t.user });

export function taskRoutes({ cluster }: RouteDeps): Route[] {
  const tasks = cluster.tasks;
  return [
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/tasks\/([^/]+)\/status$/,
      params: [],
      handler: ({ match }) => {
        const task = tasks.find(match[1], match[2]);
        return { ...identity(task), status: task.status, ...(task.status === "stopped" ? { exitstatus: task.exitstatus } : {}) };
      },
    },
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/tasks\/([^/]+)\/log$/,
      params: ["start", "limit", "download"],
      handler: ({ match, params }) => {
        const task = tasks.find(match[1], match[2]);
        const start = intParam(params, "start", 0, Number.MAX_SAFE_INTEGER, false) ?? 0;
        const limit = intParam(params, "limit", 0, Number.MAX_SAFE_INTEGER, false) ?? 50;
        const lines = task.log.length === 0 ? [task.status === "running" ? "" : "no content"] : task.log;
        return lines.slice(start, start + limit).map((t, i) => ({ n: start + i + 1, t }));
      },
    },
    {
      method: "GET",
      pattern: /^\/nodes\/([^/]+)\/tasks$/,
      params: ["vmid", "limit", "start", "source", "typefilter", "errors", "userfilter", "statusfilter", "since", "until"],
      handler: ({ match, params }) =>
        [...tasks.all.values()]
          .filter((t) => t.node === match[1] && (params.vmid === undefined || t.id === params.vmid))
          .reverse()
          .map((t) => ({ ...identity(t), ...(t.status === "stopped" ? { status: t.exitstatus, endtime: t.endtime } : {}) })),
    },
  ];
}
