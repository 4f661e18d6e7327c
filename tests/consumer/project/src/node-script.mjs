// The Node entry: a session kept in a file, so that a second run resumes it without signing in.
import { createAuthClient } from '@latchkey/client';
import { fileStorage } from '@latchkey/client/node';
import { createVerifier } from '@latchkey/verify';

const [url, file, email, password] = process.argv.slice(2);
const auth = createAuthClient({ url, storage: fileStorage(file) });
const resumed = (await auth.session()) !== null;
const login = resumed ? null : await auth.login({ email, password });
const me = await auth.user.me.query();
const session = await auth.session();
console.log(
  JSON.stringify({
    resumed,
    status: login?.status ?? null,
    email: me.email,
    createdAtIsDate: me.createdAt instanceof Date,
    hasAccessToken: typeof session?.accessToken === 'string',
    verifier: typeof createVerifier,
  }),
);
