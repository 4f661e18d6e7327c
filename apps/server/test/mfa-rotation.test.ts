/**
 * Second factors across a rotation of JWT_SECRET (docs/deployment.md, "Rotating JWT_SECRET"): the
 * TOTP secrets and recovery keys sealed under the old secret are sealed again during the rotation,
 * so removing JWT_SECRET_PREVIOUS ends no second factor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/lib/clock.js';
import { createTestKit, type TestKit, totpCode } from '../src/testing.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { failure } from './helpers/failure.js';

const OLD_SECRET = 'the-secret-in-use-before-the-rotation-32-bytes';
const NEW_SECRET = 'the-secret-the-operator-rotates-to-of-32-bytes';

let database: TestDatabase;
const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
const kits: TestKit[] = [];

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

/** A user of `kit` with an authenticator app: its password, secret and recovery codes. */
async function withTotp(kit: TestKit) {
  const user = await kit.signUp();
  const { factorId, secret } = await user.caller.auth.mfa.totp.enroll();
  const { recoveryCodes } = await user.caller.auth.mfa.totp.confirm({ factorId, code: totpCode(secret, clock.now()) });
  return { email: user.user.email, password: user.password, secret, recoveryCodes };
}

async function mfaToken(kit: TestKit, user: { email: string; password: string }): Promise<string> {
  const answer = await kit.caller.auth.login({ email: user.email, password: user.password });
  if (!('mfaRequired' in answer)) throw new Error('the login did not ask for the second factor');
  return answer.mfaToken;
}

describe('second factors across a rotation of JWT_SECRET', () => {
  it('are sealed again while both secrets are set, and work once the previous one is removed', async () => {
    const before = await server({ JWT_SECRET: OLD_SECRET });
    const alice = await withTotp(before);
    const bob = await withTotp(before);
    clock.advance(30);

    // Without the step in between, the new secret alone opens neither the app nor the codes.
    const tooSoon = await server({ JWT_SECRET: NEW_SECRET });
    expect(
      await failure(
        tooSoon.caller.auth.mfa.verify({ mfaToken: await mfaToken(tooSoon, alice), code: totpCode(alice.secret, clock.now()) }),
      ),
    ).toMatchObject({ appCode: 'MFA_CODE_INVALID' });
    expect(
      await failure(tooSoon.caller.auth.mfa.verify({ mfaToken: await mfaToken(tooSoon, bob), recoveryCode: bob.recoveryCodes[0] ?? '' })),
    ).toMatchObject({ appCode: 'MFA_CODE_INVALID' });

    // During the rotation, the clean-up job's pass seals each factor and recovery key again, once.
    const during = await server({ JWT_SECRET: NEW_SECRET, JWT_SECRET_PREVIOUS: OLD_SECRET });
    await expect(during.app.services.mfa.resealUnderCurrentSecret()).resolves.toBe(4);
    await expect(during.app.services.mfa.resealUnderCurrentSecret()).resolves.toBe(0);
    // Without a rotation there is nothing to do.
    await expect(before.app.services.mfa.resealUnderCurrentSecret()).resolves.toBe(0);

    const after = await server({ JWT_SECRET: NEW_SECRET });
    clock.advance(30);
    await expect(
      after.caller.auth.mfa.verify({ mfaToken: await mfaToken(after, alice), code: totpCode(alice.secret, clock.now()) }),
    ).resolves.toHaveProperty('accessToken');
    await expect(
      after.caller.auth.mfa.verify({ mfaToken: await mfaToken(after, bob), recoveryCode: bob.recoveryCodes[1] ?? '' }),
    ).resolves.toHaveProperty('accessToken');
  });

  it('a factor used during the rotation is sealed again by that use', async () => {
    const before = await server({ JWT_SECRET: OLD_SECRET });
    const carol = await withTotp(before);
    clock.advance(30);
    const during = await server({ JWT_SECRET: NEW_SECRET, JWT_SECRET_PREVIOUS: OLD_SECRET });
    await during.caller.auth.mfa.verify({ mfaToken: await mfaToken(during, carol), code: totpCode(carol.secret, clock.now()) });
    await during.caller.auth.mfa.verify({ mfaToken: await mfaToken(during, carol), recoveryCode: carol.recoveryCodes[0] ?? '' });

    const after = await server({ JWT_SECRET: NEW_SECRET });
    clock.advance(30);
    await expect(
      after.caller.auth.mfa.verify({ mfaToken: await mfaToken(after, carol), code: totpCode(carol.secret, clock.now()) }),
    ).resolves.toHaveProperty('accessToken');
    await expect(
      after.caller.auth.mfa.verify({ mfaToken: await mfaToken(after, carol), recoveryCode: carol.recoveryCodes[1] ?? '' }),
    ).resolves.toHaveProperty('accessToken');
  });
});
