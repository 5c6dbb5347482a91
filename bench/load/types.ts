// What a load generator reports for one timed run.

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

export interface LoadGenerator {
  readonly name: string;
  run(port: number, connections: number, seconds: number): Promise<LoadResult>;
}
