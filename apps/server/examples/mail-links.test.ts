// docs/testing.md's mail example, run by CI as written.
import { createTestKit, type TestKit } from '@latchkey/server/testing';
import { afterEach, beforeEach, expect, test } from 'vitest';

let kit: TestKit;
beforeEach(async () => {
  kit = await createTestKit();
});
afterEach(() => kit.close());

test('the verification mail carries the link that verifies the address', async () => {
  const alice = await kit.signUp({ email: 'alice@example.com' });
  const [mail] = (await kit.mails()).filter((m) => m.to === 'alice@example.com' && m.kind === 'verify_email');
  expect(mail?.subject).toBeTruthy();
  const token = new URL(mail?.links[0] ?? 'http://missing/').searchParams.get('token') ?? '';
  await kit.caller.auth.verifyEmail({ token });
  await expect(alice.caller.user.me()).resolves.toMatchObject({ emailVerified: true });
});
