// docs/testing.md's example, run by CI as written: paste it into your own project's tests.
import { createTestKit, type TestKit } from '@latchkey/server/testing';
import { afterEach, beforeEach, expect, test } from 'vitest';

let kit: TestKit;
beforeEach(async () => {
  kit = await createTestKit();
});
afterEach(() => kit.close());

test('a signed-in user reads their profile until the access token expires', async () => {
  const alice = await kit.signUp({ username: 'alice' });
  await expect(alice.caller.user.me()).resolves.toMatchObject({ username: 'alice' });

  kit.advance('16m'); // no sleeping: the server's clock moves
  await expect(alice.caller.user.me()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });

  const renewed = await kit.caller.auth.refresh({ refreshToken: alice.refreshToken });
  await expect(kit.callerFor({ accessToken: renewed.accessToken }).user.me()).resolves.toMatchObject({ username: 'alice' });
});
