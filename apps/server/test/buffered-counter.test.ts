import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualTimer } from '../src/lib/clock.js';
import { createBufferedCounter, type WindowCount } from '../src/modules/throttle/buffered-counter.js';
import type { Limit } from '../src/modules/throttle/throttle.policy.js';
import { createThrottle as createRateLimiter } from '../src/modules/throttle/throttle.service.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const FLUSH_MS = 40;
const limit: Limit = { max: 10, windowSeconds: 60 };
const start = new Date('2026-01-01T00:00:00Z');
const later = (seconds: number) => new Date(start.getTime() + seconds * 1000);
const newKey = () => `test:buffered:${randomUUID()}`;

type Add = (key: string, limit: Limit, hits: number, now: Date) => Promise<WindowCount>;

/**
 * The shared store with its writes in sight: time moves only by `timer.advance`, and `written()`
 * waits for the writes sent so far (database round trips, not timers) instead of sleeping.
 */
function harness() {
  const timer = new ManualTimer();
  const limiter = createRateLimiter(database.relaxed, 1);
  const sent = new Set<Promise<unknown>>();
  const track = (add: Add): Add => {
    return (key, l, hits, now) => {
      const write = add(key, l, hits, now);
      sent.add(write);
      return write;
    };
  };
  return {
    timer,
    add: limiter.add,
    /** An instance's counter: each holds its own hits in memory; all see the same time. */
    instance: (add: Add = limiter.add, options: { flushMs?: number; maxKeys?: number } = {}) =>
      createBufferedCounter({ add: track(add), maxOf: limiter.maxOf }, { flushMs: FLUSH_MS, ...options, timer }),
    async written(): Promise<void> {
      const writes = [...sent];
      sent.clear();
      await Promise.allSettled(writes);
    },
  };
}

async function stored(key: string): Promise<number | undefined> {
  const row = await database.db.selectFrom('rate_limits').select('count').where('key', '=', key).executeTakeFirst();
  return row?.count;
}

