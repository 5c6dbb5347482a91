// The contract the bench's validated listener checks requests against, and the bodies it sends: an
// order of about 200 bytes, one of about 4 KB (the same order with item lines), and a bulk import of
// many orders (the 10 MB bodies). Schemas are as strict as the example farm's: closed objects,
// patterns, ranges, so a check does real work on every field.

const ITEM = { type: "string", pattern: "^[a-z][a-z0-9-]{0,31}$" };
const QUANTITY = { type: "integer", minimum: 1, maximum: 1000 };

export const BENCH_OPERATIONS = {
  place: {
    method: "POST",
    path: "/orders",
    request: {
      type: "object",
      required: ["customer", "item", "quantity"],
      properties: {
        customer: { type: "string", pattern: "^c-[0-9]{1,12}$" },
        item: ITEM,
        quantity: QUANTITY,
        express: { type: "boolean" },
        note: { type: "string", maxLength: 4096 },
        lines: {
          type: "array",
          maxItems: 1000,
          items: {
            type: "object",
            required: ["sku", "quantity"],
            properties: { sku: { type: "string", pattern: "^[A-Z]{3}-[0-9]{4}$" }, quantity: QUANTITY, gift: { type: "boolean" } },
            additionalProperties: false,
          },
        },
      },
      additionalProperties: false,
    },
  },
  get: { method: "GET", path: "/orders/{id}", request: { type: "null" } },
  bulk: {
    method: "POST",
    path: "/bulk",
    request: { type: "array", items: { type: "object", required: ["item", "quantity"], properties: { item: ITEM, quantity: QUANTITY }, additionalProperties: false } },
  },
} as const;

/** A valid order of exactly `size` bytes (at least about 100): item lines, then a note to pad. */
export function orderBody(size: number): string {
  const order: { customer: string; item: string; quantity: number; express: boolean; lines?: object[]; note?: string } = {
    customer: "c-104729",
    item: "widget",
    quantity: 3,
    express: false,
  };
  const line = { sku: "ABC-1234", quantity: 2, gift: false };
  const lines: object[] = [];
  // Item lines make up most of a large body, so its check walks many fields, not one long string.
  while (JSON.stringify({ ...order, lines: [...lines, line], note: "" }).length < size - 40) lines.push({ ...line, sku: `ABC-${1000 + lines.length}` });
  if (lines.length > 0) order.lines = lines;
  const base = JSON.stringify({ ...order, note: "" }).length;
  order.note = "x".repeat(Math.max(0, size - base));
  const text = JSON.stringify(order);
  if (text.length !== size) throw new Error(`orderBody: made ${text.length} bytes, wanted ${size}`);
  return text;
}
