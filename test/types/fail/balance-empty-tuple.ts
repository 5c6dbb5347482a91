// An empty tuple given to balance.
import { farm } from "../fixtures.ts";
const none = [] as const;
// @expect TS2345
await farm.balance(none);
