/**
 * Attacks on the throttles and on the server's CPU, each reproduced as an attacker would try it
 * (issue 13; docs/security.md, "Threat model").
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.js';
import { ManualClock } from '../src/lib/clock.js';
import { createAccessTokens } from '../src/lib/jwt.js';
import { accessTokenKeys } from '../src/lib/keys.js';
import { createPasswordHasher, type PasswordHasher } from '../src/lib/password.js';
import { LIMITS } from '../src/modules/throttle/throttle.policy.js';
import { createCaller } from '../src/router.js';
import type { RequestInfo } from '../src/trpc/context.js';
import { newUser, TEST_SECRET, testConfig } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { failure } from './helpers/failure.js';

let database: TestDatabase;
let app: App;
const hashes = { count: 0 };

beforeAll(async () => {
  database = await migratedTestDatabase();
  const real = createPasswordHasher(4);
  // The real hasher, counting the hashes it is asked for.
  const hasher: PasswordHasher = {
    ...real,
    hash: (password) => {
      hashes.count += 1;
      return real.hash(password);
    },
  };
  app = await createApp(testConfig({ RATE_LIMIT_SCALE: '1' }), {
    database,
    hasher,
    clock: new ManualClock(new Date('2026-01-01T00:00:00Z')),
  });
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

function caller(request: Partial<RequestInfo> & { accessToken?: string } = {}) {
  const { accessToken, ...rest } = request;
  return createCaller({
    services: app.services,
    request: { authorization: accessToken ? `Bearer ${accessToken}` : undefined, ip: '192.0.2.10', userAgent: 'test', ...rest },
  });
}

describe('throttles fail closed', () => {
  it('requests whose client address cannot be known are counted under one shared key, never skipped', async () => {
    const max = LIMITS.registrationsPerAddress.max;
    for (let i = 0; i < max; i += 1) await caller({ ip: undefined }).auth.register(newUser('unknownaddr'));
    expect(await failure(caller({ ip: undefined }).auth.register(newUser('unknownaddr')))).toMatchObject({ appCode: 'RATE_LIMITED' });
    // Other clients, whose address is known, are not held back by them.
    await expect(caller({ ip: '198.51.100.77' }).auth.register(newUser('known'))).resolves.toHaveProperty('accessToken');
  });

  it('one IPv6 /64 is one client: rotating through its addresses does not reset the count', async () => {
    const max = LIMITS.registrationsPerAddress.max;
    for (let i = 0; i < max; i += 1) await caller({ ip: `2001:db8:aa:bb::${(i + 1).toString(16)}` }).auth.register(newUser('v6'));
    expect(await failure(caller({ ip: '2001:db8:aa:bb:ffff:1:2:3' }).auth.register(newUser('v6')))).toMatchObject({
      appCode: 'RATE_LIMITED',
    });
    await expect(caller({ ip: '2001:db8:aa:bc::1' }).auth.register(newUser('v6other'))).resolves.toHaveProperty('accessToken');
  });
});

describe('secrets are counted before they are checked', () => {
  it('a burst of wrong current passwords gets no more answers than the limit allows', async () => {
    const user = newUser('burst');
    const session = await caller({ ip: '198.51.100.20' }).auth.register(user);
    const signedIn = caller({ accessToken: session.accessToken });
    const guesses = Array.from({ length: 15 }, (_, i) =>
      failure(signedIn.user.changePassword({ currentPassword: `wrong guess ${i}`, newPassword: 'a brand new passphrase' })),
    );
    const outcomes = await Promise.all(guesses);
    const checked = outcomes.filter((o) => o.appCode === 'INVALID_CREDENTIALS').length;
    expect(checked).toBe(LIMITS.passwordChecksPerAccount.max);
    expect(outcomes.filter((o) => o.appCode === 'RATE_LIMITED')).toHaveLength(15 - LIMITS.passwordChecksPerAccount.max);
  });

  it('the right current password gives its count back', async () => {
    const user = newUser('rightpw');
    const session = await caller({ ip: '198.51.100.21' }).auth.register(user);
    const signedIn = caller({ accessToken: session.accessToken });
    for (let i = 0; i < LIMITS.passwordChecksPerAccount.max + 2; i += 1) {
      await signedIn.user.changePassword({ currentPassword: user.password, newPassword: user.password });
    }
  });
});

describe('no amplification', () => {
  it('a reset with a bad token is refused before any hashing, and bad tokens are throttled per address', async () => {
    const before = hashes.count;
    const attacker = caller({ ip: '203.0.113.66' });
    for (let i = 0; i < LIMITS.linkTokensPerAddress.max; i += 1) {
      expect(
        await failure(attacker.auth.resetPassword({ token: `bad-token-${i}`, newPassword: 'a perfectly fine passphrase' })),
      ).toMatchObject({
        appCode: 'TOKEN_INVALID',
      });
    }
    expect(hashes.count).toBe(before);
    expect(await failure(attacker.auth.resetPassword({ token: 'bad-token-x', newPassword: 'a perfectly fine passphrase' }))).toMatchObject({
      appCode: 'RATE_LIMITED',
    });
    expect(await failure(attacker.auth.verifyEmail({ token: 'bad-token-y' }))).toMatchObject({ appCode: 'RATE_LIMITED' });
    // Another address is not affected.
    expect(await failure(caller({ ip: '203.0.113.67' }).auth.verifyEmail({ token: 'bad-token-z' }))).toMatchObject({
      appCode: 'TOKEN_INVALID',
    });
  });
});

describe('access tokens are bound to live sessions', () => {
  const signer = () =>
    createAccessTokens({
      keys: accessTokenKeys({ current: TEST_SECRET }, app.config.accessTokenAlgorithm),
      ttlSeconds: 900,
      clock: app.clock,
    });
  const PROOF = { authTime: new Date('2026-01-01T00:00:00Z'), authMethods: ['pwd'] } as const;

  it('a token signed with the right key for a session that does not exist is refused everywhere', async () => {
    const session = await caller({ ip: '198.51.100.30' }).auth.register(newUser('nosession'));
    const { token } = await signer().sign({
      userId: session.user.id,
      sessionId: randomUUID(),
      notAfter: session.refreshTokenExpiresAt,
      ...PROOF,
    });
    expect(await failure(caller({ accessToken: token }).user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
    expect(await failure(caller({ accessToken: token }).auth.sessions())).toMatchObject({ appCode: 'SESSION_REVOKED' });
  });

  it("a token naming another user's live session is refused, even after that session was seen live", async () => {
    const victim = await caller({ ip: '198.51.100.31' }).auth.register(newUser('victim'));
    const attacker = await caller({ ip: '198.51.100.32' }).auth.register(newUser('attacker'));
    const [victimSession] = await caller({ accessToken: victim.accessToken }).auth.sessions();
    const victimSessionId = victimSession?.id ?? '';
    // The victim's pair is now known live to this instance.
    await caller({ accessToken: victim.accessToken }).user.me();
    const { token } = await signer().sign({
      userId: attacker.user.id,
      sessionId: victimSessionId,
      notAfter: attacker.refreshTokenExpiresAt,
      ...PROOF,
    });
    expect(await failure(caller({ accessToken: token }).user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
    expect(await failure(caller({ accessToken: token }).auth.sessions())).toMatchObject({ appCode: 'SESSION_REVOKED' });
    // The real owner is unaffected.
    await expect(caller({ accessToken: victim.accessToken }).user.me()).resolves.toMatchObject({ id: victim.user.id });
  });
});
