// An endpoint typed with a union of contracts.
import type { Endpoint } from "../../../control/contracts/index.ts";
import { farm, type Ledger1, type Payments1 } from "../fixtures.ts";
declare const money: Endpoint<typeof Payments1 | typeof Ledger1>;
// @expect TS2345
await farm.balance([money]);
