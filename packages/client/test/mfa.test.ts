import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase, totpCode } from '@latchkey/server/testing';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AuthClientOptions, createAuthClient, isCurableAuthError, memoryStorage } from '../src/index.js';

let database: TestDatabase;
let server: ServedApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  // Real time plus whatever a test advances it by: codes are computed on the server's clock.
  server = await servedApp(database, { clock: 'shifted' });
});
afterAll(async () => {
  await server?.close();
  await database?.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const requestsTo = (path: string) => server.requests.filter((r) => r.path === `/trpc/${path}`);

function client(options: Partial<AuthClientOptions> = {}) {
  return createAuthClient({ url: server.url, ...options });
}

/** The code of the server's current time step, after moving to a step not used yet (a step is accepted once per factor). */
function nextCode(secret: string): string {
  server.clock.advance(30);
  return totpCode(secret, server.clock.now());
}

/** A user with an authenticator app: registered through the SDK, enrolled while that sign-in is recent. */
async function userWithTotp() {
  const input = newUser('mfa');
  const setup = client();
  await setup.register(input);
  const { factorId, secret, otpauthUri } = await setup.auth.mfa.totp.enroll.mutate();
  expect(new URL(otpauthUri).searchParams.get('secret')).toBe(secret);
  const { recoveryCodes } = await setup.auth.mfa.totp.confirm.mutate({ factorId, code: nextCode(secret) });
  await setup.logout();
  return { input, factorId, secret, recoveryCodes };
}

describe('signing in with a second factor', () => {
  it('login resolves mfa-required and stores nothing; verifyMfa signs in, user.me works and survives a refresh', async () => {
    const { input, factorId, secret } = await userWithTotp();
    const storage = memoryStorage();
    // The bodies of the logins this client sends.
    const logins: string[] = [];
    const recording: typeof fetch = async (url, init) => {
      if (String(url).includes('/trpc/auth.login')) logins.push(String(init?.body));
      return fetch(url, init);
    };
    const auth = client({ storage, fetch: recording });
    const states: (string | null)[] = [];
    auth.onSessionChange((session) => states.push(session ? (session.user?.email ?? 'tokens') : null));

    const first = await auth.login({ email: input.email, password: input.password });
    expect(first).toEqual({ status: 'mfa-required', mfaToken: expect.any(String), factors: [{ id: factorId, type: 'totp' }] });
    if (first.status !== 'mfa-required') throw new Error('expected a second step');
    expect(await auth.session()).toBeNull();
    expect(await storage.get()).toBeNull();
    await expect(auth.user.me.query()).rejects.toMatchObject({ data: { appCode: 'ACCESS_TOKEN_MISSING' } });

    const signedIn = await auth.verifyMfa({ mfaToken: first.mfaToken, code: nextCode(secret) });
    expect(signedIn).toMatchObject({ status: 'signed-in', user: { email: input.email }, accessToken: expect.any(String) });
    expect(states).toEqual([input.email]);
    // Stored as a login stores it: the session, and the device token beside it (not in the session).
    const stored = await storage.get();
    expect(stored?.session).toMatchObject({
      accessToken: signedIn.accessToken,
      refreshToken: signedIn.refreshToken,
      user: { email: input.email },
    });
    expect(stored?.session).not.toHaveProperty('deviceToken');
    expect(stored?.session).not.toHaveProperty('status');
    expect(stored?.deviceToken).toBe(signedIn.deviceToken);
    await expect(auth.user.me.query()).resolves.toMatchObject({ email: input.email });

    // The access token expires on the server: the next call refreshes once and goes on.
    server.clock.advance(16 * 60);
    server.requests.length = 0;
    await expect(auth.user.me.query()).resolves.toMatchObject({ email: input.email });
    expect(requestsTo('auth.refresh').map((r) => r.status)).toEqual([200]);
    expect((await auth.session())?.refreshToken).not.toBe(signedIn.refreshToken);

    // The next login from this storage carries the device token verifyMfa stored, and still asks for the factor.
    await auth.logout();
    expect(logins).toHaveLength(1);
    expect(logins[0]).not.toContain('deviceToken');
    await expect(auth.login({ email: input.email, password: input.password })).resolves.toMatchObject({ status: 'mfa-required' });
    expect(logins[1]).toContain(`"deviceToken":"${signedIn.deviceToken}"`);
  });

  it('a wrong code rejects with MFA_CODE_INVALID, stores nothing and refreshes nothing; the right code then works', async () => {
    const { input, secret } = await userWithTotp();
    const storage = memoryStorage();
    const auth = client({ storage });
    const first = await auth.login({ email: input.email, password: input.password });
    if (first.status !== 'mfa-required') throw new Error('expected a second step');
    const right = nextCode(secret);
    const wrong = right === '000000' ? '111111' : '000000';
    server.requests.length = 0;

    const error = await auth.verifyMfa({ mfaToken: first.mfaToken, code: wrong }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect(error).toMatchObject({ data: { code: 'UNAUTHORIZED', appCode: 'MFA_CODE_INVALID' } });
    // An UNAUTHORIZED that no fresh access token cures: sent once, never refreshed around.
    expect(isCurableAuthError(error)).toBe(false);
    expect(requestsTo('auth.mfa.verify').map((r) => r.status)).toEqual([401]);
    expect(requestsTo('auth.refresh')).toHaveLength(0);
    expect(await auth.session()).toBeNull();
    expect(await storage.get()).toBeNull();

    await expect(auth.verifyMfa({ mfaToken: first.mfaToken, code: right })).resolves.toMatchObject({ status: 'signed-in' });
    await expect(auth.user.me.query()).resolves.toMatchObject({ email: input.email });
  });

  it('a wrong code while signed in leaves the current session in place', async () => {
    const { input, secret } = await userWithTotp();
    const auth = client();
    const other = newUser('mfa');
    await auth.register(other);
    const before = await auth.session();

    const first = await auth.login({ email: input.email, password: input.password });
    if (first.status !== 'mfa-required') throw new Error('expected a second step');
    // Until the second step succeeds, this client is still signed in as before.
    expect(await auth.session()).toEqual(before);
    await expect(auth.verifyMfa({ mfaToken: first.mfaToken, code: '12345' })).rejects.toMatchObject({
      data: { appCode: 'MFA_CODE_INVALID' },
    });
    await expect(auth.user.me.query()).resolves.toMatchObject({ email: other.email });

    await auth.verifyMfa({ mfaToken: first.mfaToken, code: nextCode(secret) });
    await expect(auth.user.me.query()).resolves.toMatchObject({ email: input.email });
  });

  it('a recovery code completes the sign-in too, once', async () => {
    const { input, recoveryCodes } = await userWithTotp();
    expect(recoveryCodes).toHaveLength(10);
    const [recoveryCode = ''] = recoveryCodes;
    const auth = client();
    const first = await auth.login({ email: input.email, password: input.password });
    if (first.status !== 'mfa-required') throw new Error('expected a second step');
    await expect(auth.verifyMfa({ mfaToken: first.mfaToken, recoveryCode })).resolves.toMatchObject({
      status: 'signed-in',
      user: { email: input.email },
    });
    await expect(auth.user.me.query()).resolves.toMatchObject({ email: input.email });

    // Used up: a second sign-in with it is refused, and changes nothing here.
    const elsewhere = client();
    const again = await elsewhere.login({ email: input.email, password: input.password });
    if (again.status !== 'mfa-required') throw new Error('expected a second step');
    await expect(elsewhere.verifyMfa({ mfaToken: again.mfaToken, recoveryCode })).rejects.toMatchObject({
      data: { appCode: 'MFA_CODE_INVALID' },
    });
    expect(await elsewhere.session()).toBeNull();
  });

  it('a used mfaToken is refused', async () => {
    const { input, secret } = await userWithTotp();
    const auth = client();
    const first = await auth.login({ email: input.email, password: input.password });
    if (first.status !== 'mfa-required') throw new Error('expected a second step');
    await auth.verifyMfa({ mfaToken: first.mfaToken, code: nextCode(secret) });
    await expect(client().verifyMfa({ mfaToken: first.mfaToken, code: nextCode(secret) })).rejects.toMatchObject({
      data: { appCode: 'MFA_TOKEN_INVALID' },
    });
  });

  it('a user without a second factor is signed in by login at once', async () => {
    const input = newUser('mfa');
    await client().register(input);
    const auth = client();
    await expect(auth.login({ email: input.email, password: input.password })).resolves.toMatchObject({
      status: 'signed-in',
      user: { email: input.email },
      accessToken: expect.any(String),
      deviceToken: expect.any(String),
    });
  });
});

describe('re-authenticating with the second factor', () => {
  it('a wrong code is refused with MFA_CODE_INVALID without a refresh; a right one passes', async () => {
    const { input, secret } = await userWithTotp();
    const auth = client();
    const first = await auth.login({ email: input.email, password: input.password });
    if (first.status !== 'mfa-required') throw new Error('expected a second step');
    await auth.verifyMfa({ mfaToken: first.mfaToken, code: nextCode(secret) });
    const right = nextCode(secret);
    server.requests.length = 0;
    await expect(auth.auth.reauthenticate.mutate({ code: right === '000000' ? '111111' : '000000' })).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED', appCode: 'MFA_CODE_INVALID' },
    });
    expect(requestsTo('auth.refresh')).toHaveLength(0);
    expect(requestsTo('auth.reauthenticate')).toHaveLength(1);
    await expect(auth.auth.reauthenticate.mutate({ code: right })).resolves.toBeDefined();
  });
});

describe('reauthenticate (password, code or recovery code)', () => {
  it('stores the fresh access token: a change that needed a recent sign-in then goes through; a wrong password stores nothing', async () => {
    const input = newUser('reauth');
    const storage = memoryStorage();
    const auth = client({ storage });
    await auth.register(input);
    // Past REAUTH_MAX_AGE (5 minutes): the sign-in is no longer recent.
    server.clock.advance(6 * 60);
    const email = `moved-${input.email}`;
    const refused = await auth.user.update.mutate({ email }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TRPCClientError);
    expect((refused as TRPCClientError<never>).data).toMatchObject({ appCode: 'REAUTHENTICATION_REQUIRED' });

    const before = await storage.get();
    const wrong = await auth.reauthenticate({ password: 'not the password at all' }).catch((e: unknown) => e);
    expect((wrong as TRPCClientError<never>).data).toMatchObject({ appCode: 'INVALID_CREDENTIALS' });
    expect(await storage.get()).toEqual(before);

    const answer = await auth.reauthenticate({ password: input.password });
    expect((await storage.get())?.session?.accessToken).toBe(answer.accessToken);
    expect(answer.accessToken).not.toBe(before?.session?.accessToken);
    const updated = await auth.user.update.mutate({ email });
    expect(updated.pendingEmail).toBe(email);
  });
});
