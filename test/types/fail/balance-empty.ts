// A balancer over no endpoints.
import { farm } from "../fixtures.ts";
// @expect TS2345
await farm.balance([]);
