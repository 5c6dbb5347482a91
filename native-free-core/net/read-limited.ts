// A response body read whole, but never more than a limit: whatever answers a client of ours (a
// balancer's admin API, a VM, a Prometheus server) is read from the network, and a peer that sends
// without end must cost a bounded amount of memory, not all of it.

import { BodyTooLargeError } from "../errors.ts";

interface Body extends AsyncIterable<Uint8Array> {
  destroy(error?: Error): unknown;
}

/** The body as UTF-8 text, at most `limit` bytes of it; destroys the stream and throws past that. */
export async function readLimitedText(body: Body, limit: number, what: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) {
      const error = new BodyTooLargeError(what, limit);
      body.destroy(error);
      throw error;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
