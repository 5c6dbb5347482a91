// heal told its list is any[]: what the list holds is not known to be VM handles this farm made (here
// it is no VM handle at all), so it is refused, and not taken for a copy of one.
import { farm } from "../fixtures.ts";
// @expect TS2345
farm.heal<any[]>([{ id: "x" }]);
