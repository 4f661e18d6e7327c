import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from './errors.js';
import { createHashPool, type HashPool } from './hash-workers.js';

const pools: HashPool[] = [];
function pool(options: Parameters<typeof createHashPool>[0]): HashPool {
  const made = createHashPool(options);
  pools.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
});

/** The nice value of every thread of this process (Linux: field 19 of /proc/self/task/<tid>/stat). */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('hash pool', () => {
  it('hashes and verifies with bcrypt at the cost given', async () => {
    const hashes = pool({ threads: 1 });
    const hash = await hashes.hash('tangerine-lantern-42', 4);

    expect(hash).toMatch(/^\$2[aby]\$04\$/);
    expect(await hashes.verify('tangerine-lantern-42', hash)).toBe(true);
    expect(await hashes.verify('tangerine-lantern-43', hash)).toBe(false);
    expect(await hashes.verify('tangerine-lantern-42', 'not-a-bcrypt-hash')).toBe(false);
  });

  it('a job that fails rejects alone: the jobs queued and running beside it succeed', async () => {
    const hashes = pool({ threads: 2 });
    const jobs = Array.from({ length: 6 }, (_, i) => hashes.hash(`password ${i}`, i === 2 ? 99 : 4));

    const results = await Promise.allSettled(jobs);

    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(results[2]).toMatchObject({
      status: 'rejected',
      reason: { message: expect.stringMatching(/Cost needs to be between 4 and 31/) },
    });
  });

  it('a job whose thread dies rejects alone, and the pool goes on with a new thread', async () => {
    const filename = fileURLToPath(new URL('../../test/fixtures/dying-hash-worker.mjs', import.meta.url));
    const hashes = pool({ threads: 2, filename });
    const jobs = ['a', 'b', 'die', 'c', 'd', 'e'].map((password) => hashes.hash(password, 4));

    const results = await Promise.allSettled(jobs);

    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(await hashes.hash('after', 4)).toBe('hashed:after');
  });

  it('the queue is bounded: a job beyond it is refused at once, and a verification refused so is an error, not a mismatch', async () => {
    const hashes = pool({ threads: 1, maxQueue: 2 });
    const stored = await hashes.hash('a long enough passphrase', 4);
    const accepted = Array.from({ length: 3 }, () => hashes.hash('a long enough passphrase', 10));

    // Answered 429 RATE_LIMITED with Retry-After, as a throttle's refusal is, not 500.
    const refused = await hashes.verify('a long enough passphrase', stored).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ appCode: 'RATE_LIMITED', kind: 'TOO_MANY_REQUESTS', retryAfterSeconds: 5 });
    expect((refused as Error).message).toMatch(/queue is at its limit/);
    expect(await Promise.all(accepted)).toHaveLength(3);
  });

  it('serves jobs in the order they came, also while clients keep the queue full (no login waits behind later ones)', async () => {
    const hashes = pool({ threads: 1 });
    const stored = await hashes.hash('a long enough passphrase', 4);
    let submitted = 0;
    let completed = 0;
    const overtaken: number[] = [];
    // 20 clients, each sending its next job as soon as its last one is answered: the queue stays full.
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (submitted < 300) {
          const ticket = submitted++;
          await hashes.verify('a long enough passphrase', stored);
          // Jobs that came after this one and were answered before it.
          overtaken.push(completed++ - ticket);
        }
      }),
    );

    expect(Math.max(...overtaken)).toBeLessThanOrEqual(0);
  });

  it.runIf(process.platform === 'linux')('runs its threads at nice 19', async () => {
    const before = threadNiceValues().filter((nice) => nice === 19).length;
    const hashes = pool({ threads: 2 });
    await Promise.all([hashes.hash('a', 4), hashes.hash('b', 4), hashes.hash('c', 4)]);

    expect(threadNiceValues().filter((nice) => nice === 19).length - before).toBe(2);
  });
});
