import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase, until } from '@latchkey/server/testing';
import { TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AuthClientOptions,
  createAuthClient,
  decodeState,
  encodeState,
  memoryStorage,
  type SessionStorage,
  type StoredState,
} from '../src/index.js';
import { fileStorage } from '../src/node.js';

let database: TestDatabase;
let server: ServedApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  // The server's clock follows real time plus whatever a test advances it by; the client's
  // clock is real time, so an advanced server sees tokens the client still believes valid.
  server = await servedApp(database, { clock: 'shifted' });
});
afterAll(async () => {
  await server?.close();
  await database?.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const refreshRequests = () => server.requests.filter((r) => r.path === '/trpc/auth.refresh').length;

function client(options: Partial<AuthClientOptions> = {}) {
  return createAuthClient({ url: server.url, ...options });
}

/** Expires every access token issued so far, as far as the server is concerned. */
function expireAccessTokens() {
  server.clock.advance(16 * 60);
}

async function signedIn(options: Partial<AuthClientOptions> = {}) {
  const auth = client(options);
  const input = newUser('sdk');
  await auth.register(input);
  return { auth, input };
}

describe('the server under test', () => {
  it('signs access tokens with EdDSA, the default, so the SDK is tested against what users run', async () => {
    const { auth } = await signedIn();
    const accessToken = (await auth.session())?.accessToken ?? '';
    const header = JSON.parse(Buffer.from(accessToken.split('.')[0] ?? '', 'base64url').toString('utf8'));

    expect(server.config.accessTokenAlgorithm).toBe('EdDSA');
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt', kid: expect.any(String) });
  });
});

describe('signing in and out', () => {
  it('register and login store the session; calls carry the token; state changes are observed', async () => {
    const auth = client();
    const states: (string | null)[] = [];
    auth.onSessionChange((session) => states.push(session ? (session.user?.email ?? 'tokens') : null));
    const input = newUser('sdk');
    await expect(auth.register(input)).resolves.toMatchObject({ status: 'signed-in', user: { email: input.email } });
    expect((await auth.user.me.query()).email).toBe(input.email);
    const session = await auth.session();
    expect(session?.accessTokenExpiresAt).toBeInstanceOf(Date);
    await auth.logout();
    expect(await auth.session()).toBeNull();
    await expect(auth.user.me.query()).rejects.toMatchObject({ data: { appCode: 'ACCESS_TOKEN_MISSING' } });
    await expect(auth.login({ email: input.email, password: input.password })).resolves.toMatchObject({
      status: 'signed-in',
      user: { email: input.email },
      accessToken: expect.any(String),
    });
    expect(states).toEqual([input.email, null, input.email]);
    // The logged-out refresh token is dead on the server too.
    await expect(client().auth.refresh.mutate({ refreshToken: session?.refreshToken ?? '' })).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED' },
    });
  });

  it('logoutAll ends every session of the user', async () => {
    const { auth, input } = await signedIn();
    const other = client();
    await other.login(input);
    await expect(auth.logoutAll()).resolves.toEqual({ revoked: 2 });
    expect(await auth.session()).toBeNull();
    await expect(other.user.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
  });
});

describe('device tokens', () => {
  it("the storage keeps the device token across logouts and sends it with the next login: strangers' failures cannot lock this device out", async () => {
    const storage = memoryStorage();
    const { auth, input } = await signedIn({ storage });
    const { deviceToken } = (await storage.get()) ?? {};
    expect(deviceToken).toEqual(expect.any(String));
    await auth.logout();
    expect(await storage.get()).toMatchObject({ session: null, deviceToken });
    // A stranger on the same address (every test call comes from 127.0.0.1) fails past the free attempts.
    const stranger = client();
    for (let i = 0; i < 6; i += 1) await stranger.login({ email: input.email, password: `guess ${i}` }).catch(() => undefined);
    await expect(stranger.login(input)).rejects.toMatchObject({ data: { appCode: 'RATE_LIMITED' } });
    // This device signs in at once, and keeps the token it is given.
    await expect(auth.login(input)).resolves.toMatchObject({ status: 'signed-in', accessToken: expect.any(String) });
    expect((await storage.get())?.deviceToken).toEqual(expect.any(String));
    expect((await auth.session()) ?? {}).not.toHaveProperty('deviceToken');
  });
});

describe('batching', () => {
  it('50 concurrent calls all succeed, never more than MAX_BATCH_SIZE in one request', async () => {
    const { auth, input } = await signedIn();
    server.requests.length = 0;
    const results = await Promise.all(Array.from({ length: 50 }, () => auth.user.me.query()));
    expect(results.map((me) => me.email)).toEqual(Array(50).fill(input.email));
    const batches = server.requests.filter((r) => r.path.startsWith('/trpc/user.me'));
    expect(batches.every((r) => r.status === 200)).toBe(true);
    const sizes = batches.map((r) => r.path.slice('/trpc/'.length).split(',').length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(50);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
  });

  it('a server that caps batches at MAX_BATCH_SIZE=10 refuses an 11-call batch the SDK would never send', async () => {
    const { auth } = await signedIn();
    const token = (await auth.session())?.accessToken;
    const response = await fetch(`${server.url}/trpc/${Array(11).fill('user.me').join(',')}?batch=1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { json: { data: { appCode: string } } } }).error.json.data.appCode).toBe('BATCH_TOO_LARGE');
  });
});

describe('refreshing', () => {
  it('50 concurrent calls with an expired access token share exactly one refresh and all succeed', async () => {
    const { auth, input } = await signedIn();
    expireAccessTokens();
    server.requests.length = 0;
    const results = await Promise.all(Array.from({ length: 50 }, () => auth.user.me.query()));
    expect(results.every((me) => me.email === input.email)).toBe(true);
    expect(refreshRequests()).toBe(1);
  });

  it('shares one refresh across unbatched calls too', async () => {
    const { auth } = await signedIn({ batch: false });
    expireAccessTokens();
    server.requests.length = 0;
    await Promise.all(Array.from({ length: 20 }, () => auth.user.me.query()));
    expect(refreshRequests()).toBe(1);
    expect(server.requests.filter((r) => r.path === '/trpc/user.me' && r.status === 401)).toHaveLength(20);
  });

  it('a failure that arrives after another call already refreshed retries without a second refresh', async () => {
    // Each response is held back until released, so one call can fail after the refresh is done.
    const held: (() => void)[] = [];
    let hold = false;
    const slowFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (hold && String(input).includes('user.me')) await new Promise<void>((resolve) => held.push(resolve));
      return response;
    };
    const { auth } = await signedIn({ batch: false, fetch: slowFetch });
    expireAccessTokens();
    hold = true;
    const late = auth.user.me.query();
    await until(() => held.length === 1);
    hold = false;
    await auth.user.me.query(); // fails, refreshes, succeeds
    expect(refreshRequests()).toBe(1);
    held.shift()?.(); // now the late one's 401 arrives, with the tokens already renewed
    await expect(late).resolves.toHaveProperty('email');
    expect(refreshRequests()).toBe(1);
  });

  it('refreshes before sending when the access token is about to expire', async () => {
    const { auth } = await signedIn({ now: () => server.clock.now().getTime() });
    server.clock.advance(15 * 60 - 20); // 20 s left: inside the 30 s margin
    server.requests.length = 0;
    await auth.user.me.query();
    expect(server.requests.map((r) => `${r.path} ${r.status}`)).toEqual(['/trpc/auth.refresh 200', '/trpc/user.me 200']);
  });

  it('a refresh before sending that fails and ends the session rejects the call with the refresh error', async () => {
    const expired: unknown[] = [];
    const { auth, input } = await signedIn({ now: () => server.clock.now().getTime(), onSessionExpired: (error) => expired.push(error) });
    await revokeEverySessionOf(input);
    server.clock.advance(15 * 60 - 20); // 20 s left: inside the 30 s margin
    server.requests.length = 0;
    const error = await auth.user.me.query().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect(expired).toHaveLength(1);
    // The refresh's own error, not ACCESS_TOKEN_MISSING from a call sent without a token.
    expect(error).toBe(expired[0]);
    expect(error).toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    expect(server.requests.map((r) => r.path)).toEqual(['/trpc/auth.refresh']);
  });

  it('a mixed batch, one public and one protected call, succeeds after one refresh', async () => {
    const { auth } = await signedIn();
    expireAccessTokens();
    server.requests.length = 0;
    const [publicCall, protectedCall] = await Promise.all([
      auth.auth.logout.mutate({ refreshToken: 'not-a-token' }),
      auth.auth.logoutAll.mutate(),
    ]);
    expect(publicCall).toEqual({ success: true });
    expect(protectedCall).toEqual({ revoked: 1 });
    expect(server.requests[0]).toMatchObject({ path: '/trpc/auth.logout,auth.logoutAll', status: 207 });
    expect(refreshRequests()).toBe(1);
  });

  it('passes errors other than UNAUTHORIZED through untouched, without refreshing', async () => {
    const { auth, input } = await signedIn();
    const error = await auth.auth.register.mutate({ ...newUser('sdk'), email: input.email }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<never>).data).toMatchObject({ code: 'CONFLICT', appCode: 'EMAIL_TAKEN' });
    expect(refreshRequests()).toBe(0);
  });
});

describe('when the session is over', () => {
  it('a revoked session fires onSessionExpired once, every call rejects with its own error, and nothing loops', async () => {
    const expired: unknown[] = [];
    const { auth, input } = await signedIn({ onSessionExpired: (error) => expired.push(error) });
    // Revoked from elsewhere: another device logs out everywhere.
    await revokeEverySessionOf(input);
    server.requests.length = 0;

    const results = await Promise.allSettled(Array.from({ length: 10 }, () => auth.user.me.query()));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    for (const result of results) {
      expect((result as PromiseRejectedResult).reason).toMatchObject({ data: { code: 'UNAUTHORIZED', appCode: 'SESSION_REVOKED' } });
    }
    expect(expired).toHaveLength(1);
    expect(refreshRequests()).toBe(1);
    expect(await auth.session()).toBeNull();

    await expect(auth.user.me.query()).rejects.toMatchObject({ data: { appCode: 'ACCESS_TOKEN_MISSING' } });
    expect(refreshRequests()).toBe(1);
    expect(expired).toHaveLength(1);
  });

  /** A fetch that answers auth.refresh with `failure` while `failing.on` is set, and passes everything else on. */
  function weather(failure: () => Promise<Response>) {
    const failing = { on: true };
    const fetchWith: typeof fetch = async (input, init) => {
      if (failing.on && String(input).includes('auth.refresh')) return failure();
      return fetch(input, init);
    };
    return { fetch: fetchWith, failing };
  }

  const canned = (status: number) => async () =>
    new Response(JSON.stringify({ error: { json: { message: 'busy', code: -32_603, data: { code: 'X', httpStatus: status } } } }), {
      status,
      headers: { 'content-type': 'application/json' },
    });

  for (const [name, failure, expected] of [
    ['a network error', async () => Promise.reject(new TypeError('fetch failed')), { message: 'fetch failed' }],
    ['a 429', canned(429), { data: { httpStatus: 429 } }],
    ['a 500', canned(500), { data: { httpStatus: 500 } }],
  ] as const) {
    it(`a refresh that fails with ${name} keeps the session, and the next call refreshes`, async () => {
      const expired: unknown[] = [];
      const { fetch: fetchWith, failing } = weather(failure);
      const { auth, input } = await signedIn({ fetch: fetchWith, onSessionExpired: (error) => expired.push(error) });
      const before = await auth.session();
      expireAccessTokens();
      server.requests.length = 0;
      // Every call that waited on the failed refresh rejects with the refresh's error.
      const results = await Promise.allSettled(Array.from({ length: 3 }, () => auth.user.me.query()));
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(TRPCClientError);
        expect((result as PromiseRejectedResult).reason).toMatchObject(expected);
      }
      expect(expired).toHaveLength(0);
      expect(await auth.session()).toEqual(before);
      // The weather clears; the next call refreshes with the same refresh token, and succeeds.
      failing.on = false;
      await expect(auth.user.me.query()).resolves.toMatchObject({ email: input.email });
      expect(refreshRequests()).toBe(1);
      expect((await auth.session())?.refreshToken).not.toBe(before?.refreshToken);
      expect(expired).toHaveLength(0);
    });
  }

  it('a definitive refusal ends the session once', async () => {
    const expired: unknown[] = [];
    const storage = memoryStorage();
    const { auth, input } = await signedIn({ storage, onSessionExpired: (error) => expired.push(error) });
    await revokeEverySessionOf(input);
    expireAccessTokens();
    server.requests.length = 0;
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => auth.user.me.query()));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(expired).toHaveLength(1);
    // The server refuses a revoked session's refresh token as REFRESH_TOKEN_INVALID.
    expect(expired[0]).toMatchObject({ data: { code: 'UNAUTHORIZED', appCode: 'REFRESH_TOKEN_INVALID' } });
    // Each call rejects with its own refusal.
    for (const result of results) {
      expect((result as PromiseRejectedResult).reason).toMatchObject({ data: { appCode: 'ACCESS_TOKEN_EXPIRED' } });
    }
    expect(await auth.session()).toBeNull();
    expect((await storage.get())?.session).toBeNull();
    await expect(auth.user.me.query()).rejects.toMatchObject({ data: { appCode: 'ACCESS_TOKEN_MISSING' } });
    expect(refreshRequests()).toBe(1);
    expect(expired).toHaveLength(1);
  });
});

describe('logout', () => {
  it('logout clears the local session when the server is unreachable', async () => {
    let reachable = true;
    const flaky: typeof fetch = async (input, init) => {
      if (!reachable) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const storage = memoryStorage();
    const states: (string | null)[] = [];
    const { auth } = await signedIn({ fetch: flaky, storage });
    const session = await auth.session();
    auth.onSessionChange((s) => states.push(s ? 'signed in' : null));
    reachable = false;
    const result = await auth.logout();
    expect(result.serverConfirmed).toBe(false);
    expect(result.error).toMatchObject({ message: 'fetch failed' });
    expect(await auth.session()).toBeNull();
    expect((await storage.get())?.session).toBeNull();
    expect(states).toEqual([null]);
    // The server was never told: the refresh token still works there (what serverConfirmed warns of).
    await expect(client().auth.refresh.mutate({ refreshToken: session?.refreshToken ?? '' })).resolves.toHaveProperty('accessToken');
  });

  it('logout says the server confirmed when it did', async () => {
    const { auth } = await signedIn();
    await expect(auth.logout()).resolves.toEqual({ serverConfirmed: true });
    expect(await auth.session()).toBeNull();
  });
});

/** A fetch that holds back the answers of auth.refresh until released. */
function holdingRefreshes() {
  const held: (() => void)[] = [];
  const fetchHolding: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (String(input).includes('auth.refresh')) await new Promise<void>((resolve) => held.push(resolve));
    return response;
  };
  return { fetch: fetchHolding, held };
}

/**
 * One storage shared by clients that hear nothing of each other's writes (two processes on one
 * file, a `storage` event that has not arrived yet), and a fetch for the first of them: once its
 * refresh is answered, the next read of the storage (the refresh checking that the storage still
 * holds the session it started from) takes its value, then waits for `held` to be released. This
 * puts another client's write exactly between that check and the write it guards.
 */
function checkHeldAfterRefresh() {
  const shared = memoryStorage();
  const held: (() => void)[] = [];
  let armed = false;
  const storage: SessionStorage = {
    async get() {
      const state = await shared.get();
      if (armed) {
        armed = false;
        await new Promise<void>((resolve) => held.push(resolve));
      }
      return state;
    },
    set: (state) => shared.set(state),
  };
  const fetchArming: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (String(input).includes('auth.refresh')) armed = true;
    return response;
  };
  return { storage, fetch: fetchArming, held };
}

describe('clients sharing one storage (tabs)', () => {
  it("another client's login while this one's refresh checks the storage is never overwritten by the refresh", async () => {
    const { storage, fetch: fetchArming, held } = checkHeldAfterRefresh();
    const first = client({ storage, fetch: fetchArming });
    const mine = newUser('sdk');
    await first.register(mine);
    const second = client({ storage });
    await second.session();
    const other = newUser('sdk');
    await client().register(other);
    expireAccessTokens();
    const pending = first.user.me.query();
    await until(() => held.length === 1);
    const login = second.login({ email: other.email, password: other.password });
    // The login is answered (the second client is signed in as `other`) while the refresh is still checking.
    await until(async () => (await second.session())?.user?.email === other.email);
    held.shift()?.();
    await login;
    await expect(pending).resolves.toMatchObject({ email: mine.email });
    expect((await storage.get())?.session?.user?.email).toBe(other.email);
    await expect(second.user.me.query()).resolves.toMatchObject({ email: other.email });
  });

  it("another client's logout while this one's refresh checks the storage stays a logout", async () => {
    const { storage, fetch: fetchArming, held } = checkHeldAfterRefresh();
    const first = client({ storage, fetch: fetchArming });
    await first.register(newUser('sdk'));
    const second = client({ storage });
    await second.session();
    expireAccessTokens();
    const pending = first.user.me.query();
    await until(() => held.length === 1);
    const logout = second.logout();
    await until(async () => (await second.session()) === null);
    held.shift()?.();
    // The server was told of the session as the storage held it after the refresh.
    await expect(logout).resolves.toEqual({ serverConfirmed: true });
    await Promise.allSettled([pending]);
    expect((await storage.get())?.session).toBeNull();
    // The refreshed tokens the first client still holds belong to a session that has ended everywhere.
    await expect(first.user.me.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    expect(await first.session()).toBeNull();
    expect((await storage.get())?.session).toBeNull();
  });

  it('two clients whose access tokens expired at once make exactly one refresh', async () => {
    const storage = memoryStorage();
    let unauthorized = 0;
    let refreshes = 0;
    const held: (() => void)[] = [];
    // Both calls are refused before the first refresh is answered.
    const fetchHolding: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (String(input).includes('user.me') && response.status === 401) unauthorized += 1;
      if (String(input).includes('auth.refresh') && refreshes++ === 0) await new Promise<void>((resolve) => held.push(resolve));
      return response;
    };
    const first = client({ storage, fetch: fetchHolding });
    const input = newUser('sdk');
    await first.register(input);
    const second = client({ storage, fetch: fetchHolding });
    await second.session();
    expireAccessTokens();
    server.requests.length = 0;
    const calls = Promise.all([first.user.me.query(), second.user.me.query()]);
    await until(() => unauthorized === 2 && held.length === 1);
    held.shift()?.();
    await expect(calls).resolves.toMatchObject([{ email: input.email }, { email: input.email }]);
    expect(refreshRequests()).toBe(1);
    expect((await second.session())?.refreshToken).toBe((await first.session())?.refreshToken);
  });

  it("a late storage event, older than this client's own write, does not bring back a session it ended", async () => {
    // Two tabs on one storage; the other tab's writes reach this one only when delivered by hand.
    let current: StoredState | null = null;
    const listeners = new Set<(state: StoredState | null) => void>();
    const late: StoredState[] = [];
    const lockName = `tabs-${randomUUID()}`;
    const get = async () => current;
    const mine: SessionStorage = {
      lockName,
      get,
      set: async (state) => {
        current = state;
      },
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const theirs: SessionStorage = {
      lockName,
      get,
      set: async (state) => {
        current = state;
        late.push(state);
      },
    };
    const otherTab = client({ storage: theirs });
    await otherTab.register(newUser('sdk'));
    const auth = client({ storage: mine });
    expect(await auth.session()).not.toBeNull();
    expireAccessTokens();
    await otherTab.user.me.query(); // the other tab refreshes: its event is on its way
    await expect(auth.logout()).resolves.toEqual({ serverConfirmed: true });
    for (const state of late.splice(0)) for (const listener of listeners) listener(state);
    expect(await auth.session()).toBeNull();
    expect((await get())?.session).toBeNull();
  });

  it('a write is numbered above every generation the client has seen, even when its read of the storage lags', async () => {
    const { auth } = await signedIn();
    const session = await auth.session();
    const listeners = new Set<(state: StoredState | null) => void>();
    const written: StoredState[] = [];
    // Its reads still give generation 2 after an event has told it of generation 7.
    const lagging: SessionStorage = {
      get: async () => ({ generation: 2, session }),
      set: async (state) => {
        written.push(state);
      },
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const tab = client({ storage: lagging });
    await tab.session();
    for (const listener of listeners) listener({ generation: 7, session: session && { ...session, accessToken: 'newer' } });
    await tab.logout();
    expect(written.map((state) => state.generation)).toEqual([8]);
  });

  it('a refresh never overwrites a login stored by a client that gave up waiting for the lock', async () => {
    // The second client waits 50 ms for the lock, then stores its login unguarded: the stored
    // generation is what keeps the first client's refresh from writing over it.
    const storage = memoryStorage();
    const { fetch: fetchHolding, held } = holdingRefreshes();
    const first = client({ storage, fetch: fetchHolding });
    await first.register(newUser('sdk'));
    const second = client({ storage, lockTimeoutMs: 50 });
    const other = newUser('sdk');
    await client().register(other);
    expireAccessTokens();
    const pending = first.user.me.query();
    await until(() => held.length === 1);
    await second.login({ email: other.email, password: other.password });
    held.shift()?.();
    await Promise.allSettled([pending]);
    expect((await storage.get())?.session?.user?.email).toBe(other.email);
    // The first client follows the storage instead of keeping its stale session.
    expect((await first.session())?.user?.email).toBe(other.email);
  });

  it('a refresh never brings back a session ended by a client that gave up waiting for the lock', async () => {
    const storage = memoryStorage();
    const { fetch: fetchHolding, held } = holdingRefreshes();
    const first = client({ storage, fetch: fetchHolding });
    await first.register(newUser('sdk'));
    const second = client({ storage, lockTimeoutMs: 50 });
    await second.session();
    expireAccessTokens();
    const pending = first.user.me.query();
    await until(() => held.length === 1);
    await second.logout();
    held.shift()?.();
    await expect(pending).rejects.toBeInstanceOf(TRPCClientError);
    expect((await storage.get())?.session).toBeNull();
    expect(await first.session()).toBeNull();
  });
});

describe('a login while a refresh is in flight', () => {
  it("is current at once, and not overwritten by the refresh's result", async () => {
    const { fetch: fetchHolding, held } = holdingRefreshes();
    const { auth } = await signedIn({ fetch: fetchHolding });
    const other = newUser('sdk');
    await client().register(other);
    expireAccessTokens();
    const pending = auth.user.me.query();
    await until(() => held.length === 1);
    // Stored once the refresh lets go of the storage's lock; current here at once.
    const login = auth.login({ email: other.email, password: other.password });
    await until(async () => (await auth.session())?.user?.email === other.email);
    held.shift()?.(); // the previous user's refresh answers after the login
    await login;
    await Promise.allSettled([pending]);
    expect((await auth.session())?.user?.email).toBe(other.email);
    expect((await auth.user.me.query()).email).toBe(other.email);
  });

  it("is not cleared by the refresh's failure, and onSessionExpired does not fire", async () => {
    const { fetch: fetchHolding, held } = holdingRefreshes();
    const expired: unknown[] = [];
    const { auth, input } = await signedIn({ fetch: fetchHolding, onSessionExpired: (error) => expired.push(error) });
    const other = newUser('sdk');
    await client().register(other);
    await revokeEverySessionOf(input);
    const pending = auth.user.me.query();
    await until(() => held.length === 1);
    const login = auth.login({ email: other.email, password: other.password });
    await until(async () => (await auth.session())?.user?.email === other.email);
    held.shift()?.(); // the refusal of the revoked session's refresh arrives after the login
    await login;
    await expect(pending).rejects.toMatchObject({ data: { appCode: 'SESSION_REVOKED' } });
    expect(expired).toHaveLength(0);
    expect((await auth.session())?.user?.email).toBe(other.email);
    expect((await auth.user.me.query()).email).toBe(other.email);
  });
});

describe('onSessionExpired', () => {
  it('fires again for a session adopted from another tab after the previous one expired', async () => {
    const [mine, theirs] = tabStorages(2);
    const expired: unknown[] = [];
    const auth = client({ storage: mine, onSessionExpired: (error) => expired.push(error) });
    const otherTab = client({ storage: theirs });
    await otherTab.session(); // loads, and follows the shared storage from now on
    const input = newUser('sdk');
    await auth.register(input);

    await revokeEverySessionOf(input);
    await expect(auth.user.me.query()).rejects.toMatchObject({ data: { appCode: 'SESSION_REVOKED' } });
    expect(expired).toHaveLength(1);

    // The other tab signs in again; this one adopts the session from the shared storage.
    await otherTab.login({ email: input.email, password: input.password });
    expect((await auth.session())?.user?.email).toBe(input.email);
    await revokeEverySessionOf(input);
    await expect(auth.user.me.query()).rejects.toMatchObject({ data: { appCode: 'SESSION_REVOKED' } });
    expect(expired).toHaveLength(2);
  });
});

describe('storage', () => {
  it('keeps the session in any async storage given', async () => {
    const storage = memoryStorage();
    const { auth } = await signedIn({ storage });
    const stored = await storage.get();
    expect(stored?.session?.accessToken).toBe((await auth.session())?.accessToken);
    // A second client on the same storage is signed in as well.
    await expect(client({ storage }).user.me.query()).resolves.toHaveProperty('email');
  });

  it('the file storage is private to its owner and survives a process restart', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'latchkey-sdk-')), 'session.json');
    const { input } = await signedIn({ storage: fileStorage(path) });
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const { spawn } = await import('node:child_process');
    const tsx = join(import.meta.dirname, '..', 'node_modules', '.bin', 'tsx');
    const child = spawn(tsx, [join(import.meta.dirname, 'fixtures', 'whoami.ts'), server.url, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(output)).toMatchObject({ email: input.email });
  });

  it('the file storage takes concurrent writes of one process, each through its own temporary file', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'latchkey-sdk-'));
    const path = join(directory, 'session.json');
    const storage = fileStorage(path);
    const { auth } = await signedIn();
    const session = await auth.session();
    if (!session) throw new Error('not signed in');
    const writes = Array.from({ length: 20 }, (_, i) => ({ generation: i, session: { ...session, accessToken: `token-${i}` } }));
    await Promise.all(writes.map((write) => storage.set(write)));
    const stored = decodeState(readFileSync(path, 'utf8'));
    expect(writes.map((write) => write.session.accessToken)).toContain(stored?.session?.accessToken);
    expect(readdirSync(directory)).toEqual(['session.json']);
  });

  it('a session stored by the previous format (the session alone) is still signed in, and the next write stores a generation', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'latchkey-sdk-')), 'session.json');
    const { auth, input } = await signedIn();
    const session = await auth.session();
    writeFileSync(path, superjson.stringify(session), { mode: 0o600 });
    expect(decodeState(readFileSync(path, 'utf8'))).toEqual({ generation: 0, session });
    const resumed = client({ storage: fileStorage(path) });
    await expect(resumed.user.me.query()).resolves.toMatchObject({ email: input.email });
    await resumed.logout();
    expect(decodeState(readFileSync(path, 'utf8'))).toEqual({ generation: 1, session: null });
  });

  it('every write raises the stored generation and keeps the fields of the record it does not know', async () => {
    const storage = memoryStorage();
    const auth = client({ storage });
    const input = newUser('sdk');
    await auth.register(input);
    const registered = await storage.get();
    expect(registered?.generation).toBe(1);
    // A field a later version keeps beside the session.
    await storage.set({ ...registered, generation: 1, session: registered?.session ?? null, kept: 'yes' } as StoredState);
    expireAccessTokens();
    await auth.user.me.query();
    await auth.logout();
    await auth.login({ email: input.email, password: input.password });
    expect(await storage.get()).toMatchObject({ generation: 4, kept: 'yes' });
    expect(decodeState(encodeState({ generation: 4, session: null }))).toEqual({ generation: 4, session: null });
    expect(decodeState('{"json":{"generation":"4","session":null}}')).toBeNull();
  });
});

/** Ends every session of the user from another device, as logoutAll there would. */
async function revokeEverySessionOf(input: { email: string; password: string }) {
  const elsewhere = client();
  await elsewhere.login({ email: input.email, password: input.password });
  await elsewhere.logoutAll();
}

/**
 * Storages of tabs sharing one session: each tab is told of the others' writes, not of its own,
 * as with localStorage and its `storage` event.
 */
function tabStorages(count: number): SessionStorage[] {
  let current: StoredState | null = null;
  const tabs = Array.from({ length: count }, () => new Set<(state: StoredState | null) => void>());
  const write = (writer: number, state: StoredState) => {
    current = state;
    for (const [tab, listeners] of tabs.entries()) if (tab !== writer) for (const listener of listeners) listener(state);
  };
  // One lock for all of them, as tabs of an origin share a Web Lock.
  const lockName = `tabs-${randomUUID()}`;
  return tabs.map((listeners, tab) => ({
    lockName,
    get: async () => current,
    set: async (state) => write(tab, state),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  }));
}