describe('buffered throttle counter', () => {
  it('on one instance allows exactly the limit, one hit after another, and writes the hits in batches', async () => {
    const { timer, instance, written } = harness();
    const counter = instance();
    const key = newKey();
    const verdicts = [];
    for (let i = 0; i < 5; i += 1) verdicts.push(await counter.hit(key, limit, start));
    // The first hit of the window is written at once; the next four wait in memory, flushMs at most.
    expect(await stored(key)).toBe(1);
    timer.advance(FLUSH_MS - 1);
    await written();
    expect(await stored(key)).toBe(1);
    timer.advance(1);
    await written();
    expect(await stored(key)).toBe(5);
    for (let i = 0; i < 7; i += 1) verdicts.push(await counter.hit(key, limit, start));
    expect(verdicts.map((v) => v.allowed)).toEqual([...Array(10).fill(true), false, false]);
    expect(verdicts[10]).toEqual({ allowed: false, retryAfterSeconds: 60 });
    timer.advance(FLUSH_MS);
    await written();
    expect(await stored(key)).toBe(11);
  });

  it('on one instance allows exactly the limit out of 50 concurrent hits', async () => {
    const { instance } = harness();
    const counter = instance();
    const key = newKey();
    await counter.hit(key, limit, start); // the window is known: the rest take the in-memory path
    const verdicts = await Promise.all(Array.from({ length: 50 }, () => counter.hit(key, limit, start)));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(limit.max - 1);
  });

  it('refuses without writing once the key is over its limit, until the window ends', async () => {
    const { timer, instance, written } = harness();
    const counter = instance();
    const key = newKey();
    for (let i = 0; i < 11; i += 1) await counter.hit(key, limit, start);
    timer.advance(FLUSH_MS);
    await written();
    expect(await stored(key)).toBe(11);
    for (let i = 0; i < 20; i += 1) expect((await counter.hit(key, limit, later(30))).allowed).toBe(false);
    expect(timer.waiting).toBe(0);
    timer.advance(FLUSH_MS);
    await written();
    expect(await stored(key)).toBe(11);
    // A new window: allowed again, and counted from one.
    expect(await counter.hit(key, limit, later(61))).toEqual({ allowed: true });
    expect(await stored(key)).toBe(1);
  });

  it('shares the count across instances: an instance takes hits in memory only while its count is recent', async () => {
    const { timer, instance, written } = harness();
    const a = instance();
    const b = instance();
    const key = newKey();
    for (let i = 0; i < 8; i += 1) expect((await a.hit(key, limit, start)).allowed).toBe(true);
    timer.advance(FLUSH_MS);
    await written();
    // b's first hit is written at once and sees a's eight.
    const fromB = [];
    for (let i = 0; i < 3; i += 1) fromB.push((await b.hit(key, limit, start)).allowed);
    expect(fromB).toEqual([true, true, false]);
    // a last wrote more than FLUSH_MS ago: its next hit is written at once and sees b's.
    timer.advance(FLUSH_MS + 1);
    await written();
    expect((await a.hit(key, limit, start)).allowed).toBe(false);
    expect((await a.hit(key, limit, start)).allowed).toBe(false);
    expect(await stored(key)).toBe(limit.max + 2);
  });

  it('a count exactly flushMs old is still recent; one millisecond later it is stale and the hit is written', async () => {
    const { timer, instance } = harness();
    const counter = instance();
    const key = newKey();
    await counter.hit(key, limit, start);
    timer.advance(FLUSH_MS);
    await counter.hit(key, limit, start);
    expect(await stored(key)).toBe(1);
    timer.advance(1);
    await counter.hit(key, limit, start);
    expect(await stored(key)).toBe(3);
  });

  it('an instance whose count went stale cannot take a burst in memory that others already used up', async () => {
    const { timer, instance, written } = harness();
    const a = instance();
    const b = instance();
    const key = newKey();
    expect((await a.hit(key, limit, start)).allowed).toBe(true); // a knows of 1
    for (let i = 0; i < limit.max - 1; i += 1) expect((await b.hit(key, limit, start)).allowed).toBe(true);
    timer.advance(FLUSH_MS + 1);
    await written();
    const burst = await Promise.all(Array.from({ length: 5 }, () => a.hit(key, limit, start)));
    expect(burst.filter((v) => v.allowed)).toHaveLength(0);
  });

  it('drops hits not written when their window ends, and forgets the key', async () => {
    const { timer, add, instance, written } = harness();
    let fail = false;
    const counter = instance((key, l, hits, now) => (fail ? Promise.reject(new Error('connection lost')) : add(key, l, hits, now)), {
      maxKeys: 1,
    });
    const key = newKey();
    await counter.hit(key, limit, start);
    fail = true;
    for (let i = 0; i < 3; i += 1) await counter.hit(key, limit, start);
    timer.advance(FLUSH_MS);
    await written(); // the background write of the three failed
    fail = false;
    // The next window: counted from one, without the three of the last.
    expect(await counter.hit(key, limit, later(61))).toEqual({ allowed: true });
    expect(await stored(key)).toBe(1);
    // With room for one key, a new key's arrival sweeps the ended one.
    const other = newKey();
    expect(await counter.hit(other, limit, later(200))).toEqual({ allowed: true });
    await counter.hit(other, limit, later(200));
    // Held in memory, so the new key has a place: the old one was swept (else every hit is written).
    expect(await stored(other)).toBe(1);
    timer.advance(FLUSH_MS);
    await written();
    expect(await stored(other)).toBe(2);
  });

  it('flush writes the hits still waiting, and cancels their timer', async () => {
    const timer = new ManualTimer();
    const limiter = createRateLimiter(database.relaxed, 1, { flushMs: 60_000, timer });
    const key = newKey();
    for (let i = 0; i < 4; i += 1) await limiter.hitBuffered(key, limit, start);
    expect(await stored(key)).toBe(1);
    expect(timer.waiting).toBe(1);
    await limiter.flushBuffered();
    expect(await stored(key)).toBe(4);
    expect(timer.waiting).toBe(0);
  });

  it('keeps the hits a failed background write could not store, and writes them with the next', async () => {
    const { timer, add, instance, written } = harness();
    let failures = 0;
    const counter = instance((key, l, hits, now) =>
      failures-- > 0 ? Promise.reject(new Error('connection lost')) : add(key, l, hits, now),
    );
    const key = newKey();
    await counter.hit(key, limit, start);
    failures = 1;
    for (let i = 0; i < 3; i += 1) await counter.hit(key, limit, start);
    timer.advance(FLUSH_MS);
    await written();
    expect(failures).toBe(0); // the background write of the three failed
    expect(await stored(key)).toBe(1);
    // The next write carries them: nothing counted is lost to a failed write.
    expect(await counter.hit(key, limit, start)).toEqual({ allowed: true });
    timer.advance(FLUSH_MS);
    await written();
    expect(await stored(key)).toBe(5);
  });

  it('a failed write that had to decide fails the request, and its waiting hits are kept', async () => {
    const { add, instance } = harness();
    let fail = false;
    const counter = instance((key, l, hits, now) => (fail ? Promise.reject(new Error('connection lost')) : add(key, l, hits, now)), {
      flushMs: 60_000,
    });
    const key = newKey();
    for (let i = 0; i < 10; i += 1) await counter.hit(key, limit, start);
    fail = true;
    await expect(counter.hit(key, limit, start)).rejects.toThrow('connection lost');
    fail = false;
    expect(await counter.hit(key, limit, start)).toMatchObject({ allowed: false });
    expect(await stored(key)).toBe(11);
  });
});
