// The role's contract is not an endpoint: an import needs where the contract is served.
import { farm, Orders1, WebFrontend } from "../fixtures.ts";

// @expect TS2739
await farm.vm(WebFrontend, { orders: Orders1 });
