import type { Sample } from './load.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface Summary {
  rps: Spread;
  p50: Spread;
  p99: Spread;
  /** Every run, in order. */
  runs: Sample[];
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted.at(-1) ?? 0 };
}

export function summarize(runs: readonly Sample[]): Summary {
  return {
    rps: spread(runs.map((r) => r.rps)),
    p50: spread(runs.map((r) => r.p50)),
    p99: spread(runs.map((r) => r.p99)),
    runs: [...runs],
  };
}

/** Whole numbers from 10 up (autocannon's latencies are whole milliseconds), one decimal below. */
export function formatNumber(n: number): string {
  return n >= 10 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}
