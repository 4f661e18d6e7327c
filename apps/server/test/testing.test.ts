import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createTestKit } from '../src/testing.js';
import { onPostgres } from './helpers/database.js';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

// The kit is in-memory PGlite by design: it runs once, in the PGlite project.
describe.skipIf(onPostgres)('the test kit', () => {
  it('kits 2 to 50 each start in milliseconds, each in a fresh database: a user of one kit is absent from the next', async () => {
    await createTestKit().then((first) => first.close()); // the first one starts the process's PGlite
    const startups: number[] = [];
    for (let i = 0; i < 49; i += 1) {
      const started = performance.now();
      const kit = await createTestKit();
      startups.push(performance.now() - started);
      try {
        // The same credentials every time: a leftover from an earlier kit would make this a conflict.
        const user = await kit.signUp({ email: 'same@example.com', username: 'same' });
        expect(user.user.email).toBe('same@example.com');
        expect(await kit.database.db.selectFrom('users').select('id').execute()).toHaveLength(1);
      } finally {
        await kit.close();
      }
    }
    const sorted = [...startups].sort((a, b) => a - b);
    console.info(
      `test kit: kits 2-50 started in ${median(startups).toFixed(0)} ms (median), ${sorted[44]?.toFixed(0)} ms (90th percentile), ${sorted[48]?.toFixed(0)} ms (slowest)`,
    );
    // A generous bound for a loaded machine: a kit on a PGlite instance of its own costs seconds.
    expect(median(startups)).toBeLessThan(500);
  }, 600_000);

  it("a closed kit's schema is dropped, and another kit never sees its tables", async () => {
    const first = await createTestKit();
    await first.signUp({ email: 'gone@example.com' });
    const schemaOf = async (kit: Awaited<ReturnType<typeof createTestKit>>) =>
      (await sql<{ schema: string }>`select current_schema() as schema`.execute(kit.database.db)).rows[0]?.schema;
    const firstSchema = await schemaOf(first);
    const second = await createTestKit();
    try {
      expect(await schemaOf(second)).not.toBe(firstSchema);
      expect(await second.database.db.selectFrom('users').select('email').execute()).toEqual([]);
      await first.close();
      const left = await sql<{
        n: number;
      }>`select count(*)::int as n from information_schema.schemata where schema_name = ${firstSchema ?? ''}`.execute(second.database.db);
      expect(left.rows[0]?.n).toBe(0);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('two kits used at once each see only their own users', async () => {
    const [a, b] = [await createTestKit(), await createTestKit()];
    try {
      await Promise.all([
        a.signUp({ email: 'a1@example.com' }),
        b.signUp({ email: 'b1@example.com' }),
        a.signUp({ email: 'a2@example.com' }),
      ]);
      const emails = async (kit: typeof a) =>
        (await kit.database.db.selectFrom('users').select('email').orderBy('email').execute()).map((u) => u.email);
      expect(await emails(a)).toEqual(['a1@example.com', 'a2@example.com']);
      expect(await emails(b)).toEqual(['b1@example.com']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('moves token expiry with its clock, without sleeping', async () => {
    const kit = await createTestKit({ env: { ACCESS_TOKEN_TTL: '5m' } });
    try {
      const user = await kit.signUp();
      kit.advance('4m');
      await expect(user.caller.user.me()).resolves.toHaveProperty('id', user.user.id);
      kit.advance(61 + 5); // past expiry and the verifier's 5 s clock tolerance
      await expect(user.caller.user.me()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      expect(() => kit.advance('soon')).toThrow(/not a duration/);
    } finally {
      await kit.close();
    }
  });

  it('signs up unique users with working passwords', async () => {
    const kit = await createTestKit();
    try {
      const [a, b] = [await kit.signUp(), await kit.signUp()];
      expect(a.user.email).not.toBe(b.user.email);
      await expect(kit.caller.auth.login({ email: a.user.email, password: a.password })).resolves.toHaveProperty('accessToken');
    } finally {
      await kit.close();
    }
  });
});
