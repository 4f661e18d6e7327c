import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBufferedCounter } from '../src/modules/throttle/buffered-counter.js';
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
/** An instance's counter: each createRateLimiter holds its own hits in memory. */
const instance = () => createRateLimiter(database.relaxed, 1, { flushMs: FLUSH_MS });

async function stored(key: string): Promise<number | undefined> {
  const row = await database.db.selectFrom('rate_limits').select('count').where('key', '=', key).executeTakeFirst();
  return row?.count;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, FLUSH_MS * 3));

describe('buffered throttle counter', () => {
  it('on one instance allows exactly the limit, one hit after another, and writes the hits in batches', async () => {
    const limiter = instance();
    const key = newKey();
    const verdicts = [];
    for (let i = 0; i < 5; i += 1) verdicts.push(await limiter.hitBuffered(key, limit, start));
    // The first hit of the window is written at once; the next four wait in memory.
    expect(await stored(key)).toBe(1);
    await settle();
    expect(await stored(key)).toBe(5);
    for (let i = 0; i < 7; i += 1) verdicts.push(await limiter.hitBuffered(key, limit, start));
    expect(verdicts.map((v) => v.allowed)).toEqual([...Array(10).fill(true), false, false]);
    expect(verdicts[10]).toEqual({ allowed: false, retryAfterSeconds: 60 });
    await settle();
    expect(await stored(key)).toBe(11);
  });

  it('on one instance allows exactly the limit out of 50 concurrent hits', async () => {
    const limiter = instance();
    const key = newKey();
    await limiter.hitBuffered(key, limit, start); // the window is known: the rest take the in-memory path
    const verdicts = await Promise.all(Array.from({ length: 50 }, () => limiter.hitBuffered(key, limit, start)));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(limit.max - 1);
  });

  it('refuses without writing once the key is over its limit, until the window ends', async () => {
    const limiter = instance();
    const key = newKey();
    for (let i = 0; i < 11; i += 1) await limiter.hitBuffered(key, limit, start);
    await settle();
    expect(await stored(key)).toBe(11);
    for (let i = 0; i < 20; i += 1) expect((await limiter.hitBuffered(key, limit, later(30))).allowed).toBe(false);
    await settle();
    expect(await stored(key)).toBe(11);
    // A new window: allowed again, and counted from one.
    expect(await limiter.hitBuffered(key, limit, later(61))).toEqual({ allowed: true });
    expect(await stored(key)).toBe(1);
  });

  it('shares the count across instances: an instance takes hits in memory only while its count is recent', async () => {
    const a = instance();
    const b = instance();
    const key = newKey();
    for (let i = 0; i < 8; i += 1) expect((await a.hitBuffered(key, limit, start)).allowed).toBe(true);
    await settle();
    // b's first hit is written at once and sees a's eight.
    const fromB = [];
    for (let i = 0; i < 3; i += 1) fromB.push((await b.hitBuffered(key, limit, start)).allowed);
    expect(fromB).toEqual([true, true, false]);
    await settle();
    // a last wrote more than FLUSH_MS ago: its next hit is written at once and sees b's.
    expect((await a.hitBuffered(key, limit, start)).allowed).toBe(false);
    expect((await a.hitBuffered(key, limit, start)).allowed).toBe(false);
    expect(await stored(key)).toBe(limit.max + 2);
  });

  it('an instance whose count went stale cannot take a burst in memory that others already used up', async () => {
    const a = instance();
    const b = instance();
    const key = newKey();
    expect((await a.hitBuffered(key, limit, start)).allowed).toBe(true); // a knows of 1
    for (let i = 0; i < limit.max - 1; i += 1) expect((await b.hitBuffered(key, limit, start)).allowed).toBe(true);
    await settle();
    const burst = await Promise.all(Array.from({ length: 5 }, () => a.hitBuffered(key, limit, start)));
    expect(burst.filter((v) => v.allowed)).toHaveLength(0);
  });

  it('drops hits not written when their window ends, and forgets the key', async () => {
    let fail = false;
    const shared = instance();
    const counter = createBufferedCounter(
      {
        maxOf: shared.maxOf,
        add: (key, l, hits, now) => (fail ? Promise.reject(new Error('connection lost')) : shared.add(key, l, hits, now)),
      },
      { flushMs: FLUSH_MS, maxKeys: 1 },
    );
    const key = newKey();
    await counter.hit(key, limit, start);
    fail = true;
    for (let i = 0; i < 3; i += 1) await counter.hit(key, limit, start);
    await settle(); // the background write of the three failed
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
    await settle();
    expect(await stored(other)).toBe(2);
  });

  it('flush writes the hits still waiting', async () => {
    const limiter = createRateLimiter(database.relaxed, 1, { flushMs: 60_000 });
    const key = newKey();
    for (let i = 0; i < 4; i += 1) await limiter.hitBuffered(key, limit, start);
    expect(await stored(key)).toBe(1);
    await limiter.flushBuffered();
    expect(await stored(key)).toBe(4);
  });

  it('keeps the hits a failed background write could not store, and writes them with the next', async () => {
    const shared = instance();
    let failures = 0;
    const counter = createBufferedCounter(
      {
        maxOf: shared.maxOf,
        add: (key, limit, hits, now) => (failures-- > 0 ? Promise.reject(new Error('connection lost')) : shared.add(key, limit, hits, now)),
      },
      { flushMs: FLUSH_MS },
    );
    const key = newKey();
    await counter.hit(key, limit, start);
    failures = 1;
    for (let i = 0; i < 3; i += 1) await counter.hit(key, limit, start);
    await settle();
    expect(failures).toBe(0); // the background write of the three failed
    expect(await stored(key)).toBe(1);
    // The next write carries them: nothing counted is lost to a failed write.
    expect(await counter.hit(key, limit, start)).toEqual({ allowed: true });
    await settle();
    expect(await stored(key)).toBe(5);
  });

  it('a failed write that had to decide fails the request, and its waiting hits are kept', async () => {
    const shared = instance();
    let fail = false;
    const counter = createBufferedCounter(
      {
        maxOf: shared.maxOf,
        add: (key, limit, hits, now) => (fail ? Promise.reject(new Error('connection lost')) : shared.add(key, limit, hits, now)),
      },
      { flushMs: 60_000 },
    );
    const key = newKey();
    for (let i = 0; i < 10; i += 1) await counter.hit(key, limit, start);
    fail = true;
    await expect(counter.hit(key, limit, start)).rejects.toThrow('connection lost');
    fail = false;
    expect(await counter.hit(key, limit, start)).toMatchObject({ allowed: false });
    expect(await stored(key)).toBe(11);
  });
});
