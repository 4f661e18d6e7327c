/**
 * bcrypt on worker threads of the lowest CPU priority. On a busy machine a login flood takes
 * every core; hashing on threads of nice 19 lets the event loop (token checks, queries, every
 * other request) preempt it at once, while hashing still gets every cycle nobody else wants.
 * Linux keeps a nice value per thread; piscina's `niceIncrement` applies it in each worker.
 * Each job is a piscina task: one that fails (or whose thread dies) rejects alone.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

/** The task file: JavaScript, so that it loads alike from source under vitest or tsx and from node. */
const WORKER_FILE = fileURLToPath(new URL('./hash-worker.mjs', import.meta.url));

/**
 * Jobs waiting for a thread beyond which new ones are refused rather than queued: memory stays
 * bounded, and a client is told at once instead of waiting minutes. At cost 12 (about 0.25 s a
 * hash a core) this is still more than any client would wait for.
 */
export const HASH_QUEUE_LIMIT = 1024;

export type HashJob = { op: 'hash'; password: string; cost: number } | { op: 'verify'; password: string; hash: string };

export interface HashPool {
  hash(password: string, cost: number): Promise<string>;
  /** False for a wrong password and for a stored value that is not a bcrypt hash. */
  verify(password: string, hash: string): Promise<boolean>;
  /** Stops the threads; jobs still queued or running reject. */
  destroy(): Promise<void>;
}

export interface HashPoolOptions {
  /** Worker threads, all started at once (default: one a core). */
  threads?: number;
  /** Jobs that may wait for a thread (default HASH_QUEUE_LIMIT). */
  maxQueue?: number;
  /** The task module (tests only: a worker that fails on purpose). */
  filename?: string;
}

export function createHashPool(options: HashPoolOptions = {}): HashPool {
  const threads = options.threads ?? availableParallelism();
  const piscina = new Piscina<HashJob, string | boolean>({
    filename: options.filename ?? WORKER_FILE,
    minThreads: threads,
    maxThreads: threads,
    maxQueue: options.maxQueue ?? HASH_QUEUE_LIMIT,
    niceIncrement: 19,
  });
  return {
    hash: async (password, cost) => String(await piscina.run({ op: 'hash', password, cost })),
    verify: async (password, hash) => (await piscina.run({ op: 'verify', password, hash })) === true,
    destroy: () => piscina.destroy(),
  };
}

let shared: HashPool | undefined;

/**
 * The process's pool, made on first use and kept: every app of the process (tests make many)
 * shares its threads. Idle threads do not keep the process alive.
 */
export function hashPool(): HashPool {
  shared ??= createHashPool();
  return shared;
}

/** Stops the process's pool at shutdown; a later `hashPool()` makes a new one. */
export async function closeHashPool(): Promise<void> {
  const pool = shared;
  shared = undefined;
  await pool?.destroy();
}
