// docs/testing.md's second-factor example, run by CI as written.
import { createTestKit, totpCode } from '@latchkey/server/testing';
import { expect, test } from 'vitest';

test('a login with an authenticator app asks for its code', async () => {
  const kit = await createTestKit();
  const alice = await kit.signUp();
  const { factorId, secret } = await alice.caller.auth.mfa.totp.enroll();
  await alice.caller.auth.mfa.totp.confirm({ factorId, code: totpCode(secret, kit.clock.now()) });
  kit.advance('30s');
  const login = await kit.caller.auth.login({ email: alice.user.email, password: alice.password });
  if (!('mfaRequired' in login)) throw new Error('expected the second step');
  const session = await kit.caller.auth.mfa.verify({ mfaToken: login.mfaToken, code: totpCode(secret, kit.clock.now()) });
  expect(session.user.id).toBe(alice.user.id);
  await kit.close();
});
