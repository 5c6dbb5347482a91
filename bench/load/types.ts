// What a load generator reports for one timed run, and what it sends.

export interface LoadResult {
  /** Responses completed within the run. */
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses with a status outside 2xx/3xx. */
  readonly non2xx: number;
  /** Connect, read and write errors and timeouts. */
  readonly socketErrors: number;
}

/** The request every connection sends over and over; the default is `GET /`. */
export interface RequestSpec {
  readonly method: "GET" | "POST";
  readonly path: string;
  /** JSON text, sent with Content-Type: application/json. */
  readonly body?: string;
}

export const DEFAULT_REQUEST: RequestSpec = { method: "GET", path: "/" };

export interface LoadGenerator {
  readonly name: string;
  run(port: number, connections: number, seconds: number, request?: RequestSpec): Promise<LoadResult>;
}
