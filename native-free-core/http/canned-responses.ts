// Responses the proxy writes itself. Built once: answering an error must not cost more than serving.
//
// When the proxy answers for a backend (502, 503, 504) it says why, in X-Farmhand-Reason (a stable
// token a client or a log can match) and in a short body, without naming any internal address: the
// client learns what kind of trouble it was, not where the backends are.

const REASONS: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  508: "Loop Detected",
};

/** Why the proxy answered instead of a backend, and what the answer's body says about it. */
export const REASON_TEXT = {
  "no-routable-backend": "no backend is available to take the request",
  "no-backend-in-time": "no backend became available while the request was held",
  "queue-full": "every backend connection is busy and the queue is full",
  "queue-timeout": "no backend connection became free in time",
  "upstream-connect-failed": "the backend could not be reached",
  "upstream-reset": "the backend closed the connection without answering",
  "upstream-malformed-response": "the backend's response was malformed",
  "upstream-timeout": "the backend did not answer in time",
  "validation-busy": "too many request bodies are being checked at once; retry shortly",
  "validation-failed": "the request body could not be checked",
} as const;
export type Reason = keyof typeof REASON_TEXT;

/** Reasons a client may simply retry after a moment. */
const RETRY_AFTER: ReadonlySet<Reason> = new Set(["validation-busy", "no-backend-in-time"]);

function build(status: number, close: boolean, reason: Reason | null): Buffer {
  const phrase = REASONS[status] ?? "Error";
  const body = reason === null ? `${status} ${phrase}\n` : `${status} ${phrase}: ${REASON_TEXT[reason]}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${phrase}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
      (reason === null ? "" : `X-Farmhand-Reason: ${reason}\r\n`) +
      (reason !== null && RETRY_AFTER.has(reason) ? "Retry-After: 1\r\n" : "") +
      `${close ? "Connection: close\r\n" : ""}Cache-Control: no-store\r\n\r\n${body}`,
    "latin1",
  );
}

const closing = new Map<number, Buffer>();
const persistent = new Map<number, Buffer>();
for (const status of Object.keys(REASONS).map(Number)) {
  closing.set(status, build(status, true, null));
  persistent.set(status, build(status, false, null));
}
const reasoned = new Map<string, Buffer>();
for (const reason of Object.keys(REASON_TEXT) as Reason[]) {
  for (const status of [502, 503, 504]) {
    reasoned.set(`${status} ${reason} 1`, build(status, true, reason));
    reasoned.set(`${status} ${reason} 0`, build(status, false, reason));
  }
}

/** The full response for `status`, announcing that the connection closes when `close` is true. */
export function cannedResponse(status: number, close: boolean, reason: Reason | null = null): Buffer {
  if (reason !== null) {
    const found = reasoned.get(`${status} ${reason} ${close ? 1 : 0}`);
    if (found !== undefined) return found;
  }
  const table = close ? closing : persistent;
  return table.get(status) ?? table.get(502)!;
}

/**
 * A response with a JSON body of its own (a refused contract check): `{ "error": message, ... }`, with
 * X-Farmhand-Reason, and any extra fields (Allow for a 405).
 */
export function jsonResponse(status: number, reason: string, body: object, close: boolean, extra = ""): Buffer {
  const phrase = REASONS[status] ?? "Error";
  const json = JSON.stringify(body);
  return Buffer.from(
    `HTTP/1.1 ${status} ${phrase}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
      `X-Farmhand-Reason: ${reason}\r\n${extra}${close ? "Connection: close\r\n" : ""}Cache-Control: no-store\r\n\r\n${json}`,
    "utf8",
  );
}
