// WebFrontend: a tiny HTML page, and POST /checkout (form or JSON) which places the order with orders.

import { DependencyError, HttpError, reply, service, start } from "farmhand/service";
import { WebFrontend } from "../roles.ts";

const svc = service(WebFrontend);

const PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>farmhand shop</title>
<h1>farmhand shop</h1>
<form method="post" action="/checkout" id="checkout">
  <label>Item <select name="item"><option>widget</option><option>gadget</option><option>gizmo</option><option>doohickey</option></select></label>
  <label>Quantity <input name="quantity" type="number" min="1" value="1"></label>
  <button>Check out</button>
</form>
<pre id="result"></pre>
<script>
document.getElementById("checkout").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const res = await fetch("/checkout", { method: "POST", body: new URLSearchParams(form) });
  document.getElementById("result").textContent = res.status + " " + JSON.stringify(await res.json(), null, 2);
});
</script>
</html>
`;

/** What orders' refusals mean to a shopper; anything else is a 502. */
const PASS_THROUGH = new Set([400, 402, 404, 409]);

svc.provide("site", {
  page: () => reply(200, PAGE, { "content-type": "text/html; charset=utf-8" }),
  checkout: async ({ body, signal }) => {
    try {
      const placed = await svc.imports.orders.place(body, { signal });
      const servedBy = placed.headers["x-served-by"];
      return { ok: true, ...placed.body, servedBy: typeof servedBy === "string" ? servedBy : "unknown" };
    } catch (err) {
      // orders' own refusal text is meant for the shopper; anything else (an answer in another shape,
      // say from something in between) is reported as orders being unavailable, its details logged.
      if (err instanceof DependencyError && err.status !== null && PASS_THROUGH.has(err.status) && err.remoteError !== undefined) {
        throw new HttpError(err.status, err.remoteError, { ok: false });
      }
      throw err;
    }
  },
});

await start(svc);
