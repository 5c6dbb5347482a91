// A route with no prefix at all.
import { farm } from "../fixtures.ts";
// @expect TS2741
await farm.route({});
