/**
 * Signs in, calls user.me, waits until the access token has expired, and calls again: the
 * client refreshes on its own. Run against a server with a short token lifetime:
 *
 *   ACCESS_TOKEN_TTL=10s pnpm start
 *   pnpm --filter @latchkey/client example      (builds the packages it imports, then runs)
 *
 * A session file left by an earlier run (against another database, or signed out since) is
 * handled as docs/client.md recommends: the call fails, the session is gone, so sign in again.
 *
 * With LATCHKEY_EMAIL and LATCHKEY_PASSWORD it signs in as that user; when the account has an
 * authenticator app, it asks for the app's code (or takes LATCHKEY_MFA_CODE, or a recovery code).
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { createAuthClient } from '@latchkey/client';
import { fileStorage } from '@latchkey/client/node';

const url = process.env.LATCHKEY_URL ?? 'http://localhost:3000';
const auth = createAuthClient({
  url,
  storage: fileStorage(process.env.LATCHKEY_SESSION_FILE ?? '.latchkey-session.json'),
  onSessionExpired: () => console.log('The stored session has ended: signing in again.'),
});

async function signIn(): Promise<void> {
  const email = process.env.LATCHKEY_EMAIL;
  const password = process.env.LATCHKEY_PASSWORD;
  if (email && password) {
    const result = await auth.login({ email, password });
    // The password was right, and the account has a second factor: the sign-in needs its code too.
    // (A passkey needs a browser: here an account with passkeys alone gives one of its recovery codes.)
    if (result.status === 'mfa-required') {
      const app = result.factors.some((factor) => factor.type === 'totp');
      const question = app ? 'Code from your authenticator app (or a recovery code): ' : 'A recovery code (passkeys need a browser): ';
      const typed = (process.env.LATCHKEY_MFA_CODE ?? (await ask(question))).trim();
      const { mfaToken } = result;
      await auth.verifyMfa(/^[\d\s]+$/.test(typed) ? { mfaToken, code: typed } : { mfaToken, recoveryCode: typed });
    }
  } else {
    const name = `demo${randomUUID().slice(0, 8)}`;
    await auth.register({ username: name, email: `${name}@example.com`, password: `demo passphrase ${randomUUID()}` });
  }
}

async function ask(question: string): Promise<string> {
  const terminal = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return await terminal.question(question);
  } finally {
    terminal.close();
  }
}

/**
 * Runs a call that needs a session. When it fails and no session is left, the session has ended
 * for good (the client already tried a refresh): sign in again and retry once. A failure that
 * leaves the session in place (the network, a 429) is not the end of the session: it propagates.
 */
async function signedIn<T>(call: () => Promise<T>): Promise<T> {
  if (!(await auth.session())) await signIn();
  try {
    return await call();
  } catch (error) {
    if (await auth.session()) throw error;
    await signIn();
    return call();
  }
}

try {
  console.log('signed in as', (await signedIn(() => auth.user.me.query())).username);
  const expiresAt = (await auth.session())?.accessTokenExpiresAt.getTime() ?? Date.now();
  const wait = Math.max(0, expiresAt - Date.now()) + 1_000;
  console.log(`waiting ${Math.round(wait / 1000)} s for the access token to expire...`);
  await new Promise((resolve) => setTimeout(resolve, wait));
  console.log('still signed in as', (await signedIn(() => auth.user.me.query())).username, '(refreshed transparently)');
} catch (error) {
  console.error(`The example failed: ${error instanceof Error ? error.message : String(error)} (is the server running at ${url}?)`);
  process.exitCode = 1;
}
