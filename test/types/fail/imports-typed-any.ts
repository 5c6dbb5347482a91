// Imports typed any would pass any check: refused (the parameter becomes never).
import { farm, OrderService } from "../fixtures.ts";
declare const fromJson: any;
// @expect TS2345
await farm.vm(OrderService, fromJson);
