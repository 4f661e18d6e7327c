import { describe, expect, it } from 'vitest';
import { createTestKit } from '../src/testing.js';
import { onPostgres } from './helpers/database.js';

// The kit is in-memory PGlite by design: it runs once, in the PGlite project.
describe.skipIf(onPostgres)('the test kit', () => {
  it('50 kits are created and closed in one file, each isolated from the others', async () => {
    await createTestKit().then((first) => first.close()); // the first one makes the migrated snapshot
    const started = Date.now();
    const emails = new Set<string>();
    for (let i = 0; i < 50; i += 1) {
      const kit = await createTestKit();
      try {
        const user = await kit.signUp({ email: 'same@example.com', username: 'same' });
        emails.add(user.user.email);
        // Each kit is a fresh database: nobody registered before.
        expect(await kit.database.db.selectFrom('users').select('id').execute()).toHaveLength(1);
      } finally {
        await kit.close();
      }
    }
    expect(emails).toEqual(new Set(['same@example.com']));
    // Not a speed assertion: a report of what a kit costs here.
    console.info(`test kit: ${((Date.now() - started) / 50).toFixed(0)} ms per kit after the first`);
  }, 600_000);

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
