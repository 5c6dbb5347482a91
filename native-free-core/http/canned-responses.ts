// Responses the proxy writes itself. Built once: answering an error must not cost more than serving.

const REASONS: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
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

function build(status: number, close: boolean): Buffer {
  const reason = REASONS[status] ?? "Error";
  const body = `${status} ${reason}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
      `${close ? "Connection: close\r\n" : ""}Cache-Control: no-store\r\n\r\n${body}`,
    "latin1",
  );
}

const closing = new Map<number, Buffer>();
const persistent = new Map<number, Buffer>();
for (const status of Object.keys(REASONS).map(Number)) {
  closing.set(status, build(status, true));
  persistent.set(status, build(status, false));
}

/** The full response for `status`, announcing that the connection closes when `close` is true. */
export function cannedResponse(status: number, close: boolean): Buffer {
  const table = close ? closing : persistent;
  return table.get(status) ?? table.get(502)!;
}
