// The shape of one bench run's results, shared by the JSON, Markdown and SVG writers.

import type { LoadResult } from "../load/types.ts";
import type { Mode } from "../peers/types.ts";
import type { IdleResult } from "../idle/run.ts";

export interface RoundSample {
  readonly round: number;
  readonly load: LoadResult;
  readonly cpuSeconds: number;
  readonly cpuUsPerRequest: number;
  /** The same CPU time split: user space (the program's own work) and system (the kernel's, mostly its syscalls). */
  readonly userUsPerRequest: number;
  readonly systemUsPerRequest: number;
  /** System calls per request, counted during the warm-up (null when perf could not count them). */
  readonly syscallsPerRequest: number | null;
  /**
   * The share of the machine's CPU time the hypervisor gave to other guests during the timed run
   * (steal, from /proc/stat), or null where it cannot be read.
   */
  readonly stealShare: number | null;
  /** How many more timed runs this round took for steal (the one with the least steal is this one). */
  readonly retries: number;
  /** What the background load did during the run (large-body rows), or null. */
  readonly background: string | null;
  readonly peakRssBytes: number;
}

export interface Figures {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerRequest: number;
  readonly userUsPerRequest: number;
  readonly systemUsPerRequest: number;
  readonly syscallsPerRequest: number | null;
  readonly peakRssBytes: number;
}

/** Each figure over the same figure of the HAProxy row of the same mode; null when not computable. */
export type Ratios = { readonly [K in keyof Figures]: number | null };

export interface TargetResult {
  readonly id: string;
  readonly label: string;
  readonly mode: Mode;
  /** The id of the HAProxy row this one is compared with. */
  readonly reference: string;
  readonly rounds: readonly RoundSample[];
  readonly median: Figures;
  readonly ratio: Ratios;
  /** Summed over all timed rounds. */
  readonly non2xx: number;
  readonly socketErrors: number;
}

export interface Summary {
  readonly httpCpu: number | null;
  readonly httpRps: number | null;
  readonly tcpCpu: number | null;
  /** The same HTTP figures with upstream pipelining turned on (opt-in). */
  readonly pipelinedCpu: number | null;
  readonly pipelinedRps: number | null;
}

export interface BenchMeta {
  readonly date: string;
  readonly host: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly node: string;
  readonly haproxy: string;
  readonly nginx: string;
  readonly loadGenerator: string;
  readonly connections: number;
  readonly threads: number;
  readonly rounds: number;
  readonly secondsPerRun: number;
  readonly warmupSeconds: number;
  readonly responseBytes: number;
  readonly clockTicksPerSecond: number;
}

export interface BenchResult {
  readonly meta: BenchMeta;
  readonly targets: readonly TargetResult[];
  readonly idle: IdleResult | null;
  readonly summary: Summary | null;
  readonly notes: readonly string[];
}
