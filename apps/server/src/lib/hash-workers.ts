/**
 * bcrypt on worker threads of the lowest CPU priority. On a busy machine a login flood takes
 * every core; hashing on threads of nice 19 lets the event loop (token checks, queries, every
 * other request) preempt it at once, while hashing still gets every cycle nobody else wants.
 * Linux keeps a nice value per thread, and `os.setPriority()` in a worker sets the worker's own.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

type Job = { op: 'hash'; password: string; cost: number } | { op: 'verify'; password: string; hash: string };

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptPath);
try { require('node:os').setPriority(19); } catch {}
parentPort.on('message', ({ id, job }) => {
  try {
    const result = job.op === 'hash' ? bcrypt.hashSync(job.password, job.cost) : bcrypt.verifySync(job.password, job.hash);
    parentPort.postMessage({ id, result });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message || error) });
  }
});
`;

interface Pending {
  resolve: (value: string | boolean) => void;
  reject: (error: Error) => void;
}

export interface HashPool {
  run(job: Job): Promise<string | boolean>;
}

let shared: HashPool | undefined;

/** The process's pool, one worker a core, made on first use and kept. */
export function hashPool(): HashPool {
  shared ??= createHashPool(availableParallelism());
  return shared;
}

function createHashPool(size: number): HashPool {
  const bcryptPath = createRequire(import.meta.url).resolve('@node-rs/bcrypt');
  const workers: { worker: Worker; busy: number }[] = [];
  const pending = new Map<number, Pending>();
  let nextId = 0;

  const spawn = () => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptPath } });
    const entry = { worker, busy: 0 };
    worker.unref();
    worker.on('message', (message: { id: number; result?: string | boolean; error?: string }) => {
      const job = pending.get(message.id);
      pending.delete(message.id);
      entry.busy -= 1;
      // Idle workers must not keep the process alive.
      if (entry.busy === 0) worker.unref();
      if (!job) return;
      if (message.error !== undefined) job.reject(new Error(message.error));
      else job.resolve(message.result as string | boolean);
    });
    worker.on('error', (error) => {
      for (const [id, job] of pending) {
        pending.delete(id);
        job.reject(error);
      }
      workers.splice(workers.indexOf(entry), 1);
    });
    workers.push(entry);
    return entry;
  };

  return {
    run(job) {
      while (workers.length < size) spawn();
      // The least busy worker takes the job: jobs queue in the workers, not here.
      const entry = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      const id = nextId++;
      entry.busy += 1;
      entry.worker.ref();
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        entry.worker.postMessage({ id, job });
      });
    },
  };
}
