/**
 * The hash pool's task (hash-workers.ts). Plain JavaScript: piscina loads it in a fresh worker
 * thread, where neither vitest's nor tsx's TypeScript transform is guaranteed to be present.
 * Synchronous bcrypt on purpose: blocking this low-priority thread is the point.
 */
import bcrypt from '@node-rs/bcrypt';

/** @param {{ op: 'hash', password: string, cost: number } | { op: 'verify', password: string, hash: string }} job */
export default function run(job) {
  if (job.op === 'hash') return bcrypt.hashSync(job.password, job.cost);
  try {
    return bcrypt.verifySync(job.password, job.hash);
  } catch {
    // A stored value that is not a bcrypt hash matches no password. Only this is swallowed: a
    // failure of the pool itself (queue full, pool destroyed) still rejects.
    return false;
  }
}
