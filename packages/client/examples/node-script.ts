/**
 * Signs in, calls user.me, waits until the access token has expired, and calls again: the
 * client refreshes on its own. Run against a server with a short token lifetime:
 *
 *   ACCESS_TOKEN_TTL=10s pnpm start
 *   pnpm --filter @latchkey/client example
 */
import { randomUUID } from 'node:crypto';
import { createAuthClient } from '@latchkey/client';
import { fileStorage } from '@latchkey/client/node';

const url = process.env.LATCHKEY_URL ?? 'http://localhost:3000';
const auth = createAuthClient({
  url,
  storage: fileStorage(process.env.LATCHKEY_SESSION_FILE ?? '.latchkey-session.json'),
  onSessionExpired: () => console.error('The session ended: sign in again.'),
});

if (!(await auth.session())) {
  const email = process.env.LATCHKEY_EMAIL;
  const password = process.env.LATCHKEY_PASSWORD;
  if (email && password) {
    await auth.login({ email, password });
  } else {
    const name = `demo${randomUUID().slice(0, 8)}`;
    await auth.register({ username: name, email: `${name}@example.com`, password: `demo passphrase ${randomUUID()}` });
  }
}

console.log('signed in as', (await auth.user.me.query()).username);
const expiresAt = (await auth.session())?.accessTokenExpiresAt.getTime() ?? Date.now();
const wait = Math.max(0, expiresAt - Date.now()) + 1_000;
console.log(`waiting ${Math.round(wait / 1000)} s for the access token to expire...`);
await new Promise((resolve) => setTimeout(resolve, wait));
console.log('still signed in as', (await auth.user.me.query()).username, '(refreshed transparently)');
