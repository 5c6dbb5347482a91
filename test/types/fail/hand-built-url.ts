// Scripts receive endpoints, never build them: a bare { url } is not an endpoint.
import { farm, WebFrontend } from "../fixtures.ts";

// @expect TS2739
await farm.vm(WebFrontend, { orders: { url: "http://127.0.1.2:8080" } });
