/**
 * The rotation runbook of docs/deployment.md ("Rotating JWT_SECRET"), step by step, on one
 * database and one clock, with the server restarted (a new app) at each change of configuration.
 */
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/lib/clock.js';
import { ed25519KeyPair } from '../src/lib/keys.js';
import { createTestKit, type TestKit } from '../src/testing.js';
import { newUser } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { failure } from './helpers/failure.js';

const OLD_SECRET = 'the-secret-in-use-before-the-rotation-32-bytes';
const NEW_SECRET = 'the-secret-the-operator-rotates-to-of-32-bytes';
const OLD_KID = ed25519KeyPair(OLD_SECRET).jwk.kid;
const NEW_KID = ed25519KeyPair(NEW_SECRET).jwk.kid;

let database: TestDatabase;
const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
const kits: TestKit[] = [];

/** The server (re)started with this configuration, on the shared database and clock. */
async function server(env: Record<string, string>): Promise<TestKit> {
  const kit = await createTestKit({ database, clock, env });
  kits.push(kit);
  return kit;
}

beforeAll(async () => {
  database = await migratedTestDatabase();
});
afterAll(async () => {
  for (const kit of kits) await kit.close();
  await database?.close();
});

const me = (kit: TestKit, accessToken: string) => kit.callerFor({ accessToken }).user.me();
const refresh = (kit: TestKit, refreshToken: string) => kit.caller.auth.refresh({ refreshToken });

describe.each(['EdDSA', 'HS256'] as const)('rotating JWT_SECRET with ACCESS_TOKEN_ALG=%s, as docs/deployment.md says', (alg) => {
  it('signs nobody out who refreshes in between, and refuses what only the old secret vouches for once it is removed', async () => {
    // Before: the old secret only.
    const before = await server({ ACCESS_TOKEN_ALG: alg, JWT_SECRET: OLD_SECRET });
    const active = await before.caller.auth.register(newUser('active'));
    const idleUser = newUser('idle');
    const idle = await before.caller.auth.register(idleUser);
    if (alg === 'EdDSA') expect(decodeProtectedHeader(active.accessToken).kid).toBe(OLD_KID);

    // Step 1, first round (several instances): the new secret accepted, not yet used.
    const learning = await server({ ACCESS_TOKEN_ALG: alg, JWT_SECRET: OLD_SECRET, JWT_SECRET_PREVIOUS: NEW_SECRET });
    await expect(me(learning, active.accessToken)).resolves.toMatchObject({ id: active.user.id });

    // Step 1: the new secret signs, the old one is still accepted.
    const during = await server({ ACCESS_TOKEN_ALG: alg, JWT_SECRET: NEW_SECRET, JWT_SECRET_PREVIOUS: OLD_SECRET });
    await expect(me(during, active.accessToken)).resolves.toMatchObject({ id: active.user.id });
    await expect(me(during, idle.accessToken)).resolves.toMatchObject({ id: idle.user.id });
    if (alg === 'EdDSA') expect(during.app.services.sessions.publicKeys().keys.map((key) => key.kid)).toEqual([NEW_KID, OLD_KID]);
    const newcomer = await during.caller.auth.register(newUser('newcomer'));
    if (alg === 'EdDSA') expect(decodeProtectedHeader(newcomer.accessToken).kid).toBe(NEW_KID);
    // An instance of the first round, not yet restarted, already accepts what the new secret signs.
    await expect(me(learning, newcomer.accessToken)).resolves.toMatchObject({ id: newcomer.user.id });

    // Step 2: the active session refreshes (its refresh token was MAC'd under the old secret).
    clock.advance(5 * 60);
    const refreshed = await refresh(during, active.refreshToken);
    if (alg === 'EdDSA') expect(decodeProtectedHeader(refreshed.accessToken).kid).toBe(NEW_KID);

    // Step 3: the previous secret removed.
    const after = await server({ ACCESS_TOKEN_ALG: alg, JWT_SECRET: NEW_SECRET });
    // Old access tokens are refused for their key, not for their age (they have 10 minutes left).
    expect(await failure(me(after, active.accessToken))).toEqual({ code: 'UNAUTHORIZED', appCode: 'ACCESS_TOKEN_INVALID' });
    expect(await failure(me(after, idle.accessToken))).toEqual({ code: 'UNAUTHORIZED', appCode: 'ACCESS_TOKEN_INVALID' });
    // The session that refreshed in between lives on, and keeps refreshing.
    await expect(me(after, refreshed.accessToken)).resolves.toMatchObject({ id: active.user.id });
    const again = await refresh(after, refreshed.refreshToken);
    await expect(me(after, again.accessToken)).resolves.toMatchObject({ id: active.user.id });
    await expect(me(after, newcomer.accessToken)).resolves.toMatchObject({ id: newcomer.user.id });
    // The one that never refreshed is refused: its user signs in again.
    expect(await failure(refresh(after, idle.refreshToken))).toEqual({ code: 'UNAUTHORIZED', appCode: 'REFRESH_TOKEN_INVALID' });
    const signedInAgain = await after.caller.auth.login({ email: idleUser.email, password: idleUser.password });
    await expect(me(after, 'accessToken' in signedInAgain ? signedInAgain.accessToken : '')).resolves.toMatchObject({ id: idle.user.id });
  });
});
