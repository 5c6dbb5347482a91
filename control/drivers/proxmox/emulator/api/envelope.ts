// The api2/json envelope as pveproxy writes it: {"data": ...} (or {"errors": {...}, "data": null}
// for a 400), the message in the reason phrase, and pveproxy's headers; and request bodies as it
// reads them (form-encoded or JSON).

import type { ServerResponse } from "node:http";

export function send(res: ServerResponse, status: number, reason: string, body: unknown): void {
  const text = JSON.stringify(body);
  const date = new Date().toUTCString();
  // A reason phrase is one line of printable ASCII.
  res.writeHead(status, reason.replace(/[^\x20-\x7e]+/g, " ").trim() || "OK", {
    "Content-Type": "application/json;charset=UTF-8",
    "Content-Length": Buffer.byteLength(text),
    Pragma: "no-cache",
    "Cache-Control": "max-age=0",
    Server: "pve-api-daemon/3.0",
    Date: date,
    Expires: date,
  });
  res.end(text);
}

/** A request body's parameters; throws for a body that cannot be read. */
export function parseBody(text: string, contentType: string | null): Record<string, unknown> {
  if (text === "") return {};
  if (contentType !== null && /application\/json/i.test(contentType)) {
    const raw = JSON.parse(text) as unknown;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error("not an object");
    return raw as Record<string, unknown>;
  }
  return Object.fromEntries(new URLSearchParams(text));
}
