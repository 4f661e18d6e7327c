/**
 * baselines/better-auth.ts is what the user.me target is measured against: it must do a real
 * get-session. These run it on PostgreSQL (DATABASE_URL, else 127.0.0.1:5432; skipped without
 * one), in a schema of their own, so that they never touch a benchmark's schemas.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BETTER_AUTH_SECRET, type BetterAuthUser, sessionEmail, signUpBetterAuth } from '../src/better-auth.js';
import { LOCAL_POSTGRES, reachable } from '../src/database.js';
import { type Child, freePort, startBaseline } from '../src/processes.js';
import type { SeededUser } from '../src/seed.js';

const given = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
const postgres = given?.startsWith('postgres') ? given : (await reachable('127.0.0.1', 5432)) ? LOCAL_POSTGRES : undefined;
const schema = `better_auth_test_${process.pid}`;

async function sql(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgres });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

describe.skipIf(!postgres)('the better-auth baseline', () => {
  let server: Child | undefined;
  let base = '';
  let users: BetterAuthUser[] = [];
  const seeded: SeededUser = {
    id: '00000000-0000-4000-8000-000000000001',
    email: 'bench-test@example.com',
    username: 'benchtest',
    createdAt: new Date().toISOString(),
    accessToken: '',
    refreshToken: '',
    refreshTokenExpiresAt: '',
  };

  beforeAll(async () => {
    server = await startBaseline('better-auth', {
      DATABASE_URL: postgres ?? '',
      SCHEMA: schema,
      BETTER_AUTH_SECRET,
      NODE_ENV: 'production',
      PORT: String(await freePort()),
    });
    base = `http://127.0.0.1:${server.port}`;
    users = await signUpBetterAuth(base, [seeded], () => {});
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await sql(`drop schema if exists ${schema} cascade`);
  });

  it('get-session answers the signed-up user for its cookie, and no one without it or with a forged one', async () => {
    const cookie = users[0]?.cookie ?? '';
    expect(cookie).toMatch(/session_token=[^;]+\.[^;]+/);
    expect(await sessionEmail(base, cookie)).toBe(seeded.email);
    expect(await sessionEmail(base, '')).toBeUndefined();
    // The same token with another signature: better-auth checks the HMAC before any lookup.
    const forged = cookie.replace(/(session_token=[^.;]+\.)[^;]+/, '$1AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D');
    expect(forged).not.toBe(cookie);
    expect(await sessionEmail(base, forged)).toBeUndefined();
  });

  it('reads the session from PostgreSQL on every get-session: deleting the row ends it at once (no cache)', async () => {
    const cookie = users[0]?.cookie ?? '';
    expect(await sessionEmail(base, cookie)).toBe(seeded.email);
    await sql(`delete from ${schema}.session`);
    expect(await sessionEmail(base, cookie)).toBeUndefined();
  });
});
