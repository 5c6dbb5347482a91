// /access/ticket (logging in) and /version.

import { paramError } from "../../errors.ts";
import type { Route } from "../route.ts";
import type { RouteDeps } from "./deps.ts";

export function accessRoutes({ auth }: RouteDeps): Route[] {
  return [
    {
      method: "POST",
      pattern: /^\/access\/ticket$/,
      public: true,
      params: ["username", "password", "realm", "otp", "path", "privs", "new-format", "tfa-challenge"],
      handler: ({ params }) => {
        let name = params.username;
        if (name !== undefined && params.realm !== undefined && !name.includes("@")) name = `${name}@${params.realm}`;
        if (name === undefined || params.password === undefined) {
          const errors: Record<string, string> = {};
          if (params.username === undefined) errors.username = "property is missing and it is not optional";
          if (params.password === undefined) errors.password = "property is missing and it is not optional";
          throw paramError(errors);
        }
        return { ...auth.login(name, params.password), cap: { vms: {}, nodes: {}, access: {}, storage: {}, dc: {}, sdn: {}, mapping: {} } };
      },
    },
    {
      method: "GET",
      pattern: /^\/version$/,
      params: [],
      handler: () => ({ version: "8.2.4", release: "8.2", repoid: "faa83925c9641325" }),
    },
  ];
}
