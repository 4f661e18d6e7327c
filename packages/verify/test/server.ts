// The real Latchkey server, in process, for the verifier's tests: its tokens are what must verify.
export { forgedAccessTokens } from '../../../apps/server/test/fixtures/forged-access-tokens.js';
export { newUser, type ServedApp, servedApp, TEST_SECRET, type TestApp, testApp } from '../../../apps/server/test/helpers/app.js';
export { migratedTestDatabase, onPostgres, TEST_DATABASE, type TestDatabase } from '../../../apps/server/test/helpers/database.js';

/** Polls until `condition` holds, or fails after `timeoutMs`: for what arrives asynchronously (a NOTIFY). */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}
