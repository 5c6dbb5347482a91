// The echo image (test/fixtures/images/echo) as a role: one replica kind that answers with its own
// VM name, for tests that count and tell replicas apart.

import path from "node:path";
import { fileURLToPath } from "node:url";
import Type from "typebox";
import { contract, role } from "../../control/contracts/index.ts";

export const ECHO_IMAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/images/echo");
export const Echo = contract("echo@1", { echo: { method: "GET", path: "/echo", request: Type.Null(), response: Type.Object({ vm: Type.String() }) } });
export const EchoService = role("echo-service", { provides: { api: Echo }, requires: {}, image: ECHO_IMAGE });
