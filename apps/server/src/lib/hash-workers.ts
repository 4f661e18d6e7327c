/**
 * bcrypt on worker threads of the lowest CPU priority. On a busy machine a login flood takes
 * every core; hashing on threads of nice 19 lets the event loop (token checks, queries, every
 * other request) preempt it at once, while hashing still gets every cycle nobody else wants.
 * Linux keeps a nice value per thread; piscina's `niceIncrement` applies it in each worker.
 * Each job is a piscina task: one that fails (or whose thread dies) rejects alone.
 *
 * Jobs wait in a queue of our own, first come first served, and go to piscina only when a thread
 * is free: piscina 5's queue is not FIFO under load (piscinajs/piscina#1031: a task can be pushed
 * back behind later ones again and again). Measured here before this queue: with the queue kept
 * full, one job waited behind 295 later ones (lib/hash-workers.test.ts), and in the login benchmark
 * logins waited up to 53 s while later ones were served in 4.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { AppError } from './errors.js';

/** The task file: JavaScript, so that it loads alike from source under vitest or tsx and from node. */
const WORKER_FILE = fileURLToPath(new URL('./hash-worker.mjs', import.meta.url));

/**
 * Jobs waiting for a thread beyond which new ones are refused rather than queued: memory stays
 * bounded, and a client is told at once instead of waiting minutes. At cost 12 (about 0.25 s a
 * hash a core) this is still more than any client would wait for. The refusal is a 429
 * `RATE_LIMITED` with `Retry-After` (HASH_QUEUE_RETRY_AFTER_SECONDS), never a 500.
 */
export const HASH_QUEUE_LIMIT = 1024;
export const HASH_QUEUE_RETRY_AFTER_SECONDS = 5;

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
  const maxQueue = options.maxQueue ?? HASH_QUEUE_LIMIT;
  const piscina = new Piscina<HashJob, string | boolean>({
    filename: options.filename ?? WORKER_FILE,
    minThreads: threads,
    maxThreads: threads,
    niceIncrement: 19,
  });
  // At most `threads` jobs are ever with piscina; the rest wait here, in order.
  let running = 0;
  const waiting: { go: () => void; fail: (error: Error) => void }[] = [];
  async function run(job: HashJob): Promise<string | boolean> {
    if (running < threads) running += 1;
    else if (waiting.length >= maxQueue)
      throw new AppError('RATE_LIMITED', {
        message: 'The password hashing queue is at its limit: try again shortly',
        retryAfterSeconds: HASH_QUEUE_RETRY_AFTER_SECONDS,
      });
    else await new Promise<void>((go, fail) => waiting.push({ go, fail }));
    try {
      return await piscina.run(job);
    } finally {
      // The thread passes to the oldest waiting job, never to one that arrives meanwhile.
      const next = waiting.shift();
      if (next) next.go();
      else running -= 1;
    }
  }
  return {
    hash: async (password, cost) => String(await run({ op: 'hash', password, cost })),
    verify: async (password, hash) => (await run({ op: 'verify', password, hash })) === true,
    async destroy() {
      for (const job of waiting.splice(0)) job.fail(new Error('The hash pool was destroyed'));
      await piscina.destroy();
    },
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
